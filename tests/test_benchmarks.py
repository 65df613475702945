"""The benchmark scripts still run (tiny sizes; the timings are not checked)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SMOKE_ARGS = {
    "bench_cca.py": ["--quick", "--repeat", "1"],
    "bench_compare_layers.py": ["--quick", "--repeat", "1"],
    "bench_compare_models.py": ["--quick"],
    "bench_cka.py": ["--quick", "--repeat", "1"],
    "bench_dask.py": ["--quick", "--repeat", "1"],
    "bench_dft.py": ["--quick"],
    "bench_gpu.py": [
        "--device",
        "cpu",
        "--n",
        "2000",
        "--units",
        "16",
        "--repeats",
        "1",
    ],
    "bench_sparse.py": ["--quick"],
    "bench_inference.py": ["--quick"],
    "bench_matching.py": ["--quick"],
    "bench_procrustes.py": ["--quick", "--repeat", "1"],
    "bench_rsa.py": ["--quick"],
    "bench_streaming.py": ["--quick"],
    "bench_extractor.py": ["--n-images", "64", "--repeats", "1", "--no-memory"],
}


def test_every_benchmark_has_a_smoke_run():
    assert sorted(p.name for p in BENCHMARKS.glob("bench_*.py")) == sorted(SMOKE_ARGS)


@pytest.mark.parametrize("script", sorted(SMOKE_ARGS))
def test_benchmark_smoke_run(script):
    if script in ("bench_extractor.py", "bench_compare_models.py", "bench_gpu.py"):
        pytest.importorskip("torch")
    if script == "bench_dask.py":
        pytest.importorskip("distributed")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *SMOKE_ARGS[script]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "x" in result.stdout and len(result.stdout.splitlines()) > 3
