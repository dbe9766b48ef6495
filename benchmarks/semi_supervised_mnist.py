"""Benchmark: semi-supervised MNIST with few labels (Kingma et al. 2014's M1, M2 and M1+M2 beside autoencoder
baselines), and anomaly detection with one digit held out.

Semi-supervised: for each label count of ``--labels`` (default 100 600 1000, the paper's; ``count / 10`` labels
per class, the rest of the training split unlabelled) and each seed of ``--seeds`` (default 0 1 2: the
validation split, the labelled examples, the initialisation), the test error rate of

* ``supervised_only``: an MLP encoder + linear head on the labelled examples alone (alpha = 0), for as many
  steps as ``concurrent``;
* ``sequential``: that autoencoder on all images (no labels), then label spreading over its codes of every training
  image, as ``vae_m1``'s (:data:`M1_SPREADING`): the autoencoder's codes under M1's classifier;
* ``sequential_head``: the same autoencoder, then the linear head on the frozen codes of the labelled images alone
  (``--head-epochs``; the benchmark's ``sequential`` until label spreading replaced it; not in the default grid);
* ``concurrent``: one fit on mixed batches, cross-entropy on the labelled + alpha * reconstruction, then the same
  label spreading over its codes (the codes the labels shaped, under the classifier ``sequential`` and ``vae_m1``
  use);
* ``concurrent_head``: the same fit, classified by its own linear head (the benchmark's ``concurrent`` until label
  spreading replaced it; it fits the 100 labels exactly and gains little over ``supervised_only``; not in the
  default grid); these five: ``--hidden-units``, ``--latent-dim``, ``--epochs``, ``--alpha``;
* ``vae_m1``: M1 (below), then label spreading (:class:`kerasae.LatentLabelSpreading`, Zhou et al. 2004) over a
  10-nearest-neighbour graph of the posterior means of every training image, labelled or not (:data:`M1_SPREADING`):
  a transductive classifier, in place of the paper's transductive SVM;
* ``m2``: M2 alone (``kerasae.M2``) on the pixels, Bernoulli likelihood, ``--m2-epochs``;
* ``m1_m2``: M2 on M1's codes (M1 frozen inside), learned-scale Gaussian likelihood, ``--m1m2-epochs``; as in the
  authors' code (nips14-ssl ``learn_yz_x_ss.py``), on M1's active units only (the posterior mean's standard
  deviation over 1,000 training images above 0.1, :func:`kerasae.models.m2_parts.active_units`) and on a fresh draw
  ``z1 ~ q(z1|x)`` each step (``--m1m2-codes``; ``--quick``'s 3-epoch M1 trains on the means: draws from its wide
  posteriors are mostly noise), the classifier's test error from the means.

The paper's setups, as far as a 2-core CPU allows: M1 is a VAE with 2 hidden layers of 600 softplus units and
a 50-d latent (``--m1-hidden-units``, ``--m1-latent-dim``), a Bernoulli likelihood on dynamically binarised
pixels, trained ``--m1-epochs`` on all training images (no labels), its KL weight optionally warmed up
(``--m1-kl-warmup``); one M1 per seed serves ``vae_m1`` and ``m1_m2`` of every label count, and is kept in
``--m1-cache`` for the pieces that come later (their record keeps its training minutes). M2's classifier,
encoder and decoder have one hidden layer of 500 softplus units (``--m2-hidden-units``), z is 50-d
(``--m2-latent-dim``), alpha = 0.1 N (kerasae's per-example ``alpha=0.1``,
:data:`kerasae.models.m2.PAPER_ALPHA`), mixed batches at least ``--labelled-fraction`` labelled. Departures
from the paper: Adam (``--learning-rate``) in place of RMSProp with momentum, far fewer epochs than the
paper's, no weight prior, and label spreading in place of M1's TSVM.

Times: wall and CPU minutes of each method's own training and test (CPU: the process's, all threads);
``vae_m1`` and ``m1_m2`` also need their seed's M1, whose minutes are recorded apart (``m1``). Error rates: mean
and sample standard deviation (ddof = 1) over the seeds, in percent. Targets (issue #20): M1+M2 <= 5% error at
100 labels (paper 3.33%), M2 <= 12% (paper 11.97%).

Anomaly detection (first seed): an autoencoder and a VAE trained on every digit but ``--anomaly-digit``; ROC
AUC of the reconstruction error (autoencoder) and of ``-log p(x)`` (VAE) on the test set, threshold at the 99%
quantile of validation scores.

Usage (MNIST from Keras's cache; hours on a 2-core CPU)::

    export KERAS_HOME=/tmp/keras-home; mkdir -p $KERAS_HOME/datasets
    cp shared/data/mnist.npz $KERAS_HOME/datasets/
    python benchmarks/semi_supervised_mnist.py
    python benchmarks/semi_supervised_mnist.py --labels 100 --seeds 0                 # a session's piece
    python benchmarks/semi_supervised_mnist.py --labels 100 --seeds 1 --methods m2,m1_m2

Prints tables and writes ``benchmarks/results/semi_supervised_mnist.json`` (with the command, the settings, every
run's figures and a markdown table), which ``python -m benchmarks.report`` renders into RESULTS.md. The file
gathers runs made at different times: ``--methods``, ``--labels`` and ``--seeds`` choose a piece that fits a
working session (one seed at 100 labels, all methods, is about an hour on 2 cores), written after every method;
a file with the same other settings keeps its other runs (each with its command) and the tables cover them all,
with the pieces of the paper's grid still missing listed under ``remaining``; a file with other settings is
refused (exit status 2) and left as it was. M2's fits (``m2``, ``m1_m2``) back themselves up every epoch under
``--backups`` (weights, optimizer state, epoch, minutes; Keras' ``BackupAndRestore``): the same command continues a
fit cut off by the end of a session, and one with a larger ``--m2-epochs`` / ``--m1m2-epochs`` trains the finished fit
on (its minutes are those of every part). Anomaly detection runs once a file, with its first piece. With
``--preset NAME``, the M1+M2 classifier of the piece's first seed at 100 labels becomes the preset
``presets/NAME`` if it meets its target (its card: the test error and the accuracy on the first 200 test images). ``--quick``
runs the same on the small offline digits set with few epochs, two seeds and one label count (a smoke test,
written to the temporary folder unless ``--out`` says otherwise, and never added to an earlier file); options
given beside it win.
"""

