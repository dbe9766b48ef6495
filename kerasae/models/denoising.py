"""The denoising autoencoder: reconstruct the clean input from a corrupted copy.

Example:
    >>> encoder, decoder = kerasae.networks.mlp((64,), latent_dim=32)
    >>> model = kerasae.denoising.DenoisingAutoencoder(encoder, decoder, noise="masking", noise_level=0.3)
    >>> model.compile(optimizer="adam")
    >>> model.fit(x_train, epochs=20, batch_size=64)
    >>> kerasae.denoising.denoising_scores(model, x_test)  # MSE and PSNR on a corrupted test set
"""

import keras
import numpy as np

from kerasae.layers import corruption
from kerasae.data import datasets
from kerasae.ops import losses
from kerasae.models.autoencoder import Autoencoder
from kerasae.utils.validation import check_positive_int


@keras.saving.register_keras_serializable(package="kerasae")
class DenoisingAutoencoder(Autoencoder):
    """An autoencoder trained to undo a random corruption of its input.

    Objective, averaged over the batch:

        loss = mean_n E_{x~_n ~ C(x~ | x_n)} [ r(x_n, g(f(x~_n))) ] + l2 * sum_W ||W||_F^2

    where ``C`` is the corruption process (:mod:`kerasae.corruption`: additive Gaussian noise of standard
    deviation ``noise_level``, or salt-and-pepper, masking or dropout noise with rate ``noise_level``),
    drawn afresh for every training batch; the target is the clean input ``x_n``. The corruption is
    applied in training only: ``encode``, ``reconstruct``, ``predict`` and ``evaluate`` see the inputs as
    given, so pass corrupted data to them to denoise it (see :func:`denoising_scores`). Since the
    corruption, not the width, keeps the model from copying its input, the code may be over-complete.

    Args:
        encoder: A Keras model mapping inputs to codes.
        decoder: A Keras model mapping codes to pre-activations of the input's shape.
        noise: ``"gaussian"``, ``"salt_and_pepper"``, ``"masking"`` or ``"dropout"``.
        noise_level: The standard deviation (``"gaussian"``) or the rate (the others, in [0, 1)).
        seed: Optional integer seed of the corruption.
        **kwargs: Passed to :class:`kerasae.Autoencoder` (``reconstruction_loss``, ``l2``, ...).

    Example:
        >>> encoder, decoder = kerasae.networks.conv((8, 8, 1), latent_dim=16)
        >>> model = kerasae.denoising.DenoisingAutoencoder(encoder, decoder, noise="gaussian", noise_level=0.3)

    References:
        Vincent, Larochelle, Bengio & Manzagol (2008), Extracting and composing robust features with
        denoising autoencoders. ICML.
        Vincent et al. (2010), Stacked denoising autoencoders. JMLR 11.
    """

    undercomplete = False

    def __init__(self, encoder, decoder, noise="gaussian", noise_level=0.3, seed=None, **kwargs):
        corruption_layer = corruption.get_corruption(noise, noise_level, seed=seed)
        super().__init__(encoder, decoder, **kwargs)
        self.noise = noise
        self.noise_level = float(noise_level)
        self.seed = seed
        self.corruption = corruption_layer

    def corrupt(self, x, training=False):
        """A fresh corruption of ``x`` when ``training`` is true; ``x`` itself otherwise."""
        return self.corruption(x, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"noise": self.noise, "noise_level": self.noise_level, "seed": self.seed})
        return config


def denoising_scores(model, x, noise=None, noise_level=None, seed=0, batch_size=256):
    """Corrupts ``x`` once (seeded), reconstructs it, and scores the result against the clean ``x``.

    Args:
        model: A trained autoencoder (any :class:`kerasae.Autoencoder`).
        x: Clean inputs.
        noise: The corruption's name; defaults to the model's ``noise`` (``"gaussian"`` for others).
        noise_level: Its level; defaults to the model's ``noise_level`` (0.3 for others).
        seed: Seed of the corruption, so that two models can be compared on the same corrupted set.
        batch_size: Batch size of the reconstruction.

    Returns:
        A dict of floats: ``mse`` and ``psnr`` (dB) of the reconstructions, and ``noisy_mse`` and
        ``noisy_psnr`` of the corrupted inputs themselves, all against the clean inputs.
    """
    x = datasets.check_array(x, unit_interval=False)
    batch_size = check_positive_int("batch_size", batch_size)
    noise = noise or getattr(model, "noise", "gaussian")
    noise_level = noise_level if noise_level is not None else getattr(model, "noise_level", 0.3)
    noisy = corrupt_once(x, noise, noise_level, seed=seed)
    reconstruction = model.predict(noisy, batch_size=batch_size, verbose=0)
    scores = {}
    for prefix, values in (("", reconstruction), ("noisy_", noisy)):
        scores[f"{prefix}mse"] = float(np.mean(keras.ops.convert_to_numpy(losses.mean_squared_error(x, values))))
        scores[f"{prefix}psnr"] = float(np.mean(keras.ops.convert_to_numpy(losses.psnr(x, values))))
    return scores


def corrupt_once(x, noise, noise_level, seed=0):
    """A seeded corrupted copy of ``x`` as a numpy array (e.g. a fixed noisy test set)."""
    layer = corruption.get_corruption(noise, noise_level, seed=seed)
    return keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(x), training=True))


# ---------------------------------------------------------------------------------------------- CLI
