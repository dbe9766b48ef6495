"""RESULTS.md's one-class anomaly detection parts (benchmarks/one_class.py's result files): a section per file, and
per setting run with several seeds (one file per seed), the figures over the seeds, which the issue's targets are
judged on: one seed is one draw of the validation split, the initialisation and the batch order."""

import statistics

from benchmarks.markdown import fmt, table
from benchmarks.one_class import summarise, targets

#: What makes two one-class files the same experiment but for the seed.
SETTING = ("dataset", "epochs", "classes", "anomaly_samples", "train_options")


def _met(found):
    return "; ".join(f"{key} {t['value']:.4f} (target {t['target']}: {'met' if t['met'] else 'not met'})"
                     for key, t in (found or {}).items() if isinstance(t, dict))


def one_class_section(o):
    """The one-class anomaly benchmark's section: the ROC AUC of every model's scores per normal class."""
    classes = o.get("classes") or []
    rows = [[f"{model} ({score})"] + [fmt(s["per_class"].get(str(c)), ".4f") for c in classes]
            + [fmt(s["mean"], ".4f"), f"{s['hardest_class']} ({s['hardest_auc']:.4f})",
               f"{entry.get('wall_seconds', 0) / 60:.1f} / {entry.get('cpu_seconds', 0) / 60:.1f}"]
            for model, entry in (o.get("models") or {}).items() for score, s in entry["scores"].items()]
    found = o.get("targets") or {}
    met = _met(found)
    return [f"### One-class anomaly detection, {o['dataset']} ({o['file']})", "",
            f"Command: `{o['command']}`; {o['epochs']} epochs per run, seed {o['seed']}; the protocol of Ruff et al. "
            "(2018): each model trained on one class's training images, scoring all test images (that class normal, "
            "the rest anomalous); "
            f"ROC AUC per normal class, the VAE's scores from {o.get('anomaly_samples')} importance samples."
            + ("" if o.get("complete") else " Incomplete: the run stopped before every class and model had run.")
            + (f" Targets (issue #20): {met}; best score: {found.get('best')}." if met else "")
            + (f" {o['notes']}." if o.get("notes") else ""), "",
            *table(["model (score)", *map(str, classes), "mean", "hardest class (AUC)", "wall / CPU min"], rows), ""]


def over_seeds(others):
    """The one-class results run with the same setting (:data:`SETTING`) and several seeds, each as
    ``{"setting", "seeds", "files", "scores", "targets"}``: ``scores`` maps, best mean first, each ``(model, score)``
    that at least two seeds measured on every class (a model still running in one file is left out, not that file's
    other models) to its seeds, the per-seed mean AUCs, their mean and sample standard deviation, and the per-class
    AUCs averaged over the seeds (with their mean and hardest class, as in one file); ``targets``: the issue's, judged
    on those."""
    groups = {}  # setting -> (model, score) -> seed -> (file, its model entry, its score)
    for o in (o for o in others if o.get("kind") == "one_class" and o.get("models")):
        classes = {str(c) for c in o.get("classes") or []}
        by_name = groups.setdefault(tuple(str(o.get(name)) for name in SETTING), {})
        for model, entry in o["models"].items():
            for score, s in entry["scores"].items():
                if set(s.get("per_class", ())) == classes:  # files come in name order: a seed's first file counts
                    by_name.setdefault((model, score), {}).setdefault(o["seed"], (o, entry, s))
    found = []
    for by_name in groups.values():
        scores, models, files = {}, {}, {}
        for (model, score), by_seed in by_name.items():
            if len(by_seed) < 2:
                continue
            seeds = sorted(by_seed)
            runs = [by_seed[seed][2] for seed in seeds]
            files.update({by_seed[seed][0]["file"]: by_seed[seed][0] for seed in seeds})
            means = [r["mean"] for r in runs]
            rows = [{"class": c, "auc": {score: statistics.mean(r["per_class"][c] for r in runs)}}
                    for c in runs[0]["per_class"]]
            averaged = summarise(rows)[score]
            scores[model, score] = {"seeds": seeds, "means": means, "mean": statistics.mean(means),
                                    "std": statistics.stdev(means), "averaged": averaged}
            entry = models.setdefault(model, {"default_score": by_seed[seeds[0]][1].get("default_score"),
                                              "scores": {}})
            entry["scores"][score] = averaged  # its mean over the classes is the mean of the seeds' means
        if not scores:
            continue
        first = files[min(files)]
        setting = {name: first.get(name) for name in SETTING}
        models = {m: e for m, e in models.items() if e["default_score"] in e["scores"]}
        found.append({"setting": setting, "seeds": sorted({s for v in scores.values() for s in v["seeds"]}),
                      "files": sorted(files), "commands": [files[f]["command"] for f in sorted(files)],
                      "recorded": max(f["recorded"] for f in files.values()),
                      "scores": dict(sorted(scores.items(), key=lambda item: -item[1]["mean"])),
                      "targets": targets(models, setting["classes"], setting["dataset"])})
    return found


