"""Loading ``.keras`` files safely: Keras safe mode, and clear errors for damaged files.

Safe mode refuses to deserialize Python lambdas (arbitrary code) from a file. A truncated or corrupted file
raises :class:`ModelLoadError` naming the file and the fix, instead of an error deep inside TensorFlow.
"""

import os
import zipfile

import keras


class ModelLoadError(ValueError):
    """A model file is missing, damaged, or not a kerasae/Keras model."""


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
    try:
        return keras.models.load_model(path, safe_mode=safe_mode, compile=compile)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named and a fix
        raise ModelLoadError(
            f"Could not load {path}: {type(err).__name__}: {err}. The file may be truncated or corrupted, "
            "or saved by code that defines classes this environment has not imported. Fix: import kerasae "
            "(and any custom layers) before loading, or save the model again."
        ) from err
