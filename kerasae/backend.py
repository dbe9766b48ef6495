"""Keras backend selection: kerasae runs on the TensorFlow backend, with TensorFlow's oneDNN CPU kernels.

Importing :mod:`kerasae` calls :func:`ensure_tensorflow_backend` before Keras is imported, so a user who
has not chosen a backend gets TensorFlow, and one who has chosen another backend gets a clear error
instead of a failure deep inside TensorFlow Probability or the exporter.

It also calls :func:`prefer_onednn`: TensorFlow turns its oneDNN CPU kernels on by default only on some CPUs
(those it detects as recent Intel ones), and leaves other x86 CPUs on its Eigen kernels, whose convolutions
(and their gradients) are the slower ones on the machines kerasae is benchmarked on (benchmarks/RESULTS.md,
"oneDNN"). kerasae asks for oneDNN when the environment has not chosen (``TF_ENABLE_ONEDNN_OPTS`` unset) and
TensorFlow is not imported yet (TensorFlow reads the variable once, at import): import kerasae before TensorFlow
or Keras for it to apply, and set ``TF_ENABLE_ONEDNN_OPTS=0`` to keep TensorFlow's choice. oneDNN may round
differently from Eigen (TensorFlow says so when it starts).
"""

import os
import sys


class BackendError(ImportError):
    """Raised when Keras runs on a backend other than TensorFlow."""


#: The environment variable TensorFlow reads at import to turn its oneDNN CPU kernels on ("1") or off ("0").
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn():
    """Asks TensorFlow for its oneDNN CPU kernels, unless the environment chose or TensorFlow is already imported.

    Returns:
        Whether the request was made (``TF_ENABLE_ONEDNN_OPTS`` set to ``"1"`` here).
    """
    if "tensorflow" in sys.modules or ONEDNN_VARIABLE in os.environ:
        return False
    os.environ[ONEDNN_VARIABLE] = "1"
    return True


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
