"""The ``kerasae`` command line: ``train`` (:mod:`kerasae.cli.train`), ``evaluate``
(:mod:`kerasae.cli.evaluate`) and ``export`` (:mod:`kerasae.cli.export`).

This module builds the parser and dispatches; it imports nothing heavy, so ``kerasae --help`` answers
without TensorFlow. Commands run inside :func:`kerasae.cli.logs.quiet_tensorflow`, which keeps
TensorFlow's own log lines off the terminal.
"""

import contextlib
import os
import signal
import sys
import threading

from kerasae.cli import evaluate as evaluate_command
from kerasae.cli import export as export_command
from kerasae.cli import logs
from kerasae.cli import train as train_command
from kerasae.cli.arguments import CLIError, Parser
from kerasae.cli.runs import RUN_FILES, load_data, version  # noqa: F401  (also reachable from here)


def build_parser():
    """The argument parser of the ``kerasae`` command (train options come from the model registry)."""
    parser = Parser(prog="kerasae", description="Train, evaluate and export autoencoders (Keras 3 / TensorFlow).")
    parser.add_argument("--version", action="version", version=f"kerasae {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    train_command.add_parser(commands)
    evaluate_command.add_parser(commands)
    export_command.add_parser(commands)
    return parser


_COMMANDS = {
    "train": train_command.train,
    "evaluate": evaluate_command.evaluate,
    "export": export_command.export_from_args,
}


def _user_errors():
    """Errors reported as one line (exit status 2): bad values, missing files, a training loss gone NaN."""
    errors = (ValueError, OSError)
    callbacks = sys.modules.get("kerasae.callbacks")  # imported by then if training ran (it needs Keras)
    return errors + (callbacks.NaNLossError,) if callbacks is not None else errors


def one_line(message):
    """``message`` on one line: its lines joined, so that every error the CLI reports is a single line."""
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())


class _Terminated(BaseException):
    """SIGTERM, raised so that a command cleans up (its staging folder) as on Ctrl-C."""


class _StopRequest:
    """SIGTERM's handler while a command runs, and the thread that delivers the signal again until the stop arrives.

    Python runs a signal handler between any two bytecodes of the main thread, also inside code that C calls back
    (TensorFlow's nest utilities import modules from C++, a weakref callback, a ``__del__``) where the exception
    raised is swallowed or turned into another error (CI once saw a run go on; a run here ended in a ``TypeError``).
    So after the first SIGTERM a thread sends the signal again every :attr:`EVERY` seconds until the exception
    comes out of the command (:meth:`arrived`); a signal that comes while an exception is being handled (the
    command unwinding: ``finally`` blocks, clean-up) raises nothing, so that it does not cut the clean-up short.
    """

    EVERY = 0.5

    def __init__(self):
        self.requested = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._deliver_again, daemon=True)

    def __call__(self, signum, frame):
        if self._done.is_set() or (self.requested and sys.exc_info()[1] is not None):
            return  # sent again while the command unwinds, or after it came out
        if not self.requested:
            self.requested = True
            self._thread.start()
        raise _Terminated()

    def _deliver_again(self):
        while not self._done.wait(self.EVERY):
            os.kill(os.getpid(), signal.SIGTERM)

    def arrived(self):
        """Stops sending the signal again (before SIGTERM's previous handler comes back)."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()


def _quiet_about(kind, previous_hook):
    """An unraisable-exception hook that says nothing of a swallowed ``kind`` (the stop is delivered again)."""

    def hook(unraisable):
        if not isinstance(unraisable.exc_value, kind):
            previous_hook(unraisable)

    return hook


@contextlib.contextmanager
def _terminate_like_interrupt():
    """While a command runs, SIGTERM unwinds it (``finally`` blocks run) instead of killing the process; whatever
    error comes out of a command asked to stop is reported as :class:`_Terminated`."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    stop = _StopRequest()
    previous, previous_hook = signal.signal(signal.SIGTERM, stop), sys.unraisablehook
    sys.unraisablehook = _quiet_about(_Terminated, previous_hook)
    try:
        yield
    except BaseException as err:
        if stop.requested and not isinstance(err, _Terminated):
            raise _Terminated() from err
        raise
    finally:
        stop.arrived()
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook


def main(argv=None):
    """Entry point of the ``kerasae`` console script. Returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        with _terminate_like_interrupt(), logs.quiet_tensorflow(getattr(args, "verbose", None)):
            import matplotlib

            matplotlib.use("Agg")
            _COMMANDS[args.command](args)
        return 0
    except CLIError as err:
        print(one_line(err), file=sys.stderr)
        return 2
    except _user_errors() as err:
        print(f"kerasae: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kerasae: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except _Terminated:
        print("kerasae: terminated; nothing was written.", file=sys.stderr)
        return 128 + signal.SIGTERM


if __name__ == "__main__":
    sys.exit(main())
