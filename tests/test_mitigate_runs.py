"""Readout mitigation wired into the runs (issue 7 item 4), on a readout-only custom noise model.

With symmetric readout flips of probability p and ideal gates, every Pauli expectation of weight w
shrinks by (1-2p)^w in expectation: the pair's heat-exchange coherence 2|<eg|rho|ge>| comes from the
weight-2 XX and YY settings, so the raw estimate shrinks by (1-2p)^2, and the probe population
p_e = (1 - <Z>)/2 moves to p + (1-2p) p_e. Mitigation with the full assignment matrix (calibrated in
the same job) must recover the ideal values within shot noise.

Tolerances: 4 bootstrap standard errors of the estimate at hand (a fixed seed makes each run
deterministic; 4 sigma is exceeded by chance with probability ~6e-5 per draw). Basic-bootstrap
95 % intervals are about 3.9 standard errors wide, so an interval's width serves as 4 sigma.
"""

from __future__ import annotations

import math

import pytest

from qcharge.budget import PARTS, READOUT_AND_SHOT
from qcharge.exceptions import ParameterError
from qcharge.experiments import run_charge, run_harvest
from qcharge.params import Atoms, Bath, Collision, Harvest, InitialState
from qcharge.results import ChargeRun, HarvestRun
from qcharge.sweep import run_point

P = 0.1  # readout flip probability: (1-2p)^2 = 0.64, a loss of 0.086 of the pair's coherence of ~0.24
BACKEND = f"custom:readout_error={P}"


def _width(iv) -> float:
    return iv[1] - iv[0]


@pytest.fixture(scope="module")
def charge_run():
    # theta = 0.9 palindromic, 6 collisions: the Dicke plateau with 42 transpiled two-qubit gates.
    return run_charge(Atoms(2), Bath(1.0), InitialState("ground"), Collision(0.9, "palindromic"), 6,
                      backend=BACKEND, shots=10_000, mitigate=True, seed=11).to_dict()


def test_readout_only_noise_shrinks_the_raw_pair_coherence_by_one_minus_2p_squared(charge_run):
    res = charge_run
    q = "heat_exchange_coherence"
    twin, raw = res["twin"][q], res["circuit"][q]
    # Ideal gates: the exact-noisy prediction (no measurement in it) is the twin to round-off.
    assert abs(res["noisy_prediction"][q] - twin) <= 1e-8
    tol = _width(res["ci"][q])  # ~4 standard errors of the raw estimate
    assert abs(raw - (1 - 2 * P) ** 2 * twin) <= tol
    assert twin - raw > 2 * tol  # the loss (0.086, ~11 sigma) is resolved, not shot noise


def test_mitigated_pair_coherence_recovers_the_ideal(charge_run):
    res = charge_run
    mit = res["mitigated"]
    for q in ("heat_exchange_coherence", "rho_eg_ge", "energy"):
        se = res["error_budget"][q]["shot_noise_std_error"]
        assert 0 < se < 0.02  # the bootstrap of calibration + data at 10^4 shots
        assert abs(mit[q] - res["twin"][q]) <= 4 * se, q
        lo, hi = mit[q + "_ci"]
        assert lo <= mit[q] <= hi
    cal = mit["readout_calibration"]
    assert cal["qubits"] == [0, 1] and cal["calibration_shots"] == [10_000] * 4
    # Two independent flips: assignment fidelity (1-p)^2 = 0.81, to shot noise of 4 x 10^4 calibration shots.
    assert abs(cal["assignment_fidelity"] - (1 - P) ** 2) <= 4 * math.sqrt(0.81 * 0.19 / 40_000)


