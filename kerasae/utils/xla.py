"""What ``compile(jit_compile="auto")`` resolves to: XLA on, except where the benchmarks show it slower.

The rule (backed by ``benchmarks/conv_speed.py`` for the convolutional families and by ``benchmarks/run.py``
for the MLP ones, both rendered into benchmarks/RESULTS.md):

* off when the environment sets ``KERASAE_JIT_COMPILE=0`` (or ``false``, ``no``, ``off``), with
  ``run_eagerly=True`` (XLA needs a traced function), or under a ``tf.distribute`` strategy (whose
  cross-replica reductions XLA does not take on every device);
* off for a model with convolution layers when TensorFlow sees no GPU or TPU: on CPU, TensorFlow's own
  (oneDNN) convolution kernels were measured training such models faster than XLA's CPU convolutions
  (``benchmarks/conv_speed.py`` measures it again per family; see benchmarks/RESULTS.md);
* on otherwise: models without convolutions anywhere, and any model where a GPU or TPU is present.

It is a rule, not a timing: the same model, devices and settings always get the same answer, with no
measuring at the start of ``fit``, and a model loaded from a ``.keras`` file re-derives it.
"""

import os

import keras
import tensorflow as tf

#: Keras' convolution layers (transposed, depthwise and separable ones included).
CONVOLUTIONS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
)

#: ``KERASAE_JIT_COMPILE`` values that turn ``"auto"`` off.
OFF_VALUES = ("0", "false", "no", "off")


def _children(layer):
    """The layers directly inside ``layer``: a model's ``layers``, and layers (or lists, tuples and dicts of
    them) held in its public attributes, as a custom layer holds its sublayers."""
    found = list(getattr(layer, "layers", None) or [])
    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        found += [v for v in values if isinstance(v, keras.layers.Layer)]
    return found


def sublayers(model):
    """Every layer inside ``model``, sub-models and custom layers' sublayers included, in the order found."""
    seen, found, pending = {id(model)}, [], [model]
    while pending:
        for child in _children(pending.pop()):
            if id(child) not in seen:
                seen.add(id(child))
                pending.append(child)
                found.append(child)
    return found


def convolution_layers(model):
    """The convolution layers of ``model`` (:func:`sublayers`), in the order found."""
    return [layer for layer in sublayers(model) if isinstance(layer, CONVOLUTIONS)]


def accelerators():
    """The GPU and TPU devices TensorFlow sees (logical devices: what models are placed on)."""
    return tf.config.list_logical_devices("GPU") + tf.config.list_logical_devices("TPU")


def resolve_jit_compile(model, jit_compile, run_eagerly=False):
    """The boolean that ``compile(jit_compile=...)`` passes on to Keras for ``model``, and why.

    Args:
        model: The model being compiled (its layers exist: kerasae builds its networks before the model).
        jit_compile: ``"auto"``, or a boolean (returned as it is).
        run_eagerly: ``compile``'s ``run_eagerly``.

    Returns:
        ``(jit_compile, reason)``: a bool and a short sentence (recorded by the model's ``jit_compile_choice``).
    """
    if jit_compile != "auto":
        return bool(jit_compile), f"compile(jit_compile={bool(jit_compile)})"
    if os.environ.get("KERASAE_JIT_COMPILE", "1").strip().lower() in OFF_VALUES:
        return False, "auto: off, the environment sets KERASAE_JIT_COMPILE=" + os.environ["KERASAE_JIT_COMPILE"]
    if run_eagerly:
        return False, "auto: off, run_eagerly=True"
    if tf.distribute.has_strategy():
        return False, "auto: off, under a tf.distribute strategy"
    devices = accelerators()
    if devices:
        return True, f"auto: on, {devices[0].device_type} present"
    convolutions = convolution_layers(model)
    if convolutions:
        kinds = ", ".join(sorted({type(layer).__name__ for layer in convolutions}))
        return False, f"auto: off, convolution layers ({kinds}) on CPU only"
    return True, "auto: on, no convolution layers (CPU)"


def choice(requested, jit_compile, reason):
    """What a model records of its ``jit_compile`` choice: ``{"requested", "jit_compile", "reason"}``;
    ``jit_compile`` is the value Keras kept (it turns XLA off where the platform does not support it)."""
    if reason.startswith("auto: on") and not jit_compile:
        reason = "auto: off, Keras: this platform does not support XLA for the model"
    requested = "auto" if isinstance(requested, str) and requested == "auto" else bool(requested)
    return {"requested": requested, "jit_compile": bool(jit_compile), "reason": reason}
