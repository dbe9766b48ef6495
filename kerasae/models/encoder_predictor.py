"""Pre-trained encoders under a new head: :class:`EncoderPredictor`, a Keras model ``x -> head(code(x))`` whose
encoder comes from any trained kerasae model (a preset's too) or an exported SavedModel, fine-tuned with the head
or frozen."""

import keras
import numpy as np
import tensorflow_probability as tfp

from kerasae.data.labels import check_task
from kerasae.layers import posteriors
from kerasae.utils.validation import check_positive_int

#: The layers of a kerasae model its code depends on, unless the model names them (``inference_networks``).
INFERENCE_NETWORKS = ("encoder", "posterior_layer")


def _config(model):
    """``model``'s serialized config without its compile state (the predictor has its own optimizer)."""
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    return config


def _copy(model):
    """A built copy of the kerasae model ``model`` with its weights (so that fine-tuning leaves ``model`` as it is)."""
    copy = keras.saving.deserialize_keras_object(_config(model), safe_mode=True)
    copy(np.zeros((1, *model.data_shape), "float32"), training=False)
    copy.set_weights(model.get_weights())
    return copy


@keras.saving.register_keras_serializable(package="kerasae")
class PretrainedEncoder(keras.layers.Layer):
    """The point code of a trained model as a layer: ``model.encode(x)``, a VAE's posterior mean ``E_q[z|x]``.

    The code is differentiable in the encoder's weights, so a head on it can fine-tune them. Only the layers the
    code depends on are trainable (the model's ``inference_networks``: the encoder, and a VAE's posterior layer);
    the decoder, likelihood and prior never change.

    Args:
        model: A trained kerasae model with ``encode(x)`` (copied, with its weights: fine-tuning leaves it as it
            is), or a ``keras.layers.TFSMLayer`` on an exported SavedModel's ``encode`` signature.
        output_key: The output of a ``TFSMLayer`` that is the code: ``"code"`` (autoencoders' ``encode``) or
            ``"mean"`` (VAEs'); ``None`` picks whichever it has.

    Returns:
        Called on ``(batch, *data_shape)``, the codes ``(batch, latent_dim)``.
    """

    def __init__(self, model, output_key=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(model, dict):  # from get_config
            model = keras.saving.deserialize_keras_object(model)
        self.from_saved_model = isinstance(model, keras.layers.TFSMLayer)
        if not self.from_saved_model:
            if not callable(getattr(model, "encode", None)) or not hasattr(model, "data_shape"):
                raise ValueError(
                    "Expected a trained kerasae model with encode(x) (an autoencoder or a VAE) or a "
                    f"keras.layers.TFSMLayer on an exported encode signature. Received: model={type(model).__name__}."
                )
            if type(model).__name__ == "CVAE":
                raise ValueError("Expected a model whose code needs only x. Received: model=CVAE (its code needs "
                                 "the condition too).")
            model = _copy(model) if model.built else model
        self.model = model
        self.output_key = output_key
        self._freeze_outside_code()

    @property
    def trainable(self):
        return keras.layers.Layer.trainable.fget(self)

    @trainable.setter
    def trainable(self, value):
        keras.layers.Layer.trainable.fset(self, value)  # sets every sublayer's flag, the decoder's too
        self._freeze_outside_code()

    def _freeze_outside_code(self):
        """Freezes the model's layers that are not among its ``inference_networks``."""
        model = getattr(self, "model", None)
        if model is None or self.from_saved_model:
            return
        names = getattr(model, "inference_networks", INFERENCE_NETWORKS)
        keep = {id(getattr(model, name)) for name in names if getattr(model, name, None) is not None}
        for layer in model.layers:
            if id(layer) not in keep:
                layer.trainable = False

    @property
    def metrics(self):
        """No metrics of its own: the pre-trained model's trackers (its ``loss``...) are not the predictor's."""
        return []

    def build(self, input_shape):
        # Every variable, the decoder's too, before a loaded predictor's weights are restored.
        if not self.from_saved_model and not self.model.built:
            self.model(np.zeros((1, *input_shape[1:]), "float32"), training=False)
        self.built = True

    def call(self, x, training=None):
        if self.from_saved_model:
            outputs = self.model(x)
            if not isinstance(outputs, dict):
                return outputs
            name = self.output_key or next((k for k in ("code", "mean") if k in outputs), None)
            if name not in outputs:
                raise ValueError(f"Expected the SavedModel's encode signature to output {name or 'code or mean'}. "
                                 f"Received outputs: {sorted(outputs)}.")
            return outputs[name]
        code = self.model.encode(x, training=training)
        return posteriors.point_code(code) if isinstance(code, tfp.distributions.Distribution) else code

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)

    def get_config(self):
        return {**super().get_config(), "model": _config(self.model), "output_key": self.output_key}