import argparse
import datetime
import hashlib
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasae  # noqa: E402
from kerasae import anomaly  # noqa: E402
from kerasae.data import datasets  # noqa: E402
from kerasae.models import m2_parts  # noqa: E402
from kerasae.models import semi_supervised as ss  # noqa: E402
from kerasae.models.m2 import M2, PAPER_ALPHA  # noqa: E402
from kerasae.models.vae import VAE  # noqa: E402
from kerasae.utils import files  # noqa: E402
from kerasae.utils.files import write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script (python benchmarks/semi_supervised_mnist.py)
    sys.path.insert(0, ROOT)

from benchmarks import benchmark_presets  # noqa: E402
from benchmarks.result_files import earlier_result, missing, refuse, seed_summary  # noqa: E402

logging.getLogger("tensorflow").setLevel(logging.ERROR)  # not Keras' retracing notes: every method builds models

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
#: Where ``--preset NAME`` writes (the built-in presets).
PRESETS = os.path.join(ROOT, "presets")
#: The share of the training split held out for validation (5,000 of MNIST's 60,000).
VALIDATION_SPLIT = 1 / 12
#: Where trained M1s are kept for later pieces (ignored by git, like every run).
M1_CACHE = os.path.join(ROOT, "runs", "semi_supervised_m1")
#: The settings an M1 depends on (with the seed): an M1 in the cache is reused only by the same ones.
M1_SETTINGS = ("dataset", "m1_epochs", "m1_latent_dim", "m1_hidden_units", "m1_kl_warmup", "activation", "batch_size",
               "learning_rate")
#: Where M2's fits back themselves up every epoch (``--backups``): a fit cut off by a session's end continues there.
BACKUPS = os.path.join(ROOT, "runs", "semi_supervised_backups")
#: The settings an M2 fit depends on besides its epochs (with its method, label count and seed); M1's too for m1_m2.
M2_SETTINGS = ("dataset", "m2_latent_dim", "m2_hidden_units", "activation", "labelled_fraction", "batch_size",
               "learning_rate")
