"""Anomaly detection with autoencoders: score by reconstruction error or likelihood, threshold, ROC AUC.

A model trained on normal data reconstructs (or assigns likelihood to) normal examples better than
anomalous ones, so a per-example score ``s(x)`` that grows with the reconstruction loss, or with the
negative log-likelihood of a generative model, separates the two. A threshold at a high quantile of the
normal scores fixes the false-positive rate; the ROC AUC summarises the separation over all thresholds.

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
"""

import math

import numpy as np

from kerasae.ops import losses
from kerasae.utils.validation import check_choice, check_number, check_positive_int

#: Scoring methods of :func:`anomaly_score`.
METHODS = ("auto", "reconstruction", "likelihood", "elbo")


def _check_x(model, x, name):
    """``x`` checked as ``fit`` checks it (:mod:`kerasae.models.inputs`) for a kerasae model, else as an array."""
    if getattr(model, "data_shape", None) is None:
        from kerasae.data.checks import check_array

        return check_array(x, name, unit_interval=False)
    from kerasae.models import inputs

    return inputs.check_examples(model, x, name)


def _check_quantile(quantile):
    return check_number("quantile", quantile, minimum=0.0, maximum=1.0, exclusive_minimum=True, exclusive_maximum=True)


def _check_scores(scores, name):
    scores = np.asarray(scores)
    if scores.ndim != 1 or scores.size == 0 or not np.issubdtype(scores.dtype, np.number):
        raise ValueError(f"Expected {name} to be a non-empty 1-D array of numbers. Received shape {scores.shape}, dtype {scores.dtype}.")
    scores = scores.astype("float64")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} contains {int((~np.isfinite(scores)).sum())} NaN or inf values. Expected finite scores.")
    return scores


def score_methods(model):
    """The scores :func:`anomaly_score` can give ``model``, its default (``"auto"``) first:
    ``("likelihood", "elbo", "reconstruction")`` for a VAE (a model with ``log_weights``),
    ``("likelihood", "reconstruction")`` for another model with ``log_likelihood``, else
    ``("reconstruction",)``."""
    if callable(getattr(model, "log_weights", None)) and callable(getattr(model, "log_likelihood", None)):
        return ("likelihood", "elbo", "reconstruction")
    if callable(getattr(model, "log_likelihood", None)):
        return ("likelihood", "reconstruction")
    return ("reconstruction",)


def anomaly_score(model, x, method="auto", batch_size=256, num_samples=100, seed=0):
    """Per-example anomaly score: higher means more anomalous.

    * ``"reconstruction"``: the model's own per-example reconstruction loss ``r(x, g(f(x)))`` in inference
      mode (mean squared error, or binary cross-entropy on the decoder's logits, as the model was trained),
      decoding ``encode_mean(x)``; for a model with a likelihood (a VAE), the squared error of
      ``reconstruct(x)``, the likelihood's mean at the posterior mean.
    * ``"likelihood"``: ``-log p(x)``, the importance-weighted estimate of ``model.log_likelihood`` with
      ``num_samples`` posterior samples (the negative ELBO in expectation when ``num_samples=1``).
    * ``"elbo"``: the negative ELBO ``-E_q[log p(x|z) + log p(z) - log q(z|x)]``, estimated by the mean of
      the same ``num_samples`` log importance weights (a VAE, a model with ``log_weights``).
    * ``"auto"``: ``"likelihood"`` for a model with ``log_likelihood`` (a VAE), else ``"reconstruction"``.

    Args:
        model: A trained :class:`kerasae.Autoencoder` (a VAE for ``"likelihood"`` and ``"elbo"``).
        x: Inputs ``(n, ...)`` shaped as the model expects.
        method: ``"auto"``, ``"reconstruction"``, ``"likelihood"`` or ``"elbo"``.
        batch_size: Examples scored at a time (integers, numpy integers too).
        num_samples: Importance samples for ``"likelihood"`` and ``"elbo"``.
        seed: Seed of the likelihood estimate (the same seed gives the same scores).

    Returns:
        A float64 numpy array ``(n,)``.

    Raises:
        ValueError: for an unknown method, a model that cannot be scored that way, or bad inputs (checked as
            ``fit`` checks them: non-empty, finite, of the model's shape, in [0, 1] for a Bernoulli VAE).
    """
    check_choice("method", method, METHODS)
    if method == "auto":
        method = score_methods(model)[0]
    return anomaly_scores(model, x, (method,), batch_size=batch_size, num_samples=num_samples, seed=seed)[method]


