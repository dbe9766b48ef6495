"""benchmarks/reproduce.py runs ``kerasae train`` in a child process: a stop of the parent reaches the child, which
then cleans up (and keeps its backup) instead of training on alone."""

import os
import signal
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import reproduce  # noqa: E402

#: A child that says it started, then waits; on SIGTERM it exits with status 7 (kerasae's would be 143).
CHILD = ("import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(7)); "
         "open(sys.argv[1], 'w').close(); time.sleep(60)")


def test_a_sigterm_of_the_parent_stops_the_child(tmp_path):
    started, before = tmp_path / "started", signal.getsignal(signal.SIGTERM)

    def stop_when_started():
        deadline = time.time() + 30
        while not started.exists() and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # this process: the handler passes it on

    threading.Thread(target=stop_when_started, daemon=True).start()
    begin = time.time()
    with pytest.raises(SystemExit) as stopped:
        reproduce.run_child([sys.executable, "-c", CHILD, str(started)])
    assert stopped.value.code == 7 and time.time() - begin < 30
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is this process's again


def test_a_child_that_succeeds_returns_and_one_that_fails_exits_with_its_status():
    reproduce.run_child([sys.executable, "-c", "pass"])
    with pytest.raises(SystemExit) as failed:
        reproduce.run_child([sys.executable, "-c", "raise SystemExit(3)"])
    assert failed.value.code == 3
