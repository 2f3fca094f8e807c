"""CLI state files (issue 8 item 4): ``charge --save-state`` / ``--initial-state-file`` feed ``harvest`` and ``run harvest``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qcharge.cli import main
from qcharge.coherence import l1_coherence
from qcharge.records import from_jsonable

from . import systems


def run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return from_jsonable(json.loads(capsys.readouterr().out))


def one_line_error(capsys, argv) -> str:
    """Run ``argv``; it must end in exit 2 and exactly one line on stderr, no traceback. Returns that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qcharge: error:") and "Traceback" not in err
    return err


@pytest.fixture
def no_solver(monkeypatch):
    """Make any charging computation fail loudly: the checks under test must come before it."""
    import qcharge.reference.charging as charging

    def forbidden(*args, **kwargs):
        raise AssertionError("charge() was called before the argument checks")

    monkeypatch.setattr(charging, "charge", forbidden)


def test_save_state_dicke_long_time_is_the_closed_form_pair(tmp_path, capsys):
    path = tmp_path / "pair.npy"
    out = run_json(capsys, ["charge", "-N", "2", "-T", "1", "--times", "0", "--long-time", "--save-state", str(path)])
    rho = np.load(path)
    assert out["method"] == "dicke" and out["state_file"] == str(path)
    # Exact vs exact (closed form docs/physics.md §2.3 vs the Johnson-scheme dense state): 1e-10.
    np.testing.assert_allclose(rho, systems.charged_pair(1.0), atol=1e-10)
    assert l1_coherence(rho) == pytest.approx(out["long_time"]["coherence_l1"], abs=1e-10)


def test_save_state_full_method_is_the_last_row(tmp_path, capsys):
    path = tmp_path / "t3.npy"
    out = run_json(capsys, ["charge", "-N", "2", "-T", "1", "--gamma12", "0.5", "--times", "1", "3",
                            "--method", "full", "--save-state", str(path)])
    rho = np.load(path)
    assert out["method"] == "full" and rho.shape == (4, 4)
    # Same integrator, different time grids (Krylov steps): each state is within tol = 1e-10 (Frobenius),
    # so the 4 x 4 l1 sums agree to a few 1e-10; 1e-8 leaves room.
    assert l1_coherence(rho) == pytest.approx(out["coherence_l1"][-1], abs=1e-8)
    assert np.trace(rho).real == pytest.approx(1.0, abs=1e-10)


def test_initial_state_file_continues_the_evolution(tmp_path, capsys):
    # The master equation is a semigroup: 2 then 3 from the saved state equals 5 from the start.
    path = tmp_path / "t2.npy"
    common = ["charge", "-N", "2", "-T", "1", "--gamma12", "0.5"]
    run_json(capsys, common + ["--times", "2", "--save-state", str(path)])
    resumed = run_json(capsys, common + ["--initial-state-file", str(path), "--times", "0", "3"])
    direct = run_json(capsys, common + ["--times", "5"])
    assert resumed["method"] == "full"
    # Integrator tolerance 1e-10 per state, two runs chained: 1e-8 is far above it and far below the signal.
    assert resumed["coherence_l1"][-1] == pytest.approx(direct["coherence_l1"][-1], abs=1e-8)
    assert resumed["energy"][-1] == pytest.approx(direct["energy"][-1], abs=1e-8)
    assert resumed["coherence_l1"][-1] > 1e-4  # gamma12 = 0.5 still holds 4.5e-4 at t = 5, far above 1e-8


def test_saved_state_feeds_harvest_and_run_harvest(tmp_path, capsys):
    path = tmp_path / "charged.npy"
    run_json(capsys, ["charge", "-N", "2", "-T", "1", "--times", "0", "--long-time", "--save-state", str(path)])
    from_file = run_json(capsys, ["harvest", "--cluster", str(path), "-T", "1"])
    built = run_json(capsys, ["harvest", "--cluster", "charged", "-T", "1"])
    assert from_file["teff"] == pytest.approx(built["teff"], abs=1e-10)  # exact vs exact, same state to 1e-10
    assert from_file["teff"] == pytest.approx(1.0, abs=1e-4)  # charged pairs give T (docs/physics.md §4.1)
    argv = ["run", "harvest", "-T", "1", "--instances", "4", "--time", "2", "--seed", "3"]
    run_file = run_json(capsys, argv + ["--cluster", str(path)])
    run_built = run_json(capsys, argv + ["--cluster", "charged"])
    assert run_file["cluster"] == "matrix" and run_file["agree"] is True
    # Same seed, same Poisson instances, the same pair state to 1e-10: exact runs agree to 1e-8.
    assert run_file["circuit"]["teff"] == pytest.approx(run_built["circuit"]["teff"], abs=1e-8)


