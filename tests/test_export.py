"""Exported OpenQASM 3 and QPY circuits reload and reproduce the twin; the committed files equal a fresh export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qiskit import qasm3, qpy
from qiskit_aer import AerSimulator

from qcharge import Atoms, Bath, Collision, InitialState
from qcharge.execute import run_density_matrix
from qcharge.export import canonical_circuits, export_circuits, resource_table
from qcharge.protocol import charging_plan
from qcharge.reference.twin import charging_trajectory
from qcharge.states import from_qiskit_order

COMMITTED = Path(__file__).resolve().parents[1] / "circuits"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """One fresh export per module (it transpiles every circuit to FakeFez: ~10 s)."""
    directory = tmp_path_factory.mktemp("circuits")
    export_circuits(directory)
    return directory


def _rows(directory: Path) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads((directory / "index.json").read_text())}


def _load_qpy(path: Path):
    with path.open("rb") as f:
        (qc,) = qpy.load(f)
    return qc


def _final_atoms_state(qc, atoms: list[int]) -> np.ndarray:
    """Exact reduced state of `atoms` at the end of a reloaded circuit (Aer density matrix, one shot)."""
    qc = qc.copy()
    qc.remove_final_measurements()
    qc.save_density_matrix(atoms)
    rho = AerSimulator(method="density_matrix").run(qc, shots=1, seed_simulator=1).result().data()["density_matrix"]
    return from_qiskit_order(np.asarray(rho))


def test_export_round_trip(fresh):
    rows = _rows(fresh)
    assert "charge_N2_palindromic_theta0.3_n24" in rows
    one = rows["charge_N3_palindromic_theta0.3_n1"]
    assert one["qubits"] == 3 + 2 and one["cx"] == 2 * (2 * 3 - 1) + 1  # docs/physics.md §5.3 gate budget
    meta = json.loads((fresh / "charge_N2_palindromic_theta0.3_n24.json").read_text())["metadata"]
    qc = qasm3.loads((fresh / "charge_N2_palindromic_theta0.3_n24.qasm").read_text())
    # Sampled outcome frequencies of the reloaded circuit against the twin's populations.
    probs = AerSimulator(method="density_matrix").run(qc, shots=200_000, seed_simulator=1).result().get_counts()
    _, states = charging_trajectory(charging_plan(Atoms.dicke(2), Bath(1.0), InitialState("ground"), Collision(0.3), 24,
                                                  seed=0))
    pops = np.real(np.diag(states[-1]))  # QuTiP order: index = 2*s0 + s1; count keys read "s1 s0"
    for key, count in probs.items():
        s1, s0 = int(key[0]), int(key[1])
        # 5 standard deviations of a binomial frequency with 200k shots (p(1-p) <= 1/4).
        assert abs(count / 200_000 - pops[2 * s0 + s1]) < 5 * 0.5 / np.sqrt(200_000)
    assert meta["n_collisions"] == 24 and meta["measured_qubits"] == [0, 1]


@pytest.mark.parametrize("n_atoms", [2, 3])
def test_planned_exports_reproduce_the_twin(fresh, n_atoms):
    # The planned hardware protocol (palindromic theta = 0.9, 6 collisions), reloaded from both files:
    # exact density matrices against the twin's exact state, tolerance 1e-10 (round-off of ~100 gates).
    name = f"charge_N{n_atoms}_palindromic_theta0.9_n6"
    _, states = charging_trajectory(charging_plan(Atoms.dicke(n_atoms), Bath(1.0), InitialState("ground"),
                                                  Collision(0.9), 6, seed=0))
    atoms = list(range(n_atoms))
    from_qasm = _final_atoms_state(qasm3.loads((fresh / f"{name}.qasm").read_text()), atoms)
    built = _load_qpy(fresh / f"{name}.qpy")  # xx_plus_yy and save markers: through qcharge's Aer runner
    from_qpy = run_density_matrix([built])[0][built.metadata["save_labels"][-1]]
    assert np.abs(from_qasm - states[-1]).max() < 1e-10
    assert np.abs(from_qpy - states[-1]).max() < 1e-10
    row = _rows(fresh)[name]
    assert row["protocol"] == "planned"
    assert row["cx"] == 6 * (2 * (2 * n_atoms - 1) + 1)  # 6 collisions at the docs/physics.md §5.3 budget
    # On heavy-hex a pair's collision needs no SWAP (issue 7: 42 two-qubit gates on Heron for N = 2).
    assert n_atoms != 2 or row["device_two_qubit_gates"] == 42


def test_qpy_holds_the_builders_circuit_and_metadata(fresh):
    # QPY keeps what OpenQASM 3 drops: the exchange gates as built, save markers and metadata.
    for item in canonical_circuits():
        loaded = _load_qpy(fresh / f"{item.name}.qpy")
        assert loaded == item.circuit, item.name
        assert loaded.metadata == json.loads((fresh / f"{item.name}.json").read_text())["metadata"]
    assert "xx_plus_yy" in loaded.count_ops()


def test_readme_table_lists_every_exported_circuit(fresh):
    rows = json.loads((fresh / "index.json").read_text())
    readme = (fresh / "README.md").read_text()
    assert resource_table(rows) in readme
    assert all(f"`{r['name']}`" in readme for r in rows) and len(rows) == len(canonical_circuits())
    # Routing on heavy-hex never removes two-qubit gates: the device count is at least the logical CX count.
    assert all(r["device_two_qubit_gates"] >= r["cx"] for r in rows)


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_committed_exports_match_the_builders(fresh):
    # Fails when a builder changes without `qcharge export` being rerun (the files in circuits/ drift).
    # A .qpy header names the Qiskit version that wrote it: those are compared as loaded circuits.
    new, committed = _files(fresh), _files(COMMITTED)
    assert sorted(new) == sorted(committed)
    drifted = [n for n in new if not n.endswith(".qpy") and new[n] != committed[n]]
    drifted += [n for n in new if n.endswith(".qpy") and (
        (a := _load_qpy(fresh / n)) != (b := _load_qpy(COMMITTED / n)) or a.metadata != b.metadata)]
    assert not drifted, f"rerun `qcharge export`: {drifted} differ from the builders"


def test_export_does_not_depend_on_the_blas_kernels(fresh, tmp_path):
    # Another OpenBLAS kernel set (as on another CPU) changed 3 lines of the harvesting QASM and 3 of
    # its CX while the exported circuit was numerically synthesised; every angle is now a closed
    # form. OPENBLAS_CORETYPE only selects kernels (ignored where NumPy is not on OpenBLAS). Another
    # process with the same Qiskit also checks that the QPY bytes are deterministic (no timestamp).
    root = Path(__file__).resolve().parents[1]
    code = f"from qcharge.export import export_circuits; export_circuits({str(tmp_path)!r})"
    env = {**os.environ, "OPENBLAS_CORETYPE": "Sandybridge", "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root, timeout=300)
    assert _files(tmp_path) == _files(fresh)


def test_exported_harvest_circuit_reproduces_its_builder():
    # The reloaded QASM (cx + u after transpilation) gives the probe population of the builder's
    # circuit: exact density matrices on both sides (Aer density-matrix method), tolerance 1e-10.
    from qcharge import Harvest, make_cluster
    from qcharge.circuits.harvesting import harvesting_circuit

    got = _final_atoms_state(qasm3.loads((COMMITTED / "harvest_charged_pair_3_collisions.qasm").read_text()), [0])
    pair = make_cluster("charged", Bath(1.0), InitialState("ground"))  # as in export.canonical_circuits
    builder = harvesting_circuit(Harvest(theta=0.5), pair, [1.0, 2.0, 3.0], 3.0, seed=0, ordering="palindromic",
                                 closed_form_pair=True)
    want = run_density_matrix([builder])[0]["probe_0"]
    assert np.abs(got - want).max() < 1e-10


def test_unknown_device_names_the_argument(tmp_path):
    from qcharge.exceptions import ParameterError

    with pytest.raises(ParameterError, match=r"Argument `device` names an unknown fake backend 'fake_nope'"):
        export_circuits(tmp_path, device="fake_nope")
    assert not any(tmp_path.iterdir())  # refused before writing anything
