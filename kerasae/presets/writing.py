"""Writing presets: :func:`write` turns a trained kerasae model into a preset folder, atomically.

Everything is written into a private staging folder beside the destination (:class:`kerasae.utils.files.Staging`),
checked, and renamed into place only when complete, so a failed write leaves nothing behind and never touches
what was at the destination. The checks: the model rebuilds from its ``config.json`` alone, the SavedModel
passes kerasae export's parity gate, and the written preset loads back (through the same code as
:func:`kerasae.presets.load`) with outputs equal to the model's. ``benchmarks/make_preset.py`` calls it for a
``kerasae train`` run folder.
"""

import json
import os
import shutil

import keras
import numpy as np

from kerasae.export import api as export_api
from kerasae.export import signatures
from kerasae.presets import cards
from kerasae.presets import evaluation, loading
from kerasae.utils import files, validation, versions

#: Layer config keys a card's architecture summary shows, in this order.
_LAYER_KEYS = ("units", "filters", "kernel_size", "strides", "activation", "rate", "target_shape")


def _describe_layer(layer):
    config = layer.get_config()
    shown = [f"{config[key]}" if key in ("units", "filters") else f"{key}={config[key]}"
             for key in _LAYER_KEYS if key in config and config[key] not in (None, "linear")]
    return f"{type(layer).__name__}({', '.join(str(s) for s in shown)})"


def architecture(model):
    """The card's ``architecture``: ``input_shape``, ``latent_dim``, ``parameters``, ``options`` (the model's
    scalar config values, e.g. posterior, likelihood, beta) and the ``encoder`` / ``decoder`` layers
    (``"Dense(200, activation=tanh)"``)."""
    table = signatures.signature_table(model)
    summary = {
        "input_shape": list(signatures.input_shape(table)),
        "latent_dim": signatures.code_size(table),
        "condition_size": signatures.condition_width(table),
        "parameters": int(model.count_params()),
        "options": {k: v for k, v in sorted(model.get_config().items())
                    if isinstance(v, (str, int, float, bool)) and k not in ("name", "trainable")},
    }
    for part in ("encoder", "decoder"):
        network = getattr(model, part, None)
        if isinstance(network, keras.Model):
            summary[part] = [_describe_layer(layer) for layer in network.layers
                             if not isinstance(layer, keras.layers.InputLayer)]
    return summary


# ============================================================================================ checks
def _check_data(data):
    if not isinstance(data, dict) or not isinstance(data.get("dataset"), str) or not data["dataset"]:
        raise ValueError(
            f"Expected data to be a dict with 'dataset' (the data set's name or path) and 'preprocessing' (in "
            f"words), and optionally 'load' (kerasae.datasets.load's keyword arguments). Received: data={data!r}. "
            "Fix: e.g. kerasae.presets.evaluation.data_spec(dataset, load_kwargs)."
        )
    if not isinstance(data.get("preprocessing"), str) or not data["preprocessing"]:
        raise ValueError(
            f"Expected data['preprocessing'] to describe in words how inputs reach the model. Received: {data!r}")
    if data.get("load") is not None and not isinstance(data["load"], dict):
        raise ValueError(f"Expected data['load'] to be a dict of kerasae.datasets.load's keyword arguments, or None. "
                         f"Received: {data['load']!r}")
    return {key: data.get(key) for key in cards.DATA_KEYS} | {k: v for k, v in data.items() if k not in cards.DATA_KEYS}


def _check_one_line(name, value):
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        raise ValueError(f"Expected {name} to be a non-empty string on one line. Received: {name}={value!r}")
    return value.strip()


def _check_options(name, data, command, epochs, seconds, figures, description):
    name = cards.check_name(name)
    data = _check_data(data)
    training = {
        "command": _check_one_line("command", command),
        "epochs": validation.check_int("epochs", epochs, minimum=0, optional=True),
        "seconds": None if seconds is None else validation.check_number("seconds", seconds, minimum=0),
    }
    if isinstance(figures, dict) or not isinstance(figures, (list, tuple)):
        raise ValueError(
            f"Expected figures to be a list of dicts with keys {list(cards.FIGURE_KEYS)}. Received: {figures!r}")
    figures = [cards.check_figure(f, f"figures[{i}]") for i, f in enumerate(figures)]
    description = None if description is None else _check_one_line("description", description)
    return name, data, training, figures, description


def _check_destination(folder, overwrite):
    if not isinstance(overwrite, bool):
        raise ValueError(f"Expected overwrite to be True or False. Received: overwrite={overwrite!r}")
    if os.path.isdir(folder) and os.listdir(folder) and not overwrite:
        raise ValueError(
            f"The preset folder {folder} already exists and is not empty. Fix: pass overwrite=True to replace it (a "
            "preset kerasae wrote, and only that), or choose another folder."
        )
    try:
        files.check_replaceable(folder, "preset", option="folder", overwrite=overwrite)
    except ValueError as err:
        raise ValueError(str(err).replace("--overwrite", "overwrite=True")) from None


