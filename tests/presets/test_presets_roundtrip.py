"""Writing and loading a preset: the round trip of a tiny digits VAE, its card, tampering, bad input."""

import json
import os
import shutil

import h5py
import keras
import numpy as np
import pytest

import kerasae
from kerasae.presets import builtin, cards, evaluation, writing
from kerasae.utils import files

import preset_checks


def _copy(tiny_preset, tmp_path, name="copy"):
    folder = tmp_path / name
    shutil.copytree(tiny_preset.folder, folder)
    return str(folder)


# ============================================================================================ round trip
def test_loaded_model_equals_the_original(tiny_preset):
    model = kerasae.presets.load(tiny_preset.folder)
    assert isinstance(model, kerasae.VAE) and not model.compiled
    np.testing.assert_allclose(np.asarray(model(tiny_preset.x, training=False)), tiny_preset.reference["call"], atol=1e-6)
    np.testing.assert_allclose(np.asarray(model.encode_mean(tiny_preset.x)), tiny_preset.reference["encode_mean"],
                               atol=1e-6)


def test_loaded_model_fine_tunes(tiny_preset):
    """Compile, then fit: the family's train_step, with a fresh optimizer."""
    model = kerasae.presets.load(tiny_preset.folder)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(tiny_preset.x, epochs=1, batch_size=16, verbose=0)
    assert {"loss", "kl", "reconstruction_nll"} <= set(history.history)
    assert np.isfinite(history.history["loss"][-1]) and int(model.optimizer.iterations) == 1


def test_preset_files(tiny_preset):
    folder = tiny_preset.folder
    assert sorted(os.listdir(folder)) == sorted([".kerasae", "README.md", "card.json", "config.json", "model.weights.h5",
                                                  "saved_model", "saved_model.json"])
    with h5py.File(os.path.join(folder, cards.WEIGHTS)) as f:
        assert "optimizer" not in f, "weights only: no optimizer state"
    with open(os.path.join(folder, cards.CONFIG)) as f:
        config = json.load(f)
    assert config["class_name"] == "VAE" and "compile_config" not in config
    assert "Lambda" not in json.dumps(config) and "__lambda__" not in json.dumps(config)
    with open(os.path.join(folder, cards.README)) as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 and "kerasae.presets.load('tiny-vae')" in lines[0]
    assert files.read_marker(folder)["kind"] == "preset"


def test_card(tiny_preset):
    card = preset_checks.check_files(tiny_preset.folder)
    preset_checks.check_schema(card, tiny_preset.name)
    assert card == tiny_preset.card == kerasae.presets.card(tiny_preset.folder)
    assert card["family"] == "VAE" and card["registered_name"] == "kerasae>VAE"
    assert card["architecture"]["latent_dim"] == 4 and card["architecture"]["input_shape"] == [64]
    assert card["architecture"]["encoder"][0] == "Dense(16, activation=relu)"
    assert card["architecture"]["options"]["likelihood"] == "bernoulli"
    assert "test set: one fixed Bernoulli draw, seed 1" in card["data"]["preprocessing"]
    assert card["training"] == {"command": "tests/presets/conftest.py: 2 steps", "epochs": 1, "seconds": 0.5}
    (figure,) = card["figures"]
    assert (figure["metric"], figure["n_examples"], figure["num_samples"], figure["seed"]) == ("log_likelihood", 200, 20, 3)
    assert "kerasae.presets.log_likelihood('tiny-vae'" in figure["command"]


def test_every_check_of_a_preset(tiny_preset):
    """The checks the built-in presets get, on this one (so that they run while presets/ is empty)."""
    preset_checks.check_preset(tiny_preset.folder, tiny_preset.name)


def test_log_likelihood_command(tiny_preset):
    (figure,) = tiny_preset.card["figures"]
    value = kerasae.presets.log_likelihood(tiny_preset.folder, n_examples=200, num_samples=20, seed=3)
    assert value == pytest.approx(figure["value"], abs=1e-4)


def test_a_builtin_name_loads(tiny_preset, tmp_path, monkeypatch):
    root = tmp_path / "builtin"
    root.mkdir()
    _copy(tiny_preset, root, tiny_preset.name)
    (root / "not-a-preset").mkdir()
    monkeypatch.setattr(builtin, "roots", lambda: [str(root)])
    assert kerasae.presets.list() == [tiny_preset.name]
    assert kerasae.presets.folder(tiny_preset.name) == str(root / tiny_preset.name)
    model = kerasae.presets.load(tiny_preset.name)
    np.testing.assert_allclose(np.asarray(model(tiny_preset.x, training=False)), tiny_preset.reference["call"], atol=1e-6)
    assert kerasae.presets.saved_model(tiny_preset.name) == str(root / tiny_preset.name / "saved_model")


def _flip_a_byte(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 1]))


