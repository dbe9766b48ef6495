"""Checks of what a model is given, before any work starts: one helper for ``fit``, ``evaluate``,
``log_likelihood`` and the anomaly scores, so that a bad input gets the same message wherever it is passed.

Arrays must be non-empty, numeric, finite and shaped like the model's input (:attr:`Autoencoder.data_shape`);
a model whose likelihood scores values in [0, 1] (a Bernoulli or categorical VAE:
``model.unit_interval_inputs``) also needs its inputs in [0, 1]; a conditional model's condition must be
finite rows of width ``num_classes``, one per input. ``tf.data`` datasets are checked by their element shape
where it is known. Each failure is a one-line ``ValueError`` naming what was wrong, what the model expects,
and the fix.
"""

import numpy as np
import tensorflow as tf

from kerasae.data.checks import check_array


def check_dataset(model, dataset):
    """Checks a batched ``tf.data`` dataset's input shape per example against ``model.data_shape``."""
    expected = tuple(model.data_shape)
    spec = dataset.element_spec
    spec = spec[0] if isinstance(spec, tuple) else spec
    shape = tuple(getattr(spec, "shape", ())[1:])
    matches = len(shape) == len(expected) and all(None in (a, b) or a == b for a, b in zip(shape, expected))
    if shape and not matches:
        raise ValueError(
            f"The dataset yields inputs of shape {shape} per example, but {type(model).__name__} expects "
            f"{expected}. Fix: batch the dataset, and load the data with flatten={len(expected) == 1} to match "
            "the network."
        )


def check_examples(model, x, name="x"):
    """``x`` as a float32 numpy array ``(n, *model.data_shape)``; raises unless it is non-empty, numeric,
    finite, of the model's shape, and in [0, 1] where the model's likelihood needs it."""
    array = check_array(x, name, unit_interval=False)
    expected = tuple(model.data_shape)
    if tuple(array.shape[1:]) != expected:
        raise ValueError(
            f"{name} has shape {tuple(array.shape[1:])} per example, but {type(model).__name__} expects "
            f"{expected}. Fix: reshape the data (flat vectors for an MLP: flatten=True; images (height, width, "
            f"channels) for a conv network: flatten=False), or build the networks for "
            f"input_shape={tuple(array.shape[1:])}."
        )
    reason = getattr(model, "unit_interval_inputs", None)
    if reason:
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{name} has values in [{lo:g}, {hi:g}], but {reason} of {type(model).__name__} scores values in "
                "[0, 1]. Fix: rescale the data to [0, 1] (e.g. divide 8-bit images by 255, or load it with "
                "scale='minmax'), or use likelihood='gaussian' for unbounded data."
            )
    return array


def check_condition(condition, n, num_classes, name="condition"):
    """A conditional model's ``condition`` as float32 rows ``(n, num_classes)``; raises unless numeric and finite."""
    array = np.asarray(condition)
    numeric = array.dtype != object and (np.issubdtype(array.dtype, np.number) or array.dtype == bool)
    if not numeric or array.shape != (n, num_classes):
        raise ValueError(
            f"Expected {name} to be one-hot rows of shape ({n}, {num_classes}), one per input (num_classes="
            f"{num_classes}). Received shape {array.shape}, dtype {array.dtype}. Fix: "
            f"keras.utils.to_categorical(labels, {num_classes})."
        )
    array = array.astype("float32")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf values. Expected one-hot rows. Fix: check the labels.")
    return array


def check_inputs(model, x, name="x"):
    """What :meth:`kerasae.Autoencoder.check_inputs` checks: an array (returned as float32), a ``tf.data``
    dataset (by its element shape; returned as is), or nothing for other inputs (dicts, generators)."""
    if x is None or isinstance(x, (dict, list, tuple)):
        return x
    if isinstance(x, tf.data.Dataset):
        check_dataset(model, x)
        return x
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        return x
    return check_examples(model, x, name)
