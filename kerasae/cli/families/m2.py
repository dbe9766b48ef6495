"""CLI glue of M2, the semi-supervised VAE, and of M1+M2 (``kerasae train m2 [--m1 VAE_RUN]``).

M2 trains on few labels (``--labels-per-class``, the rest of the training split unlabelled) in mixed batches, as
``kerasae train semi-supervised`` does (its label options and training loop are reused here).

M1+M2 (Kingma et al. 2014): M1 is a VAE trained on all the images, without labels, by ``kerasae train vae``
(or ``iwae``, ...); ``kerasae train m2 --m1 RUN`` then trains M2 on M1's posterior means. M1 comes from its run
folder, frozen, and is saved inside the M2 run's ``model.keras``: the run classifies, generates and exports from
images, and one M1 serves every label count and seed::

    kerasae train vae --latent-dim 16 --epochs 100 --out runs/m1
    kerasae train m2 --m1 runs/m1 --labels-per-class 5 --out runs/m1m2

With ``--m1``, M2's networks are MLPs on M1's codes (the data is laid out as M1 takes it: images for a conv M1),
the likelihood defaults to ``gaussian_learned``, and ``--dataset`` must be M1's. Train M1 with the same
``--seed`` (and ``--validation-split``) when the data set has no fixed test split (digits, files), so that M1 has
not seen the M2 run's test images.
"""

import argparse
import os

from kerasae.cli.arguments import int_list, non_negative_float, positive_int
from kerasae.cli.families import semi_supervised
from kerasae.cli.registry import MODELS, register_model

#: ``--likelihood`` choices: :data:`kerasae.models.m2.LIKELIHOODS` (spelled out so that ``--help`` needs no
#: TensorFlow; a test keeps them equal).
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned")
#: ``--alpha``'s default, the weight of the classification term: the paper's (:data:`kerasae.models.m2.PAPER_ALPHA`).
ALPHA = 0.1
#: The label options of ``kerasae train semi-supervised``, shared.
_LABEL_OPTIONS = tuple(option for option in MODELS["semi-supervised"].arguments
                       if option[0][0] in ("--labels-per-class", "--labelled-fraction"))


def _m1(args, data):
    """The VAE of ``--m1`` (a run folder), checked against this run's data; records its absolute path."""
    from kerasae.cli.runs import load_run
    from kerasae.models.cvae import CVAE
    from kerasae.models.vae import VAE

    path = os.path.abspath(args.m1)
    model, config, entry = load_run(path)
    if not isinstance(model, VAE) or isinstance(model, CVAE):
        raise ValueError(
            f"--m1 {args.m1} is a '{entry.name}' run (class {type(model).__name__}); M1+M2 needs the run of an "
            "unconditional VAE (kerasae train vae, iwae, ...). Fix: pass such a run folder, or drop --m1 to train M2 "
            "alone."
        )
    if config.dataset != args.dataset:
        raise ValueError(f"--m1 {args.m1} was trained on {config.dataset!r}, this run's --dataset is {args.dataset!r}. "
                         f"Fix: pass --dataset {config.dataset}.")
    if tuple(model.data_shape) != tuple(data.input_shape):
        raise ValueError(f"--m1 {args.m1} takes examples of shape {tuple(model.data_shape)}, this run's data has "
                         f"{tuple(data.input_shape)}. Fix: pass M1's data set and options.")
    args.m1 = path  # evaluate and export find nothing there (M1 is inside model.keras), but the record is exact
    return model


def build(args, data):
    from kerasae.models.m2 import M2

    if data.y_train is None or data.y_test is None:
        raise ValueError(
            f"M2 learns a classifier from few labels, and the data set {data.name!r} has "
            f"{'none' if data.y_train is None else 'no test labels'}. Fix: give the data labels ('y_train' and "
            "'y_test', or 'y', in a .npz file), or train 'vae'."
        )
    m1 = _m1(args, data) if args.m1 else None
    return M2.create(
        data.input_shape, args.latent_dim, max(data.num_classes, 2), architecture=args.architecture,
        hidden_units=args.hidden_units, classifier_hidden_units=args.classifier_hidden_units,
        activation=args.activation, dropout=args.dropout, filters=args.filters, m1=m1,
        likelihood=args.likelihood or ("gaussian_learned" if m1 is not None else "bernoulli"),
        alpha=args.alpha, num_samples=args.num_samples, seed=args.seed, l2=args.l2,
    )


def fit(model, data, args, callbacks):
    """The concurrent training of ``kerasae train semi-supervised``: mixed batches of the kept labels."""
    return semi_supervised.fit(model, data, argparse.Namespace(**{**vars(args), "sequential": False}), callbacks)


def plots(model, data, out_dir):
    """Reconstructions, and class-conditional samples: one class a row, one style (a test example's code) a column."""
    import numpy as np

    from kerasae import plots as kplots

    x = data.x_test[:10]
    paths = [os.path.join(out_dir, name) for name in ("reconstructions.png", "samples.png")]
    kplots.reconstructions(x, np.asarray(model.reconstruct(x)), image_shape=data.image_shape, path=paths[0])
    k = min(model.num_classes, 10)
    styles = model.encode_mean(x)  # under each example's predicted class
    images = np.concatenate([model.generate(np.full(len(styles), c), z=styles) for c in range(k)])
    kplots.image_grid(images, rows=k, cols=len(styles), image_shape=data.image_shape, row_labels=list(range(k)),
                      title="Samples: one class a row, one test example's style a column", path=paths[1])
    return paths


def data_options(args):
    """With ``--m1``: the data laid out as M1 takes it (images for a conv M1, flat vectors otherwise)."""
    if not getattr(args, "m1", None):
        return {}
    from kerasae.cli.runs import read_config

    return {"flatten": read_config(args.m1).get("architecture", "mlp") != "conv"}  # {} without a run there


def unused_options(args):
    unused = [("--loss", "M2's reconstruction term is its --likelihood")]
    if args.m1:
        why = "with --m1, M2's networks are MLPs on M1's codes, and the data is laid out as M1 takes it"
        unused += [("--architecture", why), ("--filters", why)]
    return unused


register_model(
    "m2",
    build,
    help="semi-supervised VAE M2 (Kingma et al. 2014): classifier q(y|x) trained on few labels and all unlabelled "
    "data; --m1 VAE_RUN for M1+M2",
    arguments=_LABEL_OPTIONS + (
        (("--alpha",), {"type": non_negative_float, "default": ALPHA,
                        "help": f"weight of the classification term on the labelled examples, relative to the "
                        f"per-example bound (default: {ALPHA}, the paper's 0.1 N over N examples)"}),
        (("--likelihood",), {"choices": LIKELIHOODS, "default": None,
                             "help": "p(x|y, z) (default: bernoulli; gaussian_learned with --m1)"}),
        (("--num-samples",), {"type": positive_int, "default": 1,
                              "help": "codes z per example and class (default: 1)"}),
        (("--classifier-hidden-units",), {"type": int_list, "default": None,
                                          "help": "widths of the classifier q(y|x) (default: --hidden-units)"}),
        (("--m1",), {"default": None, "metavar": "VAE_RUN",
                     "help": "M1+M2: a VAE run folder (kerasae train vae); M2 models its posterior means"}),
    ),
    fit=fit,
    plots=plots,
    pipeline=semi_supervised.labelled_pipeline,
    model_class="M2",
    unused_options=unused_options,
    data_options=data_options,
)
