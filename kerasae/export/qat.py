"""Quantisation-aware fine-tuning (QAT) for full-integer exports, written for Keras 3.

Post-training int8 quantisation rounds a trained model's weights and activations once; a model that cannot hold
its quality through that rounding may learn to: :func:`fine_tune` trains a copy of the model for a few epochs
with int8 rounding simulated in its forward pass (:mod:`kerasae.ops.fake_quant`), with the model's own loss and
``train_step``, and ``int8`` TFLite and TFLite Micro files are then converted from the copy
(``kerasae.export.export(..., qat_epochs=N)``, ``kerasae export --qat-epochs N``). The model itself is not changed.

How the copy is made. Every network the model declares in ``nested_objects`` (encoder, decoder, heads) that is a
Functional or Sequential Keras model is cloned (``keras.models.clone_model``) with each ``Dense`` and convolution
layer wrapped in :class:`FakeQuantized`; the other networks are copied as they are. The model is rebuilt from its
config around them and every weight is copied, so the copy starts as the model.

What :class:`FakeQuantized` simulates, as TFLite's full-integer kernels compute:

- weights: symmetric int8, per output channel with TFLite's scale ``max |w| / 127``, or per tensor with the
  clip of ``max |w|`` that rounds the kernel closest to itself (:func:`weight_clip`: a few outlying weights then
  no longer coarsen the grid of all the others). The export's ``weight_scales`` chooses (:func:`grid`:
  ``"smallest"`` trains for per-tensor scales, the smaller file it tries first). Once fine-tuned, the copy's
  kernels are exported rounded to their grid, which the converter finds again (its per-tensor scale is the
  largest magnitude over 127). Asked for per-tensor scales, TensorFlow's converter still gives some layers of
  such a graph per-channel ones (in an MLP of ``tanh`` layers, those between two ``tanh`` layers; why was not
  established): their kernels are rounded a second time, to finer grids.
- activations: 256 levels over each layer's calibrated output range (after a fused ``relu``); for an activation
  TFLite computes on an int8 input (``tanh``, ``sigmoid``, any it does not fuse), the pre-activation's range,
  clipped where the activation saturates (:func:`kerasae.ops.fake_quant.saturated_range`: a wider range spends
  levels on values that change nothing), and the activation's own int8 output grid. Only the clipped ranges
  enter the exported graph (TensorFlow ``FakeQuantWithMinMaxVars`` ops, which the converter reads as the ranges
  of those tensors); every other tensor, inside the networks or out (the posterior's split and softplus, the
  likelihood's sigmoid), is calibrated by the converter as without QAT, on the same data.

With ``epochs=0`` nothing is trained: the clipped ranges alone are applied (the weights are left to the
converter). The ranges are calibrated before fine-tuning and again after it (:func:`calibrate`): the smallest and
largest value of each tensor when every deterministic signature runs on the export's calibration inputs (those
the converter calibrates on). Gradients are straight-through.

The quality gate compares the files with the model as it was trained (not the fine-tuned copy); their parity is
checked against the copy, the model the converter was given. The metadata's ``qat`` key records the epochs,
learning rate, batch size, steps, the weight scales trained for, the copy's last training loss and the seconds
taken.

Reference:
    Jacob et al. (2018), Quantization and training of neural networks for efficient integer-arithmetic-only
    inference. CVPR.
"""

import time

import keras
import numpy as np
import tensorflow as tf

from kerasae.export.options import DEFAULT_QAT_BATCH_SIZE, DEFAULT_QAT_LEARNING_RATE
from kerasae.export import signatures
from kerasae.export.signatures import feed, signature_table
from kerasae.ops import fake_quant
from kerasae.utils.validation import check_int, check_number, check_positive_int

#: Layers :class:`FakeQuantized` wraps, with the axis of their kernels' output channels.
QUANTIZABLE = {
    keras.layers.Dense: -1, keras.layers.Conv1D: -1, keras.layers.Conv2D: -1, keras.layers.Conv3D: -1,
    keras.layers.Conv1DTranspose: -2, keras.layers.Conv2DTranspose: -2, keras.layers.Conv3DTranspose: -2,
}
#: Activations TFLite fuses into the layer's int8 output (no separate op, no range of their own).
FUSED = ("linear", "relu", "relu6")
#: Rows per call when the ranges are calibrated.
CALIBRATION_BATCH = 256


