"""Typed result records: fixed schema, exact round trips, --json output unchanged."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from qcharge import Atoms, Bath, Collision, Harvest, InitialState, charge, harvest_summary, make_cluster
from qcharge.compare import QUANTITIES, compare_exact, compare_sampled
from qcharge.exceptions import ParameterError
from qcharge.records import dumps, from_jsonable
from qcharge.results import ChargeRun, ChargeTrace, Comparison, HarvestRun, HarvestSummary, Quantities


def _json(d):
    return from_jsonable(json.loads(dumps(d)))


def assert_round_trip(cls, produced):
    """``produced``: the record a producer returns (or a dict of its keys)."""
    if isinstance(produced, cls):
        assert type(produced) is cls  # producers return the record itself
        produced = produced.to_dict()
    record = cls.from_dict(produced)
    # --json prints what it printed before the records existed: the same keys (nested too) and values.
    # (Dict equality: key order is not compared; dicke traces now put long_time last.)
    assert json.loads(dumps(record.to_dict())) == json.loads(dumps(produced))
    assert cls.from_dict(record.to_dict()) == record  # from_dict o to_dict = identity on records
    parsed = _json(produced)
    assert cls.from_dict(parsed).to_dict() == parsed  # to_dict o from_dict = identity on (JSON) dicts
    assert str(record)  # readable form exists
    return record


def _states(seed=1):
    rng = np.random.default_rng(seed)

    def random_state():
        a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
        rho = a @ a.conj().T
        return rho / np.trace(rho)

    return random_state


@pytest.mark.parametrize("kwargs", [dict(method="dicke"), dict(method="full")], ids=["dicke", "full"])
def test_charge_trace_round_trip(kwargs):
    res = charge(Atoms.dicke(2), Bath(1.0), InitialState("ground"), [0.0, 1.0], long_time=True, **kwargs)
    trace = assert_round_trip(ChargeTrace, res)
    assert (trace.coherence_l1_error_bound is None) == (kwargs["method"] == "full")
    assert trace.long_time.coherence_l1 == res.long_time.coherence_l1 and trace.times == (0.0, 1.0)
    no_long = assert_round_trip(ChargeTrace, charge(Atoms.dicke(2), Bath(1.0), InitialState("ground"), [1.0]))
    assert no_long.long_time is None and "long_time" not in no_long.to_dict()


def test_harvest_summary_round_trip_and_new_key():
    res = harvest_summary(make_cluster("charged", Bath(1.0), InitialState("ground")), Harvest(theta=0.5))
    summary = assert_round_trip(HarvestSummary, res)
    assert summary.teff == res.teff and "teff" in str(summary)
    # Both heat currents are part of the schema (the exact one and the second-order one, 4.6).
    assert "heat_current_second_order" in summary.to_dict() and "heat_current_second_order" in str(summary)


def test_comparison_round_trips_exact_and_sampled():
    random_state = _states()
    me, twin, circ = random_state(), random_state(), random_state()
    exact = assert_round_trip(Comparison, compare_exact(circ, twin, me))
    assert not exact.sampled and exact.ci is None and exact.twin_fidelity is None
    boot = [random_state() for _ in range(20)]
    null = [random_state() for _ in range(200)]  # the acceptance ranges need ~200 null samples at 5 quantities
    sampled = assert_round_trip(Comparison, compare_sampled(circ, boot, null, twin, me))
    assert sampled.sampled and isinstance(sampled.ci.coherence_l1, tuple) and isinstance(sampled.verdicts.energy, bool)
    # The interval-method fields stated by the producers appear without breaking the schema.
    stated = dict(compare_sampled(circ, boot, null, twin, me).to_dict(), level=0.95, ci_method="percentile",
                  verdict_method="x")
    assert assert_round_trip(Comparison, stated).ci_method == "percentile"
    assert "CI: percentile; range if = twin: x" in str(Comparison.from_dict(stated))  # the output says which interval


def test_quantities_are_the_compared_quantities():
    assert [f.name for f in dataclasses.fields(Quantities)] == list(QUANTITIES)


def test_charge_run_round_trip_exact():
    from qcharge import run_charge

    res = run_charge(Atoms.dicke(2), Bath(1.0), InitialState("ground"), Collision(0.3), 4, exact=True, seed=3)
    run = assert_round_trip(ChargeRun, res)
    assert run.comparison.agree is True and run.shots is None and run.coherence_l1_ci is None
    assert "exact" in str(run) and "verdict: agree" in str(run)


def test_harvest_run_round_trip_sampled():
    from qcharge import run_harvest

    res = run_harvest(Bath(1.0), InitialState("ground"), "charged", Harvest(theta=0.5), 2.0, instances=3, shots=200, seed=3)
    run = assert_round_trip(HarvestRun, res)
    assert run.circuit.teff_ci is not None and run.reference.teff_ci is None
    as_dict = res.to_dict()
    assert assert_round_trip(HarvestRun, dict(as_dict, circuit=dict(as_dict["circuit"], ci_method="percentile"))).circuit.ci_method


def test_fixed_schema():
    res = harvest_summary(make_cluster("dephased", Bath(1.0), InitialState("ground")), Harvest()).to_dict()
    with pytest.raises(ParameterError, match=r"Argument `data`.*unexpected \['surprise'\]"):
        HarvestSummary.from_dict(dict(res, surprise=1))
    with pytest.raises(ParameterError, match=r"lacks \['teff'\]"):
        HarvestSummary.from_dict({k: v for k, v in res.items() if k != "teff"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        HarvestSummary.from_dict(res).teff = 0.0
