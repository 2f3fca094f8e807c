"""qcharge: thermal charging and harvesting of heat-exchange coherences, exact and on Qiskit circuits.

The numerical core (parameters, exact reference solvers) imports only NumPy/SciPy;
the circuit experiments (:func:`run_charge`, :func:`run_harvest`) load Qiskit on first use.
"""

from __future__ import annotations

from .exceptions import AnalysisError, BackendError, ConvergenceError, ParameterError, QchargeError
from .params import Atoms, Bath, Collision, Harvest, InitialState
from .reference.charging import charge
from .reference.dicke import dicke_density_matrix, solve_dicke
from .reference.harvest import harvest_summary, make_cluster
from .reference.lifetime import coherence_lifetime
from .reference.lindblad import evolve, long_time_state
from .reference.permutation import solve_permutation
from .results import ChargeRun, ChargeTrace, ClusterTeff, Comparison, HarvestRun, HarvestSummary

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
    "charge",
    "solve_dicke",
    "dicke_density_matrix",
    "solve_permutation",
    "coherence_lifetime",
    "evolve",
    "long_time_state",
    "harvest_summary",
    "make_cluster",
    "cluster_teff",
    "run_charge",
    "run_harvest",
    "plan_protocols",
    "ChargeTrace",
    "HarvestSummary",
    "ClusterTeff",
    "Comparison",
    "ChargeRun",
    "HarvestRun",
]

_LAZY = {"run_charge": ("experiments", "run_charge"), "run_harvest": ("experiments", "run_harvest"),
         "plan_protocols": ("planner", "plan"), "cluster_teff": ("reference.clusters", "cluster_teff")}


def __getattr__(name: str):
    # Circuit experiments pull in Qiskit and Aer (~1 s), the cluster formulas scipy.optimize (~0.2 s):
    # load them only when asked for.
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        return getattr(import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'qcharge' has no attribute {name!r}")