def test_harvest_reads_the_cluster_size_from_the_file(tmp_path, capsys):
    path = tmp_path / "three.npy"
    run_json(capsys, ["charge", "-N", "3", "-T", "1", "--times", "0", "--long-time", "--save-state", str(path)])
    from_file = run_json(capsys, ["harvest", "--cluster", str(path), "-T", "1"])
    built = run_json(capsys, ["harvest", "--cluster", "charged", "--cluster-size", "3", "-T", "1"])
    assert from_file["teff"] == pytest.approx(built["teff"], abs=1e-10)  # exact vs exact
    stated = run_json(capsys, ["harvest", "--cluster", str(path), "--cluster-size", "3", "-T", "1"])
    assert stated["teff"] == from_file["teff"]  # the same computation: K stated or read from the file


def test_save_state_refused_before_computing(tmp_path, capsys, no_solver):
    err = one_line_error(capsys, ["charge", "-N", "13", "-T", "1", "--save-state", str(tmp_path / "s.npy")])
    assert "`--save-state` needs N <= 12 with the Dicke method" in err and "1 GiB" in err
    err = one_line_error(capsys, ["charge", "-N", "40", "-T", "1", "--save-state", str(tmp_path / "s.npy")])
    assert "1.8e+16 GiB" in err  # 16 * 4^40 bytes = 2^54 GiB
    err = one_line_error(capsys, ["charge", "-N", "2", "-T", "1", "--save-state", str(tmp_path / "no" / "s.npy")])
    assert "`--save-state` must be in an existing folder" in err
    err = one_line_error(capsys, ["charge", "-N", "2", "-T", "1", "--save-state", str(tmp_path / "s.txt")])
    assert "`--save-state` must be a .npy file name" in err
    err = one_line_error(capsys, ["charge", "-N", "2", "-T", "1", "--gamma-matrix", str(tmp_path / "g.json"),
                                  "--save-state", str(tmp_path / "s.npy")])
    assert "`--gamma-matrix`" in err  # a bad matrix file is still reported first, by its own name
    assert not (tmp_path / "s.npy").exists()


def test_bad_state_files_are_one_line_errors(tmp_path, capsys, no_solver):
    np.save(tmp_path / "eye.npy", np.eye(4))
    np.save(tmp_path / "pair.npy", systems.charged_pair(1.0))
    np.save(tmp_path / "vec.npy", np.ones(4))
    charge = ["charge", "-T", "1", "--initial-state-file"]
    assert "`--initial-state-file` must have trace 1, but has trace 4" in one_line_error(
        capsys, charge + [str(tmp_path / "eye.npy"), "-N", "2"])
    assert "`--initial-state-file` must be 8 x 8 for 3 atoms" in one_line_error(
        capsys, charge + [str(tmp_path / "pair.npy"), "-N", "3"])
    assert "`--initial-state-file` must hold a square density matrix" in one_line_error(
        capsys, charge + [str(tmp_path / "vec.npy"), "-N", "2"])
    assert "`--initial-state-file` must be a readable .npy file" in one_line_error(
        capsys, charge + [str(tmp_path / "missing.npy"), "-N", "2"])
    assert "`--initial-state-file` and `--initial-temperature` are exclusive" in one_line_error(
        capsys, charge + [str(tmp_path / "pair.npy"), "-N", "2", "--initial-temperature", "0.5"])


def test_bad_cluster_files_are_one_line_errors(tmp_path, capsys):
    np.save(tmp_path / "pair.npy", systems.charged_pair(1.0))
    np.save(tmp_path / "three.npy", np.eye(8) / 8)
    pair, three = str(tmp_path / "pair.npy"), str(tmp_path / "three.npy")
    assert "`--initial-state` must not be given with --cluster FILE.npy" in one_line_error(
        capsys, ["harvest", "-T", "1", "--cluster", pair, "--initial-state", "ground"])
    assert "`--cluster` must hold a 2-atom state (K = 2), but" in one_line_error(
        capsys, ["harvest", "-T", "1", "--cluster", three, "--cluster-size", "2"])
    assert "`--cluster` must hold a 2-atom state (K = 2), but" in one_line_error(
        capsys, ["run", "harvest", "-T", "1", "--cluster", three])
    assert "`--cluster` must be charged, dephased, pipeline, pipeline-dephased or a FILE.npy, but is 'pairs'" in one_line_error(
        capsys, ["run", "harvest", "-T", "1", "--cluster", "pairs"])
    assert "`--cluster` must be a readable .npy file" in one_line_error(
        capsys, ["run", "harvest", "-T", "1", "--cluster", str(tmp_path / "missing.npy")])
