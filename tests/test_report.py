"""``qcharge report``: self-contained HTML from run records and sweep folders; bad input is one line, exit 2."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pytest

from qcharge.cli import main
from qcharge.records import RecordStore, dumps
from qcharge.report import load_source, main_quantities
from qcharge.sweep import parse_spec, run_point


class _Page(HTMLParser):
    """Collects the table cells, images and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.images: list[str] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        self.urls += [v for k, v in attrs if k in ("href", "src") and v and not v.startswith("data:")]
        if tag in ("td", "th"):
            self._in_cell, self.cells = True, self.cells + [""]

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


def _page(path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _check_self_contained(page: _Page) -> None:
    # No network: no external URL, stylesheet link or script; every figure is an embedded PNG.
    assert page.urls == [] and "script" not in page.tags and "link" not in page.tags
    assert page.images, "a report has at least one figure"
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def _run_json(argv, capsys) -> dict:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def exact_charge_record(tmp_path_factory):
    # The record `qcharge run charge ... --exact --json` prints, through the verb's own code path.
    rec = run_point(["run", "charge", "--atoms=2", "--temperature=1", "--theta=0.9", "--collisions=6", "--exact"])
    path = tmp_path_factory.mktemp("run") / "charge.json"
    path.write_text(dumps(rec, indent=2))
    return path, rec


def test_charge_run_report_shows_the_comparison(exact_charge_record, tmp_path, capsys):
    path, rec = exact_charge_record
    out = tmp_path / "r.html"
    summary = _run_json(["report", str(path), "--out", str(out), "--json"], capsys)
    assert summary == {"report": str(out), "kind": "run charge", "figures": 1}
    page = _page(out)
    _check_self_contained(page)
    # The comparison row of the heat-exchange coherence: master eq., twin, circuit, as stored (6 digits).
    i = page.cells.index("heat_exchange_coherence")
    want = [f"{rec[k]['heat_exchange_coherence']:.6g}" for k in ("reference", "twin", "circuit")]
    assert page.cells[i + 1: i + 4] == want
    assert {"master eq.", "twin", "circuit", "agrees", "theta", "collisions"} <= set(page.cells)
    assert "Error budget" not in out.read_text()  # none in an ideal exact run


def test_noisy_run_report_shows_prediction_mitigation_and_budget(exact_charge_record, tmp_path):
    # The keys issue 7 adds to `run ... --json` (noisy_prediction and mitigated: the circuit's keys;
    # error_budget: part -> value and total). Values here are made up: only the layout is tested.
    path, rec = exact_charge_record
    rec = {**rec, "noisy_prediction": {k: 0.8 * v for k, v in rec["circuit"].items()},
           "mitigated": {**{k: 0.9 * v for k, v in rec["circuit"].items()},
                         "heat_exchange_coherence_ci": [0.1, 0.3]},
           "error_budget": {"collision_model": -0.006, "gate_and_decoherence": -0.03, "readout": -0.01,
                            "shot_noise": 0.004, "total": -0.042},
           "layout": [12, 13, 14, 15]}
    src = tmp_path / "noisy.json"
    src.write_text(dumps(rec))
    out = tmp_path / "noisy.html"
    assert main(["report", str(src), "--out", str(out)]) == 0
    page = _page(out)
    _check_self_contained(page)
    assert len(page.images) == 2  # comparison bars and the error budget
    headers = page.cells[page.cells.index("quantity"):][:9]
    assert headers[:6] == ["quantity", "master eq.", "twin", "noisy prediction", "circuit", "mitigated"]
    i = page.cells.index("heat_exchange_coherence")
    assert "[0.1, 0.3]" in page.cells[i:i + 9]  # the mitigated interval, in its own column
    j = page.cells.index("gate_and_decoherence")
    assert page.cells[j + 1] == "-0.03" and "total" in page.cells and "12, 13, 14, 15" in page.cells


def test_sampled_harvest_report_carries_the_intervals(tmp_path):
    rec = run_point(["run", "harvest", "--cluster=charged", "--temperature=1", "--instances=2", "--time=2",
                     "--shots=200", "--seed=3"])
    src = tmp_path / "harvest.json"
    src.write_text(dumps(rec))
    out = tmp_path / "harvest.html"
    assert main(["report", str(src), "--out", str(out)]) == 0
    page = _page(out)
    _check_self_contained(page)
    i = page.cells.index("teff")
    lo, hi = rec["circuit"]["teff_ci"]
    assert page.cells[i + 1: i + 5] == [f"{rec['reference']['teff']:.6g}", f"{rec['twin']['teff']:.6g}",
                                        f"{rec['circuit']['teff']:.6g}", f"[{lo:.6g}, {hi:.6g}]"]
    assert "range if = twin" in page.cells


@pytest.fixture(scope="module")
def charge_sweep(tmp_path_factory):
    # A 2 x 2 sweep folder, written point by point as `qcharge sweep` writes it (the verb's own point runner).
    spec = parse_spec({"command": "charge", "fixed": {"atoms": 2, "times": [0, 1, 5]},
                       "grid": {"temperature": [0.5, 2.0], "initial_temperature": [0.1, 0.3]}})
    folder = tmp_path_factory.mktemp("sweep")
    store = RecordStore(folder, argument="out")
    for p in spec.points():
        store.save(p.inputs, run_point(p.argv))
    return folder, spec


def test_sweep_report_tables_every_point_and_plots_versus_the_grid(charge_sweep, tmp_path, capsys):
    folder, spec = charge_sweep
    out = tmp_path / "sweep.html"
    summary = _run_json(["report", str(folder), "--out", str(out), "--json"], capsys)
    assert summary["kind"] == "sweep" and summary["figures"] == 2  # C_l1 and heat versus temperature
    page = _page(out)
    _check_self_contained(page)
    text = out.read_text()
    assert "coherence_l1 (last t) versus the grid variable temperature, one line per initial_temperature" in text
    i = page.cells.index("heat (last t)")
    body = page.cells[i + 1:i + 1 + 4 * 4]
    assert len(body) == 16  # 4 points x (temperature, initial_temperature, C_l1, heat)
    store = RecordStore(folder, argument="out")
    for p in spec.points():
        res = store.load(p.inputs)
        row = [f"{p.inputs['temperature']:.6g}", f"{p.inputs['initial_temperature']:.6g}",
               f"{res['coherence_l1'][-1]:.6g}", f"{res['heat'][-1]:.6g}"]
        assert any(body[k:k + 4] == row for k in range(0, 16, 4)), row
    # The same records as `qcharge sweep --json` prints them give the same kind of page.
    js = tmp_path / "sweep.json"
    js.write_text(dumps({"points": 4, "computed": 4, "reused": 0, "seconds": 1.0,
                         "records": [{"key": p.key, "inputs": p.inputs, "result": store.load(p.inputs)}
                                     for p in spec.points()]}))
    assert load_source(js)[0] == "sweep" and len(load_source(js)[1]) == 4


def test_main_quantities_of_run_sweeps():
    rec = {"reference": {"teff": 1.2}, "twin": {"teff": 1.1}, "circuit": {"teff": 1.0}, "agree": True,
           "cluster": "charged", "instances": 2}
    assert main_quantities("run harvest", rec) == [
        {"teff master eq.": 1.2, "teff twin": 1.1, "teff circuit": 1.0, "agree": True}]
    assert main_quantities("scale", [{"atoms": 2, "log10_coherence_l1": -0.6, "heat": 0.4}]) == [
        {"atoms": 2, "log10_coherence_l1": -0.6, "heat": 0.4}]


@pytest.mark.parametrize("content, expected", [
    (None, "does not exist"),
    ("[1, 2]", "is a JSON list"),
    ('{"atoms": 2}', "is an object with keys ['atoms']"),
    ("not json", "is not JSON"),
    ("folder", "holds none"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, content, expected):
    src = tmp_path / "in.json"
    if content == "folder":
        src = tmp_path / "empty"
        src.mkdir()
    elif content is not None:
        src.write_text(content)
    out = tmp_path / "out.html"
    capsys.readouterr()
    assert main(["report", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qcharge: error: Argument `path` must be") and expected in err
    assert not out.exists()


def test_bad_out_is_one_line(exact_charge_record, tmp_path, capsys):
    path, _ = exact_charge_record
    capsys.readouterr()
    assert main(["report", str(path), "--out", str(tmp_path)]) == 2  # a folder, not a file
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(r"Argument `--out` must be a file path", err)
