"""One-class anomaly detection, the standard protocol (issue 20): train on one class only, score the whole
test set (that class normal, the others anomalous); ``kerasae train --normal-class`` and ``kerasae evaluate
--anomaly``. Bad option combinations are in tests/cli/test_bad_inputs.py."""

import json

import numpy as np
import pytest

import kerasae
from kerasae import anomaly
from kerasae.cli import evaluate as evaluate_command
from kerasae.cli import main as cli
from kerasae.cli.runs import load_data, load_run
from kerasae.cli.registry import models
from kerasae.data import classes
from helpers import compile_model, small_mlp


@pytest.fixture(scope="module")
def digits_val():
    return kerasae.datasets.load("digits", validation_split=0.2)


def test_keep_class_keeps_one_class_for_training_and_the_whole_test_split(digits_val):
    data = digits_val
    zeros = classes.keep_class(data, 0)
    assert set(zeros.y_train.tolist()) == {0} and set(zeros.y_val.tolist()) == {0}
    assert len(zeros.x_train) == np.sum(data.y_train == 0) and len(zeros.x_val) == np.sum(data.y_val == 0) > 0
    np.testing.assert_array_equal(zeros.x_train, data.x_train[data.y_train == 0])
    np.testing.assert_array_equal(zeros.x_test, data.x_test)  # every class, for the protocol's test
    assert len(data.x_train) > len(zeros.x_train)  # the loaded data set is left as it was
    np.testing.assert_array_equal(classes.anomalous(data.y_test, 0), data.y_test != 0)


def test_keep_class_refuses_a_class_the_protocol_cannot_use(digits_val, tmp_path):
    with pytest.raises(ValueError, match=r"normal_class 10 does not occur in the training labels .* Fix"):
        classes.keep_class(digits_val, 10)
    with pytest.raises(ValueError, match="class index"):
        classes.keep_class(digits_val, -1)
    with pytest.raises(ValueError, match="class index"):
        classes.keep_class(digits_val, 1.5)
    rng = np.random.default_rng(0)
    x = rng.random((40, 4)).astype("float32")
    np.savez(tmp_path / "nolabels.npz", x=x)
    with pytest.raises(ValueError, match="needs labels"):
        classes.keep_class(kerasae.datasets.load(str(tmp_path / "nolabels.npz")), 0)
    # Class 1 occurs in training only: no test example of the normal class to score.
    np.savez(tmp_path / "train_only.npz", x_train=x, y_train=np.arange(40) % 2, x_test=x[:6], y_test=np.zeros(6, "int64"))
    one_sided = kerasae.datasets.load(str(tmp_path / "train_only.npz"))
    with pytest.raises(ValueError, match="no test example of class 1"):
        classes.keep_class(one_sided, 1)
    with pytest.raises(ValueError, match="only test examples of class 0"):
        classes.keep_class(one_sided, 0)


def test_an_autoencoder_trained_on_one_digit_detects_the_others(digits_val):
    import keras

    data = classes.keep_class(digits_val, 0)
    keras.utils.set_random_seed(0)
    encoder, decoder = small_mlp(latent_dim=4, hidden_units=(32,))
    model = compile_model(kerasae.Autoencoder(encoder, decoder), learning_rate=1e-2)
    model.fit(data.x_train, epochs=15, batch_size=32, verbose=0)
    is_anomalous = classes.anomalous(data.y_test, 0)
    report = anomaly.one_class_report(model, data.x_test, is_anomalous, x_reference=data.x_val, quantile=0.9)
    assert report["score"] == "reconstruction" and report["auc"] == report["auc_reconstruction"]
    assert report["auc"] >= 0.9
    assert report["num_normal"] == np.sum(data.y_test == 0) and report["num_anomalous"] == np.sum(data.y_test != 0)
    scores = anomaly.anomaly_score(model, data.x_test)
    assert report["auc"] == pytest.approx(anomaly.roc_auc(scores[~is_anomalous], scores[is_anomalous]))
    assert report["threshold"] == pytest.approx(np.quantile(anomaly.anomaly_score(model, data.x_val), 0.9))
    with pytest.raises(ValueError, match="no anomalous example"):
        anomaly.one_class_report(model, data.x_test[:5], np.zeros(5, bool))
    with pytest.raises(ValueError, match="one is_anomalous flag per example"):
        anomaly.one_class_report(model, data.x_test[:5], np.ones(4, bool))
    with pytest.raises(ValueError, match="boolean"):
        anomaly.one_class_report(model, data.x_test[:5], np.arange(5))


