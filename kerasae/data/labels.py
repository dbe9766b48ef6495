"""Partial labels for semi-supervised learning: ``-1`` (classification) or ``NaN`` (regression) marks an
unlabelled example."""

import numpy as np

from kerasae.utils.validation import check_choice, check_positive_int

#: Tasks a prediction head can solve.
TASKS = ("classification", "regression")
#: The label of an unlabelled example in classification (regression uses NaN).
UNLABELLED = -1


def check_task(task):
    return check_choice("task", task, TASKS)


def labelled_mask(y, task="classification"):
    """Which examples carry a label: ``y != -1`` (classification) or all targets finite (regression).

    Args:
        y: Labels ``(n,)``, or regression targets ``(n,)`` / ``(n, k)``.
        task: ``"classification"`` or ``"regression"``.

    Returns:
        A boolean numpy array ``(n,)``.
    """
    check_task(task)
    y = np.asarray(y)
    if task == "classification":
        return y.reshape(len(y), -1)[:, 0] != UNLABELLED
    return np.all(np.isfinite(y.reshape(len(y), -1).astype("float64")), axis=1)


def mask_labels(y, labels_per_class, seed=0):
    """Keeps ``labels_per_class`` labels of each class (seeded, balanced) and marks the rest ``-1``.

    Args:
        y: Integer class labels ``(n,)`` of a fully labelled training set.
        labels_per_class: How many examples of each class keep their label, >= 1.
        seed: Seed of the choice.

    Returns:
        An int64 array ``(n,)``: the label for the kept examples, ``-1`` elsewhere.

    Raises:
        ValueError: if ``y`` is not a 1-D array of non-negative integers, or a class has fewer than
            ``labels_per_class`` examples.
    """
    labels_per_class = check_positive_int("labels_per_class", labels_per_class)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(
            "Expected y to be a non-empty 1-D array of class labels (integers >= 0). "
            f"Received shape {y.shape}, dtype {y.dtype}."
        )
    rng = np.random.default_rng(seed)
    out = np.full(len(y), UNLABELLED, dtype="int64")
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < labels_per_class:
        raise ValueError(
            f"Class {classes[counts.argmin()]} has only {counts.min()} examples, fewer than "
            f"labels_per_class={labels_per_class}. Fix: use labels_per_class <= {counts.min()}."
        )
    for c in classes:
        keep = rng.choice(np.flatnonzero(y == c), size=labels_per_class, replace=False)
        out[keep] = c
    return out