def _channel_axis(layer):
    return next(axis for cls, axis in QUANTIZABLE.items() if type(layer) is cls)


def _activation_name(layer):
    name = keras.activations.serialize(layer.activation)
    return name if isinstance(name, str) else None


class FakeQuantized(keras.layers.Layer):
    """A ``Dense`` or convolution layer with TFLite's int8 rounding simulated (see the module docstring).

    In training steps every int8 rounding of the layer is simulated: its weights, its pre-activation (for an
    activation TFLite computes on int8 inputs, ``tanh``, ``sigmoid``...) and its output. Otherwise (inference,
    export) only what the converter would not do by itself is applied: a saturating activation's clipped
    pre-activation range (a ``FakeQuantWithMinMaxVars`` op the converter reads; the other ranges are those it
    calibrates on the same data) and, once the layer has been fine-tuned (:attr:`trained`), the weights rounded to
    the grid they were trained on (the converter then finds that grid again).

    Args:
        layer: The layer computing the pre-activation (a copy of the original with a linear activation).
        activation: The original layer's activation name (``"tanh"``...).
        weight_scales: ``"per_channel"`` (TFLite's ``max |w| / 127`` per output channel) or ``"per_tensor"`` (one
            scale per kernel, clipped where that lowers the kernel's rounding error, :func:`weight_clip`).
        channel_axis: The kernel's output-channel axis.
        **kwargs: Passed to ``keras.layers.Layer`` (``name``).

    Returns:
        Called, the layer's output; while :attr:`calibrating`, its float output, recording the ranges.
    """

    def __init__(self, layer, activation="linear", weight_scales="per_channel", channel_axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.activation_name = activation or "linear"
        self.activation = keras.activations.get(self.activation_name)
        self.weight_scales = weight_scales
        self.channel_axis = channel_axis
        self.calibrating = False
        self.trained = False

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        zeros = keras.initializers.Zeros()
        self.pre_range = self.add_weight(shape=(2,), initializer=zeros, trainable=False, name="pre_range")
        self.out_range = self.add_weight(shape=(2,), initializer=zeros, trainable=False, name="out_range")
        self.clip = self.add_weight(shape=(), initializer=keras.initializers.Constant(np.inf), trainable=False,
                                    name="weight_clip")

    @property
    def saturating(self):
        """Whether TFLite computes the activation on an int8 pre-activation (every activation it does not fuse)."""
        return self.activation_name not in FUSED

    def quantized_kernel(self):
        """The kernel on its int8 grid (straight-through gradient)."""
        kernel = self.layer.kernel
        scale = fake_quant.weight_scale(kernel, self.weight_scales, self.channel_axis)
        if self.weight_scales == "per_tensor":
            scale = keras.ops.minimum(scale, self.clip / fake_quant.WEIGHT_LEVELS)
        return fake_quant.quantize_weights(kernel, scale)

    def _pre_activation(self, x, training=False):
        kernel = self.layer.kernel
        quantized = self.quantized_kernel() if training or self.trained else kernel

        def value(variable):
            return quantized if variable is kernel else variable

        trainable = [value(v) for v in self.layer.trainable_variables]
        frozen = [value(v) for v in self.layer.non_trainable_variables]
        outputs, _ = self.layer.stateless_call(trainable, frozen, x)
        return outputs

    def call(self, x, training=False):
        a = self._pre_activation(x, training and not self.calibrating)
        if self.calibrating:
            y = self.activation(a)
            _record(self.pre_range, a)
            _record(self.out_range, y)
            return y
        if self.saturating and (training or self.activation_name in fake_quant.SATURATION):
            a = fake_quant.quantize_activations(a, self.pre_range[0], self.pre_range[1])
        y = self.activation(a)
        if not training:
            return y
        lo, hi = fake_quant.OUTPUT_RANGES.get(self.activation_name, (self.out_range[0], self.out_range[1]))
        return fake_quant.quantize_activations(y, lo, hi)

    def set_weight_clip(self):
        """Chooses a per-tensor weight scale's clip (:func:`weight_clip`); per-channel scales are not clipped."""
        if self.weight_scales == "per_tensor":
            self.clip.assign(weight_clip(keras.ops.convert_to_numpy(self.layer.kernel)))

    def finish_calibration(self):
        """Leaves calibration: the pre-activation range clipped where the activation saturates."""
        self.calibrating = False
        lo, hi = keras.ops.convert_to_numpy(self.pre_range)
        self.pre_range.assign(np.array(fake_quant.saturated_range(lo, hi, self.activation_name), "float32"))

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)


