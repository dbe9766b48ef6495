"""The quality gate of quantised artifacts (issue 21, item 1): the figures against their formulas, the gate's
refusals (one line, nothing written), int16x8 encoder and decoder files of a VAE, and the CLI's limits."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasae import export as ex
from kerasae.cli import main as cli
from kerasae.export import quality
from kerasae.models.autoencoder import ExportSignature
from helpers import one_line, snapshot, trained_vae

LATENT = 4


# ============================================================================================ the figures
def _signature(fn, *names):
    return ExportSignature(fn, tuple(tf.TensorSpec((None, 3), tf.float32, name=name) for name in names))


class _Bernoulli:
    """A stand-in model declaring a Bernoulli likelihood (as the VAE does)."""

    @staticmethod
    def reconstruction_log_likelihood(x, mean):
        p = np.clip(mean, 1e-6, 1 - 1e-6)
        return np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)


X = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], "float32")
#: Keras: codes 2 x, decode z / 4 + 0.1, reconstruct = decode(encode(x)).
TABLE = {
    "encode": _signature(lambda x: {"code": 2 * x}, "x"),
    "decode": _signature(lambda z: {"reconstruction": z / 4 + 0.1}, "z"),
    "reconstruct": _signature(lambda x: {"reconstruction": x / 2 + 0.1}, "x"),
}


def _artifact(signature, **inputs):
    """An artifact whose codes are off by 0.4 and whose decoder adds 0.05: each part's reconstruction differs."""
    if signature == "encode":
        return {"code": 2 * inputs["x"] + 0.4}
    if signature == "decode":
        return {"reconstruction": inputs["z"] / 4 + 0.15}
    return {"reconstruction": inputs["x"] / 4 + 0.2}  # worse than Keras's: a larger MSE, a lower likelihood


@pytest.mark.parametrize("part, artifact", [
    ("full", X / 4 + 0.2),             # the artifact's reconstruct
    ("encoder", (2 * X + 0.4) / 4 + 0.1),  # Keras's decode of the artifact's codes
    ("decoder", 2 * X / 4 + 0.15),     # the artifact's decode of Keras's codes
])
def test_figures_match_their_formulas(part, artifact):
    keras_rec = X / 2 + 0.1
    report = quality.figures(_Bernoulli(), TABLE, _artifact, part, {"x": X, "condition": None})
    mse, keras_mse = np.mean((artifact - X) ** 2), np.mean((keras_rec - X) ** 2)
    assert report["reconstruction_mse"]["artifact"] == pytest.approx(mse)
    assert report["reconstruction_mse"]["keras"] == pytest.approx(keras_mse)
    assert report["reconstruction_mse"]["change"] == pytest.approx(mse / keras_mse - 1)
    ll = _Bernoulli.reconstruction_log_likelihood
    assert report["log_likelihood"]["change"] == pytest.approx(np.mean(ll(X, keras_rec)) - np.mean(ll(X, artifact)))
    assert report["log_likelihood"]["num_samples"] == 2


def test_a_model_without_a_likelihood_gets_the_mse_alone():
    report = quality.figures(object(), TABLE, _artifact, "full", {"x": X, "condition": None})
    assert set(report) == {"reconstruction_mse"}


def test_gate_names_each_figure_over_its_limit_on_one_line():
    report = quality.figures(_Bernoulli(), TABLE, _artifact, "full", {"x": X, "condition": None})
    limits = quality.tolerances()
    with pytest.raises(ex.ParityError, match=r"'f' loses too much.*reconstruction_mse increase .*%.*limit 5%.*"
                                             r"log_likelihood decrease 0.608 nats.*limit 0 nats.*Fix: for LiteRT use .int16x8.") as err:
        quality.gate(report, {**limits, "log_likelihood": 0.0}, "'f'")
    one_line(err.value)
    quality.gate(report, quality.tolerances({"reconstruction_mse": 10, "log_likelihood": 10}), "'f'")  # passes


def test_tolerances_are_checked():
    with pytest.raises(ValueError, match="quality_tolerance keys in \\['accuracy', 'log_likelihood', 'reconstruction_mse'\\]"):
        quality.tolerances({"mse": 0.1})
    with pytest.raises(ValueError, match="log_likelihood"):
        quality.tolerances({"log_likelihood": -1})


