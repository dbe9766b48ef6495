"""Turns a ``kerasae train`` run folder into a preset (see presets/README.md and kerasae.presets).

Usage:
    python benchmarks/make_preset.py RUN_DIR --name NAME [--figures results.json] [--out presets/NAME]
        [--description TEXT] [--num-samples 1000] [--n-examples 200] [--seed 0] [--overwrite]

It loads the run's model.keras in Keras safe mode (with its metrics.json, as ``kerasae evaluate`` does),
rebuilds the run's data from its recorded options, and records in the card: the training command, epochs and
seconds; the run's test metrics (measured again by ``kerasae evaluate RUN_DIR``); for the VAE family, the mean
``log_likelihood`` of the first ``--n-examples`` test examples with ``--num-samples`` importance samples and
``--seed`` (measured here; the tests measure it again); and the figures of ``--figures``, a JSON list of
``{metric, value, split, n_examples, num_samples, seed, command}``. Then :func:`kerasae.presets.write` writes the
preset folder atomically.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Run options that change nothing the preset records (left out of the training command).
_NOT_IN_COMMAND = ("model", "command", "verbose", "overwrite", "resume")


def train_command(config):
    """The ``kerasae train`` command line of a run's recorded ``config``."""
    from kerasae.cli import runs

    return " ".join(["kerasae", "train", str(config["model"]), *runs.config_argv(config, skip=_NOT_IN_COMMAND)])


def load_options(config, entry):
    """The keyword arguments of kerasae.datasets.load that rebuild the run's splits (as ``kerasae train``)."""
    options = {"flatten": config.architecture == "mlp", "validation_split": config.validation_split,
               "seed": config.seed}
    if entry.data_options is not None:
        options.update(entry.data_options(config))
    return options


def run_figures(metrics, config, n_test, run_dir):
    """The run's test metrics as card figures (``kerasae evaluate RUN_DIR`` measures them again)."""
    figures = []
    for metric, value in sorted((metrics.get("test") or {}).items()):
        if metric == "nll_samples" or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        nll = metric == "nll"
        figures.append({
            "metric": metric, "value": float(value), "split": "test", "n_examples": n_test,
            "num_samples": int(metrics["test"].get("nll_samples") or getattr(config, "nll_samples", 100) or 100)
            if nll else None,
            "seed": int(config.seed or 0) if nll else None,
            "command": f"kerasae evaluate {run_dir}",
        })
    return figures


def read_figures(path):
    with open(path) as f:
        figures = json.load(f)
    if not isinstance(figures, list):
        raise ValueError(f"Expected {path} to hold a JSON list of figures. Received a {type(figures).__name__}.")
    return figures


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a folder written by 'kerasae train' (model.keras, metrics.json)")
    parser.add_argument("--name", required=True, help="the preset's name (lowercase letters, digits, '.', '_', '-')")
    parser.add_argument("--out", default=None, help="the preset folder (default: presets/NAME in the repository)")
    parser.add_argument("--figures", default=None, help="a JSON list of further figures for the card")
    parser.add_argument("--description", default=None, help="one line for the card and the README")
    parser.add_argument("--num-samples", type=int, default=1000, help="importance samples of the log_likelihood figure")
    parser.add_argument("--n-examples", type=int, default=200, help="test examples of the log_likelihood figure")
    parser.add_argument("--seed", type=int, default=0, help="seed of the log_likelihood figure")
    parser.add_argument("--overwrite", action="store_true", help="replace a preset folder kerasae wrote")
    parser.add_argument("--saved-model", choices=("on_demand", "included"), default="on_demand",
                        help="ship the SavedModel in the folder, or let kerasae.presets.saved_model export it on first "
                             "use (the default: the built-in presets' weights fit their 25 MB once, not twice)")
    args = parser.parse_args(argv)

    import kerasae.presets
    from kerasae.cli import runs
    from kerasae.data import datasets
    from kerasae.presets import evaluation

    run_dir = os.path.abspath(args.run_dir)
    try:
        model, config, entry = runs.load_run(run_dir)  # safe mode; checks metrics.json and the model's class
        metrics = runs.read_metrics(run_dir)
        load = load_options(config, entry)
        data = datasets.load(config.dataset, **load)
        spec = evaluation.data_spec(data, load)
        figures = run_figures(metrics, config, len(data.x_test), args.run_dir)
        if callable(getattr(model, "log_likelihood", None)):
            figures.append(evaluation.log_likelihood_figure(model, data, name=args.name, n_examples=args.n_examples,
                                                            num_samples=args.num_samples, seed=args.seed))
        if args.figures:
            figures += read_figures(args.figures)
        out = args.out or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "presets", args.name)
        card = kerasae.presets.write(
            model, out, name=args.name, data=spec, command=train_command(metrics["config"]),
            epochs=metrics["config"].get("epochs"), seconds=metrics.get("train_seconds"), figures=figures,
            description=args.description, overwrite=args.overwrite, saved_model=args.saved_model == "included",
        )
    except (ValueError, OSError) as err:
        print(f"make_preset: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(f"Preset {card['name']} written to {out} ({card['size_bytes'] / 2**20:.2f} MiB).")
    for figure in card["figures"]:
        print(f"  {figure['metric']} ({figure['split']}, {figure['n_examples']} examples): {figure['value']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
