"""TFLite / LiteRT: conversion of a staged SavedModel, int8 calibration, and running a file's signatures.

TFLite files keep the signatures (run them with ``Interpreter.get_signature_runner(name)``, or with
:func:`run_tflite`) except the random ones (``sample``): they need random ops that LiteRT's builtin op set does
not guarantee (and that full-integer quantisation cannot express). The portable way to generate on a device
is to draw the noise on the host, ``z ~ N(0, I)`` (the model's prior), and call the ``decode`` signature on it
(with the chosen ``condition`` for a conditional model); this works in every runtime.

Quantisation modes: ``"none"`` (float32), ``"float16"`` (float16 weights, float32 arithmetic), ``"dynamic"``
(int8 weights, activations quantised on the fly), ``"int8"`` (int8 weights and activations, 256 levels per
tensor calibrated on representative data; with ``int8_io`` the inputs and outputs are int8 too) and
``"int16x8"`` (int8 weights, 16-bit activations calibrated the same way: TFLite's
``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``). On a trained model int8 activations can
cost more quality than the quality gate allows (:mod:`kerasae.export.quality`); 16-bit activations keep it at
the file size of int8 weights. ``int16x8`` files hold the encoder or the decoder alone (``part="encoder"`` /
``"decoder"``): TensorFlow's converter mis-scales the weights that several signatures share in this mode
(``encode`` and ``reconstruct`` share the encoder's), and the files it makes of the full model fail parity.

File sizes. The weights are stored once, however many signatures use them; quantised files hold them as int8
(a quarter of float32), biases stay 4 bytes (int32 or float32; int64 in ``int16x8``). Each quantised tensor also
carries its scales (float32) and zero points (int64) in the tensor table of *each* signature that uses it
(``reconstruct`` repeats the encoder's and the decoder's). With ``weight_scales="per_channel"`` (TFLite's own
default) there is a pair per output channel; ``"per_tensor"`` keeps one pair per tensor: smaller files, but a
coarser grid that can cost a trained model most of its quality (benchmarks/RESULTS.md, "Edge"); ``"auto"``
uses per-channel scales for convolutions only. :func:`kerasae.export.export`'s default, ``"smallest"``, makes
the per-tensor file and keeps it when it passes the parity and quality gates, else the per-channel one. A model of a few
thousand weights stays close to its float32 size, its file being mostly fixed structure (tensor tables,
signature definitions). The sizes and errors of every mode, per model family, are measured by
``benchmarks/export_benchmark.py`` and recorded in benchmarks/RESULTS.md ("TFLite export").
Export ``part="encoder"``/``"decoder"`` files for the smallest device artifacts.

Labels match contents. After conversion the file's weight tensors are read back (:func:`weight_types`) and a
file is refused (:func:`check_weights`) unless they are what its label says: float16 weights in ``float16``
files, int8 weights in ``dynamic`` files (TFLite leaves weight tensors under ``DYNAMIC_MIN_ELEMENTS`` values in
float32, so a model whose every kernel is smaller has no ``dynamic`` file), int8 weights only in ``int8``
files. int8 calibration needs at least :data:`~kerasae.export.options.MIN_REPRESENTATIVE_SAMPLES` examples.
"""

import os
import warnings

import numpy as np
import tensorflow as tf

from kerasae import _compat
from kerasae.export.options import CALIBRATED, CONDITION, DEFAULT_WEIGHT_SCALES
from kerasae.export.signatures import feed


