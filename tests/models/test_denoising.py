"""Corruption layers and the denoising autoencoder."""

import keras
import numpy as np
import pytest
from helpers import assert_keras_roundtrip, assert_layer_roundtrip, assert_training_lowers_loss, compile_model, small_mlp

import kerasae
from kerasae.layers.corruption import (
    DropoutCorruption,
    GaussianCorruption,
    MaskingCorruption,
    SaltAndPepperCorruption,
    get_corruption,
)
from kerasae.models.denoising import DenoisingAutoencoder, corrupt_once, denoising_scores

LAYERS = {
    "gaussian": lambda: GaussianCorruption(0.5, seed=3),
    "gaussian_clipped": lambda: GaussianCorruption(0.5, clip=(0.0, 1.0), seed=3),
    "salt_and_pepper": lambda: SaltAndPepperCorruption(0.3, seed=3),
    "masking": lambda: MaskingCorruption(0.3, seed=3),
    "dropout": lambda: DropoutCorruption(0.3, seed=3),
}


# ---------------------------------------------------------------------------------------------- layers
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_acts_only_in_training_and_draws_afresh(name):
    layer = LAYERS[name]()
    x = np.full((64, 50), 0.5, dtype="float32")
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    first, second = np.asarray(layer(x, training=True)), np.asarray(layer(x, training=True))
    assert first.shape == x.shape
    assert not np.array_equal(first, x) and not np.array_equal(first, second)
    # Same seed, same sequence of draws.
    np.testing.assert_array_equal(np.asarray(LAYERS[name]()(x, training=True)), first)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_serialization(name):
    layer = LAYERS[name]()
    restored = assert_layer_roundtrip(layer)
    x = np.full((8, 10), 0.5, dtype="float32")
    np.testing.assert_array_equal(np.asarray(restored(x, training=True)), np.asarray(layer(x, training=True)))


def test_corruption_statistics():
    x = np.full((200, 500), 0.5, dtype="float32")
    gaussian = np.asarray(GaussianCorruption(0.2, seed=0)(x, training=True)) - x
    assert abs(gaussian.mean()) < 0.005 and abs(gaussian.std() - 0.2) < 0.005
    clipped = np.asarray(GaussianCorruption(2.0, clip=(0.0, 1.0), seed=0)(x, training=True))
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    salted = np.asarray(SaltAndPepperCorruption(0.2, seed=0)(x, training=True))
    assert abs(np.mean(salted == 0.0) - 0.1) < 0.005 and abs(np.mean(salted == 1.0) - 0.1) < 0.005
    assert set(np.unique(salted)) == {0.0, 0.5, 1.0}
    masked = np.asarray(MaskingCorruption(0.3, seed=0)(x, training=True))
    assert abs(np.mean(masked == 0.0) - 0.3) < 0.005 and set(np.unique(masked)) == {0.0, 0.5}
    dropped = np.asarray(DropoutCorruption(0.3, seed=0)(x, training=True))
    np.testing.assert_allclose(np.unique(dropped), [0.0, 0.5 / 0.7], rtol=1e-6)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: GaussianCorruption(-1), "Expected stddev >= 0. Received: stddev=-1"),
        (lambda: GaussianCorruption(0.1, clip=(1, 0)), "Expected clip"),
        (lambda: SaltAndPepperCorruption(1.0), r"Expected rate in \[0, 1\). Received: rate=1.0"),
        (lambda: SaltAndPepperCorruption(0.1, low=1, high=0), "Expected low < high"),
        (lambda: MaskingCorruption(-0.1), r"Expected rate in \[0, 1\)"),
        (lambda: DropoutCorruption("a lot"), r"Expected rate in \[0, 1\)"),
        (lambda: MaskingCorruption(0.1, seed=1.5), "Expected seed"),
        (lambda: get_corruption("speckle", 0.1), "Unknown corruption 'speckle'"),
    ],
)
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_get_corruption():
    assert isinstance(get_corruption("gaussian", 0.1), GaussianCorruption)
    assert isinstance(get_corruption("salt_and_pepper", 0.1), SaltAndPepperCorruption)
    assert get_corruption("masking", 0.25).rate == 0.25
    assert type(get_corruption("dropout", 0.1)) is DropoutCorruption


