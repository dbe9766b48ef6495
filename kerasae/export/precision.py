"""Exports are float32: a model trained under a mixed-precision dtype policy is rebuilt in float32 first.

A model trained with ``keras.config.set_dtype_policy("mixed_float16")`` (or ``"mixed_bfloat16"``, or
``kerasae train --dtype-policy ...``) keeps float32 weights but computes in half precision, and every layer's
config carries that policy. Its graph, full of casts to half precision, does not convert to TFLite, and its
half-precision outputs are no reference for a float32 artifact. :func:`float32_model` rebuilds the model from
its config with every dtype policy rewritten to ``"float32"`` and copies the weights, so that the exported
signatures compute in float32 and take and return float32 tensors.

The parity gate still compares each artifact with the model *as it was trained*, at the precision it computes
in: the rounding of half-precision activations is then part of the difference, and the default tolerance of
each artifact is raised to at least :data:`kerasae.export.options.PRECISION_TOLERANCES` of the training
precision (``float16``: 11-bit mantissa; ``bfloat16``: 8-bit mantissa, a coarser rounding). The metadata record
the training policy (``parity.reference_dtype_policy``), the artifact's (``dtype_policy``, always
``"float32"``) and the tolerance used. A tolerance passed to :func:`kerasae.export.export` is used as given.
"""

import contextlib

import keras

from kerasae.export.options import PRECISION_TOLERANCES

#: Compute dtypes that are rebuilt in float32 for export.
HALF_DTYPES = ("float16", "bfloat16")
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy")


def _policy_names(config):
    """Every dtype policy name in a (nested) layer or model config."""
    if isinstance(config, dict):
        if config.get("class_name") in _POLICY_CLASSES and isinstance(config.get("config"), dict):
            yield config["config"].get("name")
        for key, value in config.items():
            if key == "dtype" and isinstance(value, str):
                yield value
            else:
                yield from _policy_names(value)
    elif isinstance(config, (list, tuple)):
        for value in config:
            yield from _policy_names(value)


def _compute_dtype(name):
    """``"mixed_float16" -> "float16"``, ``"float32" -> "float32"``."""
    return str(name).removeprefix("mixed_")


def _float32(config):
    """``config`` with every half-precision dtype policy (and dtype string) replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") in _POLICY_CLASSES and isinstance(config.get("config"), dict):
            if _compute_dtype(config["config"].get("name")) in HALF_DTYPES:
                return {**config, "config": {**config["config"], "name": "float32"}}
            return config
        return {
            key: "float32" if key == "dtype" and isinstance(value, str) and _compute_dtype(value) in HALF_DTYPES
            else _float32(value)
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [_float32(value) for value in config]
    if isinstance(config, tuple):
        return tuple(_float32(value) for value in config)
    return config


def trained_policy(model):
    """The half-precision dtype policy ``model`` computes in (``"mixed_float16"``...), or ``"float32"``."""
    names = [getattr(getattr(model, "dtype_policy", None), "name", None)]
    try:
        names += list(_policy_names(model.get_config()))
    except Exception:  # noqa: BLE001 - a model without a usable config: its own policy only
        pass
    return next((name for name in names if _compute_dtype(name) in HALF_DTYPES), "float32")


@contextlib.contextmanager
def _global_policy(name):
    """Layers a model creates in its constructor (outside its config) take the global policy: set it meanwhile."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_model(model):
    """``(model to export, training policy)``: ``model`` itself when it computes in float32, else a float32
    rebuild from its config with its weights copied.

    Raises:
        ValueError: when the model cannot be rebuilt from its config, or the rebuild's weights differ.
    """
    policy = trained_policy(model)
    if policy == "float32":
        return model, policy
    fix = (f"Fix: retrain in float32, or make {type(model).__name__} rebuildable from its config "
           "(get_config / from_config, registered with keras.saving.register_keras_serializable).")
    try:
        with _global_policy("float32"):
            rebuilt = type(model).from_config(_float32(model.get_config()))
    except Exception as err:  # noqa: BLE001 - any failure of a model's own from_config
        message = " ".join(str(err).split())[:300]
        raise ValueError(
            f"Exports are float32, and the {policy} model could not be rebuilt in float32 from its config "
            f"({type(err).__name__}: {message}). {fix}"
        ) from err
    weights = model.get_weights()
    shapes = [tuple(w.shape) for w in weights]
    if [tuple(w.shape) for w in rebuilt.weights] != shapes:
        raise ValueError(
            f"Exports are float32, and the float32 rebuild of the {policy} model has other weights "
            f"({len(rebuilt.weights)} tensors, the model {len(shapes)}). {fix}"
        )
    rebuilt.set_weights(weights)
    return rebuilt, policy


def precision_tolerance(policy):
    """The smallest default tolerance of an artifact compared with a model that computes under ``policy``."""
    return PRECISION_TOLERANCES.get(_compute_dtype(policy), 0.0)
