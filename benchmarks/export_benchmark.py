"""Benchmarks exported models: file size, single-sample latency and reconstruction error per quantisation.

For each model family (trained briefly on digits) and each TFLite quantisation mode, it reports the file
size (and its ratio to float32), the per-sample latency of ``encode`` and ``decode`` in LiteRT against the
Keras model's own call and the SavedModel signature (batch of one, the on-device case), and the test-set
reconstruction MSE against float32's. Prints a markdown table and writes JSON under ``benchmarks/results/``.

Targets: int8 files at most 30% of float32's size; int8 reconstruction MSE within 5% of float32's;
single-sample LiteRT latency well under Keras's. The ``dynamic`` and ``int8`` rows use the export default,
``weight_scales="smallest"`` (one scale per weight tensor when the file passes the parity and quality gates,
else one per output channel; ``weight_scales`` in the JSON rows says which), with the default gates; the
``/per_channel`` rows a scale per output channel (TFLite's own default), measured, not gated. The size column also gives the bytes of quantisation parameters (float32
scales and int64 zero points, repeated in every signature using a tensor), the part of an int8 file beyond
its int8 weights and int32 biases. The trained presets are measured by ``benchmarks/edge_benchmark.py``.

A family runs on digits unless named ``family@dataset`` (``mnist``, ``fashion_mnist``: through the Keras
cache). The linear autoencoder on digits (64-8, about 1,000 weights) is a 7 KiB file whose fixed flatbuffer
structure (three signatures' tensor tables, operator codes, signature definitions: about 3.8 KiB) outweighs its
weights, so no quantisation brings it near 30%; the size target is therefore checked on ``linear@mnist``
(784-50, 79,000 weights, MNIST's usual PCA size), where the weights are what the file holds.

Usage:
    python benchmarks/export_benchmark.py [--families autoencoder conv linear@mnist ...] [--epochs 10]
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HIDDEN_UNITS = (512, 256)
#: Every model family: the registered models (MLP networks) and the convolutional autoencoder.
FAMILIES = ("autoencoder", "conv", "sparse", "denoising", "contractive", "stacked", "linear", "linear@mnist", "vae",
            "iwae", "cvae", "semi-supervised")  # wide enough that the weights, not the file's fixed overhead, dominate the size
#: The code size per data set: 8 for 64-pixel digits, 50 (MNIST's usual PCA size) for 784-pixel images.
LATENT_DIM = {"digits": 8, "mnist": 50, "fashion_mnist": 50}


def _parse(spec):
    """``"family"`` or ``"family@dataset"`` -> (family, dataset); digits by default."""
    family, _, dataset = spec.partition("@")
    dataset = dataset or "digits"
    if dataset not in LATENT_DIM:
        raise ValueError(f"Expected a data set in {sorted(LATENT_DIM)} after '@'. Received: {spec!r}.")
    return family, dataset


def _build(family, dataset, epochs, seed):
    import keras

    from kerasae.cli import main as cli  # importing the package registers every model
    from kerasae.cli import registry

    name, architecture = ("autoencoder", "conv") if family == "conv" else (family, "mlp")
    entry = registry.models()[name]
    args = argparse.Namespace(
        model=name, dataset=dataset, architecture=architecture, latent_dim=LATENT_DIM[dataset],
        hidden_units=list(HIDDEN_UNITS) if architecture == "mlp" else None, filters=None, activation="relu",
        dropout=0.0, loss="mse", l2=0.0, validation_split=0.0, holdout_class=None, epochs=epochs, batch_size=64,
        learning_rate=2e-3, jit_compile="off", seed=seed, out=None, overwrite=False, verbose=0,
    )
    defaults = argparse.ArgumentParser()
    for flags, kwargs in entry.arguments:
        defaults.add_argument(*flags, **kwargs)
    vars(args).update({k: v for k, v in vars(defaults.parse_args([])).items() if k not in vars(args)})

    keras.utils.set_random_seed(seed)
    data = cli.load_data(args, entry)
    model = entry.build(args, data)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    if entry.fit is not None:
        entry.fit(model, data, args, [])
    else:  # the variant's own pipeline, e.g. the CVAE's (x, condition) inputs
        model.fit(entry.make_pipeline(model, data, "train", 64), epochs=epochs, verbose=0)
    return model, data


def _size_breakdown(path):
    """Bytes of a .tflite file in constant buffers (weights, biases) and in quantisation parameters.

    Quantisation parameters (a float32 scale and an int64 zero point per output channel of each weight and
    bias tensor) live in each subgraph's tensor table, so they are repeated in every signature using the
    tensor, while the weight buffers themselves are shared. None if the flatbuffer tools are missing.
    """
    try:
        from tensorflow.lite.tools import flatbuffer_utils
    except ImportError:  # pragma: no cover
        return None
    model = flatbuffer_utils.read_model(path)
    quant = 0
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            q = tensor.quantization
            if q is not None and q.scale is not None:
                quant += 4 * len(q.scale) + 8 * (len(q.zeroPoint) if q.zeroPoint is not None else 0)
    buffers = sum(len(b.data) for b in model.buffers if b.data is not None)
    return {"buffers_kib": buffers / 1024, "quantization_params_kib": quant / 1024}


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def _latency(fn, repeats):
    fn()  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3  # ms per call


def benchmark(spec, epochs, repeats, seed=0):
    import numpy as np
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from kerasae import export

    family, dataset = _parse(spec)
    model, data = _build(family, dataset, epochs, seed)
    x_test = data.x_test
    k = export.condition_size(model)
    if k is None:
        c_test = c1 = None
        parity, representative = x_test, data.x_train
        wrap = lambda x, c: x  # noqa: E731
        extra = lambda c: {}  # noqa: E731
    else:  # a conditional model: one-hot labels are the conditions
        import keras

        c_test = keras.utils.to_categorical(data.y_test, k).astype("float32")
        c1 = c_test[:1]
        parity = (x_test, c_test)
        representative = (data.x_train, keras.utils.to_categorical(data.y_train, k).astype("float32"))
        wrap = lambda x, c: (x, c)  # noqa: E731
        extra = lambda c: {"condition": c}  # noqa: E731
    # TFLite leaves kernels under 1,024 values in float32 under dynamic-range quantisation, and export refuses a
    # "dynamic" file that holds no int8 weights: the 64-8 linear model on digits has no dynamic row.
    dynamic = any(w.path.endswith("kernel") and int(np.prod(w.shape)) >= 1024 for w in model.weights)
    modes = ("none", "float16", "dynamic", "int8") if dynamic else ("none", "float16", "int8")
    with tempfile.TemporaryDirectory() as tmp:
        results = export.export(
            model, tmp, quantize=modes, parity_data=parity, representative_data=representative, seed=seed
        )
        by_mode = {r.quantization: r for r in results if r.format == "tflite"}
        per_channel = export.export(  # a scale per output channel, for comparison with the default
            model, os.path.join(tmp, "per_channel"), formats="tflite", quantize=modes[2:],
            parity_data=parity, representative_data=representative, seed=seed, weight_scales="per_channel",
            tolerance=1.0, quality_tolerance=dict.fromkeys(export.QUALITY_TOLERANCES, 1e9),  # measured, not gated
        )
        by_mode.update({f"{r.quantization}/per_channel": r for r in per_channel})
        saved = tf.saved_model.load(next(r.path for r in results if r.format == "saved_model"))
        x1 = x_test[:1]
        encoded = model.encode(wrap(x1, c1))
        z1 = np.asarray(encoded.mean() if hasattr(encoded, "stddev") else encoded)
        keras_decode = (lambda z: model.decode(z)) if k is None else (lambda z: model.decode(z, condition=c1))
        sm = {key: tf.constant(v) for key, v in extra(c1).items()}
        reference = {
            "keras_encode_ms": _latency(lambda: model.encode(wrap(x1, c1)), repeats),
            "keras_decode_ms": _latency(lambda: keras_decode(z1), repeats),
            "saved_model_encode_ms": _latency(lambda: saved.signatures["encode"](x=tf.constant(x1), **sm), repeats),
            "saved_model_decode_ms": _latency(lambda: saved.signatures["decode"](z=tf.constant(z1), **sm), repeats),
        }
        keras_mse = float(np.mean((np.asarray(model.reconstruct(wrap(x_test, c_test))) - x_test) ** 2))
        rows = []
        for mode, result in by_mode.items():
            interpreter = Interpreter(model_path=result.path)
            encode = interpreter.get_signature_runner("encode")
            decode = interpreter.get_signature_runner("decode")
            reconstruction = export.run_tflite(interpreter, "reconstruct", x=x_test, **extra(c_test))["reconstruction"]
            rows.append(
                {
                    "family": spec,
                    "mode": mode,
                    "size_kib": result.size_bytes / 1024,
                    **(_size_breakdown(result.path) or {}),
                    "litert_encode_ms": _latency(lambda: encode(x=x1, **extra(c1)), repeats),
                    "litert_decode_ms": _latency(lambda: decode(z=z1, **extra(c1)), repeats),
                    "mse": float(np.mean((reconstruction - x_test) ** 2)),
                    "max_rel_parity_error": result.max_rel_error,
                    "weight_scales": _read_json(result.metadata_path).get("weight_scales"),
                    **reference,
                    "keras_mse": keras_mse,
                }
            )
    base = next(r for r in rows if r["mode"] == "none")
    for row in rows:
        row["size_ratio"] = row["size_kib"] / base["size_kib"]
        row["mse_change"] = row["mse"] / base["mse"] - 1.0
    return rows


def _table(rows):
    lines = [
        "| family | mode | size KiB (x f32) | of which quant. params KiB | encode ms LiteRT / SavedModel / Keras "
        "| decode ms LiteRT / SavedModel / Keras | test MSE (vs f32) | parity rel. err |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['family']} | {r['mode']} | {r['size_kib']:.1f} ({r['size_ratio']:.3f}) "
            f"| {r.get('quantization_params_kib', float('nan')):.1f} "
            f"| {r['litert_encode_ms']:.3f} / {r['saved_model_encode_ms']:.3f} / {r['keras_encode_ms']:.3f} "
            f"| {r['litert_decode_ms']:.3f} / {r['saved_model_decode_ms']:.3f} / {r['keras_decode_ms']:.3f} "
            f"| {r['mse']:.5f} ({r['mse_change']:+.1%}) | {r['max_rel_parity_error']:.1e} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES),
                        help="registered model names (MLP), or 'conv' for the convolutional autoencoder; "
                             "'name@mnist' trains on MNIST instead of digits")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per latency")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "export_benchmark.json"))
    args = parser.parse_args(argv)

    import tensorflow as tf

    from kerasae import export
    from kerasae.cli import registry
    from kerasae.utils import versions

    rows = []
    for spec in args.families:
        family, _ = _parse(spec)
        if family != "conv" and family not in registry.models():
            print(f"skipping {family!r}: not registered", file=sys.stderr)
            continue
        rows.extend(benchmark(spec, args.epochs, args.repeats, args.seed))
    table = _table(rows)
    print(table)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(
            {
                "rows": rows,
                "settings": {**vars(args), "hidden_units": HIDDEN_UNITS, "latent_dim": LATENT_DIM,
                             "dataset": "digits; family@dataset rows on that data set", "batch_for_latency": 1},
                "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
                "versions": versions.versions(),
                "tensorflow_threads": tf.config.threading.get_inter_op_parallelism_threads(),
                "markdown": table,
            },
            f,
            indent=2,
        )
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
