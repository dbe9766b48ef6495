"""EncoderPredictor: a head on a pre-trained encoder (a kerasae model, a preset, an exported SavedModel), fine-tuned
or frozen."""

import keras
import numpy as np
import pytest

import kerasae
from kerasae.data import datasets
from kerasae.models.encoder_predictor import EncoderPredictor, PretrainedEncoder
from tests.helpers import assert_keras_roundtrip, compile_model, small_mlp


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", validation_split=0.0)


@pytest.fixture(scope="module")
def autoencoder(digits):
    model = compile_model(kerasae.Autoencoder(*small_mlp(latent_dim=8, hidden_units=(32,))))
    model.fit(digits.x_train, epochs=5, batch_size=64, verbose=0)
    return model


def _values(variables):
    return [np.array(v) for v in variables]


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_code_is_the_models_code_and_the_source_is_copied(autoencoder, digits):
    x = digits.x_test[:32]
    layer = PretrainedEncoder(autoencoder)
    np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(autoencoder.encode(x)), atol=1e-6)
    assert layer.model is not autoencoder
    # Only the encoder is trainable: the decoder never changes.
    assert {id(v) for v in layer.trainable_weights} == {id(v) for v in layer.model.encoder.trainable_weights}
    assert all(not v.trainable for v in layer.model.decoder.weights)
    assert all(v.trainable for v in autoencoder.trainable_weights)  # the source model keeps its settings


@pytest.mark.parametrize("freeze", [True, False])
def test_fine_tuned_or_frozen(freeze, autoencoder, digits):
    predictor = EncoderPredictor(autoencoder, units=10, freeze_encoder=freeze)
    predictor.compile(optimizer=keras.optimizers.Adam(3e-3))
    source, encoder_before = _values(autoencoder.weights), _values(predictor.encoder.model.encoder.weights)
    decoder_before, head_before = _values(predictor.encoder.model.decoder.weights), None
    predictor.build((None, 64))
    head_before = _values(predictor.head.weights)
    history = predictor.fit(digits.x_train, digits.y_train, epochs=20, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not _same(_values(predictor.head.weights), head_before)
    assert _same(_values(predictor.encoder.model.encoder.weights), encoder_before) == freeze
    assert _same(_values(predictor.encoder.model.decoder.weights), decoder_before)
    assert _same(_values(autoencoder.weights), source)  # fine-tuning leaves the pre-trained model as it is
    accuracy = np.mean(predictor.predict_labels(digits.x_test) == digits.y_test)
    assert accuracy > (0.5 if freeze else 0.85), accuracy  # a linear probe of 8-d codes (chance 0.1); the network


def test_vae_code_is_the_posterior_mean_and_round_trips(digits, tmp_path):
    binary = datasets.load("digits", validation_split=0.0, binarize="dynamic")
    vae = compile_model(kerasae.VAE.create((64,), 4, hidden_units=(32,), seed=0))
    vae.fit(binary.x_train, epochs=2, batch_size=64, verbose=0)
    predictor = EncoderPredictor(vae, units=10, hidden_units=(16,), dropout=0.1)
    x = binary.x_test[:16]
    np.testing.assert_allclose(np.asarray(predictor.encoder(x)), vae.encode_mean(x), atol=1e-6)

    def inference_side(predictor):
        inner = predictor.encoder.model
        return {id(v) for v in inner.encoder.trainable_weights + inner.posterior_layer.trainable_weights}

    assert {id(v) for v in predictor.encoder.trainable_weights} == inference_side(predictor)
    predictor.compile(optimizer=keras.optimizers.Adam(1e-3))
    predictor.fit(binary.x_train, binary.y_train, epochs=1, batch_size=64, verbose=0)
    loaded = assert_keras_roundtrip(predictor, binary.x_test[:32], tmp_path,
                                    outputs=lambda m, x: m.predict(x, verbose=0), refit=False)
    assert {id(v) for v in loaded.encoder.trainable_weights} == inference_side(loaded)
    history = loaded.fit(binary.x_train, binary.y_train, epochs=1, batch_size=64, verbose=0)
    assert np.isfinite(history.history["loss"][-1]) and "accuracy" in history.history


def test_hierarchical_vae_fine_tunes_its_inference_side_only():
    from tests.helpers import build_registered

    model = build_registered("hvae", "--hidden-units", "32", "--h1-dim", "6", "--top-hidden-units", "16")[0]
    model(np.zeros((1, 64), "float32"))
    layer = PretrainedEncoder(model)
    inner = layer.model
    expected = [inner.encoder, inner.h1_posterior_layer, inner.top_encoder, inner.posterior_layer]
    assert {id(v) for v in layer.trainable_weights} == {id(v) for part in expected for v in part.trainable_weights}
    assert all(not v.trainable for v in inner.decoder.weights + inner.top_decoder.weights)


def test_saved_model_encoder_through_tfsmlayer(autoencoder, digits, tmp_path):
    kerasae.export.export(autoencoder, tmp_path / "exported", formats="saved_model", parity_data=digits.x_test)
    folder = next(p for p in (tmp_path / "exported").iterdir() if p.is_dir())
    layer = keras.layers.TFSMLayer(str(folder), call_endpoint="encode")
    predictor = EncoderPredictor(layer, units=10, hidden_units=(64,), freeze_encoder=True)
    x = digits.x_test[:16]
    np.testing.assert_allclose(np.asarray(predictor.encoder(x)), np.asarray(autoencoder.encode(x)), atol=1e-5)
    predictor.compile(optimizer=keras.optimizers.Adam(3e-3))
    predictor.fit(digits.x_train, digits.y_train, epochs=10, batch_size=64, verbose=0)
    assert np.mean(predictor.predict_labels(digits.x_test) == digits.y_test) > 0.7


def test_preset_encoder(autoencoder, digits, tmp_path):
    folder = tmp_path / "ae-digits"
    kerasae.presets.write(autoencoder, folder, name="ae-digits", command="test",
                          data={"dataset": "digits", "preprocessing": "divided by 16"}, parity_data=digits.x_test)
    predictor = EncoderPredictor(kerasae.presets.load(str(folder)), units=10)
    np.testing.assert_allclose(np.asarray(predictor.encoder(digits.x_test[:8])),
                               np.asarray(autoencoder.encode(digits.x_test[:8])), atol=1e-6)


def test_regression_head(autoencoder, digits):
    predictor = EncoderPredictor(autoencoder, task="regression", units=1, hidden_units=(32,), freeze_encoder=True)
    predictor.compile(optimizer=keras.optimizers.Adam(1e-2))
    y = digits.y_train.astype("float32")
    history = predictor.fit(digits.x_train, y, epochs=20, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.5 * np.var(y)  # well below the best constant's squared error
    assert predictor.predict_labels(digits.x_test[:5]).shape == (5, 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"encoder": "not a model", "units": 3}, "Expected a trained kerasae model with encode(x)"),
    ({"units": None}, "Expected units (the classes, or the regression outputs)"),
    ({"units": 3, "dropout": 1.0}, "Expected dropout in [0, 1). Received: dropout=1.0"),
    ({"units": 3, "task": "ranking"}, "ranking"),
])
def test_bad_arguments(kwargs, message, autoencoder):
    with pytest.raises(ValueError) as error:
        EncoderPredictor(**{"encoder": autoencoder, **kwargs})
    assert message in str(error.value)
