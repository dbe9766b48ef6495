"""Reproductions: one command per reference entry of the model zoo.

``python -m benchmarks.reproduce NAME`` trains the paper's architecture with ``kerasae train`` (always with
``--resume``: an interrupted run, or one cut off when a session ends, continues from its last epoch when the
same command runs again), then estimates the test NLL ``-log p(x)`` with ``k = 5000`` importance samples on
the **full** test set (10,000 images; the conv VAEs, without a paper figure, ``k = 1000``: see
:data:`CONV_NLL_SAMPLES`), and writes ``benchmarks/results/reproduce/NAME.json``: the paper's
figure, kerasae's, the epochs, the training wall-clock and CPU minutes (summed over the per-epoch log
``history.csv``, so over every resumed part; its learning curve goes to ``NAME.history.csv``), the evaluation's
own time, and the command. RESULTS.md gets the row (``python -m benchmarks.report`` re-renders it from the JSON
files).

Data: dynamically binarised MNIST (a fresh Bernoulli draw of every training image each epoch); the test set
is binarised once, with one fixed, seeded Bernoulli draw (``kerasae.data.datasets.load(..., binarize="dynamic",
seed=S)`` draws it with seed ``S + 1``), the same draw for every model and every evaluation. The papers train
on all 60,000 training images, so the runs use ``--validation-split 0``.

The runs live in ``runs/reproduce/NAME`` (ignored by git). A run longer than a working session continues in the
next one only if that folder is still there: where the checkout is laid anew each time, make ``runs`` a symbolic
link to a folder outside it that outlives the checkout (``ln -s ~/kerasae-runs runs``) and run the same command
again.

Usage:
    python -m benchmarks.reproduce --list
    KERAS_HOME=... nohup python -m benchmarks.reproduce vae-mnist > vae-mnist.log 2>&1 &
    python -m benchmarks.reproduce vae-mnist --evaluate-only     # re-estimate the NLL of a finished run
"""

import argparse
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = DEFAULT_RESULTS = os.path.join(HERE, "results", "reproduce")
#: Where the runs are trained (ignored by git; their models become presets when they meet their targets).
RUNS = os.path.join(os.path.dirname(HERE), "runs", "reproduce")

_MLP_1 = ["--hidden-units", "200,200", "--activation", "tanh", "--latent-dim", "50"]
_TRAINING = ["--batch-size", "100", "--learning-rate", "2e-3", "--schedule", "burda", "--validation-split", "0"]
_BURDA = "Burda, Grosse & Salakhutdinov (2016), Importance weighted autoencoders, Table 1"
#: Importance samples of the conv VAEs' test NLL (entries without a paper figure): their decoder costs about
#: 22 M multiply-adds per sample, so k = 5000 over 10,000 images would take ~3.4 h on 2 cores, k = 1000 ~40 min.
CONV_NLL_SAMPLES = 1000
#: Epochs of the conv VAEs (cosine schedule over them): training costs ~92 CPU-s per epoch here, so 30 epochs (18,000
#: updates, ~46 CPU-min) and the NLL fit in one working session with the evaluation; 100 did not.
CONV_EPOCHS = 30
_RAINFORTH = "Rainforth et al. (2018), Tighter variational bounds are not necessarily better (ICML), MNIST"

