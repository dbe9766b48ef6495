"""What ``kerasae train``, ``evaluate`` and ``export`` share: a run's data, a run folder and its metrics.

A run folder, as ``kerasae train`` writes it::

    RUN_DIR/model.keras        the trained model (loads with keras.models.load_model)
    RUN_DIR/metrics.json       final train and test metrics, the history and the configuration
    RUN_DIR/*.png              originals above reconstructions, loss curves, 2-D codes, variant plots
    RUN_DIR/.kerasae           the marker of a folder kerasae wrote (kerasae.utils.files.write_marker):
                               only such a folder may be replaced with --overwrite

Nothing here imports TensorFlow at module level.
"""

import argparse
import json
import os

from kerasae.cli.arguments import CLIError, Parser
from kerasae.cli.registry import model_parser, models
from kerasae.utils.files import write_json

#: Files every run folder holds.
#: The per-epoch log (Keras' ``CSVLogger``: every metric, the learning rate, wall and CPU seconds) of a run.
HISTORY_CSV = "history.csv"
RUN_FILES = ("model.keras", "metrics.json", HISTORY_CSV, "reconstructions.png", "loss_curves.png")

#: The data set names :func:`kerasae.data.datasets.load` knows (its ``NAMES``; spelled out here so that the
#: CLI needs no TensorFlow to tell a name from a path; a test keeps them equal).
DATASET_NAMES = ("digits", "mnist", "fashion_mnist")

#: Options that change neither the model nor its data: a ``--resume`` run may differ from its backup in these.
NOT_MODEL_OPTIONS = ("epochs", "verbose", "overwrite", "resume", "out", "jit_compile", "nll_samples", "tensorboard",
                     "early_stopping")


def resolve_dataset(dataset):
    """``--dataset`` as a run records it: a name as given, an existing file as an absolute path (so that
    ``evaluate`` and ``export`` find it from any folder)."""
    if dataset in DATASET_NAMES or not os.path.exists(dataset):
        return dataset
    return os.path.abspath(dataset)


def version():
    """kerasae's version."""
    import kerasae

    return kerasae.__version__


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
    """Loads the run's data set as ``kerasae train`` does (also used by ``evaluate`` and ``export``).

    Args:
        args: The run's options (``dataset``, ``architecture``, ``validation_split``, ``seed`` and
            optionally ``holdout_class`` or ``normal_class``), a namespace.
        entry: The model's :class:`kerasae.cli.registry.ModelEntry` (for the data options it implies).

    Returns:
        The :class:`kerasae.data.datasets.Dataset`: without the held-out class in its train and validation
        splits, or with only the normal class there (:func:`kerasae.data.classes.keep_class`); the test split
        whole.
    """
    import numpy as np

    from kerasae.data import datasets

    data = datasets.load(args.dataset, **_data_options(entry, args))
    if len(data.x_test) == 0 or len(data.x_train) == 0:
        raise ValueError(
            f"The data set {args.dataset!r} gives {len(data.x_train)} training and {len(data.x_test)} test "
            "examples; a run needs both to train and to report test metrics. Fix: use more data."
        )
    if getattr(args, "holdout_class", None) is not None:
        if data.y_train is None or data.y_test is None:
            raise ValueError(
                f"--holdout-class needs labels for the training and test data, and {args.dataset!r} has "
                f"{'none' if data.y_train is None else 'no test labels'}. Fix: give the data labels, or drop "
                "--holdout-class."
            )
        for split in ("train", "val"):
            x, y = data.split(split)
            keep = y != args.holdout_class
            setattr(data, f"x_{split}", x[keep])
            setattr(data, f"y_{split}", y[keep])
        if not np.any(data.y_test == args.holdout_class):
            raise ValueError(f"--holdout-class {args.holdout_class} does not occur in the test labels.")
    if getattr(args, "normal_class", None) is not None:  # the one-class protocol: train on that class alone
        from kerasae.data import classes

        data = classes.keep_class(data, args.normal_class, option="--normal-class")
    return data


class BadMetricsError(ValueError):
    """A ``metrics.json`` that is not a kerasae run's."""

    def __init__(self, path, reason):
        super().__init__(
            f"{path} is not a kerasae run's metrics ({reason}). Fix: pass a run folder written by 'kerasae "
            "train', or train the run again."
        )


