"""``kerasae train MODEL``: loads a data set (``digits`` by default, offline), builds the registered model
MODEL, trains it with ``model.fit`` and writes a run folder (see :mod:`kerasae.cli.runs`).

The folder is written atomically (:class:`kerasae.utils.files.Staging`): everything goes to a private
staging folder beside it, renamed into place at the end, so a failed or interrupted run leaves existing
outputs untouched. With ``--resume`` the run backs itself up every epoch in ``.NAME.backup`` beside the run
folder, where the next ``--resume`` run of the same folder finds it.
"""

import json
import os
import time

from kerasae.cli.arguments import Parser, common_arguments
from kerasae.cli.registry import keras_verbose, models
from kerasae.cli.runs import format_metrics, load_data, version, write_metrics
from kerasae.utils.files import Staging


def add_parser(commands):
    """Adds ``train`` and one sub-command per registered model to the ``commands`` sub-parsers."""
    train = commands.add_parser("train", help="train a model and write a run folder", description="Train a registered model.")
    sub_commands = train.add_subparsers(dest="model", metavar="MODEL", parser_class=Parser)
    sub_commands.required = True
    common = common_arguments()
    for name, entry in sorted(models().items()):
        sub = sub_commands.add_parser(name, help=entry.help, description=entry.help, parents=[common])
        if entry.arguments:
            group = sub.add_argument_group(f"{name} options")
            for flags, kwargs in entry.arguments:
                group.add_argument(*flags, **kwargs)
    return train


def run_folder(args):
    """The checked run folder of ``args``: ``(out, backup)``, absolute paths."""
    out = os.path.abspath(args.out or os.path.join("runs", args.model))
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out} exists and is not a folder. Fix: choose another --out.")
    if os.path.isdir(out) and os.listdir(out) and not args.overwrite:
        raise ValueError(
            f"The run folder {out} already exists and is not empty. Fix: pass --overwrite to replace it, "
            "or choose another --out."
        )
    parent, base = os.path.split(out)
    # A fixed name, so that the next --resume run of this folder finds the backup again.
    return out, os.path.join(parent, f".{base}.backup")


def resume_epoch(backup):
    """The last epoch completed in a ``--resume`` backup folder, 0 if there is none."""
    try:
        with open(os.path.join(backup, "training_metadata.json")) as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _jit(value):
    return {"auto": "auto", "on": True, "off": False}[value]


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
    codes = np.asarray(model.encode_mean(data.x_test))
    if codes.ndim == 2 and codes.shape[1] == 2:
        paths.append(os.path.join(out_dir, "latent_scatter.png"))
        plots.latent_scatter(codes, data.y_test, path=paths[-1])
    return paths


def _fit(entry, model, data, args, callbacks):
    if entry.fit is not None:
        return entry.fit(model, data, args, callbacks)
    val = None
    if len(data.x_val) >= args.batch_size:
        val = entry.make_pipeline(model, data, "val", args.batch_size)
    return model.fit(
        entry.make_pipeline(model, data, "train", args.batch_size),
        validation_data=val,
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=keras_verbose(args),
        shuffle=False,  # the pipeline reshuffles each epoch
    )


def _write_run(run, model, data, entry, args, history, results, seconds, initial_epoch):
    os.makedirs(run)
    model.save(os.path.join(run, "model.keras"))
    standard_plots(model, data, history, run, reconstructions=entry.plots is None)
    if entry.plots is not None:
        entry.plots(model, data, run)
    config = {k: v for k, v in vars(args).items() if k not in ("command",)}
    write_metrics(
        os.path.join(run, "metrics.json"),
        {
            **results,
            "history": getattr(history, "history", history),
            "config": config,
            "model_class": type(model).__name__,
            "train_seconds": seconds,
            "initial_epoch": initial_epoch,
            "kerasae_version": version(),
        },
    )


def train(args):
    """Runs ``kerasae train``; returns the run folder."""
    import keras

    from kerasae.callbacks import StopOnNaN

    entry = models()[args.model]
    out, backup = run_folder(args)
    previous_policy = keras.config.dtype_policy()
    try:
        with Staging(os.path.dirname(out)) as staging:
            keras.utils.set_random_seed(args.seed)
            keras.config.set_dtype_policy(args.dtype_policy)
            data = load_data(args, entry)
            model = entry.build(args, data)
            model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), jit_compile=_jit(args.jit_compile))
            callbacks = [StopOnNaN()]
            initial_epoch = 0
            if args.resume:
                # Keras restores weights, optimizer state and the epoch; double_checkpoint keeps the previous
                # backup, so a crash while writing one falls back to the one before.
                initial_epoch = resume_epoch(backup)
                callbacks.append(keras.callbacks.BackupAndRestore(backup, double_checkpoint=True))
                if initial_epoch:
                    print(f"Resuming from epoch {initial_epoch} of {args.epochs} ({backup}).")
            start = time.perf_counter()
            history = _fit(entry, model, data, args, callbacks)
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
            run = staging.path("run")
            _write_run(run, model, data, entry, args, history, results, seconds, initial_epoch)
            staging.commit([(run, out)])
    finally:
        keras.config.set_dtype_policy(previous_policy)
    print("test: " + format_metrics(results["test"]))
    print(f"Run written to {out}")
    return out
