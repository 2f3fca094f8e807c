"""The sampler object for a backend: Aer's SamplerV2, or the runtime's current sampler (local mode or a batch)."""

from __future__ import annotations

from qiskit_aer.primitives import SamplerV2 as AerSamplerV2

from ..exceptions import BackendError
from ._common import _is_aer
from .seeds import simulator_seed


def _make_sampler(backend, shots: int, seed: int | None):
    """A sampler for ``backend``: Aer's SamplerV2 for Aer simulators, else the runtime's current one.

    ``qiskit_ibm_runtime.executor_sampler.Sampler`` (imported explicitly: the top-level
    ``SamplerV2``/``Sampler`` of qiskit-ibm-runtime 0.51 is the deprecated class). ``backend`` is
    its mode: a fake device (local testing mode) or a :class:`qiskit_ibm_runtime.Batch` on a real
    one (the open plan has no sessions).
    """
    if _is_aer(backend):
        return AerSamplerV2.from_backend(backend, default_shots=shots, seed=simulator_seed(seed))
    try:
        from qiskit_ibm_runtime.executor_sampler import Sampler
    except ImportError as err:
        raise BackendError("Non-Aer backends need qiskit-ibm-runtime >= 0.50: pip install 'qcharge[ibm]'.") from err
    sampler = Sampler(mode=backend)
    sampler.options.default_shots = shots
    if getattr(backend, "service", None) is None:
        # A device without a service (a fake one) runs in local testing mode, which samples on Aer
        # with this seed; a Batch on a real device has a service and no simulator seed.
        sampler.options.simulator.seed_simulator = simulator_seed(seed)
    return sampler


def _open_batch(backend):
    """A runtime Batch for a real device (``None`` for fake devices, which run in local mode)."""
    if getattr(backend, "service", None) is None:
        return None
    from qiskit_ibm_runtime import Batch

    return Batch(backend=backend)


def _retrieve_job(backend, job_id: str):
    """A previously submitted job by id, or ``None`` when the backend cannot retrieve jobs (Aer)."""
    service = getattr(backend, "service", None)
    if service is None or _is_aer(backend):
        return None
    try:
        return service.job(job_id)
    except Exception as err:
        raise BackendError(f"Could not retrieve stored job {job_id!r}: {type(err).__name__}: {err}") from err
