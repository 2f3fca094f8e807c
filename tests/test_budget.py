"""The error budget's algebra (qcharge.budget): signed parts that telescope to measured - exact theory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qcharge.budget import PARTS, READOUT_AND_SHOT, budget_table, error_budget
from qcharge.exceptions import ParameterError


def _chain(rng):
    return [{"a": float(x), "b": float(y)} for x, y in rng.normal(size=(5, 2))]


def test_parts_are_consecutive_differences_and_sum_to_the_total():
    ref, twin, noisy, raw, mit = _chain(np.random.default_rng(5))
    budget = error_budget(ref, twin, noisy, raw, mit, std_errors={"a": 0.1})
    for q in ("a", "b"):
        p = budget[q]
        assert list(p) == [*PARTS, "shot_noise_std_error", "total"]
        # Each part is one subtraction of the chain; their sum equals the total to float64 round-off
        # of O(1) values (a few ulp).
        assert p["collision_model"] == twin[q] - ref[q] and p["gate_and_decoherence"] == noisy[q] - twin[q]
        assert p["readout"] == raw[q] - mit[q] and p["shot_noise"] == mit[q] - noisy[q]
        assert p["total"] == raw[q] - ref[q]
        assert abs(sum(p[k] for k in PARTS) - p["total"]) <= 1e-14
    assert budget["a"]["shot_noise_std_error"] == 0.1 and budget["b"]["shot_noise_std_error"] is None


def test_without_mitigation_readout_and_shot_noise_are_one_part():
    ref, twin, noisy, raw, _ = _chain(np.random.default_rng(6))
    p = error_budget(ref, twin, noisy, raw)["a"]
    assert "readout" not in p and "shot_noise" not in p
    assert p[READOUT_AND_SHOT] == raw["a"] - noisy["a"]
    assert abs(p["collision_model"] + p["gate_and_decoherence"] + p[READOUT_AND_SHOT] - p["total"]) <= 1e-14


def test_non_numeric_keys_are_ignored_and_non_finite_values_give_no_parts():
    est = {"teff": 1.0, "teff_ci": [0.9, 1.1], "ci_method": "x", "flag": True}
    budget = error_budget(est, est, est, est)
    assert list(budget) == ["teff"] and budget["teff"]["total"] == 0.0
    inf = {"teff": math.inf}
    parts = error_budget(est, est, est, inf)["teff"]
    assert all(v is None for v in parts.values())  # an infinite T_eff has no finite difference


def test_a_missing_quantity_names_the_argument():
    with pytest.raises(ParameterError, match=r"Argument `noisy_prediction` must map quantity 'a'"):
        error_budget({"a": 1.0}, {"a": 1.0}, {}, {"a": 1.0})


def test_table_has_one_row_per_quantity_and_labels_the_sum():
    ref, twin, noisy, raw, mit = _chain(np.random.default_rng(7))
    text = budget_table(error_budget(ref, twin, noisy, raw, mit))
    lines = text.splitlines()
    assert len(lines) == 4 and "total = sum" in lines[0] and "readout" in lines[0]
    assert lines[2].split()[0] == "a" and lines[3].split()[-2] == "-"  # no std error given: '-'
