"""TensorFlow's own log lines on the command line: hidden unless asked for.

``TF_CPP_MIN_LOG_LEVEL=3`` (set before TensorFlow is imported) silences TensorFlow's C++ logging, but not
everything its libraries write to standard error: the lines absl writes while the libraries load (``WARNING:
All log messages before absl::InitializeLog() is called are written to STDERR``, ``cudart_stub.cc``...) come
before any setting can reach it, and TFLite's interpreter logs ``INFO: Created TensorFlow Lite XNNPACK
delegate for CPU.`` through a logger of its own, with no switch. So while a command runs, file descriptor 2
goes through a small filter process that drops those lines and passes everything else on as it comes
(Python warnings, tracebacks, TensorFlow's errors). Being a separate process, the filter still passes on
the last lines of a command that crashes.

Nothing is hidden when the user set ``TF_CPP_MIN_LOG_LEVEL`` themselves or passed ``--verbose 2``.
"""

import contextlib
import os
import re
import subprocess
import sys

#: Set before TensorFlow is imported (unless already set): TensorFlow's C++ logs off (the CLI reports
#: errors itself), and gRPC's (multi-worker runs).
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}

#: Lines the filter drops: absl's notice; absl/glog informational and warning lines
#: (``I0000 00:00:1712.345  123 cudart_stub.cc:31] ...``; error and fatal lines are kept); the second line of
#: TensorFlow's CPU-instructions notice; TFLite's ``INFO:`` lines and its quantiser's settings line.
NOISE = (
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+\s+\d+ [^\s:]+:\d+\] .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    r"|INFO: .*"
    r"|fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+)\r?\n?$"
)
_NOISE = re.compile(NOISE.encode())

# The filter process: standard input to standard output, line by line, without the NOISE lines.
_FILTER = (
    "import re, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's to handle; pass on its last words\n"
    "noise = re.compile(sys.argv[1].encode())\n"
    "out = sys.stdout.buffer\n"
    "for line in sys.stdin.buffer:\n"
    "    if not noise.match(line):\n"
    "        out.write(line)\n"
    "        out.flush()\n"
)

_set_by_kerasae = set()  # the variables of QUIET_ENVIRONMENT this process set


def user_wants_logs(verbose=None):
    """Whether TensorFlow's logs stay on: ``--verbose 2``, or ``TF_CPP_MIN_LOG_LEVEL`` set by the user."""
    return verbose == 2 or ("TF_CPP_MIN_LOG_LEVEL" in os.environ and "TF_CPP_MIN_LOG_LEVEL" not in _set_by_kerasae)


def is_noise(line):
    """Whether a line of standard error (bytes or str) is one of the log lines the CLI hides."""
    return _NOISE.match(line.encode() if isinstance(line, str) else line) is not None


@contextlib.contextmanager
def filtered_stderr():
    """Sends file descriptor 2 through a filter process that drops :func:`is_noise` lines; on exit waits
    for the filter to pass on what it holds, and restores file descriptor 2."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to filter
        yield
        return
    read, write = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FILTER, NOISE], stdin=read, stdout=saved, stderr=saved
        )
    except OSError:  # no process to spare: leave standard error alone
        for fd in (read, write, saved):
            os.close(fd)
        yield
        return
    os.close(read)
    os.dup2(write, 2)
    os.close(write)
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        finally:
            os.dup2(saved, 2)  # closes this process's last write end of the pipe: the filter ends
            os.close(saved)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a child process still holds the pipe; it ends with it
                pass


@contextlib.contextmanager
def quiet_tensorflow(verbose=None):
    """Runs a CLI command without TensorFlow's log lines, unless :func:`user_wants_logs`: sets
    :data:`QUIET_ENVIRONMENT` (before TensorFlow is imported) and filters standard error."""
    if user_wants_logs(verbose):
        yield
        return
    if "tensorflow" not in sys.modules:
        for name, value in QUIET_ENVIRONMENT.items():
            if name not in os.environ:
                os.environ[name] = value
                _set_by_kerasae.add(name)
    with filtered_stderr():
        yield
