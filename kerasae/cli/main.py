"""The ``kerasae`` command line: ``train``, ``evaluate`` and ``export``.

``kerasae train MODEL`` loads a data set (``digits`` by default, offline), builds the registered variant
MODEL, trains it with ``model.fit`` and writes a run folder::

    RUN_DIR/model.keras        the trained model (loads with keras.models.load_model)
    RUN_DIR/metrics.json       final train and test metrics, the history and the configuration
    RUN_DIR/*.png              originals above reconstructions, loss curves, 2-D codes, variant plots

The folder is written atomically: everything goes to a temporary folder beside it, renamed at the end, so a
failed or interrupted run leaves existing outputs untouched.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from kerasae.callbacks import NaNLossError, StopOnNaN

RUN_FILES = ("model.keras", "metrics.json", "reconstructions.png", "loss_curves.png")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CLIError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _int_list(text):
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 128,64, got {text!r}")
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _common_arguments():
    parent = argparse.ArgumentParser(add_help=False)
    g = parent.add_argument_group("data and network (common to every model)")
    g.add_argument("--dataset", default="digits", help="digits (default, offline), mnist, fashion_mnist, or a .npz/.npy/.csv path")
    g.add_argument("--architecture", choices=("mlp", "conv"), default="mlp", help="encoder/decoder family (default: mlp)")
    g.add_argument("--latent-dim", type=_positive_int, default=8, help="size of the code (default: 8)")
    g.add_argument("--hidden-units", type=_int_list, default=None, help="MLP widths, widest first, e.g. 256,128")
    g.add_argument("--filters", type=_int_list, default=None, help="conv filters per block, e.g. 32,64")
    g.add_argument("--activation", default="relu", help="hidden activation (default: relu)")
    g.add_argument("--dropout", type=float, default=0.0, help="dropout rate after hidden layers (default: 0)")
    g.add_argument("--loss", choices=("mse", "bce"), default="mse", help="reconstruction loss (default: mse)")
    g.add_argument("--l2", type=_non_negative_float, default=0.0, help="L2 weight penalty (default: 0)")
    g.add_argument("--validation-split", type=float, default=0.1, help="fraction of training data for validation")
    g.add_argument("--holdout-class", type=int, default=None, help="leave this label out of training (for 'evaluate --anomaly')")
    t = parent.add_argument_group("training")
    t.add_argument("--epochs", type=_positive_int, default=20, help="epochs (default: 20)")
    t.add_argument("--batch-size", type=_positive_int, default=64, help="batch size (default: 64)")
    t.add_argument("--learning-rate", type=_non_negative_float, default=2e-3, help="Adam learning rate (default: 2e-3)")
    t.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto", help="XLA compilation of the training step (default: auto: on, measured faster; off under a distribution strategy)")
    t.add_argument("--dtype-policy", choices=("float32", "mixed_float16", "mixed_bfloat16"), default="float32", help="Keras dtype policy; mixed_* computes in 16 bits, keeps variables and losses in float32 (default: float32)")
    t.add_argument("--seed", type=int, default=0, help="random seed for data splits, initialisation and noise (default: 0)")
    t.add_argument("--out", default=None, help="run folder (default: runs/MODEL)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    t.add_argument("--resume", action="store_true", help="back up every epoch and continue an interrupted run from its last completed epoch")
    t.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None, help="Keras verbosity (default: progress bar on a terminal)")
    return parent


def build_parser():
    """The argument parser of the ``kerasae`` command (train options come from the model registry)."""
    from kerasae.cli import registry

    parser = _Parser(prog="kerasae", description="Train, evaluate and export autoencoders (Keras 3 / TensorFlow).")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    train = commands.add_parser("train", help="train a model and write a run folder", description="Train a registered model.")
    models = train.add_subparsers(dest="model", metavar="MODEL", parser_class=_Parser)
    models.required = True
    common = _common_arguments()
    for name, entry in sorted(registry.models().items()):
        sub = models.add_parser(name, help=entry.help, description=entry.help, parents=[common])
        if entry.arguments:
            group = sub.add_argument_group(f"{name} options")
            for flags, kwargs in entry.arguments:
                group.add_argument(*flags, **kwargs)

    evaluate = commands.add_parser("evaluate", help="evaluate a run folder on its test data")
    evaluate.add_argument("run_dir", help="a folder written by 'kerasae train'")
    evaluate.add_argument("--nll-samples", type=_positive_int, default=None, help="importance samples for the NLL of generative models")
    evaluate.add_argument("--anomaly", action="store_true", help="report anomaly-detection ROC AUC with the run's --holdout-class as anomalies")
    evaluate.add_argument("--anomaly-class", type=int, default=None, help="label treated as anomalous (default: the run's --holdout-class)")
    evaluate.add_argument("--batch-size", type=_positive_int, default=256)

    export = commands.add_parser("export", help="export a run folder or .keras file to SavedModel / TFLite")
    from kerasae.cli import export as export_command

    export_command.add_export_arguments(export)
    return parser


def _version():
    from kerasae import __version__

    return f"kerasae {__version__}"


# --------------------------------------------------------------------------------------------- train
def _data_options(entry, args):
    options = {
        "flatten": args.architecture == "mlp",
        "validation_split": args.validation_split,
        "seed": args.seed,
    }
    if entry.data_options is not None:
        options.update(entry.data_options(args))
    return options


def load_data(args, entry):
    """Loads the run's data set as the CLI does (also used by ``evaluate`` and ``export``)."""
    import numpy as np

    from kerasae.data import datasets

    data = datasets.load(args.dataset, **_data_options(entry, args))
    if getattr(args, "holdout_class", None) is not None:
        if data.y_train is None:
            raise ValueError(f"--holdout-class needs labels, and {args.dataset!r} has none.")
        for split in ("train", "val"):
            x, y = data.split(split)
            keep = y != args.holdout_class
            setattr(data, f"x_{split}", x[keep])
            setattr(data, f"y_{split}", y[keep])
        if not np.any(data.y_test == args.holdout_class):
            raise ValueError(f"--holdout-class {args.holdout_class} does not occur in the test labels.")
    return data


