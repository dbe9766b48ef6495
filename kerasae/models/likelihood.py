"""The importance-weighted estimate of ``log p(x)`` behind :meth:`kerasae.VAE.log_likelihood`.

``log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K``, ``z_k ~ q(z|x)``, with the
samples drawn in chunks so that large ``K`` fits in memory. The inputs are checked first by the helpers that
``fit`` checks them with (:mod:`kerasae.models.inputs`): a NaN, an input outside [0, 1] for a Bernoulli or categorical
likelihood, a wrong shape or an empty batch is a one-line ``ValueError``, never a NaN or a positive "log
probability" of a discrete likelihood.
"""

import math
import weakref

import numpy as np
import tensorflow as tf

from kerasae.models import inputs
from kerasae.utils.validation import check_int, check_positive_int

#: The compiled log-weight function of each model (kept outside the model's attributes, which Keras tracks
#: and would try to save).
_LOG_WEIGHT_FUNCTIONS = weakref.WeakKeyDictionary()
#: Decoder evaluations per chunk that the default ``sample_batch_size`` aims for.
EVALUATIONS_PER_CHUNK = 20000
#: Seeds are int32 (stateless random ops).
SEED_RANGE = (-(2**31), 2**31 - 1)


def check_seed(seed):
    """``seed`` as an ``int`` (numpy integers too) in the int32 range, or None."""
    return check_int("seed", seed, minimum=SEED_RANGE[0], maximum=SEED_RANGE[1], optional=True,
                     hint="an int32 seed")


def log_weight_fn(model):
    """``fn(batch, num_samples, seed) -> (S, batch)`` log importance weights of ``model``, traced once."""
    fn = _LOG_WEIGHT_FUNCTIONS.get(model)
    if fn is None:
        ref = weakref.ref(model)  # the function must not keep its (weakly held) model alive

        @tf.function(reduce_retracing=True)
        def log_weight(batch, num_samples, seed):
            parts = ref().log_weights(batch, num_samples, seed=seed)
            return parts["log_px_z"] + parts["log_pz"] - parts["log_qz"]

        fn = _LOG_WEIGHT_FUNCTIONS[model] = log_weight
    return fn


def _arrays(model, x):
    """The checked inputs as float32 arrays: ``[x]``, or ``[x, condition]`` for a conditional model."""
    data, condition = model._split_inputs(x)  # (x, None); a conditional model refuses a lone array
    data = inputs.check_examples(model, data)
    if condition is None:
        return [data]
    return [data, inputs.check_condition(condition, len(data), model.num_classes)]


def log_weight_batches(model, x, num_samples=1000, batch_size=100, sample_batch_size=None, seed=None):
    """Yields the ``(K, batch)`` float64 log importance weights of ``x``, batch after batch: what
    :func:`log_likelihood` reduces (``logsumexp - log K``), and the ELBO's Monte Carlo estimate (their mean).
    The arguments are checked (and ``x`` with :mod:`kerasae.models.inputs`) before anything is drawn."""
    num_samples = check_positive_int("num_samples", num_samples)
    batch_size = check_positive_int("batch_size", batch_size)
    if sample_batch_size is None:
        sample_batch_size = max(1, min(num_samples, EVALUATIONS_PER_CHUNK // batch_size))
    sample_batch_size = check_positive_int("sample_batch_size", sample_batch_size)
    seed = check_seed(seed)
    arrays = _arrays(model, x)

    def batches():
        fn, counter = log_weight_fn(model), 0
        for start in range(0, len(arrays[0]), batch_size):
            batch = tuple(a[start : start + batch_size] for a in arrays)
            batch = batch[0] if len(batch) == 1 else batch
            chunks = []
            for s0 in range(0, num_samples, sample_batch_size):
                s = min(sample_batch_size, num_samples - s0)
                chunk_seed = model._next_seed() if seed is None else tf.constant([seed, counter], "int32")
                counter += 1
                chunks.append(fn(batch, tf.constant(s, "int32"), chunk_seed))
            yield tf.cast(tf.concat(chunks, axis=0), "float64")

    return batches()


def log_likelihood(model, x, num_samples=1000, batch_size=100, sample_batch_size=None, seed=None):
    """:meth:`kerasae.VAE.log_likelihood` of ``model`` (see there): a float64 array ``(n,)`` of nats."""
    log_weights = log_weight_batches(model, x, num_samples, batch_size, sample_batch_size, seed)
    k = math.log(check_positive_int("num_samples", num_samples))
    return np.concatenate([(tf.reduce_logsumexp(log_w, axis=0) - k).numpy() for log_w in log_weights])


#: Bernoulli means scored by :func:`log_likelihood_of_mean` are clipped to ``[eps, 1 - eps]``: a quantised sigmoid
#: rounds to exactly 0 or 1, a probability the model never gives.
BERNOULLI_EPSILON = 1e-6


def log_likelihood_of_mean(likelihood, x, mean, scale=None):
    """``log p(x | mean)`` per example, in nats (numpy), for a likelihood known by its mean: ``"bernoulli"``
    (``mean`` the probabilities, clipped to ``[BERNOULLI_EPSILON, 1 - BERNOULLI_EPSILON]``), ``"gaussian"`` or
    ``"gaussian_learned"`` (``scale`` the standard deviation, a scalar or one per dimension). None for others.
    """
    if likelihood not in ("bernoulli", "gaussian", "gaussian_learned"):
        return None
    x = np.asarray(x, "float64").reshape(len(x), -1)
    mean = np.asarray(mean, "float64").reshape(len(x), -1)
    if likelihood == "bernoulli":
        p = np.clip(mean, BERNOULLI_EPSILON, 1 - BERNOULLI_EPSILON)
        return np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=1)
    sigma = np.broadcast_to(np.asarray(scale, "float64").reshape(-1), x.shape[1:])
    return np.sum(-0.5 * ((x - mean) / sigma) ** 2 - np.log(sigma) - 0.5 * math.log(2 * math.pi), axis=1)
