"""Keras backend selection: kerasae runs on the TensorFlow backend.

Importing :mod:`kerasae` calls :func:`ensure_tensorflow_backend` before Keras is imported, so a user who
has not chosen a backend gets TensorFlow, and one who has chosen another backend gets a clear error
instead of a failure deep inside TensorFlow Probability or the exporter.
"""

import os
import sys


class BackendError(ImportError):
    """Raised when Keras runs on a backend other than TensorFlow."""


def ensure_tensorflow_backend():
    """Selects the TensorFlow backend if none was chosen; raises if another one is active.

    Returns:
        The name of the active backend, always ``"tensorflow"``.

    Raises:
        BackendError: if Keras was already imported with, or ``KERAS_BACKEND`` names, another backend.
    """
    if "keras" in sys.modules:
        active = sys.modules["keras"].backend.backend()
    else:
        # Checked before importing Keras: another backend's import may itself fail (e.g. without JAX).
        active = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if active != "tensorflow":
        raise BackendError(
            f"kerasae needs the Keras TensorFlow backend, but the active backend is {active!r} "
            f"(KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r}). Fix: set KERAS_BACKEND=tensorflow in "
            "the environment before Python starts (or before the first `import keras`), for example "
            "`KERAS_BACKEND=tensorflow python ...`, or `os.environ['KERAS_BACKEND'] = 'tensorflow'` "
            "at the top of the notebook, then restart the kernel."
        )
    return active
