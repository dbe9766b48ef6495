"""Reads what the other benchmark scripts recorded under ``benchmarks/results/`` (their key figures, the
command that made them and when), for RESULTS.md. Never imports TensorFlow."""

import datetime
import glob
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")


def _command_from_settings(script, settings):
    parts = ["python", f"benchmarks/{script}.py"]
    for key, value in settings.items():
        if key == "out" or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return " ".join(parts)


def recorded_date(path, data=None):
    """When the figures of result file ``path`` were measured, as ISO 8601: the file's own ``date`` field;
    else, for a file git has unchanged, the date of the commit that last recorded it; else its mtime."""
    if isinstance(data, dict) and data.get("date"):
        return str(data["date"])
    try:
        unchanged = not subprocess.run(["git", "status", "--porcelain", "--", path], cwd=ROOT, capture_output=True,
                                       text=True, check=True).stdout.strip()
        if unchanged:
            date = subprocess.run(["git", "log", "-1", "--format=%cI", "--", path], cwd=ROOT, capture_output=True,
                                  text=True, check=True).stdout.strip()
            if date:
                return date
    except (OSError, subprocess.CalledProcessError):
        pass
    return datetime.datetime.fromtimestamp(os.path.getmtime(path)).astimezone().isoformat(timespec="seconds")


def collect_other_results(results_dir=RESULTS_DIR):
    """Key figures of the other benchmark scripts' JSON files under ``benchmarks/results/``."""
    collected = []
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        name = os.path.basename(path)
        if name.startswith("run"):
            continue
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as err:
            collected.append({"file": name, "error": str(err)})
            continue
        entry = {"file": f"benchmarks/results/{name}", "modified": datetime.datetime.fromtimestamp(
            os.path.getmtime(path)).isoformat(timespec="seconds"), "recorded": recorded_date(path, data)}
        if data.get("benchmark") == "vae_iwae_mnist":
            entry["kind"] = "vae_iwae"
            entry["command"] = data.get("command", "")
            for key in ("model", "num_samples", "epochs", "test_nll", "nll_samples", "nll_test_examples",
                        "test_elbo", "train_samples_per_second", "jit_compile"):
                entry[key] = data.get(key)
        elif data.get("benchmark") in ("pytorch_peer", "pytorch_conv_peer"):
            entry["kind"] = data["benchmark"]
            for key in ("command", "markdown", "data", "date", "settings", "note"):
                entry[key] = data.get(key)
            entry["versions"] = {k: v for r in (data.get("results") or {}).values() for k, v in r.get("versions", {}).items()}
            entry["ratios"] = {name: r.get("kerasae_ratio") for name, r in (data.get("results") or {}).items()}
        elif data.get("benchmark") == "conv_speed":
            entry["kind"] = "conv_speed"
            for key in ("command", "markdown", "date", "data", "settings", "machine", "versions", "note"):
                entry[key] = data.get(key)
        elif data.get("benchmark") == "finetune_mnist":
            entry["kind"] = "finetune_mnist"
            for key in ("command", "markdown", "settings", "summary", "remaining", "notes"):
                entry[key] = data.get(key)
        elif data.get("benchmark") == "contractive_cost":
            entry["kind"] = "contractive_cost"
            entry["command"] = data.get("command", "")
            entry["markdown"] = data.get("markdown", "")
        elif str(data.get("benchmark", "")).startswith("one-class"):
            entry["kind"] = "one_class"
            for key in ("command", "dataset", "classes", "epochs", "anomaly_samples", "models", "targets", "complete",
                        "wall_seconds", "cpu_seconds", "notes", "seed", "train_options"):
                entry[key] = data.get(key)
        elif data.get("benchmark") == "edge":
            entry["kind"] = "edge"
            for key in ("command", "date", "data", "settings", "machine", "versions", "rows", "targets"):
                entry[key] = data.get(key)
        elif "semi_supervised" in data:
            entry["kind"] = "semi_supervised"
            entry["command"] = data.get("command") or _command_from_settings(
                "semi_supervised_mnist", data.get("config", {}))
            entry["accuracy"] = {k: v.get("test_accuracy") for k, v in data["semi_supervised"].items()}
            entry["anomaly_auc"] = {k: v.get("auc") for k, v in (data.get("anomaly") or {}).items()}
            entry["labels_per_class"] = data.get("config", {}).get("labels_per_class")
            entry["epochs"] = data.get("config", {}).get("epochs")
            entry["markdown"] = data.get("markdown", "")
            entry["notes"] = data.get("notes")
        elif "rows" in data and data["rows"] and "size_kib" in data["rows"][0]:
            entry["kind"] = "export"
            entry["command"] = data.get("command") or _command_from_settings(
                "export_benchmark", {k: v for k, v in data.get("settings", {}).items()
                                     if k in ("families", "epochs", "repeats", "seed")})
            entry["rows"] = [
                {k: row.get(k) for k in ("family", "mode", "size_kib", "size_ratio", "litert_encode_ms",
                                         "litert_decode_ms", "saved_model_encode_ms", "keras_encode_ms",
                                         "mse", "mse_change")}
                for row in data["rows"]
            ]
            entry["dataset"] = data.get("settings", {}).get("dataset")
        else:
            entry["kind"] = "unknown"
            entry["keys"] = sorted(data)[:20]
        collected.append(entry)
    return collected
