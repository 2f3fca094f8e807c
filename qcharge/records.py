"""Result records: JSON I/O with non-finite floats, input hashes, resumable run directories.

JSON has no infinity: non-finite floats are written as the strings ``"inf"``, ``"-inf"``,
``"nan"`` (T_eff = +inf is a physical answer), and read back by :func:`from_jsonable`.
A :class:`RunDirectory` stores one JSON file per task, named by the hash of the task's
inputs, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["to_jsonable", "from_jsonable", "dumps", "input_hash", "RunDirectory"]

_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def to_jsonable(obj: Any) -> Any:
    """NumPy arrays/scalars -> lists/floats; complex -> {'real','imag'}; non-finite -> strings."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if isinstance(obj, (complex, np.complexfloating)):
        return {"real": to_jsonable(obj.real), "imag": to_jsonable(obj.imag)}
    return obj


def from_jsonable(obj: Any) -> Any:
    """Inverse of :func:`to_jsonable` for the non-finite strings (other strings are kept)."""
    if isinstance(obj, dict):
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    if isinstance(obj, str) and obj in _NONFINITE:
        return _NONFINITE[obj]
    return obj


def dumps(obj: Any, **kwargs) -> str:
    """Strict JSON (no NaN/Infinity tokens) of ``obj``."""
    return json.dumps(to_jsonable(obj), allow_nan=False, **kwargs)


def input_hash(inputs: Any) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of ``inputs``."""
    text = json.dumps(to_jsonable(inputs), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RunDirectory:
    """A folder of records keyed by input hash: ``done(inputs)``, ``load(inputs)``, ``save(inputs, result)``.

    Files are written atomically (write to a temporary name, then rename) so an interrupt
    never leaves a half-written record behind.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def _file(self, inputs: Any) -> Path:
        return self.path / f"{input_hash(inputs)}.json"

    def done(self, inputs: Any) -> bool:
        return self._file(inputs).exists()

    def load(self, inputs: Any) -> dict:
        with open(self._file(inputs)) as fh:
            return from_jsonable(json.load(fh))["result"]

    def save(self, inputs: Any, result: Any) -> Path:
        target = self._file(inputs)
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(dumps({"inputs": inputs, "result": result}, indent=1))
        os.replace(tmp, target)
        return target

    def records(self) -> list[dict]:
        """All stored {'inputs', 'result'} records, oldest first."""
        files = sorted(self.path.glob("*.json"), key=lambda p: p.stat().st_mtime)
        return [from_jsonable(json.loads(p.read_text())) for p in files]
