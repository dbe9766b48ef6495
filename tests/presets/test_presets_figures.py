"""The figures a classifier's or an autoencoder's card carries beside the VAE family's log-likelihood: ``accuracy``
and ``reconstruction_mse`` of the first test examples, measured when written, measured again from the preset (by
:func:`kerasae.presets.measure` and by the checks every preset passes)."""

import json

import keras
import numpy as np
import pytest

import kerasae
import preset_checks
from helpers import small_mlp
from kerasae.presets import evaluation


def _write(model, tmp_path, name, metric, spec):
    figure = kerasae.presets.figure(model, spec, metric, name=name, n_examples=50)
    folder = tmp_path / name
    kerasae.presets.write(model, folder, name=name, data=spec, command="tests/presets/test_presets_figures.py",
                          figures=[figure])
    return folder, figure


@pytest.fixture(scope="module")
def digits_spec():
    data = kerasae.datasets.load("digits", validation_split=0.1, seed=0)
    return data, evaluation.data_spec(data, {"validation_split": 0.1, "seed": 0})


def test_an_m2_classifier_preset_carries_its_accuracy(tmp_path, digits_spec):
    data, spec = digits_spec
    keras.utils.set_random_seed(0)
    model = kerasae.M2.create((64,), 4, 10, hidden_units=(16,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(data.x_train, data.y_train, epochs=3, batch_size=64, verbose=0)
    folder, figure = _write(model, tmp_path, "m2-digits", "accuracy", spec)
    expected = float(np.mean(model.predict_labels(data.x_test[:50]) == data.y_test[:50]))
    assert figure["value"] == expected > 0.2 and figure["n_examples"] == 50
    assert kerasae.presets.measure(str(folder), "accuracy", n_examples=50) == expected
    assert "kerasae.presets.measure('m2-digits', 'accuracy', n_examples=50)" in figure["command"]
    preset_checks.check_preset(str(folder), "m2-digits")


def test_an_autoencoder_preset_carries_its_reconstruction_error(tmp_path, digits_spec):
    data, spec = digits_spec
    model = kerasae.StackedAutoencoder((64,), layer_units=(16, 8), activation="sigmoid", code_activation="sigmoid")
    model.pretrain(data.x_train, epochs_per_layer=1, batch_size=64)
    folder, figure = _write(model, tmp_path, "stack-digits", "reconstruction_mse", spec)
    expected = float(np.mean((np.asarray(model.reconstruct(data.x_test[:50])) - data.x_test[:50]) ** 2))
    assert figure["value"] == pytest.approx(expected, rel=1e-6)
    model, card = preset_checks.check_preset(str(folder), "stack-digits")
    # a card whose figure is not what the model measures fails the check
    wrong = json.loads(json.dumps(card))
    wrong["figures"][0]["value"] *= 1.01
    with pytest.raises(AssertionError):
        preset_checks.check_measured(model, wrong)


def test_a_figure_the_model_cannot_measure_is_refused(tmp_path, digits_spec):
    _, spec = digits_spec
    model = kerasae.Autoencoder(*small_mlp(latent_dim=4))
    with pytest.raises(ValueError, match="has no predict_labels"):
        kerasae.presets.figure(model, spec, "accuracy", name="ae")
    with pytest.raises(ValueError, match="Expected metric to be one of accuracy, reconstruction_mse"):
        kerasae.presets.figure(model, spec, "loss", name="ae")
    assert not any(tmp_path.iterdir())
