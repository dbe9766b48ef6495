"""Anomaly detection with autoencoders: score by reconstruction error, likelihood or both a reconstruction and a
code's distance to the normal codes; threshold; ROC AUC.

A model trained on normal data reconstructs (or assigns likelihood to) normal examples better than
anomalous ones, so a per-example score ``s(x)`` that grows with the reconstruction loss, or with the
negative log-likelihood of a generative model, separates the two (:mod:`kerasae.anomaly.scores`). The combined
score (:mod:`kerasae.anomaly.combined`) adds how far an example's code lies from the codes of the normal training
examples, both parts standardised on held-out normal examples. A threshold at a high quantile of the normal scores
fixes the false-positive rate; the ROC AUC summarises the separation over all thresholds
(:mod:`kerasae.anomaly.reports`).

The one-class protocol (Ruff et al. 2018, "Deep one-class classification"): train on one class only, score
the whole test set, that class normal and the others anomalous (:mod:`kerasae.data.classes` selects the
class), and report the AUC of each score (:func:`one_class_report`).

Example:
    >>> detector = kerasae.anomaly.AnomalyDetector(model, quantile=0.99).fit(x_val_normal)
    >>> flags = detector.predict(x_new)            # True where s(x) > threshold
    >>> kerasae.anomaly.anomaly_report(model, x_test_normal, x_test_anomalous, x_reference=x_val_normal)
    {'auc': 0.93, 'threshold': 0.041, 'detection_rate': 0.62, 'false_positive_rate': 0.012, ...}
    >>> kerasae.anomaly.one_class_report(vae, data.x_test, data.y_test != 3)    # every score of a VAE
    {'score': 'likelihood', 'auc': ..., 'auc_likelihood': ..., 'auc_elbo': ..., 'auc_reconstruction': ..., ...}
    >>> kerasae.anomaly.one_class_report(model, data.x_test, data.y_test != 3, x_reference=data.x_val,
    ...                                  x_train=data.x_train, image_shape=data.image_shape)
    {'score': 'combined', 'auc': ..., 'auc_combined': ..., 'auc_reconstruction': ..., ...}
"""

from kerasae.anomaly.combined import CombinedScore
from kerasae.anomaly.reports import AnomalyDetector, anomaly_report, fit_threshold, one_class_report, roc_auc
from kerasae.anomaly.scores import METHODS, anomaly_score, anomaly_scores, score_methods

__all__ = ["METHODS", "AnomalyDetector", "CombinedScore", "anomaly_report", "anomaly_score", "anomaly_scores",
           "fit_threshold", "one_class_report", "roc_auc", "score_methods"]
