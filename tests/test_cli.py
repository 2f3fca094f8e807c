"""CLI: JSON keys scripts depend on, human tables, one-line errors with non-zero exit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qcharge.cli import main
from qcharge.records import from_jsonable


def run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return from_jsonable(json.loads(capsys.readouterr().out))


def test_charge_json_keys_and_closed_form(capsys):
    out = run_json(capsys, ["charge", "--atoms", "2", "--temperature", "1", "--times", "0", "1", "5", "--long-time"])
    assert out["times"] == [0.0, 1.0, 5.0]
    for key in ("coherence_l1", "log10_coherence_l1", "coherence_re", "energy", "heat"):
        assert len(out[key]) == 3 and key in out["long_time"]
    x = np.exp(-1.0)
    assert out["long_time"]["coherence_l1"] == pytest.approx(x / (1 + x + x * x), abs=1e-10)  # PHYSICS.md 2.3
    assert out["heat"][0] == 0.0 and out["method"] == "dicke"


def test_charge_full_method_with_matrix_files(tmp_path, capsys):
    gm = tmp_path / "gamma.json"
    gm.write_text(json.dumps([[1, 0.8], [0.8, 1]]))
    om = tmp_path / "omega.json"
    om.write_text(json.dumps([[0, 0.3], [0.3, 0]]))
    out = run_json(capsys, ["charge", "-N", "2", "-T", "1", "--initial-temperature", "0.5",
                            "--gamma-matrix", str(gm), "--dipolar-matrix", str(om), "--times", "2", "--long-time", "--method", "full"])
    assert out["method"] == "full"
    # gamma12 < gamma: full-rank Gamma, unique Gibbs steady state, no long-time coherence (PHYSICS.md 1.2.2).
    assert out["long_time"]["coherence_l1"] == pytest.approx(0.0, abs=1e-8)
    assert out["coherence_l1"][0] > 1e-3


def test_harvest_json_keys(capsys):
    out = run_json(capsys, ["harvest", "--cluster", "dephased", "--temperature", "1", "--theta", "0.5"])
    for key in ("teff", "teff_second_order", "probe_excited_population", "coherence_l1", "jp_jm", "jm_jp"):
        assert key in out
    assert out["teff"] == pytest.approx(0.763038, abs=1e-6)  # PHYSICS.md 4.1, exact for every theta
    assert out["teff_second_order"] == pytest.approx(0.763038, abs=1e-6)


def test_harvest_cluster_file(tmp_path, capsys):
    rho = np.diag([0.5, 0.25, 0.25, 0.0])
    np.save(tmp_path / "pair.npy", rho)
    out = run_json(capsys, ["harvest", "--cluster", str(tmp_path / "pair.npy"), "-T", "1"])
    # No coherence: p_e/p_g = <J+J->/<J-J+> = 0.5/1.5 -> T_eff = 1/ln 3.
    assert out["teff"] == pytest.approx(1 / np.log(3), rel=1e-10)


def test_scale_json(capsys):
    out = run_json(capsys, ["scale", "--atoms", "2", "8", "--temperature", "1", "--initial-temperature", "0.5"])
    assert [o["atoms"] for o in out] == [2, 8]
    # PHYSICS.md 2.8 table (printed digits).
    assert out[0]["log10_coherence_l1"] == pytest.approx(-0.94294, abs=5e-6)
    assert out[1]["log10_coherence_l1"] == pytest.approx(0.35148, abs=5e-6)
    assert out[1]["heat"] == pytest.approx(0.41222, abs=5e-6)
    assert all(o["coherence_l1_error_bound"] >= 0 for o in out)


def test_run_charge_exact_json(capsys):
    out = run_json(capsys, ["run", "charge", "--atoms", "2", "--temperature", "1", "--theta", "0.3",
                            "--collisions", "40", "--exact"])
    for key in ("reference", "circuit"):
        assert set(out[key]) >= {"coherence_l1", "coherence_re", "energy", "rho_eg_ge"}
    assert out["agree"] is True and out["coherence_l1_ci"] is None
    assert {"fidelity", "trace_distance", "resources"} <= set(out)
    assert {"per_collision", "total"} <= set(out["resources"])


def test_run_harvest_sampled_json(capsys):
    out = run_json(capsys, ["run", "harvest", "--temperature", "1", "--cluster", "charged", "--theta", "0.5",
                            "--rate", "1", "--time", "5", "--instances", "4", "--shots", "500"])
    assert set(out["reference"]) == {"teff", "probe_excited_population"}
    assert {"teff", "teff_ci", "probe_excited_population", "probe_excited_population_ci"} <= set(out["circuit"])
    assert isinstance(out["agree"], bool)


def test_tables_for_people(capsys):
    assert main(["harvest", "--cluster", "charged", "-T", "2"]) == 0
    text = capsys.readouterr().out
    assert "teff" in text and "{" not in text


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["charge", "--atoms", "2", "--temperature", "-1"], "temperature"),
        (["charge", "--atoms", "0", "--temperature", "1"], "atoms"),
        (["charge", "--atoms", "2", "-T", "1", "--gamma12", "1.5"], "|gamma12| <= gamma"),
        (["charge", "--atoms", "14", "-T", "1", "--method", "full", "--times", "1"], "GB"),
        (["charge", "--atoms", "2", "-T", "1", "--gamma-matrix", "missing.json"], "gamma_matrix"),
        (["harvest", "--cluster", "charged", "-T", "1", "--theta", "-1"], "theta"),
        (["harvest", "--cluster", "charged", "-T", "1", "--rate", "0"], "rate"),
        (["harvest", "--cluster", "hot", "-T", "1"], "cluster"),
        (["run", "charge", "-N", "2", "-T", "1", "--theta", "0.3", "--collisions", "5", "--exact", "--ancilla", "coin"], "purify"),
        (["run", "charge", "-N", "2", "-T", "1", "--theta", "0.3", "--collisions", "5", "--backend", "ibm:ibm_torino"], "QISKIT_IBM_TOKEN"),
        (["charge", "--atoms", "2"], "required"),
        (["charge", "--atoms", "-2", "-T", "1", "--dipolar", "0.3"], "atoms"),
        (["charge", "--atoms", "2", "-T", "1", "--times", "5", "1"], "ascending"),
        (["charge", "--atoms", "2", "-T", "1", "--times", "1", "--plot", "/no/such/dir/x.png"], "No such file"),
        (["export", "--out", "/proc/qcharge-cannot-write-here"], "qcharge-cannot-write-here"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_one_line_nonzero(argv, fragment, capsys, monkeypatch):
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qcharge: error:") and fragment in err
    assert "Traceback" not in err


def test_non_psd_cluster_file(tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.array([[0.5, 0.6, 0, 0], [0.6, 0.5, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]))
    assert main(["harvest", "--cluster", str(tmp_path / "bad.npy"), "-T", "1"]) == 2
    assert "positive semidefinite" in capsys.readouterr().err


def test_plots_are_written(tmp_path, capsys):
    assert main(["charge", "-N", "2", "-T", "1", "--times", "0", "1", "3", "--plot", str(tmp_path / "c.png")]) == 0
    assert main(["scale", "-N", "2", "4", "-T", "1", "--plot", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 10_000 and (tmp_path / "s.png").stat().st_size > 10_000
    assert "figure:" in capsys.readouterr().out


def test_probe_bath_arguments_go_together(capsys):
    assert main(["harvest", "--cluster", "charged", "-T", "1", "--probe-temperature", "0.5"]) == 2
    assert "--probe-gamma" in capsys.readouterr().err
    out = run_json(capsys, ["harvest", "--cluster", "charged", "-T", "1", "--probe-gamma", "0.5", "--probe-temperature", "1"])
    # The probe's own bath at the same temperature as the pairs' bath keeps T_eff = T (both fix x = e^-1).
    assert out["teff"] == pytest.approx(1.0, rel=1e-10)


def test_scale_sweep_resumes_from_its_run_directory(tmp_path, capsys):
    first = run_json(capsys, ["scale", "-N", "4", "16", "-T", "1", "--run-dir", str(tmp_path)])
    assert len(list(tmp_path.glob("*.json"))) == 2
    # Tamper with one stored record: a resumed sweep must read it from disk instead of recomputing.
    path = sorted(tmp_path.glob("*.json"))[0]
    record = json.loads(path.read_text())
    record["result"]["coherence_re"] = -1.0
    path.write_text(json.dumps(record))
    again = run_json(capsys, ["scale", "-N", "4", "16", "32", "-T", "1", "--run-dir", str(tmp_path)])
    assert sorted(o["coherence_re"] for o in again)[0] == -1.0 and len(again) == 3
    assert {o["atoms"] for o in again} == {4, 16, 32} and first[0]["atoms"] == 4
