"""What ``kerasae train``, ``evaluate`` and ``export`` share: a run's data, a run folder and its metrics.

A run folder, as ``kerasae train`` writes it::

    RUN_DIR/model.keras        the trained model (loads with keras.models.load_model)
    RUN_DIR/metrics.json       final train and test metrics, the history and the configuration
    RUN_DIR/*.png              originals above reconstructions, loss curves, 2-D codes, variant plots

Nothing here imports TensorFlow at module level.
"""

import argparse
import json
import os

from kerasae.cli.registry import models
from kerasae.utils.files import write_json

#: Files every run folder holds.
RUN_FILES = ("model.keras", "metrics.json", "reconstructions.png", "loss_curves.png")


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
            optionally ``holdout_class``), a namespace.
        entry: The model's :class:`kerasae.cli.registry.ModelEntry` (for the data options it implies).

    Returns:
        The :class:`kerasae.data.datasets.Dataset`, without the held-out class in its train and validation
        splits.
    """
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


def read_config(run_dir):
    """The options a run was trained with (``metrics.json``'s ``config``) as a dict, ``{}`` if absent."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f).get("config", {}) or {}


def load_run(run_dir):
    """Loads a run folder: ``(model, config namespace, registry entry)``."""
    model_path = os.path.join(run_dir, "model.keras")
    metrics_path = os.path.join(run_dir, "metrics.json")
    for path in (model_path, metrics_path):
        if not os.path.isfile(path):
            raise ValueError(
                f"{run_dir} is not a run folder: {os.path.basename(path)} is missing. Expected a folder "
                "written by 'kerasae train'."
            )
    config = argparse.Namespace(**read_config(run_dir))
    entry = models().get(getattr(config, "model", None))
    if entry is None:
        raise ValueError(f"The run was made with model {getattr(config, 'model', None)!r}, which this kerasae does not know.")
    return load_model(model_path), config, entry


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
