import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasae
from helpers import assert_keras_roundtrip, assert_training_lowers_loss, compile_model, mean_image_mse, small_mlp


def test_training_beats_the_mean_image(digits):
    model = kerasae.Autoencoder(*small_mlp(latent_dim=16, hidden_units=(48,)))
    compile_model(model, 3e-3)
    model.fit(digits.x_train, epochs=25, batch_size=32, verbose=0)
    mse = float(np.mean((np.asarray(model.reconstruct(digits.x_test)) - digits.x_test) ** 2))
    assert mse < 0.6 * mean_image_mse(digits.x_train, digits.x_test)


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_conv_training_lowers_loss_and_roundtrips(digits_images, loss, tmp_path):
    model = kerasae.Autoencoder(*kerasae.networks.conv((8, 8, 1), 8, filters=(8, 16)), reconstruction_loss=loss)
    assert_training_lowers_loss(model, digits_images.x_train, epochs=4)
    assert_keras_roundtrip(model, digits_images.x_test[:32], tmp_path)


def test_keras_roundtrip_gives_identical_outputs(digits, tmp_path):
    model = compile_model(kerasae.Autoencoder(*small_mlp(dropout=0.1), l2=1e-4))
    model.fit(digits.x_train, epochs=1, verbose=0)
    loaded = assert_keras_roundtrip(model, digits.x_test, tmp_path)
    assert loaded.l2 == 1e-4 and loaded.reconstruction_loss == "mse"


def test_metrics_are_named_terms_and_loss_adds_them(digits):
    model = compile_model(kerasae.Autoencoder(*small_mlp(), l2=1e-3))
    history = model.fit(digits.x_train, epochs=1, verbose=0)
    assert {"loss", "reconstruction_loss", "regularization_loss"} <= set(history.history)
    result = model.evaluate(digits.x_test, verbose=0, return_dict=True)
    assert result["loss"] == pytest.approx(result["reconstruction_loss"] + result["regularization_loss"], rel=1e-5)
    kernels = [w for w in model.trainable_weights if "kernel" in w.path]
    expected = 1e-3 * sum(float(np.sum(np.asarray(w) ** 2)) for w in kernels)
    assert result["regularization_loss"] == pytest.approx(expected, rel=1e-5)


def test_losses_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.random((5, 4, 3)).astype("float32")
    logits = rng.normal(size=(5, 4, 3)).astype("float32") * 5
    p = 1 / (1 + np.exp(-logits.astype("float64")))
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).mean(axis=(1, 2))
    np.testing.assert_allclose(kerasae.losses.binary_crossentropy_from_logits(x, logits), bce, rtol=1e-5)
    np.testing.assert_allclose(kerasae.losses.mean_squared_error(x, p), ((x - p) ** 2).mean(axis=(1, 2)), rtol=1e-5)
    huge = kerasae.losses.binary_crossentropy_from_logits(np.ones((2, 3)), np.full((2, 3), -1e4, "float32"))
    assert np.all(np.isfinite(huge))


def test_sample_weights_weight_the_loss(digits):
    model = compile_model(kerasae.Autoencoder(*small_mlp()))
    x = digits.x_test[:64]
    per_example = np.asarray(model.reconstruction_loss_fn(x, model.reconstruct(x)))
    weights = np.zeros(64, "float32")
    weights[:10] = 1.0
    # Keras drops sample weights when y is None, so weighted training passes the target explicitly.
    result = model.evaluate(x, x, sample_weight=weights, batch_size=64, verbose=0, return_dict=True)
    assert result["reconstruction_loss"] == pytest.approx(per_example[:10].mean(), rel=1e-5)


def test_fit_dataset_and_target_shape_error(digits):
    model = compile_model(kerasae.Autoencoder(*small_mlp()))
    model.fit(digits.pipeline("train", 128), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="target y must have the input's shape"):
        model.fit(digits.x_train, digits.y_train, epochs=1, verbose=0)