def _record(variable, values):
    """Widens a ``[lo, hi]`` range variable to hold ``values`` (eager calls only: calibration)."""
    old = keras.ops.convert_to_numpy(variable)
    values = keras.ops.convert_to_numpy(values)
    variable.assign(np.array([min(old[0], values.min()), max(old[1], values.max())], "float32"))


#: The clips :func:`weight_clip` tries, as fractions of the kernel's largest magnitude.
CLIP_FRACTIONS = np.linspace(0.2, 1.0, 41)


def weight_clip(kernel):
    """The per-tensor clip ``c`` (int8 scale ``c / 127``) among :data:`CLIP_FRACTIONS` of ``max |w|`` whose rounded
    kernel is closest to ``kernel`` (squared error): a few outlying weights then no longer coarsen every other
    weight's grid."""
    largest = float(np.max(np.abs(kernel)))
    if largest == 0:
        return 1.0
    errors = []
    for clip in largest * CLIP_FRACTIONS:
        scale = clip / fake_quant.WEIGHT_LEVELS
        errors.append(float(np.sum((np.round(np.clip(kernel, -clip, clip) / scale) * scale - kernel) ** 2)))
    return float(largest * CLIP_FRACTIONS[int(np.argmin(errors))])


# ============================================================================================ the copy
def _wrap(weight_scales):
    def clone(layer):
        config = layer.get_config()
        if type(layer) not in QUANTIZABLE:
            return type(layer).from_config(config)
        activation = _activation_name(layer)
        if activation is None:  # a custom activation object: left as it is (not simulated)
            return type(layer).from_config(config)
        inner = type(layer).from_config({**config, "activation": "linear", "name": f"{layer.name}_float"})
        scales = weight_scales
        if scales == "auto":  # as the converter's "auto": per tensor for Dense, per channel for convolutions
            scales = "per_tensor" if type(layer) is keras.layers.Dense else "per_channel"
        return FakeQuantized(inner, activation, scales, _channel_axis(layer), name=layer.name)

    return clone


def _copy_weights(source, target):
    for a, b in zip(source.layers, target.layers):
        if isinstance(b, FakeQuantized):
            b.layer.set_weights(a.get_weights())
        elif isinstance(b, keras.Model) and hasattr(b, "layers") and isinstance(a, keras.Model):
            _copy_weights(a, b)
        else:
            b.set_weights(a.get_weights())


def _network_copy(network, weight_scales):
    """A quantised clone of a Functional/Sequential network, or a plain copy of any other network or layer."""
    if isinstance(network, keras.Model):
        try:
            clone = keras.models.clone_model(network, clone_function=_wrap(weight_scales), recursive=True)
        except ValueError:  # a subclassed model: copied as it is
            clone = None
        if clone is not None:
            _copy_weights(network, clone)
            return clone
    copy = type(network).from_config(network.get_config())
    copy.set_weights(network.get_weights())
    return copy


