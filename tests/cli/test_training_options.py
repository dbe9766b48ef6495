"""``kerasae train``'s training options: ``--schedule``, ``--early-stopping``, ``--tensorboard`` and the per-epoch
log ``history.csv`` every run folder holds."""

import argparse
import csv

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
    with pytest.raises(ValueError, match=r"made with --epochs 30, over which its --schedule burda runs"):
        train_command.check_resume(longer, str(backup))
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
