"""Class selection for one-class training (the standard protocol of one-class anomaly detection).

Ruff et al. (2018), "Deep one-class classification": a model is trained on the examples of ONE class only
(e.g. the threes of MNIST's training set) and tested on the whole test set, that class normal and every other
class anomalous; an anomaly score's ROC AUC is reported per class and averaged over the classes.
:func:`keep_class` makes such a data set from a loaded :class:`~kerasae.data.datasets.Dataset` (its training
and validation splits reduced to the normal class, its test split whole), and :func:`anomalous` gives the
test labels of the protocol.

Example:
    >>> from kerasae.data import classes
    >>> data = classes.keep_class(kerasae.datasets.load("digits", validation_split=0.1), 0)
    >>> set(data.y_train.tolist()), set(data.y_val.tolist())
    ({0}, {0})
    >>> is_anomaly = classes.anomalous(data.y_test, 0)    # True for every digit but 0
"""

import dataclasses

import numpy as np

from kerasae.utils.validation import is_int


def _present(labels):
    return sorted(set(np.asarray(labels).tolist()))


def check_class(data, label, option="normal_class"):
    """Checks that ``label`` can be the normal class of ``data``: a class index that occurs in its training
    labels and in its test labels, where some test examples are of other classes (so that there are anomalies
    to detect). ``option`` names the argument in the messages (``"--normal-class"`` on the command line).

    Returns:
        ``label`` as an ``int``.

    Raises:
        ValueError: one line, with the fix, for unlabelled data or a class that does not fit.
    """
    if not is_int(label) or label < 0:
        raise ValueError(f"Expected {option} to be a class index, an integer >= 0. Received: {option}={label!r}")
    label = int(label)
    if data.y_train is None or data.y_test is None:
        raise ValueError(
            f"{option} needs labels for the training and the test data, and {data.name!r} has "
            f"{'none' if data.y_train is None else 'no test labels'}. Fix: give the data labels, or drop {option}."
        )
    train_classes, test_classes = _present(data.y_train), _present(data.y_test)
    if label not in train_classes:
        raise ValueError(
            f"{option} {label} does not occur in the training labels of {data.name!r} (its classes are "
            f"{train_classes}). Fix: pass one of those classes."
        )
    if label not in test_classes or test_classes == [label]:
        found = "no test example" if label not in test_classes else "only test examples"
        raise ValueError(
            f"{option} {label}: {data.name!r} has {found} of class {label} (its test classes are {test_classes}), "
            "and the one-class protocol scores test examples of the normal class against those of the others. "
            "Fix: pass a class the test data holds together with others."
        )
    return label


def keep_class(data, label, option="normal_class"):
    """``data`` with its training and validation splits reduced to class ``label`` and its test split whole
    (checked by :func:`check_class`). The validation examples are the class's share of the validation split,
    which :func:`kerasae.data.datasets.load` holds out stratified by class where it can.

    Returns:
        A new :class:`~kerasae.data.datasets.Dataset`; ``data`` is not changed.
    """
    label = check_class(data, label, option)
    keep_train = data.y_train == label
    keep_val = data.y_val == label if data.y_val is not None else np.zeros(len(data.x_val), bool)
    return dataclasses.replace(
        data,
        x_train=data.x_train[keep_train],
        y_train=data.y_train[keep_train],
        x_val=data.x_val[keep_val],
        y_val=None if data.y_val is None else data.y_val[keep_val],
    )


def anomalous(labels, normal_class):
    """The one-class protocol's ground truth: ``True`` where ``labels`` is not ``normal_class``, a boolean
    array."""
    return np.asarray(labels) != normal_class
