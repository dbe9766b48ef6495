"""What export refuses, or records, rather than write an artifact that lies (issue 18, rows 5 to 8).

- parity is checked on at least one example; skipping it takes ``check_parity=False`` (``--skip-parity``) and
  the metadata then say "unchecked" instead of reporting errors of 0;
- a TFLite file's weights match its label, and int8 calibration needs enough examples;
- a mixed-precision model exports in float32 with the defaults, compared with the model as trained;
- what is not a kerasae model, or does not load, is one line (exit status 2 from the CLI), nothing written.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import kerasae
from kerasae import export as ex
from kerasae import safe_loading
from kerasae.cli import export as cli_export
from kerasae.cli import main as cli
from kerasae.export import precision, tflite
from kerasae.export.options import MIN_REPRESENTATIVE_SAMPLES, PRECISION_TOLERANCES
from kerasae.models.vae import VAE
from helpers import one_line, snapshot


@pytest.fixture(scope="module")
def mlp(digits):
    keras.utils.set_random_seed(0)
    model = kerasae.Autoencoder(*kerasae.networks.mlp((64,), 4, hidden_units=(32,)))  # 64 x 32: 'dynamic' quantises it
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(digits.x_train, epochs=2, batch_size=64, verbose=0)
    return model


@pytest.fixture
def run(mlp, tmp_path):
    """A run folder (model.keras, metrics.json) as ``kerasae train`` writes it, and its contents."""
    folder = tmp_path / "run"
    folder.mkdir()
    mlp.save(folder / "model.keras")
    (folder / "metrics.json").write_text(json.dumps({"config": {"dataset": "digits", "model": "autoencoder"}}))
    return folder, snapshot(tmp_path)


def _cli_fails(argv, folder, before, capsys, message):
    """``kerasae ARGV`` exits with status 2, one line naming ``message``, and ``folder`` is as it was."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, err
    assert snapshot(folder) == before
    return err


# ============================================================================================ row 5: parity
@pytest.mark.parametrize("value", [0, -3, 2.5, True, "8", None])
def test_parity_samples_must_be_a_positive_integer(mlp, digits, tmp_path, value):
    with pytest.raises(ValueError, match=r"Expected parity_samples to be a positive integer\. Received") as err:
        ex.export(mlp, tmp_path / "out", formats="saved_model", parity_data=digits.x_test, parity_samples=value)
    one_line(err)
    assert os.listdir(tmp_path) == []


def test_parity_is_measured_on_the_samples_asked_for(mlp, digits, tmp_path):
    (result,) = ex.export(mlp, tmp_path, formats="saved_model", parity_data=digits.x_test, parity_samples=np.int64(3))
    with open(result.metadata_path) as f:
        parity = json.load(f)["parity"]
    assert parity["status"] == "passed" and parity["num_samples"] == 3 and parity["tolerance"] == ex.TOLERANCES["saved_model"]
    assert set(parity["errors"]) == {"encode", "decode", "reconstruct"}


def test_skipping_parity_is_explicit_and_recorded_as_unchecked(mlp, tmp_path):
    results = ex.export(mlp, tmp_path, quantize=("none", "float16"), check_parity=False)  # no parity data needed
    assert [os.path.basename(r.path) for r in results] == ["saved_model", "model_float32.tflite", "model_float16.tflite"]
    for r in results:
        assert r.parity is None and r.tolerance is None and r.max_rel_error is None
        with open(r.metadata_path) as f:
            meta = json.load(f)
        assert meta["parity"] == {"status": "unchecked", "metric": None, "tolerance": None, "num_samples": 0,
                                  "errors": None, "reference_dtype_policy": None}
        assert {"encode", "decode", "reconstruct"} <= set(meta["signatures"]) and meta["code_outputs"] == ["code"]
    for bad in ("no", 0, None):
        with pytest.raises(ValueError, match="Expected check_parity to be True or False") as err:
            ex.export(mlp, tmp_path / "other", check_parity=bad)
        one_line(err)


def test_cli_skip_parity_flag(run, capsys):
    folder, _ = run
    assert cli.main(["export", str(folder), "--format", "tflite", "--skip-parity"]) == 0
    assert "| unchecked |" in capsys.readouterr().out
    with open(folder / "export" / "model_float32.json") as f:
        assert json.load(f)["parity"]["status"] == "unchecked"


