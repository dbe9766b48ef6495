"""CLI glue of M2, the semi-supervised VAE, and of M1+M2 (``kerasae train m2 [--m1 VAE_RUN | --m1-epochs N]``).

M2 trains on few labels (``--labels-per-class``, the rest of the training split unlabelled) in mixed batches, as
``kerasae train semi-supervised`` does (its label options and training loop are reused here).

M1+M2 (Kingma et al. 2014): M1 is a VAE trained on all the images, without labels; M2 is then trained on M1's
codes, on its active units only as the authors' code does (:mod:`kerasae.models.m2_parts`: the posterior mean's
standard deviation over 1,000 training images above 0.1; ``metrics.json`` records how many with ``--m1-epochs``):
their posterior means, or with ``--m1-samples`` a fresh draw ``z1 ~ q(z1|x)`` each step (the authors' code; the
classifier predicts from the means either way). M1 is frozen and saved inside
the M2 run's ``model.keras``: the run classifies, generates and exports from images. Two ways to get M1:

* in one command, ``--m1-epochs N``: the run first trains M1 for N epochs, as ``kerasae train vae`` would with
  the run's ``--dataset``, ``--seed``, ``--validation-split`` (so the same split, and no test image seen),
  ``--holdout-class``, ``--batch-size``, ``--learning-rate`` (constant), ``--activation``, ``--dtype-policy`` and
  ``--jit-compile``, an MLP with ``--m1-latent-dim`` (default: the paper's 50) and ``--m1-hidden-units``
  (default: ``kerasae train vae``'s widths), the VAE's other defaults (Bernoulli likelihood, dynamic
  binarisation). Then, re-seeded, M2 trains on its codes. The run records M1's test ELBO (nats, as ``kerasae
  train vae`` reports it) as ``m1_elbo`` in ``metrics.json``'s ``test``, and its training in ``m1.json``:
  ``m1_elbo``, ``m1_train_elbo`` (last epoch), ``m1_epochs``, ``m1_active_units``, ``m1_train_seconds`` and
  ``m1_cpu_seconds``; M1's per-epoch log is ``m1_history.csv``.
  M2's own options (``--epochs``, ``--latent-dim``, ``--hidden-units``, ``--schedule``, ``--early-stopping``,
  ``--dropout``, ``--l2``) are M2's only. Kingma et al.'s setup on MNIST::

      kerasae train m2 --dataset mnist --m1-epochs 100 --m1-hidden-units 600,600 --activation softplus \
          --latent-dim 50 --hidden-units 500 --labels-per-class 10 --out runs/m1m2

* from a VAE run, ``--m1 RUN`` (one M1 serves every label count and seed)::

      kerasae train vae --latent-dim 16 --epochs 100 --out runs/m1
      kerasae train m2 --m1 runs/m1 --labels-per-class 5 --out runs/m1m2

  ``--dataset`` must be M1's; train M1 with the same ``--seed`` (and ``--validation-split``) when the data set
  has no fixed test split (digits, files), so that M1 has not seen the M2 run's test images.

Either way M2's networks are MLPs on M1's codes (the data is laid out as M1 takes it: images for a conv M1 of
``--m1``), and the likelihood defaults to ``gaussian_learned``. ``--m1`` with ``--m1-epochs`` (or its options),
``--m1-latent-dim``/``--m1-hidden-units`` without ``--m1-epochs``, and ``--resume`` with ``--m1-epochs`` (its
backup holds M2's epochs only: resume M1 with ``kerasae train vae --resume``, then pass ``--m1``) are refused.
"""

import argparse
import csv
import os
import time
import weakref

from kerasae.cli.arguments import int_list, non_negative_float, positive_int
from kerasae.cli.families import semi_supervised
from kerasae.cli.registry import MODELS, keras_verbose, models, option_defaults, register_model
from kerasae.utils import files

#: ``--likelihood`` choices: :data:`kerasae.models.m2.LIKELIHOODS` (spelled out so that ``--help`` needs no
#: TensorFlow; a test keeps them equal).
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned")
#: ``--alpha``'s default, the weight of the classification term: the paper's (:data:`kerasae.models.m2.PAPER_ALPHA`).
ALPHA = 0.1
#: The label options of ``kerasae train semi-supervised``, shared.
_LABEL_OPTIONS = tuple(option for option in MODELS["semi-supervised"].arguments
                       if option[0][0] in ("--labels-per-class", "--labelled-fraction"))
#: ``--m1-latent-dim``'s default: the paper's 50-dimensional M1 code.
M1_LATENT_DIM = 50
#: The run's options that the M1 of ``--m1-epochs`` trains with, as ``kerasae train vae`` would.
M1_SHARED_OPTIONS = ("dataset", "validation_split", "seed", "holdout_class", "batch_size", "learning_rate",
                     "activation", "dtype_policy", "jit_compile", "verbose")
