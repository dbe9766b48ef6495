"""Benchmarks the built-in presets on devices: every TFLite mode and TFLite Micro, per part.

For each preset (``kerasae.presets.load``) it exports, with ``kerasae.export.export``:

- the full model to TFLite float32 (``none``), ``float16``, ``dynamic`` and ``int8``, and ``dynamic`` and ``int8``
  again with one scale per weight tensor (``/per_tensor``; the other rows have one per output channel, what the
  export's default ``weight_scales="smallest"`` falls back to when per-tensor scales fail a gate);
- the encoder and the decoder alone to TFLite ``none``, ``dynamic``, ``int8`` and ``int16x8``, and to TFLite Micro
  (``tflm``: full int8, batch 1);
- ``int8`` again, the full model and the encoder and decoder (and TFLite Micro's ``tflm/ranges`` and ``tflm/qat``
  encoder and decoder), from copies made by ``kerasae.export.qat`` (the export's ``qat_epochs``): ``int8/ranges``
  (``qat_epochs=0``: the pre-activation ranges of ``tanh`` and ``sigmoid`` clipped where they saturate, nothing
  trained; one scale per output channel) and ``int8/qat`` (quantisation-aware fine-tuning for ``--qat-epochs``
  epochs at ``--qat-learning-rate`` on the training pipeline, binarised as in training, for one scale per weight
  tensor, the export's default ``weight_scales="smallest"`` file when it passes the gates);

with the export's parity and quality gates opened (limits of ``OPEN``), so that a file that the default gates
would refuse is still measured; whether it passes them (``kerasae.export.options.TOLERANCES`` element-wise,
``QUALITY_TOLERANCES`` for quantised files) is recorded beside. Per file: its size and ratio to the float32 file of
the same part; the single-sample latency of each signature in LiteRT (``num_threads=1``, batch 1, median of
``--repeats`` calls) and, for TFLite Micro, in TFLite Micro's Python interpreter (set the int8 input, invoke, read
the output; median of as many calls); the TFLite Micro arena; the quality figures against the float32 Keras model
on the first ``--quality-samples`` test examples (``kerasae.export.quality``: reconstruction MSE and its change, the
mean log-likelihood's decrease in nats for models that declare ``reconstruction_log_likelihood``), computed the same
way for the float files; and the relative RMS and largest relative errors of the parity check.

Then the targets of issue #21 per quantised mode, for the full model's file and for the encoder and decoder files
together (the encoder file's codes decoded by the decoder file): file <= 0.30 of float32's, log-likelihood within
1 nat, reconstruction MSE within 5%.

The data are the preset's own (its card's ``data``, ``kerasae.presets.evaluation``): the test examples as the run saw
them (for dynamically binarised data, the test split's one fixed Bernoulli draw) for parity and quality, and one
draw of the training pipeline (binarised as in training) for calibration.

Prints Markdown tables and writes ``benchmarks/results/edge_benchmark.json``; ``python -m benchmarks.report``
renders it into RESULTS.md ("Edge: presets exported to every format").

Usage:
    python benchmarks/edge_benchmark.py [--presets vae-mnist ...] [--repeats 200] [--quality-samples 1000]
                                        [--qat-epochs 3] [--qat-learning-rate 1e-5] [--only-qat]
"""

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.orchestrate import machine_info, now, versions  # noqa: E402
from kerasae.utils import files  # noqa: E402
from benchmarks.report_sections import EDGE_TARGETS, edge_table, edge_targets_table  # noqa: E402

#: TFLite modes of the full model, and of the encoder and decoder files.
FULL_MODES = ("none", "float16", "dynamic", "int8")
PART_MODES = ("none", "dynamic", "int8", "int16x8")
#: Modes exported again with one scale per weight tensor (full model).
PER_TENSOR_MODES = ("dynamic", "int8")
PARTS = ("encoder", "decoder")
#: The limit every gate is opened to: every file is written, and measured.
OPEN = 1e9


def _median_ms(fn, repeats):
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def preset_data(model, card, quality_samples, representative_samples):
    """``(test inputs, calibration inputs, description, data set)`` of a preset's data set, as its run saw them."""
    import numpy as np

    from kerasae.export import condition_size
    from kerasae.presets import evaluation

    data = evaluation.load_data(card)
    test = evaluation.test_inputs(data, quality_samples, model)
    k = condition_size(model)
    batches = data.pipeline("train", batch_size=representative_samples, with_labels=k is not None)
    first = next(iter(batches.as_numpy_iterator()))
    if k is None:
        representative = first[0] if isinstance(first, tuple) else first
    else:
        x, y = first
        representative = (x, np.eye(k, dtype="float32")[np.asarray(y, "int64")])
    described = (f"{card['data']['dataset']}, {card['data'].get('preprocessing', '')}; calibration: the first batch "
                 "of the training pipeline (shuffled, binarised as in training)")
    return test, representative, described, data