# ============================================================================================ row 6: labels
def _never_converts(*args, **kwargs):
    raise AssertionError("converted although the calibration data was refused")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"representative_samples": 0}, f"Expected representative_samples to be an integer >= {MIN_REPRESENTATIVE_SAMPLES}"),
        ({"representative_samples": -5}, "Expected representative_samples to be an integer >= 10"),
        ({"representative_samples": 9}, "Expected representative_samples to be an integer >= 10"),
        ({"representative_samples": 12.0}, "Expected representative_samples to be an integer >= 10"),
        ({"rows": 9}, "Expected at least 10 examples in representative_data for int8 quantisation"),
        ({"rows": 0}, "representative_data"),
    ],
)
def test_too_little_calibration_data_is_refused_before_converting(mlp, digits, tmp_path, monkeypatch, kwargs, match):
    monkeypatch.setattr(tflite, "convert", _never_converts)
    kwargs = dict(kwargs)
    representative = digits.x_train[: kwargs.pop("rows", len(digits.x_train))]
    with pytest.raises(ValueError, match=match) as err:
        ex.export(mlp, tmp_path / "out", formats="tflite", quantize="int8", parity_data=digits.x_test,
                  representative_data=representative, **kwargs)
    one_line(err)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "label, converted_as, found",
    [
        ("int8", "none", "float32 weights"),  # a calibrator that fell back to float32
        ("dynamic", "none", "no int8 weights"),
        ("float16", "none", "no float16 weights"),
        ("none", "float16", "float16 weights"),
    ],
)
def test_a_file_whose_weights_do_not_match_its_label_is_refused(mlp, digits, tmp_path, monkeypatch, label,
                                                                 converted_as, found):
    convert = tflite.convert

    def mislabelled(saved_model, signatures, quantize, representative, int8_io, part, weight_scales):
        return convert(saved_model, signatures, converted_as, None, False, part, weight_scales)

    monkeypatch.setattr(tflite, "convert", mislabelled)
    with pytest.raises(ValueError, match=f"would hold {found}.*not match its label '{label}'. Nothing was written") as err:
        ex.export(mlp, tmp_path / "out", formats="tflite", quantize=label, parity_data=digits.x_test,
                  representative_data=digits.x_train)
    one_line(err)
    assert os.listdir(tmp_path) == []


def test_dynamic_file_of_a_model_with_only_small_kernels_is_refused(digits, tmp_path):
    model = kerasae.LinearAutoencoder.from_shape((64,), 4)  # 64 x 4 kernels: TFLite keeps them float32
    with pytest.raises(ValueError, match="no int8 weights.*fewer than 1024 values.*Fix: use quantize='int8'") as err:
        ex.export(model, tmp_path / "out", formats="tflite", quantize=("none", "dynamic"), parity_data=digits.x_test)
    one_line(err)
    assert os.listdir(tmp_path) == []


def test_cli_refuses_too_little_calibration_onone_line(run, capsys):
    folder, before = run
    argv = ["export", str(folder), "--format", "tflite", "--quantize", "int8"]
    _cli_fails([*argv, "--representative-samples", "5"], folder.parent, before, capsys,
               "Expected representative_samples to be an integer >= 10")
    _cli_fails([*argv, "--representative-samples", "0"], folder.parent, before, capsys, "--representative-samples")
    _cli_fails(["export", str(folder), "--parity-samples", "0"], folder.parent, before, capsys, "--parity-samples")
    _cli_fails(["export", str(folder), "--parity-samples", "-4"], folder.parent, before, capsys, "--parity-samples")


# ============================================================================================ row 7: precision
def _train_mixed(policy, build, x):
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(policy)
    try:
        model = build()
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        model.fit(x, epochs=2, batch_size=64, verbose=0)
    finally:
        keras.config.set_dtype_policy("float32")
    return model


def _assert_float32_signatures(saved_model, tflite_paths):
    for name, fn in tf.saved_model.load(str(saved_model)).signatures.items():
        specs = fn.structured_input_signature[1]
        assert all(s.dtype == (tf.int32 if key == "n" else tf.float32) for key, s in specs.items()), (name, specs)
        assert all(s.dtype == tf.float32 for s in fn.structured_outputs.values()), (name, fn.structured_outputs)
    for path in tflite_paths:
        interpreter = Interpreter(model_path=str(path))
        for name in interpreter.get_signature_list():
            runner = interpreter.get_signature_runner(name)
            details = [*runner.get_input_details().values(), *runner.get_output_details().values()]
            assert all(d["dtype"] == np.float32 for d in details), (path, name)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_models_export_in_float32_with_defaults(digits, tmp_path, policy):
    if policy == "mixed_float16":  # the case: an autoencoder run, exported by `kerasae export RUN`
        model = _train_mixed(policy, lambda: kerasae.Autoencoder(*kerasae.networks.mlp((64,), 4)), digits.x_train)
        folder = tmp_path / "run"
        folder.mkdir()
        model.save(folder / "model.keras")
        (folder / "metrics.json").write_text(json.dumps({"config": {"dataset": "digits", "model": "autoencoder"}}))
        assert cli.main(["export", str(folder), "--quantize", "none", "float16"]) == 0
        out = folder / "export"
        model = safe_loading.load_model(folder / "model.keras")  # what the CLI exported
    else:  # a VAE through the API
        model = _train_mixed(policy, lambda: VAE.create((64,), 4, hidden_units=(32,)), digits.x_train)
        out = tmp_path / "export"
        ex.export(model, out, quantize=("none", "float16"), parity_data=digits.x_test)
    names = ["saved_model", "model_float32.tflite", "model_float16.tflite"]
    assert sorted(os.listdir(out)) == sorted([*names, "saved_model.json", "model_float32.json", "model_float16.json", ".kerasae"])  # .kerasae: the export marker
    floor = PRECISION_TOLERANCES[policy.removeprefix("mixed_")]
    for name, key in zip(names, ("saved_model", "none", "float16")):
        with open(ex.metadata_path(out / name)) as f:
            meta = json.load(f)
        assert meta["dtype_policy"] == "float32" and meta["trained_dtype_policy"] == policy
        parity = meta["parity"]
        assert parity["status"] == "passed" and parity["reference_dtype_policy"] == policy
        assert parity["tolerance"] == max(ex.TOLERANCES[key], floor)
        errors = [e["max_rel_error"] for outs in parity["errors"].values() for e in outs.values() if "max_rel_error" in e]
        assert errors and max(errors) <= parity["tolerance"]
    _assert_float32_signatures(out / "saved_model", [out / n for n in names[1:]])
    assert precision.trained_policy(model) == policy  # the model itself is left as it was
    x = digits.x_test[:16]
    reloaded = tf.saved_model.load(str(out / "saved_model")).signatures["reconstruct"](x=tf.constant(x))
    want = np.asarray(model.reconstruct(x), "float32")
    assert np.max(np.abs(reloaded["reconstruction"].numpy() - want)) <= floor * np.max(np.abs(want))


