"""benchmarks/semi_supervised_mnist.py's result file gathers pieces run at different times (the training itself is
replaced by fixed figures): their tables cover every piece, what is missing of the paper's grid is listed, and a
file with other settings is refused untouched."""

import json
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import semi_supervised_mnist as bench  # noqa: E402

ERROR = {"supervised_only": 25.0, "sequential": 20.0, "sequential_head": 30.0, "concurrent": 22.0, "concurrent_head": 24.0, "vae_m1": 12.0, "m2": 11.0, "m1_m2": 4.0}


@pytest.fixture
def fake_training(monkeypatch, tmp_path):
    trained_m1 = []
    monkeypatch.setattr(bench, "BACKUPS", str(tmp_path / "backups"))  # never the repository's runs/

    def semi_supervised(args, data, labels, seed, m1):
        assert (m1 is not None) == bool({"vae_m1", "m1_m2"} & set(args.methods))  # M1 only when a method uses it
        for method in args.methods:
            error = ERROR[method] + seed
            yield method, {"test_accuracy": 1 - error / 100, "error_rate": error, "wall_seconds": 60.0,
                           "cpu_seconds": 90.0}, None

    def train_m1(args, seed):
        trained_m1.append(seed)
        return object(), {"test_elbo": -100.0 - seed, "epochs": args.m1_epochs, "wall_seconds": 600.0,
                          "cpu_seconds": 900.0, "active_units": 20}

    anomaly = {"autoencoder": {"method": "reconstruction", "auc": 0.5, "detection_rate": 0.1, "false_positive_rate": 0.01}}
    monkeypatch.setattr(bench, "semi_supervised", semi_supervised)
    monkeypatch.setattr(bench, "train_m1", train_m1)
    monkeypatch.setattr(bench, "anomaly_detection", lambda args, data, seed: anomaly)
    monkeypatch.setattr(bench.datasets, "load", lambda *args, **kwargs: None)
    return trained_m1


def test_pieces_run_apart_gather_in_one_file(tmp_path, fake_training):
    out = str(tmp_path / "semi.json")
    bench.main(["--labels", "100", "--seeds", "0", "--methods", "supervised_only,m2", "--out", out])
    assert fake_training == []  # neither method needs M1
    bench.main(["--labels", "100", "--seeds", "1", "--methods", "m2,m1_m2,supervised_only", "--out", out])
    assert fake_training == [1]
    with open(out) as f:
        result = json.load(f)
    m2 = result["error_rates"]["100"]["m2"]
    assert m2["errors"] == [11.0, 12.0] and m2["seeds"] == [0, 1] and m2["error_mean"] == pytest.approx(11.5)
    assert result["error_rates"]["100"]["m1_m2"]["errors"] == [5.0]
    assert result["semi_supervised"]["m2"]["test_accuracy"] == pytest.approx(1 - 0.115)
    assert result["command"].count("benchmarks/semi_supervised_mnist.py") == 2
    assert "--methods m2,m1_m2,supervised_only" not in result["command"]  # the command line in METHODS' order
    assert "--methods supervised_only,m2,m1_m2" in result["command"]
    assert "| m2 | 11.50 ± 0.71 (n=2) |" in result["markdown"] and "sequential" not in result["markdown"]
    assert len(result["remaining"]) == 3 * 3 * 6 - 5
    assert {"labels": 100, "seed": 0, "method": "m1_m2"} in result["remaining"]
    assert not [r for r in result["remaining"] if r["method"] in bench.HEAD_METHODS]  # not in the paper's grid
    # a piece run again replaces its runs
    bench.main(["--labels", "100", "--seeds", "0", "--methods", "m2", "--out", out])
    with open(out) as f:
        again = json.load(f)
    assert len(again["runs"]) == len(result["runs"]) and again["error_rates"]["100"]["m2"]["errors"] == [12.0, 11.0]


