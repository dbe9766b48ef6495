"""Benchmark: one-class anomaly detection, the standard protocol, on MNIST or Fashion-MNIST.

The protocol of Ruff et al. (2018), "Deep one-class classification": for each class D, a model is trained on
the training images of class D alone (``kerasae train MODEL --normal-class D``, its validation split also of
class D) and scores all 10,000 test images, class D normal and the other nine classes anomalous
(``kerasae evaluate RUN --anomaly``); the ROC AUC of each score is reported per class and averaged over the
classes. Models (``--models``), each with the command line's own defaults apart from ``--epochs`` (and any
``--train-options``):

* ``autoencoder``: ``kerasae train autoencoder`` (MLP);
* ``conv_autoencoder``: ``kerasae train autoencoder --architecture conv``;
* ``vae``: ``kerasae train vae`` (Bernoulli likelihood, dynamically binarised training images);
* ``denoising``, ``contractive``: ``kerasae train denoising`` / ``contractive`` (MLP).

Every score ``kerasae evaluate --anomaly`` reports is recorded, the first the model's default: the combined score
(:class:`kerasae.anomaly.CombinedScore`: the smoothed reconstruction error plus the code's distance to its nearest
training codes, standardised on the class's validation images), the reconstruction error (of the clean image), and
for the VAE ``-log p(x)`` (importance-weighted, ``--anomaly-samples`` samples) and the negative ELBO (the mean of
the same log weights).

Each run goes through the command line in this process, as a user would run it; its folder is kept under
``--runs``. The evaluation passes ``--nll-samples 1``: its usual test NLL would repeat the anomaly score's
importance sampling. Writes ``benchmarks/results/one_class_<dataset>.json`` (``--out``) after every class:
per-class and mean AUC of every score, the hardest class, wall and CPU seconds of every training and
evaluation, the command, and whether the issue's targets are met (a mean AUC of at least 0.97 for the
autoencoder's default score, MLP and conv, 0.98 for the best score, at least 0.93 for the hardest class; MNIST only),
once every class has run; RESULTS.md judges them over the seeds too, for files that differ only in ``--seed``
(benchmarks/report_one_class.py). Models run at different times share one file: an existing file with the same
settings (dataset, classes, epochs, samples, seed, train options) keeps its other models, each with its own command,
and the run's models replace theirs; a file with other settings is refused (exit status 2) and left as it was.

Usage (MNIST from Keras's cache, ``KERAS_HOME``)::

    python -m benchmarks.one_class --dataset mnist
    python -m benchmarks.one_class --dataset mnist --models conv_autoencoder   # added to the file of the line above
    python -m benchmarks.one_class --dataset fashion_mnist --models vae --classes 0-4 --epochs 10
    python -m benchmarks.one_class --dataset mnist --classes 3 --epochs 1 --out /tmp/one_class.json  # a check
"""

import argparse
import contextlib
import io
import json
import os
import platform
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.result_files import earlier_result  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
RUNS = os.path.join(os.path.dirname(HERE), "runs", "one_class")

#: ``kerasae train`` arguments of each model (the command line's defaults otherwise).
MODELS = {
    "autoencoder": ["autoencoder"],
    "conv_autoencoder": ["autoencoder", "--architecture", "conv"],
    "vae": ["vae"],
    "denoising": ["denoising"],
    "contractive": ["contractive"],
}
DATASETS = ("mnist", "fashion_mnist")
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
}
#: The issue's targets (MNIST): the default score of the autoencoder (MLP, conv), the best score, the hardest class.
TARGETS = {"autoencoder_mean_auc": 0.97, "conv_autoencoder_mean_auc": 0.97, "best_mean_auc": 0.98,
           "hardest_class_auc": 0.93}


def class_list(text):
    """``--classes``: ``0-9``, ``3`` or ``0,2,5`` (and mixtures, ``0-3,7``), each in 0-9."""
    classes = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                low, high = part.split("-", 1)
                classes += range(int(low), int(high) + 1)
            elif part.strip():
                classes.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected classes such as 0-9, 3 or 0,2,5, got {text!r}")
    if not classes or any(c < 0 or c > 9 for c in classes):
        raise argparse.ArgumentTypeError(f"expected classes in 0-9, got {text!r}")
    return sorted(set(classes))


