"""``compile(jit_compile="auto")``: the rule of :mod:`kerasae.utils.xla` (XLA off for convolutional models on
CPU only, on otherwise), the boolean ``fit`` then uses, and its survival of a ``.keras`` round trip."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import compile_model, small_mlp

import kerasae
from kerasae import _compat
from kerasae.utils import xla

X_IMAGES = np.random.default_rng(0).random((32, 8, 8, 1)).astype("float32")
X_FLAT = X_IMAGES.reshape(32, 64)


@pytest.fixture(autouse=True)
def _auto_enabled(monkeypatch):
    monkeypatch.setenv("KERASAE_JIT_COMPILE", "1")  # conftest turns "auto" off for the rest of the suite


@keras.saving.register_keras_serializable("kerasae_tests")
class Probe(keras.layers.Layer):
    """Passes its input through; records, each time a step is traced, whether XLA compiles it."""

    traced = []

    def call(self, x):
        Probe.traced.append(_compat.in_xla_context())
        return x


def conv_autoencoder(probe=False):
    encoder, decoder = kerasae.networks.conv((8, 8, 1), 4, filters=(4,))
    if probe:
        inputs = keras.Input((8, 8, 1))
        encoder = keras.Model(inputs, encoder(Probe()(inputs)))
    return kerasae.Autoencoder(encoder, decoder)


def mlp_autoencoder(probe=False):
    encoder, decoder = small_mlp()
    if probe:
        inputs = keras.Input((64,))
        encoder = keras.Model(inputs, encoder(Probe()(inputs)))
    return kerasae.Autoencoder(encoder, decoder)


def test_auto_resolves_to_a_boolean_by_the_rule():
    conv, mlp = compile_model(conv_autoencoder()), compile_model(mlp_autoencoder())
    assert conv.jit_compile is False and mlp.jit_compile is True
    assert conv.jit_compile_choice["requested"] == "auto" and conv.jit_compile_choice["jit_compile"] is False
    assert "Conv2D" in conv.jit_compile_choice["reason"] and "CPU" in conv.jit_compile_choice["reason"]
    assert mlp.jit_compile_choice == {"requested": "auto", "jit_compile": True,
                                      "reason": "auto: on, no convolution layers (CPU)"}
    vae = kerasae.VAE.create((8, 8, 1), 4, architecture="conv", filters=(4,), likelihood="bernoulli")
    assert compile_model(vae).jit_compile is False  # the conv VAE of the issue, on a small image
    assert kerasae.Autoencoder(*small_mlp()).jit_compile_choice is None  # not compiled yet


@pytest.mark.parametrize("make, xla_expected", [(conv_autoencoder, False), (mlp_autoencoder, True)])
def test_fit_uses_the_resolved_boolean(make, xla_expected):
    model = compile_model(make(probe=True))
    Probe.traced.clear()  # after building the model (its symbolic call traces outside any step)
    x = X_IMAGES if make is conv_autoencoder else X_FLAT
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    assert model.jit_compile is xla_expected
    assert Probe.traced and set(Probe.traced) == {xla_expected}  # how fit's train step was really traced


def test_explicit_values_win_and_env_turns_auto_off(monkeypatch):
    assert compile_model(conv_autoencoder(), jit_compile=True).jit_compile is True
    assert compile_model(mlp_autoencoder(), jit_compile=False).jit_compile is False
    assert compile_model(conv_autoencoder(), jit_compile=True).jit_compile_choice["requested"] is True
    monkeypatch.setenv("KERASAE_JIT_COMPILE", "0")
    off = compile_model(mlp_autoencoder())
    assert off.jit_compile is False and "KERASAE_JIT_COMPILE=0" in off.jit_compile_choice["reason"]
    assert compile_model(mlp_autoencoder(), jit_compile=True).jit_compile is True


def test_auto_is_off_eagerly_and_under_a_strategy():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "run_eagerly ... cannot also be jit_compile" warning from Keras
        assert compile_model(mlp_autoencoder(), run_eagerly=True).jit_compile is False
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        assert compile_model(mlp_autoencoder()).jit_compile is False


def test_auto_is_on_for_convolutions_where_an_accelerator_is_present(monkeypatch):
    monkeypatch.setattr(xla, "accelerators", lambda: [tf.config.LogicalDevice("/device:GPU:0", "GPU")])
    model = compile_model(conv_autoencoder())
    assert model.jit_compile is True and model.jit_compile_choice["reason"] == "auto: on, GPU present"


def test_convolutions_are_found_in_sub_models_and_custom_layers():
    class Block(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = [keras.layers.Conv1D(2, 3, padding="same")]

        def call(self, x):
            return self.inner[0](x)

    nested = keras.Sequential([keras.Input((8, 1)), keras.Sequential([Block()])])
    assert [type(layer) for layer in xla.convolution_layers(nested)] == [keras.layers.Conv1D]
    assert xla.convolution_layers(mlp_autoencoder()) == []
    assert len(xla.convolution_layers(conv_autoencoder())) == 3  # conv_0, deconv_0 and the output conv


@pytest.mark.parametrize("make, x", [(conv_autoencoder, X_IMAGES), (mlp_autoencoder, X_FLAT)])
def test_auto_survives_a_keras_round_trip_and_is_re_derived(make, x, tmp_path, monkeypatch):
    model = compile_model(make())
    model.build((None, *x.shape[1:]))
    model.optimizer.build(model.trainable_variables)
    assert model.get_compile_config()["jit_compile"] == "auto"
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.jit_compile is model.jit_compile
    assert loaded.jit_compile_choice == model.jit_compile_choice
    assert loaded.get_compile_config()["jit_compile"] == "auto"
    if not loaded.jit_compile:  # (an XLA compilation would take seconds: fit's use is checked above)
        loaded.fit(x, epochs=1, batch_size=16, verbose=0)
    monkeypatch.setenv("KERASAE_JIT_COMPILE", "0")  # derived again on loading, not read back as a boolean
    assert keras.models.load_model(path).jit_compile is False


def test_explicit_value_survives_a_keras_round_trip(tmp_path):
    model = compile_model(conv_autoencoder(), jit_compile=True)
    model.build((None, 8, 8, 1))
    model.optimizer.build(model.trainable_variables)
    assert model.get_compile_config()["jit_compile"] is True
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert loaded.jit_compile is True and loaded.jit_compile_choice["requested"] is True
