"""The hardware test: a small planned charging experiment on a real IBM device, submit -> fetch.

Marker ``hardware`` (deselected by default; run with ``pytest -m hardware tests/test_hardware.py -rs``).
Skipped without credentials: no saved runtime account and no ``QISKIT_IBM_TOKEN``. The device is
``QCHARGE_IBM_BACKEND`` (``ibm:<name>`` or ``<name>``) or the least busy operational one; the fetch
waits for the queue (at most ``QCHARGE_HARDWARE_TIMEOUT`` seconds, default 3 h).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.hardware

ROOT = Path(__file__).resolve().parents[1]
SHOTS = 1000


def _credentials() -> bool:
    if os.environ.get("QISKIT_IBM_TOKEN"):
        return True
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService

        return bool(QiskitRuntimeService.saved_accounts())
    except Exception:  # no runtime, or an unreadable account file: no credentials
        return False


@pytest.fixture(scope="module")
def device() -> str:
    if not _credentials():
        pytest.skip("needs IBM Quantum credentials: no saved runtime account and QISKIT_IBM_TOKEN is not set")
    name = os.environ.get("QCHARGE_IBM_BACKEND")
    if name:
        return name if name.startswith("ibm:") else f"ibm:{name}"
    from qiskit_ibm_runtime import QiskitRuntimeService

    return "ibm:" + QiskitRuntimeService().least_busy(operational=True, simulator=False, min_num_qubits=5).name


def test_device_resolves_with_a_target(device):  # pragma: no cover - needs credentials
    from qcharge.execute import describe_backend, get_backend

    d = describe_backend(get_backend(device))
    assert d["qubits"] >= 5 and d["two_qubit_gate"] and d["median_readout_error"] is not None


def test_planned_charge_on_a_device_matches_its_noisy_prediction(device, tmp_path, capsys):  # pragma: no cover
    from qcharge import ledger
    from qcharge.cli import main
    from qcharge.params import InitialState
    from qcharge.planner import plan

    # The plan on today's calibration (exact-noisy density matrices on the device's noise model).
    best = plan(device, 2, 1.0, initial=InitialState(), top=1, seed=7)[0]
    argv = ["submit", "run", "charge", "-N", "2", "-T", "1", "--theta", repr(best.theta),
            "--collisions", str(best.collisions), "--ordering", best.ordering, "--ancilla", best.ancilla,
            "--backend", device, "--shots", str(SHOTS), "--mitigate", "--runs-dir", str(tmp_path), "--json"]
    assert main(argv) == 0
    run_id = json.loads(capsys.readouterr().out)["run"]
    records = ledger.open_run(run_id, runs_dir=tmp_path).job_records()
    assert records and all(r["kind"] == "remote" and r["job_id"] for r in records)  # ids on disk before any wait

    # Fetched from a fresh process: the paid job is retrieved by its id, not kept in this one's memory.
    out = subprocess.run([sys.executable, "-m", "qcharge.cli", "fetch", run_id, "--runs-dir", str(tmp_path), "--json"],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         timeout=float(os.environ.get("QCHARGE_HARDWARE_TIMEOUT", 3 * 3600)))
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["backend"] == device and len(res["layout"]) == 4

    b = res["error_budget"]["heat_exchange_coherence"]
    parts = ("collision_model", "gate_and_decoherence", "readout", "shot_noise")
    assert abs(sum(b[k] for k in parts) - b["total"]) < 1e-12  # the budget telescopes (a few ulp)
    # Shot-noise part = mitigated measured - noisy prediction. Band: 4 bootstrap standard errors of
    # the mitigated estimate (~ 0.5/sqrt(1000) per matrix element; false alarm < 1e-4) plus half of
    # the loss the noise model predicts (gate + decoherence part): the device's Aer model omits idle
    # relaxation during resets and measurements, crosstalk and the drift since calibration, so its
    # prediction of the loss is trusted to 50 %, not to shot noise.
    band = 4 * b["shot_noise_std_error"] + 0.5 * abs(b["gate_and_decoherence"])
    measured, predicted = res["mitigated"]["heat_exchange_coherence"], res["noisy_prediction"]["heat_exchange_coherence"]
    assert abs(measured - predicted) <= band, (measured, predicted, band, b)
