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
    assert "[11/11" in report  # progress lines
    assert "for the whole run, from process start, figures included" in report
    assert min(results["accuracy"].values()) > 0.8
    assert results["seeds"] == {"trained": [0, 1], "untrained": [1000, 1001, 1002]}
    assert results["baselines"] == ["untrained1000", "untrained1001", "untrained1002"]


def _matching(results, pair, method):
    return {
        row["layer"]: row["held_out_mean"]
        for row in results["matching"]
        if row["pair"] == pair and row["method"] == method
    }


def test_trained_nets_agree_more_than_random_init(quick_demo):
    _, results, _ = quick_demo
    untrained = [f"a~{label}" for label in results["baselines"]]
    for method in ("semi-matching", "matching"):
        trained = _matching(results, "a~b", method)
        for pair in untrained:
            random_init = _matching(results, pair, method)
            for layer in DIGITS_LAYERS:
                assert trained[layer] > random_init[layer], (method, layer, pair)
    pwcca = {
        (row["layer"], row["pair"]): row["pwcca_held_out"] for row in results["cca"]
    }
    for layer in DIGITS_LAYERS:
        for pair in untrained:
            assert pwcca[layer, "a~b"] > pwcca[layer, pair], (layer, pair)


def test_chance_is_mean_and_range_over_untrained_nets(quick_demo):
    _, results, _ = quick_demo
    untrained = [f"a~{label}" for label in results["baselines"]]
    for layer in DIGITS_LAYERS:
        rows = [r for r in results["cca"] if r["layer"] == layer]
        values = [r["svcca_in_sample"] for r in rows if r["pair"] in untrained]
        assert len(values) == 3
        spread = results["chance"]["cca"][layer]["svcca_in_sample"]
        assert spread["mean"] == pytest.approx(np.mean(values), abs=1e-12)
        assert spread["range"] == [min(values), max(values)]
        ab = next(r for r in rows if r["pair"] == "a~b")
        # the interval brackets a bootstrap distribution near the statistic
        assert ab["svcca_in_sample_ci_low"] < ab["svcca_in_sample_ci_high"]
        assert 0 <= ab["svcca_in_sample_ci_low"] <= 1
        # the summary says above exactly when the interval clears the range
        above = ab["svcca_in_sample_ci_low"] > spread["range"][1]
        assert results["summary"]["SVCCA fit"][layer] == above


def test_kept_directions_are_reported(quick_demo):
    _, results, report = quick_demo
    grid = results["svcca_layer_grid"]
    for row in results["cca"]:
        for key in ("svcca", "pwcca"):
            assert 1 <= row[f"{key}_kept_a"] <= 32
        assert row["svcca_kept_a"] <= row["pwcca_kept_a"]
    assert len(grid["kept_a"]) == len(grid["kept_b"]) == len(DIGITS_LAYERS)
    assert "kept_a" in report and "kept_b" in report


def test_sparse_loss_counts_live_units_only(quick_demo):
    output, results, _ = quick_demo
    sparse = results["sparse_prediction"]
    for layer, (n_live, n_units) in sparse["live_units"].items():
        assert 0 < n_live <= n_units
    # relu4 has dead units in net b: at the largest decay every live unit's
    # prediction is near its mean, so the live-unit loss is near 0.5
    assert sparse["live_units"]["relu4"][0] < sparse["live_units"]["relu4"][1]
    assert sparse["held_out_loss"]["relu4"][-1] > 0.45


def test_matching_below_semi_matching(quick_demo):
    _, results, _ = quick_demo
    for pair in ("a~b", *(f"a~{label}" for label in results["baselines"])):
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
