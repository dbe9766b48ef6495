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
