"""The conditional VAE (CVAE): encoder and decoder both see a one-hot condition."""

import math

import keras
import numpy as np
import tensorflow as tf

from kerasae import networks
from kerasae.models.vae import VAE, likelihood_decoder_outputs, posterior_params_size

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

    def __init__(self, encoder, decoder, num_classes=10, **kwargs):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"Expected num_classes to be a positive integer. Received: num_classes={num_classes!r}")
        self.num_classes = num_classes
        super().__init__(encoder, decoder, **kwargs)

    def _condition_size(self):
        return self.num_classes

    @classmethod
    def create(cls, input_shape, latent_dim, num_classes=10, **kwargs):
        """As :meth:`VAE.create`, with the condition's width ``num_classes``."""
        return super().create(input_shape, latent_dim, num_classes=num_classes, **kwargs)

    @classmethod
    def _networks(cls, build, input_shape, latent_dim, posterior, likelihood, num_bins, model_kwargs,
                  default_hidden=False):
        k = model_kwargs.get("num_classes", 10)
        extra = {}
        if default_hidden:
            extra["hidden_units"] = networks.default_hidden_units(math.prod(input_shape), latent_dim)
        conditioned = input_shape[:-1] + (input_shape[-1] + k,)
        encoder, _ = build(conditioned, posterior_params_size(posterior, latent_dim), name="cvae", **extra)
        _, decoder = build(
            input_shape, latent_dim + k, decoder_outputs=likelihood_decoder_outputs(likelihood, num_bins),
            name="cvae", **extra,
        )
        return encoder, decoder

    def _split_inputs(self, inputs):
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
            raise ValueError(
                "CVAE expects its input as the pair (x, condition) with a one-hot condition, e.g. "
                "fit((x, keras.utils.to_categorical(y, num_classes))). Received a single input"
                + (f" of shape {tuple(inputs.shape)}" if hasattr(inputs, "shape") else "")
                + ". (fit(x, y) would make y the reconstruction target.)"
            )
        x, condition = inputs
        if condition.shape[-1] != self.num_classes:
            raise ValueError(
                f"Expected a one-hot condition of width num_classes={self.num_classes}. Received a condition "
                f"of shape {tuple(condition.shape)}. Fix: keras.utils.to_categorical(labels, {self.num_classes})."
            )
        return x, tf.cast(condition, "float32")

    def targets(self, x, y):
        data, _ = self._split_inputs(x)
        return super().targets(data, y)

    def _encoder_input(self, x, condition):
        x = tf.cast(x, "float32")
        c = condition
        for _ in range(len(x.shape) - 2):  # images: tile the condition over height and width
            c = c[:, None]
        c = tf.broadcast_to(c, tf.concat([tf.shape(x)[:-1], [self.num_classes]], axis=0))
        return tf.concat([x, c], axis=-1)

    def _decoder_input(self, z, condition):
        c = tf.broadcast_to(condition, tf.concat([tf.shape(z)[:-1], [self.num_classes]], axis=0))
        return tf.concat([z, c], axis=-1)

    def _check_condition(self, condition, z):
        if condition is None:
            raise ValueError("CVAE.decode needs a condition: an int class, or one-hot rows.")
        return self.one_hot(condition, tf.shape(z)[0])

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

    def sample(self, n, condition, seed=None):
        """Decodes ``n`` prior codes under ``condition`` (a class index, ``n`` indices or one-hot rows).

        Returns:
            A numpy array ``(n, *data_shape)`` of likelihood means.
        """
        z = self._prior_codes(n, seed)
        return keras.ops.convert_to_numpy(self.decode(z, condition=condition))

    def get_config(self):
        config = super().get_config()
        config["num_classes"] = self.num_classes
        return config
