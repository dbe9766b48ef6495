"""RESULTS.md's one-class sections (benchmarks/one_class.py's JSON): collected, rendered and in the headline, per
file and over the seeds of one setting, from small fabricated result files (no training here)."""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pytest  # noqa: E402

from benchmarks import collect, one_class, report, report_one_class, report_sections  # noqa: E402


def _fabricated(complete, seed=1, aucs=(0.99, 0.95), classes=(0, 1), train_options=()):
    rows = [{"class": c, "auc": {"reconstruction": auc}} for c, auc in zip(classes, aucs)]
    models = {"autoencoder": {"scores": one_class.summarise(rows), "default_score": "reconstruction",
                              "wall_seconds": 120, "cpu_seconds": 180}}
    return {"benchmark": "one-class anomaly detection (Ruff et al. 2018 protocol)", "dataset": "mnist",
            "classes": list(classes), "epochs": 20, "seed": seed, "anomaly_samples": 100,
            "train_options": list(train_options), "command": f"python -m benchmarks.one_class --seed {seed}",
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


def test_the_seeds_of_one_setting_are_summarised_and_judged_together(tmp_path):
    ten = tuple(range(10))
    seeds = {0: [0.99] * 9 + [0.95], 1: [0.98] * 9 + [0.90], 2: [0.97] * 9 + [0.91]}
    for seed, aucs in seeds.items():
        (tmp_path / f"one_class_mnist_seed{seed}.json").write_text(
            json.dumps(_fabricated(True, seed=seed, aucs=aucs, classes=ten)))
    # not the same experiment (other train options), or stopped before every class ran (two of ten)
    (tmp_path / "one_class_mnist_conv.json").write_text(
        json.dumps(_fabricated(True, seed=3, classes=ten, aucs=[0.5] * 10, train_options=["--architecture", "conv"])))
    part = _fabricated(False, seed=4, aucs=[0.5] * 2, classes=ten)
    (tmp_path / "one_class_mnist_part.json").write_text(json.dumps(part))
    others = collect.collect_other_results(str(tmp_path))
    (group,) = report_one_class.over_seeds(others)
    s = group["scores"]["autoencoder", "reconstruction"]
    assert group["seeds"] == [0, 1, 2] and s["seeds"] == [0, 1, 2]
    means = [sum(aucs) / 10 for aucs in seeds.values()]
    assert s["means"] == pytest.approx(means)
    assert s["mean"] == pytest.approx(sum(means) / 3)
    assert s["std"] == pytest.approx((sum((m - s["mean"]) ** 2 for m in means) / 2) ** 0.5)
    assert s["averaged"]["hardest_class"] == 9 and s["averaged"]["hardest_auc"] == pytest.approx(0.92)
    assert group["targets"]["autoencoder_mean_auc"] == {"value": pytest.approx(s["mean"]), "target": 0.97,
                                                        "met": True}
    assert group["targets"]["hardest_class_auc"]["value"] == pytest.approx(0.92)
    lines = report_one_class.seeds_section(group)
    assert lines[0] == "### One-class anomaly detection, mnist, over seeds 0, 1, 2"
    assert "hardest_class_auc 0.9200 (target 0.93: not met)" in lines[2]
    row = next(line for line in lines if line.startswith("| autoencoder (reconstruction)"))
    assert row.startswith(f"| autoencoder (reconstruction) | 0, 1, 2 | {means[0]:.4f}, {means[1]:.4f}, "
                          f"{means[2]:.4f} | {s['mean']:.4f} ± {s['std']:.4f} | 0.980 |")
    assert any(line == lines[0] for line in report_sections.render_others(others))
    headline = [r for r in report._others_rows(others) if "over seeds" in r[0]]
    assert [r[1] for r in headline] == [f"autoencoder reconstruction {s['mean']:.4f} ± {s['std']:.4f}"]
    assert headline[0][2] == "; ".join(f"python -m benchmarks.one_class --seed {seed}" for seed in seeds)
