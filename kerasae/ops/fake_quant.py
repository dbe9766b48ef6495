"""int8 fake quantisation as TFLite's full-integer kernels compute it, for quantisation-aware training.

Weights (:func:`quantize_weights`): symmetric int8 on the grid ``s * {-127, ..., 127}``, zero point 0, one scale
``s`` per output channel (``per_channel``, TFLite's default) or per tensor (``per_tensor``). TFLite's converter
takes ``s = max |w| / 127`` of the weights it is given, so weights already on such a grid whose largest value is
``127 s`` (what :func:`quantize_weights` returns when ``s`` comes from :func:`weight_scale`) convert without
another rounding.

Activations (:func:`quantize_activations`): asymmetric int8, 256 levels over ``[lo, hi]`` (nudged so that 0 is a
level), through ``keras.quantizers.fake_quant_with_min_max_vars``: on the TensorFlow backend that is
``tf.quantization.fake_quant_with_min_max_vars``, an op the TFLite converter reads as the range of the tensor it
follows, so a fine-tuned model exports with the ranges it was trained with.

Gradients are straight-through (Bengio et al. 2013): the rounding passes the gradient on unchanged, clipping
stops it outside the range.

Saturating activations (:data:`SATURATION`): TFLite computes ``tanh`` and ``sigmoid`` on an int8 input whose range
is the calibrated range of the layer's pre-activation, and gives an int8 output of fixed scale (1/128 for
``tanh``, 1/256 for ``sigmoid``). Beyond ``|a| >= SATURATION[name]`` the output rounds to the same level as at the
bound, so a pre-activation range wider than the bounds spends levels on values that change nothing:
:func:`saturated_range` clips it to them.
"""

import math

import keras
from keras import ops

#: ``|a|`` beyond which the int8 output of ``tanh`` (scale 1/128) and of ``sigmoid`` (scale 1/256) no longer
#: changes: within half an output step of its limit (``atanh(1 - 1/256)`` and ``log(511)``).
SATURATION = {"tanh": math.atanh(1 - 1 / 256), "sigmoid": math.log(511)}
#: The fixed int8 output range of TFLite's ``tanh`` and ``sigmoid`` kernels (scale 1/128, zero point 0; scale
#: 1/256, zero point -128).
OUTPUT_RANGES = {"tanh": (-1.0, 127 / 128), "sigmoid": (0.0, 255 / 256)}
#: Weight scale granularities.
WEIGHT_SCALES = ("per_channel", "per_tensor")
#: The largest int8 weight level (symmetric, narrow range: zero point 0, levels -127..127).
WEIGHT_LEVELS = 127


def weight_scale(kernel, weight_scales="per_channel", channel_axis=-1):
    """TFLite's int8 weight scale of ``kernel``: ``max |w| / 127`` per output channel (a vector along
    ``channel_axis``, kept as a broadcastable shape) or per tensor (a scalar). A channel of zeros gets scale 1.

    Args:
        kernel: A weight tensor.
        weight_scales: ``"per_channel"`` or ``"per_tensor"``.
        channel_axis: The output-channel axis (``-1`` for ``Dense`` and convolution kernels, ``-2`` for
            transposed convolutions).

    Returns:
        A float32 tensor broadcastable against ``kernel``.
    """
    magnitude = ops.abs(ops.cast(kernel, "float32"))
    if weight_scales == "per_tensor":
        largest = ops.max(magnitude)
    elif weight_scales == "per_channel":
        axis = channel_axis % len(kernel.shape)
        largest = ops.max(magnitude, axis=[a for a in range(len(kernel.shape)) if a != axis], keepdims=True)
    else:
        raise ValueError(f"Expected weight_scales in {list(WEIGHT_SCALES)}. Received: weight_scales={weight_scales!r}")
    return ops.where(largest > 0, largest / WEIGHT_LEVELS, ops.ones_like(largest))


def quantize_weights(kernel, scale):
    """``kernel`` rounded to the symmetric int8 grid ``scale * {-127..127}`` (clipped to it), with a
    straight-through gradient inside the grid's range and none outside it."""
    kernel = ops.cast(kernel, "float32")
    bound = WEIGHT_LEVELS * scale
    clipped = ops.minimum(ops.maximum(kernel, -bound), bound)
    rounded = ops.round(clipped / scale) * scale
    return clipped + ops.stop_gradient(rounded - clipped)


def quantize_activations(x, lo, hi):
    """``x`` fake-quantised to 256 levels over ``[lo, hi]`` (nudged to hold 0): TensorFlow's
    ``FakeQuantWithMinMaxVars`` op, which the TFLite converter reads as the tensor's int8 range."""
    return keras.quantizers.fake_quant_with_min_max_vars(ops.cast(x, "float32"), lo, hi, num_bits=8)


def saturated_range(lo, hi, activation):
    """``(lo, hi)`` of a pre-activation, clipped to ``[-SATURATION, SATURATION]`` for a saturating activation
    (``"tanh"``, ``"sigmoid"``), and widened to hold 0 (as int8 ranges do)."""
    bound = SATURATION.get(activation)
    if bound is not None:
        lo, hi = max(lo, -bound), min(hi, bound)
    return min(float(lo), 0.0), max(float(hi), 0.0)