# ============================================================================================ on a trained VAE
@pytest.fixture(scope="module")
def vae(digits):
    keras.utils.set_random_seed(0)
    return trained_vae(digits, LATENT, hidden_units=(32,))


def test_vae_declares_its_bernoulli_log_likelihood(vae, digits):
    x = digits.x_test[:5]
    mean = np.asarray(vae(x))
    p = np.clip(mean, 1e-6, 1 - 1e-6)
    expected = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)
    np.testing.assert_allclose(vae.reconstruction_log_likelihood(x, mean), expected, rtol=1e-5)


def test_int16x8_encoder_and_decoder_pass_with_their_quality(vae, digits, tmp_path):
    results = ex.export(vae, tmp_path, formats="tflite", quantize="int16x8", parts=("encoder", "decoder"),
                        parity_data=digits.x_test, representative_data=digits.x_train, parity_samples=16)
    assert [r.part for r in results] == ["encoder", "decoder"]
    for r in results:
        meta = json.loads(open(r.metadata_path).read())
        assert meta["quantization"] == "int16x8" and meta["weight_scales"] in ("per_tensor", "per_channel")
        figures = meta["quality"]["figures"]
        assert set(figures) == {"reconstruction_mse", "log_likelihood"}
        assert figures["reconstruction_mse"]["num_samples"] == len(digits.x_test)
        assert figures["reconstruction_mse"]["change"] <= 0.05 and figures["log_likelihood"]["change"] <= 1.0
        assert r.quality == meta["quality"]


def test_int16x8_of_the_full_model_is_refused_on_one_line(vae, digits, tmp_path):
    with pytest.raises(ValueError, match="int16x8' makes encoder and decoder files only.*Fix: pass parts") as err:
        ex.export(vae, tmp_path / "out", formats="tflite", quantize="int16x8", parity_data=digits.x_test,
                  representative_data=digits.x_train)
    one_line(err.value)
    assert not os.path.exists(tmp_path / "out")
    # "all" modes of the full model leave int16x8 out
    results = ex.export(vae, tmp_path / "all", formats="tflite", quantize="all", check_parity=False,
                        representative_data=digits.x_train)
    assert [r.quantization for r in results] == ["none", "float16", "dynamic", "int8"]


def test_a_quality_loss_over_the_limit_writes_nothing(vae, digits, tmp_path):
    out = tmp_path / "exported"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    before = snapshot(out)
    with pytest.raises(ex.ParityError, match="'model_int8.tflite' loses too much of the model's quality") as err:
        ex.export(vae, out, formats="tflite", quantize="int8", parity_data=digits.x_test,
                  representative_data=digits.x_train, quality_tolerance={"reconstruction_mse": 0.0,
                                                                         "log_likelihood": 0.0})
    one_line(err.value)
    assert snapshot(out) == before and sorted(os.listdir(tmp_path)) == ["exported"]


# ============================================================================================ CLI
def test_cli_prints_the_quality_and_takes_limits(trained_run, capsys):
    capsys.readouterr()
    assert cli.main(["export", str(trained_run), "--format", "tflite", "--quantize", "dynamic", "--parity-samples",
                     "8", "--quality-tolerance", "reconstruction_mse=0.5", "--out", str(trained_run / "q")]) == 0
    meta = json.loads((trained_run / "q" / "model_dynamic.json").read_text())
    assert meta["quality"]["tolerances"] == {"reconstruction_mse": 0.5, "log_likelihood": 1.0, "accuracy": 0.01}
    change = meta["quality"]["figures"]["reconstruction_mse"]["change"]
    assert f"| MSE {100 * change:+.1f}% |" in capsys.readouterr().out


def test_cli_bad_limit_exits_2_on_one_line(trained_run, capsys):
    before = snapshot(trained_run)
    capsys.readouterr()
    assert cli.main(["export", str(trained_run), "--quality-tolerance", "mse=0.1", "--out", str(trained_run / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "expected FIGURE=LIMIT with FIGURE in reconstruction_mse, log_likelihood, accuracy" in err
    assert snapshot(trained_run) == before
