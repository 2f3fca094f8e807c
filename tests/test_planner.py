"""The protocol planner (issue 7, item 5): grid, plateau, ranking, the 85 % target, CLI."""

from __future__ import annotations

import json

import pytest

from qcharge.exceptions import BackendError, ParameterError
from qcharge.experiments import charge_reference_state
from qcharge.params import Atoms, Bath, Collision, InitialState
from qcharge.planner import MAX_COLLISIONS, MIN_COLLISIONS, candidate_collisions, plan, plateau_time
from qcharge.coherence import heat_exchange_coherence

BATH = Bath(1.0)
LIGHT = "custom:two_qubit_error=0.005"


def test_plateau_time_is_the_first_grid_time_at_95_percent():
    atoms = Atoms.dicke(2)
    t = plateau_time(atoms, BATH, InitialState())
    final = heat_exchange_coherence(charge_reference_state(atoms, BATH, InitialState(), 30.0))
    assert heat_exchange_coherence(charge_reference_state(atoms, BATH, InitialState(), t)) >= 0.95 * final
    assert heat_exchange_coherence(charge_reference_state(atoms, BATH, InitialState(), t - 0.25)) < 0.95 * final


def test_candidate_collisions_bracket_the_plateau_and_stay_in_range():
    for theta in (0.3, 0.9, 1.2):
        picks = candidate_collisions(theta, BATH, 1.0, 1.5)
        assert all(MIN_COLLISIONS <= n <= MAX_COLLISIONS for n in picks) and picks == sorted(set(picks))
        n_plateau = -(-1.5 // Collision(theta).time_step(BATH))
        assert min(MAX_COLLISIONS, max(MIN_COLLISIONS, n_plateau)) in picks
    assert candidate_collisions(0.3, BATH, 1.0, 5.0) == [MAX_COLLISIONS]  # 0.3 needs > 24 collisions


def test_plan_ranks_by_the_distance_to_exact_theory_and_reports_every_key():
    protocols = plan(LIGHT, 2, 1.0, thetas=(0.6, 1.05), top=20)
    assert [abs(1 - p.kept) for p in protocols] == sorted(abs(1 - p.kept) for p in protocols)
    assert {p.ancilla for p in protocols} == {"purify", "enumerate"}
    keys = {"theta", "collisions", "ordering", "ancilla", "two_qubit_gates", "layout", "predicted", "exact"}
    for p in protocols:
        d = p.to_dict()
        assert keys <= set(d) and len(d["layout"]) == (3 if p.ancilla == "enumerate" else 4)  # no partner qubit
        # Depolarising cz noise only removes coherence: the prediction is below the ideal circuit,
        # which is within the Trotter error (< 0.03 here) of the master equation.
        assert p.predicted < p.exact + 0.03
    # The exact pair collision (three exchange gates, qcharge.circuits.synthesis) costs exactly what one
    # palindromic step costs, and has no Trotter error: at equal gates it keeps at least as much coherence
    # (the O(theta^3) Trotter error lowers the palindromic value here; 1e-12: ties at round-off).
    by = {(p.theta, p.collisions, p.ordering, p.ancilla): p for p in protocols}
    pairs = [(p, by[(p.theta, p.collisions, "palindromic", p.ancilla)]) for p in protocols
             if p.ordering == "exact" and (p.theta, p.collisions, "palindromic", p.ancilla) in by]
    assert pairs
    for ex, pal in pairs:
        assert ex.two_qubit_gates == pal.two_qubit_gates and ex.predicted >= pal.predicted - 1e-12
    # The enumerated coins are the same channel without the purifying CX: one two-qubit gate less per
    # collision. (Not always more coherence: on this depolarising model the CX's error heats the ancilla,
    # p_e -> 1/2, and a hotter bath charges a little more coherence, by 0.001 here.)
    pairs = [(p, by[(p.theta, p.collisions, p.ordering, "purify")]) for p in protocols
             if p.ancilla == "enumerate" and (p.theta, p.collisions, p.ordering, "purify") in by]
    assert pairs
    for enum, pur in pairs:
        assert enum.two_qubit_gates == pur.two_qubit_gates - enum.collisions
        assert abs(enum.predicted - pur.predicted) < 0.01


def test_plan_on_ideal_aer_matches_exact_theory_within_trotter_error():
    (best,) = plan("aer", 2, 1.0, thetas=(0.6,), orderings=("palindromic",), top=1)
    assert best.layout is None
    # Palindromic Trotter error O(theta^4) and finite-dt collision-model error at theta = 0.6: < 0.02.
    assert abs(best.predicted - best.exact) < 0.02


@pytest.mark.parametrize("device", ["fake_kingston", "fake_fez"])
def test_planned_charging_keeps_85_percent_on_heron(device):
    best = plan(f"aer-noisy:{device}", 2, 1.0, top=1)[0]
    # Issue 7 target: >= 85 % of the exact heat-exchange coherence in the noisy prediction.
    assert best.predicted >= 0.85 * best.exact
    assert best.two_qubit_gates <= 60  # versus 840 for the README's theta = 0.3 x 120 collisions


@pytest.mark.parametrize("device", ["fake_kingston", "fake_fez"])
def test_planned_three_atom_protocol_keeps_85_percent_on_heron(device):
    # The top N = 3 protocol of a full `qcharge plan` on both devices (benchmarks/README.md: 86.1 % on
    # FakeFez); searched here on its own theta and its neighbours to keep the test short.
    best = plan(f"aer-noisy:{device}", 3, 1.0, thetas=(0.6, 0.75, 0.9), orderings=("fitted",),
                ancillas=("enumerate",), top=1, layout_trials=0)[0]
    assert best.predicted >= 0.85 * best.exact
    assert best.two_qubit_gates <= 40  # 10 per collision: five exchange gates, no routing


def test_plan_refuses_bad_input():
    with pytest.raises(ParameterError, match="Argument `target` must be one of"):
        plan(LIGHT, 2, 1.0, target="gap")
    with pytest.raises(ParameterError, match="Argument `atoms` must be >= 2"):
        plan(LIGHT, 1, 1.0)
    with pytest.raises(ParameterError, match="Argument `ancillas` must be one of"):
        plan(LIGHT, 2, 1.0, ancillas=("coin",))
    with pytest.raises(BackendError, match="does not support reset"):
        plan("aer-noisy:fake_miami", 2, 1.0, thetas=(0.9,), orderings=("palindromic",))


def test_cli_plan_json_and_run_plan_best(capsys):
    from qcharge.cli import main

    assert main(["plan", "--backend", "custom", "--two-qubit-error", "0.005", "-N", "2", "-T", "1",
                 "--top", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    top = out["protocols"][0]
    assert len(out["protocols"]) == 2 and top["ancilla"] in ("purify", "enumerate")
    assert main(["run", "charge", "--plan", "best", "--backend", "custom", "--two-qubit-error", "0.005",
                 "-N", "2", "-T", "1", "--exact", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert (run["theta"], run["collisions"], run["ordering"], run["ancilla"]) == (
        top["theta"], top["collisions"], top["ordering"], top["ancilla"])
    # Same circuit, same noise, same layout: the run's state is the plan's prediction (round-off).
    assert run["noisy_prediction"]["heat_exchange_coherence"] == pytest.approx(top["predicted"], abs=1e-10)
    assert main(["run", "charge", "--plan", "best", "--theta", "0.3", "-N", "2", "-T", "1", "--exact"]) == 2
    assert "must not be given with --theta" in capsys.readouterr().err


def test_layout_trials_only_improve_the_prediction():
    # FakeManila (5-qubit line/T): N = 3 needs routing, so Sabre's placement depends on the seed.
    kwargs = dict(thetas=(0.9,), orderings=("palindromic",), top=1)
    preset = plan("aer-noisy:fake_manila", 3, 1.0, layout_trials=0, **kwargs)[0]
    refined = plan("aer-noisy:fake_manila", 3, 1.0, layout_trials=4, **kwargs)[0]
    assert refined.predicted >= preset.predicted and len(refined.layout) == (4 if refined.ancilla == "enumerate" else 5)


def test_teff_target_ranks_by_the_in_circuit_gap():
    protocols = plan(LIGHT, 2, 1.0, target="teff", thetas=(0.9,), top=6)
    gaps = [p.predicted for p in protocols]
    assert gaps == sorted(gaps, reverse=True) and all(p.layout is not None for p in protocols)
    assert {p.ordering for p in protocols} == {"palindromic", "exact"}
    for p in protocols:
        # Charged pairs heat the probe above their dephased twins in exact theory (T = 1, from ground), and
        # on a lightly noisy device both pass through the same gates: the predicted gap keeps the sign and
        # stays below the exact one plus the collision-model error (< 0.02 at theta = 0.9, n <= 5).
        assert p.exact > 0.15 and 0.0 < p.predicted < p.exact + 0.02
        # Shot noise at 1e4 shots per setting: SE ~ |dT/dp| sqrt(p(1-p)/1e4) ~ 0.02-0.03 per kind.
        assert 0.01 < p.std_error < 0.05 and p.to_dict()["std_error"] == p.std_error


def test_teff_gap_on_the_ideal_simulator_is_the_collision_model_gap():
    from qcharge.coherence import dephase
    from qcharge.params import Harvest
    from qcharge.planner import TEFF_HARVEST_THETA, TEFF_TIME
    from qcharge.protocol import charging_plan
    from qcharge.reference.probe import probe_dynamics
    from qcharge.reference.twin import charging_trajectory
    from qcharge.thermo import effective_temperature

    (best,) = plan("aer", 2, 1.0, target="teff", thetas=(0.9,), orderings=("exact",), top=1)
    # Ideal circuits equal their twins, so the control variate leaves the Poisson-averaged (4.3) gap of the
    # collision-model pair exactly (round-off of T_eff differences ~1e-12, bound 1e-9).
    rho = charging_trajectory(charging_plan(Atoms.dicke(2), BATH, InitialState(), best.collision(), best.collisions,
                                            seed=7))[1][-1]
    h = Harvest(theta=TEFF_HARVEST_THETA)
    pe = [probe_dynamics(r, h, [TEFF_TIME])[0][1, 1].real for r in (rho, dephase(rho))]
    assert best.predicted == pytest.approx(effective_temperature(pe[0]) - effective_temperature(pe[1]), abs=1e-9)


def test_teff_target_refuses_bad_input():
    with pytest.raises(ParameterError, match="Argument `atoms` must be 2 for target 'teff'"):
        plan(LIGHT, 3, 1.0, target="teff")


def test_idle_noise_plan_predicts_less_and_refuses_ideal_aer(capsys):
    from qcharge.cli import main

    kwargs = dict(thetas=(0.9,), orderings=("palindromic",), ancillas=("purify",), top=1, layout_trials=0)
    plain = plan("aer-noisy:fake_manila", 2, 1.0, **kwargs)[0]
    idle = plan("aer-noisy:fake_manila", 2, 1.0, idle_noise=True, **kwargs)[0]
    # FakeManila's reset takes ~5.5 us: the atoms dephase meanwhile, so the scheduled prediction keeps less
    # (0.145 -> 0.041 for a similar run, tests/test_idle_noise.py), on the same circuit and layout.
    assert (idle.theta, idle.collisions, idle.layout) == (plain.theta, plain.collisions, plain.layout)
    assert idle.predicted < 0.8 * plain.predicted
    assert main(["plan", "--backend", "aer", "-N", "2", "-T", "1", "--idle-noise"]) == 2
    assert "Argument `--idle-noise` needs a noisy backend" in capsys.readouterr().err
