"""CLI: JSON keys scripts depend on, human tables, one-line errors with non-zero exit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qcharge.cli import main
from qcharge.records import from_jsonable

from . import systems


def run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return from_jsonable(json.loads(capsys.readouterr().out))


def test_charge_json_keys_and_closed_form(capsys):
    out = run_json(capsys, ["charge", "--atoms", "2", "--temperature", "1", "--times", "0", "1", "5", "--long-time"])
    assert out["times"] == [0.0, 1.0, 5.0]
    for key in ("coherence_l1", "log10_coherence_l1", "coherence_re", "energy", "heat"):
        assert len(out[key]) == 3 and key in out["long_time"]
    assert out["long_time"]["coherence_l1"] == pytest.approx(systems.pair_l1_from_ground(1.0), abs=1e-10)  # docs/physics.md §2.3
    assert out["heat"][0] == 0.0 and out["method"] == "dicke"


def test_charge_full_method_with_matrix_files(tmp_path, capsys):
    gm = tmp_path / "gamma.json"
    gm.write_text(json.dumps([[1, 0.8], [0.8, 1]]))
    om = tmp_path / "omega.json"
    om.write_text(json.dumps([[0, 0.3], [0.3, 0]]))
    out = run_json(capsys, ["charge", "-N", "2", "-T", "1", "--initial-temperature", "0.5",
                            "--gamma-matrix", str(gm), "--dipolar-matrix", str(om), "--times", "2", "--long-time", "--method", "full"])
    assert out["method"] == "full"
    # gamma12 < gamma: full-rank Gamma, unique Gibbs steady state, no long-time coherence (docs/physics.md §1.2.2).
    assert out["long_time"]["coherence_l1"] == pytest.approx(0.0, abs=1e-8)
    assert out["coherence_l1"][0] > 1e-3


def test_harvest_json_keys(capsys):
    out = run_json(capsys, ["harvest", "--cluster", "dephased", "--temperature", "1", "--theta", "0.5"])
    for key in ("teff", "teff_second_order", "probe_excited_population", "coherence_l1", "jp_jm", "jm_jp"):
        assert key in out
    assert out["teff"] == pytest.approx(0.763038, abs=1e-6)  # docs/physics.md §4.1, exact for every theta
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
    # docs/physics.md §2.8 table (printed digits).
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
        (["charge", "--atoms", "2", "-T", "1", "--gamma-matrix", "missing.json"], "--gamma-matrix"),  # named as the CLI flag
        (["harvest", "--cluster", "charged", "-T", "1", "--theta", "-1"], "theta"),
        (["harvest", "--cluster", "charged", "-T", "1", "--rate", "0"], "rate"),
        (["harvest", "--cluster", "hot", "-T", "1"], "cluster"),
        (["run", "charge", "-N", "2", "-T", "1", "--theta", "0.3", "--collisions", "5", "--exact", "--ancilla", "coin"], "purify"),
        (["run", "charge", "-N", "2", "-T", "1", "--theta", "0.3", "--collisions", "5", "--backend", "ibm:ibm_torino"], "QISKIT_IBM_TOKEN"),
        (["charge", "--atoms", "2"], "required"),
        (["charge", "--atoms", "-2", "-T", "1", "--dipolar", "0.3"], "atoms"),
        (["charge", "--atoms", "2", "-T", "1", "--times", "5", "1"], "ascending"),
        (["charge", "--atoms", "2", "-T", "1", "--l1-budget", "-1"], "--l1-budget"),
        (["charge", "--atoms", "2", "-T", "1", "--l1-budget", "soon"], "--l1-budget"),
        (["charge", "--atoms", "2", "-T", "1", "--times", "1", "--plot", "/no/such/dir/x.png"], "--plot"),
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


# ---------------------------------------------------------------- issue 6 section 2: CLI defects
def one_line_error(capsys, argv) -> str:
    """Run ``argv``; it must end in exit 2 and exactly one line on stderr, no traceback. Returns that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qcharge: error:") and "Traceback" not in err
    return err


def test_memory_error_from_a_solver_is_one_line(capsys, monkeypatch):
    # A size the library does not catch itself (numpy's ArrayMemoryError, a MemoryError) must
    # still end in one line: before, `charge -N 1000000000 -T 1` ended in a traceback.
    import qcharge.reference.charging as charging

    def huge(*args, **kwargs):
        raise MemoryError("Unable to allocate 29.8 GiB for an array with shape (4, 1000000001)")

    monkeypatch.setattr(charging, "charge", huge)
    assert "not enough memory: Unable to allocate 29.8 GiB" in one_line_error(capsys, ["charge", "-N", "1000000000", "-T", "1"])


