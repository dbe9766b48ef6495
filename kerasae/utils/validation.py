"""Argument checks shared by every layer of kerasae, with one message style.

Each check raises ``ValueError("Expected NAME to be ... Received: NAME=VALUE")`` (Keras' own style) and
returns the value normalised (numpy integers become ``int``). The module imports only numpy, so the CLI can
use it without TensorFlow.
"""

import numbers

import numpy as np


def is_int(value):
    """Whether ``value`` is an integer (Python or numpy), ``bool`` excluded."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(name, value, minimum=None):
    """``value`` as an ``int``; raises unless it is an integer (numpy integers too) ``>= minimum``."""
    if not is_int(value) or (minimum is not None and value < minimum):
        what = "an integer" if minimum is None else (
            "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        )
        raise ValueError(f"Expected {name} to be {what}. Received: {name}={value!r}")
    return int(value)


def check_positive_int(name, value):
    """``value`` as an ``int``; raises unless it is an integer >= 1 (numpy integers accepted)."""
    return check_int(name, value, minimum=1)


def check_number(name, value, minimum=None, maximum=None, exclusive_minimum=False, exclusive_maximum=False):
    """``value`` as a ``float``; raises unless it is a finite real number in the given range."""
    ok = isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))
    if ok:
        value = float(value)
        ok = np.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if exclusive_minimum else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if exclusive_maximum else value <= maximum
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>' if exclusive_minimum else '>='} {minimum:g}")
        if maximum is not None:
            bounds.append(f"{'<' if exclusive_maximum else '<='} {maximum:g}")
        what = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
        raise ValueError(f"Expected {name} to be {what}. Received: {name}={value!r}")
    return value


def check_choice(name, value, choices):
    """``value``; raises unless it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"Expected {name} to be one of {list(choices)}. Received: {name}={value!r}")
    return value
