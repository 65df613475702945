"""Smoke test: every gallery example runs, in its quick mode."""

import os
import runpy
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("plot_*.py"))


def _thread_limits():
    """The current thread count of each kind of pool (BLAS, OpenMP)."""
    limits = {"blas": os.cpu_count() or 1, "openmp": os.cpu_count() or 1}
    for pool in threadpool_info():
        limits[pool["user_api"]] = pool["num_threads"]
    return limits


def test_examples_are_found():
    assert len(EXAMPLES) >= 7
    assert (EXAMPLES[0].parent / "README.rst").exists()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_runs(path, monkeypatch, tmp_path):
    monkeypatch.setenv("SKREP_EXAMPLES_QUICK", "1")
    monkeypatch.setenv("SKREP_EXAMPLES_OUTPUT", str(tmp_path))
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    # The examples limit torch, BLAS and OpenMP to one thread, process-wide:
    # give the other tests theirs back afterwards.
    torch_threads, pool_threads = torch.get_num_threads(), _thread_limits()
    try:
        namespace = runpy.run_path(str(path), run_name="__main__")
        assert namespace["QUICK"] is True
        assert plt.get_fignums(), f"{path.name} drew no figure"
        saved = sorted(tmp_path.glob(f"{path.stem}_*.png"))
        assert saved, f"{path.name} saved no figure to SKREP_EXAMPLES_OUTPUT"
        assert all(png.stat().st_size > 0 for png in saved)
    finally:
        plt.close("all")
        torch.set_num_threads(torch_threads)
        threadpool_limits(limits=pool_threads)
