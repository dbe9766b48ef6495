"""Export trained kerasae models to SavedModel and TFLite, each artifact checked for parity with Keras.

The public entry point is :func:`export` (see :mod:`kerasae.export.api`); the CLI's ``kerasae export``
and the scripts in the repository's ``export/`` folder call it.
"""

from kerasae.export.api import (  # noqa: F401
    FORMATS,
    PARTS,
    QUANTIZATIONS,
    TOLERANCES,
    WEIGHT_SCALES,
    ExportResult,
    ParityError,
    artifact_name,
    condition_size,
    export,
    export_saved_model,
    export_tflite,
    metadata_path,
    run_tflite,
)