#: The reference entries: the ``kerasae train`` arguments, the epochs, the paper's figure and the target.
REFERENCES = {
    "vae-mnist": {
        "title": "VAE, one stochastic layer (784-200-200-50, tanh), k = 1",
        "train": ["vae", "--dataset", "mnist", *_MLP_1, *_TRAINING, "--schedule-epochs", "1500"],
        "epochs": 2300,
        "paper": 86.76, "source": _BURDA, "target": 87.5, "pythae": 89.78,
    },
    "iaf-mnist": {
        "title": "VAE with an IAF posterior (4 steps, MADE 200-200 each), one stochastic layer (784-200-200-50, tanh), "
                 "k = 1; vae-mnist's networks and schedule; target: 1.5 nats below vae-mnist's measured 87.31",
        "train": ["vae", "--dataset", "mnist", *_MLP_1, "--posterior", "iaf", "--flow-steps", "4",
                  "--flow-hidden-units", "200,200", *_TRAINING, "--schedule-epochs", "1500"],
        "epochs": 2300,
        "paper": None, "source": None, "target": 85.8, "pythae": None,
    },
    "iwae-k5-mnist": {
        "title": "IWAE k = 5, one stochastic layer (784-200-200-50, tanh)",
        "train": ["iwae", "--dataset", "mnist", "--num-samples", "5", *_MLP_1, *_TRAINING],
        "epochs": 1500,
        "paper": 85.54, "source": _BURDA, "target": 86.3, "pythae": 86.82,
    },
    "miwae-mnist": {
        "title": "MIWAE (M, K) = (8, 8), one stochastic layer (784-200-200-50, tanh)",
        "train": ["miwae", "--dataset", "mnist", "--num-groups", "8", "--num-samples", "8", *_MLP_1, *_TRAINING],
        "epochs": 1500,
        "paper": 84.97, "source": _RAINFORTH, "target": 85.7, "pythae": 85.09,
    },
    "ciwae-mnist": {
        "title": "CIWAE beta = 0.05, k = 64, one stochastic layer (784-200-200-50, tanh)",
        "train": ["ciwae", "--dataset", "mnist", "--beta", "0.05", "--num-samples", "64", *_MLP_1, *_TRAINING],
        "epochs": 1500,
        "paper": 84.57, "source": _RAINFORTH, "target": 85.3, "pythae": 84.74,
    },
    "piwae-mnist": {
        "title": "PIWAE (M, K) = (8, 8), one stochastic layer (784-200-200-50, tanh)",
        "train": ["piwae", "--dataset", "mnist", "--num-groups", "8", "--num-samples", "8", *_MLP_1, *_TRAINING],
        "epochs": 1500,
        "paper": 84.46, "source": _RAINFORTH, "target": 85.0, "pythae": 84.58,
    },
    "vamp-mnist": {
        "title": "VAE with a VampPrior of K = 500 pseudo-inputs, one stochastic layer (784-300-300-40, tanh; the paper's "
                 "units are gated), KL warm-up 100 epochs",
        "train": ["vae", "--dataset", "mnist", "--prior", "vamp", "--pseudo-inputs", "500", "--hidden-units", "300,300",
                  "--activation", "tanh", "--latent-dim", "40", "--kl-warmup", "100", "--batch-size", "100",
                  "--learning-rate", "5e-4", "--validation-split", "0"],
        "epochs": 1000,
        "paper": 85.57, "source": "Tomczak & Welling (2018), VAE with a VampPrior (AISTATS), dynamic MNIST",
        "target": 85.8, "pythae": 85.79,
    },
    "hvae-mnist": {
        # KL warm-up over the first 100 epochs (Sønderby et al. 2016): without it, at batch 100, most of h1's units
        # go inactive early (ELBO -104 and KL 15 nats after 200 epochs, where the one-layer VAE had -94 and 24)
        "title": "VAE, two stochastic layers (784-200-200-100, 100-100-50, tanh), k = 1, KL warm-up 100 epochs",
        "train": ["hvae", "--dataset", "mnist", "--hidden-units", "200,200", "--h1-dim", "100",
                  "--top-hidden-units", "100,100", "--activation", "tanh", "--latent-dim", "50", "--kl-warmup", "100",
                  *_TRAINING],
        "epochs": 1500,
        "paper": 85.33, "source": _BURDA, "target": 86.0, "pythae": None,
    },
    "conv-vae-mnist": {
        "title": "Convolutional VAE (filters 32, 64; code 16), MNIST",
        "train": ["vae", "--dataset", "mnist", "--architecture", "conv", "--filters", "32,64", "--latent-dim", "16",
                  "--batch-size", "100", "--learning-rate", "1e-3", "--schedule", "cosine", "--validation-split", "0"],
        "epochs": CONV_EPOCHS, "nll_samples": CONV_NLL_SAMPLES,
        "paper": None, "source": None, "target": None, "pythae": None,
    },
    "conv-vae-fashion-mnist": {
        "title": "Convolutional VAE (filters 32, 64; code 16), Fashion-MNIST (dynamically binarised)",
        "train": ["vae", "--dataset", "fashion_mnist", "--architecture", "conv", "--filters", "32,64",
                  "--latent-dim", "16", "--batch-size", "100", "--learning-rate", "1e-3", "--schedule", "cosine",
                  "--validation-split", "0"],
        "epochs": CONV_EPOCHS, "nll_samples": CONV_NLL_SAMPLES,
        "paper": None, "source": None, "target": None, "pythae": None,
    },
}
#: Importance samples of the test NLL.
NLL_SAMPLES = 5000


