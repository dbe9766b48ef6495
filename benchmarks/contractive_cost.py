"""Benchmark: what the contractive penalty costs, per method and per MLP, as a multiple of a plain step.

For each encoder architecture (784-dimensional input, mirrored decoder, batch 100, Adam) it times a
training step of the plain :class:`kerasae.models.autoencoder.Autoencoder` and of
:class:`kerasae.models.contractive.ContractiveAutoencoder`
with each way of computing ``||dh/dx||_F^2``:

* ``auto``: the default, the first exact method that applies (the sigmoid closed form for one sigmoid
  layer; for other MLPs the matrix form: ``s^T (G * H) s`` for one hidden layer and a linear code,
  ``tr(B G B^T)`` otherwise);
* ``autodiff``: the exact norm for any encoder, one backward pass on the batch tiled ``k`` times;
* ``hutchinson``: the unbiased one-projection estimate ``E_v ||J^T v||^2``.

The target of the performance issue is "at most 3x a plain step for an MLP with a 784-dimensional input".
With one hidden layer and a linear code the exact norm costs ``h_1^2`` multiply-adds per example and
``G = W_1^T W_1`` once per batch (less than a plain step). The exact norm of a deeper MLP needs about
``2 k h_1 h_2`` multiply-adds per example in the forward pass alone (``k`` code units, hidden sizes
``h_1``, ``h_2``), against ``6 (d h_1 + h_1 h_2 + h_2 k)`` for a whole plain step; the flop ratio is
printed beside the measured one, and so is the matrix form's floor on this machine: ``1 + penalty
multiply-adds / (measured matrix-product rate x plain step time)``, the ratio it would reach if all its
products ran at the speed of its largest one and everything else were free.
Timings use random inputs in [0, 1] (the speed does not depend on the values), the median of
``--epochs`` timed epochs of ``--steps`` steps after a warm-up epoch. Prints a markdown table and writes
``benchmarks/results/contractive_cost.json``.

Usage:
    python benchmarks/contractive_cost.py [--jit both|on|off] [--steps 30] [--epochs 3]
"""

import argparse
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: name -> (hidden units, code size, hidden activation, code activation)
ARCHITECTURES = {
    "784-128 sigmoid (Rifai et al.)": ((), 128, "tanh", "sigmoid"),
    "784-256-32": ((256,), 32, "tanh", None),
    "784-200-200-50 (benchmarks/run.py)": ((200, 200), 50, "tanh", None),
    "784-500-250-30": ((500, 250), 30, "tanh", None),
}
METHODS = ("plain", "auto", "autodiff", "hutchinson")
BATCH_SIZE = 100


def quadratic_form_applies(hidden, k, code_activation, d=784):
    """Whether kerasae computes the exact norm of this MLP as ``s^T (G * H) s`` (asked of
    :func:`kerasae.ops.jacobian.quadratic_form_applies` on the encoder)."""
    from kerasae import networks
    from kerasae.ops import jacobian

    encoder = networks.mlp((d,), k, hidden_units=hidden, code_activation=code_activation)[0]
    return jacobian.quadratic_form_applies(jacobian.dense_chain(encoder))


def penalty_macs(hidden, k, quadratic, d=784, batch=BATCH_SIZE):
    """Multiply-adds per batch of the exact matrix form's products, forward and backward (0 without hidden layers).

    Per batch: ``G = W_1^T W_1`` and its backward (``d h_1^2`` each). Then, with ``quadratic``
    (:func:`quadratic_form_applies`: one hidden layer and a linear code), ``H = W_2 W_2^T`` (``k h_1^2``, three times) and per example ``s^T (G * H)`` (``h_1^2``,
    twice: forward and ``d(G * H) = s s^T``). Otherwise, per example: the chain ``B`` (``k h_l h_{l+1}`` per
    hidden pair, three times: forward and two backward products) and ``B G`` (``k h_1^2``, twice: forward
    and ``dG = B^T B``; ``dB = 2 B G`` reuses the forward); with ``d <= h_1`` the Jacobian ``B W_1^T``
    itself is formed instead of ``G`` (three products of ``k h_1 d``).
    """
    if not hidden:
        return 0
    h1 = hidden[0]
    if quadratic:
        return batch * 2 * h1 * h1 + 2 * d * h1 * h1 + 3 * k * h1 * h1
    chain = sum(k * a * b for a, b in zip(hidden[:-1], hidden[1:]))
    if d <= h1:
        return batch * (3 * chain + 3 * k * h1 * d)
    return batch * (3 * chain + 2 * k * h1 * h1) + 2 * d * h1 * h1


