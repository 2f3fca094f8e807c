"""``qcharge export``: the canonical circuits as OpenQASM 3 files with JSON metadata.

Each circuit is transpiled to the logical basis {cx, u} (no connectivity) so that any
OpenQASM 3 consumer can run it; its metadata (what the analysis needs) and resource
counts go into a JSON file beside it. The resource table of README.md is printed by
``qcharge export`` and comes from these files.
"""

from __future__ import annotations

import json
from pathlib import Path

from qiskit import qasm3
from qiskit.transpiler import generate_preset_pass_manager

from .circuits.charging import charging_circuit
from .circuits.harvesting import harvesting_circuit
from .params import Atoms, Bath, Collision, Harvest, InitialState
from .protocol import charging_plan
from .records import dumps

__all__ = ["canonical_circuits", "export_circuits"]

_THETA = 0.3  # palindromic charging angle: Dicke plateau to ~1e-3 (PHYSICS.md 5.2)


def canonical_circuits() -> dict:
    """Name -> circuit: one collision and n = 24 collisions (t ~ 1/gamma) for N = 2, 3, 4 at T = omega,
    and one harvesting instance (probe + charged pair prepared directly, three palindromic collisions).

    Every gate angle is a closed form of the parameters, so the exported files are byte-identical
    on every machine (no numerical synthesis, whose last bits depend on the BLAS build)."""
    bath, ground = Bath(1.0), InitialState("ground")
    out = {}
    for n_atoms in (2, 3, 4):
        for n in (1, 24):
            plan = charging_plan(Atoms.dicke(n_atoms), bath, ground, Collision(_THETA), n, seed=0)
            qc = charging_circuit(plan, measure=True)
            out[f"charge_N{n_atoms}_palindromic_theta{_THETA}_n{n}"] = qc
    from .reference.harvest import make_cluster

    pair = make_cluster("charged", bath, ground)
    # Closed-form angles only (pair preparation and palindromic exchange gates): a numerical
    # synthesis (isometry, 8x8 unitary) depends on the BLAS build and made the export differ
    # between machines (3 lines of this file, up to 3 CX of its resource count).
    out["harvest_charged_pair_3_collisions"] = harvesting_circuit(
        Harvest(theta=0.5), pair, [1.0, 2.0, 3.0], 3.0, seed=0, measure=True, ordering="palindromic",
        closed_form_pair=True,
    )
    return out


def export_circuits(directory: str | Path = "circuits") -> list[dict]:
    """Write ``<name>.qasm`` and ``<name>.json`` for every canonical circuit; return the resource rows."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pm = generate_preset_pass_manager(optimization_level=1, basis_gates=["cx", "u"], seed_transpiler=0)
    rows = []
    for name, qc in canonical_circuits().items():
        logical = pm.run(qc)
        ops = logical.count_ops()
        row = {
            "name": name,
            "qubits": logical.num_qubits,
            "depth": logical.depth(),
            "cx": int(ops.get("cx", 0)),
            "resets": int(ops.get("reset", 0)),
        }
        (directory / f"{name}.qasm").write_text(qasm3.dumps(logical))
        (directory / f"{name}.json").write_text(dumps({"metadata": qc.metadata, "resources": row}, indent=1))
        rows.append(row)
    (directory / "index.json").write_text(json.dumps(rows, indent=1))
    return rows