#: The file of a backup folder with the wall and CPU seconds of its completed epochs.
BACKUP_SECONDS = "seconds.json"
#: The methods, in the tables' order.
METHODS = ("supervised_only", "sequential", "sequential_head", "concurrent", "concurrent_head", "vae_m1", "m2", "m1_m2")
#: Earlier definitions kept under their own names, outside the paper's grid.
HEAD_METHODS = ("sequential_head", "concurrent_head")
#: The methods of the paper's grid (``remaining`` lists what of it a file lacks).
GRID_METHODS = tuple(m for m in METHODS if m not in HEAD_METHODS)
#: Settings that may differ between the pieces one file gathers (the rest must match the file's).
PER_PIECE = ("labels", "seeds", "methods", "out", "quick", "m1_cache", "preset", "backups")
#: What ``--quick`` sets (the digits set, few epochs, two seeds, one label count), unless given beside it.
QUICK = {"dataset": "digits", "labels": [100], "seeds": [0, 1], "epochs": 2, "head_epochs": 20, "m1_epochs": 3,
         "m2_epochs": 3, "m1m2_epochs": 3, "m1m2_codes": "means", "nll_samples": 10, "m1_cache": "none", "backups": "none",
         "out": os.path.join(tempfile.gettempdir(), "semi_supervised_quick.json")}
#: The paper's test error rates (%) on MNIST (Kingma et al. 2014, table 1), by label count: its rows NN
#: (supervised only), M1+TSVM (beside vae_m1), M2 and M1+M2.
PAPER = {"supervised_only": {100: 25.80, 600: 11.44, 1000: 10.70}, "vae_m1": {100: 11.82, 600: 5.72, 1000: 4.24},
         "m2": {100: 11.97, 600: 4.94, 1000: 3.60}, "m1_m2": {100: 3.33, 600: 2.59, 1000: 2.40}}
#: Issue #20's targets at 100 labels (test error, %).
TARGETS = {"m2": 12.0, "m1_m2": 5.0}
#: M2's fits print the validation error every so many epochs.
PROGRESS_EPOCHS = 10
#: ``vae_m1``'s classifier: :class:`kerasae.LatentLabelSpreading`'s settings (alpha: scikit-learn's default).
M1_SPREADING = {"n_neighbors": 10, "alpha": 0.2}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="digits, few epochs, 2 seeds, 100 labels (a smoke test)")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--labels", type=int, nargs="+", default=[100, 600, 1000], help="label counts (per class: / 10)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", type=_methods, default=list(GRID_METHODS),
                   help=f"comma-separated, of {', '.join(METHODS)} (default: all but {', '.join(HEAD_METHODS)})")
    p.add_argument("--epochs", type=int, default=5, help="epochs of the autoencoder baselines")
    p.add_argument("--head-epochs", type=int, default=200, help="passes over the labelled codes (sequential_head)")
    p.add_argument("--latent-dim", type=int, default=32, help="code of the autoencoder baselines")
    p.add_argument("--hidden-units", default="256,128", help="widths of the autoencoder baselines")
    p.add_argument("--alpha", type=float, default=1.0, help="reconstruction weight of 'concurrent'")
    p.add_argument("--m1-epochs", type=int, default=100, help="epochs of M1 (one per seed)")
    p.add_argument("--m1-latent-dim", type=int, default=50)
    p.add_argument("--m1-hidden-units", default="600,600")
    p.add_argument("--m1-kl-warmup", type=int, default=None, metavar="EPOCHS",
                   help="epochs of linear KL warm-up of M1, from 0 to 1 (Sonderby et al. 2016: keeps more code units "
                        "active; default: none)")
    p.add_argument("--m2-epochs", type=int, default=20, help="epochs of M2 alone (the slowest method)")
    p.add_argument("--m1m2-epochs", type=int, default=50, help="epochs of M2 on M1's codes")
    p.add_argument("--m1m2-codes", choices=("samples", "means"), default="samples",
                   help="what M2 of m1_m2 trains on: a fresh z1 ~ q(z1|x) each step (the authors' code) or the means")
    p.add_argument("--m2-latent-dim", type=int, default=50)
    p.add_argument("--m2-hidden-units", default="500")
    p.add_argument("--activation", default="softplus", help="of M1 and M2")
    p.add_argument("--labelled-fraction", type=float, default=0.25, help="least labelled share of M2's batches")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--anomaly-digit", type=int, default=9)
    p.add_argument("--nll-samples", type=int, default=100, help="importance samples of the VAE's anomaly score")
    p.add_argument("--out", default=os.path.join(RESULTS, "semi_supervised_mnist.json"))
    p.add_argument("--m1-cache", default=M1_CACHE, metavar="DIR",
                   help="folder of trained M1s, one per seed and M1 setting, reused by later pieces (default: "
                        "runs/semi_supervised_m1; 'none': train every time)")
    p.add_argument("--backups", default=BACKUPS, metavar="DIR",
                   help="folder where m2 and m1_m2 back up their fit every epoch (weights, optimizer state, epoch, "
                        "minutes): the same command continues a fit cut off, and a larger --m2-epochs / --m1m2-epochs "
                        "trains a finished one on (default: runs/semi_supervised_backups; 'none': no backups)")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="write the M1+M2 classifier of the first seed at 100 labels as presets/NAME when it meets its "
                        f"target ({TARGETS['m1_m2']}%% test error)")
    first, _ = p.parse_known_args(argv)
    if first.quick:
        p.set_defaults(**QUICK)
    args = p.parse_args(argv)
    if any(n <= 0 or n % 10 for n in args.labels):
        p.error(f"--labels takes positive multiples of 10 (a label count, 10 classes), got {args.labels}")
    return args


