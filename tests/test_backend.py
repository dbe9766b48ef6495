import os
import subprocess
import sys


def _run(code, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)


def test_import_selects_tensorflow_when_unset():
    result = _run("import kerasae, keras; print(keras.backend.backend())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("tensorflow")


def test_other_backend_raises_a_clear_error():
    result = _run("import kerasae", KERAS_BACKEND="numpy")
    assert result.returncode != 0
    assert "BackendError" in result.stderr and "KERAS_BACKEND=tensorflow" in result.stderr