def model_list(text):
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected models among {', '.join(MODELS)}, got {text!r}")
    return names


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=DATASETS, default="mnist")
    p.add_argument("--models", type=model_list, default=list(MODELS), help=f"comma-separated, of {', '.join(MODELS)} (default: all)")
    p.add_argument("--classes", type=class_list, default=list(range(10)), help="normal classes, e.g. 0-9 (default), 3 or 0,2,5")
    p.add_argument("--epochs", type=int, default=20, help="training epochs of every run (default: 20, the command line's)")
    p.add_argument("--anomaly-samples", type=int, default=100, help="importance samples of the VAE's scores (default: 100)")
    p.add_argument("--train-options", type=shlex.split, default=[], help="more 'kerasae train' options for every run, one string, e.g. --train-options=\"--latent-dim 16 --loss bce\" (default: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default=RUNS, help="where the run folders go (default: runs/one_class)")
    p.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/one_class_<dataset>.json)")
    return p.parse_args(argv)


def _quiet(fn, *args):
    """``fn(*args)`` with its standard output captured (returned with the result)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = fn(*args)
    return result, buffer.getvalue()


def run_class(model, normal_class, args):
    """Trains ``model`` on ``normal_class`` and evaluates it with ``--anomaly`` through the command line;
    returns the class's row: the AUC of every score and the seconds spent."""
    import keras

    from kerasae.cli import main as cli

    run = os.path.join(args.runs, args.dataset, model, f"class_{normal_class}")
    train = ["train", *MODELS[model], "--dataset", args.dataset, "--normal-class", str(normal_class), "--epochs",
             str(args.epochs), "--seed", str(args.seed), *args.train_options, "--out", run, "--overwrite", "--verbose", "0"]
    evaluate = ["evaluate", run, "--anomaly", "--anomaly-samples", str(args.anomaly_samples), "--nll-samples", "1"]
    row = {"class": normal_class}
    for name, argv in (("train", train), ("evaluate", evaluate)):
        wall, cpu = time.perf_counter(), time.process_time()
        status, output = _quiet(cli.main, argv)
        row[f"{name}_wall_seconds"] = time.perf_counter() - wall
        row[f"{name}_cpu_seconds"] = time.process_time() - cpu
        if status != 0:
            raise SystemExit(f"kerasae {shlex.join(argv)} failed (exit status {status}):\n{output}")
        keras.backend.clear_session()
    with open(os.path.join(run, "metrics.json")) as f:
        report = json.load(f)["anomaly"]
    aucs = {key[len("auc_"):]: value for key, value in report.items() if key.startswith("auc_")}
    row["auc"] = {report["score"]: aucs.pop(report["score"]), **aucs}  # the model's default score first
    row["score"] = report["score"]
    row["num_normal"], row["num_anomalous"] = report["num_normal"], report["num_anomalous"]
    row["train_command"] = "kerasae " + shlex.join(train)
    return row


def summarise(rows):
    """Per score: the AUC of each class, their mean, the hardest class and its AUC."""
    scores = {}
    for score in rows[0]["auc"]:
        per_class = {str(r["class"]): r["auc"][score] for r in rows}
        hardest = min(per_class, key=per_class.get)
        scores[score] = {"per_class": per_class, "mean": sum(per_class.values()) / len(per_class),
                         "hardest_class": int(hardest), "hardest_auc": per_class[hardest]}
    return scores


def targets(models, classes, dataset="mnist"):
    """Whether the issue's targets (set for MNIST) are met; ``None`` for another data set or unless all ten
    classes ran."""
    if classes != list(range(10)) or dataset != "mnist":
        return None
    found = {}
    for model in ("autoencoder", "conv_autoencoder"):  # the default paths (MLP, conv): evaluate --anomaly's first score
        if model in models:
            entry = models[model]
            found[f"{model}_mean_auc"] = entry["scores"][entry["default_score"]]["mean"]
    best = max(((s["mean"], s["hardest_auc"], m, score) for m, entry in models.items()
                for score, s in entry["scores"].items()), default=None)
    if best is not None:
        found["best_mean_auc"], found["hardest_class_auc"], model, score = best
        found["best"] = f"{model} {score}"
    return {key: {"value": value, "target": TARGETS[key], "met": value >= TARGETS[key]} if key in TARGETS else value
            for key, value in found.items()}