def _qat_data(model, data, batch_size):
    """The fine-tuning data of the ``int8/qat`` rows: the training pipeline (binarised as in training); None for a
    conditional preset (its pipeline's conditions are its family's)."""
    from kerasae.export import condition_size

    return None if condition_size(model) is not None else data.pipeline("train", batch_size=batch_size)


def _calls(qat_data, qat_epochs, qat_learning_rate, only_qat):
    """``(label, mode suffix, export options)`` of every export call (see the module docstring)."""
    calls = [] if only_qat else [
        ("full", "", dict(formats="tflite", quantize=FULL_MODES, parts="full")),
        ("per_tensor", "/per_tensor", dict(formats="tflite", quantize=PER_TENSOR_MODES, parts="full",
                                           weight_scales="per_tensor")),
        ("parts", "", dict(formats=("tflite", "tflm"), quantize=PART_MODES, parts=PARTS))]
    if qat_data is not None:
        qat = dict(formats=("tflite", "tflm"), quantize="int8", parts=("full", *PARTS), qat_data=qat_data)
        calls += [("ranges", "/ranges", dict(qat, qat_epochs=0)),
                  ("qat", "/qat", dict(qat, qat_epochs=qat_epochs, qat_learning_rate=qat_learning_rate,
                                       weight_scales="per_tensor"))]
    return calls


def _inputs(test, n=None):
    """``{"x": ..., "condition": ...}`` of the first ``n`` test rows."""
    x, c = test if isinstance(test, tuple) else (test, None)
    n = len(x) if n is None else n
    return {"x": x[:n]} if c is None else {"x": x[:n], "condition": c[:n]}


def _code(outputs):
    return outputs["code"] if "code" in outputs else outputs["mean"]


def litert_ms(path, one, repeats):
    """``{signature: median ms}`` of every signature of a TFLite file, one example, one thread."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=1)
    found = {}
    for name in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(name)
        feed = {key: value for key, value in one.items() if key in runner.get_input_details()}
        found[name] = _median_ms(lambda: runner(**feed), repeats)
    return found


def tflm_ms(folder, part, arena, one, repeats):
    """Median ms of one example through a TFLite Micro file (int8 inputs set, invoke, outputs read)."""
    import numpy as np

    from kerasae.export import tflm

    with open(os.path.join(folder, tflm.file_names(part)["model"]), "rb") as f:
        content = f.read()
    micro, error = tflm.interpreter(content, arena)
    if micro is None:
        raise RuntimeError(f"TFLite Micro does not allocate in {arena} bytes: {error}")
    ins, outs = tflm.tensors(micro, content)
    quantized = []
    for t in ins:
        value = np.asarray(one[t["name"]], "float32").reshape(t["shape"])
        info = np.iinfo(t["dtype"])
        q = np.clip(np.round(value / t["scale"] + t["zero_point"]), info.min, info.max).astype(t["dtype"])
        quantized.append((q, t["index"]))

    def call():
        for q, index in quantized:
            micro.set_input(q, index)
        micro.invoke()
        for t in outs:
            micro.get_output(t["index"])

    return _median_ms(call, repeats)


def _runner(result):
    """``run(signature, **inputs)`` of an exported file (TFLite or TFLite Micro), for the quality figures."""
    from kerasae import export

    if result.format == "tflm":
        return lambda signature, **inputs: export.run_tflm(result.path, **inputs)
    return lambda signature, **inputs: export.run_tflite(result.path, signature, **inputs)


def _pair_runner(encoder, decoder):
    """``run("reconstruct", ...)``: the encoder file's codes decoded by the decoder file."""
    encode, decode = _runner(encoder), _runner(decoder)

    def run(signature, **inputs):
        condition = {key: value for key, value in inputs.items() if key == "condition"}
        return decode("decode", z=_code(encode("encode", **inputs)), **condition)

    return run


def _flat(figures):
    """The row's quality columns from ``kerasae.export.quality.figures``."""
    mse, ll = figures["reconstruction_mse"], figures.get("log_likelihood")
    return {"mse": mse["artifact"], "mse_keras": mse["keras"], "mse_change": mse["change"],
            "log_likelihood": None if ll is None else ll["artifact"],
            "log_likelihood_keras": None if ll is None else ll["keras"],
            "log_likelihood_change": None if ll is None else ll["change"]}


