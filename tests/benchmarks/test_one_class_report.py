"""RESULTS.md's one-class section (benchmarks/one_class.py's JSON): collected, rendered and in the headline, from a
small fabricated result file (no training here)."""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import collect, one_class, report, report_sections  # noqa: E402


def _fabricated(complete):
    rows = [{"class": c, "auc": {"reconstruction": auc}} for c, auc in ((0, 0.99), (1, 0.95))]
    models = {"autoencoder": {"scores": one_class.summarise(rows), "wall_seconds": 120, "cpu_seconds": 180}}
    return {"benchmark": "one-class anomaly detection (Ruff et al. 2018 protocol)", "dataset": "mnist",
            "classes": [0, 1], "epochs": 20, "seed": 1, "anomaly_samples": 100,
            "command": "python -m benchmarks.one_class",
            "complete": complete, "models": models, "targets": None}


def test_one_class_results_are_collected_rendered_and_in_the_headline(tmp_path):
    (tmp_path / "one_class_mnist.json").write_text(json.dumps(_fabricated(complete=False)))
    (entry,) = collect.collect_other_results(str(tmp_path))
    assert entry["kind"] == "one_class" and entry["dataset"] == "mnist"
    lines = report_sections.one_class_section(entry)
    assert lines[0] == "### One-class anomaly detection, mnist (benchmarks/results/one_class_mnist.json)"
    assert "Incomplete" in lines[2] and "20 epochs per run, seed 1;" in lines[2]
    assert "| autoencoder (reconstruction) | 0.9900 | 0.9500 | 0.9700 | 1 (0.9500) | 2.0 / 3.0 |" in lines
    (headline,) = report._others_rows([entry])
    assert headline[0].startswith("One-class mnist, seed 1 (") and headline[0].endswith("(incomplete run)")
    assert headline[1] == "autoencoder reconstruction 0.9700"


def test_a_complete_run_shows_its_targets(tmp_path):
    result = _fabricated(complete=True)
    result["targets"] = {"autoencoder_mean_auc": {"value": 0.97, "target": 0.97, "met": True},
                         "best_mean_auc": {"value": 0.97, "target": 0.98, "met": False}, "best": "autoencoder x"}
    result["notes"] = "Tried: more epochs"
    (tmp_path / "one_class_mnist.json").write_text(json.dumps(result))
    (entry,) = collect.collect_other_results(str(tmp_path))
    text = report_sections.one_class_section(entry)[2]
    assert "Incomplete" not in text
    assert ("Targets (issue #20): autoencoder_mean_auc 0.9700 (target 0.97: met); best_mean_auc 0.9700 (target "
            "0.98: not met); best score: autoencoder x. Tried: more epochs.") in text
