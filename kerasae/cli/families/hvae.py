"""CLI glue of the two-stochastic-layer VAEs (``kerasae train hvae|hiwae``): builders and options.

The evaluation (test ELBO and importance-weighted NLL), plots, data options (dynamic binarisation for the
Bernoulli likelihood) and refused options are the variational family's (:mod:`kerasae.cli.families.vae`).
"""

import argparse

from kerasae.cli.arguments import int_list, positive_int
from kerasae.cli.families.vae import _BETA_OPTIONS, _COMMON_OPTIONS, _model_kwargs, register_variational

#: ``--h1-dim`` and ``--top-hidden-units`` defaults (:data:`kerasae.models.hvae.DEFAULT_LATENT_DIMS` and
#: ``DEFAULT_HIDDEN_UNITS``; spelled out here so that ``--help`` needs no TensorFlow).
H1_DIM = 100
TOP_HIDDEN_UNITS = (100, 100)
#: The bottom MLPs' widths without ``--hidden-units``.
HIDDEN_UNITS = (200, 200)

_HIERARCHY_OPTIONS = (
    (("--h1-dim",), {"type": positive_int, "default": H1_DIM,
                     "help": f"size of the lower stochastic layer h1; --latent-dim sets the top code h2 "
                     f"(default: {H1_DIM})"}),
    (("--top-hidden-units",), {"type": int_list, "default": TOP_HIDDEN_UNITS,
                               "help": "widths of the MLPs between h1 and h2, widest first (default: "
                               f"{','.join(map(str, TOP_HIDDEN_UNITS))}); --hidden-units sets those between x and h1 "
                               f"(default: {','.join(map(str, HIDDEN_UNITS))})"}),
)
#: The variational family's options, less ``--posterior`` (the normals here are diagonal).
_OPTIONS = tuple(option for option in _COMMON_OPTIONS if option[0] != ("--posterior",)) + _HIERARCHY_OPTIONS
#: The common options' defaults for these models: Burda et al.'s (with the defaults of their own options).
DEFAULTS = {"latent_dim": 50, "activation": "tanh"}
_PAPER = ("defaults: Burda et al.'s MNIST model, --latent-dim 50 --activation tanh "
          f"--h1-dim {H1_DIM} --hidden-units {','.join(map(str, HIDDEN_UNITS))} "
          f"--top-hidden-units {','.join(map(str, TOP_HIDDEN_UNITS))}")


def _builder(class_name, default_samples):
    """A registry ``build(args, data)`` for ``kerasae.models.hvae.class_name``; ``--num-samples`` defaults to
    ``default_samples``."""

    def build(args, data):
        from kerasae.models import hvae

        cls = getattr(hvae, class_name)
        if getattr(args, "num_samples", None) is None:
            args.num_samples = default_samples
        diagonal = argparse.Namespace(**{**vars(args), "posterior": "diagonal"})  # the normals here are diagonal
        kwargs = _model_kwargs(diagonal, data, iwae=issubclass(cls, hvae.HierarchicalIWAE))
        del kwargs["posterior"]
        conv = args.architecture == "conv"
        bottom = None if conv else tuple(args.hidden_units or HIDDEN_UNITS)
        return cls.create(
            tuple(data.input_shape), latent_dims=(args.h1_dim, args.latent_dim),
            hidden_units=(bottom, tuple(args.top_hidden_units)), activation=args.activation,
            architecture=args.architecture, filters=args.filters if conv else None, dropout=args.dropout, **kwargs,
        )

    return build


register_variational(
    "hvae",
    _builder("HierarchicalVAE", 1),
    help=f"VAE with two stochastic layers x -> h1 -> h2 (-ELBO, optional beta and KL warm-up); {_PAPER}",
    model_class="HierarchicalVAE",
    arguments=_OPTIONS + _BETA_OPTIONS,
    defaults=DEFAULTS,
)
register_variational(
    "hiwae",
    _builder("HierarchicalIWAE", 5),
    help=f"IWAE with two stochastic layers x -> h1 -> h2 (k-sample bound, k = --num-samples, default 5); {_PAPER}",
    model_class="HierarchicalIWAE",
    arguments=_OPTIONS,
    defaults=DEFAULTS,
)
