"""``kerasae train hvae|hiwae``: a run on digits, its export, and the options of the two-layer family."""

import json

import keras
import numpy as np
import tensorflow as tf

from helpers import build_registered
from kerasae.cli import main as cli
from kerasae.models.hvae import HierarchicalIWAE, HierarchicalVAE

SMALL = ["--hidden-units", "32", "--h1-dim", "8", "--top-hidden-units", "16", "--latent-dim", "3"]


def test_train_evaluate_and_export_an_hvae_run(tmp_path, digits):
    out = tmp_path / "run"
    argv = ["train", "hvae", "--epochs", "1", "--batch-size", "128", "--nll-samples", "4", "--validation-split", "0",
            "--out", str(out), "--verbose", "0", *SMALL]
    assert cli.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model_class"] == "HierarchicalVAE" and metrics["config"]["h1_dim"] == 8
    assert {"elbo", "nll", "kl"} <= set(metrics["test"]) and np.isfinite(metrics["test"]["nll"])
    for name in ("model.keras", "samples.png", "reconstructions.png", "interpolation.png"):
        assert (out / name).is_file(), name
    model = keras.models.load_model(out / "model.keras")
    assert isinstance(model, HierarchicalVAE) and model.latent_dims == (8, 3)

    assert cli.main(["export", str(out), "--format", "saved_model", "--parity-samples", "16"]) == 0
    saved = tf.saved_model.load(str(out / "export" / "saved_model")).signatures
    x = (digits.x_test[:5] > 0.5).astype("float32")
    encoded = saved["encode"](x=tf.constant(x))
    np.testing.assert_allclose(encoded["mean"], model.encode_mean(x), atol=1e-5)
    np.testing.assert_allclose(encoded["scale"], model.encode(x).stddev(), atol=1e-5)
    z = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    np.testing.assert_allclose(saved["decode"](z=tf.constant(z))["reconstruction"], model.decode(z), atol=1e-5)
    assert saved["sample"](n=tf.constant(4))["samples"].shape == (4, 64)


def test_hiwae_options_and_refusals(capsys):
    model, _, entry, args = build_registered("hiwae", *SMALL, "--top-hidden-units", "16,12")
    assert isinstance(model, HierarchicalIWAE) and entry.model_class == "HierarchicalIWAE"
    assert model.num_samples == 5 and model.latent_dims == (8, 3)
    assert [int(layer.units) for layer in model.top_encoder.layers if hasattr(layer, "units")] == [16, 12, 6]
    conv, *_ = build_registered("hvae", "--architecture", "conv", "--filters", "4", "--h1-dim", "6")
    assert conv.data_shape == (8, 8, 1) and conv.latent_dims == (6, 4)  # build_registered: --latent-dim 4
    for argv, message in (
        (["--architecture", "conv", "--hidden-units", "32"], "--hidden-units does not apply"),
        (["--beta", "0.5"], "unrecognized arguments: --beta"),  # the IWAE bound has no KL weight
        (["--posterior", "full"], "unrecognized arguments: --posterior"),
    ):
        assert cli.main(["train", "hiwae", "--epochs", "1", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
