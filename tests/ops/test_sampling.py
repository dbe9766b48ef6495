"""kerasae.sampling: the stateless algorithm follows the compiler (ThreeFry under XLA, Philox elsewhere)."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_training_lowers_loss, small_mlp
from scipy import stats

from kerasae.ops import sampling
from kerasae.layers.corruption import GaussianCorruption
from kerasae.models.denoising import DenoisingAutoencoder

SEED = tf.constant([3, 4])


def _traced(fn, jit_compile):
    return tf.function(fn, jit_compile=jit_compile)(SEED).numpy()


def test_philox_outside_xla_threefry_inside():
    draw = lambda s: sampling.uniform((4000,), s)  # noqa: E731
    philox = tf.random.stateless_uniform((4000,), SEED, alg="philox").numpy()
    threefry = _traced(lambda s: tf.random.stateless_uniform((4000,), s, alg="threefry"), jit_compile=True)
    assert sampling.algorithm() == "philox"
    np.testing.assert_array_equal(draw(SEED).numpy(), philox)  # eager
    np.testing.assert_array_equal(_traced(draw, jit_compile=False), philox)  # graph mode, as in exports
    np.testing.assert_array_equal(_traced(draw, jit_compile=True), threefry)
    assert not np.array_equal(threefry, philox)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_xla_draws_follow_their_distributions(dtype):
    u = _traced(lambda s: tf.cast(sampling.uniform((20000,), s, dtype), "float64"), jit_compile=True)
    z = _traced(lambda s: tf.cast(sampling.normal((20000,), s, dtype), "float64"), jit_compile=True)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_corruption_layer_draws_threefry_noise_under_xla():
    # Three layers with the same seed make the same first draw unless the algorithm differs.
    x = tf.zeros((8, 16))
    noisy = {}
    for name, jit_compile in (("eager", None), ("graph", False), ("xla", True)):
        layer = GaussianCorruption(0.5, seed=3)
        call = lambda x: layer(x, training=True)  # noqa: E731
        noisy[name] = (call(x) if jit_compile is None else tf.function(call, jit_compile=jit_compile)(x)).numpy()
    np.testing.assert_array_equal(noisy["graph"], noisy["eager"])  # Philox both
    assert not np.allclose(noisy["xla"], noisy["eager"])  # ThreeFry under XLA
    assert stats.kstest(noisy["xla"].ravel() / 0.5, "norm").pvalue > 1e-3


def test_denoising_autoencoder_trains_under_xla(digits):
    model = DenoisingAutoencoder(*small_mlp((64,), 16), noise="salt_and_pepper", noise_level=0.2, seed=0)
    model.compile(optimizer="adam", jit_compile=True)
    assert_training_lowers_loss(model, digits.x_train[:512], epochs=3, batch_size=64)