def _methods(text):
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"expected methods of {', '.join(METHODS)}, got {text!r}")
    return [m for m in METHODS if m in methods]


def _widths(text):
    return tuple(int(v) for v in str(text).split(",") if v.strip())


def _compile(model, args):
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    return model


def _ssae(args, data, alpha):
    encoder, decoder = kerasae.networks.mlp(data.input_shape, args.latent_dim, hidden_units=_widths(args.hidden_units))
    return _compile(ss.SemiSupervisedAutoencoder(encoder, decoder, num_classes=10, alpha=alpha, reconstruction_loss="bce"), args)


def _autoencoder(args, data):
    encoder, decoder = kerasae.networks.mlp(data.input_shape, args.latent_dim, hidden_units=_widths(args.hidden_units))
    return _compile(kerasae.Autoencoder(encoder, decoder, reconstruction_loss="bce"), args)


def _vae(args, data, seed):
    return _compile(VAE.create(data.input_shape, args.latent_dim, hidden_units=_widths(args.hidden_units), seed=seed), args)


def _m2(args, data, seed, m1=None):
    units = None if m1 is None else m2_parts.active_units(m1, data.x_train)
    return _compile(M2.create(
        data.input_shape, args.m2_latent_dim, 10, hidden_units=_widths(args.m2_hidden_units),
        activation=args.activation, m1=m1, m1_units=units, m1_samples=m1 is not None and args.m1m2_codes == "samples",
        likelihood="gaussian_learned" if m1 is not None else "bernoulli", alpha=PAPER_ALPHA, seed=seed), args)


class ValidationError(keras.callbacks.Callback):
    """Prints the validation error every ``every`` epochs of a long fit (the log shows whether it still falls)."""

    def __init__(self, x_val, y_val, every, prefix):
        super().__init__()
        self.x_val, self.y_val, self.every, self.prefix = x_val, y_val, every, prefix

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0 and len(self.x_val):
            error = 100 * (1 - ss.accuracy(self.model, self.x_val, self.y_val))
            print(f"{self.prefix}: epoch {epoch + 1}, validation error {error:.2f}%", flush=True)


