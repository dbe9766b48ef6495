"""A tiny preset shared by the preset tests: a digits VAE trained two steps, written once per session."""

import types

import keras
import numpy as np
import pytest

import kerasae
from kerasae.presets import evaluation

NAME = "tiny-vae"


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory):
    """``folder`` (the written preset), ``card``, ``spec`` (its card's data) and the model's ``reference``
    outputs on ``x`` (16 test inputs), recorded before the model is dropped."""
    keras.utils.set_random_seed(0)
    data = kerasae.datasets.load("digits", binarize="dynamic")
    spec = evaluation.data_spec(data, {"binarize": "dynamic"})
    model = kerasae.VAE.create((64,), 4, hidden_units=(16,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(data.x_train[:64], epochs=1, batch_size=32, verbose=0)  # two steps: an optimizer state to leave out
    figure = kerasae.presets.log_likelihood_figure(model, spec, name=NAME, num_samples=20, seed=3)
    folder = tmp_path_factory.mktemp("presets") / NAME
    card = kerasae.presets.write(model, folder, name=NAME, data=spec, command="tests/presets/conftest.py: 2 steps",
                                 epochs=1, seconds=0.5, figures=[figure])
    x = evaluation.test_inputs(spec, 16)
    reference = {"call": np.asarray(model(x, training=False)), "encode_mean": np.asarray(model.encode_mean(x))}
    keras.backend.clear_session(free_memory=False)
    return types.SimpleNamespace(folder=str(folder), card=card, spec=spec, x=x, reference=reference, name=NAME)
