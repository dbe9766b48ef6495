"""``kerasae export``: its options and how they map onto :func:`kerasae.export.api.export`; also used by the
thin scripts in the repository's ``export/`` folder.

The options come from :mod:`kerasae.export.options` (plain data), so ``kerasae export --help`` starts
without TensorFlow; the exporter itself is imported when an export runs.
"""

import argparse
import math
import os

from kerasae.cli.arguments import non_negative_float, positive_int
from kerasae.cli.registry import models
from kerasae.cli.runs import load_data, load_model, read_config
from kerasae.export import onnx as onnx_export
from kerasae.export import tflm
from kerasae.export.options import (
    ALL_FORMATS,
    DEFAULT_PARITY_SAMPLES,
    DEFAULT_QAT_BATCH_SIZE,
    DEFAULT_QAT_LEARNING_RATE,
    DEFAULT_QUALITY_SAMPLES,
    DEFAULT_REPRESENTATIVE_SAMPLES,
    DEFAULT_WEIGHT_SCALES,
    FORMATS,
    MIN_REPRESENTATIVE_SAMPLES,
    PARTS,
    QUALITY_TOLERANCES,
    QUANTIZATIONS,
    WEIGHT_SCALES,
)


def add_parser(commands):
    """Adds ``export`` to the ``commands`` sub-parsers."""
    export = commands.add_parser(
        "export", help="export a run folder or .keras file to SavedModel / TFLite / ONNX / TFLite Micro")
    return add_export_arguments(export)


def add_export_arguments(parser, formats=(*FORMATS, "all"), default_format="all"):
    """Adds the options of ``kerasae export`` (and of the ``export/`` scripts) to an argparse parser.

    Args:
        parser: An ``argparse.ArgumentParser`` (or sub-parser).
        formats: The ``--format`` choices offered (``--format`` takes one or more; ``all``: SavedModel and
            TFLite, the formats that need no optional package).
        default_format: The default ``--format``.

    Returns:
        The parser.
    """
    parser.add_argument("source", help="a run folder (holding model.keras and metrics.json) or a .keras file")
    parser.add_argument(
        "--format", nargs="+", choices=formats, default=[default_format],
        help=f"artifacts to write: {', '.join(f for f in formats if f != 'all')}"
        + (f" ({onnx_export.FORMAT} needs {onnx_export.INSTALL})" if onnx_export.FORMAT in formats else "")
        + (f" ({tflm.FORMAT}: TFLite Micro, full int8, encoder and decoder only; needs {tflm.INSTALL})"
           if tflm.FORMAT in formats else "")
        + (f", or all ({' and '.join(ALL_FORMATS)})" if "all" in formats else "") + f" (default: {default_format})",
    )
    tflite = "tflite" in formats or "all" in formats
    if tflite:
        parser.add_argument(
            "--quantize", nargs="+", choices=(*QUANTIZATIONS, "all"), default=["none"],
            help="TFLite quantisation modes: none (float32), float16, dynamic (int8 weights), int8 (full integer), "
            "int16x8 (int8 weights, 16-bit activations; --part encoder decoder), all (default: none)",
        )
    parser.add_argument("--part", nargs="+", choices=(*PARTS, "all"), default=None,
                        help="full model, encoder, decoder, or all (default: full; encoder and decoder for --format tflm)")
    parser.add_argument("--out", default=None, help="destination folder (default: RUN_DIR/export, or MODEL_export beside a .keras file)")
    parser.add_argument("--dataset", default=None, help="data for the parity check and int8 calibration (default: the run's data set, else digits)")
    parser.add_argument("--tolerance", type=non_negative_float, default=None, help="relative parity tolerance for every artifact (default: per mode, see kerasae.export)")
    parser.add_argument("--parity-samples", type=positive_int, default=DEFAULT_PARITY_SAMPLES,
                        help=f"held-out examples compared, at least 1 (default: {DEFAULT_PARITY_SAMPLES})")
    parser.add_argument("--quality-tolerance", nargs="+", type=quality_limit, default=None, metavar="FIGURE=LIMIT",
                        help="limits of the quality gate of quantised artifacts: reconstruction_mse=RELATIVE_INCREASE, "
                        "log_likelihood=NATS, accuracy=FRACTION (a classifier's accuracy on the data's labels; 0.01 is "
                        f"one point) (defaults: {', '.join(f'{k}={v:g}' for k, v in QUALITY_TOLERANCES.items())})")
    parser.add_argument("--quality-samples", type=positive_int, default=DEFAULT_QUALITY_SAMPLES,
                        help=f"held-out examples the quality figures use, at most (default: {DEFAULT_QUALITY_SAMPLES})")
    parser.add_argument("--skip-parity", action="store_true",
                        help="do not compare the artifacts with the model; their metadata then say parity is unchecked")
    if tflite:
        parser.add_argument("--int8-io", action="store_true", help="int8 inputs and outputs for --quantize int8")
        parser.add_argument(
            "--weight-scales", choices=WEIGHT_SCALES, default=DEFAULT_WEIGHT_SCALES,
            help="int8 weight scales of quantised files: smallest (per_tensor if the file passes the gates, else "
            "per_channel), per_channel (TFLite's default), per_tensor (smaller files, coarser), auto (per tensor for "
            f"Dense, per channel for convolutions) (default: {DEFAULT_WEIGHT_SCALES})",
        )
        parser.add_argument("--representative-samples", type=positive_int, default=DEFAULT_REPRESENTATIVE_SAMPLES,
                            help=f"training examples for int8 calibration, at least {MIN_REPRESENTATIVE_SAMPLES} "
                            f"(default: {DEFAULT_REPRESENTATIVE_SAMPLES})")
    if tflite or tflm.FORMAT in formats:
        parser.add_argument("--qat-epochs", type=non_negative_int, default=None,
                            help="quantisation-aware fine-tuning: convert int8 and tflm files from a copy of the model "
                            "fine-tuned this many epochs on the run's training pipeline with int8 rounding simulated "
                            "(0: int8 ranges set, no training; default: none)")
        parser.add_argument("--qat-learning-rate", type=positive_float, default=DEFAULT_QAT_LEARNING_RATE,
                            help=f"Adam's learning rate of --qat-epochs (default: {DEFAULT_QAT_LEARNING_RATE:g})")
        parser.add_argument("--qat-batch-size", type=positive_int, default=DEFAULT_QAT_BATCH_SIZE,
                            help=f"examples per step of --qat-epochs (default: {DEFAULT_QAT_BATCH_SIZE})")
    else:
        parser.set_defaults(qat_epochs=None, qat_learning_rate=DEFAULT_QAT_LEARNING_RATE,
                            qat_batch_size=DEFAULT_QAT_BATCH_SIZE)
    if not tflite:  # a SavedModel-only parser has no TFLite options
        parser.set_defaults(quantize=["none"], int8_io=False, weight_scales=DEFAULT_WEIGHT_SCALES,
                            representative_samples=0)
    parser.add_argument("--scaling", default=None, help="input scaling to record in the metadata (default: 'float32 in [0, 1]')")
    parser.add_argument("--binarize", choices=("none", "static", "dynamic"), default=None, help="binarisation to record and apply to the data (default: the run's)")
    return parser