def test_library_size_check_is_one_line(capsys, monkeypatch):
    # The solvers' own size checks raise ParameterError naming `atoms` with the memory needed
    # (issue 6): whatever they say reaches the user as one line.
    import qcharge.reference.dicke as dicke
    from qcharge.exceptions import ParameterError

    def refuse(*args, **kwargs):
        raise ParameterError("Argument `atoms` must be <= 10**7, but is 1000000000 (would need 30 GiB).")

    monkeypatch.setattr(dicke, "solve_dicke", refuse)
    assert "`--atoms`" in one_line_error(capsys, ["scale", "-N", "1000000000", "-T", "1"])


def test_run_charge_one_atom_is_one_line(capsys):
    # Before: a reshape ValueError traceback from the pair quantity rho_eg_ge.
    assert "atoms" in one_line_error(capsys, ["run", "charge", "-N", "1", "-T", "1", "--theta", "0.3",
                                              "--collisions", "3", "--shots", "100"])


def test_plot_format_is_checked_before_computing(capsys, monkeypatch):
    import qcharge.reference.charging as charging

    monkeypatch.setattr(charging, "charge", lambda *a, **k: pytest.fail("computed before checking --plot"))
    err = one_line_error(capsys, ["charge", "-N", "2", "-T", "1", "--plot", "x.txt"])
    assert "`--plot`" in err and ".png" in err  # before: matplotlib's ValueError traceback, after computing


def test_bad_plot_folder_is_found_before_computing(tmp_path, capsys, monkeypatch):
    import qcharge.reference.dicke as dicke

    monkeypatch.setattr(dicke, "solve_dicke", lambda *a, **k: pytest.fail("computed before checking --plot"))
    (tmp_path / "file").write_text("")
    err = one_line_error(capsys, ["scale", "-N", "2", "-T", "1", "--plot", str(tmp_path / "file" / "s.png")])
    assert "`--plot`" in err


