r"""Error budget: measured minus exact theory, split into signed parts that add up exactly.

For each compared quantity :math:`Q` a run has up to five numbers: exact theory
:math:`Q_{ME}` (master equation), the ideal circuit's twin :math:`Q_{tw}`, the exact-noisy
prediction :math:`Q_{nz}` (the transpiled circuit on the device's noise model, no shots),
the raw measured estimate :math:`Q_{raw}` and the readout-mitigated one :math:`Q_{mit}`.
The parts are consecutive differences along that chain,

.. math::
    Q_{raw} - Q_{ME} =
    \underbrace{(Q_{tw} - Q_{ME})}_{\text{collision model}}
    + \underbrace{(Q_{nz} - Q_{tw})}_{\text{gate and decoherence}}
    + \underbrace{(Q_{raw} - Q_{mit})}_{\text{readout}}
    + \underbrace{(Q_{mit} - Q_{nz})}_{\text{shot noise}},

so their sum telescopes to ``total`` :math:`= Q_{raw} - Q_{ME}` *exactly* (algebraically; in
floating point to a few ulp). Without mitigation the readout and shot-noise parts cannot be
told apart and are one part, ``readout_and_shot_noise`` :math:`= Q_{raw} - Q_{nz}`. The
collision-model part is the Trotter / finite-θ error of the collision model; the shot-noise
part is a single draw of the estimator's sampling error (plus what the noise model misses), so
it comes with its standard error ``shot_noise_std_error`` from the bootstrap of the (mitigated)
estimate; a shot-noise part many standard errors away from zero says the device model is off.

>>> b = error_budget({"q": 0.25}, {"q": 0.24}, {"q": 0.20}, {"q": 0.13}, {"q": 0.21}, std_errors={"q": 0.01})["q"]
>>> [round(b[k], 6) for k in PARTS], round(b["total"], 6)
([-0.01, -0.04, -0.08, 0.01], -0.12)
>>> print(budget_table({"q": b}))
quantity  collision model  gate + decoherence  readout  shot noise  (std err)  total = sum
--------  ---------------  ------------------  -------  ----------  ---------  -----------
       q            -0.01               -0.04    -0.08        0.01       0.01        -0.12
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .exceptions import ParameterError

__all__ = ["PARTS", "READOUT_AND_SHOT", "error_budget", "budget_table"]

PARTS = ("collision_model", "gate_and_decoherence", "readout", "shot_noise")
READOUT_AND_SHOT = "readout_and_shot_noise"  # the one part readout + shot noise are without mitigation
_LABELS = {"collision_model": "collision model", "gate_and_decoherence": "gate + decoherence",
           "readout": "readout", "shot_noise": "shot noise", READOUT_AND_SHOT: "readout + shot noise",
           "shot_noise_std_error": "(std err)", "total": "total = sum"}


def _value(name: str, est: Mapping, q: str) -> float | None:
    if not isinstance(est, Mapping) or q not in est:
        raise ParameterError(f"Argument `{name}` must map quantity {q!r} to a number, but lacks it.")
    v = est[q]
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def error_budget(
    reference: Mapping[str, float],
    twin: Mapping[str, float],
    noisy_prediction: Mapping[str, float],
    measured: Mapping[str, float],
    mitigated: Mapping[str, float] | None = None,
    *,
    std_errors: Mapping[str, float] | None = None,
    quantities=None,
) -> dict[str, dict[str, float | None]]:
    """The signed parts of ``measured - reference`` per quantity (see the module docstring).

    Args:
        reference, twin, noisy_prediction, measured, mitigated: quantity -> value (e.g. the run's
            ``reference``, ``twin``, ``noisy_prediction``, ``circuit``, ``mitigated`` entries;
            other keys, such as intervals, are ignored). ``mitigated=None``: no readout mitigation.
        std_errors: quantity -> bootstrap standard error of the (mitigated) estimate, reported as
            ``shot_noise_std_error`` (``None`` where not given, e.g. exact runs).
        quantities: which quantities (default: the numeric keys of ``measured``).

    Returns:
        ``{quantity: {part: value, ..., 'shot_noise_std_error': s, 'total': measured - reference}}``.
        A quantity that is not finite in one of the inputs (e.g. an infinite T_eff) has ``None`` parts.
    """
    if quantities is None:
        quantities = [q for q, v in measured.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    out = {}
    for q in quantities:
        ref, tw, nz, raw = (_value(n, e, q) for n, e in (("reference", reference), ("twin", twin),
                                                         ("noisy_prediction", noisy_prediction),
                                                         ("measured", measured)))
        mit = None if mitigated is None else _value("mitigated", mitigated, q)
        ok = None not in (ref, tw, nz, raw) and (mitigated is None or mit is not None)
        d = lambda a, b: (a - b) if ok else None  # noqa: E731
        parts: dict[str, float | None] = {"collision_model": d(tw, ref), "gate_and_decoherence": d(nz, tw)}
        if mitigated is None:
            parts[READOUT_AND_SHOT] = d(raw, nz)
        else:
            parts.update(readout=d(raw, mit), shot_noise=d(mit, nz))
        se = None if std_errors is None else std_errors.get(q)
        parts["shot_noise_std_error"] = None if se is None else float(se)
        parts["total"] = d(raw, ref)
        out[q] = parts
    return out


def budget_table(budget: Mapping[str, Mapping[str, float | None]]) -> str:
    """Plain-text table of :func:`error_budget` (one row per quantity; the parts sum to ``total``)."""
    from .results import table

    cols = list(dict.fromkeys(k for v in budget.values() for k in v))
    rows = [[q, *("-" if v.get(c) is None else v[c] for c in cols)] for q, v in budget.items()]
    return table(["quantity", *(_LABELS.get(c, c) for c in cols)], rows)
