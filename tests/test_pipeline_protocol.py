"""run_harvest's ``charging=`` (the pipeline pairs' in-circuit charging protocol) and ``run harvest --pipeline-*``."""

from __future__ import annotations

import json

import pytest

from qcharge.cli import main
from qcharge.exceptions import ParameterError
from qcharge.experiments import run_harvest
from qcharge.params import Bath, Collision, Harvest, InitialState

PROTOCOL = (Collision(1.2, "exact"), 3)  # the kind of protocol plan(target='teff') picks on Heron devices


@pytest.mark.parametrize("kind", ["pipeline", "pipeline-dephased"])
def test_pipeline_pairs_charged_by_a_given_protocol_match_their_twin(kind):
    res = run_harvest(Bath(1.0), InitialState(), kind, Harvest(0.5), 3.0, instances=3, charging=PROTOCOL)
    # exact density matrices on ideal Aer: every instance equals its twin to 1e-8 (EXACT_ATOL)
    assert res.agree
    assert res.pipeline_protocol == {"theta": 1.2, "ordering": "exact", "ancilla": "purify", "collisions": 3}
    default = run_harvest(Bath(1.0), InitialState(), kind, Harvest(0.5), 3.0, instances=3)
    assert default.pipeline_protocol["collisions"] > 3  # θ = 0.3 for γt = 5: another pair state, another probe
    assert abs(default.twin.probe_excited_population - res.twin.probe_excited_population) > 1e-6


def test_charging_is_refused_for_prepared_pairs():
    with pytest.raises(ParameterError, match="`charging` needs cluster 'pipeline'"):
        run_harvest(Bath(1.0), InitialState(), "charged", Harvest(0.5), 3.0, instances=3, charging=PROTOCOL)
    with pytest.raises(ParameterError, match="`charging`"):
        run_harvest(Bath(1.0), InitialState(), "pipeline", Harvest(0.5), 3.0, instances=3, charging=(1.2, 3))


@pytest.mark.parametrize("argv, message", [
    (["--cluster", "charged", "--pipeline-theta", "1.2", "--pipeline-collisions", "3"], "needs --cluster pipeline"),
    (["--cluster", "pipeline", "--pipeline-theta", "1.2"], "go together"),
    (["--cluster", "pipeline", "--plan", "best", "--pipeline-collisions", "3"], "the plan sets the charging protocol"),
    (["--cluster", "pipeline", "--layout", "0,1,x"], "--layout"),
    (["--cluster", "pipeline-dephased", "--pipeline-ordering", "exact"], "--pipeline-ordering needs them"),
    (["--cluster", "charged", "--pipeline-ordering", "exact"], "`--pipeline-ordering` needs --cluster pipeline"),
    (["--cluster", "pipeline", "--pipeline-theta", "-1", "--pipeline-collisions", "3"], "`--pipeline-theta` must be > 0"),
    (["--cluster", "pipeline", "--pipeline-theta", "1", "--pipeline-collisions", "0"], "`--pipeline-collisions` must be >= 1"),
    (["--cluster", "charged", "--layout", "0,1,2,3,4"], "needs a noisy backend"),
    (["--cluster", "charged", "--backend", "aer-noisy:fake_manila", "--layout", "0,1,2,3,7"], "(0 ... 4)"),
])
def test_bad_pipeline_options_give_one_line(argv, message, capsys):
    try:  # library errors return 2; argparse's (a malformed --layout) exit with 2
        code = main(["run", "harvest", "-T", "1", "--time", "2", "--instances", "3", *argv])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_run_harvest_cli_reports_the_pipeline_protocol(capsys):
    assert main(["run", "harvest", "-T", "1", "--cluster", "pipeline", "--pipeline-theta", "1.2",
                 "--pipeline-collisions", "3", "--pipeline-ordering", "exact", "--time", "2", "--instances", "3",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pipeline_protocol"]["collisions"] == 3 and out["agree"]


@pytest.mark.parametrize("flag", [["--ordering", "forward"], ["--ancilla", "measure"], ["--theta", "0.5"]])
def test_run_charge_plan_refuses_what_the_plan_sets(flag, capsys):
    assert main(["run", "charge", "-N", "2", "-T", "1", "--plan", "best", *flag]) == 2
    err = capsys.readouterr().err
    assert f"`--plan` must not be given with {flag[0]}" in err and len(err.strip().splitlines()) == 1
