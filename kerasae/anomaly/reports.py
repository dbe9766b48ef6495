"""Thresholds, ROC AUC and reports of anomaly scores (:mod:`kerasae.anomaly.scores`,
:mod:`kerasae.anomaly.combined`): a detector flagging scores above a quantile of normal ones, the report of normal
against anomalous examples, and the report of the one-class protocol (Ruff et al. 2018: train on one class only,
score the whole test set, that class normal and the others anomalous).
"""

import numpy as np

from kerasae.anomaly.combined import CombinedScore
from kerasae.anomaly.scores import METHODS, anomaly_score, anomaly_scores, check_scores, score_methods
from kerasae.utils.validation import check_choice, check_number


def _check_quantile(quantile):
    return check_number("quantile", quantile, minimum=0.0, maximum=1.0, exclusive_minimum=True, exclusive_maximum=True)


def fit_threshold(scores_normal, quantile=0.99):
    """The threshold above which a score is flagged: the ``quantile`` of scores of normal data.

    On data like ``scores_normal`` the false-positive rate is then about ``1 - quantile``.

    Args:
        scores_normal: Scores of normal examples ``(n,)``, ideally held out from training.
        quantile: In (0, 1), e.g. 0.99 for a 1% false-positive rate.

    Returns:
        The threshold, a float.
    """
    quantile = _check_quantile(quantile)
    return float(np.quantile(check_scores(scores_normal, "scores_normal"), quantile))


def roc_auc(scores_normal, scores_anomalous):
    """Area under the ROC curve of the scores, anomalies as the positive class (0.5: no separation).

    Args:
        scores_normal: Scores of normal examples ``(n,)``.
        scores_anomalous: Scores of anomalous examples ``(m,)``.

    Returns:
        The AUC, a float in [0, 1]: the probability that an anomaly scores higher than a normal example.
    """
    from sklearn.metrics import roc_auc_score

    normal = check_scores(scores_normal, "scores_normal")
    anomalous = check_scores(scores_anomalous, "scores_anomalous")
    labels = np.concatenate([np.zeros(len(normal)), np.ones(len(anomalous))])
    return float(roc_auc_score(labels, np.concatenate([normal, anomalous])))


class AnomalyDetector:
    """Flags examples whose anomaly score exceeds a threshold fitted on normal data.

    Args:
        model: A trained model (see :func:`anomaly_score`).
        quantile: Quantile of the normal scores used as threshold, in (0, 1).
        method: Scoring method of :func:`anomaly_score`.
        **score_kwargs: Passed to :func:`anomaly_score` (``batch_size``, ``num_samples``, ``seed``).

    Example:
        >>> detector = kerasae.anomaly.AnomalyDetector(model, quantile=0.95).fit(x_val)
        >>> detector.predict(x_test)   # boolean (n,)
    """

    def __init__(self, model, quantile=0.99, method="auto", **score_kwargs):
        quantile = _check_quantile(quantile)
        check_choice("method", method, METHODS)
        self.model = model
        self.quantile = quantile
        self.method = method
        self.score_kwargs = score_kwargs
        self.threshold = None

    def score(self, x):
        """Anomaly scores ``(n,)`` of ``x``."""
        return anomaly_score(self.model, x, method=self.method, **self.score_kwargs)

    def fit(self, x_normal):
        """Sets the threshold to the ``quantile`` of the scores of normal examples; returns ``self``."""
        self.threshold = fit_threshold(self.score(x_normal), self.quantile)
        return self

    def predict(self, x):
        """``True`` where the score exceeds the threshold."""
        if self.threshold is None:
            raise ValueError("The detector has no threshold yet. Call fit(x_normal) first.")
        return self.score(x) > self.threshold


def anomaly_report(model, x_normal, x_anomalous, x_reference=None, quantile=0.99, method="auto", **score_kwargs):
    """Scores normal and anomalous examples and summarises the detection.

    Args:
        model: A trained model (see :func:`anomaly_score`).
        x_normal: Normal test examples.
        x_anomalous: Anomalous test examples.
        x_reference: Normal examples to fit the threshold on (e.g. validation data). ``None`` uses
            ``x_normal`` itself, so the false-positive rate is ``1 - quantile`` by construction.
        quantile: Threshold quantile, in (0, 1).
        method: Scoring method of :func:`anomaly_score`.
        **score_kwargs: Passed to :func:`anomaly_score`.

    Returns:
        A dict: ``auc``, ``threshold``, ``quantile``, ``detection_rate`` (anomalies above the threshold),
        ``false_positive_rate`` (normal examples above it), ``mean_score_normal``, ``mean_score_anomalous``,
        ``num_normal``, ``num_anomalous``, ``method``.
    """
    check_choice("method", method, METHODS)
    if method == "auto":
        method = score_methods(model)[0]
    normal = anomaly_score(model, x_normal, method=method, **score_kwargs)
    anomalous = anomaly_score(model, x_anomalous, method=method, **score_kwargs)
    reference = normal if x_reference is None else anomaly_score(model, x_reference, method=method, **score_kwargs)
    return {**_summary(normal, anomalous, reference, quantile), "method": method}


