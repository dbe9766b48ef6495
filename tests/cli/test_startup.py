"""The command line starts fast, without TensorFlow, and keeps TensorFlow's own log lines off the terminal."""

import json
import os
import subprocess
import sys
import time

import pytest

from kerasae.cli import arguments, logs
from kerasae.cli import main as cli

# What TensorFlow writes to standard error while it loads, unless the CLI hides it.
TF_LOG_MARKERS = ("absl::InitializeLog", "cudart_stub.cc", "cpu_feature_guard", "XNNPACK delegate")


def _env(**extra):
    """The test's environment without the log settings conftest.py gives it (as a user's shell would be)."""
    env = {k: v for k, v in os.environ.items() if k not in logs.QUIET_ENVIRONMENT}
    env.update(extra)
    return env


def _run(*argv, timeout=300, **env):
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout, env=_env(**env))


def _assert_no_tf_logs(stderr):
    found = [line for line in stderr.splitlines() if any(marker in line for marker in TF_LOG_MARKERS)]
    assert not found, found


def test_help_imports_neither_tensorflow_nor_keras():
    script = (
        "import sys, kerasae.cli.main as m\n"
        "m.build_parser()\n"
        "for argv in (['--help'], ['train', 'vae', '--help'], ['train', 'contractive', '--help'],\n"
        "             ['evaluate', '--help'], ['export', '--help']):\n"
        "    try:\n"
        "        m.main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = _run("-c", script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False False"


@pytest.mark.parametrize("argv", [["--help"], ["train", "vae", "--help"], ["export", "--help"]])
def test_help_is_fast_and_quiet(argv):
    start = time.perf_counter()
    result = _run("-m", "kerasae", *argv, timeout=60)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: kerasae" in result.stdout and result.stderr == ""
    assert seconds < 3.0, f"kerasae {' '.join(argv)} took {seconds:.2f} s"  # about 0.2 s; generous for a loaded CI


def test_train_evaluate_export_print_no_tensorflow_log_lines(tmp_path):
    """Each in a fresh process, as from a shell (evaluate and export also find the model classes there)."""
    out = tmp_path / "run"
    result = _run("-m", "kerasae", "train", "autoencoder", "--epochs", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    _assert_no_tf_logs(result.stderr)
    assert "Run written to" in result.stdout
    assert json.loads((out / "metrics.json").read_text())["config"]["epochs"] == 1
    result = _run("-m", "kerasae", "evaluate", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    _assert_no_tf_logs(result.stderr)
    assert "reconstruction_loss:" in result.stdout
    result = _run("-m", "kerasae", "export", str(out), "--format", "tflite")  # runs the TFLite interpreter
    assert result.returncode == 0, result.stderr[-2000:]
    _assert_no_tf_logs(result.stderr)
    assert (out / "export" / "model_float32.tflite").is_file()


def test_noise_filter_drops_log_lines_and_keeps_the_rest():
    """The filter as a command runs: lines written straight to file descriptor 2 (as C++ does) and through
    sys.stderr; only the log lines go."""
    script = (
        "import os, sys\n"
        "from kerasae.cli import logs\n"
        "with logs.filtered_stderr():\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "    os.write(2, b'I0000 00:00:1796149286.368779    7568 cudart_stub.cc:31] Could not find cuda drivers.\\n')\n"
        "    os.write(2, b'W0000 00:00:1796149286.368779    7568 some_file.cc:12] a warning\\n')\n"
        "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "    os.write(2, b'E0000 00:00:1796149286.368779    7568 some_file.cc:12] an error stays\\n')\n"
        "    print('a Python warning stays', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n"
    )
    result = _run("-c", script, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "E0000 00:00:1796149286.368779    7568 some_file.cc:12] an error stays",
        "a Python warning stays",
        "after",
    ]


def test_noise_filter_passes_on_what_a_crashing_command_wrote():
    script = (
        "import os\n"
        "from kerasae.cli import logs\n"
        "with logs.filtered_stderr():\n"
        "    os.write(2, b'I0000 00:00:1.2    7 x.cc:1] noise\\nF0000 00:00:1.2    7 x.cc:2] Check failed\\n')\n"
        "    os._exit(3)\n"
    )
    result = _run("-c", script, timeout=60)  # returns once the filter process, too, has closed the pipe
    assert result.returncode == 3
    assert result.stderr.strip() == "F0000 00:00:1.2    7 x.cc:2] Check failed"


def test_logs_stay_on_when_asked_for(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert not logs.user_wants_logs(None) and not logs.user_wants_logs(1)
    assert logs.user_wants_logs(2)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert logs.user_wants_logs(None)


@pytest.mark.parametrize(
    "converter, text, message",
    [
        (arguments.positive_int, "0", "expected a positive integer, got 0"),
        (arguments.positive_int, "2.5", "expected a positive integer, got '2.5'"),
        (arguments.int_list, "64,0", "expected positive integers"),
        (arguments.non_negative_float, "-1", "expected a number >= 0"),
        (arguments.non_negative_float, "nan", "expected a number >= 0"),
        (arguments.fraction, "1", "expected a number in [0, 1)"),
    ],
)
def test_argument_types_reject_bad_values(converter, text, message):
    with pytest.raises(Exception, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        converter(text)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "stacked", "--epochs-per-layer", "0"], "expected a positive integer, got 0"),
        (["train", "vae", "--num-samples", "0"], "expected a positive integer, got 0"),
        (["train", "autoencoder", "--dropout", "1.5"], "expected a number in [0, 1)"),
        (["export", "run", "--parity-samples", "0"], "expected a positive integer, got 0"),
    ],
)
def test_bad_options_fail_before_tensorflow_is_needed(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
