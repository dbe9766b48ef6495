"""Loading ``.keras`` files safely: Keras safe mode, and clear errors for damaged files.

Safe mode refuses to deserialize Python lambdas (arbitrary code) from a file. A truncated or corrupted file
raises :class:`ModelLoadError` naming the file and the fix, instead of an error deep inside TensorFlow.
"""

import os
import re
import zipfile

import keras


class ModelLoadError(ValueError):
    """A model file is missing, damaged, or not a kerasae/Keras model."""


def _short(text, limit=300):
    """The first line of an error's text, at most ``limit`` characters (Keras' may hold a whole config)."""
    lines = str(text).strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _unknown_object(path, err):
    """A :class:`ModelLoadError` naming the class (or function) Keras could not locate, or ``None``."""
    text = str(err)
    match = re.search(r"Could not locate (class|function) '([^']+)'", text)
    if match is None:
        return None
    kind, name = match.groups()
    module = re.search(r"Full object config: \{'module': '([^']+)'", text)
    where = f" (from module '{module.group(1)}')" if module else ""
    return ModelLoadError(
        f"{path} uses {kind} '{name}'{where}, which is not a registered Keras/kerasae {kind}. Fix: import the "
        f"module that defines it (its {kind} decorated with @keras.saving.register_keras_serializable()) "
        "before loading, or save the model again with kerasae's classes."
    )


def load_model(path, safe_mode=True, compile=True):
    """Loads a ``.keras`` model in Keras safe mode.

    Args:
        path: Path to a ``.keras`` file.
        safe_mode: Keep Keras's safe mode on (no code from the file is run). Only turn it off for files
            you trust.
        compile: Restore the optimizer and compile state.

    Returns:
        The loaded model.

    Raises:
        ModelLoadError: if the file is missing, not a ``.keras`` archive, truncated or corrupted.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelLoadError(f"No model file at {path}. Expected a .keras file written by model.save().")
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(
            f"{path} is not a valid .keras archive (truncated or corrupted?). Fix: save the model again "
            "with model.save('model.keras'), or restore the file from a backup."
        )
    import kerasae.models  # noqa: F401 - registers every kerasae class with Keras (``import kerasae`` is lazy)

    try:
        return keras.models.load_model(path, safe_mode=safe_mode, compile=compile)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named and a fix
        unknown = _unknown_object(path, err)
        if unknown is not None:
            raise unknown from err
        raise ModelLoadError(
            f"Could not load {path}: {type(err).__name__}: {_short(err)}. The file may be truncated or corrupted, "
            "or saved by code that defines classes this environment has not imported. Fix: import kerasae "
            "(and any custom layers) before loading, or save the model again."
        ) from err
