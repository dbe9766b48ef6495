"""Benchmark: ``jit_compile`` off, on and ``"auto"`` per family, convolutional and MLP, trained through ``fit``.

What ``compile(jit_compile="auto")`` resolves to is a rule (:mod:`kerasae.utils.xla`): XLA off for models with
convolution layers when TensorFlow sees no GPU or TPU, on otherwise. This script is its evidence, family by
family: each family's model is compiled three times (``jit_compile=False``, ``True`` and ``"auto"``, everything
else at kerasae's defaults: Adam(1e-3), ``steps_per_execution="auto"``) on the same random binary inputs
(batch 100; a training step's speed does not depend on the values) and trained through ``fit``, one epoch of
``--steps`` steps per block. After one untimed epoch each (tracing and compiling), the three take turns for
``--rounds`` rounds in alternating order, so that every block of a round shares the machine's load of the
moment. Per family: the median ms per step of each setting, XLA's speed-up (median over rounds of the off/on
time ratio), what "auto" resolved to and why (``model.jit_compile_choice``), and "auto"'s time over the faster
of the two settings (target: at most 1.05, i.e. "auto" never more than 5% slower than the faster setting; see
:func:`summarise`).

Families: the convolutional autoencoder and VAE on 28x28x1 images (encoder Conv2D 32 and 64 filters, stride 2;
decoder mirrored with Conv2DTranspose; code 16), beside the MLP autoencoder and VAE of ``benchmarks/run.py``
(784-200-200-50 tanh).

Usage (from the repository root):
    python benchmarks/conv_speed.py [--rounds 5] [--steps 100] [--families conv_vae ...]

Writes ``benchmarks/results/conv_speed.json`` (rendered into ``benchmarks/RESULTS.md`` by
``python -m benchmarks.report``).
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.models import BATCH_SIZE, LEARNING_RATE  # noqa: E402
from benchmarks.orchestrate import machine_info, now, versions  # noqa: E402
from kerasae.utils import files  # noqa: E402

#: name -> (description, input shape)
FAMILIES = {
    "conv_autoencoder": ("Autoencoder(*networks.conv((28, 28, 1), 16, filters=(32, 64))), MSE", (28, 28, 1)),
    "conv_vae": ("VAE.create((28, 28, 1), 16, architecture='conv', filters=(32, 64), likelihood='bernoulli')",
                 (28, 28, 1)),
    "mlp_autoencoder": ("Autoencoder, MLP 784-200-200-50 tanh, MSE (benchmarks/run.py's autoencoder)", (784,)),
    "mlp_vae": ("VAE.create((784,), 50, hidden_units=(200, 200), activation='tanh'), Bernoulli "
                "(benchmarks/run.py's vae)", (784,)),
}
#: setting name -> compile's jit_compile
SETTINGS = {"off": False, "on": True, "auto": "auto"}
#: "auto" may be at most this much slower than the faster of off and on.
AUTO_TOLERANCE = 1.05
NUM_SAMPLES = 10_000


def build(family, seed=0):
    from kerasae import networks
    from kerasae.models.autoencoder import Autoencoder
    from kerasae.models.vae import VAE

    if family == "conv_autoencoder":
        return Autoencoder(*networks.conv((28, 28, 1), 16, filters=(32, 64)))
    if family == "conv_vae":
        return VAE.create((28, 28, 1), 16, architecture="conv", filters=(32, 64), likelihood="bernoulli", seed=seed)
    if family == "mlp_autoencoder":
        return Autoencoder(*networks.mlp((784,), 50, hidden_units=(200, 200), activation="tanh"))
    if family == "mlp_vae":
        return VAE.create((784,), 50, hidden_units=(200, 200), activation="tanh", likelihood="bernoulli", seed=seed)
    raise ValueError(f"Unknown family {family!r}. Expected one of {sorted(FAMILIES)}.")


def measure_family(family, rounds, steps, seed=0):
    """The three settings of ``family`` timed in turns through ``fit``: figures per setting and the ratios."""
    import keras
    import numpy as np
    import tensorflow as tf

    shape = FAMILIES[family][1]
    x = (np.random.default_rng(seed).random((NUM_SAMPLES, *shape), dtype="float32") < 0.3).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(x).batch(BATCH_SIZE, drop_remainder=True).repeat().prefetch(2)
    models, figures = {}, {}
    for name, jit_compile in SETTINGS.items():
        keras.utils.set_random_seed(seed)
        model = build(family, seed)
        model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), jit_compile=jit_compile)
        start = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)  # traces (and compiles with XLA)
        figures[name] = {"jit_compile": bool(model.jit_compile), "choice": model.jit_compile_choice,
                         "warmup_seconds": time.perf_counter() - start, "step_ms_each_round": []}
        models[name] = model
    for r in range(rounds):
        for name in list(SETTINGS)[:: 1 if r % 2 == 0 else -1]:
            start = time.perf_counter()
            models[name].fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
            figures[name]["step_ms_each_round"].append(1000 * (time.perf_counter() - start) / steps)
    return summarise({"family": family, "description": FAMILIES[family][0], "settings": figures,
                      "steps_per_execution": models["auto"].steps_per_execution})


def summarise(row):
    """Adds the figures of a family's row from its step times per round.

    "auto" resolves to one of the two settings, and its copy then runs the very same compiled step: the
    target compares the median step time of the setting "auto" resolved to with the faster setting's
    (``auto_over_faster``, at most ``AUTO_TOLERANCE``). The separately timed "auto" copy is a check of that
    (``auto_copy_over_faster``: the median over rounds of its time over the faster setting's in the same
    round), which a loaded machine moves more than the choice between two settings far apart.
    """
    figures = row["settings"]
    for f in figures.values():
        f["step_ms"] = statistics.median(f["step_ms_each_round"])
        f["samples_per_second"] = 1000 * BATCH_SIZE / f["step_ms"]
    per_round = list(zip(*(figures[name]["step_ms_each_round"] for name in ("off", "on", "auto"))))
    faster = "on" if figures["on"]["step_ms"] < figures["off"]["step_ms"] else "off"
    resolved = "on" if figures["auto"]["jit_compile"] else "off"
    auto_over_faster = figures[resolved]["step_ms"] / figures[faster]["step_ms"]
    return {**row, "xla_speedup": statistics.median(off / on for off, on, _ in per_round), "faster_setting": faster,
            "auto_resolves_to": resolved, "auto_over_faster": auto_over_faster,
            "auto_within_tolerance": auto_over_faster <= AUTO_TOLERANCE,
            "auto_copy_over_faster": statistics.median(auto / min(off, on) for off, on, auto in per_round)}


def markdown(rows):
    lines = ["| family | XLA off: samples/s | XLA on: samples/s | XLA speed-up | faster | \"auto\" resolves to (why) "
             "| \"auto\" time / faster setting's (goal <= 1.05) | \"auto\" copy: samples/s | \"auto\" copy / faster, "
             "same round |",
             "|---|---:|---:|---:|---|---|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['family']} | failed: {r['error']} | | | | | | | |")
            continue
        s = r["settings"]
        status = "met" if r["auto_within_tolerance"] else "**not met**"
        lines.append(f"| {r['family']} | {s['off']['samples_per_second']:.0f} | {s['on']['samples_per_second']:.0f} "
                     f"| {r['xla_speedup']:.2f}x | {r['faster_setting']} | {r['auto_resolves_to']} "
                     f"({s['auto']['choice']['reason']}) | {r['auto_over_faster']:.3f} ({status}) "
                     f"| {s['auto']['samples_per_second']:.0f} | {r['auto_copy_over_faster']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", choices=list(FAMILIES), default=list(FAMILIES))
    parser.add_argument("--rounds", type=int, default=5, help="timed fit epochs per setting, taken in turns")
    parser.add_argument("--steps", type=int, default=100, help="training steps per epoch (batch 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "conv_speed.json"))
    args = parser.parse_args(argv)
    for name, value in (("--rounds", args.rounds), ("--steps", args.steps)):
        if value < 1:
            parser.error(f"{name} must be at least 1. Received: {value}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    started, load_start = time.perf_counter(), os.getloadavg()[0]
    rows = []
    for family in args.families:
        try:
            rows.append(measure_family(family, args.rounds, args.steps, args.seed))
        except Exception as err:  # noqa: BLE001  (a family that fails is reported, the others still run)
            rows.append({"family": family, "error": f"{type(err).__name__}: {err}"})
        print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    table = markdown(rows)
    print(table)
    report = {
        "benchmark": "conv_speed",
        "command": "python benchmarks/conv_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": now(), "total_seconds": time.perf_counter() - started,
        "data": f"{NUM_SAMPLES} random binary inputs (P(1) = 0.3) per family, batch {BATCH_SIZE}",
        "settings": {**{k: v for k, v in vars(args).items() if k != "out"}, "batch_size": BATCH_SIZE,
                     "learning_rate": LEARNING_RATE, "auto_tolerance": AUTO_TOLERANCE},
        "machine": {**machine_info(), "load_1min_start": load_start, "load_1min_end": os.getloadavg()[0]},
        "versions": versions(), "results": rows, "markdown": table,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    files.write_json(args.out, report)  # atomic
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