def test_a_preset_without_its_saved_model_exports_it_on_first_use(tiny_preset, tmp_path, monkeypatch):
    """saved_model=False: no SavedModel in the folder (the card says on_demand); kerasae.presets.saved_model
    exports it once into the Keras cache, where it agrees with the Keras model; tampered weights never export."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    model = kerasae.presets.load(tiny_preset.folder)
    folder = tmp_path / "tiny-lean"
    card = kerasae.presets.write(model, folder, name="tiny-lean", data=tiny_preset.spec, command="tests: a copy",
                                 figures=tiny_preset.card["figures"], saved_model=False)
    assert card["saved_model"] == "on_demand" and not [rel for rel in card["files"] if rel.startswith("saved_model")]
    assert sorted(os.listdir(folder)) == [".kerasae", "README.md", "card.json", "config.json", "model.weights.h5"]
    assert card["size_bytes"] < tiny_preset.card["size_bytes"] / 2
    path = kerasae.presets.saved_model(str(folder))
    expected = tmp_path / "keras-home" / "kerasae_presets" / "saved_models" / f"tiny-lean-{card['files'][cards.WEIGHTS][:16]}"
    assert path == str(expected / "saved_model")
    preset_checks.check_preset(str(folder), "tiny-lean")  # its SavedModel's encode/decode agree with Keras
    written = os.path.getmtime(os.path.join(path, "saved_model.pb"))
    assert kerasae.presets.saved_model(str(folder)) == path and os.path.getmtime(os.path.join(path, "saved_model.pb")) == written
    tampered = str(tmp_path / "tampered")
    shutil.copytree(folder, tampered)
    _flip_a_byte(os.path.join(tampered, cards.WEIGHTS))
    _one_line_error(lambda: kerasae.presets.saved_model(tampered), "model.weights.h5", "does not match its card.json")
    assert sorted(os.listdir(expected.parent)) == [expected.name]  # nothing exported from the tampered copy


def test_saved_model_option_and_card_value_are_checked(tiny_preset, tmp_path):
    model = kerasae.presets.load(tiny_preset.folder)
    _one_line_error(lambda: kerasae.presets.write(model, tmp_path / "p", name="p", data=tiny_preset.spec, command="c",
                                                  saved_model="lazy"), "saved_model='lazy'")
    assert not (tmp_path / "p").exists()
    folder = _copy(tiny_preset, tmp_path)
    card_path = os.path.join(folder, cards.CARD)
    with open(card_path) as f:
        card = json.load(f)
    card["saved_model"] = "sometimes"
    with open(card_path, "w") as f:
        json.dump(card, f)
    _one_line_error(lambda: kerasae.presets.load(folder), "saved_model='sometimes'", "Fix:")


def test_a_float16_preset_holds_the_rounded_model_in_half_the_bytes(tiny_preset, tmp_path, monkeypatch):
    """weights_dtype="float16": the weights file stores float16 (about half the bytes); loading gives float32
    variables equal to the original weights rounded to float16, and the SavedModel agrees with that model."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    model = kerasae.presets.load(tiny_preset.folder)
    folder = tmp_path / "tiny-half"
    card = kerasae.presets.write(model, folder, name="tiny-half", data=tiny_preset.spec, command="tests: a copy",
                                 figures=tiny_preset.card["figures"], saved_model=False, weights_dtype="float16")
    assert card["weights_dtype"] == "float16"
    with h5py.File(folder / cards.WEIGHTS) as f:
        stored = []
        f.visititems(lambda name, item: stored.append(item) if isinstance(item, h5py.Dataset) else None)
        dtypes, data_bytes = {item.dtype for item in stored}, sum(item.nbytes for item in stored)
    assert np.dtype("float16") in dtypes and np.dtype("float32") not in dtypes
    weights = model.get_weights()
    assert data_bytes == sum(w.nbytes // 2 if w.dtype == np.float32 else w.nbytes for w in weights)
    loaded = kerasae.presets.load(str(folder))
    for value, original in zip(loaded.get_weights(), model.get_weights(), strict=True):
        assert value.dtype == original.dtype
        np.testing.assert_array_equal(value, writing.round_to_float16(original))
    preset_checks.check_preset(str(folder), "tiny-half")  # SavedModel (exported on first use) agrees with Keras
    _one_line_error(lambda: kerasae.presets.write(model, tmp_path / "p", name="p", data=tiny_preset.spec, command="c",
                                                  weights_dtype="int8"), "weights_dtype='int8'")
    assert not (tmp_path / "p").exists()
    card_path = folder / cards.CARD
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "weights_dtype": "int4"}))
    _one_line_error(lambda: kerasae.presets.load(str(folder)), "weights_dtype='int4'", "Fix:")