def converter(saved_model_path, signatures, quantize, representative=None, int8_io=False,
              weight_scales=DEFAULT_WEIGHT_SCALES):
    """A ``tf.lite.TFLiteConverter`` for the deterministic ``(name, ExportSignature)`` pairs of a SavedModel."""
    keys = [name for name, sig in signatures if not sig.random]
    result = tf.lite.TFLiteConverter.from_saved_model(saved_model_path, signature_keys=keys)
    if quantize in ("dynamic", *CALIBRATED):
        try:
            _compat.set_weight_scales(result, weight_scales)
        except RuntimeError as err:  # a weight_scales this TensorFlow cannot honour: a bad argument here
            raise ValueError(str(err)) from err
    if quantize == "float16":
        result.optimizations = [tf.lite.Optimize.DEFAULT]
        result.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        result.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize in CALIBRATED:
        result.optimizations = [tf.lite.Optimize.DEFAULT]
        result.representative_dataset = representative
        result.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if quantize == "int8"
            else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        if int8_io:
            result.inference_input_type = tf.int8
            result.inference_output_type = tf.int8
    return result


def convert(saved_model_path, signatures, quantize, representative, int8_io, part, weight_scales=DEFAULT_WEIGHT_SCALES):
    """Converts a staged SavedModel's deterministic signatures to TFLite bytes.

    Raises:
        ValueError: with the converter's message, when conversion fails.
    """
    tflite_converter = converter(saved_model_path, signatures, quantize, representative, int8_io, weight_scales)
    try:
        with warnings.catch_warnings():  # the calibrator's own tf.lite.Interpreter deprecation warning
            warnings.simplefilter("ignore", UserWarning)
            return tflite_converter.convert()
    except Exception as err:  # noqa: BLE001 - converter errors are long and opaque
        raise ValueError(
            f"TFLite conversion ({quantize}) of the {part} model failed: {type(err).__name__}: {str(err)[:2000]}"
        ) from err


#: The weight type a file of each quantisation mode must hold (at least one such weight tensor).
WEIGHT_TYPES = {"none": "FLOAT32", "float16": "FLOAT16", "dynamic": "INT8", "int8": "INT8", "int16x8": "INT8"}
#: TFLite's dynamic-range quantisation leaves weight tensors smaller than this in float32.
DYNAMIC_MIN_ELEMENTS = 1024


def weight_types(content):
    """``{type name: count}`` of a TFLite file's weights: its constant tensors of rank >= 2 (kernels, filters),
    read from the flatbuffer (biases, rank 1, and shape constants are left out)."""
    from ai_edge_litert import schema_py_generated as schema

    names = {value: key for key, value in vars(schema.TensorType).items() if not key.startswith("_")}
    model = schema.Model.GetRootAs(bytearray(content), 0)
    found = {}
    for g in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(g)
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() > 0 else None
            constant = buffer is not None and (buffer.DataLength() > 0 or buffer.Offset() > 1)
            if constant and tensor.ShapeLength() >= 2:
                name = names.get(tensor.Type(), str(tensor.Type()))
                found[name] = found.get(name, 0) + 1
    return found


def check_weights(content, quantization, label):
    """Raises ``ValueError`` unless a converted file holds the weights its label promises: float32 for
    ``"none"`` (no quantised weights), float16 weights for ``"float16"``, int8 weights for ``"dynamic"``,
    and int8 weights only for ``"int8"`` and ``"int16x8"``."""
    found = weight_types(content)
    want = WEIGHT_TYPES[quantization]
    wrong = sorted(set(found) & {"FLOAT16", "INT8"}) if quantization == "none" else []
    if quantization in CALIBRATED:
        wrong = sorted(set(found) & {"FLOAT32", "FLOAT16"})
    if found.get(want) and not wrong:
        return
    fixes = {
        "dynamic": f"TFLite's dynamic-range quantisation leaves weight tensors of fewer than {DYNAMIC_MIN_ELEMENTS} "
                   "values in float32, and this model has no larger one. Fix: use quantize='int8' (calibrated) or "
                   "'float16' instead of 'dynamic'.",
        **dict.fromkeys(CALIBRATED, "Fix: give more representative data (representative_data, "
                        "--representative-samples), or use quantize='dynamic' or 'float16'."),
    }
    what = f"{', '.join(t.lower() for t in wrong)} weights" if wrong else f"no {want.lower()} weights"
    raise ValueError(
        f"{label} would hold {what} (its weights by type: {found or 'none'}), so its contents would not match "
        f"its label {quantization!r}. Nothing was written. "
        + fixes.get(quantization, "Fix: report this TensorFlow version's converter behaviour; use another mode.")
    )


