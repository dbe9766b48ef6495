"""The export formats as a table: how :func:`kerasae.export.export` writes each artifact and checks it.

For each part, :mod:`kerasae.export.api` stages one SavedModel of the part's signatures; then, for every artifact
asked for, it calls its format's ``write`` (which makes the artifact at a staged path, from that SavedModel or
from the signatures themselves) and its ``check`` (which runs the artifact on the held-out inputs and compares
it with Keras, :mod:`kerasae.export.parity`). A format that needs optional packages names a ``require`` that
raises :class:`~kerasae.utils.packages.MissingPackageError` before anything is staged. Adding a format: its
module, an entry in :data:`TABLE`, its name in :data:`kerasae.export.options.FORMATS` and, if it is not a
TFLite quantisation mode, its tolerance in :data:`kerasae.export.options.TOLERANCES`.

``write(job, saved_model, signatures, part, quantization, path, name)`` returns the artifact's own metadata
keys (a dict, possibly empty); ``check(path, signatures, reference, inputs, shape)`` returns ``(error report,
signature names)``; ``names(path)`` the signature names of an artifact whose parity is not checked; ``run(path,
signature, **inputs)`` runs one signature (formats with quantised artifacts, for their quality figures,
:mod:`kerasae.export.quality`).
"""

import dataclasses
import shutil
from typing import Callable, Optional

from kerasae.export import onnx as onnx_export
from kerasae.export import parity, tflite, tflm
from kerasae.export.options import CALIBRATED


@dataclasses.dataclass(frozen=True)
class Format:
    """How one format is written, checked and read."""

    write: Callable
    check: Callable
    names: Callable
    require: Optional[Callable] = None
    run: Optional[Callable] = None


def _write_saved_model(job, saved_model, signatures, part, quantization, path, name):
    shutil.copytree(saved_model, path)
    return {}


def _write_tflite(job, saved_model, signatures, part, quantization, path, name):
    """Converts the staged SavedModel of one part to a TFLite file at ``path``, once its weights match its label."""
    calibrated = quantization in CALIBRATED
    representative = tflite.representative_dataset(signatures, job.calibration) if calibrated else None
    content = tflite.convert(saved_model, signatures, quantization, representative,
                             job.options.int8_io and quantization == "int8", part, job.options.weight_scales)
    tflite.check_weights(content, quantization, f"The TFLite file {name!r} of the {part} model")
    with open(path, "wb") as f:
        f.write(content)
    return {}


def _write_onnx(job, saved_model, signatures, part, quantization, path, name):
    onnx_export.write(saved_model, signatures, path, part)
    return {"files": {n: onnx_export.file_name(n) for n in onnx_export.signature_names(path)},
            "onnx": onnx_export.converter_info()}


def _check_saved_model(path, signatures, reference, inputs, shape):
    return parity.parity_saved_model(path, signatures, reference, inputs, shape)


def _check_tflite(path, signatures, reference, inputs, shape):
    return parity.parity_tflite(path, signatures, reference, inputs)


def _check_onnx(path, signatures, reference, inputs, shape):
    return parity.parity_onnx(path, signatures, reference, inputs, shape)


def _write_tflm(job, saved_model, signatures, part, quantization, path, name):
    return tflm.write(job, saved_model, signatures, part, quantization, path, name)


def _check_tflm(path, signatures, reference, inputs, shape):
    return tflm.check(path, signatures, reference, inputs, shape)


#: Each format's functions, by name (they look their modules' functions up when called, so tests can replace them).
TABLE = {
    "saved_model": Format(_write_saved_model, _check_saved_model, lambda path: parity.signature_names(path, "saved_model")),
    "tflite": Format(_write_tflite, _check_tflite, lambda path: parity.signature_names(path, "tflite"),
                     run=lambda path, signature, **inputs: tflite.run_tflite(path, signature, **inputs)),
    onnx_export.FORMAT: Format(_write_onnx, _check_onnx, lambda path: onnx_export.signature_names(path),
                               lambda: onnx_export.require()),
    tflm.FORMAT: Format(_write_tflm, _check_tflm, lambda path: tflm.signature_names(path), lambda: tflm.require(),
                        run=lambda path, signature, **inputs: tflm.run_tflm(path, **inputs)),
}


def require(formats):
    """Imports the optional packages of ``formats`` (raises ``MissingPackageError`` naming the fix)."""
    for fmt in formats:
        if TABLE[fmt].require is not None:
            TABLE[fmt].require()
