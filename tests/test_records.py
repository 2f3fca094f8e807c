"""JSON records: non-finite numbers survive a round trip; run directories resume by input hash."""

from __future__ import annotations

import json
import math

import numpy as np

from qcharge.records import RunDirectory, dumps, from_jsonable, input_hash, to_jsonable


def test_nonfinite_round_trip_is_strict_json():
    payload = {"teff": math.inf, "t0m": -0.0, "arr": np.array([1.0, -math.inf]), "c": 1 + 2j, "n": np.int64(3)}
    text = dumps(payload)
    back = from_jsonable(json.loads(text))  # json.loads would accept Infinity; strict text has none
    assert "Infinity" not in text and "NaN" not in text
    assert back["teff"] == math.inf and back["arr"] == [1.0, -math.inf] and back["n"] == 3
    assert math.copysign(1.0, back["t0m"]) == -1.0
    assert back["c"] == {"real": 1.0, "imag": 2.0}


def test_input_hash_is_canonical():
    assert input_hash({"a": 1, "b": [1.0, 2.0]}) == input_hash({"b": np.array([1.0, 2.0]), "a": 1})
    assert input_hash({"a": 1}) != input_hash({"a": 2})


def test_run_directory_resumes(tmp_path):
    runs = RunDirectory(tmp_path / "sweep")
    task = {"atoms": 4, "temperature": 1.0}
    assert not runs.done(task)
    runs.save(task, {"coherence_l1": 0.5, "teff": math.inf})
    again = RunDirectory(tmp_path / "sweep")  # a new process after an interrupt
    assert again.done(task) and again.load(task) == {"coherence_l1": 0.5, "teff": math.inf}
    assert [r["inputs"] for r in again.records()] == [task]
    assert not list((tmp_path / "sweep").glob("*.tmp"))
    assert to_jsonable(task) == task
