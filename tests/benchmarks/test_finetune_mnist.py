"""benchmarks/finetune_mnist.py: a short real run on the digits (pre-training, fine-tuning, the result file), pieces
gathered in one file, a file with other settings refused untouched, and the section RESULTS.md renders."""

import json
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import collect, finetune_mnist, report_sections  # noqa: E402
from kerasae.presets.writing import round_to_float16  # noqa: E402

SHORT = ["--dataset", "digits", "--epochs", "2", "--pretrain-epochs", "1", "--patience", "1"]


def test_pieces_gather_in_one_file_and_render(tmp_path, monkeypatch):
    out = tmp_path / "finetune_mnist.json"
    finetune_mnist.main([*SHORT, "--methods", "random_1,cae_1", "--out", str(out)])  # really trained, briefly
    first = json.loads(out.read_text())
    (cae,) = [r for r in first["runs"] if r["method"] == "cae_1"]
    assert 0 <= cae["test_error"] <= 100 and cae["epochs"] <= 2 and len(cae["pretrain_final_losses"]) == 1
    assert "pretrain_final_losses" not in [r for r in first["runs"] if r["method"] == "random_1"][0]

    def fake_run(method, seed, data, args):
        return {"method": method, "seed": seed, "test_error": 1.5 + seed, "validation_error": 1.4, "best_epoch": 1,
                "epochs": 2, "pretrain_wall_seconds": 60.0, "pretrain_cpu_seconds": 90.0,
                "finetune_wall_seconds": 60.0, "finetune_cpu_seconds": 90.0}

    monkeypatch.setattr(finetune_mnist, "run", fake_run)
    out.write_text(json.dumps({**first, "notes": "Tried: a plateau schedule"}))  # notes written by hand
    finetune_mnist.main([*SHORT, "--methods", "cae_1", "--seeds", "1", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["summary"]["cae_1"]["seeds"] == [0, 1] and result["summary"]["random_1"]["seeds"] == [0]
    assert result["summary"]["cae_1"]["errors"][1] == 2.5 and result["command"].count("python -m benchmarks.finetune_mnist") == 2
    assert len(result["remaining"]) == 5 * 3 - 3  # random_1 seed 0, cae_1 seeds 0 and 1 ran
    assert "| cae_1 |" in result["markdown"] and "(n=2)" in result["markdown"] and "1.14" in result["markdown"]
    (entry,) = collect.collect_other_results(str(tmp_path))
    text = "\n".join(report_sections.render_others([entry]))
    assert f"### Pre-trained then fine-tuned, all labels (benchmarks/results/{out.name})" in text
    assert result["notes"] == "Tried: a plateau schedule" and "\nTried: a plateau schedule\n" in text
    assert "12 runs of the grid (5 methods x 3 seeds) still to run" in text and f"| cae_1 | {result['summary']['cae_1']['error_mean']:.2f} ± " in text


def test_a_file_with_other_settings_is_refused_untouched(tmp_path, capsys):
    out = tmp_path / "finetune_mnist.json"
    out.write_text(json.dumps({"settings": {"dataset": "digits", "epochs": 7}, "runs": []}))
    before = out.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        finetune_mnist.main([*SHORT, "--methods", "random_1", "--out", str(out)])
    assert exit_info.value.code == 2 and out.read_bytes() == before
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "epochs 7, this run 2" in error


def test_plateau_patience_lowers_the_rate_and_is_reported(tmp_path):
    out = tmp_path / "finetune_plateau.json"
    # a rate far too high for the sigmoid network: the validation accuracy stalls, so the rate must fall
    finetune_mnist.main([*SHORT, "--epochs", "3", "--patience", "3", "--plateau-patience", "0", "--learning-rate", "1.0",
                         "--methods", "random_1", "--out", str(out)])
    result = json.loads(out.read_text())
    (row,) = result["runs"]
    assert result["settings"]["plateau_patience"] == 0
    # patience 0: every epoch without a better validation accuracy divides the rate by 10
    best, flat = float("inf"), 0
    for error in row["validation_errors"]:
        flat, best = (flat, error) if error < best - 1e-2 else (flat + 1, best)  # Keras' min_delta 1e-4, in %
    assert len(row["validation_errors"]) == row["epochs"] == 3
    assert flat >= 1 and row["final_learning_rate"] == pytest.approx(0.1**flat, rel=1e-4)
    (entry,) = collect.collect_other_results(str(tmp_path))
    text = "\n".join(report_sections.render_others([entry]))
    assert "the learning rate divided by 10 after 0 epochs without a better one" in text


def test_preset_keeps_the_pretrained_stack_only_when_the_target_is_met(tmp_path, monkeypatch):
    """A run that misses the issue's 1.4% writes nothing; a real short sda_3 run on digits at a target it meets
    makes the stack as pre-trained (the classifier fine-tunes a copy) a preset that passes every check."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "presets"))
    import preset_checks

    monkeypatch.setattr(finetune_mnist, "PRESETS", str(tmp_path / "presets"))
    argv = [*SHORT, "--methods", "sda_3", "--tied-weights", "--preset", "sda-digits", "--out", str(tmp_path / "a.json")]
    assert finetune_mnist.write_preset(finetune_mnist.parse_args(argv), None, None, {"test_error": 1.41}) is None
    assert not (tmp_path / "presets").exists()
    monkeypatch.setitem(finetune_mnist.TARGETS, "sda_3", 100.0)
    kept = {}
    write = finetune_mnist.write_preset
    monkeypatch.setattr(finetune_mnist, "write_preset", lambda args, stack, data, row: kept.update(
        pretrained=stack.get_weights()) or write(args, stack, data, row))  # the stack after fine-tuning the classifier
    finetune_mnist.main(argv)
    (row,) = json.loads((tmp_path / "a.json").read_text())["runs"]
    model, card = preset_checks.check_preset(str(tmp_path / "presets" / "sda-digits"), "sda-digits")
    assert type(model).__name__ == "StackedAutoencoder" and model.noise == "masking" and model.tied_weights
    assert card["saved_model"] == "on_demand" and "tied weights" in card["description"]  # exported on first use
    assert card["weights_dtype"] == "float16"
    (entry,) = collect.collect_other_results(str(tmp_path))
    assert "sigmoid networks, tied weights, pre-training 1 epochs" in "\n".join(report_sections.render_others([entry]))
    for loaded, pretrained in zip(model.get_weights(), kept["pretrained"], strict=True):
        np.testing.assert_array_equal(loaded, round_to_float16(pretrained))  # stored in float16
    assert tuple(model.get_config()["layer_units"]) == (1000, 1000, 1000)
    error, mse = card["figures"]
    assert error["value"] == row["test_error"] and "--preset" not in error["command"] == row["command"]
    assert mse["metric"] == "reconstruction_mse" and mse["n_examples"] == 200


def test_sgd_fine_tuning_is_built_and_reported(tmp_path):
    args = finetune_mnist.parse_args([*SHORT, "--optimizer", "sgd", "--momentum", "0.9", "--learning-rate", "0.05"])
    optimizer = finetune_mnist.finetune_optimizer(args)
    assert type(optimizer).__name__ == "SGD" and optimizer.momentum == pytest.approx(0.9)
    assert float(optimizer.learning_rate) == pytest.approx(0.05)
    assert type(finetune_mnist.finetune_optimizer(finetune_mnist.parse_args(SHORT))).__name__ == "Adam"
    with pytest.raises(SystemExit) as exit_info:  # momentum without SGD would be ignored: refused
        finetune_mnist.parse_args([*SHORT, "--momentum", "0.9"])
    assert exit_info.value.code == 2
    settings = {key: value for key, value in vars(args).items() if key not in finetune_mnist.PER_PIECE}
    older = {key: value for key, value in settings.items() if key not in ("optimizer", "momentum")}
    phrases = {"sgd": "fine-tuning (SGD 0.05, momentum 0.9) at most 2 epochs",
               "older": "fine-tuning (Adam 0.05) at most 2 epochs"}  # a file older than --optimizer ran Adam
    for name, st in (("sgd", settings), ("older", older)):
        (tmp_path / f"finetune_{name}.json").write_text(json.dumps({
            "benchmark": "finetune_mnist", "command": "python -m benchmarks.finetune_mnist", "settings": st,
            "runs": [], "summary": {}, "markdown": "", "remaining": []}))
    entries = collect.collect_other_results(str(tmp_path))
    assert len(entries) == 2
    for entry in entries:
        name = os.path.basename(entry["file"])[len("finetune_"):-len(".json")]
        assert phrases[name] in "\n".join(report_sections.render_others([entry]))
    # a file older than the options (no optimizer, no momentum) takes more Adam pieces, as its settings were then
    out = tmp_path / "finetune_older.json"
    assert finetune_mnist.earlier_result(str(out), {**older, "optimizer": "adam", "momentum": 0.0}, "runs",
                                         within="settings", defaults=vars(finetune_mnist.parse_args([])))["runs"] == []
