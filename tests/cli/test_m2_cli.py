"""``kerasae train m2 [--m1 VAE_RUN]``: a run on digits, its export (SavedModel and TFLite, parity checked), M1+M2
from a VAE run, and the refusals."""

import inspect
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasae
from kerasae.cli import main as cli
from kerasae.cli.families import m2 as m2_cli
from kerasae.models import m2 as m2_model
from kerasae.models.m2 import M2

SMALL = ["--hidden-units", "16", "--latent-dim", "4", "--epochs", "1", "--batch-size", "128", "--validation-split", "0",
         "--verbose", "0"]


@pytest.fixture(scope="module")
def m2_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("m2") / "run"
    assert cli.main(["train", "m2", "--labels-per-class", "5", "--alpha", "2", "--out", str(out), *SMALL]) == 0
    return out


def test_train_m2_writes_a_run_that_exports_with_parity(m2_run, digits):
    metrics = json.loads((m2_run / "metrics.json").read_text())
    assert metrics["model_class"] == "M2" and metrics["config"]["labels_per_class"] == 5
    assert {"loss", "accuracy", "elbo", "labelled_loss", "classification_loss"} <= set(metrics["test"])
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and np.isfinite(metrics["test"]["elbo"])
    for name in ("model.keras", "samples.png", "reconstructions.png", "loss_curves.png"):
        assert (m2_run / name).is_file(), name
    model = keras.models.load_model(m2_run / "model.keras")
    assert isinstance(model, M2) and model.alpha == 2.0 and model.likelihood == "bernoulli"

    assert cli.main(["export", str(m2_run), "--format", "saved_model", "tflite", "--parity-samples", "16"]) == 0
    export = m2_run / "export"
    for name in ("saved_model", "model_float32"):
        meta = json.loads((export / f"{name}.json").read_text())
        assert meta["parity"]["status"] == "passed" and "classify" in meta["signatures"], meta["parity"]
    x = digits.x_test[:5]
    condition = keras.utils.to_categorical(digits.y_test[:5], 10).astype("float32")
    z = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    saved = tf.saved_model.load(str(export / "saved_model")).signatures
    np.testing.assert_allclose(saved["classify"](x=tf.constant(x))["probabilities"], model.predict_proba(x), atol=1e-5)
    np.testing.assert_allclose(saved["decode"](z=tf.constant(z), condition=tf.constant(condition))["reconstruction"],
                               model.decode(z, condition), atol=1e-5)
    np.testing.assert_allclose(saved["encode"](x=tf.constant(x), condition=tf.constant(condition))["mean"],
                               model.encode_mean(x, digits.y_test[:5]), atol=1e-5)
    assert saved["sample"](condition=tf.constant(condition))["samples"].shape == (5, 64)
    tflite = str(export / "model_float32.tflite")
    np.testing.assert_allclose(kerasae.export.run_tflite(tflite, "classify", x=x)["probabilities"],
                               model.predict_proba(x), atol=1e-4)
    np.testing.assert_allclose(kerasae.export.run_tflite(tflite, "decode", z=z, condition=condition)["reconstruction"],
                               model.decode(z, condition), atol=1e-4)


def test_m1_m2_in_one_command_from_a_vae_run(tmp_path, digits):
    m1 = tmp_path / "m1"
    assert cli.main(["train", "vae", "--nll-samples", "2", "--out", str(m1), *SMALL]) == 0
    out = tmp_path / "m1m2"
    assert cli.main(["train", "m2", "--m1", str(m1), "--latent-dim", "3", "--out", str(out), *SMALL[4:]]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["m1"] == str(m1) and np.isfinite(metrics["test"]["loss"])
    model = keras.models.load_model(out / "model.keras")
    vae = keras.models.load_model(m1 / "model.keras")
    assert isinstance(model.m1, kerasae.VAE) and model.likelihood == "gaussian_learned"
    assert model.feature_shape == (4,) and model.latent_dim == 3 and model.data_shape == (64,)
    np.testing.assert_allclose(model.features(digits.x_test[:8]), vae.encode_mean(digits.x_test[:8]), atol=1e-5)
    assert model.generate(np.arange(10), seed=0).shape == (10, 64)  # images, through M1's decoder
    # The export holds M1 too: the classifier and the conditional decoder take and give images.
    assert cli.main(["export", str(out), "--format", "saved_model", "tflite", "--parity-samples", "16"]) == 0
    x, z = digits.x_test[:4], np.zeros((4, 3), "float32")
    tflite = str(out / "export" / "model_float32.tflite")
    np.testing.assert_allclose(kerasae.export.run_tflite(tflite, "classify", x=x)["probabilities"],
                               model.predict_proba(x), atol=1e-4)
    condition = np.eye(10, dtype="float32")[[0, 3, 5, 9]]
    np.testing.assert_allclose(kerasae.export.run_tflite(tflite, "decode", z=z, condition=condition)["reconstruction"],
                               model.generate([0, 3, 5, 9], z=z), atol=1e-4)


def test_bad_inputs_exit_2_with_one_line(m2_run, tmp_path, capsys):
    out = tmp_path / "bad"
    for argv, message in (
        (["--m1", str(m2_run)], "is a 'm2' run (class M2); M1+M2 needs the run of an unconditional VAE"),
        (["--m1", str(tmp_path / "nothing")], "is not a run folder"),
        (["--m1", str(m2_run), "--architecture", "conv"], "--architecture: with --m1, M2's networks are MLPs"),
        (["--loss", "bce"], "--loss does not apply"),
        (["--likelihood", "categorical"], "invalid choice: 'categorical'"),
    ):
        assert cli.main(["train", "m2", "--out", str(out), *SMALL, *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert not out.exists()


def test_the_cli_knows_m2_s_likelihoods():
    assert m2_cli.LIKELIHOODS == m2_model.LIKELIHOODS
    assert m2_cli.ALPHA == inspect.signature(M2.__init__).parameters["alpha"].default