#: Options that set the M1 which ``--m1-epochs`` trains.
_M1_TRAINING_OPTIONS = ("--m1-epochs", "--m1-latent-dim", "--m1-hidden-units")
#: The record of an M1 trained by this run (``--m1-epochs``), by M2 model: for ``evaluate`` and ``plots``.
_M1_RECORDS = weakref.WeakKeyDictionary()


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
    record = None
    if args.m1:
        m1 = _m1(args, data)
    elif getattr(args, "m1_epochs", None):
        m1, record = _train_m1(args)
    else:
        m1 = None
    units = None if m1 is None else _active_units(m1, data, record)
    model = M2.create(
        data.input_shape, args.latent_dim, max(data.num_classes, 2), architecture=args.architecture,
        hidden_units=args.hidden_units, classifier_hidden_units=args.classifier_hidden_units,
        activation=args.activation, dropout=args.dropout, filters=args.filters, m1=m1, m1_units=units,
        likelihood=args.likelihood or ("gaussian_learned" if m1 is not None else "bernoulli"),
        alpha=args.alpha, num_samples=args.num_samples, seed=args.seed, l2=args.l2, m1_samples=args.m1_samples,
    )
    if record is not None:
        _M1_RECORDS[model] = record
    return model


def _active_units(m1, data, record):
    """M1's active code units on this run's training images (:func:`kerasae.models.m2_parts.active_units`), the
    units M2 models; printed, and recorded with an M1 this run trained."""
    from kerasae.models import m2_parts

    units = m2_parts.active_units(m1, data.x_train)
    print(f"M2 models {len(units)} of M1's {m1.latent_dim} code units (those whose posterior mean varies, std > "
          f"{m2_parts.ACTIVE_UNIT_THRESHOLD})", flush=True)
    if record is not None:
        record["m1_active_units"] = len(units)
    return units


def m1_arguments(args):
    """The ``kerasae train vae`` options of the M1 that ``--m1-epochs`` trains: the run's
    :data:`M1_SHARED_OPTIONS`, ``--m1-epochs``, ``--m1-latent-dim`` and ``--m1-hidden-units``, the VAE's
    defaults otherwise (a namespace)."""
    options = option_defaults(models()["vae"])
    options.update({name: getattr(args, name) for name in M1_SHARED_OPTIONS if hasattr(args, name)})
    options.update(command="train", model="vae", architecture="mlp", epochs=args.m1_epochs,
                   latent_dim=args.m1_latent_dim or M1_LATENT_DIM, hidden_units=args.m1_hidden_units)
    return argparse.Namespace(**options)


def _train_m1(args):
    """M1 of ``--m1-epochs``: the VAE family's builder and data (:func:`m1_arguments`), trained on all the training
    images as ``kerasae train vae`` trains it. Returns ``(vae, record)``; re-seeds, so that M2 starts as it would
    with ``--m1``."""
    import keras

    from kerasae.callbacks import EpochLogs, StopOnNaN
    from kerasae.cli.runs import load_data

    entry, m1_args = models()["vae"], m1_arguments(args)
    args.m1_latent_dim = m1_args.latent_dim  # recorded as trained
    keras.utils.set_random_seed(args.seed)
    m1_data = load_data(m1_args, entry)  # the run's examples and split, as the VAE takes them (binarised)
    vae = entry.build(m1_args, m1_data)
    vae.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                jit_compile={"auto": "auto", "on": True, "off": False}[args.jit_compile])
    batch = args.batch_size
    print(f"M1: a VAE ({m1_args.latent_dim}-dimensional code) on the {len(m1_data.x_train)} training examples, "
          f"without labels, for {args.m1_epochs} epochs", flush=True)
    start = time.perf_counter(), time.process_time()
    history = vae.fit(
        entry.make_pipeline(vae, m1_data, "train", batch),
        validation_data=entry.make_pipeline(vae, m1_data, "val", batch) if len(m1_data.x_val) >= batch else None,
        epochs=args.m1_epochs, callbacks=[StopOnNaN(), EpochLogs()], verbose=keras_verbose(args), shuffle=False,
    ).history
    seconds, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
    test = vae.evaluate(entry.make_pipeline(vae, m1_data, "test", min(batch, len(m1_data.x_test))), verbose=0,
                        return_dict=True)
    record = {"m1_elbo": float(test["elbo"]), "m1_train_elbo": float(history["elbo"][-1]),
              "m1_epochs": len(history["elbo"]), "m1_train_seconds": seconds, "m1_cpu_seconds": cpu,
              "history": history}
    print(f"M1: test ELBO {record['m1_elbo']:.5g} nats after {record['m1_epochs']} epochs ({seconds:.0f} s); "
          "M2 on its codes:", flush=True)
    keras.utils.set_random_seed(args.seed)
    return vae, record


