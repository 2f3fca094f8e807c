"""Width, depth and two-qubit gate counts before and after transpiling (:func:`resources`)."""

from __future__ import annotations

import time
from typing import Any

from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from ._common import _backend_name
from .backends import _fake_device, get_backend


def _stats(qc: QuantumCircuit) -> dict:
    def is_gate(inst) -> bool:
        return not getattr(inst.operation, "_directive", False) and inst.operation.name not in (
            "measure", "reset", "delay", "barrier")

    two = sum(1 for inst in qc.data if is_gate(inst) and len(inst.qubits) == 2)
    multi = sum(1 for inst in qc.data if is_gate(inst) and len(inst.qubits) > 2)
    active = {qc.find_bit(q).index for inst in qc.data if inst.operation.name not in ("barrier", "delay")
              for q in inst.qubits}
    return {
        "qubits": len(active),
        "depth": qc.depth(),
        "two_qubit_gates": two,
        "multi_qubit_gates": multi,
        "two_qubit_depth": qc.depth(lambda inst: is_gate(inst) and len(inst.qubits) >= 2),
        "ops": {k: int(v) for k, v in qc.count_ops().items()},
    }


_LOGICAL_BASIS = ["cx", "u"]
# Operations of qcharge's circuits that the level-1 preset handles without high-level synthesis
# (standard gates with an equivalence-library entry, UnitarySynthesis for 'unitary', directives).
_NO_HLS_OPS = frozenset({"cx", "u", "rx", "ry", "rz", "x", "h", "xx_plus_yy", "rxx", "ryy", "unitary",
                         "reset", "measure", "barrier", "delay"})


def _logical_pass_manager(circuit: QuantumCircuit, optimization_level: int, seed: int):
    """The level-1 preset pass manager for ``['cx', 'u']`` without connectivity, built from its passes.

    ``generate_preset_pass_manager`` loads every installed transpiler and synthesis plugin through
    entry points on its first call; with qiskit-ibm-runtime and qiskit-experiments installed that
    imports both (plus lmfit, matplotlib, scipy.stats): ~2.5 s, most of an exact ``run charge``.
    Without a coupling map, level 1 is: init (InverseCancellation), translation (UnitarySynthesis,
    HighLevelSynthesis, BasisTranslator) and a fixed-point loop of Optimize1qGatesDecomposition +
    InverseCancellation. For circuits whose operations need no high-level synthesis
    (:data:`_NO_HLS_OPS`) this is the same pass list without the plugin loading; the test suite
    checks the counts equal the preset's on every circuit family. Anything else gets the preset.
    """
    if optimization_level != 1 or any(inst.operation.name not in _NO_HLS_OPS for inst in circuit.data):
        return generate_preset_pass_manager(optimization_level=optimization_level, basis_gates=_LOGICAL_BASIS,
                                            seed_transpiler=seed)
    from qiskit.circuit.equivalence_library import SessionEquivalenceLibrary
    from qiskit.passmanager.flow_controllers import DoWhileController
    from qiskit.transpiler import PassManager
    from qiskit.transpiler.passes import (BasisTranslator, Depth, FixedPoint, InverseCancellation,
                                          Optimize1qGatesDecomposition, Size, UnitarySynthesis)

    def checks():
        return [Depth(recurse=True), FixedPoint("depth"), Size(recurse=True), FixedPoint("size")]

    def not_fixed(props) -> bool:
        return not props["depth_fixed_point"] or not props["size_fixed_point"]

    pm = PassManager([InverseCancellation(), UnitarySynthesis(basis_gates=_LOGICAL_BASIS),
                      BasisTranslator(SessionEquivalenceLibrary, _LOGICAL_BASIS)])
    pm.append(checks())
    pm.append(DoWhileController([Optimize1qGatesDecomposition(basis=_LOGICAL_BASIS), InverseCancellation(), *checks()],
                                do_while=not_fixed))
    return pm


def resources(circuit: QuantumCircuit, backend: str | Any | None = None, *, optimization_level: int = 1,
              seed: int = 0) -> dict:
    """Width, depth and two-qubit gate count before and after transpiling.

    ``backend=None`` transpiles to the logical basis ``['cx', 'u']`` without connectivity (the
    gate budget of docs/physics.md §5.3); otherwise to the backend's target (e.g. ``'aer-noisy:fake_sherbrooke'``
    or a fake backend object), including routing. ``qubits`` counts qubits that carry operations.
    """
    before = _stats(circuit)
    t0 = time.perf_counter()
    if backend is None:
        pm = _logical_pass_manager(circuit, optimization_level, seed)
        name = "logical cx+u"
    else:
        # Only the target matters here: 'aer-noisy:<fake>' is transpiled for the fake device itself,
        # without building its full noise model (18 s for a 156-qubit device).
        kind, _, rest = backend.partition(":") if isinstance(backend, str) else ("", "", "")
        be = _fake_device(rest) if kind in ("aer-noisy", "fake") and rest else get_backend(backend)
        pm = generate_preset_pass_manager(optimization_level=optimization_level, backend=be, seed_transpiler=seed)
        name = _backend_name(be)
    after = _stats(pm.run(circuit))
    return {
        "backend": name,
        **{k: v for k, v in before.items()},
        **{f"transpiled_{k}": v for k, v in after.items()},
        "transpile_seconds": time.perf_counter() - t0,
    }
