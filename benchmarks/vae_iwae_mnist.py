"""Benchmark: the IWAE paper's one-stochastic-layer model on dynamically binarised MNIST.

Architecture (Burda, Grosse & Salakhutdinov 2016, section 5): 784-200-200-50 encoder and 50-200-200-784
decoder, tanh hidden units, a diagonal normal posterior over a 50-dimensional code, a Bernoulli likelihood,
trained with Adam on a fresh Bernoulli draw of every training image each epoch. Trains a VAE (``--model
vae``, ``k = --num-samples`` samples of the ELBO) or an IWAE (``--model iwae``, the ``k``-sample bound) for a
fixed number of epochs, then reports seconds per epoch, training samples per second, the test ELBO and the
test NLL ``-log p(x)`` estimated with ``--nll-samples`` importance samples (5000 in the paper) on the whole
test set or a ``--test-subset``. Prints the figures and writes them to ``benchmarks/results/``.

The paper's figures after 3,280 epochs: VAE k=1 NLL 86.76, IWAE k=5 85.54, IWAE k=50 84.78 nats.

Usage:
    KERAS_HOME=/tmp/keras-home python benchmarks/vae_iwae_mnist.py --model iwae --num-samples 5 --epochs 10
"""

import argparse
import json
import os
import platform
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("vae", "iwae"), default="vae")
    parser.add_argument("--num-samples", type=int, default=None, help="training samples k (vae: 1, iwae: 5)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--nll-samples", type=int, default=5000, help="importance samples of the test NLL")
    parser.add_argument("--nll-batch-size", type=int, default=100, help="test examples per NLL chunk")
    parser.add_argument("--test-subset", type=int, default=None, help="first N test images for the NLL")
    parser.add_argument("--jit-compile", action="store_true", help="compile the training step with XLA")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/<name>.json)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    import kerasae
    from kerasae.callbacks import EpochTimer
    from kerasae.data import datasets
    from kerasae.models.iwae import IWAE
    from kerasae.models.vae import VAE

    keras.utils.set_random_seed(args.seed)
    k = args.num_samples or (5 if args.model == "iwae" else 1)
    data = datasets.load("mnist", binarize="dynamic", seed=args.seed)
    cls = IWAE if args.model == "iwae" else VAE
    model = cls.create(
        (784,), 50, hidden_units=(200, 200), activation="tanh", likelihood="bernoulli", num_samples=k, seed=args.seed
    )
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate, epsilon=1e-4), jit_compile=args.jit_compile)
    timer = EpochTimer()
    train = data.pipeline("train", batch_size=args.batch_size)
    history = model.fit(train, epochs=args.epochs, callbacks=[timer], verbose=2, shuffle=False)

    n_train = len(data.x_train)
    times = timer.times
    steady = times[1:] if len(times) > 1 else times  # the first epoch includes tracing/compilation
    test = data.pipeline("test", batch_size=500)
    x_test = np.concatenate(list(test.as_numpy_iterator()))  # binarised with the pipeline's fixed draw
    elbo = model.evaluate(x_test, batch_size=500, verbose=0, return_dict=True)["elbo"]
    x_nll = x_test[: args.test_subset] if args.test_subset else x_test
    start = time.perf_counter()
    log_px = model.log_likelihood(x_nll, num_samples=args.nll_samples, batch_size=args.nll_batch_size, seed=args.seed)
    nll_seconds = time.perf_counter() - start

    results = {
        "benchmark": "vae_iwae_mnist",
        "model": args.model,
        "architecture": "784-200-200-50 tanh, diagonal normal posterior, Bernoulli likelihood, dynamic binarisation",
        "num_samples": k,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "jit_compile": args.jit_compile,
        "seconds_per_epoch": float(np.mean(steady)),
        "first_epoch_seconds": float(times[0]),
        "train_samples_per_second": float(n_train / np.mean(steady)),
        "final_train_loss": float(history.history["loss"][-1]),
        "test_elbo": float(elbo),
        "test_nll": float(-np.mean(log_px)),
        "nll_samples": args.nll_samples,
        "nll_test_examples": int(len(x_nll)),
        "nll_seconds": nll_seconds,
        "device": "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)",
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
                     "kerasae": kerasae.__version__},
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    out = args.out or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results", f"vae_iwae_mnist_{args.model}_k{k}_e{args.epochs}.json"
    )
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"Wrote {out}")
    return results


if __name__ == "__main__":
    main()
