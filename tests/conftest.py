"""Shared fixtures: seeded RNG and QuTiP helpers in the package's conventions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

# Property tests draw their examples from a fixed seed: the suite gives the same verdict on every run.
settings.register_profile("qcharge", derandomize=True, deadline=None)
settings.load_profile("qcharge")

SEED = 20170532  # arXiv:1705.10892


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def random_density_matrix(dim: int, rng: np.random.Generator) -> np.ndarray:
    """Full-rank random state (Ginibre): generic, with coherences of every Δn."""
    g = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    rho = g @ g.conj().T
    return rho / np.trace(rho)
