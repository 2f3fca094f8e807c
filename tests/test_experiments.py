"""End-to-end experiments: circuits on Aer beside the master equation and the NumPy twin."""

from __future__ import annotations

import pytest

from qcharge import Atoms, Bath, Collision, Harvest, InitialState, ParameterError
from qcharge.experiments import run_charge, run_harvest

BATH = Bath(1.0)
GROUND = InitialState("ground")


def test_exact_charging_run_equals_twin_and_tracks_master_equation():
    res = run_charge(Atoms.dicke(2), BATH, GROUND, Collision(0.3), 120, exact=True, seed=3).to_dict()
    assert res["agree"] and res["twin_trace_distance"] <= 1e-8
    # Palindromic collision-model error vs the ME at t = n dt (docs/physics.md §5.2 table: D_tr = 6.9e-4 at
    # theta = 0.3, gamma t = 5); the bound theta^4 = 8.1e-3 leaves room, a cascaded bath would be ~0.16.
    assert res["trace_distance"] < 0.3**4
    assert res["reference"]["coherence_l1"] == pytest.approx(0.244728, abs=1e-6)
    per = res["resources"]["per_collision"]
    assert per["qubits"] == 4 and per["transpiled_two_qubit_gates"] == 2 * 3 + 1  # 2N-1 exchanges x 2 CX + 1 CX


def test_exact_forward_ordering_loses_the_coherence():
    res = run_charge(Atoms.dicke(2), BATH, GROUND, Collision(0.3, "forward"), 120, exact=True, seed=3).to_dict()
    # Documented fact (docs/physics.md §5.2, pitfall 8): forward Trotter order = cascaded bath. The circuit is
    # still exactly its twin; it is the model that is wrong: C_l1 = 0.0481 instead of 0.2447.
    assert res["agree"]
    assert res["circuit"]["coherence_l1"] == pytest.approx(0.0481, abs=5e-5)
    assert res["trace_distance"] > 0.15


@pytest.mark.parametrize("initial", [GROUND, InitialState.thermal(0.5)])
def test_sampled_tomography_interval_covers_the_twin(initial):
    res = run_charge(Atoms.dicke(2), BATH, initial, Collision(0.3), 60, shots=4000, seed=11, n_resamples=200).to_dict()
    assert res["agree"], res["verdicts"]
    for name, (lo, hi) in res["ci"].items():
        if name == "coherence_l1":
            # Shot noise biases the C_l1 estimate upwards (a sum of |off-diagonal| entries; README:
            # its interval does not cover at the nominal rate): from the thermal state, with many
            # near-zero coherences, the interval can sit above the twin, never below it.
            assert res["twin"][name] <= hi, name
            continue
        assert lo <= res["twin"][name] <= hi, name
    # The interval is informative: for 4000 shots/setting, a C_l1 interval under ~0.15 wide.
    lo, hi = res["coherence_l1_ci"]
    assert hi - lo < 0.15


def test_charged_pairs_give_teff_equal_T_and_dephased_pairs_colder():
    harvest = Harvest(theta=0.5, rate=1.0)
    # t = 20, r = 1: the unrelaxed fraction is E[lambda^n] = exp(-r t sin^2(sqrt2 theta)(1+p_S-p_A)) ~ 1e-5,
    # so the Poisson-averaged probe is at T_eff = T to ~1e-4 relative.
    charged = run_harvest(BATH, GROUND, "charged", harvest, 20.0, instances=20, seed=5).to_dict()
    dephased = run_harvest(BATH, GROUND, "dephased", harvest, 20.0, instances=20, seed=5).to_dict()
    assert charged["agree"] and dephased["agree"]  # every instance equals its twin to 1e-8
    assert charged["circuit"]["teff"] == pytest.approx(1.0, rel=1e-3)
    assert dephased["circuit"]["teff"] == pytest.approx(0.763038, rel=1e-3)  # docs/physics.md §4.1


def test_sampled_harvest_interval_covers_the_twin():
    res = run_harvest(BATH, GROUND, "dephased", Harvest(theta=0.5), 10.0, instances=10, shots=2000, seed=2).to_dict()
    c = res["circuit"]
    assert res["agree"]
    lo, hi = c["probe_excited_population_ci"]
    assert lo <= res["twin"]["probe_excited_population"] <= hi
    # 3 settings x 10 instances x 2000 shots: Z-basis std of p_e ~ sqrt(0.2*0.8/20000) = 2.8e-3.
    assert hi - lo < 8 * 2.8e-3
    assert c["teff_ci"][0] <= c["teff"] <= c["teff_ci"][1]


def test_bad_inputs():
    with pytest.raises(ParameterError, match="exact.*purify"):
        run_charge(Atoms.dicke(2), BATH, GROUND, Collision(0.3, ancilla="measure"), 10, exact=True)
    with pytest.raises(ParameterError, match="cluster"):
        run_harvest(BATH, GROUND, "hot", Harvest(), 1.0)
    with pytest.raises(ParameterError, match="collisions"):
        run_charge(Atoms.dicke(2), BATH, GROUND, Collision(0.3), 0, exact=True)