class Clock:
    """Wall and process CPU seconds since it was made."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def seconds(self):
        return {"wall_seconds": time.perf_counter() - self.wall, "cpu_seconds": time.process_time() - self.cpu}


def settings_digest(args, keys):
    """12 hex digits of the sha256 of the settings ``keys`` of ``args``: a saved model's name part that another
    setting never matches."""
    settings = {key: getattr(args, key) for key in keys}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def m1_cache_path(args, seed):
    """Where ``args.m1_cache`` keeps the M1 of ``seed`` and these settings (``None``: no cache): a name with a
    digest of every setting M1 depends on, so that another setting never finds it."""
    if args.m1_cache in (None, "none"):
        return None
    return os.path.join(args.m1_cache, f"m1-{args.dataset}-{settings_digest(args, M1_SETTINGS)}-seed{seed}.keras")


def backup_path(args, method, labels, seed):
    """The folder where the fit of ``method`` (m2 or m1_m2) with ``labels`` labels and ``seed`` backs itself up
    (``None``: ``--backups none``): a name with a digest of every setting the fit depends on but its epochs."""
    if args.backups in (None, "none"):
        return None
    digest = settings_digest(args, M2_SETTINGS + (M1_SETTINGS + ("m1m2_codes",) if method == "m1_m2" else ()))
    return os.path.join(args.backups, f"{method}-{args.dataset}-{digest}-{labels}labels-seed{seed}")


def backed_up(path):
    """``(epochs, seconds)`` a backup folder holds: its completed epochs (Keras' ``BackupAndRestore`` record) and
    the wall and CPU seconds they took (``(0, zeros)`` without one)."""

    def read(name, default):
        file = None if path is None else os.path.join(path, name)
        if file is None or not os.path.exists(file):
            return default
        with open(file) as f:
            return json.load(f)

    return read("training_metadata.json", {"epoch": 0})["epoch"], read(BACKUP_SECONDS, {"wall_seconds": 0.0,
                                                                                          "cpu_seconds": 0.0})


def check_backups(args):
    """Exits with status 2, before anything runs, when a backup of this piece holds more epochs than asked."""
    epochs = {"m2": args.m2_epochs, "m1_m2": args.m1m2_epochs}
    for method in epochs.keys() & set(args.methods):
        for labels in args.labels:
            for seed in args.seeds:
                path = backup_path(args, method, labels, seed)
                done, _ = backed_up(path)
                if done > epochs[method]:
                    refuse(f"{path} holds {done} epochs of {method}, more than the {epochs[method]} asked. Fix: "
                           f"ask for {done} or more, or pass --backups none to train afresh.")


class BackupSeconds(keras.callbacks.Callback):
    """Keeps the wall and CPU seconds of every epoch completed so far (earlier parts' too) in the backup folder."""

    def __init__(self, path, earlier):
        super().__init__()
        self.path, self.earlier, self.clock = path, earlier, None

    def on_train_begin(self, logs=None):
        self.clock = Clock()

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock.seconds()
        write_json(os.path.join(self.path, BACKUP_SECONDS), {k: self.earlier[k] + now[k] for k in now})


def train_m1(args, seed):
    """The paper's M1 for ``seed``: trained on all the training images (dynamically binarised), no labels; taken
    from ``--m1-cache`` when an earlier piece trained it with the same settings (its record keeps the minutes of
    that training), else trained and kept there."""
    path = m1_cache_path(args, seed)
    if path is not None and os.path.exists(path + ".json"):  # the record is written last: the model is whole
        with open(path + ".json") as f:
            record = json.load(f)
        print(f"  M1, seed {seed}: from {path} (test ELBO {record['test_elbo']:.2f} nats, "
              f"{record['active_units']} active units)", flush=True)
        return keras.saving.load_model(path, safe_mode=True), record
    data = datasets.load(args.dataset, validation_split=VALIDATION_SPLIT, seed=seed, binarize="dynamic")
    keras.utils.set_random_seed(seed)
    clock = Clock()
    warmup = (args.m1_kl_warmup or 0) * math.ceil(len(data.x_train) / args.batch_size)  # epochs -> steps
    m1 = _compile(VAE.create(data.input_shape, args.m1_latent_dim, hidden_units=_widths(args.m1_hidden_units),
                             activation=args.activation, likelihood="bernoulli", kl_warmup_steps=warmup, seed=seed),
                  args)
    m1.fit(data.pipeline("train", args.batch_size), epochs=args.m1_epochs, verbose=0, shuffle=False)
    test = m1.evaluate(data.pipeline("test", min(args.batch_size, len(data.x_test))), verbose=0, return_dict=True)
    record = {"test_elbo": float(test["elbo"]), "epochs": args.m1_epochs, **clock.seconds(),
              "active_units": len(m2_parts.active_units(m1, data.x_train))}
    print(f"  M1, seed {seed}: test ELBO {record['test_elbo']:.2f} nats, {record['active_units']} active units "
          f"({record['wall_seconds'] / 60:.1f} min)", flush=True)
    if path is not None:  # the model first, its record last: a record is only ever beside a whole model
        with files.replacing(path) as tmp:
            m1.save(tmp)
        write_json(path + ".json", record)
    return m1, record


def semi_supervised(args, data, labels, seed, m1):
    """Yields ``(method, row, model)``: the test accuracy of each method of ``args.methods`` with ``labels`` labels
    (``seed``), and the trained model, as each finishes."""
    y = ss.mask_labels(data.y_train, labels // 10, seed=seed)
    labelled = y >= 0

    def mixed():
        return ss.mixed_pipeline(data.x_train, y, batch_size=args.batch_size, labelled_fraction=args.labelled_fraction,
                                 seed=seed)

    earlier = {}  # seconds of a backed-up fit's earlier parts

    def run(name, train):
        keras.utils.set_random_seed(seed)
        earlier.clear()
        clock = Clock()
        model = train()
        accuracy = ss.accuracy(model, data.x_test, data.y_test)
        seconds = {k: v + earlier.get(k, 0.0) for k, v in clock.seconds().items()}
        row = {"test_accuracy": accuracy, "error_rate": 100 * (1 - accuracy), **seconds}
        print(f"  {labels} labels, seed {seed}: {name:16s} error {row['error_rate']:6.2f}%  "
              f"({row['wall_seconds'] / 60:.1f} min)", flush=True)
        return row, model

    steps_per_epoch = sum(1 for _ in ss.mixed_pipeline(data.x_train, y, batch_size=args.batch_size, seed=seed))

    def supervised_only():
        import tensorflow as tf

        model = _ssae(args, data, 0.0)
        repeated = (
            tf.data.Dataset.from_tensor_slices((data.x_train[labelled], y[labelled]))
            .shuffle(int(labelled.sum()), seed=seed)
            .batch(min(args.batch_size // 4, int(labelled.sum())))
            .repeat()
        )
        model.fit(repeated, epochs=args.epochs, steps_per_epoch=steps_per_epoch, verbose=0, shuffle=False)
        return model

    def sequential():
        model = _ssae(args, data, 1.0)
        model.fit(data.x_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)  # no labels: reconstruction
        return ss.LatentLabelSpreading(model, **M1_SPREADING).fit(data.x_train, y)

    def sequential_head():
        model = _ssae(args, data, 1.0)
        model.fit_sequential(data.x_train, y, epochs=args.epochs, head_epochs=args.head_epochs, batch_size=args.batch_size)
        return model

    def concurrent_head():
        model = _ssae(args, data, args.alpha)
        model.fit(ss.mixed_pipeline(data.x_train, y, batch_size=args.batch_size, seed=seed), epochs=args.epochs,
                  verbose=0, shuffle=False)
        return model

    def concurrent():
        return ss.LatentLabelSpreading(concurrent_head(), **M1_SPREADING).fit(data.x_train, y)

    def fit_m2(model, epochs, method):
        callbacks = [ValidationError(data.x_val, data.y_val, every=PROGRESS_EPOCHS, prefix=f"  {labels} labels, seed {seed}")]
        backup = backup_path(args, method, labels, seed)
        if backup is not None:
            done, seconds = backed_up(backup)
            if done:
                print(f"  {labels} labels, seed {seed}: {method} resumes from epoch {done} of {epochs} ({backup})",
                      flush=True)
            earlier.update(seconds)
            # Keras restores weights, optimizer state and epoch; double_checkpoint keeps the backup before the last
            callbacks += [keras.callbacks.BackupAndRestore(backup, double_checkpoint=True, delete_checkpoint=False),
                          BackupSeconds(backup, seconds)]  # after the weights: never more seconds than epochs
        model.fit(mixed(), epochs=epochs, verbose=0, shuffle=False, callbacks=callbacks)
        return model

    methods = {
        "supervised_only": supervised_only, "sequential": sequential, "sequential_head": sequential_head,
        "concurrent": concurrent, "concurrent_head": concurrent_head,
        "vae_m1": lambda: ss.LatentLabelSpreading(m1, **M1_SPREADING).fit(data.x_train, y),
        "m2": lambda: fit_m2(_m2(args, data, seed), args.m2_epochs, "m2"),
        "m1_m2": lambda: fit_m2(_m2(args, data, seed, m1=m1), args.m1m2_epochs, "m1_m2"),
    }
    for name in args.methods:
        yield name, *run(name, methods[name])


def write_preset(args, model, data, row, seed, m1_record):
    """The M1+M2 classifier of 100 labels as the preset ``presets/NAME`` if it meets its target (``--preset``)."""
    if row["error_rate"] > TARGETS["m1_m2"]:
        print(f"  No preset {args.preset}: M1+M2's test error {row['error_rate']:.2f}% misses its target "
              f"({TARGETS['m1_m2']}%)", flush=True)
        return None
    return benchmark_presets.write(
        model, os.path.join(PRESETS, args.preset), data=data, load={"validation_split": VALIDATION_SPLIT, "seed": seed},
        command=command(args), error_metric="test_error_percent", error=row["error_rate"], measured="accuracy",
        epochs=args.m1m2_epochs, seconds=row["wall_seconds"] + m1_record["wall_seconds"],
        description=f"M1+M2 (Kingma et al. 2014) trained with 100 labels of {args.dataset}, seed {seed}: the classifier "
                    "q(y|x) on M1's codes, M1 inside",
        saved_model=False)  # M1's 1.75M weights twice (7.5 MB each) would not fit the built-in presets' 25 MB


def summarise(runs):
    """Per label count and method: the error rate's mean and std over seeds (%), mean wall and CPU minutes."""
    summary = {}
    for labels in sorted({r["labels"] for r in runs}):
        summary[str(labels)] = {}
        for method in METHODS:
            mine = [r for r in runs if r["labels"] == labels and r["method"] == method]
            if not mine:
                continue
            summary[str(labels)][method] = seed_summary(mine, "error_rate", wall=("wall_seconds",),
                                                        cpu=("cpu_seconds",))
    return summary


def markdown(summary, m1, args):
    """The error-rate table (mean ± std over seeds) with minutes per run, and M1's line."""
    counts = list(summary)
    head = ["method", *(f"error % at {n} labels" for n in counts), "wall / CPU min per run", "paper's error %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method in (m for m in METHODS if any(m in summary[n] for n in counts)):
        cells = [f"{s['error_mean']:.2f} ± {s['error_std']:.2f} (n={len(s['errors'])})" if s else "-"
                 for s in (summary[n].get(method) for n in counts)]
        minutes = " ; ".join(f"{s['wall_minutes']:.2f} / {s['cpu_minutes']:.2f}" if s else "-"
                             for s in (summary[n].get(method) for n in counts))
        paper = ", ".join(f"{PAPER[method][int(n)]}" for n in counts if int(n) in PAPER.get(method, {}))
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {minutes} | {paper or '-'} |")
    if m1:
        elbo = np.mean([r["test_elbo"] for r in m1.values()])
        lines += ["", f"M1 (one per seed, used by vae_m1 and m1_m2): {args.m1_epochs} epochs, test ELBO {elbo:.2f} "
                  f"nats (mean over seeds {', '.join(sorted(m1))}), "
                  f"{np.mean([r['wall_seconds'] for r in m1.values()]) / 60:.1f} wall / "
                  f"{np.mean([r['cpu_seconds'] for r in m1.values()]) / 60:.1f} CPU min per seed."]
    lines += ["", f"n: seeds per cell; std: sample (ddof = 1). Targets (issue #20, 100 labels): m1_m2 <= "
              f"{TARGETS['m1_m2']}%, m2 <= {TARGETS['m2']}%."]
    return "\n".join(lines)


def anomaly_detection(args, data, seed):
    digit = args.anomaly_digit
    normal_train = data.x_train[data.y_train != digit]
    reference = data.x_val[data.y_val != digit] if len(data.x_val) else None
    normal, anomalous = data.x_test[data.y_test != digit], data.x_test[data.y_test == digit]
    rows = {}
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model = _autoencoder(args, data)
    model.fit(normal_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    rows["autoencoder"] = anomaly.anomaly_report(model, normal, anomalous, x_reference=reference)
    rows["autoencoder"]["seconds"] = time.perf_counter() - start
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    vae = _vae(args, data, seed)
    vae.fit(normal_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    rows["vae"] = anomaly.anomaly_report(vae, normal, anomalous, x_reference=reference, num_samples=args.nll_samples,
                                         seed=seed)
    rows["vae"]["seconds"] = time.perf_counter() - start
    for name, row in rows.items():
        print(
            f"  {name:16s} AUC {row['auc']:.4f}  detection {row['detection_rate']:.3f}  "
            f"FPR {row['false_positive_rate']:.3f}  ({row['method']}, {row['seconds']:.0f} s)",
            flush=True,
        )
    return rows


def command(args):
    """The command that reproduces the run: every setting spelled out (``--quick`` resolved)."""
    parts = ["python", "benchmarks/semi_supervised_mnist.py"]
    for key, value in vars(args).items():
        if key in ("quick", "out", "m1_cache", "preset", "backups") or value is None:  # None: an option left at "none"
            continue
        if key == "methods":
            value = ",".join(value)
        parts += ["--" + key.replace("_", "-"), *map(str, value if isinstance(value, list) else [value])]
    return " ".join(parts)


def earlier_runs(args):
    """The result already in ``args.out`` (``{}`` without one or with ``--quick``), made with the same settings
    apart from the piece (:data:`PER_PIECE`); exits with status 2, touching nothing, when they differ."""
    if args.quick:  # a smoke test starts afresh
        return {}
    settings = {key: value for key, value in vars(args).items() if key not in PER_PIECE}
    return earlier_result(args.out, settings, "semi-supervised runs", within="config", required=("runs", "m1"))


def remaining(runs):
    """The pieces of the paper's grid (100, 600 and 1000 labels, seeds 0-2, every method) not yet in ``runs``."""
    return missing(runs, {"labels": (100, 600, 1000), "seed": (0, 1, 2), "method": GRID_METHODS})


def build(args, runs, m1_records, anomalies, minutes):
    """The result file's content from every run it gathers."""
    summary = summarise(runs)
    headline = summary[min(summary, key=int)]  # the fewest labels: the paper's headline count (100)
    return {
        "benchmark": "semi_supervised_mnist",
        "command": "; ".join(dict.fromkeys(r["command"] for r in runs)),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        # labels_per_class: the headline label count's, as the report's section reads it
        "config": {**vars(args), "labels_per_class": int(min(summary, key=int)) // 10},
        # the headline (fewest labels), mean over seeds, as the report reads it: {method: {test_accuracy}}
        "semi_supervised": {m: {"test_accuracy": 1 - s["error_mean"] / 100, "error_rate": s["error_mean"],
                                "error_std": s["error_std"], "wall_minutes": s["wall_minutes"],
                                "cpu_minutes": s["cpu_minutes"]} for m, s in headline.items()},
        "error_rates": summary,
        "runs": runs,
        "remaining": remaining(runs),
        "m1": m1_records,
        "paper": {m: {str(n): e for n, e in v.items()} for m, v in PAPER.items()},
        "targets_at_100_labels": TARGETS,
        "markdown": markdown(summary, m1_records, args),
        "anomaly": anomalies,
        "total_minutes": minutes,
        "versions": {"keras": keras.__version__, "kerasae": kerasae.__version__, "python": platform.python_version()},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
    }


def main(argv=None):
    args = parse_args(argv)
    earlier = earlier_runs(args)
    check_backups(args)
    clock = Clock()
    piece = {(n, seed, m) for n in args.labels for seed in args.seeds for m in args.methods}
    runs = [r for r in earlier.get("runs", []) if (r["labels"], r["seed"], r["method"]) not in piece]
    m1_records, anomalies = dict(earlier.get("m1", {})), earlier.get("anomaly")
    before = earlier.get("total_minutes", {"wall": 0.0, "cpu": 0.0})
    this = command(args)

    def save():
        minutes = {k.split("_")[0]: before[k.split("_")[0]] + v / 60 for k, v in clock.seconds().items()}
        result = build(args, runs, m1_records, anomalies, minutes)
        if earlier.get("notes"):  # what was tried, written by hand beside the figures: kept
            result["notes"] = earlier["notes"]
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write_json(args.out, result)  # after every method: an interrupted run keeps what it finished
        return result

    print(f"{args.dataset}: label counts {args.labels}, seeds {args.seeds}, methods {', '.join(args.methods)}",
          flush=True)
    for seed in args.seeds:
        data = datasets.load(args.dataset, validation_split=VALIDATION_SPLIT, seed=seed)
        m1 = None
        if {"vae_m1", "m1_m2"} & set(args.methods):
            m1, m1_records[str(seed)] = train_m1(args, seed)
        for labels in args.labels:
            for method, row, model in semi_supervised(args, data, labels, seed, m1):
                runs.append({"labels": labels, "seed": seed, "method": method, "command": this, **row})
                save()
                if args.preset and method == "m1_m2" and labels == 100 and seed == args.seeds[0]:
                    write_preset(args, model, data, row, seed, m1_records[str(seed)])
        if anomalies is None:
            print(f"Anomaly detection, digit {args.anomaly_digit} held out (seed {seed}):", flush=True)
            anomalies = anomaly_detection(args, data, seed)
    result = save()
    print("\n" + result["markdown"])
    print("\n| model | score | ROC AUC | detection @ 99% | false-positive rate |\n|---|---|---|---|---|")
    for name, row in anomalies.items():
        print(f"| {name} | {row['method']} | {row['auc']:.4f} | {row['detection_rate']:.3f} | {row['false_positive_rate']:.3f} |")
    print(f"\nCommand: {this}\nWritten to {args.out} ({clock.seconds()['wall_seconds'] / 60:.1f} wall min, "
          f"{clock.seconds()['cpu_seconds'] / 60:.1f} CPU min; {len(result['remaining'])} pieces of the paper's "
          "grid remaining)")


if __name__ == "__main__":
    sys.exit(main())
