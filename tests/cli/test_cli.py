import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kerasae.cli import evaluate as evaluate_command
from kerasae.cli import main as cli
from kerasae.cli import runs


def test_train_writes_every_run_file(tmp_path):
    out = tmp_path / "run"
    cli.main(["train", "autoencoder", "--epochs", "2", "--latent-dim", "2", "--out", str(out), "--verbose", "0"])
    for name in runs.RUN_FILES + ("latent_scatter.png",):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["dataset"] == "digits" and metrics["config"]["latent_dim"] == 2
    assert {"loss", "reconstruction_loss"} <= set(metrics["test"]) and "loss" in metrics["train"]
    assert len(metrics["history"]["loss"]) == 2
    assert os.listdir(tmp_path) == ["run"], "staging or backup folder left behind"

    results = evaluate_command.evaluate(cli.build_parser().parse_args(["evaluate", str(out)]))
    assert results["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-5)


def test_existing_run_is_left_untouched(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert cli.main(["train", "autoencoder", "--epochs", "1", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert os.listdir(out) == ["keep.txt"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "autoencoder", "--latent-dim", "0"], "expected a positive integer, got 0"),
        (["train", "nosuchmodel"], "invalid choice: 'nosuchmodel'"),
        (["train", "autoencoder", "--dataset", "nosuch", "--epochs", "1"], "No data set named 'nosuch'"),
        (["evaluate", "/nonexistent"], "is not a run folder"),
    ],
)
def test_bad_arguments_give_one_line_and_nonzero_exit(argv, message, capsys, tmp_path):
    argv = argv + (["--out", str(tmp_path / "r")] if argv[0] == "train" and "nosuch" in argv[-3:] else [])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "kerasae.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for command in ("train", "evaluate", "export"):
        assert command in result.stdout


@pytest.mark.parametrize("model", sorted(__import__("kerasae.cli.registry", fromlist=["models"]).models()))
def test_every_registered_model_trains_from_the_cli(model, tmp_path):
    out = tmp_path / model
    argv = ["train", model, "--epochs", "1", "--out", str(out), "--verbose", "0", "--batch-size", "128"]
    assert cli.main(argv) == 0
    for name in ("model.keras", "metrics.json", "loss_curves.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["test"]["loss"])
    loaded_results = evaluate_command.evaluate(cli.build_parser().parse_args(["evaluate", str(out), "--nll-samples", "4"]))
    assert np.isfinite(loaded_results["loss"])


def test_holdout_class_and_anomaly_evaluation(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "autoencoder", "--holdout-class", "9", "--epochs", "30", "--hidden-units", "32", "--out", str(out),
            "--verbose", "0"]
    assert cli.main(argv) == 0
    results = evaluate_command.evaluate(cli.build_parser().parse_args(["evaluate", str(out), "--anomaly"]))
    assert results["anomaly_num_anomalous"] == 36  # the test split's nines
    assert results["anomaly_auc"] > 0.65
    assert 0.0 <= results["anomaly_false_positive_rate"] <= 0.1
    assert "anomaly_auc:" in capsys.readouterr().out
    assert cli.main(["evaluate", str(tmp_path / "run"), "--anomaly", "--anomaly-class", "42"]) == 2


def test_the_cli_knows_the_data_set_names():
    """The CLI tells data set names from paths without TensorFlow by ``runs.DATASET_NAMES``. (That each
    registered model builds its ``ModelEntry.model_class`` is checked in tests/test_layout.py.)"""
    from kerasae.data import datasets

    assert runs.DATASET_NAMES == datasets.NAMES


def test_a_model_s_own_defaults_stay_its_own():
    # hvae defaults to Burda et al.'s code size and activation; the other models keep the common defaults.
    parser = cli.build_parser()
    hvae, vae = parser.parse_args(["train", "hvae"]), parser.parse_args(["train", "vae"])
    assert (hvae.latent_dim, hvae.activation) == (50, "tanh")
    assert (vae.latent_dim, vae.activation) == (8, "relu")
    assert parser.parse_args(["train", "hvae", "--activation", "relu"]).activation == "relu"


@pytest.mark.parametrize("options, stage_class", [(["--noise", "masking", "--noise-level", "0.3", "--tied-weights"],
                                                    "DenoisingAutoencoder"),
                                                   (["--contractive-weight", "0.05"], "ContractiveAutoencoder")])
def test_stacked_pretraining_options_build_denoising_or_contractive_stages(options, stage_class, tmp_path):
    import keras

    out = tmp_path / "run"
    argv = ["train", "stacked", "--epochs", "1", "--epochs-per-layer", "1", "--hidden-units", "32", "--latent-dim",
            "8", *options, "--out", str(out), "--verbose", "0"]
    assert cli.main(argv) == 0
    model = keras.saving.load_model(out / "model.keras")
    assert type(model.stage(0)).__name__ == stage_class == type(model.stage(1)).__name__
    assert (model.noise, model.noise_level, model.contractive_weight) == (
        ("masking", 0.3, 0.0) if stage_class == "DenoisingAutoencoder" else (None, 0.25, 0.05))
    assert model.tied_weights == ("--tied-weights" in options)
