"""qcharge.sweep and ``qcharge sweep``: spec validation, stable keys, resume after an interrupt, Dask = local.

The points are cheap ``harvest`` / ``charge -N 2`` runs (tens of milliseconds each); worker
processes are few (1-2) because the test machine is small.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed  # in the test extra: the Dask tests always run
import pytest

from qcharge.cli import main
from qcharge.exceptions import ParameterError
from qcharge.sweep import load_spec, load_table, parse_spec, plot_table, run_point, run_sweep
from .systems import pair_l1_from_ground

ROOT = Path(__file__).resolve().parents[1]
HARVEST = {"command": "harvest", "fixed": {"cluster": "charged"},
           "grid": {"temperature": [0.5, 1.0, 2.0], "theta": [0.3, 0.6]}}
SPEC_TOML = """\
command = "harvest"
[fixed]
cluster = "charged"
[grid]
temperature = [0.5, 1.0, 2.0]
theta = [0.3, 0.6]
"""


def _fail_at_fourth(argv):
    """A point function that dies at the 4th grid point (T = 1, theta = 0.6): an interrupted sweep."""
    if "--temperature=1.0" in argv and "--theta=0.6" in argv:
        raise RuntimeError("simulated crash")
    return run_point(argv)


def _slow_point(argv):
    """The real point, slowed down so that a kill from outside lands in the middle of the sweep."""
    time.sleep(0.4)
    return run_point(argv)


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------- spec validation
@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"command": "export", "grid": {"out": ["x"]}}, ["`command`", "'charge'", "'export'"]),
        ({"command": "charge", "grid": {"temprature": [1.0]}}, ["`grid`", "temprature", "temperature", "atoms"]),
        ({"command": "charge", "fixed": {"atom": 2}, "grid": {"temperature": [1.0]}}, ["`fixed`", "atom"]),
        ({"command": "charge", "fixed": {"atoms": 2}, "grid": {"temperature": 1.0}}, ["`grid.temperature`", "list", "1.0"]),
        ({"command": "charge", "fixed": {"atoms": 2}, "grid": {"temperature": []}}, ["`grid.temperature`", "non-empty"]),
        ({"command": "charge", "fixed": {"atoms": 2, "temperature": 1.0}}, ["`grid`", "empty"]),
        ({"command": "charge", "fixed": {"atoms": 2}, "grid": {"atoms": [2]}}, ["repeat", "atoms"]),
        ({"command": "charge", "fixed": {"atoms": 2, "plot": "f.png"}, "grid": {"temperature": [1]}}, ["plot", "same file"]),
        ({"command": "charge", "grid": {"temperature": [1]}, "extra": 1}, ["command, fixed, grid", "extra"]),
    ],
)
def test_bad_specs_are_refused_naming_the_problem(data, words):
    with pytest.raises(ParameterError) as info:
        parse_spec(data)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_every_point_is_parsed_before_any_runs(tmp_path):
    # A bad value at the LAST point is reported by the verb's own parser, and nothing is stored.
    spec = parse_spec({"command": "harvest", "fixed": {"cluster": "charged"},
                       "grid": {"temperature": [1.0, "hot"]}})
    with pytest.raises(ParameterError, match="temperature='hot'.*invalid float value"):
        run_sweep(spec, tmp_path / "out", workers=1)
    assert list((tmp_path / "out").glob("*.json")) == []
    with pytest.raises(ParameterError, match="single value"):
        parse_spec({"command": "harvest", "fixed": {"cluster": "charged", "theta": [0.1, 0.2]},
                    "grid": {"temperature": [1.0]}}).points()


def test_run_verbs_and_flags_become_the_verbs_argv():
    spec = parse_spec({"command": "run charge", "fixed": {"atoms": 2, "theta": 0.3, "collisions": 3, "exact": True},
                       "grid": {"temperature": [1, -0.5]}})
    first, second = spec.points()  # parsing a point runs nothing: a circuit run costs seconds
    assert first.argv == ["run", "charge", "--atoms=2", "--theta=0.3", "--collisions=3", "--exact", "--temperature=1"]
    assert first.inputs["exact"] is True and first.inputs["temperature"] == 1.0 and first.inputs["seed"] == 7
    assert second.argv[-1] == "--temperature=-0.5"  # `=`: a negative value is not read as an option
    with pytest.raises(ParameterError, match="`exact` must be true or false"):
        parse_spec({"command": "run charge", "fixed": {"exact": "yes"}, "grid": {"temperature": [1]}}).points()


def test_cli_bad_spec_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.toml").write_text('command = "charge"\n[grid]\ntemperature = 1.0\n')
    assert "grid.temperature" in _one_line_error(capsys, ["sweep", "bad.toml", "--out", "o"])
    Path("broken.toml").write_text("command = \n")
    assert "valid TOML" in _one_line_error(capsys, ["sweep", "broken.toml", "--out", "o"])
    assert "readable TOML" in _one_line_error(capsys, ["sweep", "missing.toml", "--out", "o"])
    Path("ok.toml").write_text(SPEC_TOML)
    Path("file").write_text("")
    assert "`--out`" in _one_line_error(capsys, ["sweep", "ok.toml", "--out", "file"])
    assert "`--workers`" in _one_line_error(capsys, ["sweep", "ok.toml", "--out", "o", "--workers", "0"])


# ---------------------------------------------------------------- keys and the code path
def test_key_is_the_hash_of_resolved_arguments():
    def key(**fixed):
        return parse_spec({"command": "harvest", "fixed": {"cluster": "charged", **fixed},
                           "grid": {"temperature": [1]}}).points()[0].key

    # 1 and 1.0, a default left out or stated, name the same computation: same key.
    assert key() == key(theta=0.5) == key(rate=1)
    assert key(theta=0.6) != key()
    # Unset options are not in the inputs (a new optional flag in a later release keeps old keys).
    inputs = parse_spec({"command": "harvest", "fixed": {"cluster": "charged"}, "grid": {"temperature": [1]}}).points()[0].inputs
    assert inputs == {"command": "harvest", "cluster": "charged", "temperature": 1.0, "omega": 1.0,
                      "cluster_size": 2, "theta": 0.5, "rate": 1.0}
    pts = parse_spec(HARVEST).points()
    assert len({p.key for p in pts}) == 6
    assert [p.values for p in pts][:2] == [{"cluster": "charged", "temperature": 0.5, "theta": 0.3},
                                           {"cluster": "charged", "temperature": 0.5, "theta": 0.6}]


def test_a_point_is_the_verbs_own_json_record(capsys):
    # run_point runs the CLI verb itself: its record is what `qcharge harvest ... --json` prints.
    argv = parse_spec(HARVEST).points()[3].argv
    assert main([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert run_point(argv) == printed  # same code, same inputs, same process: the same floats


# ---------------------------------------------------------------- resume
def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    spec = parse_spec(HARVEST)
    out = tmp_path / "out"
    # One worker runs the points in grid order; the 4th one crashes: the 3 before it are stored.
    with pytest.raises(RuntimeError, match="simulated crash") as info:
        run_sweep(spec, out, workers=1, point_function=_fail_at_fourth)
    assert any("temperature=1.0, theta=0.6" in n for n in info.value.__notes__)
    files = sorted(out.glob("*.json"))
    assert len(files) == 3
    stamps = {f.name: f.stat().st_mtime_ns for f in files}

    res = run_sweep(spec, out, workers=1)
    assert (res.points, res.computed, res.reused) == (6, 3, 3)
    # The finished points were not rewritten (so not recomputed).
    assert {f.name: f.stat().st_mtime_ns for f in files} == stamps
    again = run_sweep(spec, out, workers=2)
    assert (again.computed, again.reused) == (0, 6)
    fresh = run_sweep(spec, tmp_path / "fresh", workers=2)
    assert again.records == fresh.records  # same code and inputs on one machine: identical records


def test_killed_sweep_resumes(tmp_path):
    # A real interrupt: the sweep's process group gets SIGKILL after 2 points are on disk.
    out = tmp_path / "out"
    code = ("import sys; from qcharge.sweep import parse_spec, run_sweep; from tests.test_sweep import HARVEST, _slow_point; "
            "run_sweep(parse_spec(HARVEST), sys.argv[1], workers=1, point_function=_slow_point)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("*.json"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = len(list(out.glob("*.json")))
    assert 2 <= done < 6, done  # 0.4 s per point: the kill lands before the last of the 6
    assert list(out.glob("*.tmp")) == []  # atomic writes: no half record
    res = run_sweep(parse_spec(HARVEST), out, workers=1)
    assert (res.computed, res.reused) == (6 - done, done)


# ---------------------------------------------------------------- Dask
def test_dask_local_cluster_gives_identical_records(tmp_path):
    spec = parse_spec(HARVEST)
    local = run_sweep(spec, tmp_path / "local", workers=2)
    # Threads in this process (processes=False) keep the test light; the code path per point is the same.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            on_dask = run_sweep(spec, tmp_path / "dask", dask=client)
            with pytest.raises(ParameterError, match="`workers` must not be given with a Dask scheduler"):
                run_sweep(spec, tmp_path / "dask", dask=client, workers=2)
        # --dask ADDRESS: a Client of our own to the running scheduler (closed again by the sweep).
        by_address = run_sweep(spec, tmp_path / "address", dask=cluster.scheduler_address)
        assert by_address.records == local.records
    assert (on_dask.computed, on_dask.reused) == (6, 0)
    assert on_dask.records == local.records  # same function, inputs and machine: identical floats


def test_cli_dask_local_json(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("s.toml").write_text('command = "charge"\n[fixed]\natoms = 2\ntimes = [0, 20]\n[grid]\ntemperature = [1, 2]\n')
    assert main(["sweep", "s.toml", "--out", "o", "--dask", "local", "--workers", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["points"], data["computed"], data["reused"]) == (2, 2, 0)
    rec = data["records"][0]
    assert rec["inputs"]["temperature"] == 1.0 and rec["inputs"]["times"] == [0.0, 20.0]
    # The pair from ground at T = 1 reaches the closed form (2.3) by t = 20 (measured within 1e-12;
    # 1e-8 leaves room for the solver's time stepping, far below the 0.24 checked).
    assert rec["result"]["coherence_l1"][-1] == pytest.approx(pair_l1_from_ground(1.0), abs=1e-8)


# ---------------------------------------------------------------- the table and the plot
def test_records_load_back_as_one_table(tmp_path):
    run_sweep(parse_spec(HARVEST), tmp_path / "h", workers=2)
    df = load_table(tmp_path / "h")
    assert len(df) == 6 and {"key", "command", "temperature", "theta", "teff", "coherence_l1"} <= set(df.columns)
    # PHYSICS.md 4.1: pairs charged by the collective bath give T_eff = T exactly (measured 1e-15;
    # 1e-9 is round-off headroom for the log of population ratios).
    assert (df["teff"] - df["temperature"]).abs().max() < 1e-9
    png = plot_table(df, "temperature", "teff", by="theta", path=str(tmp_path / "teff"))
    assert png.endswith("teff.png") and os.path.getsize(png) > 1000
    with pytest.raises(ParameterError, match="`y` must be a column"):
        plot_table(df, "temperature", "teff_typo", path=str(tmp_path / "x.png"))

    spec = parse_spec({"command": "scale", "fixed": {"atoms": [2, 3]}, "grid": {"temperature": [1.0]}})
    run_sweep(spec, tmp_path / "s", workers=1)
    df = load_table(tmp_path / "s")
    # scale: one row per N; the result's `atoms` (one N) is kept apart from the input list.
    assert list(df["result.atoms"]) == [2, 3] and list(df["atoms"]) == [[2, 3], [2, 3]]


def test_load_spec_reads_toml(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SPEC_TOML)
    assert load_spec(path) == parse_spec(HARVEST)
