r"""The one derivation of simulator seeds from user seeds.

Aer seeds shot :math:`i` of a shot-by-shot simulation (noise sampled per shot, mid-circuit
measurements) with ``seed_simulator + i``: seeds 7 and 8 gave the *same* shot records shifted by
one shot, so "independent" repetitions at nearby seeds were copies of each other. Aer therefore
never sees a user seed, only its hash :func:`simulator_seed`; the same user seed still reproduces
every run exactly.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_int

# 62 bits: Aer adds the shot index to the seed; 2^62 + shots stays inside a signed 64-bit integer.
_SEED_BITS = 62


def simulator_seed(seed: int | None, *stream: int) -> int | None:
    r"""Simulator seed for user seed ``seed`` (and an optional stream, e.g. a job index).

    :math:`s = \mathrm{SeedSequence}([seed, *stream])` hashed to 62 bits (NumPy's SeedSequence
    mixes its entropy through a hash, so nearby seeds give unrelated values). ``None`` stays
    ``None`` (fresh entropy).

    Example:
        >>> simulator_seed(7) == simulator_seed(7), simulator_seed(None)
        (True, None)
        >>> abs(simulator_seed(8) - simulator_seed(7)) > 2**40
        True
    """
    if seed is None:
        return None
    seed = check_int("seed", seed, minimum=0)
    words = np.random.SeedSequence([int(seed), *(int(s) for s in stream)]).generate_state(1, dtype=np.uint64)
    return int(words[0] >> np.uint64(64 - _SEED_BITS))


def job_seed(seed: int | None, first_circuit: int) -> int | None:
    """The user-level seed of the job that starts at circuit ``first_circuit`` (:func:`~qcharge.execute.job_chunks`).

    Job 0 keeps ``seed`` itself (a single-job run is the run of ``seed``); later jobs get
    :func:`simulator_seed` of ``(seed, first_circuit)``, so that equal circuits in different jobs
    (1-shot coin instances) do not repeat each other's outcomes. Each job's sampler then gets
    :func:`simulator_seed` of its job seed, like every other Aer run.
    """
    return seed if seed is None or first_circuit == 0 else simulator_seed(seed, first_circuit)
