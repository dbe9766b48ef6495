"""``kerasae train MODEL``: loads a data set (``digits`` by default, offline), builds the registered model
MODEL, trains it with ``model.fit`` and writes a run folder (see :mod:`kerasae.cli.runs`).

The folder is written atomically (:class:`kerasae.utils.files.Staging`): everything goes to a private
staging folder beside it, renamed into place at the end, so a failed or interrupted run leaves existing
outputs untouched. A lock (``.NAME.lock`` beside the folder, :func:`kerasae.utils.files.locked`), taken
before anything else, makes a second run of the same folder fail at once. Every run folder holds kerasae's
marker (:data:`kerasae.utils.files.MARKER`); ``--overwrite`` replaces only such a folder, and never the
working directory, one of its parents, the home folder or a filesystem root.

With ``--resume`` the run backs itself up every epoch in ``.NAME.backup`` beside the run folder, where the
next ``--resume`` run of the same folder finds it. The backup records the run's options; a ``--resume`` run
whose model or data options differ, whose schedule would change, or whose ``--epochs`` the backup has already
passed, is refused. The backup goes only once the run folder is written: after an error in the evaluation or the
plots, the same command writes the run without training again. Without a backup, ``--resume`` with a larger
``--epochs`` trains a finished run of the same options on (its weights, optimizer state and per-epoch log; with
``--schedule-epochs``, a schedule's last rate holds past its end). A finished run without ``--resume`` removes a
stale backup of its folder (only one kerasae wrote).

Every check on the options and the folders runs before TensorFlow is imported.
"""

import json
import os
import shutil
import time

from kerasae.cli.arguments import Parser, common_arguments
from kerasae.cli.baseline import pca_baseline
from kerasae.cli.registry import add_model_options, check_options_apply, keras_verbose, models
from kerasae.cli.runs import (
    HISTORY_CSV,
    NOT_MODEL_OPTIONS,
    format_metrics,
    json_safe,
    load_data,
    resolve_dataset,
    version,
    write_metrics,
)
from kerasae.utils import files
from kerasae.utils.files import Staging


def add_parser(commands):
    """Adds ``train`` and one sub-command per registered model to the ``commands`` sub-parsers."""
    train = commands.add_parser("train", help="train a model and write a run folder", description="Train a registered model.")
    sub_commands = train.add_subparsers(dest="model", metavar="MODEL", parser_class=Parser)
    sub_commands.required = True
    for name, entry in sorted(models().items()):
        # A parent of its own: a model's defaults (add_model_options) change its parent's actions.
        sub = sub_commands.add_parser(name, help=entry.help, description=entry.help, parents=[common_arguments()])
        add_model_options(sub, entry)
    return train


def run_folder(args):
    """The checked run folder of ``args``: ``(out, backup)``, absolute paths (see
    :func:`kerasae.utils.files.check_replaceable` for what is refused)."""
    out = os.path.abspath(args.out or os.path.join("runs", args.model))
    # With --resume, a finished run there may be trained on (check_resume checks it is the same run).
    overwrite = getattr(args, "overwrite", False) or (
        getattr(args, "resume", False) and files.is_kerasae_folder(out, "run"))
    files.check_replaceable(out, "run", option="--out", overwrite=overwrite)
    parent, base = os.path.split(out)
    # A fixed name, so that the next --resume run of this folder finds the backup again.
    return out, os.path.join(parent, f".{base}.backup")


def resume_epoch(backup):
    """The last epoch completed in a ``--resume`` backup folder, 0 if there is none."""
    try:
        with open(os.path.join(backup, "training_metadata.json")) as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def run_config(args):
    """The options a run records (``metrics.json``'s ``config``, the backup's), plain JSON values."""
    return json_safe({k: v for k, v in vars(args).items() if k not in ("command",)})


def _differences(recorded, current, limit=6):
    """``"key was A, now B; ..."`` for the model and data options that differ ("" if none). Options only one
    side has (another model's) are named only when nothing else differs; one only one side has and that is
    unset (``None``) there, as an option added to kerasae since the backup was written, is no difference."""
    absent = "(not set)"

    def value(options, key):
        return options[key] if options.get(key) is not None else absent

    def listed(keys):
        keys = sorted(set(keys) - set(NOT_MODEL_OPTIONS), key=lambda k: (k != "model", k))
        return [f"{k} was {value(recorded, k)!r}, now {value(current, k)!r}"
                for k in keys if value(recorded, k) != value(current, k)]

    found = listed(set(recorded) & set(current)) or listed(set(recorded) | set(current))
    return "; ".join(found[:limit]) + (f"; and {len(found) - limit} more" if len(found) > limit else "")


