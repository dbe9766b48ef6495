"""The parity gate: every exported artifact runs on held-out inputs and is compared with the Keras model.

The error of one output is its *relative* error, the largest absolute difference between the artifact and
Keras divided by the largest absolute value of the Keras output; both it and the largest absolute difference
are recorded in the artifact's metadata, with the relative RMS error (the root mean square of the difference
divided by the same largest value). Quantised artifacts are gated on the relative RMS error and on the model's
quality (:mod:`kerasae.export.quality`), float artifacts on the largest relative error. An artifact whose relative error exceeds its tolerance raises
:class:`ParityError` (and :func:`kerasae.export.export` then writes nothing). Random signatures (``sample``)
cannot match Keras draw for draw: their outputs are checked for shape and finiteness.

Default tolerances (:data:`kerasae.export.options.TOLERANCES`), per artifact:

====================== =========== =================================================================
artifact               tolerance   why
====================== =========== =================================================================
SavedModel             1e-5        the same TensorFlow graph
TFLite ``none``        1e-4        float32; LiteRT's kernels may sum in another order
TFLite ``float16``     5e-3        float16 weights (11-bit mantissa), float32 arithmetic
TFLite ``dynamic``     5e-2 (RMS)  int8 weights, activations quantised on the fly
TFLite ``int8``        8e-2 (RMS)  int8 weights and activations, 256 levels per tensor calibrated on
                                   the representative data; with ``int8_io`` the inputs and outputs
                                   are int8 too, which adds one input and one output rounding
TFLite ``int16x8``     5e-2 (RMS)  int8 weights, 16-bit activations
ONNX                   1e-4        float32; ONNX Runtime's kernels may sum in another order
TFLite Micro           8e-2 (RMS)  int8 throughout, inputs and outputs too (as TFLite ``int8`` with
                                   ``int8_io``), run by TFLite Micro's own kernels
====================== =========== =================================================================

Each tolerance leaves a margin over the errors measured on small trained models of every family, recorded in
benchmarks/RESULTS.md ("TFLite export"). Override them with ``tolerance=`` (a float, or a dict by
``"saved_model"``, ``"onnx"``, ``"tflm"`` or TFLite mode). A model trained in mixed precision is exported in float32 and
compared with the model as trained, so its default tolerances are at least those of its training precision
(:data:`~kerasae.export.options.PRECISION_TOLERANCES`, see :mod:`kerasae.export.precision`).

Parity is checked on at least one held-out example. It is skipped only when asked for, with
``export(..., check_parity=False)`` (``kerasae export --skip-parity``); the metadata then say so
(``"status": "unchecked"``, no errors, no tolerance) rather than reporting errors that were never measured.
"""

import os

import numpy as np
import tensorflow as tf

from kerasae.export import onnx as onnx_export
from kerasae.export.options import CONDITION, TOLERANCES
from kerasae.export.signatures import feed
from kerasae.export.tflite import run_tflite
from kerasae.utils.validation import check_number

#: Samples the parity check asks a random signature for.
RANDOM_SAMPLES = 4


class ParityError(ValueError):
    """An exported artifact's outputs differ from the Keras model's by more than the tolerance."""


def tolerance_for(tolerances, key, floor=0.0):
    """The tolerance of one artifact (``key``: ``"saved_model"``, ``"onnx"``, ``"tflm"`` or a TFLite mode) from
    ``tolerance=``.

    A default tolerance is at least ``floor`` (that of a model trained in mixed precision,
    :func:`kerasae.export.precision.precision_tolerance`); a tolerance given is used as given.
    """
    default = max(TOLERANCES[key], floor)
    if tolerances is None:
        return default
    if isinstance(tolerances, dict):
        return check_number(f"tolerance[{key!r}]", tolerances.get(key, default), minimum=0)
    return check_number("tolerance", tolerances, minimum=0)


def errors(actual, expected, signature):
    """``{output: {"max_abs_error", "max_rel_error"}}`` of an artifact's outputs against Keras's."""
    report = {}
    for name, ref in expected.items():
        if name not in actual:
            raise ParityError(f"The exported {signature!r} signature has no output {name!r}; it has {sorted(actual)}.")
        got = np.asarray(actual[name], dtype="float32")
        if got.shape != ref.shape:
            raise ParityError(f"The exported {signature!r} output {name!r} has shape {got.shape}, Keras gives {ref.shape}.")
        difference = np.abs(got - ref)
        abs_error = float(np.max(difference)) if ref.size else 0.0
        rms_error = float(np.sqrt(np.mean(difference**2))) if ref.size else 0.0
        if not np.all(np.isfinite(got)):
            abs_error = rms_error = float("inf")
        scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-12)
        report[name] = {"max_abs_error": abs_error, "max_rel_error": abs_error / scale, "rms_rel_error": rms_error / scale}
    return report