def _jit(value):
    return {"auto": "auto", "on": True, "off": False}[value]


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _write_json(path, payload):
    with open(path, "w") as f:
        json.dump(_json_safe(payload), f, indent=2, sort_keys=True)


def _prepare_out(args):
    """Checks the run folder and makes its staging folder; returns ``(out, staging, backup)``."""
    out = os.path.abspath(args.out or os.path.join("runs", args.model))
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out} exists and is not a folder. Fix: choose another --out.")
    if os.path.isdir(out) and os.listdir(out) and not args.overwrite:
        raise ValueError(
            f"The run folder {out} already exists and is not empty. Fix: pass --overwrite to replace it, "
            "or choose another --out."
        )
    parent, base = os.path.split(out)
    os.makedirs(parent, exist_ok=True)
    # Fixed names beside the run folder: a crashed run's staging folder is replaced by the next run's, and
    # its backup (with --resume) is found again.
    staging = os.path.join(parent, f".{base}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    backup = os.path.join(parent, f".{base}.backup")
    return out, staging, backup


def _resume_epoch(backup):
    try:
        with open(os.path.join(backup, "training_metadata.json")) as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _commit(staging, out):
    if os.path.isdir(out):
        trash = tempfile.mkdtemp(prefix=".kerasae-old-", dir=os.path.dirname(out))
        os.replace(out, os.path.join(trash, "old"))
        os.replace(staging, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, out)


def standard_plots(model, data, history, out_dir, reconstructions=True):
    """Writes the plots every run gets (loss curves; reconstructions and 2-D codes where the model takes
    plain inputs); returns their paths."""
    import numpy as np

    from kerasae import plots

    paths = [os.path.join(out_dir, "loss_curves.png")]
    plots.loss_curves(history, path=paths[0])
    if not reconstructions:
        return paths
    x = data.x_test[:10]
    paths.append(os.path.join(out_dir, "reconstructions.png"))
    plots.reconstructions(x, np.asarray(model.reconstruct(x)), image_shape=data.image_shape, path=paths[-1])
    codes = model.encode(data.x_test)
    codes = np.asarray(codes.mean() if callable(getattr(codes, "mean", None)) and not hasattr(codes, "numpy") else codes)
    if codes.ndim == 2 and codes.shape[1] == 2:
        paths.append(os.path.join(out_dir, "latent_scatter.png"))
        plots.latent_scatter(codes, data.y_test, path=paths[-1])
    return paths


def train(args):
    """Runs ``kerasae train``; returns the run folder."""
    import keras

    from kerasae.cli import registry

    entry = registry.models()[args.model]
    out, staging, backup = _prepare_out(args)
    previous_policy = keras.config.dtype_policy()
    try:
        keras.utils.set_random_seed(args.seed)
        keras.config.set_dtype_policy(args.dtype_policy)
        data = load_data(args, entry)
        model = entry.build(args, data)
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), jit_compile=_jit(args.jit_compile))
        verbose = args.verbose if args.verbose is not None else ("auto" if sys.stdout.isatty() else 2)
        callbacks = [StopOnNaN()]
        initial_epoch = 0
        if args.resume:
            # Keras restores weights, optimizer state and the epoch; double_checkpoint keeps the previous
            # backup, so a crash while writing one falls back to the one before.
            initial_epoch = _resume_epoch(backup)
            callbacks.append(keras.callbacks.BackupAndRestore(backup, double_checkpoint=True))
            if initial_epoch:
                print(f"Resuming from epoch {initial_epoch} of {args.epochs} ({backup}).")
        start = time.perf_counter()
        if entry.fit is not None:
            history = entry.fit(model, data, args, callbacks)
        else:
            val = None
            if len(data.x_val) >= args.batch_size:
                val = entry.make_pipeline(model, data, "val", args.batch_size)
            history = model.fit(
                entry.make_pipeline(model, data, "train", args.batch_size),
                validation_data=val,
                epochs=args.epochs,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,  # the pipeline reshuffles each epoch
            )
        seconds = time.perf_counter() - start
        results = {
            split: model.evaluate(
                entry.make_pipeline(model, data, split, min(args.batch_size, len(data.split(split)[0]))),
                verbose=0,
                return_dict=True,
            )
            for split in ("train", "test")
        }
        if entry.evaluate is not None:
            results["test"].update(entry.evaluate(model, data, args))
        model.save(os.path.join(staging, "model.keras"))
        standard_plots(model, data, history, staging, reconstructions=entry.plots is None)
        if entry.plots is not None:
            entry.plots(model, data, staging)
        config = {k: v for k, v in vars(args).items() if k not in ("command",)}
        _write_json(
            os.path.join(staging, "metrics.json"),
            {
                **results,
                "history": getattr(history, "history", history),
                "config": config,
                "model_class": type(model).__name__,
                "train_seconds": seconds,
                "initial_epoch": initial_epoch,
                "kerasae_version": _version().split()[-1],
            },
        )
        _commit(staging, out)
    finally:
        keras.config.set_dtype_policy(previous_policy)
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
    print("test: " + ", ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in results["test"].items()))
    print(f"Run written to {out}")
    return out


# --------------------------------------------------------------------------------------------- evaluate
def load_run(run_dir):
    """Loads a run folder: ``(model, config namespace, registry entry)``."""
    from kerasae.cli import registry

    model_path = os.path.join(run_dir, "model.keras")
    metrics_path = os.path.join(run_dir, "metrics.json")
    for path in (model_path, metrics_path):
        if not os.path.isfile(path):
            raise ValueError(f"{run_dir} is not a run folder: {os.path.basename(path)} is missing. Expected a folder written by 'kerasae train'.")
    with open(metrics_path) as f:
        config = argparse.Namespace(**json.load(f)["config"])
    entry = registry.models().get(config.model)
    if entry is None:
        raise ValueError(f"The run was made with model {config.model!r}, which this kerasae does not know.")
    from kerasae.safe_loading import load_model

    return load_model(model_path), config, entry


def evaluate(args):
    """Runs ``kerasae evaluate``; prints and returns the test metrics."""
    model, config, entry = load_run(args.run_dir)
    for key in ("nll_samples",):
        setattr(config, key, getattr(args, key))
    data = load_data(config, entry)
    batch = min(args.batch_size, len(data.x_test))
    results = model.evaluate(entry.make_pipeline(model, data, "test", batch), verbose=0, return_dict=True)
    if entry.evaluate is not None:
        results.update(entry.evaluate(model, data, config))
    if args.anomaly:
        anomaly_class = args.anomaly_class if args.anomaly_class is not None else config.holdout_class
        if anomaly_class is None:
            raise ValueError("--anomaly needs an anomalous class: train with --holdout-class C, or pass --anomaly-class C.")
        from kerasae import anomaly

        full = load_data(argparse.Namespace(**{**vars(config), "holdout_class": None}), entry)
        is_anomaly = full.y_test == anomaly_class
        if not is_anomaly.any() or is_anomaly.all():
            raise ValueError(
                f"--anomaly needs test examples of class {anomaly_class} and of other classes; the test labels "
                f"are {sorted(set(full.y_test.tolist()))}. Fix: pass an --anomaly-class that occurs."
            )
        # The threshold comes from normal validation data when there is some, so the false-positive rate
        # on the test data is an honest estimate.
        reference = data.x_val if len(data.x_val) else None
        report = anomaly.anomaly_report(model, full.x_test[~is_anomaly], full.x_test[is_anomaly], x_reference=reference)
        results.update({f"anomaly_{k}": v for k, v in report.items()})
    for name, value in results.items():
        print(f"{name}: {value:.6g}" if isinstance(value, float) else f"{name}: {value}")
    return results


# --------------------------------------------------------------------------------------------- main
def main(argv=None):
    """Entry point of the ``kerasae`` console script. Returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import matplotlib

        matplotlib.use("Agg")
        args = build_parser().parse_args(argv)
        if args.command == "train":
            train(args)
        elif args.command == "evaluate":
            evaluate(args)
        elif args.command == "export":
            from kerasae.cli import export as export_command

            export_command.export_from_args(args)
        return 0
    except CLIError as err:
        print(err, file=sys.stderr)
        return 2
    except (ValueError, NaNLossError, OSError) as err:
        print(f"kerasae: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kerasae: interrupted; nothing was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
