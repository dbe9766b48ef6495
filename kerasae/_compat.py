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
# (TensorFlow 2.14+). tf.lite.TFLiteConverter documents per-channel scales as its behaviour, and none of its
# public options (optimizations, target_spec, representative_dataset, experimental_new_quantizer,
# experimental_new_dynamic_range_quantizer) selects the granularity; the StableHLO quantizer
# (experimental_use_stablehlo_quantizer, configured by a proto from outside the public tf namespace) converts
# SavedModels of one signature only, and kerasae's files have several. The public alternative is
# ai-edge-quantizer (a static int8 recipe with weight granularity TENSORWISE, applied to a float32 .tflite file
# after conversion). It is not used yet: in a trial of ai-edge-quantizer 0.10.0 on kerasae's files, its int8
# files (int8 inputs and outputs) failed kerasae's int8 parity gate, with TENSORWISE and CHANNELWISE weights
# alike and for single-signature files too, and it warned that it re-quantises the weights several signatures
# share ("overriding other previously quantized data"); the cause was not established. Revisit when its files
# pass tests/export/test_export.py; until then tests/test_compat.py fails loudly if these switches go.
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


# Why private: TensorFlow reports whether its oneDNN CPU kernels are on only in its start-up log; the public
# tf.sysconfig.get_build_info() describes the build, not this process's choice (TF_ENABLE_ONEDNN_OPTS and the
# CPU). kerasae records the answer beside its speed figures (kerasae.backend.prefer_onednn asks for oneDNN).
from tensorflow.python.util import _pywrap_util_port  # noqa: E402


def onednn_enabled():
    """Whether this process's TensorFlow runs its oneDNN CPU kernels (decided once, when TensorFlow was imported)."""
    return bool(_pywrap_util_port.IsMklEnabled())
