"""Benchmark: semi-supervised MNIST with few labels, and anomaly detection with one digit held out.

Semi-supervised (``--labels-per-class`` labels per class, the rest of the training set unlabelled), test
accuracy of the same MLP encoder + linear head trained:

* ``supervised_only``: on the labelled examples alone (alpha = 0), for as many steps as ``concurrent``;
* ``sequential``: autoencoder on all images, then the head on the frozen codes;
* ``concurrent``: one fit on mixed batches, cross-entropy on the labelled + alpha * reconstruction;
* ``vae_m1``: a VAE on all images, then the head on the posterior means (Kingma et al. 2014, M1),
  when :mod:`kerasae.models.vae` exists.

Anomaly detection: an autoencoder and a VAE trained on every digit but ``--anomaly-digit``; ROC AUC of the
reconstruction error (autoencoder) and of ``-log p(x)`` (VAE) on the test set, threshold at the 99%
quantile of validation scores.

Usage (MNIST from Keras's cache)::

    export KERAS_HOME=/tmp/keras-home; mkdir -p $KERAS_HOME/datasets
    cp shared/data/mnist.npz $KERAS_HOME/datasets/
    python benchmarks/semi_supervised_mnist.py --epochs 5

Prints a table and writes ``benchmarks/results/semi_supervised_mnist.json``. ``--dataset digits`` runs the
same on the small offline digits set (a smoke test).
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import kerasae  # noqa: E402
from kerasae import anomaly  # noqa: E402
from kerasae.data import datasets  # noqa: E402
from kerasae.models import semi_supervised as ss  # noqa: E402

try:
    from kerasae.models import vae as vae_module  # noqa: E402
except ImportError:  # pragma: no cover - the VAE is optional here
    vae_module = None

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--labels-per-class", type=int, default=10)
    p.add_argument("--epochs", type=int, default=5, help="epochs over the (unlabelled) training set")
    p.add_argument("--head-epochs", type=int, default=200, help="passes over the labelled codes (sequential, M1)")
    p.add_argument("--latent-dim", type=int, default=32)
    p.add_argument("--hidden-units", default="256,128")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--anomaly-digit", type=int, default=9)
    p.add_argument("--nll-samples", type=int, default=100, help="importance samples of the VAE's anomaly score")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(RESULTS, "semi_supervised_mnist.json"))
    return p.parse_args(argv)


def _compile(model, args):
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    return model


def _ssae(args, data, alpha):
    hidden = tuple(int(v) for v in args.hidden_units.split(","))
    encoder, decoder = kerasae.networks.mlp(data.input_shape, args.latent_dim, hidden_units=hidden)
    return _compile(ss.SemiSupervisedAutoencoder(encoder, decoder, num_classes=10, alpha=alpha, reconstruction_loss="bce"), args)


def _autoencoder(args, data):
    hidden = tuple(int(v) for v in args.hidden_units.split(","))
    encoder, decoder = kerasae.networks.mlp(data.input_shape, args.latent_dim, hidden_units=hidden)
    return _compile(kerasae.Autoencoder(encoder, decoder, reconstruction_loss="bce"), args)


def _vae(args, data):
    hidden = tuple(int(v) for v in args.hidden_units.split(","))
    return _compile(vae_module.VAE.create(data.input_shape, args.latent_dim, hidden_units=hidden, seed=args.seed), args)


def semi_supervised(args, data):
    y = ss.mask_labels(data.y_train, args.labels_per_class, seed=args.seed)
    labelled = y >= 0
    rows = {}

    def record(name, model, start):
        rows[name] = {"test_accuracy": ss.accuracy(model, data.x_test, data.y_test), "seconds": time.perf_counter() - start}
        print(f"  {name:16s} accuracy {rows[name]['test_accuracy']:.4f}  ({rows[name]['seconds']:.0f} s)", flush=True)

    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    model = _ssae(args, data, args.alpha)
    train = ss.mixed_pipeline(data.x_train, y, batch_size=args.batch_size, seed=args.seed)
    steps_per_epoch = sum(1 for _ in train)
    model.fit(train, epochs=args.epochs, verbose=0, shuffle=False)
    record("concurrent", model, start)

    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    model = _ssae(args, data, 0.0)
    import tensorflow as tf

    repeated = (
        tf.data.Dataset.from_tensor_slices((data.x_train[labelled], y[labelled]))
        .shuffle(int(labelled.sum()), seed=args.seed)
        .batch(min(args.batch_size // 4, int(labelled.sum())))
        .repeat()
    )
    model.fit(repeated, epochs=args.epochs, steps_per_epoch=steps_per_epoch, verbose=0, shuffle=False)
    record("supervised_only", model, start)

    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    model = _ssae(args, data, 1.0)
    model.fit_sequential(data.x_train, y, epochs=args.epochs, head_epochs=args.head_epochs, batch_size=args.batch_size)
    record("sequential", model, start)

    if vae_module is not None:
        keras.utils.set_random_seed(args.seed)
        start = time.perf_counter()
        vae = _vae(args, data)
        vae.fit(data.x_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
        m1 = ss.LatentPredictor(vae).fit(data.x_train, y, epochs=args.head_epochs, seed=args.seed)
        record("vae_m1", m1, start)
    return rows


def anomaly_detection(args, data):
    digit = args.anomaly_digit
    normal_train = data.x_train[data.y_train != digit]
    reference = data.x_val[data.y_val != digit] if len(data.x_val) else None
    normal, anomalous = data.x_test[data.y_test != digit], data.x_test[data.y_test == digit]
    rows = {}
    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    model = _autoencoder(args, data)
    model.fit(normal_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    rows["autoencoder"] = anomaly.anomaly_report(model, normal, anomalous, x_reference=reference)
    rows["autoencoder"]["seconds"] = time.perf_counter() - start
    if vae_module is not None:
        keras.utils.set_random_seed(args.seed)
        start = time.perf_counter()
        vae = _vae(args, data)
        vae.fit(normal_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
        rows["vae"] = anomaly.anomaly_report(
            vae, normal, anomalous, x_reference=reference, num_samples=args.nll_samples, seed=args.seed
        )
        rows["vae"]["seconds"] = time.perf_counter() - start
    for name, row in rows.items():
        print(
            f"  {name:16s} AUC {row['auc']:.4f}  detection {row['detection_rate']:.3f}  "
            f"FPR {row['false_positive_rate']:.3f}  ({row['method']}, {row['seconds']:.0f} s)",
            flush=True,
        )
    return rows


def main(argv=None):
    args = parse_args(argv)
    data = datasets.load(args.dataset, validation_split=1 / 12, seed=args.seed)
    print(f"{args.dataset}: {len(data.x_train)} train, {len(data.x_val)} validation, {len(data.x_test)} test")
    print(f"Semi-supervised, {args.labels_per_class} labels per class, {args.epochs} epochs:")
    semi = semi_supervised(args, data)
    print(f"Anomaly detection, digit {args.anomaly_digit} held out:")
    anomalies = anomaly_detection(args, data)

    print("\n| method | test accuracy |\n|---|---|")
    for name, row in semi.items():
        print(f"| {name} | {row['test_accuracy']:.4f} |")
    print("\n| model | score | ROC AUC | detection @ 99% | false-positive rate |\n|---|---|---|---|---|")
    for name, row in anomalies.items():
        print(f"| {name} | {row['method']} | {row['auc']:.4f} | {row['detection_rate']:.3f} | {row['false_positive_rate']:.3f} |")

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(
            {
                "config": vars(args),
                "semi_supervised": semi,
                "anomaly": anomalies,
                "versions": {"keras": keras.__version__, "kerasae": kerasae.__version__, "python": platform.python_version()},
            },
            f,
            indent=2,
            sort_keys=True,
        )
    print(f"\nWritten to {args.out}")


if __name__ == "__main__":
    main()
