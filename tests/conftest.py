import os
import sys

# Test files live in folders mirroring the package (tests/models, tests/export, ...); they share tests/helpers.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# XLA compilation costs a second or two per compiled step: far more than the few steps a test trains.
# Tests that check the XLA path pass jit_compile=True; test_autoencoder.py checks the default itself.
os.environ.setdefault("KERASAE_JIT_COMPILE", "0")
# The kernels users get (import kerasae first): TensorFlow's oneDNN ones, unless the environment says otherwise.
from kerasae.backend import prefer_onednn  # noqa: E402  (imports no TensorFlow)

prefer_onednn()

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Under pytest-xdist (README's test command runs one worker per core), each worker gets its share of the
# cores for TensorFlow's kernels, instead of every worker starting a thread per core and all of them contending.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 1) // _workers))
    tf.config.threading.set_inter_op_parallelism_threads(2)

# Two logical CPU devices, so that tf.distribute tests can mirror a model across "replicas" on any machine.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import kerasae  # noqa: E402,F401
import kerasae.models  # noqa: E402,F401  (every model registered with Keras)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seed, so a failure reproduces."""
    keras.utils.set_random_seed(1234)
    yield
    # Without Keras' gc.collect(): a full collection after every test took longer than most tests (seconds,
    # with TensorFlow's many objects alive); Python's own collector still runs.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def digits():
    """Flat 8x8 digits, (n, 64), float32 in [0, 1], with labels."""
    return kerasae.datasets.load("digits")


@pytest.fixture(scope="session")
def digits_images():
    """8x8x1 digit images."""
    return kerasae.datasets.load("digits", flatten=False)