# ============================================================================================ write
def _weights(model, config, path, weights_dtype):
    """Saves the model's weights without optimizer state: those of an uncompiled copy rebuilt from ``config``
    (which also proves that the config alone rebuilds the model), in ``weights_dtype``; returns the copy (for
    ``"float16"``, with its float32 weights rounded to float16: the model the preset holds)."""
    copy = loading.rebuild(config)
    source = {v.path: v for v in model.weights}
    if sorted(source) == sorted(v.path for v in copy.weights):
        for variable in copy.weights:
            variable.assign(source[variable.path])
    else:
        copy.set_weights(model.get_weights())
    if weights_dtype == "float16":
        round_weights_to_float16(copy)
    copy.save_weights(path)
    if weights_dtype == "float16":
        _store_float16(path)
    return copy


def round_to_float16(array):
    """A float32 array's values rounded to the nearest float16 (still float32); other arrays as they are."""
    array = np.asarray(array)
    return array.astype(np.float16).astype(np.float32) if array.dtype == np.float32 else array


def round_weights_to_float16(model):
    """Rounds ``model``'s float32 weights to float16 values, in place: the model a float16 preset holds."""
    model.set_weights([round_to_float16(w) for w in model.get_weights()])


def _store_float16(path):
    """Rewrites the Keras weights file ``path`` with every float32 array stored as float16 (lossless for weights
    already rounded to float16; ``load_weights`` casts them back to the variables' float32)."""
    import h5py

    def copy(source, target):
        target.attrs.update(source.attrs)
        for name, item in source.items():
            if isinstance(item, h5py.Group):
                copy(item, target.create_group(name))
            else:
                data = item[()]
                stored = target.create_dataset(name, data=data.astype(np.float16) if data.dtype == np.float32 else data)
                stored.attrs.update(item.attrs)

    with h5py.File(path, "r") as source, h5py.File(path + ".float16", "w") as target:
        copy(source, target)
    os.replace(path + ".float16", path)


def _remove_empty_folders(folder):
    for here, _, _ in os.walk(folder, topdown=False):
        if here != folder and not os.listdir(here):
            os.rmdir(here)


def _first(inputs, n):
    return tuple(np.asarray(a)[:n] for a in inputs) if isinstance(inputs, tuple) else np.asarray(inputs)[:n]


def _check_loads(out, model, inputs):
    """The written preset loads back, with the model's outputs."""
    loaded, _ = loading.load_from_folder(out)
    x = _first(inputs, 32)
    expected = np.asarray(model(x, training=False))
    actual = np.asarray(loaded(x, training=False))
    if expected.shape != actual.shape or not np.allclose(actual, expected, rtol=1e-4, atol=1e-5):
        raise ValueError(
            f"The preset written for {type(model).__name__} does not reproduce the model's outputs once loaded (max "
            f"difference {np.max(np.abs(actual - expected)) if expected.shape == actual.shape else 'shape'}), so "
            "nothing was written. Fix: report this; the model's config may not describe it fully."
        )


