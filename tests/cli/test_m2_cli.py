"""``kerasae train m2 [--m1 VAE_RUN | --m1-epochs N]``: a run on digits, its export (SavedModel and TFLite, parity
checked), M1+M2 from a VAE run and in one command, and the refusals."""

import csv
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
from kerasae.models import m2_parts
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
    assert cli.main(["train", "m2", "--m1", str(m1), "--latent-dim", "3", "--m1-samples", "--out", str(out),
                     *SMALL[4:]]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["m1"] == str(m1) and np.isfinite(metrics["test"]["loss"])
    model = keras.models.load_model(out / "model.keras")
    vae = keras.models.load_model(m1 / "model.keras")
    assert isinstance(model.m1, kerasae.VAE) and model.likelihood == "gaussian_learned" and model.m1_samples
    units = m2_parts.active_units(vae, digits.x_train)  # M2 models M1's active units (authors' code)
    assert model.m1_units in (units, None) and model.feature_shape == (len(units),)
    assert model.latent_dim == 3 and model.data_shape == (64,)
    np.testing.assert_allclose(model.features(digits.x_test[:8]), vae.encode_mean(digits.x_test[:8])[:, units],
                               atol=1e-5)
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


def test_m1_m2_in_one_command_trains_m1_then_m2_into_one_run(tmp_path, digits, capsys):
    out = tmp_path / "m1m2"
    assert cli.main(["train", "m2", "--m1-epochs", "2", "--m1-latent-dim", "5", "--m1-hidden-units", "16",
                     "--latent-dim", "3", "--out", str(out), *SMALL[4:], "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"M1: a VAE (5-dimensional code) on the {len(digits.x_train)} training examples" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m1m2"]  # one run folder, nothing beside it
    metrics = json.loads((out / "metrics.json").read_text())
    config, test, m1 = metrics["config"], metrics["test"], json.loads((out / "m1.json").read_text())
    assert (config["m1"], config["m1_epochs"], config["m1_latent_dim"], config["m1_hidden_units"]) == (None, 2, 5, [16])
    assert m1["m1_epochs"] == 2 and test["m1_elbo"] == m1["m1_elbo"] < 0 and m1["m1_train_elbo"] < 0
    assert f"M2 models {m1['m1_active_units']} of M1's 5 code units" in printed
    assert m1["m1_train_seconds"] > 0 and m1["m1_cpu_seconds"] > 0 and np.isfinite(test["loss"])
    assert [k for k in test if k.startswith("m1_")] == ["m1_elbo"]  # the test figures only: training facts in m1.json
    assert len(metrics["history"]["loss"]) == 2
    with open(out / "m1_history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"] and float(rows[-1]["elbo"]) == pytest.approx(m1["m1_train_elbo"])
    model = keras.models.load_model(out / "model.keras")
    assert isinstance(model.m1, kerasae.VAE) and not model.m1.trainable and model.likelihood == "gaussian_learned"
    assert not model.m1_samples  # the posterior means by default; --m1-samples for the authors' draws
    units = model.m1_units or tuple(range(5))
    assert model.feature_shape == (m1["m1_active_units"],) == (len(units),) and model.latent_dim == 3
    assert model.data_shape == (64,)
    np.testing.assert_allclose(model.features(digits.x_test[:8]), model.m1.encode_mean(digits.x_test[:8])[:, units],
                               atol=1e-6)
    assert model.generate(np.arange(10), seed=0).shape == (10, 64)
    assert cli.main(["evaluate", str(out)]) == 0
    assert "accuracy:" in capsys.readouterr().out


def test_bad_inputs_exit_2_with_one_line(m2_run, tmp_path, capsys):
    out = tmp_path / "bad"
    for argv, message in (
        (["--m1", str(m2_run)], "is a 'm2' run (class M2); M1+M2 needs the run of an unconditional VAE"),
        (["--m1", str(tmp_path / "nothing")], "is not a run folder"),
        (["--m1", str(m2_run), "--architecture", "conv"], "--architecture: with --m1, M2's networks are MLPs"),
        (["--loss", "bce"], "--loss does not apply"),
        (["--likelihood", "categorical"], "invalid choice: 'categorical'"),
        # M1+M2 in one command (--m1-epochs): refused before anything is loaded or written
        (["--m1", str(m2_run), "--m1-epochs", "2"], "--m1-epochs does not apply to 'kerasae train m2' (--m1-epochs: "
         "--m1 RUN takes a trained M1, and --m1-epochs (with --m1-latent-dim, --m1-hidden-units) trains one in this "
         "run; expected one of the two). Fix: drop --m1-epochs."),
        (["--m1-latent-dim", "4", "--m1-hidden-units", "8"], "--m1-latent-dim, --m1-hidden-units do not apply"),
        (["--m1-hidden-units", "8"], "and this run trains none: add --m1-epochs N). Fix: drop --m1-hidden-units."),
        (["--m1-samples"], "--m1-samples does not apply to 'kerasae train m2' (--m1-samples: it sets what M2 sees"),
        (["--m1-epochs", "2", "--resume"], "--resume: --m1-epochs trains M1 before M2, and the backup holds M2's"),
        (["--m1-epochs", "2", "--architecture", "conv"], "--architecture: with --m1-epochs, M2's networks are MLPs"),
    ):
        assert cli.main(["train", "m2", "--out", str(out), *SMALL, *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert not any(tmp_path.iterdir()), argv  # no run, staging folder or lock left


def test_the_cli_knows_m2_s_likelihoods():
    assert m2_cli.LIKELIHOODS == m2_model.LIKELIHOODS
    assert m2_cli.ALPHA == inspect.signature(M2.__init__).parameters["alpha"].default
