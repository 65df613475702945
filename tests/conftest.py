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


@pytest.fixture
def spy_lanes(monkeypatch):
    """Count a module's two-lane runs: ``calls = spy_lanes(module)``.

    Replaces ``module.in_two_lanes`` by a wrapper that records each call in
    the returned list and runs the real one.
    """

    def install(module):
        calls = []
        real = module.in_two_lanes

        def spy(first, second):
            calls.append(1)
            return real(first, second)

        monkeypatch.setattr(module, "in_two_lanes", spy)
        return calls

    return install
