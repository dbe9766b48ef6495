"""Export trained kerasae models to SavedModel and TFLite, each artifact checked for parity with Keras.

The public entry point is :func:`export` (in :mod:`kerasae.export.api`); ``kerasae export`` and the
scripts in the repository's ``export/`` folder call it. Names load on first use, so that
:mod:`kerasae.export.options` (plain data) imports without TensorFlow.
"""

import importlib

#: Public names, by the module that defines them.
_NAMES = {
    "kerasae.export.options": ("FORMATS", "PARTS", "QUANTIZATIONS", "TOLERANCES", "WEIGHT_SCALES"),
    "kerasae.export.api": (
        "ExportResult", "ParityError", "artifact_name", "condition_size", "export", "export_saved_model",
        "export_tflite", "metadata_path", "run_tflite",
    ),
}
_MODULE_OF = {name: module for module, names in _NAMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'kerasae.export' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
