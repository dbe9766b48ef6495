"""Bad input at the command line (issue 18): one line naming what was wrong and the fix, exit status 2, no
traceback, and nothing existing touched (every file below the test's folder byte-identical, nothing left
behind). Also: two runs of one folder, ``--overwrite`` safety, a stale ``--resume`` backup, relative data
paths and the mode of a run's files."""

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from kerasae.cli import evaluate as evaluate_command
from kerasae.cli import main as cli
from kerasae.cli import runs
from kerasae.cli import train as train_command
from kerasae.utils import files


def _tree(root):
    """Every folder and file below ``root``: content hash and mode of each file, the folders' names."""
    found = {}
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(folder, root)
        found[rel + os.sep] = stat.S_IMODE(os.stat(folder).st_mode)
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.join(rel, name)] = (hashlib.sha256(f.read()).hexdigest(), stat.S_IMODE(os.stat(path).st_mode))
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real run (an autoencoder, one epoch) on a small labelled .npz named by a relative path, and the
    data files the cases use."""
    root = tmp_path_factory.mktemp("trained")
    data = root / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    x = rng.random((150, 16)).astype("float32")
    np.savez(data / "labelled.npz", x=x, y=np.arange(150) % 3)
    np.savez(data / "nolabels.npz", x=x)
    np.save(data / "one.npy", x[:1])
    cwd = os.getcwd()
    os.chdir(data)
    try:
        status = cli.main(["train", "autoencoder", "--dataset", "labelled.npz", "--epochs", "1", "--latent-dim", "2",
                           "--hidden-units", "8", "--batch-size", "32", "--out", str(root / "run"), "--verbose", "0"])
    finally:
        os.chdir(cwd)
    assert status == 0
    return root


# ------------------------------------------------------------------------------------------ case setups
def _metrics(text):
    def setup(case):
        (case.run / "metrics.json").write_text(text)
    return setup


def _config(**changes):
    def setup(case):
        metrics = json.loads((case.run / "metrics.json").read_text())
        metrics["config"].update(changes)
        (case.run / "metrics.json").write_text(json.dumps(metrics))
    return setup


def _unknown_class(case):
    path = case.run / "model.keras"
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    config = json.loads(members["config.json"])
    config.update(class_name="Foo", registered_name="mypackage>Foo", module="mypackage.models")
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)


def _backup(model="autoencoder", epoch=6, marker=True, **options):
    """A --resume backup of RUN as kerasae writes it, for ``kerasae train model --out RUN --resume
    --overwrite --epochs 10`` (with ``options``), interrupted after ``epoch`` epochs."""
    def setup(case):
        backup = case.tmp / ".run.backup"
        backup.mkdir()
        (backup / "training_metadata.json").write_text(json.dumps({"epoch": epoch, "batch": 0}))
        (backup / "latest.weights.h5").write_bytes(b"weights")
        if marker:
            argv = ["train", model, "--out", str(case.run), "--resume", "--overwrite", "--epochs", "10"]
            for key, value in options.items():
                argv += [f"--{key.replace('_', '-')}", str(value)]
            args = cli.build_parser().parse_args(argv)
            files.write_marker(backup, "backup", config=train_command.run_config(args))
    return setup


def _busy(case):
    case.stack.enter_context(files.locked(case.run))


def _read_only(case):
    """The run folder read-only (``os.access`` answers as for a user, also when the tests run as root)."""
    run = str(case.run)
    os.chmod(run, 0o555)
    case.stack.callback(os.chmod, run, 0o755)
    real_access = os.access
    case.monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if (
        os.path.abspath(p) == run and mode & os.W_OK) else real_access(p, mode, **kw))


def _user_file_in_run(case):
    (case.run / "notes.txt").write_text("mine")


def _home(case):
    case.monkeypatch.setenv("HOME", str(case.tmp / "work" / "src"))


def _file_out(case):
    (case.tmp / "file").write_text("a file")


TRAIN = ["train", "autoencoder", "--epochs", "1", "--verbose", "0"]
OVERWRITE = TRAIN + ["--out", "{run}", "--overwrite"]
RESUME = ["--out", "{run}", "--resume", "--overwrite", "--epochs"]

# (id, argv, setup, expected part of the message); {run}: a copy of a real run; {data}: the data files;
# {tmp}: the case's folder; the working directory is {tmp}/work, holding a user's files.
CASES = [
    # row 1: --overwrite replaces only a run folder kerasae wrote, never the working directory and up
    ("overwrite-cwd", TRAIN + ["--out", ".", "--overwrite"], None, "is the working directory; kerasae never replaces it"),
    ("overwrite-parent", TRAIN + ["--out", "..", "--overwrite"], None, "is a parent of the working directory"),
    ("overwrite-root", TRAIN + ["--out", "/", "--overwrite"], None, "is a filesystem root"),
    ("overwrite-home", TRAIN + ["--out", "{tmp}/work/src", "--overwrite"], _home, "is the home folder"),
    ("overwrite-foreign", TRAIN + ["--out", "src", "--overwrite"], None, "is not one (no .kerasae marker; it holds code.py"),
    ("overwrite-user-file", OVERWRITE, _user_file_in_run, "--overwrite would delete notes.txt"),
    ("out-is-a-file", TRAIN + ["--out", "{tmp}/file"], _file_out, "exists and is not a folder"),
    ("existing-run", TRAIN + ["--out", "{run}"], None, "already exists and is not empty. Fix: pass --overwrite"),
    # row 2: a second writer of one folder fails at once
    ("busy", OVERWRITE, _busy, "Another kerasae process is writing the run folder"),
    # row 4: the --resume backup records its run
    ("resume-other-model", ["train", "denoising"] + RESUME + ["10"], _backup(), "is of another run (model was 'autoencoder', now 'denoising'). Fix: rerun with the backed-up options"),
    ("resume-latent-dim", ["train", "autoencoder", "--latent-dim", "4"] + RESUME + ["10"], _backup(), "latent_dim was 8, now 4"),
    ("resume-epochs", ["train", "autoencoder"] + RESUME + ["3"], _backup(), "has completed 6 epochs, so --epochs 3"),
    ("resume-foreign-backup", ["train", "autoencoder"] + RESUME + ["10"], _backup(marker=False), "holds no kerasae record"),
    # row 8: data without labels
    ("cvae-no-labels", ["train", "cvae", "--dataset", "{data}/nolabels.npz"] + OVERWRITE[2:], None, "(cvae) is conditioned on labels"),
    ("semi-supervised-no-labels", ["train", "semi-supervised", "--dataset", "{data}/nolabels.npz"] + OVERWRITE[2:], None,
     "semi-supervised model needs labels"),
    ("holdout-no-labels", OVERWRITE + ["--dataset", "{data}/nolabels.npz", "--holdout-class", "1"], None, "--holdout-class needs labels"),
    ("one-sample", OVERWRITE + ["--dataset", "{data}/one.npy"], None, None),
    # issue 20: one-class training (--normal-class) and its evaluation
    ("normal-and-holdout-class", OVERWRITE + ["--normal-class", "1", "--holdout-class", "2"], None,
     "--normal-class 1 and --holdout-class 2 are two anomaly settings"),
    ("normal-class-not-in-data", OVERWRITE + ["--dataset", "{data}/labelled.npz", "--normal-class", "7"], None,
     "--normal-class 7 does not occur in the training labels"),
    ("normal-class-no-labels", OVERWRITE + ["--dataset", "{data}/nolabels.npz", "--normal-class", "1"], None,
     "--normal-class needs labels"),
    ("normal-class-negative", TRAIN + ["--normal-class", "-1"], None, "--normal-class: expected a class index"),
    ("normal-class-for-cvae", ["train", "cvae", "--normal-class", "1"] + OVERWRITE[2:], None,
     "--normal-class does not apply to 'kerasae train cvae'"),
    ("anomaly-without-normal-class", ["evaluate", "{run}", "--anomaly"], None, "was trained with neither"),
    ("anomaly-class-of-one-class-run", ["evaluate", "{run}", "--anomaly", "--anomaly-class", "1"], _config(normal_class=0),
     "--anomaly-class does not apply"),
    ("anomaly-recorded-class-gone", ["evaluate", "{run}", "--anomaly"], _config(normal_class=7),
     "--normal-class 7 does not occur in the training labels"),
    ("anomaly-samples-without-anomaly", ["evaluate", "{run}", "--anomaly-samples", "5"], None,
     "--anomaly-samples applies to an --anomaly evaluation"),
    # row 8: evaluate a damaged or mismatched run
    ("metrics-not-json", ["evaluate", "{run}"], _metrics("{not json"), "metrics.json is not a kerasae run's metrics (not JSON"),
    ("metrics-a-list", ["evaluate", "{run}"], _metrics("[1, 2]"), "(a JSON list, expected an object)"),
    ("metrics-no-config", ["evaluate", "{run}"], _metrics('{"test": {}}'), "(no 'config' object)"),
    ("metrics-config-not-object", ["evaluate", "{run}"], _metrics('{"config": 3}'), "('config' is not an object but 3)"),
    ("metrics-no-model", ["evaluate", "{run}"], _metrics('{"config": {"dataset": "digits"}}'), "names no model"),
    ("metrics-bad-value", ["evaluate", "{run}"], _config(latent_dim="eight"), "config does not parse: argument --latent-dim"),
    ("metrics-unknown-model", ["evaluate", "{run}"], _config(model="nosuch"), "model 'nosuch', which this kerasae does not know"),
    ("model-class-mismatch", ["evaluate", "{run}"], _config(model="vae"), "holds a model of class Autoencoder, but"),
    # row 9: refused before training, not after it
    ("nll-samples-negative", ["train", "vae", "--nll-samples", "-5"], None, "--nll-samples: expected a positive integer, got -5"),
    ("nll-samples-zero", ["train", "vae", "--nll-samples", "0"], None, "--nll-samples: expected a positive integer, got 0"),
    ("evaluate-nll-samples-zero", ["evaluate", "{run}", "--nll-samples", "0"], None, "expected a positive integer, got 0"),
    ("overwrite-read-only", OVERWRITE, _read_only, "cannot be replaced: {run} is read-only"),
    # row 13: values and options checked as given
    ("kl-warmup-negative", ["train", "vae", "--kl-warmup", "-3"], None, "--kl-warmup: expected a number >= 0, got -3"),
    ("seed-negative", ["train", "autoencoder", "--seed", "-1"], None, "--seed: expected an integer in [0, 4294967295], got -1"),
    ("unknown-class", ["evaluate", "{run}"], _unknown_class, "uses class 'Foo' (from module 'mypackage.models'), which is not a registered"),
    ("loss-for-vae", ["train", "vae", "--loss", "bce"], None, "--loss does not apply to 'kerasae train vae'"),
    ("filters-for-mlp", ["train", "autoencoder", "--filters", "8"], None, "--filters does not apply"),
    ("hidden-units-for-conv", ["train", "autoencoder", "--architecture", "conv", "--hidden-units", "8"], None,
     "--hidden-units does not apply"),
    ("hidden-units-for-linear", ["train", "linear", "--hidden-units", "8"], None, "affine maps, with no hidden layers"),
    ("num-bins-for-bernoulli", ["train", "vae", "--num-bins", "8"], None, "--num-bins does not apply"),
    ("noise-level-without-noise", ["train", "stacked", "--noise-level", "0.1"], None,
     "--noise-level does not apply to 'kerasae train stacked' (--noise-level: it sets the rate of --noise"),
    ("stacked-noise-and-contraction", ["train", "stacked", "--noise", "masking", "--contractive-weight", "0.1"], None,
     "Expected one pre-training regulariser"),
]


class _Case:
    def __init__(self, tmp, run, data, stack, monkeypatch):
        self.tmp, self.run, self.data, self.stack, self.monkeypatch = tmp, run, data, stack, monkeypatch


@pytest.mark.parametrize("argv, setup, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_touches_nothing(argv, setup, message, trained, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "code.py").write_text("print('mine')\n")
    (work / "mydata.npy").write_bytes(b"not kerasae's")
    monkeypatch.chdir(work)
    names = {"run": str(run), "data": str(trained / "data"), "tmp": str(tmp_path)}
    with contextlib.ExitStack() as stack:
        if setup is not None:
            setup(_Case(tmp_path, run, trained / "data", stack, monkeypatch))
        before = _tree(tmp_path)
        status = cli.main([a.format(**names) for a in argv])
        err = capsys.readouterr().err.strip()
        assert status == 2, err
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
        if message is not None:
            assert message.format(**names) in err
        assert message is None or "Fix:" in err or "--help" in err, err
        assert _tree(tmp_path) == before, "a failed command changed or left files"


# ------------------------------------------------------------------------------------------ --overwrite, backups
def test_overwrite_replaces_a_kerasae_run_and_a_stale_backup(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    _backup(epoch=3)(_Case(tmp_path, run, None, None, None))
    (run / "export").mkdir()  # a kerasae export inside the run goes with it
    files.write_marker(run / "export", "export")
    old = (run / "model.keras").read_bytes()
    argv = ["train", "autoencoder", "--dataset", str(trained / "data" / "labelled.npz"), "--epochs", "1",
            "--batch-size", "32", "--out", str(run), "--overwrite", "--verbose", "0"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert (run / "model.keras").read_bytes() != old
    assert files.is_kerasae_folder(run, "run") and not files.foreign_entries(run)
    assert sorted(os.listdir(tmp_path)) == ["run"], "the stale backup, a lock or a staging folder is left"


def test_a_backup_kerasae_did_not_write_is_left_alone(tmp_path):
    backup = tmp_path / ".run.backup"
    backup.mkdir()
    (backup / "mine.txt").write_text("mine")
    train_command._remove_stale_backup(str(backup))
    assert (backup / "mine.txt").read_text() == "mine"


# ------------------------------------------------------------------------------------------ run files
def test_dataset_path_is_recorded_absolute_and_evaluates_from_elsewhere(trained, monkeypatch):
    config = json.loads((trained / "run" / "metrics.json").read_text())["config"]
    assert config["dataset"] == str(trained / "data" / "labelled.npz")
    monkeypatch.chdir(trained)
    results = evaluate_command.evaluate(cli.build_parser().parse_args(["evaluate", str(trained / "run")]))
    assert np.isfinite(results["loss"])


def test_run_files_have_the_umask_mode(trained):
    umask = os.umask(0)
    os.umask(umask)
    run = trained / "run"
    pngs = sorted(p for p in os.listdir(run) if p.endswith(".png"))
    assert {"reconstructions.png", "loss_curves.png", "latent_scatter.png"} <= set(pngs)
    for name in pngs + ["metrics.json", "model.keras", files.MARKER]:
        assert stat.S_IMODE(os.stat(run / name).st_mode) == 0o666 & ~umask, name
    assert stat.S_IMODE(os.stat(run).st_mode) == 0o777 & ~umask
    marker = files.read_marker(run)
    assert marker["kind"] == "run" and sorted(marker["files"]) == sorted(os.listdir(run))


# ------------------------------------------------------------------------------------------ concurrency
def test_two_runs_of_one_folder_do_not_mix(tmp_path):
    """The issue's case: a second ``train`` of the same --out while the first runs fails at once; the first
    publishes one complete run."""
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "kerasae", "train", "autoencoder", "--epochs", "2", "--batch-size", "8",
            "--out", str(out), "--overwrite", "--verbose", "0"]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and first.poll() is None and not (tmp_path / ".run.lock").exists():
            time.sleep(0.02)
        assert first.poll() is None, "the first run ended before the second could start"
        second = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        _, first_err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, first_err[-2000:]
    err = second.stderr.strip()
    assert second.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"Another kerasae process is writing the run folder {out}" in err and "Fix:" in err
    for name in runs.RUN_FILES + (files.MARKER,):
        assert (out / name).is_file(), name
    assert not files.foreign_entries(out)
    assert sorted(os.listdir(tmp_path)) == ["run"], "a lock or staging folder is left"


def test_zero_nll_samples_is_an_error_not_the_default():
    import argparse

    from kerasae.cli.families import vae

    with pytest.raises(ValueError, match="Expected nll_samples to be a positive integer. Received: nll_samples=0"):
        vae.evaluate(None, None, argparse.Namespace(nll_samples=0))
