"""Shared checks, so that each model's test file stays short (pythae's checklist through one helper each)."""

import os

import numpy as np
import keras
import tensorflow_probability as tfp

import kerasae


def compile_model(model, learning_rate=3e-3, **kwargs):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), **kwargs)
    return model


def assert_training_lowers_loss(model, x, epochs=5, batch_size=64, factor=0.9, learning_rate=3e-3, **fit_kwargs):
    """Trains ``model`` on ``x``; asserts the evaluated loss falls below ``factor`` times its initial value.

    Returns:
        ``(loss_before, loss_after, history)``.
    """
    if not model.compiled:
        compile_model(model, learning_rate)
    before = model.evaluate(x, batch_size=256, verbose=0, return_dict=True)["loss"]
    history = model.fit(x, epochs=epochs, batch_size=batch_size, verbose=0, **fit_kwargs)
    after = model.evaluate(x, batch_size=256, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(after), f"loss became {after}"
    assert after < factor * before, f"training did not lower the loss enough: {before:.5f} -> {after:.5f}"
    return before, after, history


def assert_keras_roundtrip(model, x, tmp_path, outputs=lambda m, x: m.reconstruct(x), atol=1e-6, refit=True):
    """Saves ``model`` to ``.keras``, loads it in safe mode, and asserts identical outputs.

    Args:
        model: A trained, compiled model.
        x: Inputs for the comparison.
        tmp_path: pytest's ``tmp_path``.
        outputs: ``outputs(model, x) -> array`` to compare (default: reconstructions).
        atol: Allowed absolute difference.
        refit: Also check the loaded model goes on training with its own ``train_step``.

    Returns:
        The loaded model.
    """
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(np.asarray(outputs(loaded, x)), np.asarray(outputs(model, x)), atol=atol)
    assert loaded.get_config().keys() == model.get_config().keys()
    if refit:
        # The compile state and the optimizer's progress come back too.
        assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
        history = loaded.fit(x, epochs=1, batch_size=min(64, len(x)), verbose=0)
        assert np.isfinite(history.history["loss"][-1])
        assert set(m.name for m in model.metrics) <= set(history.history) | {"compile_metrics"}
    return loaded


def assert_layer_roundtrip(layer, inputs=None, atol=1e-6):
    """Serialises a layer with ``keras.saving`` and checks the config survives (and outputs, if given).

    Args:
        layer: The layer to round-trip.
        inputs: Optional inputs: both layers are called on them (which builds their weights), the
            original's weights are copied into the restored layer with ``set_weights``, and their outputs
            must agree. Distributions are compared by ``.mean()``, ``.stddev()`` (where they have them)
            and the ``log_prob`` of one sample of the original.
        atol: Allowed absolute difference of the outputs.

    Returns:
        The restored layer.
    """
    config = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
    if inputs is not None:
        layer(inputs)  # builds the weights of both before copying them
        restored(inputs)
        weights = layer.get_weights()
        assert len(restored.get_weights()) == len(weights)
        restored.set_weights(weights)
        _assert_outputs_close(restored(inputs), layer(inputs), atol)
    return restored


def _assert_outputs_close(actual, expected, atol, where="output"):
    """Compares layer outputs: tensors, tfp distributions, or lists, tuples and dicts of them."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), f"{where}: keys differ"
        for key in expected:
            _assert_outputs_close(actual[key], expected[key], atol, f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), f"{where}: lengths differ"
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_outputs_close(a, e, atol, f"{where}[{i}]")
    elif isinstance(expected, tfp.distributions.Distribution):
        assert type(actual) is type(expected), f"{where}: {type(actual).__name__} != {type(expected).__name__}"
        x = expected.sample(seed=[5, 6])
        for name, statistic in (("mean", lambda d: d.mean()), ("stddev", lambda d: d.stddev()),
                                ("log_prob", lambda d: d.log_prob(x))):
            try:
                e = statistic(expected)
            except NotImplementedError:  # e.g. a Categorical has no mean
                continue
            np.testing.assert_allclose(
                np.asarray(statistic(actual)), np.asarray(e), atol=atol, err_msg=f"{where}.{name}"
            )
    else:
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=atol, err_msg=where)


def trained_autoencoder(data, latent_dim, epochs=2):
    """A small MLP autoencoder (hidden width 32) fitted ``epochs`` epochs on ``data``'s training split."""
    model = compile_model(kerasae.Autoencoder(*kerasae.networks.mlp(data.input_shape, latent_dim, hidden_units=(32,))))
    model.fit(data.x_train, epochs=epochs, batch_size=64, verbose=0)
    return model


def trained_vae(data, latent_dim, epochs=2, **create):
    """``kerasae.VAE.create(data.input_shape, latent_dim, **create)`` fitted ``epochs`` epochs on ``data``."""
    model = compile_model(kerasae.VAE.create(data.input_shape, latent_dim, **create))
    model.fit(data.x_train, epochs=epochs, batch_size=64, verbose=0)
    return model


def mean_image_mse(x_train, x_test):
    """MSE of predicting the mean training image for every test example."""
    return float(np.mean((x_test - x_train.mean(axis=0)) ** 2))


def small_mlp(input_shape=(64,), latent_dim=8, **kwargs):
    return kerasae.networks.mlp(input_shape, latent_dim, **kwargs)


def build_registered(name, *argv):
    """Builds registered model ``name`` as ``kerasae train name *argv`` would, on digits.

    Returns:
        ``(model, data, entry, args)``; the model is uncompiled.
    """
    from kerasae.cli import main as cli
    from kerasae.cli import registry

    entry = registry.models()[name]
    args = cli.build_parser().parse_args(["train", name, "--latent-dim", "4", "--validation-split", "0", *argv])
    data = cli.load_data(args, entry)
    return entry.build(args, data), data, entry, args


def one_line(error):
    """The message of ``error`` (a ``pytest.raises`` result, an exception or a text), asserted to be one line
    without a traceback."""
    text = str(error.value) if hasattr(error, "value") else str(error)
    assert "\n" not in text.strip() and "Traceback" not in text, text
    return text


def snapshot(folder):
    """``{relative path: bytes}`` of every file under ``folder``: a failed command must leave it as it was."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found