def test_plot_without_suffix_prints_the_file_it_wrote(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    assert main(["charge", "-N", "2", "-T", "1", "--times", "0", "1", "--plot", "out/fig"]) == 0
    assert (tmp_path / "out" / "fig.png").is_file()
    assert "figure: out/fig.png" in capsys.readouterr().out.splitlines()  # before: "figure: out/fig"


def test_unwritable_job_store_is_refused_before_running(tmp_path, capsys, monkeypatch):
    import qcharge.experiments as experiments

    monkeypatch.setattr(experiments, "run_charge", lambda *a, **k: pytest.fail("ran before checking --job-store"))
    (tmp_path / "file").write_text("")
    err = one_line_error(capsys, ["run", "charge", "-N", "2", "-T", "1", "--theta", "0.3", "--collisions", "3",
                                  "--shots", "100", "--job-store", str(tmp_path / "file" / "jobs.json")])
    assert "`--job-store`" in err  # before: exit 0, nothing stored


@pytest.mark.parametrize("verb", [["export", "--out"], ["scale", "-N", "2", "-T", "1", "--run-dir"]])
def test_existing_file_as_output_folder_names_the_argument(verb, tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    err = one_line_error(capsys, verb + [str(tmp_path / "taken")])
    assert f"`{verb[-1]}`" in err and "existing file" in err  # before: "File exists: PATH"


def test_probe_bath_error_names_the_missing_argument(capsys):
    # Both given: the value itself is judged (before: "go together" although both were given).
    err = one_line_error(capsys, ["harvest", "--cluster", "charged", "-T", "1", "--probe-gamma", "-0.1",
                                  "--probe-temperature", "1"])
    assert "`--probe-gamma`" in err and ">= 0" in err and "together" not in err
    err = one_line_error(capsys, ["harvest", "--cluster", "charged", "-T", "1", "--probe-gamma", "0.5"])
    assert "`--probe-temperature`" in err and "missing" in err


def test_cluster_size_limit_names_cluster_size(capsys):
    err = one_line_error(capsys, ["harvest", "--cluster", "charged", "-T", "1", "--cluster-size", "20"])
    assert "`--cluster-size`" in err and "`--atoms`" not in err and "GiB" in err


def test_infinite_temperature_speaks_cli(capsys):
    err = one_line_error(capsys, ["charge", "-N", "2", "-T", "inf", "--times", "1"])
    assert "--long-time" in err and "long_time=True" not in err
    # Without --times the defaults at T = inf are the only finite time with a state, t = 0.
    out = run_json(capsys, ["charge", "-N", "2", "-T", "inf", "--long-time"])
    assert out["times"] == [0.0] and out["long_time"]["coherence_l1"] == pytest.approx(1 / 3, abs=1e-10)  # x = 1


def test_exact_refuses_shots(capsys):
    err = one_line_error(capsys, ["run", "charge", "-N", "2", "-T", "1", "--theta", "0.3", "--collisions", "3",
                                  "--exact", "--shots", "100"])
    assert "`--shots`" in err and "--exact" in err  # before: the shots were silently ignored


def test_uncertified_coherence_is_explained(capsys):
    # From a thermal state above --l1-max-atoms the long-time C_l1 is not computed: the row and a
    # note say so (before: a bare nan). From the ground state it is now computed at any N.
    assert main(["charge", "-N", "3000", "-T", "1", "--initial-temperature", "0.5", "--long-time", "--times", "0"]) == 0
    text = capsys.readouterr().out
    assert "not computed" in text and "--l1-max-atoms (default 2000" in text
    assert main(["charge", "-N", "3000", "-T", "1", "--long-time", "--times", "0"]) == 0
    assert "not computed" not in capsys.readouterr().out


def test_long_time_keeps_the_default_times(capsys):
    out = run_json(capsys, ["charge", "-N", "2", "-T", "1", "--long-time"])
    assert out["times"] == [0.0, 0.2, 1.0, 5.0, 20.0] and "long_time" in out  # before: times = []


def _option_actions(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for prog, a in _option_actions(sub):
                    yield f"{name} {prog}".strip(), a
        elif action.option_strings and not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield "", action


def test_every_option_has_help_with_its_default():
    from qcharge.cli import build_parser

    for prog, action in _option_actions(build_parser()):
        text = action.help or ""
        flag = action.nargs == 0  # store_true switches: off unless given
        assert text, f"{prog} {action.option_strings[0]} has no help"
        assert flag or "default" in text or "required" in text, f"{prog} {action.option_strings[0]}: {text!r}"
    seed = next(a for p, a in _option_actions(build_parser()) if p == "run charge" and "--seed" in a.option_strings)
    assert "default 7" in seed.help


def test_top_level_help_has_no_rst(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "``" not in capsys.readouterr().out


def test_demo_reference_story_has_fixed_keys(tmp_path, capsys):
    story = run_json(capsys, ["demo", "--no-circuits", "--plot", str(tmp_path / "demo")])
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    # Without circuits the circuit parts are empty, not missing (the figure reads them as fields).
    assert story["circuit_charging"] == [] and story["circuit_table"] == [] and story["charging"]["twin_times"] is None
    x = np.exp(-1.0)
    assert story["charging"]["long_time_coherence_l1"] == pytest.approx(x / (1 + x + x * x), abs=1e-10)  # docs/physics.md §2.3
    one_line_error(capsys, ["demo", "--no-circuits", "--plot", str(tmp_path / "demo.txt")])


def test_new_user_findings(capsys, tmp_path):
    # Found by a fresh-clone trial: C_l1 beyond float64 printed as a bare `inf`; --max-memory-gb 0
    # accepted on the Dicke path; the run verbs' help said "inf allowed"; a stored Aer job that
    # cannot be retrieved leaked a raw Python warning (file, line and source) onto stderr.
    assert main(["charge", "-N", "3000", "-T", "1", "--long-time", "--times", "0"]) == 0
    assert "10^407.94" in capsys.readouterr().out
    assert "`--max-memory-gb`" in one_line_error(capsys, ["charge", "-N", "2", "-T", "1", "--max-memory-gb", "0"])
    parser = __import__("qcharge.cli", fromlist=["build_parser"]).build_parser()
    run_help = parser._subparsers._group_actions[0].choices["run"]._subparsers._group_actions[0].choices["charge"]
    assert "inf allowed" not in run_help.format_help()
    argv = ["run", "charge", "-N", "2", "-T", "1", "--theta", "0.3", "--collisions", "2", "--shots", "50",
            "--job-store", str(tmp_path / "js")]
    assert main(argv) == 0 and main(argv) == 0  # the rerun finds an Aer job it cannot retrieve
    err = capsys.readouterr().err
    assert "qcharge: note: Stored job" in err and "UserWarning" not in err and "warnings.warn" not in err


def test_default_times_follow_the_collective_time_scale(capsys):
    # Issue 9: at N = 500 the default times 0 1 5 20 all printed the long-time state (the superradiant
    # dynamics take ~1/(N gamma)). They are now 0 0.2 1 5 20 x min(1, 2/(N gamma)): N = 2 keeps them.
    pair = run_json(capsys, ["charge", "-N", "2", "-T", "1"])
    assert pair["times"] == [0.0, 0.2, 1.0, 5.0, 20.0]
    many = run_json(capsys, ["charge", "-N", "500", "-T", "1"])
    assert many["times"] == [0.0, 0.0008, 0.004, 0.02, 0.08]
    energy = many["energy"]
    # From ground the energy rises to its long-time value; every default time shows a different state
    # (float64 dynamics: 1e-6 of the energy is far above their ~1e-12 error).
    assert all(b - a > 1e-6 * energy[-1] for a, b in zip(energy, energy[1:]))

