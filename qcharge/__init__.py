"""qcharge: thermal charging and harvesting of heat-exchange coherences, exact and on Qiskit circuits."""

from __future__ import annotations

from .exceptions import AnalysisError, BackendError, ConvergenceError, ParameterError, QchargeError
from .params import Atoms, Bath, Collision, Harvest, InitialState

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "QchargeError",
    "ParameterError",
    "BackendError",
    "AnalysisError",
    "ConvergenceError",
    "Atoms",
    "Bath",
    "InitialState",
    "Collision",
    "Harvest",
]