def environment():
    import keras
    import tensorflow as tf

    import kerasae

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "kerasae": kerasae.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "jit_compile_env": os.environ.get("KERASAE_JIT_COMPILE")}


def write(path, payload):
    from kerasae.utils.files import write_json

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_json(path, payload)


def table(result):
    names = CLASS_NAMES[result["dataset"]]
    lines = [f"One-class ROC AUC, {result['dataset']}, {result['epochs']} epochs (class: normal; the rest anomalous)"]
    classes = result["classes"]
    lines.append(f"{'model / score':34s}" + "".join(f"{names[c][:6]:>7s}" for c in classes) + f"{'mean':>8s}")
    for model, entry in result["models"].items():
        for score, s in entry["scores"].items():
            cells = "".join(f"{s['per_class'][str(c)]:7.3f}" for c in classes)
            lines.append(f"{model + ' ' + score:34s}{cells}{s['mean']:8.4f}")
    return "\n".join(lines)


#: What a file's models must share to be reported together.
SETTINGS = ("dataset", "classes", "epochs", "anomaly_samples", "seed", "train_options")


def previous_models(path, result):
    """The models of an earlier run in ``path`` with ``result``'s settings (each with its own command) and its notes;
    exits with status 2, touching nothing, when the file's settings differ."""
    earlier = earlier_result(path, {key: result[key] for key in SETTINGS}, "a one-class result", required=("models",))
    models = {name: {**entry, "command": entry.get("command", earlier.get("command"))}
              for name, entry in earlier.get("models", {}).items()}
    return models, earlier.get("notes")


def main(argv=None):
    args = parse_args(argv)
    out = args.out or os.path.join(RESULTS, f"one_class_{args.dataset}.json")
    command = "python -m benchmarks.one_class " + shlex.join(sys.argv[1:] if argv is None else argv)
    result = {"benchmark": "one-class anomaly detection (Ruff et al. 2018 protocol)", "dataset": args.dataset,
              "classes": args.classes, "epochs": args.epochs, "anomaly_samples": args.anomaly_samples,
              "seed": args.seed, "train_options": args.train_options, "command": command, "complete": False, "models": {},
              "environment": environment()}
    earlier, notes = previous_models(out, result)
    models = result["models"] = {name: entry for name, entry in earlier.items() if name not in args.models}
    if notes:
        result["notes"] = notes

    def update():
        entries = models.values()
        result["command"] = "; ".join(dict.fromkeys(entry["command"] for entry in entries))
        result["wall_seconds"] = sum(entry["wall_seconds"] for entry in entries)
        result["cpu_seconds"] = sum(entry["cpu_seconds"] for entry in entries)
        result["complete"] = all(len(entry["runs"]) == len(args.classes) for entry in entries)
        result["targets"] = targets(models, args.classes, args.dataset) if result["complete"] else None
        write(out, result)  # after every class: an interrupted run keeps what it finished

    for model in args.models:
        rows = []
        for normal_class in args.classes:
            rows.append(run_class(model, normal_class, args))
            aucs = ", ".join(f"{k} {v:.4f}" for k, v in rows[-1]["auc"].items())
            seconds = rows[-1]["train_wall_seconds"] + rows[-1]["evaluate_wall_seconds"]
            print(f"{model} class {normal_class}: {aucs} ({seconds:.0f} s)", flush=True)
            models[model] = {
                "train_arguments": MODELS[model], "command": command, "default_score": rows[0]["score"],
                "scores": summarise(rows), "runs": rows,
                "wall_seconds": sum(r["train_wall_seconds"] + r["evaluate_wall_seconds"] for r in rows),
                "cpu_seconds": sum(r["train_cpu_seconds"] + r["evaluate_cpu_seconds"] for r in rows),
            }
            update()
    print(table(result))
    if result["targets"]:
        print("targets: " + json.dumps(result["targets"]))
    print(f"wall {result['wall_seconds']:.0f} s, CPU {result['cpu_seconds']:.0f} s; written to {out}")
    return result


if __name__ == "__main__":
    main()
