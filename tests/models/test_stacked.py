"""Stacked autoencoder: greedy layer-wise pre-training, then fine-tuning."""

import h5py
import keras
import numpy as np
import pytest
from helpers import assert_keras_roundtrip, assert_training_lowers_loss, compile_model

from kerasae.layers.corruption import get_corruption
from kerasae.models.stacked import StackedAutoencoder


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _stage_weights(rng, model):
    """Sets fixed random weights of a (6,) -> (5, 3) stack; returns them, ``(w1, b1, w2, b2, v2, c2, v1, c1)``."""
    w1, b1, w2, b2, v2, c2, v1, c1 = (
        rng.normal(size=s).astype("float32") for s in ((6, 5), (5,), (5, 3), (3,), (3, 5), (5,), (5, 6), (6,))
    )
    model.encoder.get_layer("hidden_0").set_weights([w1, b1])
    model.encoder.get_layer("code").set_weights([w2, b2])
    model.decoder.get_layer("hidden_0").set_weights([v2, c2])
    model.decoder.get_layer("output").set_weights([v1, c1])
    return w1, b1, w2, b2, v2, c2, v1, c1


def test_stage_losses_equal_numpy_reference():
    rng = np.random.default_rng(0)
    model = StackedAutoencoder((6,), layer_units=(5, 3), l2=0.01)
    w1, b1, w2, b2, v2, c2, v1, c1 = _stage_weights(rng, model)
    x = rng.uniform(size=(8, 6)).astype("float32")
    h1 = np.maximum(x @ w1 + b1, 0)

    stage0 = compile_model(model.stage(0))
    result = stage0.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    expected = np.mean((_sigmoid(h1 @ v1 + c1) - x) ** 2)
    np.testing.assert_allclose(result["reconstruction_loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(result["loss"], expected + 0.01 * (np.sum(w1**2) + np.sum(v1**2)), rtol=1e-5)

    stage1 = compile_model(model.stage(1))
    result = stage1.evaluate(h1, batch_size=8, verbose=0, return_dict=True)
    expected = np.mean((np.maximum((h1 @ w2 + b2) @ v2 + c2, 0) - h1) ** 2)
    np.testing.assert_allclose(result["reconstruction_loss"], expected, rtol=1e-5)


def test_denoising_stages_reconstruct_the_clean_input_from_masked_inputs():
    rng = np.random.default_rng(1)
    model = StackedAutoencoder((6,), layer_units=(5, 3), activation="sigmoid", code_activation="sigmoid",
                               noise="masking", noise_level=0.5, seed=3)
    _, _, w2, b2, v2, c2, _, _ = _stage_weights(rng, model)
    stage = model.stage(1)
    assert (stage.noise, stage.noise_level, stage.seed) == ("masking", 0.5, 4)  # each stage its own seed
    h = rng.uniform(size=(10, 5)).astype("float32")
    # Training: the stage's layer sees the masking its corruption draws (the same seed repeats it), the target
    # is the clean h (squared error on the hidden activations, as every stage above the first).
    masked = np.asarray(get_corruption("masking", 0.5, seed=4)(h, training=True))
    assert 0 < np.mean(masked == 0) < 1
    terms, _ = stage.compute_loss_terms(h, h, training=True)
    expected = np.mean((_sigmoid(_sigmoid(masked @ w2 + b2) @ v2 + c2) - h) ** 2, axis=1)
    np.testing.assert_allclose(np.asarray(terms["reconstruction_loss"]), expected, rtol=1e-5)
    # Inference (and the fine-tuned stack): clean inputs.
    terms, _ = stage.compute_loss_terms(h, h, training=False)
    expected = np.mean((_sigmoid(_sigmoid(h @ w2 + b2) @ v2 + c2) - h) ** 2, axis=1)
    np.testing.assert_allclose(np.asarray(terms["reconstruction_loss"]), expected, rtol=1e-5)


def test_contractive_stages_add_the_jacobian_penalty_of_their_layer():
    rng = np.random.default_rng(2)
    model = StackedAutoencoder((6,), layer_units=(5, 3), activation="sigmoid", code_activation="sigmoid",
                               contractive_weight=0.3)
    _, _, w2, b2, v2, c2, _, _ = _stage_weights(rng, model)
    stage = compile_model(model.stage(1))
    h = rng.uniform(size=(8, 5)).astype("float32")
    result = stage.evaluate(h, batch_size=8, verbose=0, return_dict=True)
    code = _sigmoid(h @ w2 + b2)
    penalty = np.mean(np.sum((code * (1 - code)) ** 2 * np.sum(w2**2, axis=0), axis=1))
    np.testing.assert_allclose(result["contractive_penalty"], 0.3 * penalty, rtol=1e-5)
    reconstruction = np.mean((_sigmoid(code @ v2 + c2) - h) ** 2)
    np.testing.assert_allclose(result["loss"], reconstruction + 0.3 * penalty, rtol=1e-5)


def test_only_a_plain_stack_warns_of_an_over_complete_code(recwarn):
    StackedAutoencoder((6,), layer_units=(8,), noise="masking")
    StackedAutoencoder((6,), layer_units=(8,), contractive_weight=0.1)
    assert not [w for w in recwarn if "undercomplete" in str(w.message)]
    with pytest.warns(UserWarning, match="undercomplete autoencoder can learn the identity"):
        StackedAutoencoder((6,), layer_units=(8,))


def test_pretraining_trains_the_models_layers_and_helps_fine_tuning(digits):
    keras.utils.set_random_seed(11)
    fresh = compile_model(StackedAutoencoder((64,), layer_units=(32, 16, 8)))
    keras.utils.set_random_seed(11)
    model = StackedAutoencoder((64,), layer_units=(32, 16, 8))
    before = [np.array(w) for w in model.get_weights()]
    histories = model.pretrain(digits.x_train, epochs_per_layer=2, batch_size=32, learning_rate=3e-3)
    assert len(histories) == 3
    for history in histories:
        assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    compile_model(model)
    start = {
        "pretrained": model.evaluate(digits.x_train, verbose=0, return_dict=True)["loss"],
        "random": fresh.evaluate(digits.x_train, verbose=0, return_dict=True)["loss"],
    }
    assert start["pretrained"] < 0.8 * start["random"], start
    assert_training_lowers_loss(model, digits.x_train, epochs=2, factor=1.0)


def test_images_with_dropout_and_l2_training_lowers_loss(digits_images):
    model = StackedAutoencoder((8, 8, 1), layer_units=(32, 8), dropout=0.1, l2=1e-4)
    model.pretrain(digits_images.x_train, epochs_per_layer=1)
    assert model.reconstruct(digits_images.x_test[:2]).shape == (2, 8, 8, 1)
    assert_training_lowers_loss(model, digits_images.x_train, epochs=3, factor=0.95)


def test_keras_roundtrip(digits, tmp_path):
    model = StackedAutoencoder((64,), layer_units=(16, 4), activation="tanh", reconstruction_loss="bce", l2=1e-4)
    model.pretrain(digits.x_train, epochs_per_layer=1)
    compile_model(model).fit(digits.x_train[:256], epochs=1, verbose=0)
    loaded = assert_keras_roundtrip(model, digits.x_test[:16], tmp_path)
    assert loaded.layer_units == (16, 4) and loaded.activation == "tanh"
    assert "encoder" not in loaded.get_config()
    sda = StackedAutoencoder((64,), layer_units=(16, 4), noise="masking", noise_level=0.2, seed=5)
    config = StackedAutoencoder.from_config(sda.get_config()).get_config()
    assert (config["noise"], config["noise_level"], config["seed"], config["contractive_weight"]) == ("masking", 0.2, 5, 0.0)


def test_bad_arguments_raise(digits):
    with pytest.raises(ValueError, match="at least one layer"):
        StackedAutoencoder((64,), layer_units=())
    model = StackedAutoencoder((64,), layer_units=(8,))
    with pytest.raises(ValueError, match=r"Expected pre-training inputs of shape \(n, 64\)"):
        model.pretrain(digits.x_train[:, :32])
    with pytest.raises(ValueError, match="epochs_per_layer"):
        model.pretrain(digits.x_train, epochs_per_layer=0)
    with pytest.raises(ValueError, match="stage index"):
        model.stage(1)
    with pytest.raises(ValueError, match="one pre-training regulariser"):
        StackedAutoencoder((64,), layer_units=(8,), noise="masking", contractive_weight=0.1)
    with pytest.raises(ValueError, match="Unknown corruption"):
        StackedAutoencoder((64,), layer_units=(8,), noise="blur")
    with pytest.raises(ValueError, match="contractive_weight"):
        StackedAutoencoder((64,), layer_units=(8,), contractive_weight=-1)


def test_tied_stack_shares_each_kernel_with_its_mirror_and_pretrains_it(digits, tmp_path):
    rng = np.random.default_rng(2)
    model = StackedAutoencoder((6,), layer_units=(5, 3), activation="sigmoid", tied_weights=True, l2=0.01)
    model(np.zeros((1, 6), "float32"))
    untied = StackedAutoencoder((6,), layer_units=(5, 3), activation="sigmoid")
    assert model.count_params() == untied.count_params() - 6 * 5 - 5 * 3  # the decoder owns biases only
    w1, b1, w2, b2 = (rng.normal(size=s).astype("float32") for s in ((6, 5), (5,), (5, 3), (3,)))
    c2, c1 = rng.normal(size=5).astype("float32"), rng.normal(size=6).astype("float32")
    model.encoder.get_layer("hidden_0").set_weights([w1, b1])
    model.encoder.get_layer("code").set_weights([w2, b2])
    model.decoder.get_layer("hidden_0").set_weights([c2])
    model.decoder.get_layer("output").set_weights([c1])
    x = rng.uniform(size=(8, 6)).astype("float32")
    h1 = _sigmoid(x @ w1 + b1)
    expected = _sigmoid(_sigmoid((h1 @ w2 + b2) @ w2.T + c2) @ w1.T + c1)  # a linear code
    np.testing.assert_allclose(model.reconstruct(x), expected, rtol=1e-5)
    # Stage 0's loss: its decoder is W1^T; the L2 penalty counts the shared kernel once.
    result = compile_model(model.stage(0)).evaluate(x, batch_size=8, verbose=0, return_dict=True)
    reconstruction = np.mean((_sigmoid(h1 @ w1.T + c1) - x) ** 2)
    np.testing.assert_allclose(result["loss"], reconstruction + 0.01 * np.sum(w1**2), rtol=1e-5)
    # Pre-training moves the shared kernel; the decoder layer keeps no copy of it.
    stack = StackedAutoencoder((64,), layer_units=(16, 4), tied_weights=True, noise="masking", seed=0)
    stack.pretrain(digits.x_train[:256], epochs_per_layer=1)
    first = stack.encoder.get_layer("hidden_0")
    assert stack.decoder.get_layer("output").tied_to is first
    assert [tuple(w.shape) for w in stack.decoder.get_layer("output").weights] == [(64,)]
    stack.save_weights(tmp_path / "stack.weights.h5")  # each kernel saved once, by its encoder layer
    with h5py.File(tmp_path / "stack.weights.h5") as f:
        stored = []
        f.visititems(lambda name, item: stored.append(item.size) if isinstance(item, h5py.Dataset) else None)
    assert sum(stored) == stack.count_params() == 64 * 16 + 16 * 4 + 16 + 4 + 16 + 64
    compile_model(stack).fit(digits.x_train[:256], epochs=1, verbose=0)
    loaded = assert_keras_roundtrip(stack, digits.x_test[:16], tmp_path)
    assert loaded.tied_weights and loaded.decoder.get_layer("output").tied_to is loaded.encoder.get_layer("hidden_0")
