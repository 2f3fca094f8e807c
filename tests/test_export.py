"""Exported OpenQASM 3 circuits reload and reproduce the twin's populations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from qiskit import qasm3
from qiskit_aer import AerSimulator

from qcharge import Atoms, Bath, Collision, InitialState
from qcharge.export import export_circuits
from qcharge.protocol import charging_plan
from qcharge.reference.twin import charging_trajectory


def test_export_round_trip(tmp_path):
    rows = export_circuits(tmp_path)
    names = {r["name"] for r in rows}
    assert "charge_N2_palindromic_theta0.3_n24" in names
    one = next(r for r in rows if r["name"] == "charge_N3_palindromic_theta0.3_n1")
    assert one["qubits"] == 3 + 2 and one["cx"] == 2 * (2 * 3 - 1) + 1  # PHYSICS.md 5.3 gate budget
    meta = json.loads((tmp_path / "charge_N2_palindromic_theta0.3_n24.json").read_text())["metadata"]
    qc = qasm3.loads((tmp_path / "charge_N2_palindromic_theta0.3_n24.qasm").read_text())
    # Exact outcome probabilities of the reloaded circuit (density-matrix method, many shots would only add noise).
    probs = AerSimulator(method="density_matrix").run(qc, shots=200_000, seed_simulator=1).result().get_counts()
    _, states = charging_trajectory(charging_plan(Atoms.dicke(2), Bath(1.0), InitialState("ground"), Collision(0.3), 24,
                                                  seed=0))
    pops = np.real(np.diag(states[-1]))  # QuTiP order: index = 2*s0 + s1; count keys read "s1 s0"
    for key, count in probs.items():
        s1, s0 = int(key[0]), int(key[1])
        # 5 standard deviations of a binomial frequency with 200k shots (p(1-p) <= 1/4).
        assert abs(count / 200_000 - pops[2 * s0 + s1]) < 5 * 0.5 / np.sqrt(200_000)
    assert meta["n_collisions"] == 24 and meta["measured_qubits"] == [0, 1]


COMMITTED = Path(__file__).resolve().parents[1] / "circuits"


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_committed_exports_match_the_builders(tmp_path):
    # Fails when a builder changes without `qcharge export` being rerun (the files in circuits/ drift).
    export_circuits(tmp_path)
    fresh, committed = _files(tmp_path), _files(COMMITTED)
    assert sorted(fresh) == sorted(committed)
    drifted = [name for name in fresh if fresh[name] != committed[name]]
    assert not drifted, f"rerun `qcharge export`: {drifted} differ from the builders"


def test_export_does_not_depend_on_the_blas_kernels(tmp_path):
    # Another OpenBLAS kernel set (as on another CPU) changed 3 lines of the harvesting QASM and 3 of
    # its CX while the exported circuit was numerically synthesised; every angle is now a closed
    # form. OPENBLAS_CORETYPE only selects kernels (ignored where NumPy is not on OpenBLAS).
    root = Path(__file__).resolve().parents[1]
    code = f"from qcharge.export import export_circuits; export_circuits({str(tmp_path)!r})"
    env = {**os.environ, "OPENBLAS_CORETYPE": "Sandybridge", "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root, timeout=300)
    assert _files(tmp_path) == _files(COMMITTED)


def test_exported_harvest_circuit_reproduces_its_builder():
    # The reloaded QASM (cx + u after transpilation) gives the probe population of the builder's
    # circuit: exact density matrices on both sides (Aer density-matrix method), tolerance 1e-10.
    from qcharge import Harvest, make_cluster
    from qcharge.circuits.harvesting import harvesting_circuit
    from qcharge.execute import run_density_matrix
    from qcharge.states import from_qiskit_order

    qc = qasm3.loads((COMMITTED / "harvest_charged_pair_3_collisions.qasm").read_text())
    qc.remove_final_measurements()
    qc.save_density_matrix([0])
    sim = AerSimulator(method="density_matrix")
    got = from_qiskit_order(np.asarray(sim.run(qc, shots=1).result().data()["density_matrix"]))
    pair = make_cluster("charged", Bath(1.0), InitialState("ground"))  # as in export.canonical_circuits
    builder = harvesting_circuit(Harvest(theta=0.5), pair, [1.0, 2.0, 3.0], 3.0, seed=0, ordering="palindromic",
                                 closed_form_pair=True)
    want = run_density_matrix([builder])[0]["probe_0"]
    assert np.abs(got - want).max() < 1e-10
