"""Checks of user arrays before any training starts: numeric, non-empty, finite, optionally in [0, 1]."""

import numpy as np


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
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"Expected {name} to be a numeric array. Received dtype {x.dtype}.")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(
            f"Expected {name} to hold at least one sample, shape (n_samples, features...). "
            f"Received shape {x.shape}."
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
                "(e.g. divide 8-bit images by 255), or load it with scale='minmax'."
            )
    return x