def test_float32_rebuild_rewrites_every_policy_and_keeps_weights(digits):
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = VAE.create((64,), 3, hidden_units=(8,))
    finally:
        keras.config.set_dtype_policy("float32")
    rebuilt, policy = precision.float32_model(model)
    assert policy == "mixed_bfloat16" and rebuilt is not model and type(rebuilt) is VAE
    assert precision.trained_policy(rebuilt) == "float32"
    assert "bfloat16" not in json.dumps(rebuilt.get_config(), default=str)
    for a, b in zip(model.get_weights(), rebuilt.get_weights()):
        np.testing.assert_array_equal(a, b)
    float32_model = kerasae.Autoencoder(*kerasae.networks.mlp((64,), 3, hidden_units=(8,)))
    assert precision.float32_model(float32_model) == (float32_model, "float32")  # nothing rebuilt


def test_a_mixed_model_that_cannot_be_rebuilt_isone_line(digits, tmp_path, monkeypatch):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = kerasae.Autoencoder(*kerasae.networks.mlp((64,), 3, hidden_units=(8,)))
    finally:
        keras.config.set_dtype_policy("float32")

    def from_config(cls, config):
        raise TypeError("an unexpected\nkeyword")

    monkeypatch.setattr(kerasae.Autoencoder, "from_config", classmethod(from_config))
    with pytest.raises(ValueError, match="mixed_float16 model could not be rebuilt in float32.*Fix: retrain") as err:
        ex.export(model, tmp_path / "out", parity_data=digits.x_test)
    one_line(err)
    assert os.listdir(tmp_path) == []


# ============================================================================================ row 8: what loads
def test_cli_refuses_a_model_that_is_not_a_kerasae_model(tmp_path, capsys):
    plain = keras.Sequential([keras.Input((64,)), keras.layers.Dense(4)])
    plain.save(tmp_path / "plain_sequential.keras")
    folder = tmp_path / "run"
    folder.mkdir()
    plain.save(folder / "model.keras")
    (folder / "metrics.json").write_text(json.dumps({"config": {"dataset": "digits", "model": "autoencoder"}}))
    before = snapshot(tmp_path)
    for source in (tmp_path / "plain_sequential.keras", folder):
        err = _cli_fails(["export", str(source)], tmp_path, before, capsys, "kerasae exports kerasae models")
        assert "received Sequential" in err and "VAE" in err and "Autoencoder(encoder, decoder)" in err
    with pytest.raises(ValueError, match="kerasae exports kerasae models") as err:
        ex.export(plain, tmp_path / "out")
    one_line(err)


def test_cli_gives_one_line_for_a_file_that_does_not_load(tmp_path, capsys, monkeypatch):
    (tmp_path / "damaged.keras").write_bytes(b"not a zip archive")
    before = snapshot(tmp_path)
    _cli_fails(["export", str(tmp_path / "damaged.keras")], tmp_path, before, capsys, "is not a valid .keras archive")

    def fails(path):  # a loader whose message spans lines (a class it does not know, dumped with its config)
        raise safe_loading.ModelLoadError(f"Could not load {path}:\n  TypeError: Could not locate class 'Mine'.\n")

    (tmp_path / "unknown.keras").write_bytes(b"")
    before = snapshot(tmp_path)
    monkeypatch.setattr(cli_export, "load_model", fails)
    _cli_fails(["export", str(tmp_path / "unknown.keras")], tmp_path, before, capsys, "Could not locate class 'Mine'")