def test_notes_written_by_hand_survive_a_later_piece_and_reach_results(tmp_path, fake_training):
    from benchmarks import collect, report_sections

    out = tmp_path / "semi.json"
    bench.main(["--labels", "100", "--seeds", "0", "--methods", "m2", "--out", str(out)])
    result = json.loads(out.read_text())
    result["notes"] = "Tried: more epochs of M2"
    out.write_text(json.dumps(result))
    bench.main(["--labels", "100", "--seeds", "1", "--methods", "m2", "--out", str(out)])
    again = json.loads(out.read_text())
    assert again["notes"] == "Tried: more epochs of M2" and again["error_rates"]["100"]["m2"]["seeds"] == [0, 1]
    (entry,) = collect.collect_other_results(str(tmp_path))
    assert "Tried: more epochs of M2" in report_sections.render_others([entry])


def test_a_file_cut_off_before_its_anomaly_detection_still_reaches_results(tmp_path, fake_training, monkeypatch):
    """Every method's run is saved as it finishes; a session ending during the anomaly detection that follows leaves
    a file without it, which the report renders."""
    from benchmarks import collect, report_sections

    def cut_off(args, data, seed):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "anomaly_detection", cut_off)
    out = tmp_path / "semi.json"
    with pytest.raises(KeyboardInterrupt):
        bench.main(["--labels", "100", "--seeds", "0", "--methods", "m2", "--out", str(out)])
    assert json.loads(out.read_text())["anomaly"] is None
    (entry,) = collect.collect_other_results(str(tmp_path))
    assert entry["anomaly_auc"] == {} and "| m2 | 11.00" in "\n".join(report_sections.render_others([entry]))


def test_a_file_with_other_settings_is_refused_untouched(tmp_path, fake_training, capsys):
    out = tmp_path / "semi.json"
    bench.main(["--labels", "100", "--seeds", "0", "--methods", "m2", "--m2-epochs", "20", "--out", str(out)])
    before = out.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--labels", "100", "--seeds", "1", "--methods", "m2", "--m2-epochs", "30", "--out", str(out)])
    assert exit_info.value.code == 2 and out.read_bytes() == before
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "m2_epochs 20, this run 30" in error and "--out NEW.json" in error


def test_unknown_methods_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--methods", "m2,m3"])
    assert exit_info.value.code == 2 and "expected methods of supervised_only" in capsys.readouterr().err