def _gates(model, result, figures):
    """The default gates of one file: element-wise (float files: largest relative error; quantised ones:
    relative RMS error) and, for quantised files, quality."""
    from kerasae.export import parity, precision, quality
    from kerasae.export.options import QUALITY_TOLERANCES

    gated = quality.gated(result.format, result.quantization)
    key = result.quantization if result.format == "tflite" else result.format
    tolerance = parity.tolerance_for(None, key, precision.precision_tolerance(precision.trained_policy(model)))
    errors = [e for outs in result.parity.values() for e in outs.values() if "max_rel_error" in e]
    rms = max((e["rms_rel_error"] for e in errors), default=0.0)
    largest = max((e["max_rel_error"] for e in errors), default=0.0)
    element = (rms if gated else largest) <= tolerance
    failures = [f"{name} {figure['change']:+.3g}" for name, figure in figures.items()
                if not figure["change"] <= QUALITY_TOLERANCES[name]] if gated else []
    passes_quality = (not failures) if gated else None
    return {"gated": gated, "tolerance": tolerance, "rms_rel_error": rms, "max_rel_error": largest,
            "passes_elementwise": bool(element), "passes_quality": passes_quality, "quality_failures": failures,
            "passes_default": bool(element and passes_quality is not False)}


def benchmark(name, repeats, quality_samples, representative_samples, seed=0, qat_epochs=3, qat_learning_rate=1e-5,
              qat_batch_size=100, only_qat=False):
    """The rows (one per file) and the targets of one preset."""
    import numpy as np

    import kerasae
    from kerasae import export
    from kerasae.export import quality, signatures
    from kerasae.export.options import QUALITY_TOLERANCES, TOLERANCES

    model, card = kerasae.presets.load(name), kerasae.presets.card(name)
    test, representative, described, data = preset_data(model, card, quality_samples, representative_samples)
    inputs = _inputs(test)
    table = signatures.signature_table(model)
    opened = dict(tolerance={key: OPEN for key in TOLERANCES},
                  quality_tolerance={key: OPEN for key in QUALITY_TOLERANCES}, quality_samples=quality_samples,
                  parity_data=test, representative_data=representative,
                  representative_samples=representative_samples, seed=seed,
                  weight_scales="per_channel")  # with the gates opened, the default "smallest" would be per tensor
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        calls = _calls(_qat_data(model, data, qat_batch_size), qat_epochs, qat_learning_rate, only_qat)
        if only_qat:  # the float32 files the sizes are compared with
            calls.insert(0, ("float32", "", dict(formats="tflite", quantize="none", parts=("full", *PARTS))))
        results = []
        for label, suffix, options in calls:
            start = time.perf_counter()
            found = export.export(model, os.path.join(tmp, label), **{**opened, **options})
            timings[label] = time.perf_counter() - start
            for r in found:
                r.weight_scales, r.suffix = options.get("weight_scales", "per_channel"), suffix
            results += found
        print(f"{name}: exported {len(results)} files in {sum(timings.values()):.0f} s", flush=True)

        float32 = {r.part: r for r in results if r.format == "tflite" and r.quantization == "none"}
        one = _inputs(test, 1)
        one["z"] = np.asarray(_code(export.run_tflite(float32["encoder"].path, "encode", **one)), "float32")
        rows, by_key = [], {}
        for r in results:
            figures = r.quality["figures"] if r.quality else quality.figures(model, table, _runner(r), r.part, inputs)
            tflm = r.format == "tflm"
            size = r.details["model_bytes"] if tflm else r.size_bytes
            mode = r.quantization + r.suffix
            row = {"preset": name, "part": r.part, "format": r.format, "mode": "tflm" + r.suffix if tflm else mode,
                   "artifact": os.path.basename(r.path) + {"": "", "/per_tensor": " (per tensor)",
                                                           "/ranges": " (ranges)", "/qat": " (QAT)"}[r.suffix],
                   "qat": r.qat,
                   "weight_scales": r.weight_scales if r.quantization in ("dynamic", "int8", "int16x8") else None,
                   "size_bytes": size, "size_ratio": size / float32[r.part].size_bytes,
                   "folder_bytes": r.size_bytes if tflm else None,
                   "litert_ms": None if tflm else litert_ms(r.path, one, repeats),
                   "tflm_ms": tflm_ms(r.path, r.part, r.details["arena_bytes"], one, repeats) if tflm else None,
                   "arena_bytes": r.details.get("arena_bytes") if tflm else None,
                   "arena_recommended_bytes": r.details.get("arena_recommended_bytes") if tflm else None,
                   **_flat(figures), **_gates(model, r, figures)}
            rows.append(row)
            by_key[(r.part, row["mode"])] = (r, row)
            print(f"  {row['artifact']}: {size} bytes, MSE change {row['mse_change']:+.2%}", flush=True)

        targets = []
        for mode in ("float16", "dynamic", "int8", "dynamic/per_tensor", "int8/per_tensor", "int8/ranges", "int8/qat"):
            if ("full", mode) in by_key:
                row = by_key[("full", mode)][1]
                targets.append({"preset": name, "files": "full model", "mode": mode, "size_ratio": row["size_ratio"],
                                "mse_change": row["mse_change"], "log_likelihood_change": row["log_likelihood_change"]})
        for mode in (*PART_MODES[1:], "tflm", "int8/ranges", "int8/qat", "tflm/ranges", "tflm/qat"):
            if not all((part, mode) in by_key for part in PARTS):
                continue
            (encoder, enc_row), (decoder, dec_row) = by_key[("encoder", mode)], by_key[("decoder", mode)]
            figures = _flat(quality.figures(model, table, _pair_runner(encoder, decoder), "full", inputs))
            targets.append({"preset": name, "files": "encoder + decoder", "mode": mode,
                            "size_ratio": (enc_row["size_bytes"] + dec_row["size_bytes"])
                            / (float32["encoder"].size_bytes + float32["decoder"].size_bytes),
                            "mse_change": figures["mse_change"],
                            "log_likelihood_change": figures["log_likelihood_change"],
                            "mse": figures["mse"], "log_likelihood": figures["log_likelihood"]})
    return rows, targets, {"data": described, "export_seconds": timings}


