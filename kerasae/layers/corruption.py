"""Input corruptions as Keras layers, for denoising autoencoders or on their own.

Each layer corrupts its input only when called with ``training=True`` and is the identity otherwise, so
it can sit in any model; its randomness comes from a ``keras.random.SeedGenerator``, so every call draws a
fresh corruption and a seeded layer repeats its sequence of draws.

Example:
    >>> layer = kerasae.corruption.get_corruption("salt_and_pepper", 0.2, seed=0)
    >>> noisy = layer(x_test, training=True)
"""

import keras
from keras import ops

from kerasae.ops import sampling
from kerasae.utils.validation import check_int, check_number

#: Names known to :func:`get_corruption`, each with the meaning of its level.
CORRUPTIONS = {
    "gaussian": "standard deviation of the additive noise",
    "salt_and_pepper": "probability that a value is replaced by the minimum or the maximum",
    "masking": "probability that a value is set to zero",
    "dropout": "probability that a value is set to zero, the others scaled by 1 / (1 - rate)",
}


def _check_rate(rate):
    return check_number("rate", rate, minimum=0, maximum=1, exclusive_maximum=True)


class _Corruption(keras.layers.Layer):
    """Shared plumbing: the seed generator, the training switch, the shape and the config."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        seed = check_int("seed", seed, optional=True)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return self.corrupt(inputs)

    def corrupt(self, inputs):  # pragma: no cover - abstract
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="kerasae")
class GaussianCorruption(_Corruption):
    """Additive isotropic Gaussian noise, ``x~ = x + stddev * eps``, ``eps ~ N(0, I)``.

    Args:
        stddev: Standard deviation of the noise, >= 0.
        clip: Optional ``(low, high)`` to clip the corrupted values to (e.g. ``(0, 1)`` for images);
            ``None`` keeps them unbounded.
        seed: Optional integer seed.
        **kwargs: Passed to ``keras.layers.Layer``.

    Example:
        >>> noisy = kerasae.corruption.GaussianCorruption(0.3, clip=(0, 1))(x, training=True)
    """

    def __init__(self, stddev, clip=None, seed=None, **kwargs):
        stddev = check_number("stddev", stddev, minimum=0)
        if clip is not None:
            if len(clip) != 2 or not float(clip[0]) < float(clip[1]):
                raise ValueError(f"Expected clip to be None or (low, high) with low < high. Received: clip={clip!r}")
            clip = (float(clip[0]), float(clip[1]))
        super().__init__(seed=seed, **kwargs)
        self.stddev = float(stddev)
        self.clip = clip

    def corrupt(self, inputs):
        noise = sampling.normal(ops.shape(inputs), sampling.next_seed(self.seed_generator), inputs.dtype)
        noisy = inputs + self.stddev * noise
        if self.clip is not None:
            noisy = ops.clip(noisy, self.clip[0], self.clip[1])
        return noisy

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev, "clip": self.clip})
        return config


@keras.saving.register_keras_serializable(package="kerasae")
class SaltAndPepperCorruption(_Corruption):
    """Salt-and-pepper noise: each value becomes ``low`` or ``high`` (equally likely) with probability ``rate``.

    Args:
        rate: Probability that a value is replaced, in [0, 1).
        low: The "pepper" value (0 for images in [0, 1]).
        high: The "salt" value (1 for images in [0, 1]).
        seed: Optional integer seed.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, rate, low=0.0, high=1.0, seed=None, **kwargs):
        rate = _check_rate(rate)
        if not float(low) < float(high):
            raise ValueError(f"Expected low < high. Received: low={low!r}, high={high!r}")
        super().__init__(seed=seed, **kwargs)
        self.rate = rate
        self.low = float(low)
        self.high = float(high)

    def corrupt(self, inputs):
        u = sampling.uniform(ops.shape(inputs), sampling.next_seed(self.seed_generator), inputs.dtype)
        # u < rate / 2: pepper; rate / 2 <= u < rate: salt; otherwise unchanged.
        salted = ops.where(u < 0.5 * self.rate, ops.cast(self.low, inputs.dtype), ops.cast(self.high, inputs.dtype))
        return ops.where(u < self.rate, salted, inputs)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "low": self.low, "high": self.high})
        return config


@keras.saving.register_keras_serializable(package="kerasae")
class MaskingCorruption(_Corruption):
    """Masking noise: each value is set to zero with probability ``rate``, the rest left unchanged.

    Args:
        rate: Probability that a value is zeroed, in [0, 1).
        seed: Optional integer seed.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, rate, seed=None, **kwargs):
        rate = _check_rate(rate)
        super().__init__(seed=seed, **kwargs)
        self.rate = rate

    def keep_mask(self, inputs):
        """A 0/1 mask that keeps each value with probability ``1 - rate``."""
        u = sampling.uniform(ops.shape(inputs), sampling.next_seed(self.seed_generator), inputs.dtype)
        return ops.cast(u >= self.rate, inputs.dtype)

    def corrupt(self, inputs):
        return inputs * self.keep_mask(inputs)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate})
        return config


@keras.saving.register_keras_serializable(package="kerasae")
class DropoutCorruption(MaskingCorruption):
    """Dropout noise: masking that rescales the kept values by ``1 / (1 - rate)`` (unbiased in mean).

    Args:
        rate: Probability that a value is zeroed, in [0, 1).
        seed: Optional integer seed.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def corrupt(self, inputs):
        return super().corrupt(inputs) / (1.0 - self.rate)


_CLASSES = {
    "gaussian": lambda level, seed: GaussianCorruption(level, seed=seed),
    "salt_and_pepper": lambda level, seed: SaltAndPepperCorruption(level, seed=seed),
    "masking": lambda level, seed: MaskingCorruption(level, seed=seed),
    "dropout": lambda level, seed: DropoutCorruption(level, seed=seed),
}


def get_corruption(name, level, seed=None):
    """Builds a corruption layer by name.

    Args:
        name: ``"gaussian"``, ``"salt_and_pepper"``, ``"masking"`` or ``"dropout"``.
        level: The noise level: the standard deviation for ``"gaussian"``, the rate otherwise.
        seed: Optional integer seed.

    Returns:
        A corruption layer (the identity unless called with ``training=True``).

    Raises:
        ValueError: for an unknown name or a level out of range.
    """
    if name not in _CLASSES:
        raise ValueError(f"Unknown corruption {name!r}. Expected one of {list(CORRUPTIONS)}.")
    return _CLASSES[name](level, seed)
