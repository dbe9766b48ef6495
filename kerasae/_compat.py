"""Every use of a private TensorFlow or Keras API, in one place.

Each function names the public alternative, or why there is none, and ``tests/test_compat.py`` fails
loudly when an upgrade removes what it relies on (rather than kerasae silently falling back). Nothing else
in kerasae reaches into ``tensorflow.python`` or private attributes.
"""

import tensorflow as tf

# Why private: TensorFlow has no public way to ask "is the function being traced now compiled by XLA?".
# Its own cond/while lowering asks this very function. A layer cannot be told by its model instead: the same
# layer runs inside jit-compiled train steps, plain graph-mode exports and eager calls, and only the graph
# being traced knows which. Public alternative: none (tf.config.optimizer.get_jit() is the global
# auto-clustering switch, not the compile mode of the function being traced).
from tensorflow.python.framework import ops as _tf_ops
from tensorflow.python.ops import control_flow_util as _control_flow_util


def in_xla_context():
    """Whether the graph being traced now is compiled by XLA (``tf.function(jit_compile=True)``)."""
    return bool(_control_flow_util.GraphOrParentsInXlaContext(_tf_ops.get_default_graph()))


# Why private: the TFLite converter's only switches for per-tensor weight scales are these attributes
# (TensorFlow 2.14+); tf.lite.TFLiteConverter documents per-channel as its behaviour, and
# ai-edge-quantizer's recipes, the public alternative, quantise a .tflite file after conversion, not the
# converter's own int8 path that kerasae's parity checks cover.
PER_TENSOR_FLAGS = {
    "per_tensor": "_experimental_disable_per_channel",
    "auto": "_experimental_disable_per_channel_quantization_for_dense_layers",
}


def set_weight_scales(converter, weight_scales):
    """Asks ``converter`` for per-tensor weight scales (``"per_tensor"``), per-channel ones for convolutions
    only (``"auto"``), or its default per-channel scales (``"per_channel"``: nothing to set).

    Raises:
        RuntimeError: if this TensorFlow's converter lacks the switch (setting a missing attribute would
            silently do nothing).
    """
    flag = PER_TENSOR_FLAGS.get(weight_scales)
    if flag is None:
        return
    if not hasattr(converter, flag):
        raise RuntimeError(
            f"weight_scales={weight_scales!r} needs the TFLite converter switch {flag}, which TensorFlow "
            f"{tf.__version__} does not have. Fix: pass weight_scales='per_channel', or use a TensorFlow that "
            "kerasae supports (see pyproject.toml)."
        )
    setattr(converter, flag, True)
