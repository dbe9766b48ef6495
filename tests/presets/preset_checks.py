"""The checks every preset passes (the issue's list), shared by the built-in presets' tests and the tests of a
preset written by the tests themselves: its files match its card (sha256s recomputed here, not by kerasae), it
loads, its ``log_likelihood`` on the card's test examples is within 1 nat of the card's figure (same examples,
samples and seed), its ``accuracy`` / ``reconstruction_mse`` figures hold on the same examples, and its
SavedModel's ``encode`` / ``decode`` agree with the Keras model."""

import hashlib
import json
import os

import keras
import numpy as np
import tensorflow as tf

import kerasae
from kerasae.export import signatures
from kerasae.presets import cards, evaluation

#: How far a measured log-likelihood may be from its card's figure (nats per example).
TOLERANCE_NATS = 1.0


def check_files(folder):
    """The card's sha256 of every file, recomputed; no file beside them; ``size_bytes`` their total."""
    with open(os.path.join(folder, cards.CARD)) as f:
        card = json.load(f)
    on_disk = set()
    for here, _, names in os.walk(folder):
        on_disk |= {os.path.relpath(os.path.join(here, n), folder).replace(os.sep, "/") for n in names}
    assert on_disk - {cards.CARD, ".kerasae"} == set(card["files"])
    for rel, digest in card["files"].items():
        with open(os.path.join(folder, rel), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, rel
    assert card["size_bytes"] == sum(os.path.getsize(os.path.join(folder, rel)) for rel in card["files"])
    return card


def check_schema(card, name=None):
    """Every key of the card's schema is there (and the name is the folder's)."""
    assert set(cards.CARD_KEYS) <= set(card), sorted(set(cards.CARD_KEYS) - set(card))
    assert set(cards.DATA_KEYS) <= set(card["data"]) and set(cards.TRAINING_KEYS) <= set(card["training"])
    assert card["data"]["load"] is not None, "the card's data must say how to rebuild the test examples"
    for figure in card["figures"]:
        assert set(cards.FIGURE_KEYS) <= set(figure), figure
    assert {"kerasae", "tensorflow", "keras"} <= set(card["versions"])
    if name is not None:
        assert card["name"] == name
    for rel in cards.required_files(card):
        assert rel in card["files"], rel


def check_log_likelihood(model, card, n_examples=200):
    """The card's ``log_likelihood`` figures of ``n_examples`` test examples, measured again."""
    figures = [f for f in card["figures"] if f["metric"] == "log_likelihood" and f["n_examples"] == n_examples]
    assert figures, f"a VAE-family preset carries the log_likelihood figure of the first {n_examples} test examples"
    inputs = kerasae.presets.test_inputs(card["data"], n_examples, model)
    for figure in figures:
        value = float(np.mean(model.log_likelihood(inputs, num_samples=figure["num_samples"], seed=figure["seed"])))
        assert abs(value - figure["value"]) <= TOLERANCE_NATS, (value, figure)


def check_measured(model, card):
    """The card's ``accuracy`` / ``reconstruction_mse`` figures of its first test examples, measured again: the
    accuracy within one example, the error within 0.1%."""
    for figure in [f for f in card["figures"] if f["metric"] in evaluation.MEASURED and f["n_examples"] <= 1000]:
        value = evaluation.measure_model(model, card["data"], figure["metric"], figure["n_examples"])
        tolerance = 1 / figure["n_examples"] + 1e-9 if figure["metric"] == "accuracy" else 1e-3 * abs(figure["value"])
        assert abs(value - figure["value"]) <= tolerance, (value, figure)


def check_saved_model(model, card, path, n=16):
    """``encode`` and ``decode`` of the SavedModel (``tf.saved_model.load`` and ``TFSMLayer``) agree with Keras."""
    inputs = kerasae.presets.test_inputs(card["data"], n, model)
    x, condition = inputs if isinstance(inputs, tuple) else (inputs, None)
    feed = {"x": x, "z": np.asarray(model.encode_mean(inputs), "float32"), "condition": condition}
    table = signatures.signature_table(model)
    chosen = [(name, table[name]) for name in ("encode", "decode")]
    expected = signatures.keras_outputs(chosen, feed)
    loaded = tf.saved_model.load(path)
    for name, sig in chosen:
        outputs = loaded.signatures[name](**{k: tf.constant(v) for k, v in signatures.feed(sig, feed).items()})
        assert set(outputs) == set(expected[name])
        for key, value in outputs.items():
            np.testing.assert_allclose(value.numpy(), expected[name][key], rtol=1e-4, atol=1e-5, err_msg=f"{name}/{key}")
    if condition is None:
        layer = keras.layers.TFSMLayer(path, call_endpoint="encode")
        for key, value in layer(x).items():
            np.testing.assert_allclose(np.asarray(value), expected["encode"][key], rtol=1e-4, atol=1e-5)


def check_preset(name_or_folder, name=None):
    """Every check of the issue for one preset; returns ``(model, card)``."""
    folder = kerasae.presets.folder(name_or_folder)
    card = check_files(folder)
    check_schema(card, name)
    model = kerasae.presets.load(name_or_folder)
    assert type(model).__name__ == card["family"] and not model.compiled
    if callable(getattr(model, "log_likelihood", None)):
        check_log_likelihood(model, card)
    check_measured(model, card)
    check_saved_model(model, card, kerasae.presets.saved_model(name_or_folder))
    return model, card
