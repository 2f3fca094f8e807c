"""JSON records: non-finite numbers survive a round trip; the record store resumes by input hash, writes
atomically and refuses an unusable folder at construction."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from qcharge.exceptions import ParameterError
from qcharge.records import RecordStore, dumps, from_jsonable, input_hash, to_jsonable


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


def test_record_store_resumes(tmp_path):
    runs = RecordStore(tmp_path / "sweep")
    task = {"atoms": 4, "temperature": 1.0}
    assert not runs.done(task)
    runs.save(task, {"coherence_l1": 0.5, "teff": math.inf})
    again = RecordStore(tmp_path / "sweep")  # a new process after an interrupt
    assert again.done(task) and again.load(task) == {"coherence_l1": 0.5, "teff": math.inf}
    assert [r["inputs"] for r in again.records()] == [task]
    assert not list((tmp_path / "sweep").glob(".tmp-*"))
    assert (tmp_path / "sweep" / f"{input_hash(task)}.json").exists()
    assert to_jsonable(task) == task


def test_store_path_errors_name_the_argument(tmp_path):
    existing = tmp_path / "taken.txt"
    existing.write_text("x")
    # Old RunDirectory: FileExistsError "[Errno 17] File exists" naming no argument.
    with pytest.raises(ParameterError, match=r"Argument `run_dir` must be a folder.*taken.txt.*existing file"):
        RecordStore(existing)
    with pytest.raises(ParameterError, match=r"Argument `job_store` must be a writable folder.*taken.txt/sub"):
        RecordStore(existing / "sub", argument="job_store")
    assert existing.read_text() == "x"


def test_store_is_test_written_at_construction(tmp_path, monkeypatch):
    import qcharge.records as records

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(records.tempfile, "mkstemp", full_disk)
    with pytest.raises(ParameterError, match=r"`run_dir` must be a writable folder.*No space left"):
        RecordStore(tmp_path / "runs")


def test_interrupted_write_keeps_the_old_record(tmp_path, monkeypatch):
    store = RecordStore(tmp_path / "runs")
    store.save({"n": 1}, {"value": 1.0})

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.save({"n": 1}, {"value": 2.0})
    monkeypatch.undo()
    assert store.load({"n": 1}) == {"value": 1.0}
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [f"{input_hash({'n': 1})}.json"]


def test_corrupt_record_is_reported_with_the_argument(tmp_path):
    store = RecordStore(tmp_path / "runs", argument="job_store")
    store.save({"n": 1}, {})
    (tmp_path / "runs" / f"{input_hash({'n': 1})}.json").write_text("{half")
    with pytest.raises(ParameterError, match="job_store.*not JSON"):
        store.load({"n": 1})
