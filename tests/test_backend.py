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


def test_prefer_onednn_sets_the_variable_before_tensorflow_is_imported(monkeypatch):
    from kerasae import backend

    monkeypatch.delenv(backend.ONEDNN_VARIABLE, raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert backend.prefer_onednn() is True
    assert os.environ[backend.ONEDNN_VARIABLE] == "1"


def test_prefer_onednn_keeps_the_environments_choice(monkeypatch):
    from kerasae import backend

    monkeypatch.setenv(backend.ONEDNN_VARIABLE, "0")
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert backend.prefer_onednn() is False
    assert os.environ[backend.ONEDNN_VARIABLE] == "0"


def test_prefer_onednn_does_nothing_once_tensorflow_is_imported(monkeypatch):
    import tensorflow  # noqa: F401
    from kerasae import backend

    monkeypatch.delenv(backend.ONEDNN_VARIABLE, raising=False)
    assert backend.prefer_onednn() is False
    assert backend.ONEDNN_VARIABLE not in os.environ