def non_negative_int(text):
    """``type=`` of ``--qat-epochs``: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def positive_float(text):
    """``type=`` of ``--qat-learning-rate``: a finite number > 0."""
    value = non_negative_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def quality_limit(text):
    """``FIGURE=LIMIT`` of ``--quality-tolerance`` as ``(figure, limit)``."""
    figure, _, value = text.partition("=")
    if figure not in QUALITY_TOLERANCES or not value:
        raise argparse.ArgumentTypeError(
            f"expected FIGURE=LIMIT with FIGURE in {', '.join(QUALITY_TOLERANCES)}, e.g. log_likelihood=2; got {text!r}")
    return figure, non_negative_float(value)


def load_source(source):
    """Loads a run folder or ``.keras`` file: ``(model, run config dict or {}, default out folder)``.

    Raises:
        ValueError: for a missing or damaged file (on one line), or a model that is not a kerasae model.
    """
    from kerasae.export.signatures import signature_table

    source = os.path.abspath(os.fspath(source))
    if os.path.isdir(source):
        model_path, out = os.path.join(source, "model.keras"), os.path.join(source, "export")
        if not os.path.isfile(model_path):
            raise ValueError(f"{source} has no model.keras. Expected a run folder written by 'kerasae train', or a .keras file.")
    elif source.endswith(".keras"):
        model_path, out = source, os.path.splitext(source)[0] + "_export"
    else:
        raise ValueError(f"Expected a run folder or a .keras file. Received: {source!r}")
    config = read_config(os.path.dirname(model_path))
    try:
        model = load_model(model_path)
    except ValueError as err:  # one line, whatever the loader's message holds
        raise type(err)(" ".join(str(err).split())) from err
    signature_table(model)  # a Keras model that is not a kerasae model is refused here, before anything is written
    return model, config, out


def _data(args, config, shape):
    """The data of the parity check and the calibration, and the binarisation applied to it."""
    from kerasae.data import datasets

    entry = models().get(config.get("model"))
    run_keys = {"dataset", "architecture", "validation_split", "seed"}
    run_data = args.dataset is None and entry is not None and run_keys <= set(config)
    binarize = args.binarize if args.binarize is not None else config.get("binarize")
    if binarize is None and run_data and entry.data_options is not None:  # e.g. a Bernoulli VAE's dynamic binarisation
        binarize = entry.data_options(argparse.Namespace(**config)).get("binarize")
    binarize = None if binarize in (None, "none") else binarize
    options = {"flatten": len(shape) == 1, "seed": int(config.get("seed", 0) or 0)}
    if binarize == "static":
        options["binarize"] = "static"
    if run_data:  # the run's own data options (binarisation, held-out class, ...)
        data = load_data(argparse.Namespace(**config), entry)
    else:
        data = datasets.load(args.dataset or config.get("dataset") or "digits", **options)
    if math.prod(data.input_shape) != math.prod(shape):
        raise ValueError(
            f"The data set {data.name!r} has examples of shape {data.input_shape}, the model expects {shape}. "
            "Fix: pass --dataset with the data the model was trained on."
        )
    return data, binarize, options["seed"]


def _qat_data(args, config, model, data, k):
    """The fine-tuning data of ``--qat-epochs``: the run's own training pipeline (binarised, conditioned as in
    training), or the data set's training split for a ``.keras`` file; None without ``--qat-epochs``."""
    if args.qat_epochs is None:
        return None
    entry = models().get(config.get("model"))
    if entry is not None and entry.fit is not None:
        raise ValueError(
            f"--qat-epochs fine-tunes with the model's own train_step on the run's training pipeline, and a "
            f"'{entry.name}' run trains by a procedure of its own (its labels or stages). Fix: fine-tune in Python, "
            "kerasae.export.export(model, ..., qat_epochs=N, qat_data=...) with the data its fit takes."
        )
    if entry is not None:
        return entry.make_pipeline(model, data, "train", args.qat_batch_size)
    if k is not None:
        raise ValueError("--qat-epochs of a conditional model needs its run folder (the training pipeline of its "
                         "conditions). Fix: export the run folder, or fine-tune in Python with qat_data=(x, labels).")
    return data.pipeline("train", args.qat_batch_size)