def test_undercomplete_warning_and_argument_errors():
    with pytest.warns(UserWarning, match="can learn the identity"):
        kerasae.Autoencoder(*kerasae.networks.mlp((8,), 8, hidden_units=()))
    encoder, decoder = small_mlp()
    with pytest.raises(ValueError, match="Unknown reconstruction loss"):
        kerasae.Autoencoder(encoder, decoder, reconstruction_loss="l1")
    with pytest.raises(ValueError, match="needs output_activation='sigmoid'"):
        kerasae.Autoencoder(encoder, decoder, reconstruction_loss="bce", output_activation="linear")
    with pytest.raises(ValueError, match="Received: l2=-1"):
        kerasae.Autoencoder(encoder, decoder, l2=-1)


def test_mirrored_strategy_averages_over_the_global_batch(digits):
    """Two logical CPUs and one device give the same loss trajectory for the same seed and global batch."""
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.skip("needs two logical CPU devices (set up in conftest)")
    x = digits.x_train[:512]

    def run(strategy):
        import keras

        keras.utils.set_random_seed(7)
        with strategy.scope():
            model = compile_model(kerasae.Autoencoder(*small_mlp()), 1e-2)
        ds = tf.data.Dataset.from_tensor_slices(x).batch(128)
        return model.fit(ds, epochs=3, verbose=0).history["loss"]

    single = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
    mirrored = run(tf.distribute.MirroredStrategy([d.name for d in devices[:2]]))
    np.testing.assert_allclose(mirrored, single, rtol=1e-4)


