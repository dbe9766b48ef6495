"""Sparse autoencoder: L1 activity penalty, active-fraction diagnostic."""

import numpy as np
import pytest
from helpers import assert_keras_roundtrip, assert_training_lowers_loss, compile_model, small_mlp

import kerasae
from kerasae.models.sparse import SparseAutoencoder, active_fraction, l1_activity


def test_penalty_equals_numpy_reference():
    rng = np.random.default_rng(0)
    encoder, decoder = small_mlp((6,), 10, hidden_units=(), code_activation="relu")
    w, b, v, c = (rng.normal(size=s).astype("float32") for s in ((6, 10), (10,), (10, 6), (6,)))
    encoder.get_layer("code").set_weights([w, b])
    decoder.get_layer("output").set_weights([v, c])
    model = compile_model(SparseAutoencoder(encoder, decoder, sparsity_weight=0.05, activity_threshold=0.5))
    x = rng.uniform(size=(12, 6)).astype("float32")
    result = model.evaluate(x, batch_size=12, verbose=0, return_dict=True)

    h = np.maximum(x @ w + b, 0.0)
    reconstruction = np.mean((1 / (1 + np.exp(-(h @ v + c))) - x) ** 2)
    penalty = 0.05 * np.mean(np.sum(np.abs(h), axis=1))
    np.testing.assert_allclose(result["sparsity_penalty"], penalty, rtol=1e-5)
    np.testing.assert_allclose(result["active_fraction"], np.mean(h > 0.5), rtol=1e-6)
    # The diagnostic is not part of the loss.
    np.testing.assert_allclose(result["loss"], reconstruction + penalty, rtol=1e-5)


def test_functions_on_codes_of_any_rank():
    code = np.array([[[0.0, -2.0], [0.005, 1.0]]], dtype="float32")
    np.testing.assert_allclose(l1_activity(code), [3.005], rtol=1e-6)
    np.testing.assert_allclose(active_fraction(code, threshold=0.01), [0.5])


def test_larger_weight_gives_sparser_code(digits):
    fractions = []
    for weight in (1e-5, 3e-3):
        encoder, decoder = small_mlp((64,), 96, hidden_units=(64,), code_activation="relu")
        model = compile_model(SparseAutoencoder(encoder, decoder, sparsity_weight=weight))
        model.fit(digits.x_train, epochs=8, batch_size=64, verbose=0)
        fractions.append(model.evaluate(digits.x_test, verbose=0, return_dict=True)["active_fraction"])
    assert fractions[1] < 0.7 * fractions[0], fractions


@pytest.mark.parametrize(
    "architecture, options",
    [("mlp", {"dropout": 0.1, "l2": 1e-4}), ("conv", {"l2": 1e-4})],
    ids=["mlp_dropout_l2", "conv_l2"],
)
def test_training_lowers_loss(digits, digits_images, architecture, options):
    data = digits if architecture == "mlp" else digits_images
    l2 = options.pop("l2", 0.0)
    encoder, decoder = kerasae.networks.build(
        architecture, data.input_shape, 32, code_activation="relu", **options
    )
    model = SparseAutoencoder(encoder, decoder, sparsity_weight=1e-3, l2=l2)
    assert_training_lowers_loss(model, data.x_train[:640], epochs=3, batch_size=32)


def test_overcomplete_code_does_not_warn(recwarn):
    SparseAutoencoder(*small_mlp((64,), 128, hidden_units=()))
    assert not [w for w in recwarn if "undercomplete" in str(w.message)]


def test_keras_roundtrip(digits, tmp_path):
    model = compile_model(SparseAutoencoder(*small_mlp(code_activation="relu"), sparsity_weight=1e-3))
    model.fit(digits.x_train, epochs=1, batch_size=64, verbose=0)
    loaded = assert_keras_roundtrip(model, digits.x_test[:16], tmp_path)
    assert loaded.sparsity_weight == 1e-3 and loaded.activity_threshold == model.activity_threshold


@pytest.mark.parametrize("kwargs, match", [({"sparsity_weight": -1}, "sparsity_weight"), ({"activity_threshold": 0}, "activity_threshold")])
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SparseAutoencoder(*small_mlp(), **kwargs)