def export_from_args(args):
    """Runs an export from parsed :func:`add_export_arguments` options; prints and returns the results."""
    import keras

    from kerasae.export.api import condition_size, export, input_shape_of

    formats = [args.format] if isinstance(args.format, str) else list(args.format)
    if onnx_export.FORMAT in formats:  # before loading anything: a missing optional package is one line
        onnx_export.require()
    if tflm.FORMAT in formats:
        tflm.require()
    parts = args.part or (list(tflm.PARTS) if formats == [tflm.FORMAT] else ["full"])
    model, config, default_out = load_source(args.source)
    data, binarize, seed = _data(args, config, input_shape_of(model))
    preprocessing = {"scaling": args.scaling or "float32 in [0, 1], as kerasae.datasets.load returns", "binarization": binarize}
    if binarize == "static":
        preprocessing["threshold"] = 0.5
    parity_data, representative_data = data.x_test, data.x_train
    k = condition_size(model)
    if k is not None:  # a conditional model (the CVAE): one-hot labels are the conditions
        if data.y_test is None or data.y_train is None:
            raise ValueError(
                f"The conditional model needs labelled data for its one-hot conditions, and {data.name!r} has "
                "no labels. Fix: pass --dataset with the labelled data the model was trained on."
            )
        parity_data = (data.x_test, keras.utils.to_categorical(data.y_test, k).astype("float32"))
        representative_data = (data.x_train, keras.utils.to_categorical(data.y_train, k).astype("float32"))
    results = export(
        model,
        args.out or default_out,
        formats=formats,
        quantize=args.quantize,
        parts=parts,
        parity_data=parity_data,
        representative_data=representative_data,
        preprocessing=preprocessing,
        tolerance=args.tolerance,
        int8_io=args.int8_io,
        weight_scales=args.weight_scales,
        parity_samples=args.parity_samples,
        representative_samples=args.representative_samples,
        seed=seed,
        check_parity=not getattr(args, "skip_parity", False),
        quality_tolerance=dict(args.quality_tolerance or ()),
        quality_samples=args.quality_samples,
        labels=data.y_test,
        qat_epochs=args.qat_epochs,
        qat_learning_rate=args.qat_learning_rate,
        qat_batch_size=args.qat_batch_size,
        qat_data=_qat_data(args, config, model, data, k),
    )
    print("| artifact | signatures | size (KiB) | max rel. error | tolerance | quality |")
    print("|---|---|---:|---:|---:|---|")
    for r in results:
        error, tolerance = ("unchecked", "-") if r.parity is None else (f"{r.max_rel_error:.2e}", f"{r.tolerance:g}")
        print(f"| {r.path} | {', '.join(r.signatures)} | {r.size_bytes / 1024:.1f} | {error} | {tolerance} | "
              f"{_quality_text(r.quality)} |")
    for r in results:
        if r.format == tflm.FORMAT:
            d = r.details
            print(f"TFLite Micro {r.part}: model {d['model_bytes']} bytes; tensor arena {d['arena_bytes']} bytes measured, "
                  f"{d['arena_recommended_bytes']} recommended ({os.path.join(r.path, d['files']['header'])}); "
                  f"ops to register: {', '.join(d['op_resolver'])}")
    return results


def _quality_text(quality):
    """An artifact's quality figures in one cell: ``MSE +0.7%, log-lik. -0.14 nats`` (``-`` for float artifacts)."""
    if not quality:
        return "-"
    figures = quality["figures"]
    text = f"MSE {100 * figures['reconstruction_mse']['change']:+.1f}%"
    if "log_likelihood" in figures:
        text += f", log-lik. {-figures['log_likelihood']['change']:+.2f} nats"
    if "accuracy" in figures:
        text += f", accuracy {-100 * figures['accuracy']['change']:+.1f} points"
    return text
