"""Checks of user arrays before any training starts: numeric, non-empty, finite, optionally in [0, 1]; and
the one scale that maps every split of a data set to [0, 1] (see :mod:`kerasae.data.datasets`)."""

import numpy as np

from kerasae.utils.validation import check_number


def check_array(x, name="x", unit_interval=True):
    """Checks that ``x`` is a non-empty, finite array of samples, optionally in [0, 1].

    Args:
        x: Array of shape ``(n, ...)``.
        name: What to call it in messages.
        unit_interval: Whether values must lie in [0, 1].

    Returns:
        ``x`` as float32.

    Raises:
        ValueError: if ``x`` is empty, not numeric, has NaN or inf, or leaves [0, 1] when it must not.
    """
    x = np.asarray(x)
    numeric = np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating)
    if x.dtype == object or not (numeric or x.dtype == bool):
        raise ValueError(
            f"Expected {name} to be a numeric array. Received dtype {x.dtype}. "
            "Fix: convert it to real numbers, e.g. array.astype('float32')."
        )
    if x.ndim < 2 or x.size == 0:
        raise ValueError(
            f"Expected {name} to hold at least one sample of at least one feature, shape (n_samples, "
            f"features...). "
            f"Received shape {x.shape}. Fix: store one sample a row (a single sample as array[None])."
        )
    x = x.astype("float32")
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or inf values (first in samples {rows[:5].tolist()}). "
            "Expected finite values. Fix: drop or impute those samples before training."
        )
    if unit_interval:
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{name} has values in [{lo:g}, {hi:g}], expected values in [0, 1]. Fix: rescale the data "
                "(e.g. divide 8-bit values by 255), or load it with scale=255 (the value that means 1.0) or "
                "scale='minmax'."
            )
    return x


def check_scale(scale):
    """``scale`` of :func:`kerasae.data.datasets.load`: ``"auto"``, ``"minmax"``, ``None`` or a positive number."""
    if scale is None or (isinstance(scale, str) and scale in ("auto", "minmax")):
        return scale
    if not isinstance(scale, str):
        try:
            return check_number("scale", scale, minimum=0, exclusive_minimum=True)
        except ValueError:
            pass
    raise ValueError(
        "Expected scale to be 'auto', 'minmax', None or a positive number (the value that means 1.0). "
        f"Received: scale={scale!r}"
    )


def scale_splits(arrays, scale, native=None):
    """Maps every split to float32 with one scale; returns ``(arrays, description)``.

    Args:
        arrays: ``{what: array}``, e.g. ``{"the training data": x, "the test data": x_test}``.
        scale: ``"auto"``, ``"minmax"``, ``None`` or a positive number (checked).
        native: ``(divisor, description)`` of a named data set's fixed scale, or ``None``.
    """
    dtypes = {what: np.asarray(a).dtype for what, a in arrays.items()}
    # Numeric, non-empty and finite, as float32 (integer dtypes are remembered above).
    floats = {what: check_array(a, what, unit_interval=False) for what, a in arrays.items()}
    lo = min(float(a.min()) for a in floats.values())
    hi = max(float(a.max()) for a in floats.values())
    if native is not None:
        divisor, description = native
    elif scale == "auto":
        integer = {what: d for what, d in dtypes.items() if np.issubdtype(d, np.integer)}
        if integer and len(set(dtypes.values())) > 1:
            found = ", ".join(f"{what} is {d}" for what, d in dtypes.items())
            raise ValueError(
                f"Expected the training and test data to share one dtype, so that scale='auto' scales them "
                f"alike. Received: {found}. Fix: save both with the same dtype (e.g. uint8), or pass an "
                "explicit scale such as scale=255."
            )
        dtype = next(iter(dtypes.values()))
        if not integer:
            divisor, description = 1.0, f"none: {dtype} data, used as stored (it must lie in [0, 1])"
        elif dtype.itemsize <= 2:  # 0/1 images stored as uint8 too: one rule, whatever the values
            divisor = float(np.iinfo(dtype).max)
            description = f"divided by {divisor:g}, the maximum of {dtype}"
        elif lo >= 0 and hi <= 1:
            divisor, description = 1.0, f"none: {dtype} data whose values are all 0 or 1 (binary)"
        else:
            raise ValueError(
                f"{next(iter(integer)).capitalize()} is {dtype} with values in [{lo:g}, {hi:g}]. Expected 8- or "
                f"16-bit integers for scale='auto' (divided by their dtype's maximum: 255 for uint8, 65535 for "
                f"uint16), or 0/1 values; {dtype} has no such full scale. Fix: save the data as uint8 or "
                "uint16, or pass scale=255 (the value that means 1.0), or scale='minmax'."
            )
    elif scale == "minmax":
        width = hi - lo
        out = {what: (a - np.float32(lo)) / np.float32(width) if width > 0 else np.zeros_like(a)
               for what, a in floats.items()}
        return out, f"minmax: (x - {lo:g}) / {width:g}, the minimum and maximum over all splits together"
    elif scale is None:
        divisor, description = 1.0, "none: used as stored (scale=None)"
    else:
        divisor, description = float(scale), f"divided by {scale:g} (scale={scale:g})"
    if divisor != 1.0:
        floats = {what: a / np.float32(divisor) for what, a in floats.items()}
    return floats, description