def train_command(name, epochs=None, out=None):
    """The ``kerasae train`` command line of entry ``name`` (a list)."""
    entry = REFERENCES[name]
    return ["kerasae", "train", *entry["train"], "--epochs", str(epochs or entry["epochs"]), "--resume",
            "--verbose", "2", "--out", out or os.path.join(RUNS, name)]


def _finished(run, epochs):
    """Whether ``run`` holds a finished run of ``epochs`` epochs (its metrics.json says so)."""
    try:
        with open(os.path.join(run, "metrics.json")) as f:
            return int(json.load(f)["config"]["epochs"]) == epochs
    except (OSError, ValueError, KeyError, TypeError):
        return False


def read_history(run):
    """``(epochs, wall seconds, CPU seconds)`` summed over the run's per-epoch log ``history.csv``."""
    with open(os.path.join(run, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    epochs = {int(r["epoch"]): r for r in rows}  # a resumed epoch logged twice counts once (its last time)
    wall = sum(float(r.get("epoch_seconds") or 0) for r in epochs.values())
    cpu = sum(float(r.get("cpu_seconds") or 0) for r in epochs.values())
    return len(epochs), wall, cpu


#: The columns of a run's learning curve kept beside its result (``NAME.history.csv``).
CURVE_COLUMNS = ("epoch", "elbo", "kl", "reconstruction_nll", "learning_rate", "epoch_seconds", "cpu_seconds")


def save_learning_curve(name, run):
    """Writes the run's per-epoch training ELBO, KL, learning rate and times to ``RESULTS/NAME.history.csv``
    (the run folder is not committed); returns the file's name."""
    with open(os.path.join(run, "history.csv")) as f:
        rows = {int(r["epoch"]): r for r in csv.DictReader(f)}  # a resumed epoch logged twice: its last time
    path = os.path.join(RESULTS, f"{name}.history.csv")
    os.makedirs(RESULTS, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CURVE_COLUMNS)
        for epoch in sorted(rows):
            writer.writerow([epoch] + [f"{float(rows[epoch][c]):.6g}" for c in CURVE_COLUMNS[1:]])
    return os.path.basename(path)


def evaluate(run, num_samples=NLL_SAMPLES):
    """The run's test ELBO and NLL (``num_samples`` importance samples, every test image, seeded with the run's
    ``--seed``, as ``kerasae evaluate RUN --nll-samples K`` estimates it), timed."""
    import argparse as _argparse

    from kerasae.cli.runs import load_data, load_run

    model, config, entry = load_run(run)
    config = _argparse.Namespace(**{**vars(config), "nll_samples": num_samples})
    seed = config.seed
    data = load_data(config, entry)
    wall, cpu = time.perf_counter(), time.process_time()
    figures = entry.evaluate(model, data, config)
    return {"test_elbo": figures["elbo"], "test_nll": figures["nll"], "nll_samples": num_samples,
            "nll_seed": seed, "test_images": len(data.x_test),
            "nll_wall_seconds": time.perf_counter() - wall, "nll_cpu_seconds": time.process_time() - cpu}


def run_child(argv):
    """Runs ``argv`` to its end. A SIGTERM of this process (a scheduler's stop, ``kill``) is passed on to the child,
    which stops as ``kerasae train`` does on it (its staging folder removed, its backup kept for ``--resume``)
    instead of training on alone; Ctrl-C reaches both anyway. Exits with the child's status if it failed (the
    child has said why)."""
    child = subprocess.Popen(argv)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signal.SIGTERM))
    try:
        try:
            code = child.wait()
        except KeyboardInterrupt:  # the terminal's Ctrl-C reached the child too: let it clean up
            code = child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code != 0:
        raise SystemExit(code if code > 0 else 128 - code)


