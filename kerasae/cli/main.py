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


def _raise_terminated(signum, frame):
    raise _Terminated()


def _deliver_again(previous_hook):
    """An unraisable-exception hook that sends SIGTERM again when :class:`_Terminated` was swallowed.

    Python runs a signal handler between any two bytecodes of the main thread, also inside a weakref callback
    or a ``__del__`` (importlib's module locks use one), where an exception cannot propagate: Python prints it
    and goes on, and the stop would be lost. A thread sends the signal again a moment later, so that it is
    raised outside (not inside this hook, where it would be swallowed too).
    """

    def hook(unraisable):
        if isinstance(unraisable.exc_value, _Terminated):
            again = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM))
            again.daemon = True
            again.start()
        else:
            previous_hook(unraisable)

    return hook


@contextlib.contextmanager
def _terminate_like_interrupt():
    """While a command runs, SIGTERM unwinds it (``finally`` blocks run) instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous, previous_hook = signal.signal(signal.SIGTERM, _raise_terminated), sys.unraisablehook
    sys.unraisablehook = _deliver_again(previous_hook)
    try:
        yield
    finally:
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
