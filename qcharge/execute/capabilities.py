"""What circuits need from a device (reset, mid-circuit measurement, control flow) and the refusal."""

from __future__ import annotations

from ..circuits.collisions import save_marker_label
from ..exceptions import BackendError
from ._common import _backend_name, _flatten, _is_aer

# Operations that need dynamic-circuit support on a device.
_CONTROL_FLOW = frozenset({"if_else", "while_loop", "for_loop", "switch_case", "box"})


def circuit_features(circuits) -> set[str]:
    """What the circuits need from a device: ``'reset'``, ``'mid-circuit measurement'``, control-flow names."""
    flat, _ = _flatten(circuits)
    need: set[str] = set()
    for qc in flat:
        measured: set[int] = set()
        for inst in qc.data:
            name = inst.operation.name
            qubits = {qc.find_bit(q).index for q in inst.qubits}
            if name == "reset":
                need.add("reset")
            if name in _CONTROL_FLOW:
                need.add(name)
            if name == "measure":
                measured |= qubits
            elif name not in ("barrier", "delay") and qubits & measured and save_marker_label(inst.operation) is None:
                need.add("mid-circuit measurement")
    return need


def check_width(circuits, device) -> None:
    """Refuse, in one line, circuits wider than ``device`` (before a transpiler error says it less clearly)."""
    size = getattr(device, "num_qubits", None)
    need = max(c.num_qubits for c in _flatten(circuits)[0])
    if size is not None and need > size:
        raise BackendError(f"Backend {_backend_name(device)!r} has {size} qubits, but the circuits need {need} "
                           "(atoms, ancilla and auxiliary qubits): choose a larger device (see `qcharge backends`) "
                           "or fewer atoms.")


def check_supported(circuits, backend) -> None:
    """Refuse, in one line, circuits using what ``backend`` lacks (reset, mid-circuit measurement, control flow).

    Aer supports everything. A device supports reset and control flow when its target lists them;
    mid-circuit measurement counts as supported where the target lists ``if_else`` (IBM advertises
    dynamic circuits, of which mid-circuit measurement is part, through control-flow instructions).

    Raises:
        BackendError: the backend lacks something the circuits use.
    """
    if _is_aer(backend):
        return
    check_width(circuits, backend)
    names = set(backend.target.operation_names)
    missing = sorted(f for f in circuit_features(circuits)
                     if (f == "mid-circuit measurement" and "if_else" not in names)
                     or (f != "mid-circuit measurement" and f not in names))
    if missing:
        raise BackendError(
            f"Backend {_backend_name(backend)!r} does not support {', '.join(missing)}, which the circuits use: "
            "choose another backend (see `qcharge backends`; e.g. fake_fez) or another --ancilla."
        )