def check_samples(samples, n, shape, label):
    """The report of a random signature's ``samples``: finite, of shape ``(n, *shape)``, else :class:`ParityError`."""
    samples = np.asarray(samples)
    if samples.shape != (n, *shape) or not np.all(np.isfinite(samples)):
        raise ParityError(
            f"{label}: the 'sample' signature returned shape {samples.shape} (finite: "
            f"{bool(np.all(np.isfinite(samples)))}); expected finite samples of shape {(n, *shape)}."
        )
    return {"samples": {"checked": "shape and finiteness (random outputs differ from Keras's)", "n": n}}


def _random_feed(sig, inputs):
    """A random signature's inputs: one sample per condition row, or ``n``."""
    if CONDITION in sig.input_names:
        rows = inputs[CONDITION][:RANDOM_SAMPLES]
        return {CONDITION: tf.constant(rows)}, len(rows)
    return {"n": tf.constant(RANDOM_SAMPLES)}, RANDOM_SAMPLES


def parity_saved_model(path, signatures, reference, inputs, shape):
    """Runs a SavedModel's signatures on ``inputs``; returns the error report and the signature names it has."""
    loaded = tf.saved_model.load(path)
    report = {}
    for name, sig in signatures:
        if name not in loaded.signatures:
            continue
        if sig.random:
            values, n = _random_feed(sig, inputs)
            report[name] = check_samples(loaded.signatures[name](**values)["samples"], n, shape, path)
            continue
        outputs = loaded.signatures[name](**{k: tf.constant(v) for k, v in feed(sig, inputs).items()})
        report[name] = errors({k: v.numpy() for k, v in outputs.items()}, reference[name], name)
    return report, list(loaded.signatures.keys())


def signature_names(path, fmt):
    """The signature names of an artifact, read without running it (an export whose parity is not checked)."""
    if fmt == "saved_model":
        return list(tf.saved_model.load(path).signatures.keys())
    if fmt == onnx_export.FORMAT:
        return onnx_export.signature_names(path)
    from ai_edge_litert.interpreter import Interpreter

    return list(Interpreter(model_path=path).get_signature_list())


def parity_tflite(path, signatures, reference, inputs):
    """Runs a TFLite file's signatures on ``inputs``; returns the error report and the signature names it has."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    names = list(interpreter.get_signature_list())
    report = {}
    for name, sig in signatures:
        if sig.random:
            continue
        if name not in names:
            raise ParityError(f"The TFLite file lost the {name!r} signature; it has {names}.")
        outputs = run_tflite(interpreter, name, **feed(sig, inputs))
        report[name] = errors(outputs, reference[name], name)
    return report, names


def parity_onnx(path, signatures, reference, inputs, shape):
    """Runs each ``.onnx`` file of an ONNX export folder with ONNX Runtime on ``inputs``; returns the error report
    and the signature names it has (a random signature that did not convert is missing; it is not checked)."""
    names = onnx_export.signature_names(path)
    report = {}
    for name, sig in signatures:
        if name not in names:
            if sig.random:
                continue
            raise ParityError(f"The ONNX export lost the {name!r} signature; it has {names}.")
        if sig.random:
            values, n = _random_feed(sig, inputs)
            values = {k: np.asarray(v) for k, v in values.items()}
        else:
            values = feed(sig, inputs)
        try:
            outputs = onnx_export.run_onnx(os.path.join(path, onnx_export.file_name(name)), name, **values)
        except Exception as err:  # noqa: BLE001 - ONNX Runtime's own errors (a file it cannot load or run)
            message = " ".join(f"{type(err).__name__}: {err}".split())[:1000]
            raise ParityError(f"ONNX Runtime could not run {onnx_export.file_name(name)} ({message}). Nothing was "
                              "written.") from err
        if sig.random:
            report[name] = check_samples(outputs.get("samples"), n, shape, path)
        else:
            report[name] = errors(outputs, reference[name], name)
    return report, names


def gate(report, tolerance, label, measure="max_rel_error"):
    """Raises :class:`ParityError` naming every output whose ``measure`` (``"max_rel_error"`` or, for quantised
    artifacts, ``"rms_rel_error"``) exceeds ``tolerance``."""
    failures = [
        f"{sig}/{out}: relative {'RMS ' if measure == 'rms_rel_error' else ''}error {e[measure]:.3g} (max abs "
        f"{e['max_abs_error']:.3g})"
        for sig, outs in report.items()
        for out, e in outs.items()
        if measure in e and not e[measure] <= tolerance
    ]
    if failures:
        raise ParityError(
            f"{label} does not match the Keras model within the relative tolerance {tolerance:g}: "
            + "; ".join(failures)
            + ". Nothing was written. Fix: use a milder quantisation ('float16' or 'dynamic'), give more "
            "representative data for 'int8', or pass a larger tolerance if this error is acceptable."
        )