def test_charge_error_budget_telescopes_and_names_readout(charge_run):
    res = charge_run
    for q, parts in res["error_budget"].items():
        # The parts are consecutive differences of the chain ME -> twin -> noisy -> mitigated -> raw:
        # their sum is the total up to float64 round-off of values O(1).
        assert abs(sum(parts[k] for k in PARTS) - parts["total"]) <= 1e-12
        assert parts["total"] == pytest.approx(res["circuit"][q] - res["reference"][q], abs=1e-12)
        assert abs(parts["gate_and_decoherence"]) <= 1e-8  # ideal gates
    hec = res["error_budget"]["heat_exchange_coherence"]
    # Readout is the dominant part: -(1-(1-2p)^2) x twin = -0.086, within shot noise.
    assert hec["readout"] == pytest.approx(-(1 - (1 - 2 * P) ** 2) * res["twin"]["heat_exchange_coherence"],
                                           abs=2 * _width(res["ci"]["heat_exchange_coherence"]))
    rec = ChargeRun.from_dict(res)
    assert rec.mitigated == res["mitigated"] and rec.error_budget == res["error_budget"]
    text = str(rec)
    assert "error budget" in text and "readout-mitigated" in text and "telescopes exactly" in text


def test_cli_harvest_mitigates_the_probe_population():
    rec = run_point(["run", "harvest", "--cluster=charged", "--temperature=1", "--instances=2", "--time=2",
                     "--shots=4000", "--seed=3", "--backend=custom", f"--readout-error={P}", "--mitigate"])
    q = "probe_excited_population"
    twin, raw, mit = rec["twin"][q], rec["circuit"][q], rec["mitigated"][q]
    # Raw: p + (1-2p) p_e within 4 sigma; mitigated: the ideal p_e within 4 sigma.
    assert abs(raw - (P + (1 - 2 * P) * twin)) <= _width(rec["circuit"][q + "_ci"])
    se = rec["error_budget"][q]["shot_noise_std_error"]
    assert abs(mit - twin) <= 4 * se
    assert raw - twin > 10 * se  # the readout shift (+0.06) is resolved
    assert rec["mitigated"]["readout_calibration"]["calibration_shots"] == [8000, 8000]  # 2 instances x 4000
    parts = rec["error_budget"][q]
    assert abs(sum(parts[k] for k in PARTS) - parts["total"]) <= 1e-12
    assert HarvestRun.from_dict(rec).mitigated == rec["mitigated"]


def test_without_mitigation_readout_and_shot_noise_are_one_part():
    res = run_harvest(Bath(1.0), InitialState("ground"), "charged", Harvest(theta=0.5, rate=1.0), 2.0,
                      instances=2, backend=BACKEND, shots=500, seed=3).to_dict()
    parts = res["error_budget"]["probe_excited_population"]
    assert "mitigated" not in res and READOUT_AND_SHOT in parts and "readout" not in parts
    assert parts["collision_model"] + parts["gate_and_decoherence"] + parts[READOUT_AND_SHOT] == pytest.approx(
        parts["total"], abs=1e-12)


def test_ideal_backend_has_no_budget_and_mitigate_needs_shots():
    ideal = run_charge(Atoms(2), Bath(1.0), InitialState("ground"), Collision(0.9, "palindromic"), 2, exact=True).to_dict()
    assert "error_budget" not in ideal and "mitigated" not in ideal
    with pytest.raises(ParameterError, match="Argument `mitigate` needs a sampled run"):
        run_charge(Atoms(2), Bath(1.0), InitialState("ground"), Collision(0.9, "palindromic"), 2,
                   backend=BACKEND, exact=True, mitigate=True)
    with pytest.raises(ParameterError, match="Argument `mitigate` needs a sampled run"):
        run_harvest(Bath(1.0), InitialState("ground"), "charged", Harvest(theta=0.5, rate=1.0), 2.0,
                    instances=2, backend=BACKEND, mitigate=True)


def test_exact_noisy_run_budget_has_zero_readout_and_shot_part():
    res = run_charge(Atoms(2), Bath(1.0), InitialState("ground"), Collision(0.9, "palindromic"), 2,
                     backend="custom:two_qubit_error=0.02", exact=True).to_dict()
    parts = res["error_budget"]["heat_exchange_coherence"]
    # The exact noisy state *is* the prediction: nothing is sampled or read out.
    assert parts[READOUT_AND_SHOT] == 0.0 and parts["shot_noise_std_error"] is None
    assert parts["gate_and_decoherence"] < -1e-3  # 2 % two-qubit error costs coherence