@keras.saving.register_keras_serializable(package="kerasae")
class EncoderPredictor(keras.Model):
    """A head on a pre-trained encoder: ``y = h(code(x))``, trained end to end (fine-tuning the encoder) or with the
    encoder frozen (the linear-probe / M1 protocol on raw inputs).

    Classification minimises the mean cross-entropy ``-(1/n) sum_n log softmax(h(code(x_n)))_{y_n}``, regression the
    squared error ``(1/n) sum_n ||y_n - h(code(x_n))||^2``. ``compile()`` picks that loss (and accuracy) unless
    given others. The encoder is a :class:`PretrainedEncoder`: any trained kerasae model (a preset from
    ``kerasae.presets.load``), or an exported SavedModel through ``keras.layers.TFSMLayer(path,
    call_endpoint="encode")``.

    Args:
        encoder: A trained kerasae model, a ``TFSMLayer`` on an ``encode`` signature, or a
            :class:`PretrainedEncoder`.
        head: A Keras model or layer from codes to logits or values; ``None``: ``Dense(units)``, or with
            ``hidden_units`` an MLP with those ReLU widths before it.
        task: ``"classification"`` or ``"regression"``.
        units: Classes (classification) or regression outputs, >= 1 (for the default head).
        hidden_units: Widths of the default head's hidden layers (default: none, a linear head).
        dropout: Dropout rate before each of the default head's dense layers, in [0, 1).
        freeze_encoder: Train the head only (the encoder's weights stay as they are).

    Returns:
        Called on ``(batch, *data_shape)``: logits ``(batch, units)`` (classification) or values.

    Example:
        >>> predictor = kerasae.EncoderPredictor(kerasae.presets.load("NAME"), units=10)
        >>> predictor.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> predictor.fit(x_train, y_train, epochs=5)
        >>> predictor.predict_labels(x_test)

    References:
        Vincent et al. (2010), Stacked denoising autoencoders (JMLR): pre-training then supervised fine-tuning.
        Kingma et al. (2014), Semi-supervised learning with deep generative models (NeurIPS): M1, a classifier
        on a VAE's codes.
    """

    def __init__(self, encoder, head=None, task="classification", units=None, hidden_units=(), dropout=0.0,
                 freeze_encoder=False, **kwargs):
        super().__init__(**kwargs)
        self.task = check_task(task)
        self.hidden_units = tuple(check_positive_int("hidden_units", u) for u in hidden_units or ())
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"Expected dropout in [0, 1). Received: dropout={dropout}")
        self.dropout = float(dropout)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        self.encoder = encoder if isinstance(encoder, PretrainedEncoder) else PretrainedEncoder(encoder)
        self.freeze_encoder = bool(freeze_encoder)
        self.encoder.trainable = not self.freeze_encoder
        if isinstance(head, dict):
            head = keras.saving.deserialize_keras_object(head)
        if head is None:
            if units is None:
                raise ValueError("Expected units (the classes, or the regression outputs) for the default head. "
                                 "Received: units=None. Fix: pass units=..., or a head.")
            head = keras.Sequential(name="head")
            for width in self.hidden_units:
                if self.dropout:
                    head.add(keras.layers.Dropout(self.dropout))
                head.add(keras.layers.Dense(width, activation="relu"))
            if self.dropout:
                head.add(keras.layers.Dropout(self.dropout))
            head.add(keras.layers.Dense(check_positive_int("units", units)))
        self.units = units
        self.head = head

    def build(self, input_shape):
        self.encoder.build(input_shape)
        code = self.encoder(np.zeros((1, *input_shape[1:]), "float32"))
        self.head.build(tuple(code.shape))
        self.built = True

    def call(self, x, training=None):
        return self.head(self.encoder(x, training=training), training=training)

    def compile(self, optimizer="adam", loss="auto", metrics="auto", **kwargs):
        """Keras' ``compile``; ``loss="auto"``: cross-entropy on logits (classification) or squared error, and
        ``metrics="auto"``: accuracy for classification."""
        classification = self.task == "classification"
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True) if classification else "mse"
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")] if classification else []
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Compiles a loaded predictor as it was (Keras skips a ``compile`` it does not own)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def predict_labels(self, x, batch_size=256):
        """Predicted classes ``(n,)`` (classification) or values (regression), as numpy."""
        out = self.predict(x, batch_size=batch_size, verbose=0)
        return out.argmax(axis=-1) if self.task == "classification" else out

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder),
                "head": keras.saving.serialize_keras_object(self.head), "task": self.task, "units": self.units,
                "hidden_units": list(self.hidden_units), "dropout": self.dropout,
                "freeze_encoder": self.freeze_encoder}