def test_xla_is_the_default_outside_strategies(monkeypatch, digits):
    monkeypatch.setenv("KERASAE_JIT_COMPILE", "1")
    model = compile_model(kerasae.Autoencoder(*small_mlp()))
    assert model.jit_compile is True
    history = model.fit(digits.x_train, epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        under_strategy = compile_model(kerasae.Autoencoder(*small_mlp()))
    assert under_strategy.jit_compile is False
    assert under_strategy.steps_per_execution == 1  # Keras' multi-step loop fails under MirroredStrategy
    under_strategy.fit(digits.x_train[:64], epochs=1, verbose=0)
    assert under_strategy.steps_per_execution == 1
    monkeypatch.setenv("KERASAE_JIT_COMPILE", "0")
    assert compile_model(kerasae.Autoencoder(*small_mlp())).jit_compile is False
    assert compile_model(kerasae.Autoencoder(*small_mlp()), jit_compile=True).jit_compile is True


def _twin_models(**compile_kwargs):
    """Two autoencoders with the same initial weights; the first compiled with ``compile_kwargs``."""
    first, second = kerasae.Autoencoder(*small_mlp()), kerasae.Autoencoder(*small_mlp())
    first.build((None, 64))
    second.build((None, 64))
    second.set_weights(first.get_weights())
    compile_model(first, **compile_kwargs)
    compile_model(second, steps_per_execution=1)
    return first, second


def test_steps_per_execution_auto_trains_exactly_as_one_step_per_call(digits):
    x = digits.x_train[:330]  # 11 batches of 32, which 16 does not divide
    auto, single = _twin_models()
    assert auto.steps_per_execution == kerasae.autoencoder.AUTO_STEPS_PER_EXECUTION > 1
    for model in (auto, single):
        model.fit(x, epochs=2, batch_size=32, shuffle=False, verbose=0)
        assert int(model.optimizer.iterations) == 22
    for a, b in zip(auto.get_weights(), single.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_steps_per_execution_auto_runs_only_the_requested_steps(digits, tmp_path):
    repeated = tf.data.Dataset.from_tensor_slices(digits.x_train[:330]).batch(32).repeat()
    auto, single = _twin_models()
    # Keras runs whole calls: a fixed 16 steps per call would train 16 steps per epoch here, not 10.
    auto.fit(repeated, epochs=2, steps_per_epoch=10, validation_data=repeated, validation_steps=4, verbose=0)
    assert int(auto.optimizer.iterations) == 20
    assert auto.steps_per_execution == 2  # the largest divisor of 10 and 4 up to 16
    two_steps = auto.train_function
    assert two_steps is not None
    single.set_weights(auto.get_weights())
    # Both average 5 batches (a fixed 16 steps per call would average 16).
    np.testing.assert_allclose(auto.evaluate(repeated, steps=5, verbose=0), single.evaluate(repeated, steps=5, verbose=0),
                               rtol=1e-6)
    assert auto.predict(repeated, steps=3, verbose=0).shape == (96, 64)
    auto.fit(digits.x_train[:64], epochs=1, verbose=0)  # no step count: back to the default
    assert auto.steps_per_execution == kerasae.autoencoder.AUTO_STEPS_PER_EXECUTION
    auto.fit(repeated, epochs=1, steps_per_epoch=10, validation_data=repeated, validation_steps=4, verbose=0)
    assert auto.steps_per_execution == 2 and auto.train_function is two_steps  # kept, not traced again
    auto.save(tmp_path / "model.keras")
    loaded = kerasae.safe_loading.load_model(tmp_path / "model.keras")
    assert loaded.get_compile_config()["steps_per_execution"] == "auto"


def test_steps_per_execution_explicit_eager_and_bad_values():
    assert compile_model(kerasae.Autoencoder(*small_mlp()), steps_per_execution=3).steps_per_execution == 3
    assert compile_model(kerasae.Autoencoder(*small_mlp()), steps_per_execution=np.int64(2)).steps_per_execution == 2
    assert compile_model(kerasae.Autoencoder(*small_mlp()), run_eagerly=True).steps_per_execution == 1
    for bad in (0, -2, 2.5, True, "fast"):
        with pytest.raises(ValueError, match=f"positive integer or 'auto'. Received: steps_per_execution={bad!r}"):
            compile_model(kerasae.Autoencoder(*small_mlp()), steps_per_execution=bad)


def test_batch_sizes_of_the_helpers_are_checked_and_take_numpy_integers(digits):
    from kerasae.models.denoising import denoising_scores
    from kerasae.models.latent_predictor import encode_codes

    model = kerasae.Autoencoder(*small_mlp())
    x = digits.x_test[:5]
    for call in (lambda b: encode_codes(model, x, batch_size=b), lambda b: denoising_scores(model, x, batch_size=b)):
        for bad in (0, -1, 2.5):
            with pytest.raises(ValueError, match=f"Expected batch_size to be a positive integer. Received: batch_size={bad}"):
                call(bad)
    np.testing.assert_array_equal(encode_codes(model, x, batch_size=np.int64(2)), encode_codes(model, x, batch_size=2))
    assert denoising_scores(model, x, batch_size=np.int64(2)) == denoising_scores(model, x, batch_size=2)


def _count_traces(cls):
    """A subclass of ``cls`` that counts the traces of its training step."""
    return type(cls.__name__, (cls,), {"traces": 0, "train_step": lambda self, data: (
        setattr(self, "traces", self.traces + 1), cls.train_step(self, data))[1]})


@pytest.mark.parametrize("family", ["autoencoder", "vae_learned_scale"])
def test_fit_traces_the_training_step_once(digits, family):
    """The optimizer is built before fit traces the step, so the step is traced once, not twice (Keras on
    TensorFlow would create the optimizer's variables in the first trace, then trace again)."""
    if family == "autoencoder":
        model = _count_traces(kerasae.Autoencoder)(*small_mlp())
    else:  # distribution layers, one with a variable of its own (the learned scale)
        model = _count_traces(kerasae.VAE).create((64,), 4, likelihood="gaussian_learned", hidden_units=(16,))
    compile_model(model)
    assert not model.optimizer.built
    model.fit(digits.x_train[:256], epochs=2, batch_size=64, verbose=0)
    assert model.traces == 1 and model.optimizer.built


def test_fit_with_an_unbuilt_layer_leaves_the_optimizer_to_keras(digits):
    """A layer whose variables appear only in the first call: the optimizer is built in the step, as Keras does."""
    encoder, _ = small_mlp()
    decoder = keras.Sequential([keras.layers.Dense(64)])  # unbuilt: its input shape is not given
    model = compile_model(_count_traces(kerasae.Autoencoder)(encoder, decoder))
    model.fit(digits.x_train[:256], epochs=1, batch_size=64, verbose=0)
    assert model.traces == 2 and len(model.optimizer.variables) > 1
