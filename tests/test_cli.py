"""The ``skrep`` command line, run as a user runs it.

Every test starts the installed console script (and ``python -m skrep``) in
a subprocess whose working folder holds the user's own ``mymodels.py``,
saved models and ``.npy`` inputs: mistakes must give exit status 2 and one
short message on stderr, never a traceback.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

torch = pytest.importorskip("torch")

SKREP = shutil.which("skrep") or (
    shutil.which("skrep", path=os.path.dirname(sys.executable))
)
needs_script = pytest.mark.skipif(SKREP is None, reason="no skrep console script")

MODELS = textwrap.dedent(
    """
    from torch import nn


    class MLP(nn.Module):
        def __init__(self, width=8):
            super().__init__()
            self.fc1 = nn.Linear(16, width)
            self.relu1 = nn.ReLU()
            self.fc2 = nn.Linear(width, 3)

        def forward(self, x):
            return self.fc2(self.relu1(self.fc1(x)))


    class CNN(nn.Module):
        def __init__(self, width=4):
            super().__init__()
            self.conv1 = nn.Conv2d(1, width, 3, padding=1)
            self.relu1 = nn.ReLU()
            self.fc1 = nn.Linear(width * 16, 6)

        def forward(self, x):
            return self.fc1(self.relu1(self.conv1(x)).flatten(1))


    class SeqCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            return self.head(self.features(x).mean(dim=(2, 3)))


    def make_mlp():
        return MLP()


    def make_cnn():
        return CNN()
    """
)

# The children save their models from mymodels.py, so that the pickles name
# the user's module (as they would for a user), not a test module.
SAVE = textwrap.dedent(
    """
    import numpy as np, torch, mymodels
    torch.manual_seed(0)
    torch.save(mymodels.MLP(), "mlp_a.pt")
    torch.save(mymodels.MLP(6), "mlp_b.pt")
    torch.save(mymodels.CNN(), "cnn.pt")
    torch.save(mymodels.CNN().state_dict(), "cnn_a_w.pt")
    torch.save(mymodels.CNN(5).state_dict(), "cnn_5_w.pt")
    torch.save(mymodels.SeqCNN(), "seq_a.pt")
    torch.save(mymodels.SeqCNN(), "seq_b.pt")
    r = np.random.RandomState(0)
    np.save("flat.npy", r.rand(40, 16).astype(np.float32))
    np.save("img.npy", r.rand(40, 1, 4, 4).astype(np.float32))
    np.save("int.npy", r.randint(0, 5, (40, 1, 4, 4)))
    np.savez("img.npz", x=r.rand(40, 1, 4, 4))
    np.save("few.npy", r.rand(8, 16).astype(np.float32))
    """
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("user")
    (path / "mymodels.py").write_text(MODELS)
    subprocess.run(
        [sys.executable, "-c", SAVE], cwd=path, check=True, env=_env(), timeout=120
    )
    return path


def _env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the user's folder is found only via the cwd
    env["OMP_NUM_THREADS"] = "1"
    env["MPLBACKEND"] = "Agg"
    return env


def _run_all(folder, runs):
    """Run ``{key: args}`` side by side (each start imports torch: seconds)."""
    workers = max(2, min(4, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers) as pool:
        futures = {key: pool.submit(_run, folder, *args) for key, args in runs.items()}
    return {key: future.result() for key, future in futures.items()}


def _run(folder, *args):
    """Run ``skrep ARGS`` (``python -m skrep ARGS`` if the first is "-m")."""
    if args and args[0] == "-m":
        command, args = [sys.executable, "-m", "skrep"], args[1:]
    else:
        command = [SKREP]
    return subprocess.run(
        [*command, *args],
        cwd=folder,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _fails(result, *words):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("skrep: error: "), result.stderr
    assert len(result.stderr) < 700, result.stderr
    for word in words:
        assert word in lines[-1], (word, lines[-1])
    return lines[-1]


def _compare(*args, out="out"):
    return ("compare", "--output-dir", out, *args)


MISTAKES = {
    "missing model file": (
        ("--model-a", "nofile.pt", "--model-b", "mlp_b.pt", "--inputs", "flat.npy",
         "--layers", "fc1"),
        ("model a", "nofile.pt", "no such file"),
    ),
    "missing inputs": (
        ("--model-a", "mlp_a.pt", "--model-b", "mlp_b.pt", "--inputs", "x.npy",
         "--layers", "fc1"),
        ("inputs", "x.npy", "no such file"),
    ),
    "flat inputs into a CNN": (
        ("--model-a", "cnn.pt", "--model-b", "cnn.pt", "--inputs", "flat.npy",
         "--layers", "fc1"),
        ("model a", "(1, 16)", "(40, 16)", "(N, 1, H, W)", "reshape"),
    ),
    "integer inputs": (
        ("--model-a", "cnn.pt", "--model-b", "cnn.pt", "--inputs", "int.npy",
         "--layers", "fc1"),
        ("model a", "int64", "astype('float32')"),
    ),
    "npz inputs": (
        ("--model-a", "cnn.pt", "--model-b", "cnn.pt", "--inputs", "img.npz",
         "--layers", "fc1"),
        (".npz", "'x'", ".npy"),
    ),
    "module.factory": (
        ("--model-a", "cnn.pt", "--model-b", "mymodels.make_cnn", "--inputs",
         "img.npy", "--layers", "fc1"),
        ("model b", "mymodels:make_cnn", "colon"),
    ),
    "missing factory": (
        ("--model-a", "mymodels:make_rnn", "--model-b", "cnn.pt", "--inputs",
         "img.npy", "--layers", "fc1"),
        ("model a", "make_rnn", "make_cnn"),
    ),
    "missing module": (
        ("--model-a", "cnn.pt", "--model-b", "theirmodels:make", "--inputs",
         "img.npy", "--layers", "fc1"),
        ("model b", "theirmodels", "current folder"),
    ),
    "state dict as a model": (
        ("--model-a", "cnn_a_w.pt", "--model-b", "cnn.pt", "--inputs", "img.npy",
         "--layers", "fc1"),
        ("model a", "state dict", "--weights-a cnn_a_w.pt"),
    ),
    "weights of another architecture": (
        ("--model-a", "mymodels:make_cnn", "--weights-a", "cnn_5_w.pt",
         "--model-b", "cnn.pt", "--inputs", "img.npy", "--layers", "fc1"),
        ("model a", "cnn_5_w.pt", "size mismatch"),
    ),
    "conv layer against a dense one": (
        ("--model-a", "cnn.pt", "--model-b", "cnn.pt", "--inputs", "img.npy",
         "--layers", "relu1=fc1"),
        ("model b", "--reduction", "rows"),
    ),
    "unknown layer": (
        ("--model-a", "cnn.pt", "--model-b", "cnn.pt", "--inputs", "img.npy",
         "--layers", "relu9"),
        ("model a", "relu9", "conv1, relu1, fc1", "skrep layers"),
    ),
    "too few inputs": (
        ("--model-a", "mlp_a.pt", "--model-b", "mlp_b.pt", "--inputs", "few.npy",
         "--layers", "fc1"),
        ("8 inputs", "2 held out", "at least"),
    ),
    "bad test size": (
        ("--model-a", "mlp_a.pt", "--model-b", "mlp_b.pt", "--inputs", "flat.npy",
         "--layers", "fc1", "--test-size", "30"),
        ("--test-size",),
    ),
    "unknown device": (
        ("--model-a", "mlp_a.pt", "--model-b", "mlp_b.pt", "--inputs", "flat.npy",
         "--layers", "fc1", "--device", "gpu7"),
        ("--device", "gpu7"),
    ),
}  # fmt: skip


# The quick runs (each a mistake or a listing: no analysis), run side by side.
QUICK = {
    **{name: _compare(*args, out="never") for name, (args, _) in MISTAKES.items()},
    "rows": _compare(
        "--model-a", "cnn.pt", "--model-b", "cnn.pt", "--inputs", "img.npy",
        "--layers", "relu1=fc1",
    ),
    "debug": _compare(
        "--model-a", "nofile.pt", "--model-b", "mlp_b.pt", "--inputs", "flat.npy",
        "--layers", "fc1", "--debug",
    ),
    "cuda": _compare(
        "--model-a", "mymodels:make_mlp", "--model-b", "mlp_b.pt", "--inputs",
        "flat.npy", "--layers", "fc1", "--device", "cuda", out="never",
    ),
    "layers": ("layers", "mymodels:make_cnn", "--inputs", "img.npy"),
    "layers -m": ("-m", "layers", "mlp_a.pt"),
    "layers -m factory": ("-m", "layers", "mymodels:make_mlp", "--inputs", "flat.npy"),
    "layers flat into cnn": ("layers", "cnn.pt", "--inputs", "flat.npy"),
    "help": ("--help",),
    "compare help": ("compare", "--help"),
    "layers help": ("layers", "--help"),
}  # fmt: skip


@pytest.fixture(scope="module")
def quick(folder):
    return _run_all(folder, QUICK)


@needs_script
def test_factory_in_users_file_with_weights_and_baseline(folder):
    result = _run(
        folder,
        *_compare(
            "--model-a", "mymodels:make_cnn", "--weights-a", "cnn_a_w.pt",
            "--model-b", "mymodels:CNN", "--layers", "relu1", "fc1", "conv1=relu1",
            "--inputs", "img.npy", "--reduction", "mean", "--baseline",
            out="out-factory",
        ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # model b is a factory without weights: a warning, not silence
    assert "random (untrained) weights" in result.stderr
    assert "model b" in result.stderr and "model a" not in result.stderr
    assert "Unit matching" in result.stdout
    results = json.loads((folder / "out-factory" / "results.json").read_text())
    assert results["layers"] == ["relu1", "fc1", "conv1~relu1"]
    assert {row["pair"] for row in results["cca"]} == {"a~b", "a~baseline"}


@needs_script
def test_dotted_layer_names_are_kept_under_mean_reduction(folder):
    result = _run(
        folder,
        *_compare(
            "--model-a", "seq_a.pt", "--model-b", "seq_b.pt", "--inputs", "img.npy",
            "--layers", "features.1", "--reduction", "mean", out="out-dotted",
        ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = json.loads((folder / "out-dotted" / "results.json").read_text())
    assert results["layers"] == ["features.1"]
    assert results["rows"] == "one row per input: mean over positions"
    assert "features/1" not in result.stdout
    assert "features.1" in result.stdout
    assert "per-input means (mean over positions)" in result.stdout


@needs_script
def test_last_split_flatten_and_few_held_out_examples_for_the_units(folder):
    # 40 inputs, 12 held out, against relu1's 64 (4 x 16) flattened units
    result = _run(
        folder,
        *_compare(
            "--model-a", "cnn.pt", "--model-b", "cnn.pt", "--inputs", "img.npy",
            "--layers", "relu1", "--reduction", "flatten", "--split", "last",
            out="out-flatten",
        ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "28 inputs for fitting, 12 held out (last split" in result.stdout
    assert "relu1: a (1, 4, 4, 4) -> 64 units" in result.stdout
    assert "skrep: warning: only 12 held-out examples" in result.stderr
    assert "64 units" in result.stderr
    assert "SVCCA" in result.stdout


@needs_script
def test_shuffled_split_is_seeded(folder):
    runs = {
        (seed, out): _compare(
            "--model-a", "mlp_a.pt", "--model-b", "mlp_b.pt",
            "--inputs", "flat.npy", "--layers", "fc1", "--seed", str(seed),
            out=out,
        )
        for seed, out in ((3, "s1"), (3, "s2"), (4, "s3"))
    }  # fmt: skip
    scores = {}
    for (seed, out), result in _run_all(folder, runs).items():
        assert result.returncode == 0, result.stderr
        assert f"shuffle split, seed {seed}" in result.stdout
        scores[out] = json.loads((folder / out / "results.json").read_text())["cca"]
    assert scores["s1"] == scores["s2"]
    assert scores["s1"] != scores["s3"]


@needs_script
def test_layers_command(quick):
    result = quick["layers"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["layer", "type"]
    assert lines[1].split() == ["conv1", "Conv2d", "(1,", "4,", "4,", "4)"]
    assert lines[3].split() == ["fc1", "Linear", "(1,", "6)"]
    assert "random" not in result.stderr  # listing layers needs no weights
    # python -m skrep, a pickle of the user's class, names only
    names_only = quick["layers -m"]
    assert names_only.returncode == 0, names_only.stderr
    assert [line.split()[0] for line in names_only.stdout.splitlines()] == [
        "layer", "fc1", "relu1", "fc2",
    ]  # fmt: skip
    factory = quick["layers -m factory"]
    assert factory.returncode == 0, factory.stderr
    assert "(1, 8)" in factory.stdout
    _fails(quick["layers flat into cnn"], "conv2d", "(N, 1, H, W)")


@needs_script
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistakes_give_one_short_message(quick, mistake):
    _fails(quick[mistake], *MISTAKES[mistake][1])


@needs_script
def test_the_rows_message_says_every_position_is_a_row(quick):
    message = _fails(quick["rows"])
    assert "every spatial position is a row" in message
    assert "(1, 4, 4, 4)" in message and "16 row(s)" in message
    assert "mean or flatten" in message


@needs_script
def test_debug_shows_the_traceback(quick):
    result = quick["debug"]
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert "skrep: error: model a: no such file" in result.stderr


@needs_script
def test_unavailable_cuda_is_refused_before_any_work(folder, quick):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    result = quick["cuda"]
    _fails(result, "--device", "cuda", "not available", "--device cpu")
    assert "random" not in result.stderr  # refused before loading the models


@needs_script
def test_nothing_was_written_by_the_mistakes(folder, quick):
    assert not (folder / "never").exists()


@needs_script
def test_help_is_plain_text_with_defaults(quick):
    for key in ("help", "compare help", "layers help"):
        result = quick[key]
        assert result.returncode == 0, result.stderr
        assert "`" not in result.stdout
        assert ":func:" not in result.stdout and ":mod:" not in result.stdout
    compare = " ".join(quick["compare help"].stdout.split())  # unwrapped
    for default in (
        "(default: positions)",
        "(default: 0.3)",
        "(default: shuffle)",
        "(default: 0)",
        "(default: skrep-output)",
    ):
        assert default in compare, default
    assert "(default: None)" not in compare
    assert "layers" in quick["help"].stdout
