"""The main job (``python -m skrep``) in its quick form, and ``skrep compare``."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from skrep.__main__ import main  # noqa: E402
from skrep._demo import DECAYS, run_demo  # noqa: E402
from skrep.torch import DIGITS_LAYERS, DigitsCNN  # noqa: E402

FIGURES = (
    "correlation_matrices.png",
    "svcca_layer_grid.png",
    "sparse_loss_vs_decay.png",
    "canonical_correlations.png",
)
TABLES = (
    "results.json",
    "matching.csv",
    "cca.csv",
    "sparse_prediction.csv",
    "svcca_layer_grid.csv",
)


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    output = tmp_path_factory.mktemp("demo")
    lines = []
    results = run_demo(output_dir=output, quick=True, log=lines.append)
    return output, results, "\n".join(lines)


def test_outputs_exist_and_report_is_printed(quick_demo):
    output, results, report = quick_demo
    for name in FIGURES:
        assert (output / name).stat().st_size > 5000, name
    for name in TABLES:
        assert (output / name).stat().st_size > 50, name
    assert json.loads((output / "results.json").read_text())["layers"] == list(
        DIGITS_LAYERS
    )
    for heading in ("Unit matching", "Sparse prediction", "SVCCA", "Layer x layer"):
        assert heading in report
    assert str(output.resolve()) in report
    assert "[8/8" in report  # progress lines
    assert min(results["accuracy"].values()) > 0.8


def _matching(results, pair, method):
    return {
        row["layer"]: row["held_out_mean"]
        for row in results["matching"]
        if row["pair"] == pair and row["method"] == method
    }


def test_trained_nets_agree_more_than_random_init(quick_demo):
    _, results, _ = quick_demo
    for method in ("semi-matching", "matching"):
        trained = _matching(results, "a~b", method)
        random_init = _matching(results, "a~baseline", method)
        for layer in DIGITS_LAYERS:
            assert trained[layer] > random_init[layer], (method, layer)
    pwcca = {
        (row["layer"], row["pair"]): row["pwcca_held_out"] for row in results["cca"]
    }
    for layer in DIGITS_LAYERS:
        assert pwcca[layer, "a~b"] > pwcca[layer, "a~baseline"], layer


def test_matching_below_semi_matching(quick_demo):
    _, results, _ = quick_demo
    for pair in ("a~b", "a~baseline"):
        rows = [r for r in results["matching"] if r["pair"] == pair]
        fit = {(r["layer"], r["method"]): r["fit_mean"] for r in rows}
        for layer in DIGITS_LAYERS:
            assert fit[layer, "matching"] <= fit[layer, "semi-matching"] + 1e-12
            assert 0 <= next(r["overlap"] for r in rows if r["layer"] == layer) <= 1


def test_loss_grows_with_decay(quick_demo):
    _, results, _ = quick_demo
    sparse = results["sparse_prediction"]
    assert sparse["decays"] == list(DECAYS)
    for layer, losses in sparse["held_out_loss"].items():
        losses = np.array(losses)
        # from 1e-4 on the penalty dominates: strictly more loss each step
        assert np.all(np.diff(losses[2:]) > 0), layer
        assert losses[-1] > losses[0] + 0.2, layer
        assert np.all((losses > 0) & (losses < 0.7)), layer


def test_compare_command_on_user_models(tmp_path, capsys):
    torch.manual_seed(0)
    model_a, model_b = DigitsCNN(width=4), DigitsCNN(width=6)
    torch.save(model_a, tmp_path / "a.pt")
    torch.save(model_b, tmp_path / "b.pt")
    inputs = np.random.RandomState(0).rand(120, 1, 8, 8).astype(np.float32)
    np.save(tmp_path / "inputs.npy", inputs)
    status = main(
        [
            "compare",
            "--model-a", str(tmp_path / "a.pt"),
            "--model-b", str(tmp_path / "b.pt"),
            "--inputs", str(tmp_path / "inputs.npy"),
            "--layers", "relu1", "fc1=fc1", "logits",
            "--output-dir", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    assert status == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["layers"] == ["relu1", "fc1", "logits"]
    assert "Unit matching" in capsys.readouterr().out


def test_factory_models_and_bad_layer(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((30, 1, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="relu9"):
        main(
            [
                "compare",
                "--model-a", "skrep.torch:DigitsCNN",
                "--model-b", "skrep.torch:DigitsCNN",
                "--inputs", str(tmp_path / "x.npy"),
                "--layers", "relu9",
                "--output-dir", str(tmp_path / "out"),
            ]
        )  # fmt: skip