def evaluate(model, data, args):
    """The test ELBO of the M1 this run trained (``--m1-epochs``), ``m1_elbo`` (nothing for M2 alone, ``--m1``,
    or a run evaluated later): a test figure; the rest of M1's record is training facts, in ``m1.json``."""
    record = _M1_RECORDS.get(model)
    return {} if record is None else {"m1_elbo": record["m1_elbo"]}


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
    record = _M1_RECORDS.get(model)
    if record is not None:  # M1's per-epoch log, as history.csv is M2's, and its training record
        paths.append(os.path.join(out_dir, "m1_history.csv"))
        history = record["history"]
        with open(paths[-1], "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["epoch", *history])
            writer.writerows([epoch, *values] for epoch, values in enumerate(zip(*history.values())))
        paths.append(os.path.join(out_dir, "m1.json"))
        files.write_json(paths[-1], {k: v for k, v in record.items() if k != "history"})
    return paths


def data_options(args):
    """With ``--m1``: the data laid out as M1 takes it (images for a conv M1, flat vectors otherwise)."""
    if not getattr(args, "m1", None):
        return {}
    from kerasae.cli.runs import read_config

    return {"flatten": read_config(args.m1).get("architecture", "mlp") != "conv"}  # {} without a run there


def unused_options(args):
    """``--loss``; with M1, the architecture's options; ``--m1`` with the options that train M1 here, those without
    ``--m1-epochs``; ``--resume`` with ``--m1-epochs``."""
    unused = [("--loss", "M2's reconstruction term is its --likelihood")]
    training = getattr(args, "m1_epochs", None) is not None
    if args.m1:
        why = "with --m1, M2's networks are MLPs on M1's codes, and the data is laid out as M1 takes it"
        unused += [("--architecture", why), ("--filters", why)]
        why = ("--m1 RUN takes a trained M1, and --m1-epochs (with --m1-latent-dim, --m1-hidden-units) trains one in "
               "this run; expected one of the two")
        unused += [(option, why) for option in _M1_TRAINING_OPTIONS]
    elif training:
        why = "with --m1-epochs, M2's networks are MLPs on M1's codes, and M1 is an MLP"
        unused += [("--architecture", why), ("--filters", why),
                   ("--resume", "--m1-epochs trains M1 before M2, and the backup holds M2's epochs only; to resume, "
                    "train M1 with 'kerasae train vae --resume' and pass its run with --m1")]
    else:
        why = "it sets the M1 that --m1-epochs N trains in this run, and this run trains none: add --m1-epochs N"
        unused += [(option, why) for option in _M1_TRAINING_OPTIONS[1:]]
        unused.append(("--m1-samples", "it sets what M2 sees of M1's codes, and this run has no M1: add --m1 RUN or "
                       "--m1-epochs N"))
    return unused


register_model(
    "m2",
    build,
    help="semi-supervised VAE M2 (Kingma et al. 2014): classifier q(y|x) trained on few labels and all unlabelled "
    "data; M1+M2 with --m1 VAE_RUN, or --m1-epochs N to train M1 first",
    arguments=_LABEL_OPTIONS + (
        (("--alpha",), {"type": non_negative_float, "default": ALPHA,
                        "help": f"weight of the classification term on the labelled examples, relative to the "
                        f"per-example bound (default: {ALPHA}, the paper's 0.1 N over N examples)"}),
        (("--likelihood",), {"choices": LIKELIHOODS, "default": None,
                             "help": "p(x|y, z) (default: bernoulli; gaussian_learned with --m1 or --m1-epochs)"}),
        (("--num-samples",), {"type": positive_int, "default": 1,
                              "help": "codes z per example and class (default: 1)"}),
        (("--classifier-hidden-units",), {"type": int_list, "default": None,
                                          "help": "widths of the classifier q(y|x) (default: --hidden-units)"}),
        (("--m1",), {"default": None, "metavar": "VAE_RUN",
                     "help": "M1+M2: a VAE run folder (kerasae train vae); M2 models its active code units"}),
        (("--m1-samples",), {"action": "store_true",
                              "help": "M1+M2: train M2 on a fresh draw z1 ~ q(z1|x) each step, as the authors' code "
                              "does, not on the posterior means (best with a well-trained M1)"}),
        (("--m1-epochs",), {"type": positive_int, "default": None, "metavar": "N",
                            "help": "M1+M2 in one command: first train M1, a VAE on all the training images (no "
                            "labels; the run's data, seed, validation split, batch size, learning rate and "
                            "activation), for N epochs, then M2 on its codes"}),
        (("--m1-latent-dim",), {"type": positive_int, "default": None, "metavar": "D",
                                "help": f"with --m1-epochs: M1's code size (default: {M1_LATENT_DIM}, the paper's)"}),
        (("--m1-hidden-units",), {"type": int_list, "default": None, "metavar": "WIDTHS",
                                  "help": "with --m1-epochs: M1's MLP widths, e.g. 600,600 (the paper's, with "
                                  "--activation softplus; default: kerasae train vae's)"}),
    ),
    fit=fit,
    evaluate=evaluate,
    plots=plots,
    pipeline=semi_supervised.labelled_pipeline,
    model_class="M2",
    unused_options=unused_options,
    data_options=data_options,
)
