"""Argument checks shared by every layer of kerasae, with one message style.

Each check raises ``ValueError("Expected NAME ... Received: NAME=VALUE")`` (Keras' own style) and returns
the value normalised: integers (numpy integers too) become ``int``, numbers become ``float``, so that what a
layer stores in its config is plain JSON. ``bool`` is never taken for a number. The module imports nothing
but the standard library, so the command line can use it without numpy or TensorFlow.

Example:
    >>> check_positive_int("latent_dim", np.int64(8))
    8
    >>> check_number("rate", 1.0, minimum=0, maximum=1, exclusive_maximum=True)
    Traceback (most recent call last):
    ValueError: Expected rate in [0, 1). Received: rate=1.0
"""

import math
import numbers


def _is_bool(value):
    # numpy's bool is not a numbers.Integral, but name it anyway: it must never pass for a number.
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool")


def is_int(value):
    """Whether ``value`` is an integer (Python or numpy), ``bool`` excluded."""
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def _hint(hint):
    return f" ({hint})" if hint else ""


def _is_real(value):
    if _is_bool(value):
        return False
    if isinstance(value, numbers.Real):
        return True
    # A 0-d numpy array of integers or floats, e.g. np.array(0.5).
    dtype = getattr(value, "dtype", None)
    return getattr(value, "ndim", None) == 0 and getattr(dtype, "kind", None) in ("i", "u", "f")


def check_int(name, value, minimum=None, maximum=None, optional=False, hint=None):
    """``value`` as an ``int``; raises unless it is an integer (numpy integers too) in
    ``[minimum, maximum]`` (either bound may be ``None``), or ``None`` when ``optional``. ``hint`` (why,
    or where the bound comes from) is added to the message in parentheses."""
    if optional and value is None:
        return None
    ok = is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            what = f"an integer in [{minimum}, {maximum}]"
        elif minimum == 1:
            what = "a positive integer"
        elif minimum is not None:
            what = f"an integer >= {minimum}"
        elif maximum is not None:
            what = f"an integer <= {maximum}"
        else:
            what = "an integer"
        what += " or None" if optional else ""
        raise ValueError(f"Expected {name} to be {what}{_hint(hint)}. Received: {name}={value!r}")
    return int(value)


def check_positive_int(name, value, hint=None):
    """``value`` as an ``int``; raises unless it is an integer >= 1 (numpy integers accepted)."""
    return check_int(name, value, minimum=1, hint=hint)


def _bounds(minimum, maximum, exclusive_minimum, exclusive_maximum):
    if minimum is not None and maximum is not None:
        return f"in {'(' if exclusive_minimum else '['}{minimum:g}, {maximum:g}{')' if exclusive_maximum else ']'}"
    if minimum is not None:
        return f"{'>' if exclusive_minimum else '>='} {minimum:g}"
    if maximum is not None:
        return f"{'<' if exclusive_maximum else '<='} {maximum:g}"
    return ""


def check_number(
    name, value, minimum=None, maximum=None, exclusive_minimum=False, exclusive_maximum=False, hint=None
):
    """``value`` as a ``float``; raises unless it is a finite real number in the given range.

    Messages name the range: ``Expected NAME >= 0``, ``Expected NAME in [0, 1)``; a number that is not
    finite gets ``Expected NAME to be a finite number ...``.
    """
    real = _is_real(value)
    number = float(value) if real else None
    ok = real and math.isfinite(number)
    if ok and minimum is not None:
        ok = number > minimum if exclusive_minimum else number >= minimum
    if ok and maximum is not None:
        ok = number < maximum if exclusive_maximum else number <= maximum
    if not ok:
        bounds = _bounds(minimum, maximum, exclusive_minimum, exclusive_maximum)
        if not bounds or (real and not math.isfinite(number)):
            what = "to be a finite number" + (f" {bounds}" if bounds else "")
        else:
            what = bounds
        raise ValueError(f"Expected {name} {what}{_hint(hint)}. Received: {name}={value!r}")
    return number


def check_choice(name, value, choices, hint=None):
    """``value``; raises unless it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"Expected {name} to be one of {list(choices)}{_hint(hint)}. Received: {name}={value!r}")
    return value
