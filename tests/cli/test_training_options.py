"""``kerasae train``'s training options: ``--schedule``, ``--early-stopping``, ``--tensorboard`` and the per-epoch
log ``history.csv`` every run folder holds."""

import argparse
import csv
import json

import keras
import pytest

from kerasae import schedules
from kerasae.cli import main as cli
from kerasae.cli import registry
from kerasae.cli import train as train_command


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_schedule_log_and_tensorboard(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    out, board = tmp_path / "run", tmp_path / "board"
    assert cli.main(["train", "vae", "--epochs", "3", "--batch-size", "64", "--learning-rate", "1e-2",
                     "--schedule", "burda", "--tensorboard", str(board), "--out", str(out), "--verbose", "0"]) == 0
    rows = _rows(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert {"loss", "elbo", "val_elbo", "learning_rate", "epoch_seconds", "cpu_seconds"} <= set(rows[0])
    # The logged rate is the schedule's at the end of each epoch (the compressed staircase over 3 epochs).
    steps = len(train_command.models()["vae"].make_pipeline(None, _digits(), "train", 64))
    schedule = schedules.BurdaSchedule(1e-2, steps_per_epoch=steps, epochs=3)
    for epoch, row in enumerate(rows):
        assert float(row["learning_rate"]) == pytest.approx(float(schedule((epoch + 1) * steps)), rel=1e-5)
    assert all(float(r["epoch_seconds"]) > 0 for r in rows)

    images = event_accumulator.EventAccumulator(str(board / "images"), size_guidance={"images": 0})
    images.Reload()
    assert {"reconstructions", "samples"} <= set(images.Tags()["tensors"] + images.Tags()["images"])
    scalars = event_accumulator.EventAccumulator(str(board / "train"))
    scalars.Reload()
    tags = set(scalars.Tags()["tensors"] + scalars.Tags()["scalars"])
    assert {"epoch_elbo", "epoch_kl", "epoch_learning_rate"} <= tags, tags


def _digits():
    from kerasae.data import datasets

    return datasets.load("digits", validation_split=0.1, binarize="dynamic")


def _args(**overrides):
    entry = registry.models()["vae"]
    return argparse.Namespace(**{**registry.option_defaults(entry), **overrides}), entry


@pytest.mark.parametrize("model, monitor, mode", [("vae", "val_elbo", "max"), ("autoencoder", "val_loss", "min")])
def test_early_stopping_watches_the_validation_elbo(model, monitor, mode, tmp_path):
    entry = registry.models()[model]
    args = argparse.Namespace(**{**registry.option_defaults(entry), "early_stopping": 4, "model": model})
    data = _digits()
    built = entry.build(args, data)
    found = train_command.training_callbacks(entry, built, data, args, str(tmp_path / "log.csv"))
    stopping = [c for c in found if isinstance(c, keras.callbacks.EarlyStopping)]
    assert len(stopping) == 1
    assert (stopping[0].monitor, stopping[0].patience, stopping[0].restore_best_weights) == (monitor, 4, True)
    assert stopping[0].mode == mode


def test_early_stopping_without_validation_data_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "vae", "--epochs", "2", "--validation-split", "0", "--early-stopping", "3",
                     "--out", str(out), "--verbose", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--early-stopping watches the validation split" in err and len(err.splitlines()) == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_tensorboard_path_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "board"
    target.write_text("mine")
    assert cli.main(["train", "vae", "--epochs", "1", "--tensorboard", str(target), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a file; expected a folder" in err and len(err.splitlines()) == 1
    assert target.read_text() == "mine"


def test_resume_refuses_other_epochs_under_a_schedule(tmp_path):
    from kerasae.utils import files

    entry = registry.models()["vae"]
    recorded = argparse.Namespace(**{**registry.option_defaults(entry), "model": "vae", "schedule": "burda",
                                     "epochs": 30})
    backup = tmp_path / ".run.backup"
    backup.mkdir()
    files.write_marker(str(backup), "backup", config=train_command.run_config(recorded))
    (backup / "training_metadata.json").write_text('{"epoch": 5}')
    longer = argparse.Namespace(**{**vars(recorded), "epochs": 60})
    with pytest.raises(ValueError, match=r"runs its --schedule burda over 30 epochs; this run's would span 60"):
        train_command.check_resume(longer, str(backup))
    # The same schedule over longer training: its last rate holds past epoch 30.
    assert train_command.check_resume(argparse.Namespace(**{**vars(longer), "schedule_epochs": 30}), str(backup)) == 5
    assert train_command.check_resume(recorded, str(backup)) == 5
    constant = argparse.Namespace(**{**vars(recorded), "schedule": "constant"})
    files.write_marker(str(backup), "backup", config=train_command.run_config(constant))
    assert train_command.check_resume(argparse.Namespace(**{**vars(constant), "epochs": 60}), str(backup)) == 5


def test_resume_takes_a_backup_written_before_an_option_existed(tmp_path):
    """An option added to kerasae since the backup was written, left unset now, is no difference; set, it is."""
    from kerasae.utils import files

    entry = registry.models()["vae"]
    current = argparse.Namespace(**{**registry.option_defaults(entry), "model": "vae", "epochs": 30})
    older = {k: v for k, v in train_command.run_config(current).items() if k != "normal_class"}
    backup = tmp_path / ".run.backup"
    backup.mkdir()
    files.write_marker(str(backup), "backup", config=older)
    (backup / "training_metadata.json").write_text('{"epoch": 5}')
    assert train_command.check_resume(current, str(backup)) == 5
    with pytest.raises(ValueError, match=r"normal_class was '\(not set\)', now 3"):
        train_command.check_resume(argparse.Namespace(**{**vars(current), "normal_class": 3}), str(backup))


def test_resume_trains_a_finished_run_on(tmp_path, capsys):
    """``--resume`` with a larger ``--epochs`` continues a finished run: its weights, optimizer state (the schedule
    goes on from its step) and per-epoch log; a schedule keeps its span with ``--schedule-epochs``."""
    out = tmp_path / "run"
    base = ["train", "vae", "--batch-size", "64", "--learning-rate", "1e-2", "--schedule", "cosine", "--out",
            str(out), "--verbose", "0"]
    assert cli.main(base + ["--epochs", "2"]) == 0
    first = (out / "model.keras").read_bytes()
    # Five epochs would stretch the cosine over five: refused, nothing touched.
    assert cli.main(base + ["--epochs", "5", "--resume"]) == 2
    assert "runs its --schedule cosine over 2 epochs; this run's would span 5" in capsys.readouterr().err
    assert (out / "model.keras").read_bytes() == first and sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert cli.main(base + ["--epochs", "4", "--schedule-epochs", "2", "--resume"]) == 0
    assert "Resuming from epoch 2 of 4" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["initial_epoch"] == 2 and len(metrics["history"]["loss"]) == 2
    assert [int(r["epoch"]) for r in _rows(out / "history.csv")] == [0, 1, 2, 3]
    steps = len(train_command.models()["vae"].make_pipeline(None, _digits(), "train", 64))
    model = keras.saving.load_model(out / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 4 * steps
    # Past its two epochs the cosine holds its last rate (1% of the initial one).
    assert [float(r) for r in metrics["history"]["learning_rate"]] == pytest.approx([1e-4, 1e-4], rel=1e-4)
    assert not (tmp_path / ".run.backup").exists()


def test_resume_of_a_finished_run_with_other_options(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "autoencoder", "--batch-size", "64", "--out", str(out), "--verbose", "0", "--resume"]
    assert cli.main(base + ["--epochs", "2"]) == 0
    first = (out / "model.keras").read_bytes()
    assert cli.main(base + ["--epochs", "3", "--latent-dim", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "the finished run" in err and "latent_dim was 8, now 4" in err and len(err.splitlines()) == 1
    assert cli.main(base + ["--epochs", "2"]) == 2
    assert "has trained 2 epochs, so --epochs 2 leaves none" in capsys.readouterr().err
    assert (out / "model.keras").read_bytes() == first
    # --overwrite replaces a run it cannot continue: trained afresh.
    assert cli.main(base + ["--epochs", "3", "--latent-dim", "4", "--overwrite"]) == 0
    assert json.loads((out / "metrics.json").read_text())["initial_epoch"] == 0


def test_schedule_epochs_needs_a_schedule(tmp_path, capsys):
    assert cli.main(["train", "vae", "--schedule-epochs", "3", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--schedule-epochs 3 sets how long a --schedule runs" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_an_error_after_training_keeps_the_trained_model(tmp_path, monkeypatch, capsys):
    """With --resume the backup outlives training until the run folder is written: an error in the evaluation or
    the plots loses nothing, and the same command then writes the run without training again."""
    out = tmp_path / "run"
    argv = ["train", "autoencoder", "--epochs", "3", "--out", str(out), "--verbose", "0", "--resume"]

    def broken(*args, **kwargs):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(train_command, "standard_plots", broken)
    with pytest.raises(RuntimeError, match="plotting failed"):
        cli.main(argv)
    backup = tmp_path / ".run.backup"
    assert not out.exists() and train_command.resume_epoch(str(backup)) == 3
    monkeypatch.undo()
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert "Training finished in" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["initial_epoch"] == 3 and not metrics["history"].get("loss")
    assert [int(r["epoch"]) for r in _rows(out / "history.csv")] == [0, 1, 2]
    assert not backup.exists()
