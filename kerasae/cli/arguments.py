"""The ``kerasae`` command's argument parsing: its parser class, the ``type=`` converters and the options
common to every ``kerasae train MODEL``. Nothing here imports TensorFlow, so ``--help`` starts fast."""

import argparse

from kerasae.utils.validation import check_int, check_number


class CLIError(Exception):
    """A user error: printed as one line, exit status 2. ``message`` is argparse's own text, without the
    program's name."""

    def __init__(self, text, message=None):
        super().__init__(text)
        self.message = message if message is not None else text


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`CLIError` (one line) instead of exiting."""

    def error(self, message):
        raise CLIError(f"{self.prog}: {message} (see '{self.prog} --help')", message)


def _integer(text, minimum, what):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    try:
        return check_int("value", value, minimum=minimum)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")


def seed(text):
    """``type=`` of ``--seed``: an integer in [0, 2**32 - 1] (what Keras' and NumPy's seeding accept)."""
    value = _integer(text, 0, "an integer in [0, 4294967295]")
    if value > 2**32 - 1:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 4294967295], got {value}")
    return value


def positive_int(text):
    """``type=`` of an option taking an integer >= 1."""
    return _integer(text, 1, "a positive integer")


def class_index(text):
    """``type=`` of an option naming a class: an integer >= 0."""
    return _integer(text, 0, "a class index, an integer >= 0")


def int_list(text):
    """``type=`` of an option taking comma-separated positive integers (``128,64``); returns a tuple."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 128,64, got {text!r}")
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _float(text, what, **bounds):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    try:
        return check_number("value", value, **bounds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text}")


def non_negative_float(text):
    """``type=`` of an option taking a finite number >= 0."""
    return _float(text, "a number >= 0", minimum=0)


def fraction(text):
    """``type=`` of an option taking a number in [0, 1)."""
    return _float(text, "a number in [0, 1)", minimum=0, maximum=1, exclusive_maximum=True)


def unit_interval(text):
    """``type=`` of an option taking a number in [0, 1]."""
    return _float(text, "a number in [0, 1]", minimum=0, maximum=1)


def common_arguments():
    """A parent parser with the options every ``kerasae train MODEL`` takes (data, network, training)."""
    parent = argparse.ArgumentParser(add_help=False)
    g = parent.add_argument_group("data and network (common to every model)")
    g.add_argument("--dataset", default="digits", help="digits (default, offline), mnist, fashion_mnist, or a .npz/.npy/.csv path")
    g.add_argument("--architecture", choices=("mlp", "conv"), default="mlp", help="encoder/decoder family (default: mlp)")
    g.add_argument("--latent-dim", type=positive_int, default=8, help="size of the code (default: 8)")
    g.add_argument("--hidden-units", type=int_list, default=None, help="MLP widths, widest first, e.g. 256,128")
    g.add_argument("--filters", type=int_list, default=None, help="conv filters per block, e.g. 32,64")
    g.add_argument("--activation", default="relu", help="hidden activation (default: relu)")
    g.add_argument("--dropout", type=fraction, default=0.0, help="dropout rate after hidden layers (default: 0)")
    g.add_argument("--loss", choices=("mse", "bce"), default="mse", help="reconstruction loss (default: mse)")
    g.add_argument("--l2", type=non_negative_float, default=0.0, help="L2 weight penalty (default: 0)")
    g.add_argument("--validation-split", type=fraction, default=0.1, help="fraction of training data for validation")
    g.add_argument("--holdout-class", type=int, default=None, help="leave this label out of training (for 'evaluate --anomaly')")
    g.add_argument("--normal-class", type=class_index, default=None, metavar="D", help="one-class training: keep only class D of the training data (and of the validation split); 'evaluate --anomaly' then scores the whole test set, D normal, the other classes anomalous")
    t = parent.add_argument_group("training")
    t.add_argument("--epochs", type=positive_int, default=20, help="epochs (default: 20)")
    t.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default: 64)")
    t.add_argument("--learning-rate", type=non_negative_float, default=2e-3, help="Adam learning rate (default: 2e-3)")
    t.add_argument("--schedule", choices=("constant", "burda", "cosine"), default="constant", help="learning-rate schedule over --epochs: constant (default); burda: the IWAE paper's staircase lr*10^(-i/7) for 3^i epochs, i=0..7 (3,280 epochs), compressed to --epochs; cosine: cosine decay to 1%% of the rate")
    t.add_argument("--schedule-epochs", type=positive_int, default=None, metavar="N", help="epochs the --schedule runs over (default: --epochs); past them its last rate holds, so a run may go on at that rate: --epochs more than N")
    t.add_argument("--early-stopping", type=positive_int, default=None, metavar="PATIENCE", help="stop when the validation ELBO (the validation loss for non-variational models) has not improved for PATIENCE epochs, keeping the best weights (default: off)")
    t.add_argument("--tensorboard", default=None, metavar="DIR", help="write TensorBoard logs (losses, learning rate, reconstructions and samples) to DIR (default: off)")
    t.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto", help="XLA compilation of the training step (default: auto: off for convolutional models on CPU only, on otherwise, as benchmarked; off under a distribution strategy)")
    t.add_argument("--dtype-policy", choices=("float32", "mixed_float16", "mixed_bfloat16"), default="float32", help="Keras dtype policy; mixed_* computes in 16 bits, keeps variables and losses in float32 (default: float32)")
    t.add_argument("--seed", type=seed, default=0, help="random seed for data splits, initialisation and noise (default: 0)")
    t.add_argument("--out", default=None, help="run folder (default: runs/MODEL)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    t.add_argument("--resume", action="store_true", help="back up every epoch and continue an interrupted run from its last completed epoch; on a finished run of the same options, train it on up to a larger --epochs (its weights, optimizer state and log)")
    t.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None, help="Keras verbosity (default: a progress bar on a terminal, one line per epoch otherwise); 2 also shows TensorFlow's own log lines")
    return parent
