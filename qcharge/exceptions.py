"""Exceptions raised by qcharge.

Every error a user can trigger derives from :class:`QchargeError`; the CLI turns it
into one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

__all__ = ["QchargeError", "ParameterError", "BackendError", "AnalysisError", "ConvergenceError"]


class QchargeError(Exception):
    """Base class of every error qcharge raises on purpose."""


class ParameterError(QchargeError, ValueError):
    """An argument is out of its domain: the message names it, what was expected and what was given."""


class BackendError(QchargeError):
    """A backend could not be reached, or a job failed."""


class AnalysisError(QchargeError):
    """Counts or metadata cannot be analysed (missing bases, wrong qubits, ...)."""


class ConvergenceError(QchargeError):
    """A long-time state did not converge within the requested tolerance."""