def anomaly_scores(model, x, methods=None, batch_size=256, num_samples=100, seed=0):
    """Several anomaly scores of ``x`` at once, ``{method: scores (n,)}`` (see :func:`anomaly_score`).

    ``"likelihood"`` and ``"elbo"`` of a VAE come from one pass over the same importance samples (the
    ``"likelihood"`` scores equal ``-model.log_likelihood(x, num_samples, batch_size=min(batch_size, 100),
    seed=seed)``).

    Args:
        model: A trained model.
        x: Inputs ``(n, ...)``.
        methods: Scores to compute, a sequence of :data:`METHODS` other than ``"auto"``; ``None``: every score
            the model has (:func:`score_methods`).
        batch_size, num_samples, seed: As for :func:`anomaly_score`.

    Returns:
        A dict ``method -> float64 array (n,)``, in the order of ``methods``.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    num_samples = check_positive_int("num_samples", num_samples)
    available = score_methods(model)
    methods = available if methods is None else tuple(methods)
    if not methods:
        raise ValueError("Expected at least one scoring method. Received: methods=().")
    for method in methods:
        check_choice("method", method, METHODS[1:])
        if method not in available:
            needs = "log_weights(x) (a kerasae VAE)" if method == "elbo" else "log_likelihood(x) (a VAE)"
            raise ValueError(
                f"method={method!r} needs a model with {needs}. {type(model).__name__} has none. Fix: use "
                "method='reconstruction'."
            )
    x = _check_x(model, x, "x")
    scores = {}
    if "elbo" in methods or ("likelihood" in methods and "elbo" in available):
        scores["likelihood"], scores["elbo"] = _variational_scores(model, x, num_samples, min(batch_size, 100), seed)
    elif "likelihood" in methods:
        log_px = model.log_likelihood(x, num_samples=num_samples, batch_size=min(batch_size, 100), seed=seed)
        scores["likelihood"] = -np.asarray(log_px, dtype="float64")
    if "reconstruction" in methods:
        scores["reconstruction"] = _reconstruction_scores(model, x, batch_size)
    return {method: scores[method] for method in methods}


def _variational_scores(model, x, num_samples, batch_size, seed):
    """``(-log p(x), -ELBO)`` per example from one set of ``num_samples`` log importance weights, drawn as
    :func:`kerasae.models.likelihood.log_likelihood` draws them (the same chunks and seeds)."""
    import tensorflow as tf

    from kerasae.models import likelihood

    log_px, elbo = [], []
    for log_w in likelihood.log_weight_batches(model, x, num_samples, batch_size, seed=seed):
        log_px.append((tf.reduce_logsumexp(log_w, axis=0) - math.log(num_samples)).numpy())
        elbo.append(tf.reduce_mean(log_w, axis=0).numpy())
    return -np.concatenate(log_px), -np.concatenate(elbo)


def _reconstruction_scores(model, x, batch_size):
    if not all(hasattr(model, name) for name in ("encode_mean", "decoder", "reconstruct", "reconstruction_loss_fn", "loss_input")):
        raise ValueError(
            f"method='reconstruction' needs a kerasae.Autoencoder (encode_mean, decoder and its reconstruction loss). "
            f"Received {type(model).__name__}."
        )
    has_likelihood = callable(getattr(model, "log_likelihood", None))
    scores = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        if has_likelihood:  # a VAE: its decoder gives the likelihood's parameters, reconstruct its mean
            scores.append(np.asarray(losses.mean_squared_error(xb, model.reconstruct(xb))))
        else:
            outputs = model.decoder(model.encode_mean(xb), training=False)
            scores.append(np.asarray(model.reconstruction_loss_fn(xb, model.loss_input(outputs))))
    return np.concatenate(scores).astype("float64")


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
    return float(np.quantile(_check_scores(scores_normal, "scores_normal"), quantile))


def roc_auc(scores_normal, scores_anomalous):
    """Area under the ROC curve of the scores, anomalies as the positive class (0.5: no separation).

    Args:
        scores_normal: Scores of normal examples ``(n,)``.
        scores_anomalous: Scores of anomalous examples ``(m,)``.

    Returns:
        The AUC, a float in [0, 1]: the probability that an anomaly scores higher than a normal example.
    """
    from sklearn.metrics import roc_auc_score

    normal = _check_scores(scores_normal, "scores_normal")
    anomalous = _check_scores(scores_anomalous, "scores_anomalous")
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


def one_class_report(model, x, is_anomalous, methods=None, x_reference=None, quantile=0.99, **score_kwargs):
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
    first = next(iter(scores))
    normal, anomalous = scores[first][~is_anomalous], scores[first][is_anomalous]
    if x_reference is None:
        reference = normal
    else:
        reference = anomaly_scores(model, x_reference, (first,), **score_kwargs)[first]
    report = {"score": first, **_summary(normal, anomalous, reference, quantile)}
    report.update({f"auc_{m}": roc_auc(s[~is_anomalous], s[is_anomalous]) for m, s in scores.items()})
    return report
