"""Exported OpenQASM 3 circuits reload and reproduce the twin's populations."""

from __future__ import annotations

import json

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
