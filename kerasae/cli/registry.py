"""The registry of model families known to the command line (``kerasae train MODEL``).

Each family's CLI glue lives in ``kerasae/cli/families/<family>.py``: at import it registers its entries
with :func:`register_model`, giving a builder and the command-line options of its own. Family modules import
nothing heavy at module level (their options are plain data), so ``kerasae --help`` starts without
TensorFlow; the builders import the models when called. The CLI adds the options common to all (data set,
architecture, latent size, epochs, ...) and runs the standard procedure unless an entry supplies its own
``fit``.
"""

import argparse
import dataclasses
import importlib
import sys
from typing import Callable

from kerasae.cli.arguments import common_arguments

#: Modules of ``kerasae.cli.families`` whose import registers the CLI's model names.
FAMILIES = ("autoencoder", "linear", "sparse", "denoising", "contractive", "stacked", "vae", "hvae", "semi_supervised",
            "m2")

MODELS = {}


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """How the CLI builds, trains and reports one model.

    Attributes:
        name: The name on the command line, e.g. ``"sparse"``.
        build: ``build(args, data) -> keras.Model`` (uncompiled); ``args`` is the parsed namespace,
            ``data`` the loaded :class:`kerasae.data.datasets.Dataset`.
        help: One line for ``kerasae train --help``.
        arguments: Options of this model, ``((flags...), argparse kwargs)`` pairs.
        fit: Optional ``fit(model, data, args, callbacks) -> keras.callbacks.History`` replacing the
            standard ``model.fit`` on ``data.pipeline("train")``.
        evaluate: Optional ``evaluate(model, data, args) -> dict`` of extra test metrics.
        plots: Optional ``plots(model, data, out_dir) -> list of written paths``, replacing the standard
            reconstruction and 2-D code plots (the loss curves are always drawn).
        data_options: Keyword arguments for :func:`kerasae.data.datasets.load` implied by the model,
            computed from ``args`` (e.g. dynamic binarisation for a Bernoulli VAE).
        pipeline: Optional ``pipeline(model, data, split, batch_size) -> tf.data.Dataset`` replacing
            ``data.pipeline(split, batch_size)`` for training and evaluation (e.g. ``(x, condition)`` inputs,
            or ``(x, labels)``).
        model_class: The name of the class ``build`` returns (e.g. ``"VAE"``): ``evaluate`` checks that a
            run's ``model.keras`` holds one.
        defaults: ``((dest, value), ...)``: this model's own defaults of common options (e.g. the paper's
            ``activation`` and ``latent_dim``), in place of the common ones.
        unused_options: Optional ``unused_options(args) -> [(option, reason), ...]``: options given with a
            value other than their default that this model (with these settings) would ignore; the CLI
            refuses them (see :func:`check_options_apply`). The architecture's own (``--hidden-units`` with
            conv, ``--filters`` with an MLP) are checked for every model.
    """

    name: str
    build: Callable
    help: str
    arguments: tuple = ()
    fit: Callable | None = None
    evaluate: Callable | None = None
    plots: Callable | None = None
    data_options: Callable | None = None
    pipeline: Callable | None = None
    model_class: str | None = None
    unused_options: Callable | None = None
    defaults: tuple = ()

    def make_pipeline(self, model, data, split, batch_size):
        """The ``tf.data`` pipeline of one split for this model."""
        if self.pipeline is not None:
            return self.pipeline(model, data, split, batch_size)
        return data.pipeline(split, batch_size)


def register_model(
    name, build, *, help, arguments=(), fit=None, evaluate=None, plots=None, data_options=None, pipeline=None,
    model_class=None, unused_options=None, defaults=None,
):
    """Registers a model for the CLI; returns its :class:`ModelEntry`."""
    if name in MODELS:
        raise ValueError(f"A model named {name!r} is already registered.")
    entry = ModelEntry(
        name, build, help, tuple(arguments), fit, evaluate, plots, data_options, pipeline, model_class, unused_options,
        tuple(sorted((defaults or {}).items())),
    )
    MODELS[name] = entry
    return entry


