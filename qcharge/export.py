"""``qcharge export``: the canonical circuits as OpenQASM 3 and QPY, with JSON metadata and a resource table.

For every canonical circuit (:func:`canonical_circuits`) the folder gets

- ``<name>.qasm``: OpenQASM 3 of the circuit transpiled to the logical basis {cx, u} without
  connectivity, so that any OpenQASM 3 consumer can run it;
- ``<name>.qpy``: the builder's circuit itself (``xx_plus_yy`` exchange gates, labelled save
  markers, ``circuit.metadata``), for Qiskit users who transpile to their own device;
- ``<name>.json``: the metadata the analysis needs and the resource counts;

plus ``index.json`` (all resource rows) and ``README.md``: width, depth and two-qubit gates before
transpiling, on the logical basis, and after transpiling to a Heron device (FakeFez by default,
level-1 preset, ``seed_transpiler=0``, through :func:`qcharge.execute.resources`).

Every gate angle is a closed form of the parameters and every transpilation is seeded, so the
files are byte-identical on every machine for a given Qiskit version (a ``.qpy`` header names the
Qiskit version that wrote it, so the drift test compares loaded ``.qpy`` circuits, not bytes).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from qiskit import QuantumCircuit, qasm3, qpy
from qiskit.transpiler import generate_preset_pass_manager

from .circuits.charging import charging_circuit
from .circuits.harvesting import harvesting_circuit
from .exceptions import ParameterError
from .params import Atoms, Bath, Collision, Harvest, InitialState
from .protocol import charging_plan
from .records import dumps, to_jsonable

__all__ = ["CanonicalCircuit", "HERON_DEVICE", "canonical_circuits", "export_circuits", "resource_table"]

# Palindromic charging angle of the default protocol: Dicke plateau to ~1e-3 (docs/physics.md §5.2).
_THETA = 0.3
# The planned protocol for hardware (issue 7's table): few large collisions reach the Dicke plateau
# with ~20x fewer two-qubit gates (palindromic leaks only at O(theta^4)). Measured with the exact
# noisy prediction on FakeFez (Aer density matrices, T = 1, from ground), heat-exchange coherence
# noisy / twin: N = 2, theta = 0.9, n = 6: 0.196 / 0.239; N = 3 at the same theta*n = 5.4:
# theta = 0.9, n = 6: 0.423 / 0.591; theta = 0.7, n = 8: 0.399; theta = 0.6, n = 9: 0.380 (more
# gates cost more than the O(theta^4) leak gains), hence theta = 0.9, n = 6 for both.
_PLANNED = ((2, 0.9, 6), (3, 0.9, 6))
# Heron r2 (156 qubits, CZ): the device of the "after transpiling" columns.
HERON_DEVICE = "fake_fez"


@dataclass(frozen=True)
class CanonicalCircuit:
    """One exported circuit: its file stem, protocol (``'default'`` / ``'planned'``), a description and the circuit."""

    name: str
    protocol: str
    description: str
    circuit: QuantumCircuit


def _charge(n_atoms: int, theta: float, n: int, protocol: str) -> CanonicalCircuit:
    plan = charging_plan(Atoms.dicke(n_atoms), Bath(1.0), InitialState("ground"), Collision(theta), n, seed=0)
    what = f"charge N = {n_atoms}, palindromic θ = {theta}, {n} collision{'s' * (n != 1)} (γt = {plan.dt * n:.3g})"
    return CanonicalCircuit(f"charge_N{n_atoms}_palindromic_theta{theta}_n{n}", protocol, what,
                            charging_circuit(plan, measure=True))


def canonical_circuits() -> list[CanonicalCircuit]:
    """The exported circuits, all at T = omega from the ground state.

    Default protocol (palindromic θ = 0.3): one collision and n = 24 (γt ≈ 1) for N = 2, 3, 4.
    Planned protocol for hardware: palindromic θ = 0.9 with 6 collisions for N = 2 and 3.
    Harvesting: the probe and a charged pair prepared directly, three palindromic collisions.

    Example:
        >>> [c.name for c in canonical_circuits() if c.protocol == "planned"]
        ['charge_N2_palindromic_theta0.9_n6', 'charge_N3_palindromic_theta0.9_n6']
    """
    out = [_charge(n_atoms, _THETA, n, "default") for n_atoms in (2, 3, 4) for n in (1, 24)]
    out += [_charge(n_atoms, theta, n, "planned") for n_atoms, theta, n in _PLANNED]
    from .reference.harvest import make_cluster

    pair = make_cluster("charged", Bath(1.0), InitialState("ground"))
    # Closed-form angles only (pair preparation and palindromic exchange gates): a numerical
    # synthesis (isometry, 8x8 unitary) depends on the BLAS build and made the export differ
    # between machines (3 lines of this file, up to 3 CX of its resource count).
    qc = harvesting_circuit(Harvest(theta=0.5), pair, [1.0, 2.0, 3.0], 3.0, seed=0, measure=True,
                            ordering="palindromic", closed_form_pair=True)
    out.append(CanonicalCircuit("harvest_charged_pair_3_collisions", "default",
                                "harvest: probe + charged pair, θ = 0.5, 3 palindromic collisions", qc))
    return out


def _qpy_bytes(qc: QuantumCircuit) -> bytes:
    # QPY writes metadata with json.dumps: plain JSON types only (NumPy scalars would fail).
    qc = qc.copy()
    qc.metadata = to_jsonable(qc.metadata)
    buf = io.BytesIO()
    qpy.dump(qc, buf)
    return buf.getvalue()


def export_circuits(directory: str | Path = "circuits", *, device: str = HERON_DEVICE) -> list[dict]:
    """Write ``<name>.qasm``, ``<name>.qpy`` and ``<name>.json`` per canonical circuit, ``index.json``
    and ``README.md``; return the resource rows.

    Row keys: ``name``, ``protocol``, ``qubits`` (width), ``depth`` and ``two_qubit_gates`` of the
    builder's circuit; ``logical_depth``, ``cx`` and ``resets`` on {cx, u}; ``device``,
    ``device_qubits`` (physical qubits used), ``device_depth`` and ``device_two_qubit_gates``
    after transpiling to ``device``.
    """
    from .execute import fake_backend, resources  # execute owns every qiskit_ibm_runtime import

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pm = generate_preset_pass_manager(optimization_level=1, basis_gates=["cx", "u"], seed_transpiler=0)
    try:
        backend = fake_backend(device)
    except ParameterError as err:  # name this function's argument (and the CLI's --device), not execute's
        raise ParameterError(str(err).replace("Argument `backend`", "Argument `device`", 1)) from None
    rows = []
    for item in canonical_circuits():
        qc = item.circuit
        logical = pm.run(qc)
        ops = logical.count_ops()
        hw = resources(qc, backend, optimization_level=1, seed=0)
        row = {
            "name": item.name,
            "protocol": item.protocol,
            "description": item.description,
            "qubits": qc.num_qubits,
            "depth": hw["depth"],
            "two_qubit_gates": hw["two_qubit_gates"],
            "logical_depth": logical.depth(),
            "cx": int(ops.get("cx", 0)),
            "resets": int(ops.get("reset", 0)),
            "device": hw["backend"],
            "device_qubits": hw["transpiled_qubits"],
            "device_depth": hw["transpiled_depth"],
            "device_two_qubit_gates": hw["transpiled_two_qubit_gates"],
        }
        (directory / f"{item.name}.qasm").write_text(qasm3.dumps(logical))
        (directory / f"{item.name}.qpy").write_bytes(_qpy_bytes(qc))
        (directory / f"{item.name}.json").write_text(dumps({"metadata": qc.metadata, "resources": row}, indent=1))
        rows.append(row)
    (directory / "index.json").write_text(json.dumps(rows, indent=1))
    (directory / "README.md").write_text(_readme(rows))
    return rows


def resource_table(rows: list[dict]) -> str:
    """The Markdown resource table of ``README.md`` (one line per row of :func:`export_circuits`)."""
    device = rows[0]["device"] if rows else HERON_DEVICE
    lines = [
        f"| circuit | protocol | width | depth | 2q gates | depth {{cx,u}} | CX | resets | {device} qubits "
        f"| {device} depth | {device} 2q (CZ) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['description']} (`{r['name']}`) | {r['protocol']} | {r['qubits']} | {r['depth']} "
            f"| {r['two_qubit_gates']} | {r['logical_depth']} | {r['cx']} | {r['resets']} | {r['device_qubits']} "
            f"| {r['device_depth']} | {r['device_two_qubit_gates']} |"
        )
    return "\n".join(lines)


def _readme(rows: list[dict]) -> str:
    device = rows[0]["device"] if rows else HERON_DEVICE
    return f"""# Canonical circuits