def test_probe_bath_uses_the_bath_frequency():
    # omega = 2 with a probe bath: the damping ancilla must be thermal at p_e(T_p, omega), like the twin.
    harvest = Harvest(probe_gamma=0.5, probe_temperature=1.0)
    res = run_harvest(Bath(1.0, omega=2.0), GROUND, "dephased", harvest, 3.0, instances=3, seed=1).to_dict()
    assert res["agree"]  # each instance equals its twin to 1e-8


def test_exact_charging_on_a_noisy_backend_is_the_noisy_state():
    from qcharge.compare import state_quantities
    from qcharge.circuits.charging import charging_circuit
    from qcharge.execute import fake_backend
    from qcharge.protocol import charging_plan

    from .test_execute import direct_noisy_states

    atoms, coll = Atoms.dicke(2), Collision(0.3)
    res = run_charge(atoms, BATH, GROUND, coll, 12, exact=True, backend="aer-noisy:fake_manila", seed=3).to_dict()
    assert res["mode"] == "exact noisy density matrix" and res["backend"] == "aer-noisy:fake_manila"
    qc = charging_circuit(charging_plan(atoms, BATH, GROUND, coll, 12, seed=3))
    direct = state_quantities(direct_noisy_states(qc, fake_backend("manila"), seed=3)["rho_12"])
    for k, v in direct.items():
        assert res["circuit"][k] == pytest.approx(v, abs=1e-12), k  # same simulation, round-off only
    # ~80 noisy two-qubit gates: the state is far (> 1e-2) from the ideal twin, and the run says so.
    assert res["twin_trace_distance"] > 1e-2 and not res["agree"]


def test_exact_harvest_on_a_noisy_backend_is_the_noisy_state():
    from qcharge.circuits.harvesting import harvesting_instances
    from qcharge.execute import fake_backend
    from qcharge.protocol import harvesting_plan
    from qcharge.reference.harvest import make_cluster

    from .test_execute import direct_noisy_states

    harvest = Harvest(theta=0.5, rate=1.0)
    res = run_harvest(BATH, GROUND, "dephased", harvest, 3.0, instances=3, backend="aer-noisy:fake_manila", seed=5).to_dict()
    assert res["mode"] == "exact noisy density matrix per instance"
    circuits = harvesting_instances(harvesting_plan(harvest, 3.0, 3, 5), make_cluster("dephased", BATH, GROUND), omega=1.0)
    pe = [direct_noisy_states(c, fake_backend("manila"), seed=5)["probe_0"][1, 1].real for c in circuits]
    assert res["circuit"]["probe_excited_population"] == pytest.approx(sum(pe) / 3, abs=1e-12)
    # the noise moves the probe far from its twin (old code: equal to every digit, "agree")
    assert abs(res["circuit"]["probe_excited_population"] - res["twin"]["probe_excited_population"]) > 1e-2
    assert not res["agree"]


def test_charging_size_limits_name_atoms_before_building(monkeypatch):
    import qcharge.reference.twin as twin

    def boom(*a, **k):
        raise AssertionError("built the twin before checking the size")

    monkeypatch.setattr(twin, "charging_trajectory", boom)
    with pytest.raises(ParameterError, match=r"`atoms` must be >= 2.*but is 1"):
        run_charge(Atoms.dicke(1), BATH, GROUND, Collision(0.3), 5, exact=True)
    with pytest.raises(ParameterError, match=r"`atoms` must be >= 2"):
        run_charge(Atoms.dicke(1), BATH, GROUND, Collision(0.3), 5, shots=100)
    with pytest.raises(ParameterError, match=r"`atoms`.*16-qubit.*GiB"):
        run_charge(Atoms.dicke(14), BATH, GROUND, Collision(0.3), 5, exact=True)
    with pytest.raises(ParameterError, match=r"`atoms` must be <= 4 for state tomography"):
        run_charge(Atoms.dicke(5), BATH, GROUND, Collision(0.3), 5, shots=100)


def test_unwritable_job_store_fails_before_any_computation(tmp_path, monkeypatch):
    import qcharge.experiments as experiments

    blocker = tmp_path / "file"
    blocker.write_text("")

    def boom(*a, **k):
        raise AssertionError("computed before checking the job store")

    monkeypatch.setattr(experiments, "charge_reference_state", boom)
    monkeypatch.setattr(experiments, "_harvest_cluster", boom)
    # Old code: the store was never touched on an Aer run (exit 0, nothing stored).
    with pytest.raises(ParameterError, match="`job_store` must be a writable folder"):
        run_charge(Atoms.dicke(2), BATH, GROUND, Collision(0.3), 5, shots=100, job_store=blocker / "jobs")
    with pytest.raises(ParameterError, match="`job_store` must be a writable folder"):
        run_harvest(BATH, GROUND, "dephased", Harvest(), 1.0, shots=100, job_store=blocker / "jobs")
