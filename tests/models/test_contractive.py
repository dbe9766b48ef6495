"""Contractive autoencoder: Jacobian penalty, closed form for a sigmoid layer, exact autodiff otherwise."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_keras_roundtrip, assert_training_lowers_loss, compile_model, small_mlp

import kerasae
from kerasae.models.contractive import (
    ContractiveAutoencoder,
    autodiff_jacobian_norm,
    dense_chain,
    exact_method,
    hutchinson_jacobian_norm,
    jacobian_norm,
    mlp_jacobian_norm,
    quadratic_form_applies,
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


def _chain_encoders():
    """MLP encoders of every shape the matrix form handles, and the input shape of each."""
    def functional(input_shape, *layers):
        inputs = keras.Input(input_shape)
        h = inputs
        for layer in layers:
            h = layer(h)
        return keras.Model(inputs, h)

    return {
        "tanh_sigmoid_2_hidden": (small_mlp((12,), 4, hidden_units=(7, 5), activation="tanh", code_activation="sigmoid")[0], (12,)),
        "relu_linear_images": (small_mlp((3, 4), 4, hidden_units=(9,), activation="relu")[0], (3, 4)),
        "tanh_linear_one_hidden": (small_mlp((24,), 5, hidden_units=(10,), activation="tanh")[0], (24,)),
        "tanh_linear_two_hidden": (small_mlp((24,), 5, hidden_units=(10, 8), activation="tanh")[0], (24,)),
        "elu_gelu_3_hidden": (small_mlp((20,), 4, hidden_units=(6, 8, 5), activation="elu", code_activation="gelu")[0], (20,)),
        "one_softplus_layer": (small_mlp((10,), 4, hidden_units=(), code_activation="softplus")[0], (10,)),
        "input_narrower_than_hidden": (small_mlp((5,), 3, hidden_units=(30,), activation="selu", code_activation="tanh")[0], (5,)),
        "activation_layers_no_bias_dropout": (keras.Sequential([
            keras.Input((11,)), keras.layers.Dense(8, use_bias=False), keras.layers.LeakyReLU(0.2),
            keras.layers.Dropout(0.3), keras.layers.Dense(6, activation="swish"), keras.layers.Activation("tanh"),
            keras.layers.Dense(3)]), (11,)),
        "functional_chain": (functional((9,), keras.layers.Dense(7, activation="sigmoid"), keras.layers.ELU(), keras.layers.Dense(2)), (9,)),
    }


@pytest.mark.parametrize("name", list(_chain_encoders()))
def test_mlp_matrix_form_equals_autodiff_in_value_and_gradient(name):
    keras.utils.set_random_seed(2)
    encoder, input_shape = _chain_encoders()[name]
    assert exact_method(encoder) == "mlp"
    x = tf.constant(np.random.default_rng(0).normal(size=(6, *input_shape)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        exact, fast = autodiff_jacobian_norm(encoder, x), jacobian_norm(encoder, x)
        exact_sum, fast_sum = tf.reduce_sum(exact), tf.reduce_sum(fast)
    np.testing.assert_allclose(np.asarray(fast), np.asarray(exact), rtol=2e-5)
    weights = encoder.trainable_weights
    for want, got in zip(tape.gradient(exact_sum, weights), tape.gradient(fast_sum, weights)):
        if want is None:  # piecewise-linear networks: the penalty does not depend on the biases
            assert got is None or np.allclose(got, 0.0)
        else:
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_matrix_form_applies_to_mlps_only(digits_images):
    conv = kerasae.networks.conv((8, 8, 1), 5, filters=(4,))[0]
    softmax = small_mlp((6,), 3, code_activation="softmax")[0]  # not elementwise
    inputs = keras.Input((6,))
    shared = keras.layers.Dense(6, activation="tanh")
    twice = keras.Model(inputs, shared(shared(inputs)))  # a layer called twice is not a chain of layers
    for encoder in (conv, softmax, twice):
        assert dense_chain(encoder) is None and exact_method(encoder) == "autodiff"
        with pytest.raises(ValueError, match="penalty_method='mlp' needs"):
            exact_method(encoder, "mlp")
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    np.testing.assert_allclose(np.asarray(jacobian_norm(twice, x)), np.asarray(autodiff_jacobian_norm(twice, x)), rtol=1e-6)
    dropout = small_mlp((6,), 3, dropout=0.2)[0]  # random masks in training: autodiff draws one per row
    assert exact_method(dropout, training=False) == "mlp" and exact_method(dropout, training=True) == "autodiff"
    assert ContractiveAutoencoder(*small_mlp((6,), 3, dropout=0.2)).training_method == "autodiff"
    assert ContractiveAutoencoder(*small_mlp((6,), 3)).training_method == "mlp"


def test_one_hidden_layer_with_linear_code_uses_the_quadratic_form(monkeypatch):
    """s^T (G * H) s: one (h_1, h_1) matrix per batch, not a (k, h_1) matrix per example."""
    calls = []
    quadratic_form = kerasae.ops.jacobian._quadratic_form
    monkeypatch.setattr(kerasae.ops.jacobian, "_quadratic_form", lambda *a: calls.append(a) or quadratic_form(*a))
    rng = np.random.default_rng(5)
    encoder, _ = small_mlp((6,), 3, hidden_units=(4,), activation="tanh")
    w1, b1, w2, b2 = (rng.normal(size=s).astype("float32") for s in ((6, 4), (4,), (4, 3), (3,)))
    encoder.get_layer("hidden_0").set_weights([w1, b1])
    encoder.get_layer("code").set_weights([w2, b2])
    x = rng.normal(size=(5, 6)).astype("float32")
    expected = np.sum(np.einsum("jk,nj,ij->nki", w2, 1 - np.tanh(x @ w1 + b1) ** 2, w1) ** 2, axis=(1, 2))
    np.testing.assert_allclose(np.asarray(jacobian_norm(encoder, x)), expected, rtol=1e-5)
    assert len(calls) == 1 and tuple(calls[0][1].shape) == (4, 4)
    assert quadratic_form_applies(dense_chain(encoder))
    for encoder in (small_mlp((6,), 3, hidden_units=(4,), activation="tanh", code_activation="tanh")[0],
                    small_mlp((6,), 3, hidden_units=(4, 4), activation="tanh")[0]):
        jacobian_norm(encoder, x)  # a nonlinear code or a second hidden layer: the trace form
        assert not quadratic_form_applies(dense_chain(encoder))
    assert len(calls) == 1


def test_model_penalty_uses_matrix_form_and_equals_numpy(digits):
    rng = np.random.default_rng(4)
    encoder, decoder = small_mlp((5,), 3, hidden_units=(4,), activation="tanh", code_activation="tanh")
    w1, b1, w2, b2 = (rng.normal(size=s).astype("float32") for s in ((5, 4), (4,), (4, 3), (3,)))
    encoder.get_layer("hidden_0").set_weights([w1, b1])
    encoder.get_layer("code").set_weights([w2, b2])
    model = compile_model(ContractiveAutoencoder(encoder, decoder, contractive_weight=0.2))
    assert model.training_method == "mlp"
    x = rng.normal(size=(8, 5)).astype("float32")
    a1 = np.tanh(x @ w1 + b1)
    a2 = np.tanh(a1 @ w2 + b2)
    expected = np.sum(np.einsum("nk,jk,nj,ij->nki", 1 - a2**2, w2, 1 - a1**2, w1) ** 2, axis=(1, 2))
    np.testing.assert_allclose(np.asarray(mlp_jacobian_norm(dense_chain(encoder), x)), expected, rtol=1e-5, atol=1e-6)
    result = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["contractive_penalty"], 0.2 * expected.mean(), rtol=1e-5)


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
    assert not model.uses_closed_form and model.training_method == "autodiff"


@pytest.mark.parametrize("method", ["closed_form", "mlp", "autodiff"])
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
        ("mlp", {"l2": 1e-4}),
        ("mlp", {"dropout": 0.1, "l2": 1e-4}),
        ("conv", {"filters": (4, 8), "l2": 1e-4}),
    ],
    ids=["mlp_closed_form", "mlp_matrix_form_l2", "mlp_dropout_autodiff_l2", "conv_l2"],
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
