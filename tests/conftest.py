"""Shared fixtures: synthetic two-layer activations with known structure."""

import numpy as np
import pytest


def make_views(seed=0, n_samples=500, n_latent=10, n_x=20, n_y=30, noise=0.5):
    """Two views sharing a latent code: rows are samples, columns units."""
    rng = np.random.RandomState(seed)
    Z = rng.randn(n_samples, n_latent)
    A = Z @ rng.randn(n_latent, n_x) + noise * rng.randn(n_samples, n_x)
    B = Z @ rng.randn(n_latent, n_y) + noise * rng.randn(n_samples, n_y)
    return A, B


@pytest.fixture
def known_views():
    """Known-answer data: a shared 10-d latent code, 20 and 30 units (seed 0)."""
    return make_views(0)


@pytest.fixture(params=[0, 1, 2])
def seed(request):
    """Several seeds for property tests."""
    return request.param