def calibration_inputs(model, table, x, condition, seed):
    """Calibration inputs for int8: ``{"x": {...}, "z": {...}}``, the inputs of signatures on data and on codes.

    Data signatures get ``x`` (and its ``condition``); code signatures get the codes of ``x``
    (``model.encode_mean``) and, for a posterior (an ``encode`` signature with a ``scale`` output), as many
    posterior draws, so that noisy codes stay in the calibrated range.
    """
    inputs = x if condition is None else (x, condition)
    codes = np.asarray(model.encode_mean(inputs), "float32")
    conditions = condition
    encode = table["encode"]
    scale = encode.fn(*feed(encode, {"x": x, CONDITION: condition}).values()).get("scale")
    if scale is not None:
        rng = np.random.default_rng(seed)
        codes = np.concatenate([codes, codes + np.asarray(scale) * rng.standard_normal(codes.shape).astype("float32")])
        conditions = None if condition is None else np.concatenate([condition, condition])
    return {"x": {"x": x, CONDITION: condition}, "z": {"z": codes, CONDITION: conditions}}


def representative_dataset(signatures, calibration):
    """The converter's ``representative_dataset``: one ``(signature, inputs)`` per calibration row, for every
    deterministic signature (from :func:`calibration_inputs`)."""
    inputs = {
        name: feed(sig, calibration["x" if "x" in sig.input_names else "z"])
        for name, sig in signatures
        if not sig.random
    }

    def generate():
        for name, values in inputs.items():
            for i in range(len(next(iter(values.values())))):
                yield name, {key: np.asarray(value[i : i + 1], "float32") for key, value in values.items()}

    return generate


def run_tflite(model, signature="reconstruct", **inputs):
    """Runs one signature of a TFLite file with the LiteRT interpreter, in float32.

    Inputs are quantised and outputs dequantised with the tensors' own parameters when the file has int8
    inputs or outputs (``int8_io=True``), so the call reads the same for every quantisation mode.

    Args:
        model: Path to a ``.tflite`` file, or a LiteRT ``Interpreter``.
        signature: Signature name, e.g. ``"encode"``.
        **inputs: The signature's inputs by name (``x=...`` or ``z=...``, and ``condition=...`` for a
            conditional model), float arrays.

    Returns:
        A dict of float32 numpy arrays by output name.

    Example:
        >>> codes = kerasae.export.run_tflite("exported/model_int8.tflite", "encode", x=x)["code"]
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = model if isinstance(model, Interpreter) else Interpreter(model_path=os.fspath(model))
    available = interpreter.get_signature_list()
    if signature not in available:
        raise ValueError(f"No signature {signature!r} in the TFLite file. Available signatures: {sorted(available)}.")
    runner = interpreter.get_signature_runner(signature)
    values = {}
    for name, details in runner.get_input_details().items():
        if name not in inputs:
            raise ValueError(f"Signature {signature!r} expects inputs {sorted(runner.get_input_details())}. Received {sorted(inputs)}.")
        values[name] = quantize(np.asarray(inputs[name], dtype="float32"), details)
    outputs = runner(**values)
    details = runner.get_output_details()
    return {name: dequantize(value, details[name]) for name, value in outputs.items()}


def quantize(x, details):
    """Float inputs as a TFLite input tensor takes them (int8 with its scale and zero point, or as they are)."""
    dtype = details["dtype"]
    if dtype == np.float32:
        return x
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(y, details):
    """A TFLite output tensor's values as float32."""
    if details["dtype"] == np.float32:
        return np.asarray(y)
    scale, zero_point = details["quantization"]
    return ((np.asarray(y).astype("float32") - zero_point) * scale).astype("float32")