# ============================================================================================ tampering
def _one_line_error(call, *needles):
    with pytest.raises(ValueError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text, text
    return text


@pytest.mark.parametrize("rel", ["model.weights.h5", "config.json", "saved_model/variables/variables.index"])
def test_a_changed_byte_is_refused(tiny_preset, tmp_path, rel):
    folder = _copy(tiny_preset, tmp_path)
    _flip_a_byte(os.path.join(folder, rel))
    _one_line_error(lambda: kerasae.presets.load(folder), rel, "does not match its card.json", "Fix:")
    _one_line_error(lambda: kerasae.presets.saved_model(folder), rel)


def test_a_missing_or_extra_file_is_refused(tiny_preset, tmp_path):
    folder = _copy(tiny_preset, tmp_path)
    os.remove(os.path.join(folder, "saved_model", "fingerprint.pb"))
    _one_line_error(lambda: kerasae.presets.load(folder), "saved_model/fingerprint.pb is missing")
    folder = _copy(tiny_preset, tmp_path, "extra")
    with open(os.path.join(folder, "saved_model", "variables", "extra.bin"), "wb") as f:
        f.write(b"x")
    _one_line_error(lambda: kerasae.presets.load(folder), "saved_model/variables/extra.bin is not listed")


def test_a_damaged_card_is_refused(tiny_preset, tmp_path):
    folder = _copy(tiny_preset, tmp_path)
    with open(os.path.join(folder, cards.CARD), "w") as f:
        f.write('{"format": "kerasae-preset"')
    _one_line_error(lambda: kerasae.presets.load(folder), "card.json is not JSON")
    card = dict(tiny_preset.card, files={**tiny_preset.card["files"], "../outside": "0" * 64})
    files.write_json(os.path.join(folder, cards.CARD), card)
    _one_line_error(lambda: kerasae.presets.load(folder), "'../outside'", "not a plain path")
    os.remove(os.path.join(folder, cards.CARD))
    _one_line_error(lambda: kerasae.presets.load(folder), "holds no card.json")


def test_bad_names_and_paths(tiny_preset, tmp_path):
    _one_line_error(lambda: kerasae.presets.load("no-such-preset"), "Unknown preset 'no-such-preset'", "kerasae.presets.list()")
    _one_line_error(lambda: kerasae.presets.load(str(tmp_path / "nowhere")), "No preset folder at")
    _one_line_error(lambda: kerasae.presets.load(3), "Expected a preset name, folder or URL")
    _one_line_error(lambda: kerasae.presets.load(tiny_preset.folder, sha256="0" * 64), "sha256= checks an archive")


# ============================================================================================ writing
def _write(tiny_preset, folder, **kwargs):
    model = kerasae.presets.load(tiny_preset.folder)
    options = dict(name="again", data=tiny_preset.spec, command="pytest", figures=[])
    return kerasae.presets.write(model, folder, **{**options, **kwargs})


def test_write_refuses_bad_input_before_writing(tiny_preset, tmp_path):
    folder = tmp_path / "out"
    figure = dict(tiny_preset.card["figures"][0])
    del figure["seed"]
    for kwargs, needle in [
        ({"name": "Bad Name"}, "Expected a preset name"),
        ({"figures": [figure]}, "lacks ['seed']"),
        ({"figures": {"metric": "x"}}, "Expected figures to be a list"),
        ({"data": {"dataset": "digits"}}, "data['preprocessing']"),
        ({"command": ""}, "Expected command"),
        ({"description": "two\nlines"}, "Expected description"),
    ]:
        _one_line_error(lambda: _write(tiny_preset, folder, **kwargs), needle)
    _one_line_error(lambda: kerasae.presets.write(keras.Sequential([keras.layers.Dense(2)]), folder, name="x",
                                                  data=tiny_preset.spec, command="c"), "kerasae exports kerasae models")
    assert not folder.exists() and os.listdir(tmp_path) == []


def test_write_replaces_only_its_own_presets(tiny_preset, tmp_path):
    folder = _copy(tiny_preset, tmp_path)
    _one_line_error(lambda: _write(tiny_preset, folder), "already exists", "overwrite=True")
    card = _write(tiny_preset, folder, overwrite=True)
    assert kerasae.presets.card(folder) == card and card["name"] == "again"
    users = tmp_path / "users"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    _one_line_error(lambda: _write(tiny_preset, users, overwrite=True), "not one", "overwrite=True")
    assert (users / "notes.txt").read_text() == "mine"


def test_a_failed_write_leaves_nothing(tiny_preset, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("export failed")

    monkeypatch.setattr(writing.export_api, "export", fail)
    with pytest.raises(RuntimeError):
        _write(tiny_preset, tmp_path / "out")
    assert os.listdir(tmp_path) == []


def test_test_inputs_are_the_runs_fixed_draw(tiny_preset):
    data = kerasae.datasets.load("digits", binarize="dynamic")
    x = evaluation.test_inputs(tiny_preset.spec, 200)
    assert x.shape == (200, 64) and set(np.unique(x)) <= {0.0, 1.0}
    full = np.concatenate(list(data.pipeline("test", batch_size=100).as_numpy_iterator()))
    np.testing.assert_array_equal(x, full[:200])
