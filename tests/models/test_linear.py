"""Linear autoencoder: learns PCA's principal subspace and matches its reconstruction error."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_keras_roundtrip, assert_training_lowers_loss

import kerasae
from kerasae.models.linear import LinearAutoencoder, pca, principal_angles


def _fit_full_batch(model, x, steps, learning_rate):
    """Full-batch Adam with a cosine schedule: the linear model's slow directions need many exact steps."""
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), steps_per_execution=100)
    model.fit(tf.data.Dataset.from_tensors(x).repeat(), epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return model


def test_pca_matches_sklearn(digits):
    from sklearn.decomposition import PCA as SklearnPCA

    ours = pca(digits.x_train, 5)
    reference = SklearnPCA(5, svd_solver="full").fit(digits.x_train.astype("float64"))
    np.testing.assert_allclose(ours.explained_variance, reference.explained_variance_, rtol=1e-6)
    expected = reference.inverse_transform(reference.transform(digits.x_test.astype("float64")))
    np.testing.assert_allclose(ours.reconstruct(digits.x_test), expected, atol=1e-5)
    assert ours.components.shape == (5, 64)


def test_pca_rejects_bad_k(digits):
    with pytest.raises(ValueError, match="Expected k"):
        pca(digits.x_train, 0)
    with pytest.raises(ValueError, match="Expected k"):
        pca(digits.x_train, 65)


def test_principal_angles():
    basis = np.eye(4)[:, :2]
    rotated = np.stack([np.eye(4)[0], np.cos(0.3) * np.eye(4)[1] + np.sin(0.3) * np.eye(4)[2]], axis=1)
    np.testing.assert_allclose(principal_angles(basis, rotated), [0.0, 0.3], atol=1e-7)


def test_loss_equals_numpy_reference():
    rng = np.random.default_rng(0)
    model = LinearAutoencoder.from_shape((6,), 2, l2=0.01)
    w, b, v, c = (rng.normal(size=s).astype("float32") for s in ((6, 2), (2,), (2, 6), (6,)))
    model.encoder.get_layer("code").set_weights([w, b])
    model.decoder.get_layer("output").set_weights([v, c])
    x = rng.normal(size=(10, 6)).astype("float32")
    model.compile(optimizer="sgd")
    result = model.evaluate(x, batch_size=10, verbose=0, return_dict=True)
    reconstruction = np.mean(((x @ w + b) @ v + c - x) ** 2)
    regularization = 0.01 * (np.sum(w**2) + np.sum(v**2))
    np.testing.assert_allclose(result["reconstruction_loss"], reconstruction, rtol=1e-5)
    np.testing.assert_allclose(result["loss"], reconstruction + regularization, rtol=1e-5)
    np.testing.assert_allclose(model.decoder_matrix(), v.T, rtol=1e-6)


def test_decoder_spans_principal_subspace():
    x, _ = kerasae.datasets.low_rank_gaussian(num_samples=1000, dim=20, rank=3)
    model = _fit_full_batch(LinearAutoencoder.from_shape((20,), 3), x, steps=500, learning_rate=3e-2)
    angles = principal_angles(model.decoder_matrix(), pca(x, 3).components.T)
    assert angles[-1] < 1e-2, angles


def test_digits_mse_within_one_percent_of_pca(digits):
    model = _fit_full_batch(LinearAutoencoder.from_shape((64,), 8), digits.x_train, steps=1000, learning_rate=5e-2)
    model_mse = model.evaluate(digits.x_test, verbose=0, return_dict=True)["reconstruction_loss"]
    pca_mse = pca(digits.x_train, 8).mse(digits.x_test)
    assert model_mse < 1.01 * pca_mse, (model_mse, pca_mse)


def test_training_with_dropout_and_l2_lowers_loss(digits):
    model = LinearAutoencoder.from_shape((64,), 8, dropout=0.1, l2=1e-4)
    assert_training_lowers_loss(model, digits.x_train, epochs=3, factor=0.5, learning_rate=1e-2)


def test_images_and_keras_roundtrip(digits_images, tmp_path):
    model = LinearAutoencoder.from_shape((8, 8, 1), 4)
    assert_training_lowers_loss(model, digits_images.x_train, epochs=2, factor=0.5, learning_rate=1e-2)
    assert model.reconstruct(digits_images.x_test[:3]).shape == (3, 8, 8, 1)
    assert_keras_roundtrip(model, digits_images.x_test[:16], tmp_path)


def test_rejects_nonlinear_networks():
    encoder, decoder = kerasae.networks.mlp((64,), 8)
    with pytest.raises(ValueError, match="affine encoder"):
        LinearAutoencoder(encoder, decoder)
    encoder, decoder = kerasae.networks.mlp((64,), 8, hidden_units=(), activation=None)
    with pytest.raises(ValueError, match="reconstruction_loss='mse'"):
        LinearAutoencoder(encoder, decoder, reconstruction_loss="bce", output_activation="sigmoid")