def models():
    """Every registered entry, ``name -> ModelEntry`` (imports the family modules once)."""
    for family in FAMILIES:
        importlib.import_module(f"kerasae.cli.families.{family}")
    return MODELS


def add_model_options(parser, entry):
    """Adds ``entry``'s own options to ``parser`` (a group "MODEL options") and its own defaults of common
    options; returns ``parser``."""
    parser.set_defaults(**dict(entry.defaults))
    if entry.arguments:
        group = parser.add_argument_group(f"{entry.name} options")
        for flags, kwargs in entry.arguments:
            group.add_argument(*flags, **kwargs)
    return parser


def model_parser(entry, parser_class=argparse.ArgumentParser):
    """A parser of ``kerasae train MODEL``'s options (the common ones and ``entry``'s), without the
    command and model names."""
    parser = parser_class(prog=f"kerasae train {entry.name}", parents=[common_arguments()], add_help=False)
    return add_model_options(parser, entry)


def option_defaults(entry):
    """The default of every ``kerasae train MODEL`` option of ``entry``, ``dest -> value``."""
    return vars(model_parser(entry).parse_args([]))


def check_options_apply(args, entry):
    """Refuses options that the model would silently ignore (``--loss`` for a VAE, ``--filters`` for an MLP,
    ...): raises ``ValueError`` naming each, which model or architecture takes it, and the fix."""
    defaults = option_defaults(entry)
    changed = {dest for dest, default in defaults.items() if getattr(args, dest, default) != default}
    unused = []
    if "hidden_units" in changed and args.architecture == "conv":
        unused.append(("--hidden-units", "it sets the widths of --architecture mlp; conv networks take --filters"))
    if "filters" in changed and args.architecture == "mlp":
        unused.append(("--filters", "it sets the blocks of --architecture conv; MLPs (the default) take --hidden-units"))
    if entry.unused_options is not None:
        unused += [(option, reason) for option, reason in entry.unused_options(args)
                   if option.split()[0].lstrip("-").replace("-", "_") in changed]
    if unused:
        options = ", ".join(option for option, _ in unused)
        reasons = "; ".join(f"{option}: {reason}" for option, reason in unused)
        raise ValueError(
            f"{options} {'does' if len(unused) == 1 else 'do'} not apply to 'kerasae train {entry.name}' ({reasons}). "
            f"Fix: drop {options}."
        )


def keras_verbose(args):
    """Keras' ``verbose`` for a run: ``--verbose`` when given, else a progress bar on a terminal, one line
    per epoch otherwise (logs, CI)."""
    verbose = getattr(args, "verbose", None)
    if verbose is not None:
        return verbose
    return "auto" if sys.stdout.isatty() else 2


def networks_from_args(args, data, latent_dim=None, input_shape=None, **overrides):
    """Builds ``(encoder, decoder)`` from the CLI's common options (architecture, widths, dropout, ...).

    Args:
        args: The parsed namespace (``architecture``, ``latent_dim``, ``hidden_units``, ``filters``,
            ``activation``, ``dropout``).
        data: The loaded dataset (for the input shape).
        latent_dim: Encoder output width; defaults to ``args.latent_dim``.
        input_shape: The encoder's input shape; defaults to ``data.input_shape``.
        **overrides: Builder keyword arguments that take precedence (e.g. ``code_activation``).

    Returns:
        ``(encoder, decoder)``.
    """
    from kerasae import networks

    kwargs = {"activation": args.activation, "dropout": args.dropout}
    if args.architecture == "mlp" and args.hidden_units is not None:
        kwargs["hidden_units"] = args.hidden_units
    if args.architecture == "conv" and args.filters is not None:
        kwargs["filters"] = args.filters
    kwargs.update(overrides)
    shape = tuple(input_shape if input_shape is not None else data.input_shape)
    return networks.build(args.architecture, shape, latent_dim or args.latent_dim, **kwargs)
