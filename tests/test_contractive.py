"""Contractive autoencoder: Jacobian penalty, closed form for a sigmoid layer, exact autodiff otherwise."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_keras_roundtrip, assert_training_lowers_loss, compile_model, small_mlp

import kerasae
from kerasae.contractive import (
    ContractiveAutoencoder,
    autodiff_jacobian_norm,
    hutchinson_jacobian_norm,
    jacobian_norm,
    sigmoid_dense_layer,
    sigmoid_jacobian_norm,
)


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _random_sigmoid_encoder(input_shape=(6,), k=4, seed=0):
    rng = np.random.default_rng(seed)
    encoder, decoder = small_mlp(input_shape, k, hidden_units=(), code_activation="sigmoid")
    d = int(np.prod(input_shape))
    w, b = rng.normal(size=(d, k)).astype("float32"), rng.normal(size=(k,)).astype("float32")
    encoder.get_layer("code").set_weights([w, b])
    x = rng.uniform(size=(9,) + tuple(input_shape)).astype("float32")
    return encoder, decoder, w, b, x


def test_closed_form_equals_numpy_and_autodiff():
    encoder, _, w, b, x = _random_sigmoid_encoder()
    h = _sigmoid(x @ w + b)
    expected = np.sum((h * (1 - h)) ** 2 * np.sum(w**2, axis=0), axis=1)
    closed = np.asarray(sigmoid_jacobian_norm(encoder(x), encoder.get_layer("code").kernel))
    np.testing.assert_allclose(closed, expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(autodiff_jacobian_norm(encoder, x)), closed, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(jacobian_norm(encoder, x, method="closed_form")), closed, rtol=1e-5)


def test_autodiff_equals_numpy_for_two_layer_encoder():
    rng = np.random.default_rng(1)
    encoder, _ = small_mlp((5,), 3, hidden_units=(4,), activation="tanh", code_activation="tanh")
    w1, b1, w2, b2 = (rng.normal(size=s).astype("float32") for s in ((5, 4), (4,), (4, 3), (3,)))
    encoder.get_layer("hidden_0").set_weights([w1, b1])
    encoder.get_layer("code").set_weights([w2, b2])
    x = rng.normal(size=(7, 5)).astype("float32")
    a1 = np.tanh(x @ w1 + b1)
    a2 = np.tanh(a1 @ w2 + b2)
    # J_n = diag(1 - a2^2) W2^T diag(1 - a1^2) W1^T, shape (3, 5).
    jacobians = np.einsum("nk,jk,nj,ij->nki", 1 - a2**2, w2, 1 - a1**2, w1)
    expected = np.sum(jacobians**2, axis=(1, 2))
    np.testing.assert_allclose(np.asarray(jacobian_norm(encoder, x)), expected, rtol=1e-5)


def test_hutchinson_estimate_is_unbiased_and_trains(digits):
    encoder, decoder = small_mlp((64,), 6, hidden_units=(16,), activation="tanh", code_activation="tanh")
    x = digits.x_test[:5]
    exact = np.asarray(jacobian_norm(encoder, x))
    estimate = np.asarray(hutchinson_jacobian_norm(encoder, x, tf.constant([3, 4]), num_projections=4000))
    np.testing.assert_allclose(estimate, exact, rtol=0.05)  # Rademacher variance: 2 sum_{k!=l} (JJ^T)_kl^2
    single = np.asarray(hutchinson_jacobian_norm(encoder, x, tf.constant([3, 5])))
    assert single.shape == (5,) and not np.allclose(single, exact)
    model = ContractiveAutoencoder(encoder, decoder, contractive_weight=0.1, penalty_method="hutchinson", seed=1)
    assert not model.uses_closed_form
    assert_training_lowers_loss(model, digits.x_train, epochs=3)


def test_autodiff_equals_batch_jacobian_for_conv_encoder(digits_images):
    encoder, _ = kerasae.networks.conv((8, 8, 1), 5, filters=(4, 8))
    x = tf.constant(digits_images.x_test[:6])
    with tf.GradientTape() as tape:
        tape.watch(x)
        code = encoder(x)
    expected = tf.reduce_sum(tf.square(tf.reshape(tape.batch_jacobian(code, x), (6, -1))), axis=-1)
    np.testing.assert_allclose(np.asarray(autodiff_jacobian_norm(encoder, x)), np.asarray(expected), rtol=1e-5)


def test_closed_form_detection(digits_images):
    assert sigmoid_dense_layer(small_mlp((8, 8, 1), 4, hidden_units=(), code_activation="sigmoid")[0]) is not None
    assert sigmoid_dense_layer(keras.layers.Dense(3, activation="sigmoid")) is not None
    assert sigmoid_dense_layer(small_mlp((64,), 4, hidden_units=(), code_activation="relu")[0]) is None
    assert sigmoid_dense_layer(small_mlp((64,), 4, code_activation="sigmoid")[0]) is None
    assert ContractiveAutoencoder(*small_mlp(hidden_units=(), code_activation="sigmoid")).uses_closed_form
    assert not ContractiveAutoencoder(*small_mlp(code_activation="sigmoid")).uses_closed_form
    model = ContractiveAutoencoder(*small_mlp(hidden_units=(), code_activation="sigmoid"), penalty_method="autodiff")
    assert not model.uses_closed_form


@pytest.mark.parametrize("method", ["closed_form", "autodiff"])
def test_model_penalty_equals_numpy_reference(method):
    encoder, decoder, w, b, x = _random_sigmoid_encoder()
    model = compile_model(ContractiveAutoencoder(encoder, decoder, contractive_weight=0.3, penalty_method=method))
    result = model.evaluate(x, batch_size=len(x), verbose=0, return_dict=True)
    h = _sigmoid(x @ w + b)
    expected = 0.3 * np.mean(np.sum((h * (1 - h)) ** 2 * np.sum(w**2, axis=0), axis=1))
    np.testing.assert_allclose(result["contractive_penalty"], expected, rtol=1e-5)
    np.testing.assert_allclose(result["loss"], result["reconstruction_loss"] + expected, rtol=1e-5)


def test_penalty_lowers_jacobian_norm(digits):
    norms = {}
    for weight in (0.0, 0.5):
        keras.utils.set_random_seed(3)
        model = compile_model(ContractiveAutoencoder(*small_mlp((64,), 8), contractive_weight=weight))
        model.fit(digits.x_train, epochs=4, batch_size=64, verbose=0)
        norms[weight] = float(np.mean(jacobian_norm(model.encoder, digits.x_test)))
    assert norms[0.5] < 0.5 * norms[0.0], norms


def test_trains_under_xla_like_without(digits):
    losses = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(5)
        model = ContractiveAutoencoder(*small_mlp((64,), 4, hidden_units=(16,)), contractive_weight=0.1)
        compile_model(model, jit_compile=jit_compile)
        history = model.fit(digits.x_train[:256], epochs=2, batch_size=64, verbose=0)
        losses.append(history.history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


@pytest.mark.parametrize(
    "architecture, options",
    [
        ("mlp", {"hidden_units": (), "code_activation": "sigmoid"}),
        ("mlp", {"dropout": 0.1, "l2": 1e-4}),
        ("conv", {"filters": (4, 8), "l2": 1e-4}),
    ],
    ids=["mlp_closed_form", "mlp_dropout_l2", "conv_l2"],
)
def test_training_lowers_loss(digits, digits_images, architecture, options):
    data = digits if architecture == "mlp" else digits_images
    l2 = options.pop("l2", 0.0)
    encoder, decoder = kerasae.networks.build(architecture, data.input_shape, 8, **options)
    model = ContractiveAutoencoder(encoder, decoder, contractive_weight=0.1, l2=l2)
    assert_training_lowers_loss(model, data.x_train[:640], epochs=3, batch_size=32)


def test_keras_roundtrip(digits, tmp_path):
    model = compile_model(ContractiveAutoencoder(*small_mlp(hidden_units=(), code_activation="sigmoid"), contractive_weight=0.2))
    model.fit(digits.x_train, epochs=1, batch_size=64, verbose=0)
    loaded = assert_keras_roundtrip(model, digits.x_test[:16], tmp_path)
    assert loaded.contractive_weight == 0.2 and loaded.uses_closed_form


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="contractive_weight >= 0"):
        ContractiveAutoencoder(*small_mlp(), contractive_weight=-1)
    with pytest.raises(ValueError, match="penalty_method"):
        ContractiveAutoencoder(*small_mlp(), penalty_method="finite_differences")
    with pytest.raises(ValueError, match="single Dense layer with a sigmoid"):
        ContractiveAutoencoder(*small_mlp(), penalty_method="closed_form")