def schedule_epochs(options):
    """The epochs a run's ``--schedule`` spans: its ``--schedule-epochs``, else its ``--epochs`` (``options``: a
    recorded ``config`` dict)."""
    return options.get("schedule_epochs") or options.get("epochs")


def _check_same_run(recorded, args, what, fix, filled=False):
    """Refuses to continue ``what`` (a backup or a finished run, with the options ``recorded``) with ``args`` when
    their model or data options differ (listing them) or when its ``--schedule`` would change midway. ``filled``:
    ``recorded`` holds the defaults the model's builder filled in (a finished run's), which an option unset now
    takes again."""
    current = run_config(args)
    if filled:
        current = {k: v for k, v in current.items() if v is not None or k not in recorded}
        current = {**{k: recorded[k] for k in recorded if k not in current}, **current}
    differences = _differences(*({k: v for k, v in c.items() if k != "schedule_epochs"} for c in (recorded, current)))
    if differences:
        raise ValueError(f"--resume: {what} is of another run ({differences}). Fix: {fix}.")
    spanned = schedule_epochs(recorded)
    if recorded.get("schedule", "constant") != "constant" and spanned != schedule_epochs(current):
        raise ValueError(
            f"--resume: {what} runs its --schedule {recorded['schedule']} over {spanned} epochs; this run's would "
            f"span {schedule_epochs(current)}, changing the schedule midway. Fix: pass --schedule-epochs {spanned} "
            "(with any --epochs; past them the last rate holds), or drop --resume to train afresh."
        )


def check_resume(args, backup, out=None):
    """Checks a ``--resume`` run against its backup before anything runs; returns the epoch it resumes
    from (0 when it starts afresh).

    Refuses a backup kerasae did not write, one made with other model or data options (listing them) or over
    another schedule, and an ``--epochs`` the backup has already passed (one it has reached: training finished but
    the run was not written, which this run then does without training). A backup of kerasae's that holds no
    training state yet is replaced. Without a backup, a finished run in ``out`` of the same options goes on
    from its last epoch (:func:`_finished_epochs`).
    """
    if not os.path.lexists(backup):
        return _finished_epochs(args, out) if out else 0
    marker = files.read_marker(backup) if os.path.isdir(backup) else None
    if marker is None or marker.get("kind") != "backup" or not isinstance(marker.get("config"), dict):
        raise ValueError(
            f"--resume: {backup} holds no kerasae record of the run it backs up (written by an older kerasae, "
            "or not by kerasae). Fix: remove it yourself to train afresh, or drop --resume."
        )
    if set(os.listdir(backup)) <= {files.MARKER}:  # nothing trained yet: any options may start afresh
        files.remove(backup)
        return 0
    _check_same_run(marker["config"], args, f"the backup {backup}", "rerun with the backed-up options, or drop "
                    "--resume to train afresh (the backup is removed when that run ends)")
    epoch = resume_epoch(backup)
    if epoch and args.epochs < epoch:
        raise ValueError(
            f"--resume: the backup {backup} has completed {epoch} epochs, so --epochs {args.epochs} leaves "
            f"none to train. Fix: pass --epochs greater than {epoch}, or drop --resume to train afresh."
        )
    return epoch