def test_m1_warms_up_its_kl_over_the_given_epochs_and_is_kept_for_later_pieces(tmp_path):
    argv = ["--quick", "--m1-epochs", "1", "--m1-kl-warmup", "3", "--m1-hidden-units", "16", "--m1-latent-dim", "4",
            "--batch-size", "100", "--m1-cache", str(tmp_path)]
    args = bench.parse_args(argv)
    m1, record = bench.train_m1(args, seed=0)
    steps = -(-len(bench.datasets.load("digits", validation_split=1 / 12, seed=0).x_train) // 100)
    assert m1.kl_warmup_steps == 3 * steps and record["epochs"] == 1
    assert "--m1-kl-warmup 3" in bench.command(args) and "--m1-cache" not in bench.command(args)
    assert "--m1-kl-warmup" not in bench.command(bench.parse_args(["--quick"]))  # none: left out of the command

    path = bench.m1_cache_path(args, 0)
    assert os.path.exists(path) and os.path.exists(path + ".json")
    again, same = bench.train_m1(bench.parse_args(argv), seed=0)  # a later piece: the kept M1, not a new one
    assert same == record
    for a, b in zip(m1.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert bench.m1_cache_path(bench.parse_args(argv + ["--m1-epochs", "2"]), 0) != path  # other settings
    assert bench.m1_cache_path(args, 1) != path
    assert bench.m1_cache_path(bench.parse_args(["--quick"]), 0) is None  # the smoke test keeps nothing


def test_preset_of_m1_m2_is_written_only_when_it_meets_its_target(tmp_path, monkeypatch):
    """A run that misses the issue's 5% writes nothing; a real quick run (digits, 3 epochs) at a target it meets
    makes the M1+M2 classifier a preset that passes every preset check, its card holding the run's test error and
    the accuracy on the first 200 test images."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "presets"))
    import preset_checks

    monkeypatch.setattr(bench, "PRESETS", str(tmp_path / "presets"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))  # where its SavedModel is exported on first use
    argv = ["--quick", "--seeds", "0", "--methods", "m1_m2", "--preset", "m1m2-digits", "--out", str(tmp_path / "a.json")]
    assert bench.write_preset(bench.parse_args(argv), None, None, {"error_rate": 5.01}, 0, None) is None  # misses 5%
    assert not (tmp_path / "presets").exists()
    monkeypatch.setitem(bench.TARGETS, "m1_m2", 100.0)
    bench.main(argv)
    (row,) = json.loads((tmp_path / "a.json").read_text())["runs"]
    model, card = preset_checks.check_preset(str(tmp_path / "presets" / "m1m2-digits"), "m1m2-digits")
    assert type(model).__name__ == "M2" and model.m1 is not None
    assert card["saved_model"] == "on_demand"  # M1 inside: one copy of the weights in the repository
    error, accuracy = card["figures"]
    assert error["value"] == row["error_rate"] and error["n_examples"] == 359 and "--preset" not in error["command"]
    assert accuracy["metric"] == "accuracy" and accuracy["n_examples"] == 200
    assert card["training"]["command"] == row["command"]


def test_autoencoder_codes_are_classified_by_label_spreading_and_the_head_variants_stay(monkeypatch):
    """``sequential`` (the autoencoder fitted without labels) and ``concurrent`` (fitted with them): then
    kerasae.LatentLabelSpreading on its codes (M1's classifier); ``sequential_head`` / ``concurrent_head``: their
    softmax head (only when asked for)."""
    import kerasae

    args = bench.parse_args(["--quick", "--methods", "sequential,sequential_head,concurrent,concurrent_head",
                             "--seeds", "0"])
    assert bench.parse_args(["--quick"]).methods == list(bench.GRID_METHODS)
    assert not set(bench.HEAD_METHODS) & set(bench.GRID_METHODS)
    data = kerasae.datasets.load("digits", validation_split=bench.VALIDATION_SPLIT, seed=0)
    models = {name: model for name, row, model in bench.semi_supervised(args, data, 100, 0, None)}
    for name in ("sequential", "concurrent"):
        assert isinstance(models[name], kerasae.LatentLabelSpreading)
        assert models[name].n_neighbors == bench.M1_SPREADING["n_neighbors"]
        assert type(models[name + "_head"]).__name__ == "SemiSupervisedAutoencoder"
    assert models["concurrent"].model.alpha == args.alpha  # the codes of the model fitted with the labels


def test_m2_fits_back_up_every_epoch_resume_where_they_stopped_and_refuse_a_shorter_run(tmp_path, capsys):
    """``--backups``: an M2 fit keeps weights, optimizer state, epoch and minutes; the same piece asked again
    resumes (no epoch trained twice), a larger ``--m2-epochs`` trains it on, fewer epochs than backed up is refused
    before anything runs."""
    import kerasae

    backups = str(tmp_path / "backups")
    data = kerasae.datasets.load("digits", validation_split=bench.VALIDATION_SPLIT, seed=0)

    def fit(epochs):
        args = bench.parse_args(["--quick", "--methods", "m2", "--seeds", "0", "--m2-epochs", str(epochs),
                                 "--backups", backups])
        [(name, row, model)] = list(bench.semi_supervised(args, data, 100, 0, None))
        return args, row, model

    args, first, model = fit(2)
    path = bench.backup_path(args, "m2", 100, 0)
    assert os.path.dirname(path) == backups and "m2-digits-" in path
    done, seconds = bench.backed_up(path)
    assert done == 2 and 0 < seconds["wall_seconds"] <= first["wall_seconds"]
    _, again, restored = fit(2)  # nothing left to train: the backed-up model itself
    assert "resumes from epoch 2 of 2" in capsys.readouterr().out
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert again["error_rate"] == first["error_rate"] and again["wall_seconds"] >= seconds["wall_seconds"]
    fit(3)
    assert "resumes from epoch 2 of 3" in capsys.readouterr().out and bench.backed_up(path)[0] == 3
    assert bench.backup_path(bench.parse_args(["--quick", "--backups", backups, "--m2-hidden-units", "64"]),
                             "m2", 100, 0) != path  # another setting: another backup
    out = str(tmp_path / "semi.json")
    with pytest.raises(SystemExit) as stop:
        bench.main(["--quick", "--methods", "m2", "--seeds", "0", "--m2-epochs", "1", "--backups", backups,
                    "--out", out])
    assert stop.value.code == 2 and not os.path.exists(out)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds 3 epochs of m2, more than the 1 asked" in err