def _options(setting):
    options = " ".join(setting.get("train_options") or [])
    return f", train options `{options}`" if options else ""


def seeds_section(group):
    """The section of one :func:`over_seeds` group: per model and score, the mean AUC of each seed, their mean and
    spread, and the AUC per class averaged over the seeds."""
    setting, seeds = group["setting"], group["seeds"]
    classes = setting.get("classes") or []
    rows = [[f"{model} ({score})", ", ".join(map(str, s["seeds"])), ", ".join(f"{m:.4f}" for m in s["means"]),
             f"{s['mean']:.4f} ± {s['std']:.4f}"]
            + [fmt(s["averaged"]["per_class"].get(str(c)), ".3f") for c in classes]
            + [f"{s['averaged']['hardest_class']} ({s['averaged']['hardest_auc']:.4f})"]
            for (model, score), s in group["scores"].items()]
    met = _met(group["targets"])
    return [f"### One-class anomaly detection, {setting['dataset']}{_options(setting)}, over seeds "
            f"{', '.join(map(str, seeds))}", "",
            f"The files {', '.join(group['files'])}: the same setting ({setting['epochs']} epochs per run"
            f"{_options(setting)}) with seeds {', '.join(map(str, seeds))}; each seed draws its own validation "
            "split, initialisation and batch order. Per model and score measured on every class by two seeds or "
            "more: the mean AUC over the classes of each seed, their mean and sample standard deviation over the "
            "seeds, and each class's AUC averaged over the seeds (its hardest class last)."
            + (f" Targets (issue #20), judged over the seeds: {met}; best score: {group['targets'].get('best')}."
               if met else ""), "",
            *table(["model (score)", "seeds", "mean AUC per seed", "mean ± std over seeds", *map(str, classes),
                    "hardest class (AUC)"], rows), ""]


def headline_rows(others):
    """The headline's one-class rows, ``(what, figure, command, date)``: each file's mean AUC per score, and each
    :func:`over_seeds` group's mean ± std over its seeds."""
    rows = []
    for o in (o for o in others if o.get("kind") == "one_class" and o.get("models")):
        means = sorted(((s["mean"], f"{model} {score}") for model, entry in o["models"].items()
                        for score, s in entry["scores"].items()), reverse=True)
        rows.append((f"One-class {o['dataset']}, seed {o['seed']} (Ruff et al. 2018 protocol): mean ROC AUC "
                     "over the normal classes"
                     + ("" if o.get("complete") else " (incomplete run)"),
                     ", ".join(f"{name} {mean:.4f}" for mean, name in means), o["command"], o["recorded"]))
    for group in over_seeds(others):
        rows.append((f"One-class {group['setting']['dataset']}{_options(group['setting'])}, mean ROC AUC over "
                     f"seeds {', '.join(map(str, group['seeds']))} (mean ± std over seeds)",
                     ", ".join(f"{model} {score} {s['mean']:.4f} ± {s['std']:.4f}"
                               for (model, score), s in group["scores"].items()),
                     "; ".join(group["commands"]), group["recorded"]))
    return rows
