"""The JSON file written beside each exported artifact: what the artifact holds, how to feed it, how it was
checked, and what made it.

Keys: ``model_class``, ``part``, ``input_shape``, ``code_size``, ``code_outputs`` (the ``encode`` outputs),
``preprocessing`` (what inputs must go through before ``encode``), ``condition`` (the extra input of a
conditional model, else None), ``dtype_policy`` (what the artifact computes in: always ``"float32"``),
``trained_dtype_policy`` (the model's, e.g. ``"mixed_float16"``), ``versions``, ``format``, ``artifact``,
``quantization``, ``int8_io``, ``weight_scales``, ``signatures``, ``inputs`` (by signature), ``parity``,
``size_bytes``, ``created``, and ``notes`` where a signature (or output) was left out. An ONNX export also has
``files`` (``{signature: file name}`` in its folder) and ``onnx`` (the opset, the versions of tf2onnx, onnx and
onnxruntime, and the execution providers its parity was checked on: :func:`kerasae.export.onnx.converter_info`).
A TFLite Micro export has ``tflm`` (:func:`kerasae.export.tflm.describe`: its files, C array name, model and
tensor-arena bytes, ops and op-resolver calls, inputs' and outputs' quantisation, the tflite-micro version) and
``left_out_outputs`` in it.

``parity`` (:func:`parity_record`): ``status`` (``"passed"``, or ``"unchecked"`` when the export was asked
not to check), ``metric`` (the error gated: the largest relative error, or the relative RMS error for quantised
artifacts), ``tolerance``, ``num_samples``, ``errors`` (of every output: largest absolute, largest relative and
relative RMS) and ``reference_dtype_policy`` (the precision of the Keras model compared with); all but ``status``
are null when unchecked. Quantised artifacts also have ``quality`` (:mod:`kerasae.export.quality`): their quality
figures beside Keras's (``accuracy`` too for a classifier given labels), the limits they passed (``tolerances``), or
``null`` when parity was not checked. Full-integer files converted after quantisation-aware fine-tuning have
``qat`` (:mod:`kerasae.export.qat`: epochs, learning rate, batch size, steps, weight scales trained for, the last
training loss, seconds).
"""

import datetime
import os

from kerasae.export import onnx as onnx_export
from kerasae.export.options import CONDITION, QUANTIZED
from kerasae.utils import files
from kerasae.utils.versions import versions

#: What each parity gate compares with its tolerance, by the ``errors`` key it reads.
PARITY_METRICS = {
    "max_rel_error": "max |artifact - keras| / max |keras| per output (relative); max abs also",
    "rms_rel_error": "sqrt(mean (artifact - keras)^2) / max |keras| per output (relative RMS); max errors also",
}


def metadata_path(artifact_path):
    """The JSON file beside an artifact: ``model_int8.tflite -> model_int8.json``, ``saved_model -> saved_model.json``,
    ``onnx -> onnx.json``."""
    root, ext = os.path.splitext(os.fspath(artifact_path).rstrip(os.sep))
    return (root if ext == ".tflite" else root + ext) + ".json"


def size_bytes(path):
    """Size on disk of a file, or of every file in a folder."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(path) for f in names)
    return os.path.getsize(path)


def part_metadata(model, part, input_shape, code_size, code_outputs, condition_size, preprocessing,
                  trained_dtype_policy="float32"):
    """The keys shared by every artifact of one exported part."""
    return {
        "dtype_policy": "float32",
        "trained_dtype_policy": trained_dtype_policy,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "part": part,
        "input_shape": list(input_shape),
        "code_size": code_size,
        "code_outputs": code_outputs,
        "preprocessing": dict(preprocessing or {}),
        "condition": None if condition_size is None else {
            "input": CONDITION,
            "shape": [None, condition_size],
            "dtype": "float32",
            "encoding": f"one-hot rows, num_classes={condition_size}",
        },
        "versions": versions(),
    }


def parity_record(errors, tolerance, num_samples, reference_dtype_policy, measure="max_rel_error"):
    """The ``parity`` key: the errors of a check that passed (gated on ``measure``), or ``"status": "unchecked"``
    (``errors`` None)."""
    if errors is None:
        return {"status": "unchecked", "metric": None, "tolerance": None, "num_samples": 0, "errors": None,
                "reference_dtype_policy": None}
    return {"status": "passed", "metric": PARITY_METRICS[measure], "tolerance": tolerance, "num_samples": int(num_samples),
            "errors": errors, "reference_dtype_policy": reference_dtype_policy}


def artifact_metadata(common, *, fmt, name, quantization, int8_io, weight_scales, signatures, exported, parity,
                      size, own=None):
    """One artifact's metadata: ``common`` (:func:`part_metadata`) and its own keys.

    Args:
        signatures: The ``(name, ExportSignature)`` pairs asked for.
        exported: The signature names the artifact has.
        parity: Its :func:`parity_record`.
        own: The keys its format adds (:mod:`kerasae.export.formats`): ONNX's ``files`` and ``onnx``, TFLite
            Micro's ``tflm`` and ``notes``.
    """
    meta = {
        **common,
        "format": fmt,
        "artifact": name,
        "quantization": quantization,
        "int8_io": bool(int8_io),
        "weight_scales": weight_scales if quantization in QUANTIZED else None,
        "signatures": sorted(exported),
        "inputs": {n: list(sig.input_names) for n, sig in signatures if n in exported},
        "parity": parity,
        "size_bytes": size,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    meta.update(own or {})
    left_out = [n for n, sig in signatures if sig.random and n not in exported]
    if fmt in ("tflite", onnx_export.FORMAT) and left_out:
        where = "TFLite files" if fmt == "tflite" else "this ONNX export"
        meta["notes"] = (
            f"The {', '.join(repr(n) for n in left_out)} signature (random ops) is not in {where}: draw "
            "z ~ N(0, I) on the host and call 'decode'" + (" with the chosen condition." if common["condition"] else ".")
        )
    return meta


def write_metadata(path, meta):
    """Writes ``meta`` as indented, key-sorted JSON."""
    files.write_json(path, meta)
