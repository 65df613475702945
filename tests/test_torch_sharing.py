"""Models sharing modules, nested batch iterators, lock order, devices."""

import threading
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skrep import SVCCA, compare_layers  # noqa: E402
from skrep.torch import TorchActivationExtractor, compare_models  # noqa: E402


def _backbone_and_probe(seed=0):
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5)).double()
    probe = nn.Sequential(backbone, nn.Tanh(), nn.Linear(5, 3)).double()
    return backbone, probe


@pytest.mark.parametrize("repeated", ["error", "first", "mean", "last"])
@pytest.mark.parametrize("seed", [0, 1])
def test_models_sharing_a_module_are_compared_as_extracted(repeated, seed):
    # A probe stacked on a backbone runs the backbone's modules in its own
    # forward: the backbone's hooks must not record those calls.
    backbone, probe = _backbone_and_probe(seed)
    X = torch.randn(60, 4, dtype=torch.float64)
    params = {"dtype": np.float64, "repeated": repeated}
    estimator = SVCCA(svd_components=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        streamed = compare_models(
            backbone, probe, X, (["0", "2"], ["0.2", "2"]), estimator,
            batch_size=20, extractor_params=params,
        )  # fmt: skip
        acts_a = TorchActivationExtractor(backbone, ["0", "2"], **params).extract(X)
        acts_b = TorchActivationExtractor(probe, ["0.2", "2"], **params).extract(X)
        expected = compare_layers(acts_a, acts_b, estimator)
    np.testing.assert_allclose(streamed.scores, expected.scores, atol=1e-9)
    # The shared layer compared with itself: identical activations.
    assert streamed.scores[1, 0] == pytest.approx(1.0, abs=1e-9)


def test_zipped_batch_iterators_of_one_model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5))
    X = torch.randn(40, 4)
    first = TorchActivationExtractor(net, "1", batch_size=10)
    second = TorchActivationExtractor(net, "2", batch_size=10, reduction="max")
    pairs = list(zip(first.iter_batches(X), second.iter_batches(X)))
    np.testing.assert_array_equal(
        np.concatenate([a["1"] for a, _ in pairs]), first.extract(X)["1"]
    )
    np.testing.assert_array_equal(
        np.concatenate([b["2"] for _, b in pairs]), second.extract(X)["2"]
    )


@pytest.mark.parametrize("close_first", ["outer", "inner"])
def test_nested_iterators_restore_the_model_in_any_closing_order(close_first):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), nn.Linear(6, 5))
    net.train()
    net[1].eval()  # a mixed state, restored module by module
    X = torch.randn(40, 4)
    outer = TorchActivationExtractor(net, "0", batch_size=10).iter_batches(X)
    inner = TorchActivationExtractor(net, "2", batch_size=10).iter_batches(X)
    next(outer)
    next(inner)
    assert not net.training  # eval mode while they are open
    for iterator in (outer, inner) if close_first == "outer" else (inner, outer):
        iterator.close()
    assert net.training and net[0].training and not net[1].training
    assert not net[0]._forward_hooks and not net[2]._forward_hooks


def test_opposite_argument_orders_on_two_threads_do_not_deadlock():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
    b = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
    X = torch.randn(20, 4)
    done = [0, 0]
    errors = []

    def work(slot, first, second):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(40):
                    compare_models(first, second, X, ["1"], SVCCA())
                    done[slot] += 1
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=(0, a, b), daemon=True),
        threading.Thread(target=work, args=(1, b, a), daemon=True),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), done
    assert not errors and done == [40, 40]


def test_meta_device_is_refused_before_the_model_is_touched():
    net = nn.Sequential(nn.Linear(4, 5))
    weight = net[0].weight.detach().clone()
    with pytest.raises(ValueError, match="device='meta'"):
        TorchActivationExtractor(net, "0", device="meta").transform(torch.randn(3, 4))
    with pytest.raises(ValueError, match="device='meta'"):
        compare_models(net, net, torch.randn(6, 4), ["0"], SVCCA(), device="meta")
    assert net[0].weight.device.type == "cpu"
    assert torch.equal(net[0].weight, weight)


def test_unavailable_backend_is_a_value_error_naming_the_device():
    if torch.backends.mps.is_available():  # pragma: no cover - Apple machines
        pytest.skip("mps is available here")
    net = nn.Sequential(nn.Linear(4, 5))
    with pytest.raises(ValueError, match="device='mps' is not available"):
        TorchActivationExtractor(net, "0", device="mps").transform(torch.randn(3, 4))
    assert net[0].weight.device.type == "cpu"


def test_malformed_layers_get_errors_that_say_what_a_pair_is():
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU())
    X = torch.randn(20, 4)
    with pytest.raises(TypeError, match="element 0 of type int"):
        compare_models(net, net, X, [0, 1], SVCCA())
    with pytest.raises(TypeError, match="a list .or a callable. on each side"):
        compare_models(net, net, X, (["0", "1"], "1"), SVCCA())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = compare_models(net, net, X, (["0", "1"], ["1"]), SVCCA())
    assert grid.scores.shape == (2, 1)