def main(argv=None):
    import kerasae.presets
    from kerasae.export.options import DEFAULT_QAT_BATCH_SIZE, DEFAULT_QAT_LEARNING_RATE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=None, help="preset names (default: every built-in preset)")
    parser.add_argument("--repeats", type=int, default=200, help="timed single-example calls per latency (median)")
    parser.add_argument("--quality-samples", type=int, default=1000, help="test examples of the quality figures")
    parser.add_argument("--representative-samples", type=int, default=1000, help="training examples of calibration")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration draws")
    parser.add_argument("--qat-epochs", type=int, default=3, help="epochs of the int8/qat rows' fine-tuning")
    parser.add_argument("--qat-learning-rate", type=float, default=DEFAULT_QAT_LEARNING_RATE,
                        help="Adam's learning rate of the int8/qat rows' fine-tuning")
    parser.add_argument("--qat-batch-size", type=int, default=DEFAULT_QAT_BATCH_SIZE, help="its batch size")
    parser.add_argument("--only-qat", action="store_true",
                        help="measure the float32, int8/ranges and int8/qat files only (a quick look at QAT)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "edge_benchmark.json"))
    args = parser.parse_args(argv)
    presets = args.presets or kerasae.presets.list()

    from kerasae.export.options import DEFAULT_PARITY_SAMPLES

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    rows, targets, per_preset = [], [], {}
    for name in presets:
        found, aims, info = benchmark(name, args.repeats, args.quality_samples, args.representative_samples, args.seed,
                                      args.qat_epochs, args.qat_learning_rate, args.qat_batch_size, args.only_qat)
        rows += found
        targets += aims
        per_preset[name] = info
    markdown = "\n".join(edge_targets_table(targets) + [""] + edge_table(rows))
    print(markdown)
    report = {
        "benchmark": "edge",
        "command": shlex.join(["python", "benchmarks/edge_benchmark.py",
                               *(argv if argv is not None else sys.argv[1:])]),
        "date": now(), "total_seconds": time.perf_counter() - started,
        "data": "; ".join(f"{name}: {info['data']}" for name, info in per_preset.items()),
        "settings": {**{k: v for k, v in vars(args).items() if k != "out"}, "presets": presets,
                     "parity_samples": DEFAULT_PARITY_SAMPLES, "full_modes": FULL_MODES, "part_modes": PART_MODES,
                     "per_tensor_modes": PER_TENSOR_MODES, "targets": EDGE_TARGETS, "batch_for_latency": 1,
                     "litert_threads": 1},
        "export_seconds": {name: info["export_seconds"] for name, info in per_preset.items()},
        "machine": {**machine_info(), "load_1min_start": load_start, "load_1min_end": os.getloadavg()[0]},
        "versions": {**versions(), **_edge_versions()},
        "rows": rows, "targets": targets, "markdown": markdown,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    files.write_json(args.out, report)  # atomic
    print(f"\nwritten to {args.out} ({report['total_seconds']:.0f} s)")
    return 0


def _edge_versions():
    from importlib import metadata

    found = {}
    for package in ("ai-edge-litert", "tflite-micro"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


if __name__ == "__main__":
    sys.exit(main())