def _summary(normal, anomalous, reference, quantile):
    threshold = fit_threshold(reference, quantile)
    return {
        "auc": roc_auc(normal, anomalous),
        "threshold": threshold,
        "quantile": float(quantile),
        "detection_rate": float(np.mean(anomalous > threshold)),
        "false_positive_rate": float(np.mean(normal > threshold)),
        "mean_score_normal": float(normal.mean()),
        "mean_score_anomalous": float(anomalous.mean()),
        "num_normal": int(len(normal)),
        "num_anomalous": int(len(anomalous)),
    }


def one_class_report(model, x, is_anomalous, methods=None, x_reference=None, quantile=0.99, x_train=None,
                     image_shape=None, **score_kwargs):
    """The ROC AUC of each of a model's anomaly scores on one test set, and the detection at a threshold of
    the first: the report of the one-class protocol (train on one class, test on every class).

    Args:
        model: A trained model (see :func:`anomaly_score`).
        x: Test examples ``(n, ...)``, normal and anomalous together (e.g. a whole test set).
        is_anomalous: Booleans ``(n,)``, ``True`` for the anomalies (e.g. ``y_test != normal_class``, as
            :func:`kerasae.data.classes.anomalous` gives); both kinds must occur.
        methods: Scores to compute (see :func:`anomaly_scores`); ``None``: every score the model has, its
            default first (:func:`score_methods`).
        x_reference: Normal examples to fit the threshold of the first score on (e.g. the normal class's
            validation examples); ``None``: the normal examples of ``x``.
        quantile: Threshold quantile, in (0, 1).
        x_train: The normal examples the model was trained on. Given with ``x_reference``, the report also has
            the ``"combined"`` score (:class:`kerasae.anomaly.CombinedScore`, its codes' neighbours from
            ``x_train``, standardised on ``x_reference``), first: the report's ``score`` and ``auc``.
        image_shape: ``(height, width, channels)`` of flattened image inputs, for the combined score's smoothing
            (see :class:`kerasae.anomaly.CombinedScore`).
        **score_kwargs: Passed to :func:`anomaly_scores` (``batch_size``, ``num_samples``, ``seed``).

    Returns:
        A dict: ``score`` (the first method), ``auc`` (its AUC), ``auc_<method>`` for every method, and for the
        first score ``threshold``, ``quantile``, ``detection_rate``, ``false_positive_rate``,
        ``mean_score_normal``, ``mean_score_anomalous``; ``num_normal``, ``num_anomalous``.
    """
    is_anomalous = np.asarray(is_anomalous)
    if is_anomalous.dtype != bool or is_anomalous.ndim != 1:
        raise ValueError(
            f"Expected is_anomalous to be a 1-D boolean array. Received dtype {is_anomalous.dtype}, shape "
            f"{is_anomalous.shape}."
        )
    if len(is_anomalous) != len(x):
        raise ValueError(f"Expected one is_anomalous flag per example of x ({len(x)}). Received {len(is_anomalous)}.")
    if is_anomalous.all() or not is_anomalous.any():
        kind = "normal" if is_anomalous.all() else "anomalous"
        raise ValueError(f"Expected normal and anomalous examples in x. Received no {kind} example.")
    scores = anomaly_scores(model, x, methods, **score_kwargs)
    combined = None
    if x_train is not None and x_reference is not None:
        batch_size = score_kwargs.get("batch_size", 256)
        combined = CombinedScore(model, image_shape=image_shape, batch_size=batch_size).fit(x_train, x_reference)
        scores = {"combined": combined.score(x), **scores}
    first = next(iter(scores))
    normal, anomalous = scores[first][~is_anomalous], scores[first][is_anomalous]
    if x_reference is None:
        reference = normal
    elif combined is not None:
        reference = combined.reference_scores
    else:
        reference = anomaly_scores(model, x_reference, (first,), **score_kwargs)[first]
    report = {"score": first, **_summary(normal, anomalous, reference, quantile)}
    report.update({f"auc_{m}": roc_auc(s[~is_anomalous], s[is_anomalous]) for m, s in scores.items()})
    return report
