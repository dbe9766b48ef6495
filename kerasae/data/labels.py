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


def check_labels(y, name="the labels", num_samples=None, num_classes=None):
    """Checks class labels of a fully labelled split and returns them as int64.

    Labels are class indices: whole numbers ``>= 0`` (floats that are whole numbers, e.g. ``3.0``, and
    booleans are converted; ``2.5`` is refused, never truncated), finite, one per sample, shape ``(n,)`` or
    ``(n, 1)``, and below ``num_classes`` when it is given. ``-1`` ("unlabelled") is refused here: it is
    what :func:`mask_labels` writes *after* loading, for semi-supervised training only.

    Args:
        y: The labels.
        name: What to call them in messages, e.g. ``"the training labels"``.
        num_samples: The number of samples they label, if known (one label per sample).
        num_classes: Labels must lie in ``[0, num_classes)`` when given.

    Returns:
        An int64 array ``(n,)``.

    Raises:
        ValueError: for labels that are not one class index per sample; the message is one line.
    """
    y = np.asarray(y)
    if y.dtype == bool:
        y = y.astype("int64")
    if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
        raise ValueError(
            f"Expected {name} to be integer class indices. Received dtype {y.dtype}. "
            "Fix: store the labels as integers 0..num_classes-1."
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = " (one-hot rows?). Fix: y.argmax(axis=1)." if y.ndim == 2 else ". Fix: store one label per sample."
        raise ValueError(
            f"Expected {name} to hold one class index per sample, shape (n,). Received shape {y.shape}{hint}"
        )
    if num_samples is not None and len(y) != num_samples:
        raise ValueError(
            f"Expected one label per sample in {name}. Received {num_samples} samples and {len(y)} labels. "
            "Fix: store as many labels as samples."
        )
    if not len(y):
        return y.astype("int64")

    def first(bad, what, fix):
        i, count = int(np.flatnonzero(bad)[0]), int(bad.sum())
        raise ValueError(
            f"Expected {name} to be {what}. Received {y[i].item()!r} at sample {i} ({count} such "
            f"label{'s' if count > 1 else ''}). Fix: {fix}."
        )

    if np.issubdtype(y.dtype, np.floating):
        finite = np.isfinite(y)
        if not finite.all():
            first(~finite, "class indices, finite", "drop or label those samples")
        whole = y == np.round(y)
        if not whole.all():
            first(~whole, "whole numbers (class indices); kerasae never truncates a label",
                  "store class indices 0..num_classes-1, e.g. as integers")
    if (y < 0).any():
        first(y < 0, "class indices >= 0 (-1 marks unlabelled examples only after loading, "
              "as kerasae.data.labels.mask_labels writes it)",
              "drop the unlabelled samples from the file, or relabel them")
    limit = num_classes if num_classes is not None else 2**31 - 1
    if (y >= limit).any():
        what = f"class indices in [0, {num_classes}) (num_classes={num_classes})" if num_classes is not None \
            else f"class indices below {limit}"
        first(y >= limit, what, "relabel them as 0..num_classes-1, or pass a larger num_classes")
    return y.astype("int64")


def labelled_mask(y, task="classification"):
    """Which examples carry a label: finite and ``!= -1`` (classification: ``-1`` or ``NaN`` marks an unlabelled
    example) or all targets finite (regression).

    Args:
        y: Labels ``(n,)``, or regression targets ``(n,)`` / ``(n, k)``.
        task: ``"classification"`` or ``"regression"``.

    Returns:
        A boolean numpy array ``(n,)``.
    """
    check_task(task)
    y = np.asarray(y)
    if task == "classification":
        first = y.reshape(len(y), -1)[:, 0]
        finite = np.isfinite(first) if np.issubdtype(first.dtype, np.inexact) else np.ones(len(first), bool)
        return finite & (first != UNLABELLED)
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


def check_label_range(labels, num_classes=None):
    """Refuses class labels that leave most of ``0..max`` unused (``num_classes = max + 1`` would count more
    classes that never occur than classes that do), unless ``num_classes`` declares the classes.

    Args:
        labels: A list of int64 label arrays (the splits).
        num_classes: The declared number of classes, or ``None``.
    """
    if num_classes is not None:
        return
    classes = np.unique(np.concatenate(labels))
    top = int(classes[-1]) + 1
    if top > 2 * len(classes):
        raise ValueError(
            f"The labels take {len(classes)} distinct values but reach {top - 1}, so num_classes (max + 1) would "
            f"be {top}, {top - len(classes)} of them never occurring. Expected class indices 0..K-1. Fix: relabel "
            f"them (numpy.unique(y, return_inverse=True)[1]), or pass num_classes={top} if the gaps are intended."
        )
