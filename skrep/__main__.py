"""``python -m skrep`` / ``skrep``: compare two networks end to end.

``skrep demo`` (the default) trains two small CNNs on scikit-learn's digits
with different seeds and reports unit matching, sparse prediction, SVCCA
and PWCCA layer by layer, next to an untrained network as the chance level.
``skrep compare`` runs the same analysis on your own two models.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import numpy as np


def _load_model(spec, weights=None):
    """Load a torch module from a saved file or an importable factory.

    ``spec`` is either a file written by ``torch.save(model)`` (a whole
    pickled module: load only files you trust) or ``"package.module:factory"``
    naming a callable that returns the module; ``weights`` is then an
    optional state-dict file loaded into it.
    """
    import torch

    if ":" in spec and not spec.endswith((".pt", ".pth")):
        module_name, _, attribute = spec.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        model = factory()
    else:
        model = torch.load(spec, map_location="cpu", weights_only=False)
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu"))
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{spec!r} did not give a torch.nn.Module.")
    return model.eval()


def _parser():
    parser = argparse.ArgumentParser(
        prog="skrep", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command")
    for name in ("demo", "compare"):
        sub = commands.add_parser(
            name,
            help="the digits demo (default)" if name == "demo" else "your own models",
        )
        sub.add_argument(
            "--output-dir", default="skrep-output", help="where tables and figures go"
        )
        sub.add_argument("--device", default=None, help="e.g. cpu or cuda")
    demo = commands.choices["demo"]
    demo.add_argument("--seeds", type=int, nargs=2, default=(0, 1), metavar="SEED")
    demo.add_argument("--epochs", type=int, default=None)
    demo.add_argument(
        "--quick", action="store_true", help="small nets, few epochs (seconds)"
    )
    compare = commands.choices["compare"]
    compare.add_argument(
        "--model-a",
        required=True,
        help="torch.save'd module file, or package.module:factory",
    )
    compare.add_argument("--model-b", required=True)
    compare.add_argument("--weights-a", help="state-dict file for a factory model")
    compare.add_argument("--weights-b")
    compare.add_argument(
        "--inputs", required=True, help=".npy file of inputs, first axis samples"
    )
    compare.add_argument(
        "--layers",
        required=True,
        nargs="+",
        help="module names in both models, or NAME_A=NAME_B pairs",
    )
    compare.add_argument(
        "--test-size",
        type=float,
        default=0.3,
        help="share of the inputs held out for scoring (the last rows)",
    )
    return parser


def main(argv=None):
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["demo", *argv]
    args = _parser().parse_args(argv)
    from skrep._demo import analyse_networks, run_demo

    if args.command == "demo":
        run_demo(
            output_dir=args.output_dir,
            seeds=tuple(args.seeds),
            device=args.device,
            quick=args.quick,
            epochs=args.epochs,
        )
        return 0
    inputs = np.load(args.inputs)
    if not 0 < args.test_size < 1:
        raise SystemExit("--test-size must be between 0 and 1.")
    n_test = max(2, int(round(args.test_size * len(inputs))))
    layers = [tuple(p.split("=", 1)) if "=" in p else p for p in args.layers]
    analyse_networks(
        _load_model(args.model_a, args.weights_a),
        _load_model(args.model_b, args.weights_b),
        inputs[:-n_test],
        inputs[-n_test:],
        layers,
        output_dir=args.output_dir,
        device=args.device,
        progress=lambda message: print(f"... {message}"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
