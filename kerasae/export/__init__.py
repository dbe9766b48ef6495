"""Export trained kerasae models to SavedModel, TFLite, ONNX and TFLite Micro, each artifact checked for parity
with Keras.

The public entry point is :func:`export` (in :mod:`kerasae.export.api`); ``kerasae export`` and the
scripts in the repository's ``export/`` folder call it. Names load on first use, so that
:mod:`kerasae.export.options` (plain data) imports without TensorFlow.

* :mod:`~kerasae.export.api`: :func:`export`, :func:`export_saved_model`, :func:`export_tflite`, the checks
  of their options, and the procedure: stage, check, commit;
* :mod:`~kerasae.export.signatures`: the signatures each artifact holds (as the model declares them with
  :meth:`kerasae.Autoencoder.export_signatures`), their inputs and outputs, and the SavedModel writer;
* :mod:`~kerasae.export.tflite`: TFLite conversion, quantisation modes, int8 calibration, file sizes and
  :func:`run_tflite`;
* :mod:`~kerasae.export.onnx`: ONNX files (one per signature, through tf2onnx; the optional ``kerasae[onnx]``)
  and :func:`run_onnx`;
* :mod:`~kerasae.export.tflm`: TFLite Micro files of the encoder and decoder (full int8, batch 1) with their C
  arrays and measured tensor arena (the optional ``kerasae[tflm]``), and :func:`run_tflm`;
* :mod:`~kerasae.export.c_files`: the C source and header of a TFLite Micro export;
* :mod:`~kerasae.export.formats`: how each format is written and checked (the table :func:`export` dispatches on);
* :mod:`~kerasae.export.parity`: the parity gate and its default tolerances;
* :mod:`~kerasae.export.quality`: the quality gate of quantised artifacts (reconstruction MSE, log-likelihood, a
  classifier's accuracy);
* :mod:`~kerasae.export.qat`: quantisation-aware fine-tuning of a copy of the model for its int8 files
  (``qat_epochs``), with the fake quantisation of :mod:`kerasae.ops.fake_quant`;
* :mod:`~kerasae.export.inputs`: the held-out and calibration data an export is checked on;
* :mod:`~kerasae.export.precision`: float32 rebuilds of models trained in mixed precision;
* :mod:`~kerasae.export.metadata`: the JSON file beside each artifact;
* :mod:`~kerasae.export.options`: the choices and defaults, as plain data.
"""

import importlib

#: Public names, by the module that defines them.
_NAMES = {
    "kerasae.export.options": ("FORMATS", "MIN_REPRESENTATIVE_SAMPLES", "PARTS", "PRECISION_TOLERANCES", "QUALITY_TOLERANCES",
                               "QUANTIZATIONS", "TOLERANCES", "WEIGHT_SCALES"),
    "kerasae.export.api": ("ExportResult", "artifact_name", "export", "export_saved_model", "export_tflite"),
    "kerasae.export.signatures": ("condition_size", "input_shape_of"),
    "kerasae.export.parity": ("ParityError",),
    "kerasae.export.tflite": ("run_tflite",),
    "kerasae.export.onnx": ("MissingPackageError", "run_onnx"),
    "kerasae.export.tflm": ("run_tflm",),
    "kerasae.export.metadata": ("metadata_path",),
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
