"""The data an export is checked and calibrated on: held-out inputs for parity and quality, training inputs for
int8 calibration, each checked against the model's input shape (and, for a conditional model, its conditions)."""

import math

import numpy as np

from kerasae.data.checks import check_array
from kerasae.export import tflite
from kerasae.export.options import CONDITION, MIN_REPRESENTATIVE_SAMPLES


def check_data(x, shape, name, fix):
    """``x`` as float32 of shape ``(n, *shape)`` (flat rows of the right size are reshaped); else ``ValueError``."""
    if x is None:
        raise ValueError(f"Expected {name}. Received None. Fix: {fix}")
    x = np.asarray(x)
    if x.ndim >= 2 and tuple(x.shape[1:]) != shape and math.prod(x.shape[1:]) == math.prod(shape):
        x = x.reshape((len(x), *shape))
    if x.ndim < 2 or tuple(x.shape[1:]) != shape or len(x) == 0:
        raise ValueError(
            f"Expected {name} of shape (n, {', '.join(map(str, shape))}) matching the model's input. "
            f"Received shape {x.shape}. Fix: {fix}"
        )
    return check_array(x, name, unit_interval=False)  # numeric, finite, float32


def check_inputs(data, shape, k, name, fix, rng=None):
    """``(x, condition)`` from ``data``: inputs ``x``, or for a conditional model the pair ``(x, condition)``.

    ``condition`` is None for an unconditional model (``k`` None). With ``rng``, a conditional model's lone
    ``x`` gets one-hot conditions of random classes (fine for calibration, not for a parity check).
    """
    if k is None:
        if isinstance(data, tuple) and len(data) == 2:
            raise ValueError(
                f"Expected {name} to be an array of inputs: the model is not conditional (its signatures take no "
                f"condition). Received a pair. Fix: {fix}"
            )
        return check_data(data, shape, name, fix), None
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x = check_data(data[0], shape, name, fix)
        condition = np.asarray(data[1])
        if condition.shape != (len(x), k):
            raise ValueError(
                f"Expected the condition of {name} to be one-hot rows of shape ({len(x)}, {k}), one per input "
                f"(num_classes={k}). Received shape {condition.shape}. Fix: keras.utils.to_categorical(labels, {k})."
            )
        condition = condition.astype("float32")
        if not np.all(np.isfinite(condition)):
            raise ValueError(f"The condition of {name} contains NaN or inf values. Expected one-hot rows.")
        return x, condition
    if rng is None or data is None:
        raise ValueError(
            f"Expected {name}=(x, condition) for a conditional model (condition: one-hot rows of width "
            f"num_classes={k}). Received {'None' if data is None else 'a single array'}. Fix: {fix}"
        )
    x = check_data(data, shape, name, fix)
    return x, np.eye(k, dtype="float32")[rng.integers(k, size=len(x))]


def fixes(k):
    """How to pass parity and representative data, for an unconditional model or one of ``k`` classes."""
    if k is None:
        return (
            "pass held-out inputs, e.g. parity_data=data.x_test from kerasae.datasets.load(...).",
            "pass training inputs, e.g. representative_data=data.x_train, or choose another quantisation.",
        )
    return (
        f"pass held-out inputs and their conditions, e.g. parity_data=(data.x_test, "
        f"keras.utils.to_categorical(data.y_test, {k})).",
        f"pass training inputs and their conditions, e.g. representative_data=(data.x_train, "
        f"keras.utils.to_categorical(data.y_train, {k})), or choose another quantisation.",
    )


def check_labels(labels, n):
    """Class labels of ``n`` held-out rows as int64 ``(n,)``, or None; else ``ValueError``."""
    if labels is None:
        return None
    values = np.asarray(labels)
    whole = values.dtype.kind in "iu" or (values.dtype.kind == "f" and bool(np.all(np.isfinite(values)))
                                          and bool(np.all(values == np.round(values))))
    if values.shape != (n,) or not whole or (values.size and values.min() < 0):
        raise ValueError(
            f"Expected labels to be whole-number class indices >= 0, one per row of parity_data: shape ({n},). "
            f"Received: labels of shape {values.shape} and dtype {values.dtype}. Fix: pass data.y_test with "
            "parity_data=data.x_test."
        )
    return values.astype("int64")


def parity_inputs(model, data, shape, k, samples, quality_samples, labels=None):
    """The held-out inputs every signature is checked on: ``x`` (the first ``samples`` rows), its codes ``z`` and
    its ``condition``; and under ``"quality"`` the first ``quality_samples`` rows (``x``, ``condition`` and the
    class ``labels``, None when not given) that the quality figures of quantised artifacts are measured on
    (:mod:`kerasae.export.quality`)."""
    x_all, condition_all = check_inputs(data, shape, k, "parity_data", fixes(k)[0])
    labels = check_labels(labels, len(x_all))
    x, condition = x_all[:samples], None if condition_all is None else condition_all[:samples]
    z = np.asarray(model.encode_mean(x if condition is None else (x, condition)), "float32")
    quality = {"x": x_all[:quality_samples], CONDITION: None if condition_all is None else condition_all[:quality_samples],
               "labels": None if labels is None else labels[:quality_samples]}
    return {"x": x, "z": z, CONDITION: condition, "quality": quality}


def calibration(model, table, data, shape, k, samples, seed):
    """int8 calibration inputs (:func:`kerasae.export.tflite.calibration_inputs`) from ``samples`` random rows."""
    rng = np.random.default_rng(seed)
    name = "representative_data for int8 quantisation"
    x, condition = check_inputs(data, shape, k, name, fixes(k)[1], rng)
    if len(x) < MIN_REPRESENTATIVE_SAMPLES:
        raise ValueError(
            f"Expected at least {MIN_REPRESENTATIVE_SAMPLES} examples in {name} (int8 ranges calibrated on fewer "
            f"clip held-out values). Received {len(x)}. Fix: {fixes(k)[1]}"
        )
    keep = rng.permutation(len(x))[:samples]
    x, condition = x[keep], None if condition is None else condition[keep]
    return tflite.calibration_inputs(model, table, x, condition, seed)