def plain_macs(hidden, k, d=784, batch=BATCH_SIZE):
    """Multiply-adds per batch of a plain step: encoder and mirrored decoder, forward and two backward products."""
    sizes = [d, *hidden, k]
    return batch * 6 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def gemm_rate(hidden, k, quadratic, jit_compile, repeats=30, d=784):
    """Measured multiply-adds per second of the matrix form's largest product (best of 5 runs of ``repeats``
    products, under the same ``jit_compile`` setting): ``(h_1, d) x (d, h_1)`` (``G``) for the quadratic
    form, ``(batch k, h_1) x (h_1, h_1)`` (``B G``) otherwise."""
    import time

    import tensorflow as tf

    h1 = hidden[0]
    m, n = (h1, d) if quadratic else (BATCH_SIZE * k, h1)
    a = tf.random.uniform((m, n))
    b = tf.random.uniform((n, h1))
    product = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)), jit_compile=jit_compile)
    product(a, b).numpy()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            total = product(a, b)
        total.numpy()
        best = min(best, (time.perf_counter() - start) / repeats)
    return m * n * h1 / best


def _gmacs(rate):
    return "-" if rate is None else f"{rate / 1e9:.0f}"


def time_step(architecture, method, jit_compile, steps, epochs, seed=0):
    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks.measure import timed_fit
    from kerasae import networks
    from kerasae.models.autoencoder import Autoencoder
    from kerasae.models.contractive import ContractiveAutoencoder

    hidden, k, activation, code_activation = ARCHITECTURES[architecture]
    keras.utils.set_random_seed(seed)
    encoder, decoder = networks.mlp(
        (784,), k, hidden_units=hidden, activation=activation, code_activation=code_activation
    )
    if method == "plain":
        model, used = Autoencoder(encoder, decoder), "-"
    else:
        model = ContractiveAutoencoder(encoder, decoder, contractive_weight=0.1, penalty_method=method, seed=seed)
        used = model.training_method
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
    x = np.random.default_rng(seed).uniform(size=(BATCH_SIZE * steps, 784)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(x).batch(BATCH_SIZE).cache().repeat().prefetch(tf.data.AUTOTUNE)
    return 1000 * timed_fit(model, data, steps, epochs)[0], used


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jit", choices=("both", "on", "off"), default="both")
    parser.add_argument("--steps", type=int, default=30, help="steps per timed epoch")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after the warm-up one")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                      "contractive_cost.json"))
    args = parser.parse_args(argv)
    import tensorflow as tf

    from kerasae.utils import versions

    jits = {"both": (False, True), "on": (True,), "off": (False,)}[args.jit]
    rows = []
    for architecture, (hidden, k, _, code_activation) in ARCHITECTURES.items():
        quadratic = quadratic_form_applies(hidden, k, code_activation)
        for jit in jits:
            # The plain step is timed first and again last, and the faster is the reference (conservative
            # ratios): the first model of a process runs slower while thread pools and the allocator warm up.
            timed = {method: time_step(architecture, method, jit, args.steps, args.epochs) for method in METHODS}
            plain_ms = min(timed["plain"][0], time_step(architecture, "plain", jit, args.steps, args.epochs)[0])
            timed["plain"] = (plain_ms, "-")
            rate = gemm_rate(hidden, k, quadratic, jit) if hidden else None  # no products without hidden layers
            macs = penalty_macs(hidden, k, quadratic)
            exact = {"flop_ratio_exact": 1 + macs / plain_macs(hidden, k), "gemm_macs_per_second": rate,
                     "floor_ratio_exact": 1 + macs / rate / (plain_ms / 1000) if rate else 1.0}
            for method, (ms, used) in timed.items():
                row = {"architecture": architecture, "jit_compile": jit, "method": method, "method_used": used,
                       "step_ms": ms, "ratio": ms / plain_ms, **(exact if method == "auto" else {})}
                rows.append(row)
                print(f"{architecture:36s} jit={jit!s:5s} {method:10s} ({used:11s}) {ms:8.2f} ms  {row['ratio']:6.2f}x",
                      flush=True)
    lines = ["| MLP | jit | plain step ms | exact, default (method) | exact, tiled autodiff | Hutchinson, 1 projection "
             "| flop ratio of the exact matrix form | its floor here (matrix products at GMAC/s) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for architecture in ARCHITECTURES:
        for jit in jits:
            got = {r["method"]: r for r in rows if r["architecture"] == architecture and r["jit_compile"] == jit}
            lines.append(
                f"| {architecture} | {jit} | {got['plain']['step_ms']:.2f} "
                f"| {got['auto']['ratio']:.2f}x ({got['auto']['method_used']}) | {got['autodiff']['ratio']:.2f}x "
                f"| {got['hutchinson']['ratio']:.2f}x | {got['auto']['flop_ratio_exact']:.1f}x "
                f"| {got['auto']['floor_ratio_exact']:.2f}x ({_gmacs(got['auto']['gemm_macs_per_second'])}) |"
            )
    table = "\n".join(lines)
    print(table)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"benchmark": "contractive_cost", "rows": rows, "markdown": table,
                   "command": "python benchmarks/contractive_cost.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                   "settings": {**vars(args), "batch_size": BATCH_SIZE},
                   "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                   "versions": versions.versions(), "tensorflow": tf.__version__}, f, indent=2)
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