def _finished_epochs(args, out):
    """The epochs of the finished run in ``out`` that a ``--resume`` run without a backup continues (its weights,
    optimizer state and per-epoch log: :func:`_backup_finished_run`): 0 when ``out`` holds no kerasae run. A run
    of other options, or one that has reached ``--epochs``, is refused, unless ``--overwrite`` asks to replace it
    (the run then starts afresh)."""
    try:
        with open(os.path.join(out, "metrics.json")) as f:
            metrics = json.load(f)
        config, done = metrics["config"], int(metrics["initial_epoch"]) + len(metrics["history"]["loss"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    if not files.is_kerasae_folder(out, "run") or not isinstance(config, dict):
        return 0
    try:
        _check_same_run(config, args, f"the finished run {out}", "pass its options (metrics.json's config) to "
                        "train it on, or --overwrite to replace it, or choose another --out", filled=True)
        if args.epochs <= done:
            raise ValueError(
                f"--resume: the finished run {out} has trained {done} epochs, so --epochs {args.epochs} leaves none "
                f"to train. Fix: pass --epochs greater than {done} to train it on, or --overwrite to replace it."
            )
    except ValueError:
        if getattr(args, "overwrite", False):
            return 0
        raise
    return done


def _backup_finished_run(model, out, backup, config, epochs):
    """Writes the ``--resume`` backup of the finished run in ``out`` (``epochs`` epochs) that Keras'
    ``BackupAndRestore`` then restores: its weights and optimizer state (from its ``model.keras``), its epoch
    count and its per-epoch log. Through the callback's own saving, so the backup is Keras' format."""
    import keras

    model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(out, "model.keras"))
    _start_backup(backup, config)
    shutil.copyfile(os.path.join(out, HISTORY_CSV), os.path.join(backup, HISTORY_CSV))
    writer = keras.callbacks.BackupAndRestore(backup)
    writer.set_model(model)
    writer.on_epoch_end(epochs - 1)  # records `epochs` epochs done


def _start_backup(backup, config):
    """Creates the ``--resume`` backup folder with kerasae's marker and the run's options ``config`` (as
    :func:`check_resume` compares them: taken before the model is built), unless it exists."""
    if files.read_marker(backup) is None:
        os.makedirs(backup, exist_ok=True)
        files.write_marker(backup, "backup", config=config)


def _remove_stale_backup(backup):
    """Once a run folder is written: its backup (a stale one without ``--resume``, one done with after a
    ``--resume`` run) is removed if kerasae wrote it."""
    if files.is_kerasae_folder(backup, "backup"):
        files.remove(backup)


def check_args(args, entry):
    """The checks of a ``kerasae train`` run that need neither TensorFlow nor the run's lock (they change
    nothing): options that do not apply, the run folder. Records ``--dataset`` as an absolute path when it
    names a file. Returns ``(out, backup)``."""
    check_options_apply(args, entry)
    check_normal_class(args, entry)
    if getattr(args, "schedule_epochs", None) is not None and args.schedule == "constant":
        raise ValueError(
            f"--schedule-epochs {args.schedule_epochs} sets how long a --schedule runs, and this run's rate is "
            "constant. Fix: pass --schedule burda or cosine, or drop --schedule-epochs."
        )
    args.dataset = resolve_dataset(args.dataset)
    if getattr(args, "tensorboard", None):
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise ValueError(
                "--tensorboard needs the tensorboard package, which is not installed. Fix: pip install "
                "'kerasae[tensorboard]' (or tensorboard), or drop --tensorboard."
            )
        args.tensorboard = os.path.abspath(args.tensorboard)
        if os.path.lexists(args.tensorboard) and not os.path.isdir(args.tensorboard):
            raise ValueError(
                f"--tensorboard {args.tensorboard} is a file; expected a folder for TensorBoard's logs (new or "
                "existing). Fix: choose another --tensorboard folder."
            )
    return run_folder(args)


def check_normal_class(args, entry):
    """Refuses ``--normal-class`` with ``--holdout-class``, and for a model trained on the labels (one class
    leaves it one label)."""
    if getattr(args, "normal_class", None) is None:
        return
    if getattr(args, "holdout_class", None) is not None:
        raise ValueError(
            f"--normal-class {args.normal_class} and --holdout-class {args.holdout_class} are two anomaly settings: "
            "--normal-class trains on that class alone (the one-class protocol), --holdout-class on every class "
            "but that one. Fix: pass one of them."
        )
    if entry.pipeline is not None:
        raise ValueError(
            f"--normal-class does not apply to 'kerasae train {entry.name}': it trains on the labels, and one "
            "class leaves a single label. Fix: train autoencoder, vae or another model of the images alone, or "
            "drop --normal-class."
        )


def _jit(value):
    return {"auto": "auto", "on": True, "off": False}[value]


def standard_plots(model, data, history, out_dir, reconstructions=True, baseline=None, codes=True):
    """Writes the plots every run gets (loss curves; where the model takes plain inputs, reconstructions, with
    PCA's below them when ``baseline`` (a :class:`~kerasae.models.linear.PCA`) is given, and with ``codes`` the
    2-D codes); returns their paths."""
    import numpy as np

    from kerasae import plots

    paths = [os.path.join(out_dir, "loss_curves.png")]
    plots.loss_curves(history, path=paths[0])
    if not reconstructions:
        return paths
    x = data.x_test[:10]
    paths.append(os.path.join(out_dir, "reconstructions.png"))
    plots.reconstructions(x, np.asarray(model.reconstruct(x)), image_shape=data.image_shape, path=paths[-1],
                          baseline=None if baseline is None else baseline.reconstruct(x),
                          baseline_name=None if baseline is None else f"PCA k={len(baseline.components)}")
    codes = np.asarray(model.encode_mean(data.x_test)) if codes else None
    if codes is not None and codes.ndim == 2 and codes.shape[1] == 2:
        paths.append(os.path.join(out_dir, "latent_scatter.png"))
        plots.latent_scatter(codes, data.y_test, path=paths[-1])
    return paths


def _has_validation(data, args):
    return len(data.x_val) >= args.batch_size


def steps_per_epoch(entry, model, data, args):
    """Optimizer steps per epoch of the run: the training pipeline's length (one pass over the training split
    in batches of ``--batch-size`` when Keras cannot tell)."""
    import math

    cardinality = int(entry.make_pipeline(model, data, "train", args.batch_size).cardinality())
    return cardinality if cardinality > 0 else max(1, math.ceil(len(data.x_train) / args.batch_size))


def learning_rate(entry, model, data, args):
    """``--learning-rate`` under ``--schedule`` (:func:`kerasae.schedules.get`), over ``--epochs``; the plain rate
    for ``constant`` (without building the training pipeline to count its steps)."""
    from kerasae import schedules

    if args.schedule == "constant":
        return args.learning_rate
    return schedules.get(args.schedule, args.learning_rate, steps_per_epoch(entry, model, data, args),
                         args.schedule_epochs or args.epochs)


def training_callbacks(entry, model, data, args, csv_path, copy_to=None):
    """The callbacks every run gets (after :class:`~kerasae.callbacks.StopOnNaN`): the learning rate and the
    epoch's wall and CPU seconds in the logs (:class:`~kerasae.callbacks.EpochLogs`), the per-epoch CSV log
    ``csv_path`` (copied to ``copy_to`` when training ends), and those ``--early-stopping`` and
    ``--tensorboard`` ask for."""
    import keras

    from kerasae import callbacks as kcallbacks

    found = [kcallbacks.EpochLogs(), kcallbacks.CSVLog(csv_path, copy_to=None if copy_to == csv_path else copy_to)]
    if args.early_stopping:
        if not _has_validation(data, args):
            raise ValueError(
                f"--early-stopping watches the validation split, and this run has {len(data.x_val)} validation "
                f"examples, fewer than one batch of {args.batch_size}. Fix: raise --validation-split, lower "
                "--batch-size, or drop --early-stopping."
            )
        elbo = "elbo" in getattr(model, "loss_terms", ())
        found.append(keras.callbacks.EarlyStopping(
            monitor="val_elbo" if elbo else "val_loss", mode="max" if elbo else "min",
            patience=args.early_stopping, restore_best_weights=True, verbose=1))
    if args.tensorboard:
        found.append(keras.callbacks.TensorBoard(args.tensorboard))
        if data.image_shape is not None and entry.pipeline is None:  # plain examples in, reconstructions out
            found.append(kcallbacks.ImageSummaries(args.tensorboard, data.x_test[:8], data.image_shape))
    return found


def _fit(entry, model, data, args, callbacks):
    if entry.fit is not None:
        return entry.fit(model, data, args, callbacks)
    val = None
    if _has_validation(data, args):
        val = entry.make_pipeline(model, data, "val", args.batch_size)
    return model.fit(
        entry.make_pipeline(model, data, "train", args.batch_size),
        validation_data=val,
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=keras_verbose(args),
        shuffle=False,  # the pipeline reshuffles each epoch
    )


def _write_run(run, model, data, entry, args, history, results, seconds, initial_epoch, log):
    os.makedirs(run)
    shutil.move(log, os.path.join(run, HISTORY_CSV))
    model.save(os.path.join(run, "model.keras"))
    plain, reference = entry.pipeline is None, None
    if plain:  # plain examples in, reconstructions out: shown beside PCA of the same code size
        results["pca_baseline"], reference = pca_baseline(model, data, args.latent_dim)
    standard_plots(model, data, history, run, reconstructions=plain, baseline=reference, codes=entry.plots is None)
    if entry.plots is not None:
        entry.plots(model, data, run)
    config = run_config(args)
    write_metrics(
        os.path.join(run, "metrics.json"),
        {
            **results,
            "history": getattr(history, "history", history),
            "config": config,
            "model_class": type(model).__name__,
            "jit_compile_choice": getattr(model, "jit_compile_choice", None),
            "data_scaling": getattr(data, "scaling", None),
            "train_seconds": seconds,
            "initial_epoch": initial_epoch,
            "kerasae_version": version(),
        },
    )
    files.write_marker(run, "run", model=args.model)  # last: it lists the folder's files


def train(args):
    """Runs ``kerasae train``; returns the run folder."""
    entry = models()[args.model]
    out, _ = check_args(args, entry)  # before taking the lock: refuses without writing anything
    with files.locked(out, what=f"the run folder {out}", fix="choose another --out"):
        out, backup = run_folder(args)  # again, now that no other run can change the folder
        initial_epoch = check_resume(args, backup, out) if args.resume else 0
        return _train(args, entry, out, backup, initial_epoch)


def _train(args, entry, out, backup, initial_epoch):
    import keras

    from kerasae.callbacks import StopOnNaN

    config = run_config(args)  # before the builder fills in defaults (e.g. --num-samples)
    previous_policy = keras.config.dtype_policy()
    try:
        with Staging(os.path.dirname(out)) as staging:
            keras.utils.set_random_seed(args.seed)
            keras.config.set_dtype_policy(args.dtype_policy)
            data = load_data(args, entry)
            model = entry.build(args, data)
            rate = learning_rate(entry, model, data, args)
            model.compile(optimizer=keras.optimizers.Adam(rate), jit_compile=_jit(args.jit_compile))
            # The per-epoch log: in the backup with --resume (it grows across resumed runs), else in the
            # staging folder; copied to the staging folder when training ends, into the run folder after.
            log = staging.path(HISTORY_CSV)
            csv_path = os.path.join(backup, HISTORY_CSV) if args.resume else log
            callbacks = [StopOnNaN(), *training_callbacks(entry, model, data, args, csv_path, log)]
            if args.resume:
                # Keras restores weights, optimizer state and the epoch; double_checkpoint keeps the previous
                # backup, so a crash while writing one falls back to the one before. The backup goes only once
                # the run folder is written: an error after training (evaluation, plots) keeps the trained model,
                # and the same command then writes the run without training again.
                if initial_epoch and not os.path.lexists(backup):
                    _backup_finished_run(model, out, backup, config, initial_epoch)
                _start_backup(backup, config)
                callbacks.append(keras.callbacks.BackupAndRestore(backup, double_checkpoint=True,
                                                                  delete_checkpoint=False))
                print(f"Per-epoch log: {csv_path}")
                if initial_epoch == args.epochs:
                    print(f"Training finished in {backup} ({initial_epoch} epochs) without its run written: "
                          "evaluating and writing it.")
                elif initial_epoch:
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
            _write_run(run, model, data, entry, args, history, results, seconds, initial_epoch, log)
            staging.commit([(run, out)])
        _remove_stale_backup(backup)  # with --resume: the run is written, its backup done with
    finally:
        keras.config.set_dtype_policy(previous_policy)
    print("test: " + format_metrics(results["test"]))
    if "pca_baseline" in results:
        found = results["pca_baseline"]
        print(f"test reconstruction MSE {found['test_mse']:.5g}; PCA with {found['components']} components (the same "
              f"code size) {found['pca_test_mse']:.5g}")
    print(f"Run written to {out}")
    return out
