"""TiedDense: a decoder layer with the transposed kernel of an encoder layer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasae import networks
from kerasae.layers.tied import TiedDense


def test_output_is_the_formula_and_gradients_reach_the_shared_kernel():
    rng = np.random.default_rng(0)
    dense = keras.layers.Dense(3)
    dense.build((None, 5))
    w = rng.normal(size=(5, 3)).astype("float32")
    dense.kernel.assign(w)
    tied = TiedDense(dense, activation="sigmoid")
    h = rng.normal(size=(4, 3)).astype("float32")
    tied.build(h.shape)
    c = rng.normal(size=5).astype("float32")
    tied.bias.assign(c)
    np.testing.assert_allclose(tied(h), 1 / (1 + np.exp(-(h @ w.T + c))), rtol=1e-5)
    assert [tuple(v.shape) for v in tied.weights] == [(5,)] and tied.tied_to is dense
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(tied(h))
    grad = tape.gradient(total, dense.kernel)
    s = 1 / (1 + np.exp(-(h @ w.T + c)))
    np.testing.assert_allclose(grad, (h.T @ (s * (1 - s))).T, rtol=1e-4)


def test_tied_mlp_mirrors_every_encoder_layer():
    encoder, decoder = networks.mlp((4, 4, 1), 2, hidden_units=(8, 6), tied_weights=True, dropout=0.1)
    ties = {layer.name: layer.tied_to.name for layer in decoder.layers if isinstance(layer, TiedDense)}
    assert ties == {"hidden_0": "code", "hidden_1": "hidden_1", "output": "hidden_0"}
    assert decoder(np.zeros((2, 2), "float32")).shape == (2, 4, 4, 1)
    assert decoder.count_params() == 6 + 8 + 16  # biases only


def test_bad_uses_raise():
    with pytest.raises(ValueError, match="Expected tied_to to be a keras.layers.Dense"):
        TiedDense(keras.layers.Conv2D(3, 3))
    with pytest.raises(ValueError, match="to be built before"):
        TiedDense(keras.layers.Dense(3))(np.zeros((1, 3), "float32"))
    dense = keras.layers.Dense(3)
    dense.build((None, 5))
    with pytest.raises(ValueError, match="Expected inputs with 3 features"):
        TiedDense(dense)(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match="cannot be rebuilt on its own"):
        TiedDense.from_config(TiedDense(dense).get_config())
    with pytest.raises(ValueError, match="Expected decoder_outputs=1 with tied_weights"):
        networks.mlp((6,), 2, hidden_units=(4,), decoder_outputs=2, tied_weights=True)