def write(model, folder, *, name, data, command, epochs=None, seconds=None, figures=(), description=None,
          parity_data=None, overwrite=False, saved_model=True, weights_dtype="float32"):
    """Writes ``model`` as a preset folder (see :mod:`kerasae.presets.cards` for its files and card).

    Args:
        model: A trained kerasae model (:class:`kerasae.Autoencoder` or a subclass).
        folder: The preset's folder (e.g. ``presets/NAME`` for a built-in one); created with its parents.
        name: The preset's name (lowercase letters, digits, ``.``, ``_``, ``-``); a built-in's folder name.
        data: The card's ``data``: ``dataset`` (name or path), ``preprocessing`` (in words) and, so that the
            figures can be measured again, ``load`` (:func:`kerasae.datasets.load`'s keyword arguments);
            :func:`kerasae.presets.evaluation.data_spec` makes one from a loaded data set.
        command: The command that trained the model (``kerasae train ...``).
        epochs: Epochs trained (optional). seconds: Training time in seconds (optional).
        figures: Measured figures, each ``{metric, value, split, n_examples, num_samples, seed, command}``
            (``num_samples``/``seed`` None where they do not apply); see
            :func:`kerasae.presets.log_likelihood_figure`.
        description: One line for the card and the README (default: the family and the data set).
        parity_data: Held-out inputs for the SavedModel's parity check (``(x, condition)`` for a conditional
            model); default: the first test examples that ``data['load']`` rebuilds.
        overwrite: Replace an existing preset folder that kerasae wrote (never anything else).
        saved_model: Ship the SavedModel in the folder (``True``), or only check that the model exports (its
            parity gate, in the staging folder) and let :func:`kerasae.presets.saved_model` export it on first
            use (``False``: the card's ``saved_model`` is ``"on_demand"``; for a model whose weights, twice,
            would not fit the built-in presets' budget).
        weights_dtype: How ``model.weights.h5`` stores the weights: ``"float32"``, or ``"float16"`` (half the
            bytes; the preset holds the model with its weights rounded to float16, which loading casts back to
            float32: the SavedModel and the load check are of that model, and ``figures`` should be too).

    Returns:
        The card, a dict (also written as ``card.json``).

    Raises:
        ValueError: for bad arguments, a destination that exists (without ``overwrite``) or is not kerasae's
            preset, or a model that does not rebuild from its config; nothing is written then.
        kerasae.export.ParityError: if the SavedModel's outputs differ from the model's.

    Example:
        >>> figure = kerasae.presets.log_likelihood_figure(model, data_spec, name="vae-digits")
        >>> kerasae.presets.write(model, "presets/vae-digits", name="vae-digits", data=data_spec,
        ...                       command="kerasae train vae --dataset digits", figures=[figure])
    """
    signatures.signature_table(model)  # refuses a model that is not a kerasae model
    name, data, training, figures, description = _check_options(name, data, command, epochs, seconds, figures,
                                                                description)
    folder = os.path.abspath(os.fspath(folder))
    _check_destination(folder, overwrite)
    if parity_data is None:
        if data.get("load") is None:
            raise ValueError(
                "Expected parity_data (held-out inputs for the SavedModel's parity check), or data['load'] to rebuild "
                "the test split from. Received neither. Fix: pass parity_data=x_test."
            )
        parity_data = evaluation.test_inputs(data, evaluation.N_EXAMPLES, model)
    family = type(model).__name__
    description = description or f"a kerasae {family} trained on {os.path.basename(data['dataset'])}"
    if not isinstance(saved_model, bool):
        raise ValueError(f"Expected saved_model=True (ship the SavedModel) or False (export it on first use). "
                         f"Received: saved_model={saved_model!r}.")
    if weights_dtype not in cards.WEIGHTS_DTYPES:
        raise ValueError(f"Expected weights_dtype in {list(cards.WEIGHTS_DTYPES)}. Received: "
                         f"weights_dtype={weights_dtype!r}.")
    preprocessing = evaluation.export_preprocessing(data)
    config = {k: v for k, v in keras.saving.serialize_keras_object(model).items() if k != "compile_config"}
    with files.locked(folder, what=f"the preset folder {folder}", fix="choose another folder"):
        with files.Staging(os.path.dirname(folder)) as staging:
            out = staging.path("preset")
            os.makedirs(out)
            with open(os.path.join(out, cards.CONFIG), "w") as f:
                json.dump(config, f, indent=1, sort_keys=True)
            stored = _weights(model, config, os.path.join(out, cards.WEIGHTS), weights_dtype)
            if weights_dtype != "float32":
                model = stored  # the preset's model: its export and load check
            export_api.export(model, out, formats="saved_model", parity_data=parity_data, preprocessing=preprocessing,
                              seed=0)
            if not saved_model:  # exported and checked here, then left to kerasae.presets.saved_model
                shutil.rmtree(os.path.join(out, cards.SAVED_MODEL))
                os.remove(os.path.join(out, cards.SAVED_MODEL_METADATA))
            _remove_empty_folders(out)  # e.g. saved_model/assets: neither git nor a wheel keeps an empty folder
            with open(os.path.join(out, cards.README), "w") as f:
                f.write(f"{name}: {description}. Load it with kerasae.presets.load({name!r}) (see card.json).\n")
            listed = cards.hash_files(out)
            card = {
                "format": cards.FORMAT,
                "format_version": cards.FORMAT_VERSION,
                "name": name,
                "description": description,
                "family": family,
                "registered_name": keras.saving.get_registered_name(type(model)),
                "architecture": architecture(model),
                "data": data,
                "training": training,
                "figures": figures,
                "versions": versions.versions(),
                "files": listed,
                "size_bytes": cards.total_size(out, listed),
                "saved_model": cards.SAVED_MODEL_INCLUDED if saved_model else cards.SAVED_MODEL_ON_DEMAND,
                "weights_dtype": weights_dtype,
            }
            files.write_json(os.path.join(out, cards.CARD), card)
            _check_loads(out, model, parity_data)
            files.write_marker(out, "preset", name=name)
            staging.commit([(out, folder)])
    return card