def read_metrics(run_dir):
    """A run's ``metrics.json`` as a dict, ``None`` if absent; raises :class:`BadMetricsError` when it is
    not JSON, not an object, or its ``config`` is not an object naming a model."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as f:
            metrics = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise BadMetricsError(path, f"not JSON: {err}") from None
    if not isinstance(metrics, dict):
        raise BadMetricsError(path, f"a JSON {type(metrics).__name__}, expected an object")
    config = metrics.get("config")
    if not isinstance(config, dict):
        raise BadMetricsError(path, "no 'config' object" if config is None else f"'config' is not an object but {json.dumps(config)[:40]}")
    if not isinstance(config.get("model"), str):
        raise BadMetricsError(path, f"'config' names no model: model={config.get('model')!r}")
    return metrics


def read_config(run_dir):
    """The options a run was trained with (``metrics.json``'s ``config``) as a dict, ``{}`` if there is no
    ``metrics.json``; raises :class:`BadMetricsError` for one that is not a kerasae run's."""
    metrics = read_metrics(run_dir)
    return {} if metrics is None else metrics["config"]


def config_argv(config, skip=("model", "command")):
    """A run's recorded ``config`` as ``kerasae train`` options (``--key=value``), without the keys in ``skip``."""
    argv = []
    for key, value in config.items():
        if key in skip or value is None or value is False:
            continue
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            argv.append(f"{flag}={','.join(str(v) for v in value)}")
        else:
            argv.append(f"{flag}={value}")
    return argv


def config_namespace(config, path="metrics.json"):
    """A run's ``config`` as ``kerasae train`` parses it: every value checked by the option's own type and
    choices, options the run did not record at their defaults. Raises :class:`BadMetricsError` (naming
    ``path``) for a value ``kerasae train`` would refuse."""
    if config.get("model") not in models():
        raise ValueError(
            f"The run was made with model {config.get('model')!r}, which this kerasae does not know (it knows "
            f"{', '.join(sorted(models()))}). Fix: use the kerasae version that trained it, or train the run again."
        )
    try:
        # Keys this kerasae has no option for (a run of another version) are left out rather than refused.
        namespace, _ = model_parser(models()[config["model"]], Parser).parse_known_args(config_argv(config))
    except CLIError as err:
        raise BadMetricsError(path, f"its config does not parse: {err.message}") from None
    namespace.command, namespace.model = "train", config["model"]
    return namespace


def load_run(run_dir):
    """Loads a run folder: ``(model, config namespace, registry entry)``; checks that ``metrics.json`` is a
    run's and that ``model.keras`` holds the class its model builds."""
    model_path = os.path.join(run_dir, "model.keras")
    metrics_path = os.path.join(run_dir, "metrics.json")
    for path in (model_path, metrics_path):
        if not os.path.isfile(path):
            raise ValueError(
                f"{run_dir} is not a run folder: {os.path.basename(path)} is missing. Expected a folder "
                "written by 'kerasae train'."
            )
    metrics = read_metrics(run_dir)
    config = config_namespace(metrics["config"], metrics_path)
    entry = models()[config.model]
    model = load_model(model_path)
    found = type(model).__name__
    if entry.model_class is not None and found != entry.model_class:
        recorded = metrics.get("model_class")
        raise ValueError(
            f"{model_path} holds a model of class {found}, but {metrics_path} says the run is a '{entry.name}' "
            f"(class {entry.model_class}{'' if recorded in (None, entry.model_class) else f'; its model_class says {recorded!r}'}). "
            "Fix: keep model.keras and metrics.json of one run together, or train the run again."
        )
    return model, config, entry


def load_model(path):
    """Loads a ``.keras`` file in Keras safe mode (:func:`kerasae.safe_loading.load_model`), every kerasae
    model registered with Keras first."""
    import kerasae.models  # noqa: F401  (registers the model classes with Keras' serialization)
    from kerasae import safe_loading

    return safe_loading.load_model(path)


def json_safe(value):
    """``value`` with numpy scalars and arrays (and tuples) turned into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def write_metrics(path, payload):
    """Writes a run's ``metrics.json`` (numpy values converted)."""
    write_json(path, json_safe(payload))


def format_metrics(results, precision=5):
    """``name=value, ...`` on one line."""
    return ", ".join(f"{k}={v:.{precision}g}" if isinstance(v, float) else f"{k}={v}" for k, v in results.items())