# ---------------------------------------------------------------------------------------------- model
def _fixed_single_layer_model(noise, level):
    rng = np.random.default_rng(0)
    encoder, decoder = small_mlp((6,), 3, hidden_units=(), code_activation="sigmoid")
    weights = [rng.normal(size=s).astype("float32") for s in ((6, 3), (3,), (3, 6), (6,))]
    encoder.get_layer("code").set_weights(weights[:2])
    decoder.get_layer("output").set_weights(weights[2:])
    model = DenoisingAutoencoder(encoder, decoder, noise=noise, noise_level=level, seed=7, l2=0.01)
    return model, weights


def _numpy_reconstruction(x, weights):
    w, b, v, c = weights
    h = 1 / (1 + np.exp(-(x @ w + b)))
    return 1 / (1 + np.exp(-(h @ v + c)))


@pytest.mark.parametrize("noise, level", [("masking", 0.5), ("gaussian", 0.3)])
def test_training_loss_equals_numpy_reference(noise, level):
    model, weights = _fixed_single_layer_model(noise, level)
    x = np.random.default_rng(1).uniform(size=(10, 6)).astype("float32")
    # Training: the encoder sees the corruption the layer draws (the same seed repeats it), the target is clean.
    noisy = np.asarray(get_corruption(noise, level, seed=7)(x, training=True))
    terms, _ = model.compute_loss_terms(x, x, training=True)
    expected = np.mean((_numpy_reconstruction(noisy, weights) - x) ** 2, axis=1)
    np.testing.assert_allclose(np.asarray(terms["reconstruction_loss"]), expected, rtol=1e-5)
    # Inference: no corruption at all.
    terms, prediction = model.compute_loss_terms(x, x, training=False)
    np.testing.assert_allclose(np.asarray(prediction), _numpy_reconstruction(x, weights), rtol=1e-5)
    np.testing.assert_allclose(model.reconstruct(x), _numpy_reconstruction(x, weights), rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), _numpy_reconstruction(x, weights), rtol=1e-5)


def test_denoises_better_than_plain_autoencoder(digits):
    mse = {}
    for kind in ("plain", "denoising"):
        keras.utils.set_random_seed(7)
        encoder, decoder = small_mlp((64,), 32, hidden_units=(64,))
        if kind == "plain":
            model = kerasae.Autoencoder(encoder, decoder)
        else:
            model = DenoisingAutoencoder(encoder, decoder, noise="masking", noise_level=0.4, seed=1)
        compile_model(model).fit(digits.x_train, epochs=8, batch_size=64, verbose=0)
        scores = denoising_scores(model, digits.x_test, noise="masking", noise_level=0.4, seed=0)
        mse[kind] = scores["mse"]
        assert scores["psnr"] > scores["noisy_psnr"]
    assert mse["denoising"] < 0.9 * mse["plain"], mse


def test_corrupt_once_is_seeded(digits):
    a = corrupt_once(digits.x_test[:20], "salt_and_pepper", 0.2, seed=3)
    np.testing.assert_array_equal(a, corrupt_once(digits.x_test[:20], "salt_and_pepper", 0.2, seed=3))
    assert not np.array_equal(a, digits.x_test[:20])


@pytest.mark.parametrize(
    "architecture, noise, options",
    [
        ("mlp", "salt_and_pepper", {"dropout": 0.1, "l2": 1e-4}),
        ("conv", "dropout", {"l2": 1e-4}),
    ],
)
def test_training_lowers_loss(digits, digits_images, architecture, noise, options):
    data = digits if architecture == "mlp" else digits_images
    l2 = options.pop("l2", 0.0)
    encoder, decoder = kerasae.networks.build(architecture, data.input_shape, 16, **options)
    model = DenoisingAutoencoder(encoder, decoder, noise=noise, noise_level=0.2, l2=l2)
    assert_training_lowers_loss(model, data.x_train[:640], epochs=3, batch_size=32)


def test_keras_roundtrip(digits, tmp_path):
    model = compile_model(DenoisingAutoencoder(*small_mlp(), noise="salt_and_pepper", noise_level=0.1, seed=5))
    model.fit(digits.x_train, epochs=1, batch_size=64, verbose=0)
    loaded = assert_keras_roundtrip(model, digits.x_test[:16], tmp_path)
    assert (loaded.noise, loaded.noise_level, loaded.seed) == ("salt_and_pepper", 0.1, 5)
    assert isinstance(loaded.corruption, SaltAndPepperCorruption)


def test_bad_noise_raises():
    with pytest.raises(ValueError, match="Unknown corruption"):
        DenoisingAutoencoder(*small_mlp(), noise="blur")
    with pytest.raises(ValueError, match="rate"):
        DenoisingAutoencoder(*small_mlp(), noise="masking", noise_level=1.5)