def reproduce(name, epochs=None, evaluate_only=False, num_samples=None, preset=False):
    """Trains (or resumes) and evaluates entry ``name`` with ``num_samples`` importance samples (default: the
    entry's, else :data:`NLL_SAMPLES`); writes and returns its result. A run that meets its target (or any, with
    ``preset=True``) becomes the preset ``presets/NAME``."""
    entry = REFERENCES[name]
    num_samples = num_samples or entry.get("nll_samples", NLL_SAMPLES)
    epochs = epochs or entry["epochs"]
    run = os.path.join(RUNS, name)
    command = train_command(name, epochs, run)
    if not evaluate_only and not _finished(run, epochs):
        if os.path.exists(run):  # an earlier, shorter run of this entry: replaced when this one ends
            command.append("--overwrite")
        print("$ " + shlex.join(command), flush=True)
        run_child([sys.executable, "-m", "kerasae", *command[1:]])
    done, wall, cpu = read_history(run)
    result = {
        "name": name, "title": entry["title"], "paper_nll": entry["paper"], "source": entry["source"],
        "target_nll": entry["target"], "pythae_nll": entry["pythae"], "epochs": done,
        "train_wall_minutes": wall / 60, "train_cpu_minutes": cpu / 60,
        "command": f"python -m benchmarks.reproduce {name}" + (f" --epochs {epochs}" if epochs != entry["epochs"] else ""),
        "train_command": shlex.join(train_command(name, epochs, f"runs/reproduce/{name}")),
        "date": time.strftime("%Y-%m-%d"),
    }
    result["learning_curve"] = save_learning_curve(name, run)
    result.update(evaluate(run, num_samples))
    result["meets_target"] = None if entry["target"] is None else bool(result["test_nll"] <= entry["target"])
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    if RESULTS == DEFAULT_RESULTS:
        from benchmarks import report

        report.write_markdown()
    if preset or result["meets_target"]:
        write_preset(name, run, result)
    return result


def write_preset(name, run, result):
    """Turns the run into the preset ``presets/NAME`` (:mod:`benchmarks.make_preset`), with the full test set's
    NLL among the card's figures."""
    import tempfile

    from benchmarks import make_preset

    figure = {"metric": "nll", "value": result["test_nll"], "split": "test", "n_examples": result["test_images"],
              "num_samples": result["nll_samples"], "seed": result["nll_seed"],
              "command": f"python -m benchmarks.reproduce {name} --evaluate-only"}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([figure], f)
    try:
        code = make_preset.main([os.path.relpath(run), "--name", name, "--figures", f.name, "--overwrite",
                                 "--description", f"{result['title']}: test NLL {result['test_nll']:.2f} nats "
                                 f"(k = {result['nll_samples']}, full test set), {result['epochs']} epochs"])
    finally:
        os.remove(f.name)
    if code:
        raise SystemExit(code)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", choices=sorted(REFERENCES), help="the reference entry")
    parser.add_argument("--list", action="store_true", help="list the entries and their commands")
    parser.add_argument("--epochs", type=int, default=None, help="override the entry's epochs (a shorter trial)")
    parser.add_argument("--evaluate-only", action="store_true", help="only re-estimate the NLL of the run")
    parser.add_argument("--nll-samples", type=int, default=None,
                        help=f"importance samples of the test NLL (default: the entry's, else {NLL_SAMPLES})")
    parser.add_argument("--preset", action="store_true",
                        help="make the run a preset even without a target met (entries without a paper figure)")
    args = parser.parse_args(argv)
    if args.list or args.name is None:
        for name, entry in REFERENCES.items():
            print(f"{name}: {entry['title']}; paper {entry['paper']}, target {entry['target']}\n  "
                  + shlex.join(train_command(name)))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    reproduce(args.name, args.epochs, args.evaluate_only, args.nll_samples, args.preset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
