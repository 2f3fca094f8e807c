"""Result records: JSON I/O with non-finite floats, input hashes, resumable run directories.

JSON has no infinity: non-finite floats are written as the strings ``"inf"``, ``"-inf"``,
``"nan"`` (T_eff = +inf is a physical answer), and read back by :func:`from_jsonable`.
A :class:`RecordStore` is the one store of the package: one JSON file per record, named by
the hash of the record's inputs (sweep points of ``scale --run-dir``, the job ids of
``--job-store``), written atomically, so an interrupted sweep or job wait resumes where it
stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import ParameterError

__all__ = ["to_jsonable", "from_jsonable", "dumps", "input_hash", "write_atomic", "RecordStore"]

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


def write_atomic(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` through a fsynced temporary file in the same folder and :func:`os.replace`:
    a reader sees the old file or the new one, never half of it (an interrupted write leaves the old)."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class RecordStore:
    """One store of JSON records keyed by a hash of their inputs: sweep points, job ids, run ledgers.

    Each record is one file ``<input_hash(inputs)>.json`` holding ``{"inputs", "result"}`` in
    the folder ``path``. Writes are atomic (a uniquely named temporary file in the same folder,
    flushed to disk, then :func:`os.replace`), so an interrupt or a killed process leaves the
    old record or the new one, never half of one; an interrupted sweep or job wait resumes from
    what is stored.

    The folder is created and test-written **at construction**, before any computation: a store
    that cannot be written (paid hardware job ids would be lost) is refused at once.

    Args:
        path: the store's folder (created with its parents).
        argument: the name given in error messages (``'run_dir'``, ``'job_store'``, ...).

    Raises:
        ParameterError: ``path`` is an existing file, or cannot be created or written.

    Example:
        >>> import tempfile
        >>> store = RecordStore(tempfile.mkdtemp())
        >>> store.done({"atoms": 4})
        False
        >>> _ = store.save({"atoms": 4}, {"teff": float("inf")})
        >>> store.load({"atoms": 4})
        {'teff': inf}
    """

    def __init__(self, path: str | os.PathLike, *, argument: str = "run_dir") -> None:
        self.argument = str(argument)
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise ParameterError(
                f"Argument `{self.argument}` must be a folder for records, but {str(self.path)!r} is an existing file."
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._write_atomic(self.path / ".write-check", "ok\n")
            (self.path / ".write-check").unlink()
        except OSError as err:
            raise ParameterError(
                f"Argument `{self.argument}` must be a writable folder, but {str(self.path)!r} cannot be written: "
                f"{err.strerror or err}."
            ) from None

    def _write_atomic(self, target: Path, text: str) -> None:
        write_atomic(target, text.encode())

    def key(self, inputs: Any) -> str:
        """The record's key: :func:`input_hash` of ``inputs``."""
        return input_hash(inputs)

    def _file(self, inputs: Any) -> Path:
        return self.path / f"{self.key(inputs)}.json"

    def done(self, inputs: Any) -> bool:
        """True if a record for ``inputs`` is stored."""
        return self._file(inputs).exists()

    def load(self, inputs: Any) -> Any:
        """The stored result for ``inputs`` (non-finite floats restored)."""
        return self._read(self._file(inputs))["result"]

    def get(self, inputs: Any) -> Any | None:
        """The stored result for ``inputs``, or ``None``."""
        return self.load(inputs) if self.done(inputs) else None

    def save(self, inputs: Any, result: Any) -> Path:
        """Store (or replace) the record for ``inputs``, atomically; returns its file."""
        target = self._file(inputs)
        self._write_atomic(target, dumps({"inputs": inputs, "result": result}, indent=1))
        return target

    def _read(self, file: Path) -> dict:
        try:
            return from_jsonable(json.loads(file.read_text()))
        except json.JSONDecodeError as err:
            raise ParameterError(
                f"Argument `{self.argument}` must hold valid JSON records, but {file.name} is not JSON: {err}."
            ) from None

    def records(self) -> list[dict]:
        """All stored ``{'inputs', 'result'}`` records, oldest first."""
        files = sorted(self.path.glob("[0-9a-f]*.json"), key=lambda p: (p.stat().st_mtime, p.name))
        return [self._read(p) for p in files]
