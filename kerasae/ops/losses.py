"""Reconstruction losses as pure per-example functions.

Each function takes a batch of targets and a batch of decoder outputs and returns one value per example
(shape ``(batch,)``), averaged over every feature axis. The models take the batch mean once, in the
training step, so that sample weights and distribution strategies see per-example values. Losses are
computed in float32 whatever the compute dtype (mixed precision).
"""

import keras
from keras import ops


def _feature_axes(x):
    return tuple(range(1, len(x.shape)))


def mean_squared_error(target, prediction):
    """Per-example mean squared error, ``mean_d (x_d - x^_d)^2``.

    Args:
        target: Batch of targets, shape ``(batch, ...)``.
        prediction: Batch of reconstructions, the same shape.

    Returns:
        A float32 tensor of shape ``(batch,)``.
    """
    target = ops.cast(target, "float32")
    prediction = ops.cast(prediction, "float32")
    return ops.mean(ops.square(target - prediction), axis=_feature_axes(target))


def binary_crossentropy_from_logits(target, logits):
    """Per-example mean binary cross-entropy computed stably from logits.

    ``mean_d [softplus(l_d) - x_d * l_d]``, which equals ``-mean_d [x_d log s(l_d) + (1 - x_d) log(1 - s(l_d))]``
    with ``s`` the sigmoid, without ever forming ``log(0)``. Targets may be any values in [0, 1].

    Args:
        target: Batch of targets in [0, 1], shape ``(batch, ...)``.
        logits: Batch of decoder pre-activations, the same shape.

    Returns:
        A float32 tensor of shape ``(batch,)``.
    """
    target = ops.cast(target, "float32")
    logits = ops.cast(logits, "float32")
    elementwise = ops.binary_crossentropy(target, logits, from_logits=True)
    return ops.mean(elementwise, axis=_feature_axes(target))


#: name -> (per-example loss on decoder outputs, output activation that maps decoder outputs to data space).
#: The "bce" loss is applied to the logits, before the sigmoid.
RECONSTRUCTION_LOSSES = {
    "mse": mean_squared_error,
    "bce": binary_crossentropy_from_logits,
}


def get_reconstruction_loss(name):
    """Looks up a reconstruction loss by name.

    Args:
        name: ``"mse"`` or ``"bce"``.

    Returns:
        The per-example loss function.

    Raises:
        ValueError: if ``name`` is not a known loss.
    """
    try:
        return RECONSTRUCTION_LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown reconstruction loss {name!r}. Expected one of {sorted(RECONSTRUCTION_LOSSES)}: "
            "'mse' (mean squared error) or 'bce' (binary cross-entropy on logits, for data in [0, 1])."
        ) from None


def psnr(target, prediction, max_value=1.0):
    """Per-example peak signal-to-noise ratio in decibels, ``10 log10(max^2 / MSE)``.

    Args:
        target: Batch of clean images.
        prediction: Batch of reconstructions or noisy images, the same shape.
        max_value: The largest possible pixel value (1 for data in [0, 1]).

    Returns:
        A float32 tensor of shape ``(batch,)``.
    """
    mse = ops.maximum(mean_squared_error(target, prediction), keras.config.epsilon() ** 2)
    return 10.0 * ops.log(max_value**2 / mse) / ops.log(10.0)
