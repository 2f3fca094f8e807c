r"""Idle periods of a transpiled circuit: ALAP scheduling, padding (delays or a DD sequence), as the runtime does.

Unscheduled circuits carry no idle noise: a qubit that waits while the ancilla is reset or measured
(~1.6 µs on FakeFez, 5.5 µs on FakeManila) relaxes on hardware, but not in an Aer run of the
unscheduled circuit. :func:`schedule_idle` schedules a transpiled circuit ALAP with the target's
durations and fills each idle period with a ``Delay`` (or, with ``dynamical_decoupling``, with the
runtime's DD sequence first); :func:`qcharge.execute.noise.restricted_idle_noise` then puts thermal
relaxation on those delays.

With dynamical decoupling the passes are those of qiskit-ibm-runtime's executor sampler
(``qiskit_ibm_runtime.executor.dynamical_decoupling.generate_dd_pass_manager``, 0.51, with the
defaults of its ``DynamicalDecouplingOptions``: ALAP, ``extra_slack_distribution='middle'``,
``skip_reset_qubits=False``), rebuilt here from public qiskit passes so that the noisy prediction
does not import a private runtime module; a test checks that both give the same circuit.
"""

from __future__ import annotations

import warnings

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit.library import RZGate, XGate
from qiskit.transpiler import PassManager
from qiskit.transpiler.passes import ALAPScheduleAnalysis, PadDelay, PadDynamicalDecoupling, TimeUnitConversion

from .._checks import check_choice
from ..exceptions import ParameterError
from .capabilities import _CONTROL_FLOW, circuit_features

# The sequences of qiskit-ibm-runtime's DynamicalDecouplingOptions.sequence_type (0.51).
DD_SEQUENCES = ("XX", "XpXm", "XY4")


def dd_sequence(sequence_type: str) -> tuple[list, list[float]]:
    r"""Gates and spacings of a runtime DD sequence (``make_dd_sequence`` of qiskit-ibm-runtime 0.51).

    :math:`\pm X = R_z(0|\pi)\,X\,R_z(0|-\pi)`, :math:`\pm Y = R_z(\pm\pi/2)\,X\,R_z(\mp\pi/2)`; for
    :math:`k` pulses the spacings (fractions of the idle period) are :math:`\tau/2, \tau, ..., \tau, \tau/2`
    with :math:`\tau = 1/k`, the virtual Z gates of one pulse at zero spacing.

    Example:
        >>> gates, spacing = dd_sequence("XX")
        >>> [g.name for g in gates], spacing
        (['x', 'x'], [0.25, 0.5, 0.25])
    """
    check_choice("dynamical_decoupling", sequence_type, DD_SEQUENCES)
    xp = [XGate()]
    xm = [RZGate(np.pi), XGate(), RZGate(-np.pi)]
    yp = [RZGate(np.pi / 2), XGate(), RZGate(-np.pi / 2)]
    ym = [RZGate(-np.pi / 2), XGate(), RZGate(np.pi / 2)]
    pulses = {"XX": [xp, xp], "XpXm": [xp, xm], "XY4": [xp, yp, xm, ym]}[sequence_type]
    tau = 1 / len(pulses)
    gates, spacing = [], []
    for i, pulse in enumerate(pulses):
        spacing.append(tau / 2 if i == 0 else tau)
        spacing.extend([0] * (len(pulse) - 1))
        gates.extend(pulse)
    spacing.append(tau / 2)
    return gates, spacing


def _pass_manager(target, dynamical_decoupling: str | None) -> PassManager:
    pm = PassManager()
    if target.dt is not None:
        pm.append(TimeUnitConversion(target=target))
    pm.append(ALAPScheduleAnalysis(target=target))
    if dynamical_decoupling is not None:
        gates, spacing = dd_sequence(dynamical_decoupling)
        pm.append(PadDynamicalDecoupling(target=target, dd_sequence=gates, spacing=spacing,
                                         extra_slack_distribution="middle", skip_reset_qubits=False))
    pm.append(PadDelay(target=target))
    return pm


def schedule_idle(circuits: list[QuantumCircuit], device, dynamical_decoupling: str | None = None,
                  ) -> list[QuantumCircuit]:
    """Transpiled ``circuits`` scheduled ALAP on ``device``'s target, idle periods padded.

    Padding is a ``Delay`` per idle period, or the ``dynamical_decoupling`` sequence (``XX``, ``XpXm``,
    ``XY4``) where it fits and a delay elsewhere, exactly as the runtime sampler pads a DD run. The
    passes pad every wire of the device; instructions on qubits the circuit never uses are dropped
    (they never interact with the used ones, so the used qubits' state is unchanged, and Aer can
    still truncate the density matrix to the used qubits).

    Raises:
        ParameterError: circuits with control flow (the scheduling passes cannot time them).
    """
    flow = sorted(circuit_features(circuits) & _CONTROL_FLOW)
    if flow:
        raise ParameterError(f"Argument `idle_noise` needs circuits without control flow (the scheduling passes "
                             f"cannot time them), but they use {', '.join(flow)}.")
    pm = _pass_manager(device.target, dynamical_decoupling)
    with warnings.catch_warnings():
        # Durations that are not whole dt (the custom device's) are rounded to dt, as a device does.
        warnings.filterwarnings("ignore", message="Duration is rounded", category=UserWarning)
        scheduled_all = pm.run(list(circuits))
    out = []
    for qc, scheduled in zip(circuits, scheduled_all):
        used = {qc.find_bit(q).index for inst in qc.data if inst.operation.name != "barrier" for q in inst.qubits}
        kept = scheduled.copy_empty_like()
        for inst in scheduled.data:
            if any(scheduled.find_bit(q).index in used for q in inst.qubits):
                kept._append(inst)
        out.append(kept)
    return out
