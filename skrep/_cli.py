"""The ``skrep`` command line: ``skrep demo``, ``skrep compare``, ``skrep layers``.

Every mistake a user can make on the command line (a missing file, inputs of
the wrong shape or type, a misspelt layer, layers that disagree in rows, an
unavailable device) is raised as :class:`UserError` and printed by
:func:`main` as one short ``skrep: error: ...`` line (exit status 2); the
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import sys
import traceback

import numpy as np

DESCRIPTION = """\
Compare what two neural networks learn, layer by layer.

  skrep demo      train two small CNNs on scikit-learn's digits with
                  different seeds and compare them (the default command)
  skrep compare   run the same analysis on your own two models
  skrep layers    list a model's layers and their output shapes

A model is either a file written by torch.save(model) (a whole pickled
module: load only files you trust) or module:factory, a callable in an
importable module (a .py file in the current folder works) that returns
the torch.nn.Module; give its trained weights with --weights-a/--weights-b.
"""

#: Fewest held-out (and training) examples ``skrep compare`` accepts.
MIN_EXAMPLES = 10


class UserError(ValueError):
    """A mistake on the command line, reported as one message (no traceback)."""


def _warn(message):
    print(f"skrep: warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------
# the parser


def _parser():
    class Formatter(
        argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter
    ):
        """Plain text with the defaults, leaving out the empty ones."""

        def _get_help_string(self, action):
            if action.default is None or action.default is False or action.required:
                return action.help
            return super()._get_help_string(action)

    parser = argparse.ArgumentParser(
        prog="skrep", description=DESCRIPTION, formatter_class=Formatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(sub):
        sub.add_argument(
            "--device",
            default=None,
            help="where the forward passes run, e.g. cpu or cuda "
            "(default: where the model's weights are)",
        )
        sub.add_argument(
            "--debug",
            action="store_true",
            help="show the full traceback when something goes wrong",
        )

    demo = commands.add_parser(
        "demo",
        help="the digits demo (default)",
        description="Train two small CNNs on scikit-learn's digits with different\n"
        "seeds and compare them, next to an untrained network.",
        formatter_class=Formatter,
    )
    demo.add_argument(
        "--output-dir", default="skrep-output", help="where tables and figures go"
    )
    common(demo)
    demo.add_argument(
        "--seeds",
        type=int,
        nargs=2,
        default=(0, 1),
        metavar="SEED",
        help="seeds of the two trained networks",
    )
    demo.add_argument(
        "--epochs", type=int, default=None, help="training epochs (15, or 4 if quick)"
    )
    demo.add_argument(
        "--quick", action="store_true", help="small nets, few epochs (seconds)"
    )

    compare = commands.add_parser(
        "compare",
        help="your own models",
        description="Compare two of your models on your inputs: unit matching,\n"
        "sparse prediction, SVCCA and PWCCA, fitted on one part of the inputs\n"
        "and scored on the held-out rest.",
        formatter_class=Formatter,
    )
    compare.add_argument(
        "--model-a",
        required=True,
        metavar="MODEL",
        help="torch.save'd module file (.pt), or module:factory",
    )
    compare.add_argument(
        "--model-b", required=True, metavar="MODEL", help="the same, second model"
    )
    compare.add_argument(
        "--weights-a", metavar="FILE", help="state-dict file for a factory model a"
    )
    compare.add_argument(
        "--weights-b", metavar="FILE", help="state-dict file for a factory model b"
    )
    compare.add_argument(
        "--inputs",
        required=True,
        metavar="FILE",
        help=".npy file of inputs, first axis examples",
    )
    compare.add_argument(
        "--layers",
        required=True,
        nargs="+",
        metavar="LAYER",
        help="module names in both models, or NAME_A=NAME_B pairs "
        "(see skrep layers MODEL)",
    )
    compare.add_argument(
        "--reduction",
        choices=("positions", "mean", "flatten"),
        default="positions",
        help="how a layer's output becomes rows x units: positions makes every "
        "spatial position of a conv layer a row; mean averages over positions; "
        "flatten makes every (channel, position) a unit",
    )
    compare.add_argument(
        "--test-size",
        type=float,
        default=0.3,
        help="share of the inputs held out for scoring",
    )
    compare.add_argument(
        "--split",
        choices=("shuffle", "last"),
        default="shuffle",
        help="which inputs are held out: a random subset drawn with --seed, "
        "or the last rows",
    )
    compare.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the shuffled split and of the baseline's initialisation",
    )
    compare.add_argument(
        "--baseline",
        action="store_true",
        help="also compare model a with an untrained copy of itself "
        "(freshly initialised), as the chance level",
    )
    compare.add_argument(
        "--output-dir", default="skrep-output", help="where tables and figures go"
    )
    common(compare)

    layers = commands.add_parser(
        "layers",
        help="list a model's layers",
        description="List a model's layers (the names --layers takes) with\n"
        "their output shapes on one example input.",
        formatter_class=Formatter,
    )
    layers.add_argument("model", metavar="MODEL", help="as for skrep compare")
    layers.add_argument(
        "--weights", metavar="FILE", help="state-dict file for a factory model"
    )
    layers.add_argument(
        "--inputs",
        metavar="FILE",
        help=".npy file of inputs; its first example is run through the model "
        "(without it, only names and types are listed)",
    )
    common(layers)
    return parser


# --------------------------------------------------------------------------
# loading


def _check_device(device):
    """Fail before any work on a device that does not exist here."""
    if device is None:
        return None
    import torch

    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UserError(
            f"--device {device!r} is not a torch device; use e.g. cpu or cuda."
        ) from exc
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": hasattr(torch.backends, "mps") and torch.backends.mps.is_available(),
    }.get(resolved.type)
    if available is None:
        try:
            torch.empty(1, device=resolved)
            available = True
        except Exception:  # noqa: BLE001 - any failure means unusable
            available = False
    if not available:
        raise UserError(
            f"--device {device!r}: {resolved.type} is not available on this "
            "machine; use --device cpu (or leave --device out)."
        )
    if resolved.type == "cuda" and resolved.index is not None:
        if resolved.index >= torch.cuda.device_count():
            raise UserError(
                f"--device {device!r}: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s); use --device cuda:0."
            )
    return device


def _load_file(path, what):
    import torch

    if not os.path.exists(path):
        raise UserError(f"{what}: no such file {path!r} (in {os.getcwd()}).")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as exc:
        raise UserError(
            f"{what}: {path!r} pickles a class from module {exc.name!r}, which "
            f"cannot be imported; run skrep from the folder holding "
            f"{exc.name}.py or add that folder to PYTHONPATH."
        ) from exc
    except Exception as exc:
        raise UserError(
            f"{what}: cannot read {path!r} with torch.load "
            f"({type(exc).__name__}: {_first_line(exc)})."
        ) from exc


def _first_line(exc, limit=200):
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    text = lines[0] if lines else type(exc).__name__
    if text.endswith(":") and len(lines) > 1:  # a heading: keep what it heads
        text = " ".join(lines[:3])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _factory(spec, what):
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UserError(
            f"{what}: {spec!r} should read module:factory, e.g. mymodels:make_net."
        )
    try:
        if module_name.endswith(".py"):
            module = _import_path(module_name, what)
        else:
            module = importlib.import_module(module_name)
    except UserError:
        raise
    except ModuleNotFoundError as exc:
        raise UserError(
            f"{what}: cannot import module {exc.name!r} for {spec!r}; put "
            f"{module_name.replace('.', '/')}.py in the current folder "
            f"({os.getcwd()}) or add its folder to PYTHONPATH."
        ) from exc
    except Exception as exc:
        raise UserError(
            f"{what}: importing {module_name!r} failed "
            f"({type(exc).__name__}: {_first_line(exc)})."
        ) from exc
    factory = getattr(module, attribute, None)
    if factory is None:
        public = [n for n in vars(module) if not n.startswith("_")]
        callables = [n for n in public if callable(getattr(module, n))]
        raise UserError(
            f"{what}: module {module_name!r} has no {attribute!r}; callables "
            f"there: {', '.join(callables[:10]) or 'none'}."
        )
    if not callable(factory):
        raise UserError(f"{what}: {spec!r} is not callable.")
    return factory


def _import_path(path, what):
    """Import a module from a ``.py`` file (``models.py:factory``)."""
    import importlib.util

    if not os.path.exists(path):
        raise UserError(f"{what}: no such file {path!r} (in {os.getcwd()}).")
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def _is_dotted_factory(spec):
    """Whether ``spec`` looks like module.factory written without the colon."""
    module_name, _, attribute = spec.rpartition(".")
    if not module_name or not attribute.isidentifier():
        return False
    if not all(part.isidentifier() for part in module_name.split(".")):
        return False
    try:
        module = importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - only a guess for the message
        return False
    return callable(getattr(module, attribute, None))


def load_model(spec, weights=None, *, what="model", warn_untrained=True):
    """Load a torch module from a saved file or an importable factory.

    Returns ``(model, factory)``, ``factory`` being None for a saved file.
    """
    import torch

    factory = None
    if ":" in spec and not spec.endswith((".pt", ".pth")) and not os.path.exists(spec):
        factory = _factory(spec, what)
        try:
            model = factory()
        except Exception as exc:
            raise UserError(
                f"{what}: calling {spec}() failed "
                f"({type(exc).__name__}: {_first_line(exc)}); the factory must "
                "take no arguments and return a torch.nn.Module."
            ) from exc
    else:
        if not os.path.exists(spec) and _is_dotted_factory(spec):
            module_name, _, attribute = spec.rpartition(".")
            raise UserError(
                f"{what}: {spec!r} is not a file; to name a factory write "
                f"{module_name}:{attribute} (a colon before the callable)."
            )
        model = _load_file(spec, what)
    if isinstance(model, dict) and not isinstance(model, torch.nn.Module):
        raise UserError(
            f"{what}: {spec!r} holds a state dict, not a model; give a factory "
            f"(module:factory) and pass this file as its weights "
            f"(--weights-{what[-1]} {spec})."
        )
    if not isinstance(model, torch.nn.Module):
        raise UserError(
            f"{what}: {spec!r} gave a {type(model).__name__}, not a torch.nn.Module."
        )
    if weights is not None:
        state = _load_file(weights, f"{what} weights")
        if isinstance(state, torch.nn.Module):
            state = state.state_dict()
        try:
            model.load_state_dict(state)
        except Exception as exc:
            raise UserError(
                f"{what}: the weights in {weights!r} do not fit {spec!r} "
                f"({_first_line(exc, 300)}); save them with "
                "torch.save(model.state_dict(), path) from the same architecture."
            ) from exc
    elif factory is not None and warn_untrained:
        _warn(
            f"{what}: {spec} was given no weights, so it runs on random "
            f"(untrained) weights; pass --weights-{what[-1]} FILE to load "
            "trained ones."
        )
    return model.eval(), factory


def load_inputs(path):
    """Load the ``.npy`` inputs, with a message for every way that fails."""
    if not os.path.exists(path):
        raise UserError(f"inputs: no such file {path!r} (in {os.getcwd()}).")
    try:
        inputs = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise UserError(
            f"inputs: cannot read {path!r} as a .npy array "
            f"({_first_line(exc)}); save the inputs with np.save(path, array)."
        ) from exc
    if isinstance(inputs, np.lib.npyio.NpzFile):
        names = list(inputs.files)
        inputs.close()
        raise UserError(
            f"inputs: {path!r} is an .npz archive (arrays: {', '.join(names)}); "
            "give one array as .npy, e.g. np.save('inputs.npy', "
            f"np.load({path!r})[{names[0] if names else 'name'!r}])."
        )
    if inputs.ndim == 0 or len(inputs) == 0:
        raise UserError(
            f"inputs: {path!r} holds an array of shape {inputs.shape}; it needs "
            "a first axis of examples."
        )
    if inputs.dtype.kind not in "biuf":
        raise UserError(
            f"inputs: {path!r} holds {inputs.dtype} data; give numbers (e.g. float32)."
        )
    return inputs


# --------------------------------------------------------------------------
# the dry forward pass


def _first_layer(model):
    """Describe what the first conv or linear module takes, as a hint."""
    import torch

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.modules.conv._ConvNd):
            dims = len(module.kernel_size)
            shape = ", ".join(["N", str(module.in_channels)] + list("DHW"[-dims:]))
            return f"its first layer {name} ({type(module).__name__}) takes ({shape})"
        if isinstance(module, torch.nn.Linear):
            return f"its first layer {name} (Linear) takes (N, {module.in_features})"
    return None


def _example(inputs, model):
    import torch

    x = torch.as_tensor(np.ascontiguousarray(inputs[:1]))
    if x.is_floating_point():
        for tensor in model.parameters():
            if tensor.is_floating_point():
                x = x.to(tensor.dtype)
                break
    return x


def dry_run(model, inputs, what, *, layers=None):
    """Run one example through ``model``; return ``{layer: output shape}``.

    ``layers=None`` records every module. Failures become :class:`UserError`
    naming the model, the example's shape, what the model takes and the fix.
    """
    import torch

    modules = dict(model.named_modules())
    if layers is not None:
        missing = [name for name in layers if name not in modules]
        if missing:
            names = [n for n in modules if n]
            shown = ", ".join(names[:15]) + (", ..." if len(names) > 15 else "")
            raise UserError(
                f"{what} has no layer {', '.join(map(repr, missing))}; its layers: "
                f"{shown} (list them with: skrep layers MODEL)."
            )
    shapes = {}

    def hook(name):
        def record(module, args, output):
            while isinstance(output, (tuple, list)) and output:
                output = output[0]
            if isinstance(output, torch.Tensor):
                shapes[name] = tuple(output.shape)
            else:
                shapes[name] = type(output).__name__

        return record

    wanted = [n for n in modules if n] if layers is None else list(layers)
    handles = [modules[name].register_forward_hook(hook(name)) for name in wanted]
    x = _example(inputs, model)
    try:
        with torch.no_grad():
            model(x)
    except Exception as exc:
        hint = _first_layer(model)
        fix = []
        if not x.is_floating_point():
            fix.append(
                f"the inputs are {inputs.dtype} integers; save them as floats, "
                "e.g. np.save(path, x.astype('float32'))"
            )
        elif hint:
            fix.append(f"{hint}; reshape the inputs to match")
        fix = "; ".join(fix) or "give inputs the model accepts"
        raise UserError(
            f"{what} fails on one example of shape {tuple(x.shape)} (inputs "
            f"{inputs.shape}, {inputs.dtype}): {_first_line(exc)}. Fix: {fix}."
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _rows_per_example(shape, reduction):
    """Rows and units one example gives under ``reduction``."""
    if not isinstance(shape, tuple) or len(shape) < 2:
        return None, None
    if reduction == "flatten":
        return 1, int(np.prod(shape[1:]))
    if reduction == "mean" or len(shape) == 2:
        return 1, shape[1]
    return int(np.prod(shape[2:])), shape[1]


# --------------------------------------------------------------------------
# the commands


def _untrained_copy(model, factory, seed, what):
    import torch

    torch.manual_seed(seed)
    if factory is not None:
        return factory().eval()
    baseline = copy.deepcopy(model)
    reset = [m for m in baseline.modules() if hasattr(m, "reset_parameters")]
    if not reset:
        raise UserError(
            f"--baseline: {what} has no module with reset_parameters(), so it "
            "cannot be re-initialised; give it as module:factory instead."
        )
    for module in reset:
        module.reset_parameters()
    return baseline.eval()


def _split(n, test_size, split, seed):
    if not 0 < test_size < 1:
        raise UserError(f"--test-size {test_size} must be between 0 and 1 (e.g. 0.3).")
    n_test = max(2, int(round(test_size * n)))
    n_train = n - n_test
    if n_test < MIN_EXAMPLES or n_train < MIN_EXAMPLES:
        raise UserError(
            f"{n} inputs split into {n_train} for fitting and {n_test} held out "
            f"(--test-size {test_size}); each part needs at least {MIN_EXAMPLES} "
            f"examples: give at least {_needed(test_size)} inputs."
        )
    order = (
        np.random.RandomState(seed).permutation(n)
        if split == "shuffle"
        else np.arange(n)
    )
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def _needed(test_size):
    n = MIN_EXAMPLES
    while True:
        n_test = max(2, int(round(test_size * n)))
        if n_test >= MIN_EXAMPLES and n - n_test >= MIN_EXAMPLES:
            return n
        n += 1


def _compare(args):
    from skrep._demo import analyse_networks

    device = _check_device(args.device)
    inputs = load_inputs(args.inputs)
    pairs = [tuple(p.split("=", 1)) if "=" in p else (p, p) for p in args.layers]
    loaded = {}
    for key, spec, weights in (
        ("a", args.model_a, args.weights_a),
        ("b", args.model_b, args.weights_b),
    ):
        loaded[key] = load_model(spec, weights, what=f"model {key}")
    shapes = {
        key: dry_run(
            loaded[key][0],
            inputs,
            f"model {key} ({spec})",
            layers=[pair[index] for pair in pairs],
        )
        for index, (key, spec) in enumerate((("a", args.model_a), ("b", args.model_b)))
    }
    train_index, test_index = _split(len(inputs), args.test_size, args.split, args.seed)
    thin, described = [], []
    for layer_a, layer_b in pairs:
        rows, units = {}, {}
        for key, layer in (("a", layer_a), ("b", layer_b)):
            shape = shapes[key][layer]
            rows[key], units[key] = _rows_per_example(shape, args.reduction)
            if rows[key] is None:
                raise UserError(
                    f"layer {layer!r} of model {key} gives {shape} for one "
                    "example, not an (examples, units, ...) tensor; pick another "
                    "layer (skrep layers MODEL)."
                )
        if rows["a"] != rows["b"]:
            raise UserError(
                f"layers disagree in rows: under --reduction {args.reduction} "
                f"every spatial position is a row, so {layer_a!r} of model a "
                f"(output {shapes['a'][layer_a]}) gives {rows['a']} row(s) per "
                f"example and {layer_b!r} of model b (output "
                f"{shapes['b'][layer_b]}) gives {rows['b']}; use --reduction "
                "mean or flatten, or pair layers of the same kind."
            )
        described.append(
            f"  {layer_a if layer_a == layer_b else f'{layer_a}~{layer_b}'}: "
            f"a {shapes['a'][layer_a]} -> {units['a']} units, "
            f"b {shapes['b'][layer_b]} -> {units['b']} units, "
            f"{rows['a']} row(s) per example"
        )
        held_out_rows = rows["a"] * len(test_index)
        if held_out_rows < max(units.values()):
            thin.append((layer_a, held_out_rows, max(units.values())))
    if thin:
        layer, held_out_rows, width = max(thin, key=lambda item: item[2])
        _warn(
            f"only {len(test_index)} held-out examples ({held_out_rows} rows) "
            f"for layer {layer!r} of up to {width} units"
            + (f" and {len(thin) - 1} more layer(s)" if len(thin) > 1 else "")
            + ": held-out scores are noisy and CCA in-sample scores trivially "
            "high; give more inputs or compare narrower layers."
        )
    nets = {key: loaded[key][0] for key in loaded}
    baseline = None
    if args.baseline:
        baseline = _untrained_copy(
            loaded["a"][0], loaded["a"][1], args.seed + 1000, "model a"
        )
    layers = [a if a == b else (a, b) for a, b in pairs]
    # the extraction itself, on two examples, so that its failures name a model
    from skrep._demo import extract_layers

    for key, net in (("a", nets["a"]), ("b", nets["b"]), ("baseline", baseline)):
        if net is None:
            continue
        pairs_now = [(p, p) if isinstance(p, str) else p for p in layers]
        names = [pair[1] if key == "b" else pair[0] for pair in pairs_now]
        try:
            extract_layers(
                net, names, inputs[train_index[:2]], reduction=args.reduction,
                device=device,
            )  # fmt: skip
        except Exception as exc:
            raise UserError(
                f"reading layers {', '.join(names)} of model {key} failed "
                f"({type(exc).__name__}: {_first_line(exc, 300)})."
            ) from exc
    print(
        f"skrep compare: {len(train_index)} inputs for fitting, {len(test_index)} "
        f"held out ({args.split} split, seed {args.seed}), reduction "
        f"{args.reduction}; layers (output shape on one example):"
    )
    for line in described:
        print(line)
    try:
        analyse_networks(
            nets["a"],
            nets["b"],
            inputs[train_index],
            inputs[test_index],
            layers,
            baseline=baseline,
            output_dir=args.output_dir,
            device=device,
            reduction=args.reduction,
            progress=lambda message: print(f"... {message}"),
        )
    except (ValueError, RuntimeError, TypeError) as exc:
        raise UserError(
            f"the analysis failed: {_first_line(exc, 300)} (rerun with --debug "
            "for the traceback)."
        ) from exc
    return 0


def _layers(args):
    _check_device(args.device)
    model, _ = load_model(args.model, args.weights, what="model", warn_untrained=False)
    shapes = {}
    if args.inputs is not None:
        shapes = dry_run(model, load_inputs(args.inputs), f"model ({args.model})")
    rows = [
        (name, type(module).__name__, shapes.get(name, ""))
        for name, module in model.named_modules()
        if name
    ]
    if not rows:
        print(f"{args.model} has no named submodules.")
        return 0
    header = ("layer", "type", "output shape (one example)" if shapes else "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(2)]
    for name, kind, shape in [header, *rows]:
        shape = str(shape) if shape != "" else ""
        print(f"{name:<{widths[0]}}  {kind:<{widths[1]}}  {shape}".rstrip())
    return 0


def main(argv=None):
    """Run the command line; returns the exit status.

    From the command line (``argv=None``: the console script and
    ``python -m skrep``) a :class:`UserError` is printed as one
    ``skrep: error:`` line on stderr and gives status 2 (with ``--debug``
    after the traceback); from Python (an explicit ``argv``) it propagates.
    """
    from_command_line = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["demo", *argv]
    # a model class in the user's own file (mymodels.py) must import and unpickle
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from skrep._demo import run_demo

            _check_device(args.device)
            run_demo(
                output_dir=args.output_dir,
                seeds=tuple(args.seeds),
                device=args.device,
                quick=args.quick,
                epochs=args.epochs,
            )
            return 0
        if args.command == "layers":
            return _layers(args)
        return _compare(args)
    except UserError as exc:
        if not from_command_line or args.debug:
            if args.debug:
                traceback.print_exc()
            if not from_command_line:
                raise
        print(f"skrep: error: {exc}", file=sys.stderr)
        return 2