def test_a_vae_reports_likelihood_elbo_and_reconstruction(digits):
    vae = kerasae.VAE.create((64,), 4, hidden_units=(16,), seed=0)
    x, is_anomalous = digits.x_test[:40], digits.y_test[:40] != 3
    report = anomaly.one_class_report(vae, x, is_anomalous, num_samples=4, seed=1)
    assert report["score"] == "likelihood"
    assert set(report) >= {"auc_likelihood", "auc_elbo", "auc_reconstruction"}
    assert report["auc"] == report["auc_likelihood"]
    only_elbo = anomaly.one_class_report(vae, x, is_anomalous, methods=("elbo",), num_samples=4, seed=1)
    assert only_elbo["score"] == "elbo" and only_elbo["auc"] == report["auc_elbo"]


# ------------------------------------------------------------------------------------------ command line
def _train(tmp_path, model="autoencoder", *extra):
    out = tmp_path / model
    argv = ["train", model, "--normal-class", "0", "--latent-dim", "4", "--hidden-units", "32", "--out", str(out),
            "--verbose", "0", "--seed", "0", *extra]
    assert cli.main(argv) == 0
    return out


def test_normal_class_trains_on_that_class_only():
    """The run's data, as train, evaluate and export load it."""
    args = cli.build_parser().parse_args(["train", "autoencoder", "--normal-class", "3", "--validation-split", "0.2"])
    data = load_data(args, models()["autoencoder"])
    assert set(data.y_train.tolist()) == {3} and set(data.y_val.tolist()) == {3}
    assert set(data.y_test.tolist()) == set(range(10))
    plain = load_data(cli.build_parser().parse_args(["train", "autoencoder"]), models()["autoencoder"])
    assert set(plain.y_train.tolist()) == set(range(10))


def test_evaluate_anomaly_scores_the_whole_test_set_and_writes_the_auc(tmp_path, capsys):
    out = _train(tmp_path, "autoencoder", "--epochs", "10", "--learning-rate", "1e-2", "--batch-size", "32")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["normal_class"] == 0 and "anomaly" not in metrics
    capsys.readouterr()
    assert cli.main(["evaluate", str(out), "--anomaly"]) == 0
    printed = capsys.readouterr().out
    assert "anomaly_auc:" in printed and "anomaly_protocol: one-class" in printed
    report = json.loads((out / "metrics.json").read_text())["anomaly"]
    y_test = kerasae.datasets.load("digits", validation_split=0.1).y_test
    assert report["protocol"] == "one-class" and report["normal_class"] == 0 and report["score"] == "combined"
    assert (report["num_normal"], report["num_anomalous"]) == (np.sum(y_test == 0), np.sum(y_test != 0))
    assert report["auc"] == report["auc_combined"] >= 0.9 and report["auc_reconstruction"] >= 0.9
    # The combined score of the run's model and data: neighbours from the training zeros, standardised on the
    # validation zeros, the digits' 8x8 residuals smoothed.
    model, config, entry = load_run(str(out))
    data = load_data(config, entry)
    combined = anomaly.CombinedScore(model, image_shape=(8, 8, 1)).fit(data.x_train, data.x_val).score(data.x_test)
    normal = data.y_test == 0
    assert report["auc"] == pytest.approx(anomaly.roc_auc(combined[normal], combined[~normal]))
    assert json.loads((out / "metrics.json").read_text())["config"]["normal_class"] == 0  # the rest is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autoencoder"]  # no lock or temporary file left


def test_evaluate_anomaly_of_a_one_class_vae_has_each_score(tmp_path):
    out = _train(tmp_path, "vae", "--epochs", "1", "--nll-samples", "2")
    args = cli.build_parser().parse_args(["evaluate", str(out), "--anomaly", "--anomaly-samples", "4", "--nll-samples", "2"])
    results = evaluate_command.evaluate(args)
    report = json.loads((out / "metrics.json").read_text())["anomaly"]
    assert report["score"] == "combined" and report["samples"] == 4
    for score in ("combined", "likelihood", "elbo", "reconstruction"):
        assert 0.0 <= report[f"auc_{score}"] <= 1.0
        assert results[f"anomaly_auc_{score}"] == report[f"auc_{score}"]