Written by `qcharge export` (do not edit: `tests/test_export.py` fails when these files differ from a
fresh export). All circuits are at bath temperature T = ω, from the ground state, seed 0.

Per circuit:

- `<name>.qasm`: OpenQASM 3, transpiled to {{cx, u}} without connectivity (`qiskit.qasm3.loads`);
- `<name>.qpy`: the builder's circuit (exchange gates `xx_plus_yy`, labelled save-marker barriers and
  `circuit.metadata`), for transpiling to your own device (`qiskit.qpy.load`); its header names the
  Qiskit version that wrote it;
- `<name>.json`: `metadata` (qubit roles, θ, Δt, collisions, save points, state order, measured
  qubits) and `resources` (the row of the table below); `index.json` lists every row.

Protocols: **default** is the package's palindromic θ = 0.3 (Dicke plateau to ~1e-3, one collision
per Δt = θ²/(γ(2n̄+1))); **planned** is the hardware protocol of the planner: palindromic θ = 0.9 with
6 collisions, which reaches the Dicke plateau (leaking only at O(θ⁴)) with far fewer two-qubit gates,
so more of the coherence survives the device's noise.

Columns: width = qubits of the circuit; depth and 2q gates of the builder's circuit (an exchange gate
counts once); depth, CX and resets after transpiling to {{cx, u}} (level 1, no connectivity); then
physical qubits used, depth and two-qubit (CZ) gates after transpiling to {device} (Heron r2, heavy-hex,
`generate_preset_pass_manager(optimization_level=1, backend=FakeFez(), seed_transpiler=0)`, routing
included).

{resource_table(rows)}

One collision costs 2(2N−1)+1 CX on {{cx, u}} (2N−1 exchange gates at 2 CX, one CX to dephase the
ancilla); heavy-hex routing adds SWAPs from N = 3 on.
"""
