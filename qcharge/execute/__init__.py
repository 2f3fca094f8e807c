r"""Run qcharge circuits: exact density matrices on Aer, counts through a sampler (Aer or IBM Runtime).

This package is the only place that imports ``qiskit_aer`` (a core dependency) and
``qiskit_ibm_runtime`` (optional extra ``qcharge[ibm]``, imported lazily inside functions).
Its modules each own one thing:

=====================  ==========================================================================
``backends``           backend names -> objects (Aer, fake, custom noise, IBM); describe and list
``capabilities``       what circuits need (reset, mid-circuit measurement, control flow); refusal
``layout``             physical layouts (the preset's choice), transpiling with save markers
``noise``              the device noise model restricted to the used qubits (gates; delays), and its cache
``scheduling``         idle periods: ALAP scheduling, delay or DD padding as the runtime sampler pads
``density``            exact (noisy) density matrices: :func:`run_density_matrix`, :func:`prepare_for_aer`
``seeds``              the one derivation of simulator and per-job seeds from a user seed
``samplers``           the sampler for a backend and its opt-in error suppression
``sampling``           counts: :func:`run_counts`, :func:`job_chunks`, job records, measured qubits
``remote``             jobs that outlive the process: submit, state, retrieve by id
``transpile_stats``    :func:`resources`: widths, depths and gate counts before/after transpiling
=====================  ==========================================================================

Save points. Builders mark the places where a reduced state is wanted with labelled barriers
(:func:`qcharge.circuits.collisions.append_save_marker`). :func:`prepare_for_aer` swaps each
marker for Aer's ``save_density_matrix`` on the marker's qubits, in the marker's qubit order.

Returned state order. Aer returns a saved state little-endian in the listed qubits; every state
returned here is converted to **QuTiP order of the listed qubits**: the first listed qubit is the
left-most tensor factor (for a charging circuit, atom 0 left-most, exactly as
:func:`qcharge.states.thermal_state` and the NumPy twin).

Ensembles. Wherever a list of circuits is accepted, an element may itself be a list of circuits
(classical-coin instances, Poisson instances): its results are averaged (states) or summed
(counts) with equal weights.

Noisy backends. An exact run (:func:`run_density_matrix`) on ``'aer-noisy:<fake>'`` or a device
object is the exact *noisy* state: the circuit transpiled to the device, on the device's noise
model restricted to the qubits it uses (:func:`restricted_noise_model`); it is never replaced by
the ideal simulator.

Job records. :func:`run_counts` records each job id in a :class:`qcharge.records.RecordStore`
(keyed by the hash of circuits and settings) before waiting for the result.
"""

from __future__ import annotations

from .backends import (CustomNoise, _device_for_noise, _fake_device, describe_backend, fake_backend, get_backend,
                       list_backends)
from .capabilities import check_supported, circuit_features
from .density import (DEFAULT_MEASURE_SHOTS, MAX_DENSITY_MATRIX_BYTES, density_matrix_bytes, prepare_for_aer,
                      run_density_matrix)
from .layout import _transpile_with_markers, choose_layout, layout_of
from .noise import restricted_noise_model
from .remote import (is_remote_backend, job_state, retrieve_counts, retrieve_job, runtime_service,
                     submit_sampler_job)
from .samplers import ErrorSuppression, current_suppression, error_suppression
from .sampling import (MEASURED_PHYSICAL, job_chunks, job_store_for, measured_physical_qubits, place_counts,
                       pool_counts, run_counts, transpiled_two_qubit_gates)
from .transpile_stats import resources

__all__ = [
    "DEFAULT_MEASURE_SHOTS",
    "get_backend",
    "fake_backend",
    "CustomNoise",
    "describe_backend",
    "list_backends",
    "circuit_features",
    "check_supported",
    "layout_of",
    "choose_layout",
    "prepare_for_aer",
    "run_density_matrix",
    "restricted_noise_model",
    "MAX_DENSITY_MATRIX_BYTES",
    "density_matrix_bytes",
    "run_counts",
    "measured_physical_qubits",
    "transpiled_two_qubit_gates",
    "MEASURED_PHYSICAL",
    "job_store_for",
    "resources",
    "is_remote_backend",
    "job_chunks",
    "place_counts",
    "submit_sampler_job",
    "runtime_service",
    "job_state",
    "retrieve_job",
    "retrieve_counts",
    "pool_counts",
    "ErrorSuppression",
    "error_suppression",
    "current_suppression",
]

# Private names other qcharge modules use (the planner transpiles with save markers itself).
_PRIVATE_API = (_device_for_noise, _fake_device, _transpile_with_markers)
