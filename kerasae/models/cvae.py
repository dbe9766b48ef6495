"""The conditional VAE (CVAE): encoder and decoder both see a one-hot condition."""

import keras
import numpy as np
import tensorflow as tf

from kerasae.models import inputs
from kerasae.models.autoencoder import ExportSignature, float32_outputs
from kerasae.models.vae import VAE
from kerasae.utils.validation import check_positive_int

_NUM_CLASSES_HINT = "the width of the one-hot condition, e.g. 10 for digit labels 0-9"


@keras.saving.register_keras_serializable(package="kerasae")
class CVAE(VAE):
    """Conditional VAE: encoder ``q(z|x, c)`` and decoder ``p(x|z, c)`` both see a one-hot condition ``c``.

    Objective (minimised), per example, as for :class:`VAE` with every distribution conditioned on ``c``:

        loss = -(1/S) sum_s log p(x | z_s, c) + beta_t * KL(q(z|x, c) || p(z)).

    Input convention: the model's input is the pair ``(x, c)`` *as one input*, with ``c`` one-hot of width
    ``num_classes``: ``fit((x, c))``, ``evaluate((x, c))``, ``log_likelihood((x, c))``, or a ``tf.data``
    dataset of elements ``((x, c),)``. (A plain ``fit(x, c)`` would make ``c`` the reconstruction target.)
    The encoder sees ``x`` with ``c`` appended (as extra channels, tiled over the image, for images) and the
    decoder sees ``[z, c]``.

    Args:
        encoder: Network on ``x`` with the condition appended, ``(D + K,)`` or ``(H, W, C + K)``.
        decoder: Network on ``[z, c]``, ``(latent_dim + K,)``.
        num_classes: Width ``K`` of the one-hot condition.
        **kwargs: As for :class:`VAE`.

    Example:
        >>> model = kerasae.CVAE.create((64,), 8, num_classes=10)
        >>> model.compile(optimizer="adam")
        >>> model.fit((x_train, keras.utils.to_categorical(y_train, 10)), epochs=20)
        >>> sevens = model.sample(16, condition=7)

    References:
        Sohn, Lee & Yan (2015), Learning structured output representation using deep conditional
        generative models. NeurIPS.
        Kingma, Rezende, Mohamed & Welling (2014), Semi-supervised learning with deep generative models.
    """

    network_name = "cvae"

    def __init__(self, encoder, decoder, num_classes=10, **kwargs):
        self.num_classes = check_positive_int("num_classes", num_classes, hint=_NUM_CLASSES_HINT)
        super().__init__(encoder, decoder, **kwargs)

    @classmethod
    def create(cls, input_shape, latent_dim, num_classes=10, **kwargs):
        """As :meth:`VAE.create`, with the condition's width ``num_classes`` (a positive integer)."""
        num_classes = check_positive_int("num_classes", num_classes, hint=_NUM_CLASSES_HINT)
        return super().create(input_shape, latent_dim, num_classes=num_classes, **kwargs)

    # ------------------------------------------------------------------ the condition, appended to x and z
    @classmethod
    def _network_inputs(cls, input_shape, latent_dim, model_kwargs):
        k = model_kwargs.get("num_classes", 10)
        return input_shape[:-1] + (input_shape[-1] + k,), latent_dim + k

    def _infer_latent_dim(self):
        return super()._infer_latent_dim() - self.num_classes

    def _split_inputs(self, inputs):
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
            raise ValueError(
                "CVAE expects its input as the pair (x, condition) with a one-hot condition, e.g. "
                "fit((x, keras.utils.to_categorical(y, num_classes))). Received a single input"
                + (f" of shape {tuple(inputs.shape)}" if hasattr(inputs, "shape") else "")
                + ". (fit(x, y) would make y the reconstruction target.)"
            )
        x, condition = inputs
        shape = tuple(condition.shape if hasattr(condition, "shape") else np.shape(condition))
        if shape[-1:] != (self.num_classes,):
            raise ValueError(
                f"Expected a one-hot condition of width num_classes={self.num_classes}. Received a condition "
                f"of shape {shape}. Fix: keras.utils.to_categorical(labels, {self.num_classes})."
            )
        return x, tf.cast(condition, "float32")

    def _posterior(self, x, condition=None, training=False):
        x, c = tf.cast(x, "float32"), condition
        for _ in range(len(x.shape) - 2):  # images: tile the condition over height and width
            c = c[:, None]
        return super()._posterior(tf.concat([x, self._broadcast(c, x)], axis=-1), training=training)

    def _likelihood(self, z, condition=None, training=False):
        z = tf.cast(z, "float32")  # codes (..., batch, latent_dim): the condition is repeated over the leading axes
        return super()._likelihood(tf.concat([z, self._broadcast(condition, z)], axis=-1), training=training)

    def _broadcast(self, condition, values):
        """``condition`` broadcast to the shape of ``values`` but for the last axis (of width ``num_classes``)."""
        return tf.broadcast_to(condition, tf.concat([tf.shape(values)[:-1], [self.num_classes]], axis=0))

    def check_inputs(self, x, name="x"):
        """As :meth:`VAE.check_inputs`, for the pair ``(x, condition)`` too: ``x`` as a VAE's inputs, the condition
        finite rows ``(len(x), num_classes)`` (:func:`kerasae.models.inputs.check_condition`)."""
        if isinstance(x, (tuple, list)) and len(x) == 2 and all(hasattr(a, "shape") for a in x):
            data = inputs.check_examples(self, x[0], name)
            return data, inputs.check_condition(x[1], len(data), self.num_classes)
        return super().check_inputs(x, name)

    def targets(self, x, y):
        data, _ = self._split_inputs(x)
        return super().targets(data, y)

    # ------------------------------------------------------------------ API
    def one_hot(self, condition, n):
        """A class index (int), class indices ``(n,)`` or one-hot rows ``(n, K)`` as one-hot rows ``(n, K)``."""
        if tf.is_tensor(condition) and condition.shape.rank == 2:  # one-hot rows, also symbolic (export)
            return tf.cast(condition, "float32")
        condition = np.asarray(condition)
        if condition.ndim == 0:
            if not 0 <= int(condition) < self.num_classes:
                raise ValueError(f"Expected a class in [0, {self.num_classes}). Received: condition={condition!r}")
            condition = np.full((int(n),), int(condition))
        if condition.ndim == 1:
            return tf.one_hot(condition.astype("int64"), self.num_classes, dtype="float32")
        return tf.cast(condition, "float32")

    def decode(self, z, condition=None, training=False):
        """The likelihood's mean ``E[x|z, c]`` in data space, under ``condition`` (a class index, one index per
        code, or one-hot rows)."""
        if condition is None:
            raise ValueError("CVAE.decode needs a condition: an int class, or one-hot rows.")
        condition = self.one_hot(condition, tf.shape(z)[0])
        return self._likelihood_mean(self._likelihood(z, condition, training=training))

    def sample(self, n, condition, seed=None):
        """Decodes ``n`` prior codes under ``condition`` (a class index, ``n`` indices or one-hot rows).

        Returns:
            A numpy array ``(n, *data_shape)`` of likelihood means.
        """
        z = self._prior_codes(n, seed)
        return keras.ops.convert_to_numpy(self.decode(z, condition=condition))

    def export_signatures(self):
        """The VAE's signatures, each with the extra input ``condition`` (one-hot rows ``(batch, num_classes)``,
        float32); ``sample`` takes ``condition`` alone and draws one sample per row."""
        signatures = super().export_signatures()
        (x,), (z,) = signatures["encode"].specs, signatures["decode"].specs
        c = tf.TensorSpec((None, self.num_classes), tf.float32, name="condition")

        def sample(condition):
            codes = self.prior().sample(tf.shape(condition)[0])
            return float32_outputs(samples=self.decode(codes, condition))

        return {
            "reconstruct": ExportSignature(
                lambda x, condition: float32_outputs(reconstruction=self.reconstruct((x, condition))), (x, c)),
            "encode": ExportSignature(lambda x, condition: self.posterior_outputs(self.encode((x, condition))), (x, c)),
            "decode": ExportSignature(
                lambda z, condition: float32_outputs(reconstruction=self.decode(z, condition)), (z, c)),
            "sample": ExportSignature(sample, (c,), random=True),
        }

    def get_config(self):
        config = super().get_config()
        config["num_classes"] = self.num_classes
        return config