def wrappers(model):
    """Every :class:`FakeQuantized` layer of ``model`` (found through the ``layers`` of it and its sub-models)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, FakeQuantized):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += wrappers(layer)
    return found


def quantized_copy(model, first_batch, weight_scales="per_channel"):
    """A copy of ``model`` whose declared networks (``nested_objects``) simulate int8 (see the module docstring).

    Args:
        model: A kerasae model.
        first_batch: One batch of its training data (as ``fit`` takes it): evaluated once, so that every layer of
            the copy is built before the model's own weights are copied into it.
        weight_scales: The int8 weight grid simulated in training steps.

    Returns:
        The copy, with the model's weights.

    Raises:
        ValueError: when the copy's weights do not match the model's.
    """
    names = [n for n in getattr(type(model), "nested_objects", ()) if isinstance(getattr(model, n, None), keras.Layer)]
    networks = {name: getattr(model, name) for name in names}
    copies = {name: _network_copy(network, weight_scales) for name, network in networks.items()}
    copy = type(model).from_config({**model.get_config(), **copies})
    copy.compile(optimizer="adam", jit_compile=False, steps_per_execution=1)
    if isinstance(first_batch, tuple):  # (x, y): labels too
        copy.test_on_batch(*first_batch)
    else:
        copy.test_on_batch(first_batch)
    inside = {id(v) for network in networks.values() for v in network.weights}
    inside_copy = {id(v) for network in copies.values() for v in network.weights}
    own = [v for v in model.weights if id(v) not in inside]
    own_copy = [v for v in copy.weights if id(v) not in inside_copy]
    if [tuple(v.shape) for v in own] != [tuple(v.shape) for v in own_copy]:
        raise ValueError(
            f"Quantisation-aware fine-tuning could not copy {type(model).__name__}'s weights (outside its networks "
            f"{names}: {len(own)} tensors, the copy {len(own_copy)}). Fix: export without qat_epochs (--qat-epochs)."
        )
    for source, target in zip(own, own_copy):
        target.assign(source)
    return copy


# ============================================================================================ calibration
def calibrate(model, calibration, weights=True):
    """Sets the int8 ranges of every :class:`FakeQuantized` layer of ``model``: its tensors' smallest and largest
    values when each deterministic signature runs on ``calibration`` (:func:`kerasae.export.tflite.
    calibration_inputs`), pre-activations clipped where their activation saturates; with ``weights``, the clips of
    per-tensor weight scales too (before fine-tuning; after it they stay those the weights were trained on)."""
    layers = wrappers(model)
    for layer in layers:
        if weights:
            layer.set_weight_clip()
        layer.pre_range.assign(np.zeros(2, "float32"))
        layer.out_range.assign(np.zeros(2, "float32"))
        layer.calibrating = True
    try:
        for sig in signature_table(model).values():
            if sig.random:
                continue
            values = feed(sig, calibration["x" if "x" in sig.input_names else "z"])
            n = len(next(iter(values.values())))
            for start in range(0, n, CALIBRATION_BATCH):
                sig.fn(*(tf.constant(v[start:start + CALIBRATION_BATCH]) for v in values.values()))
    finally:
        for layer in layers:
            layer.finish_calibration()


# ============================================================================================ fine-tuning
def check_options(epochs, learning_rate, batch_size):
    """``(epochs, learning_rate, batch_size)`` checked (``epochs`` None: no fine-tuning)."""
    if epochs is not None:
        epochs = check_int("qat_epochs", epochs, minimum=0, optional=True)
    learning_rate = check_number("qat_learning_rate", learning_rate, minimum=0, exclusive_minimum=True)
    return epochs, learning_rate, check_positive_int("qat_batch_size", batch_size)


def _dataset(data, batch_size, seed):
    """``data`` as ``fit`` takes it (a ``tf.data.Dataset`` as it is; arrays, or ``(x, y)``, shuffled and batched)
    and its first batch."""
    if isinstance(data, tf.data.Dataset):
        first = next(iter(data.take(1).as_numpy_iterator()))
        return data, first
    arrays = tuple(np.asarray(a) for a in data) if isinstance(data, (tuple, list)) else (np.asarray(data),)
    arrays = tuple(a.astype("float32") if a.dtype.kind == "f" else a for a in arrays)
    n = len(arrays[0])
    if n == 0:
        raise ValueError("Expected qat_data to hold at least one example. Received none. Fix: pass the training data.")
    batch_size = min(batch_size, n)
    dataset = tf.data.Dataset.from_tensor_slices(arrays if len(arrays) > 1 else arrays[0])
    dataset = dataset.shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    first = tuple(a[:batch_size] for a in arrays) if len(arrays) > 1 else arrays[0][:batch_size]
    return dataset, first


def fine_tune(model, data, calibration, *, epochs, learning_rate=DEFAULT_QAT_LEARNING_RATE,
              batch_size=DEFAULT_QAT_BATCH_SIZE, weight_scales="per_channel", seed=0):
    """Quantisation-aware fine-tuning of a copy of ``model`` (see the module docstring).

    Args:
        model: A kerasae model (float32).
        data: Its training data as ``fit`` takes it: inputs, ``(inputs, labels)`` for a model trained on labels, or
            a batched ``tf.data.Dataset`` (e.g. ``Dataset.pipeline("train")``, binarised as in training).
        calibration: The export's calibration inputs (:func:`kerasae.export.tflite.calibration_inputs`).
        epochs: Epochs of fine-tuning, >= 0 (0: the ranges are calibrated, nothing is trained).
        learning_rate: Adam's learning rate.
        batch_size: Examples per step (arrays only; a dataset keeps its batches).
        weight_scales: The int8 weight grid simulated: ``"per_channel"``, ``"per_tensor"`` or ``"auto"`` (per tensor
            for ``Dense``, per channel for convolutions); :func:`grid` of the export's.
        seed: Seed of the shuffling of arrays.

    Returns:
        ``(copy, record)``: the fine-tuned copy (its int8 ranges calibrated) and the metadata's ``qat`` record.
    """
    start = time.perf_counter()
    dataset, first = _dataset(data, batch_size, seed)
    copy = quantized_copy(model, first, weight_scales)
    calibrate(copy, calibration)
    copy.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=False)
    copy.optimizer.build(copy.trainable_variables)
    trained = getattr(model, "optimizer", None)
    if trained is not None and trained.built:  # the step a KL warm-up reads goes on from the model's
        copy.optimizer.iterations.assign(trained.iterations)
    begin = int(copy.optimizer.iterations.numpy())
    history = {}
    if epochs:
        try:
            history = copy.fit(dataset, epochs=epochs, verbose=0).history
        except (TypeError, ValueError, tf.errors.InvalidArgumentError) as err:
            message = " ".join(str(err).split())[:300]
            raise ValueError(
                f"Quantisation-aware fine-tuning of {type(model).__name__} failed on qat_data ({type(err).__name__}: "
                f"{message}). Expected qat_data as {type(model).__name__}.fit takes it. Fix: pass its training data."
            ) from err
        for layer in wrappers(copy):
            layer.trained = True
        calibrate(copy, calibration, weights=False)
    losses = history.get("loss") or [None]
    record = {"epochs": int(epochs), "learning_rate": float(learning_rate), "optimizer": "adam",
              "batch_size": int(len(tf.nest.flatten(first)[0])),
              "steps": int(copy.optimizer.iterations.numpy()) - begin,
              "weight_scales": weight_scales, "layers": len(wrappers(copy)),
              "final_loss": None if losses[-1] is None else float(losses[-1]),
              "seconds": round(time.perf_counter() - start, 1),
              "reference": "quality against the model as trained; parity against this fine-tuned copy"}
    return copy, record


def applies(fmt, quantization):
    """Whether an artifact is converted from the fine-tuned copy: full-integer files (TFLite ``int8``, TFLite
    Micro)."""
    return (fmt == "tflite" and quantization == "int8") or fmt == "tflm"


def data_of(qat_data, representative_data, k):
    """The fine-tuning data: ``qat_data``, else the calibration data of an unconditional model (a conditional model,
    of ``k`` classes, takes its conditions in ``fit`` as its own family does: its data must be given)."""
    if qat_data is not None:
        return qat_data
    if k is not None:
        raise ValueError(f"Expected qat_data for a conditional model (conditions of {k} classes), as its fit takes it. "
                         "Received None. Fix: pass qat_data, e.g. its training pipeline.")
    return representative_data


class Source:
    """What the full-integer artifacts of an export are converted from and checked against: the fine-tuned copy's
    signatures, a SavedModel of each part staged once, and its outputs on the parity inputs.

    Args:
        model: The fine-tuned copy (:func:`fine_tune`).
        record: The metadata's ``qat`` record.
    """

    def __init__(self, model, record):
        self.model, self.record = model, record
        self.table = signature_table(model)
        self._parts = {}

    def part(self, staging, part, inputs):
        """``(SavedModel path, (name, ExportSignature) pairs, Keras outputs on inputs or None)`` of one part."""
        if part not in self._parts:
            chosen = signatures.select(self.table, part)
            path = staging.path(f"{part}.qat.saved_model")
            signatures.write_saved_model(chosen, path)
            reference = None if inputs is None else signatures.keras_outputs(chosen, inputs)
            self._parts[part] = (path, chosen, reference)
        return self._parts[part]


def grid(weight_scales):
    """The int8 weight grid fine-tuning simulates for an export's ``weight_scales``: per channel when asked for,
    else per tensor (``"smallest"`` tries per-tensor files first; ``"auto"``: per tensor for ``Dense``)."""
    return "per_channel" if weight_scales == "per_channel" else weight_scales if weight_scales == "auto" else "per_tensor"
