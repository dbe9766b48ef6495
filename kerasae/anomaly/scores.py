"""Per-example anomaly scores of a trained model: its reconstruction error, ``-log p(x)`` and the negative ELBO.

A model trained on normal data reconstructs (or assigns likelihood to) normal examples better than anomalous ones,
so a score that grows with the reconstruction loss, or with the negative log-likelihood of a generative model,
separates the two. These scores need nothing but the model; :mod:`kerasae.anomaly.combined` adds one fitted on the
normal training and validation examples, :mod:`kerasae.anomaly.reports` thresholds and summarises them.
"""

import math

import numpy as np

from kerasae.ops import losses
from kerasae.utils.validation import check_choice, check_positive_int

#: Scoring methods of :func:`anomaly_score`.
METHODS = ("auto", "reconstruction", "likelihood", "elbo")


def check_x(model, x, name):
    """``x`` checked as ``fit`` checks it (:mod:`kerasae.models.inputs`) for a kerasae model, else as an array."""
    if getattr(model, "data_shape", None) is None:
        from kerasae.data.checks import check_array

        return check_array(x, name, unit_interval=False)
    from kerasae.models import inputs

    return inputs.check_examples(model, x, name)


def check_scores(scores, name):
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
    x = check_x(model, x, "x")
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
