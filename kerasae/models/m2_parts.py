"""Parts of :class:`kerasae.models.m2.M2`: for M1+M2 (``m1``), which of M1's code units M2 models and what it sees
of them (a fresh draw ``z1 ~ q(z1|x)`` in training, the posterior mean otherwise); and M2's export signatures.

Kingma et al. (2014) train M2 on "the latent variables z1 from M1 as data". The authors' code (github.com/dpkingma/
nips14-ssl, ``learn_yz_x_ss.py``) makes this precise:

* M1's inactive units are dropped first: a unit is kept when the standard deviation of its posterior mean over
  1,000 training examples exceeds 0.1 (``idx_keep = np.std(q_mean, axis=1) > 0.1``); the others have a posterior
  close to the prior whatever the image, and say nothing about it (:func:`active_units`).
* M2 trains on samples, drawn afresh for every minibatch, labelled and unlabelled alike
  (``np.random.normal(mean, exp(0.5 * logvar))``), and its classifier takes the same sample; validation and test
  errors are those of the classifier on the posterior means (:func:`m1_codes`; ``M2(m1_samples=True)``, off by
  default: the draws are mostly noise on the units of an M1 trained briefly, whose posteriors are still wide).

On the means of every unit, a learned-scale Gaussian ``p(z1|y, z2)`` can shrink its scale without bound on the
inactive units (their means barely vary): the bound then grows without limit on units that carry no information,
and the classifier's unlabelled signal, the per-class bounds, is dominated by them.
"""

import numpy as np
import tensorflow as tf

from kerasae.layers import posteriors
from kerasae.models.autoencoder import ExportSignature, float32_outputs
from kerasae.ops import sampling
from kerasae.utils.validation import check_number, check_positive_int

#: The authors' rule for M1's active units: the posterior mean's standard deviation over examples exceeds this.
ACTIVE_UNIT_THRESHOLD = 0.1
#: ... over this many training examples (the first 1,000 unlabelled ones in the authors' code).
ACTIVE_UNIT_EXAMPLES = 1000


def active_units(m1, x, threshold=ACTIVE_UNIT_THRESHOLD, max_examples=ACTIVE_UNIT_EXAMPLES, batch_size=500):
    """The indices of M1's active code units: those whose posterior mean ``E_q[z1|x]`` varies over ``x``.

    Args:
        m1: A trained kerasae VAE.
        x: Training examples as M1 takes them; the first ``max_examples`` are used.
        threshold: A unit is active when the standard deviation of its mean over the examples exceeds this, >= 0.
        max_examples: How many examples to use, >= 2.
        batch_size: Examples per encoder call.

    Returns:
        A tuple of ints, in increasing order; every unit when none passes (a degenerate M1 still gives a model).
    """
    threshold = check_number("threshold", threshold, minimum=0, hint="a standard deviation of M1's posterior means")
    max_examples = check_positive_int("max_examples", max_examples)
    x = np.asarray(x, "float32")[:max_examples]
    if len(x) < 2:
        raise ValueError(f"Expected at least 2 examples to tell M1's active units. Received {len(x)}.")
    means = np.concatenate([np.asarray(posteriors.point_code(m1.encode(x[i:i + batch_size])))
                            for i in range(0, len(x), batch_size)])
    kept = tuple(int(i) for i in np.flatnonzero(means.std(axis=0) > threshold))
    return kept or tuple(range(int(m1.latent_dim)))


def check_units(units, latent_dim):
    """``units`` as a sorted tuple of distinct indices into a ``latent_dim`` code, or None (every unit)."""
    if units is None:
        return None
    kept = tuple(int(i) for i in units)
    if not kept or list(kept) != sorted(set(kept)) or kept[0] < 0 or kept[-1] >= latent_dim:
        raise ValueError(f"Expected m1_units to be distinct, increasing indices into M1's {latent_dim}-dimensional "
                         f"code. Received {list(kept)!r}. Fix: pass kerasae.models.m2_parts.active_units(m1, x), or "
                         "None for every unit.")
    return None if kept == tuple(range(latent_dim)) else kept


def code_width(units, latent_dim):
    """How many of M1's ``latent_dim`` code units M2 models: ``len(units)``, or all of them when ``units`` is None."""
    return latent_dim if units is None else len(units)


def m1_codes(m1, x, units, sample, seed_generator):
    """What M2 models for images ``x``: M1's code restricted to ``units`` (None: all), a reparameterised draw
    ``z1 ~ q(z1|x)`` when ``sample`` else the posterior mean; float32, no gradient (M1 is frozen)."""
    posterior = m1.encode(tf.cast(x, "float32"))
    if sample:
        codes = sampling.reparameterized_sample(posterior, 1, sampling.next_seed(seed_generator))[0]
    else:
        codes = posteriors.point_code(posterior)
    codes = tf.cast(codes, "float32")
    if units is not None:
        codes = tf.gather(codes, list(units), axis=-1)
    return tf.stop_gradient(codes)


def full_code(codes, units, latent_dim):
    """M1's whole code from the ``units`` M2 models: the dropped units at 0, their prior's (and nearly their
    posterior's) mean; ``codes`` as they are when ``units`` is None."""
    if units is None:
        return codes
    selection = np.zeros((len(units), latent_dim), "float32")
    selection[np.arange(len(units)), list(units)] = 1.0
    return tf.matmul(tf.cast(codes, "float32"), tf.constant(selection))


def shape(network, which="outputs"):
    """The shape of a functional network's first input or output, without the batch axis (None if unknown)."""
    try:
        return tuple(int(d) for d in getattr(network, which)[0].shape[1:])
    except (AttributeError, IndexError, TypeError):
        return None


def width(network, which="outputs"):
    """The last axis of :func:`shape` (None if unknown)."""
    found = shape(network, which)
    return None if found is None else found[-1]


def export_signatures(model):
    """:meth:`kerasae.models.m2.M2.export_signatures` (see there)."""
    x = tf.TensorSpec((None, *model.data_shape), tf.float32, name="x")
    z = tf.TensorSpec((None, model.latent_dim), tf.float32, name="z")
    c = tf.TensorSpec((None, model.num_classes), tf.float32, name="condition")

    def encode(x, condition):
        q = model.encode(x, condition)
        return float32_outputs(mean=q.mean(), scale=q.stddev())

    def sample(condition):
        return float32_outputs(samples=model.decode(model.prior().sample(tf.shape(condition)[0]), condition))

    return {
        "classify": ExportSignature(lambda x: float32_outputs(probabilities=tf.nn.softmax(model.class_logits(x))),
                                    (x,)),
        "encode": ExportSignature(encode, (x, c)),
        "decode": ExportSignature(lambda z, condition: float32_outputs(reconstruction=model.decode(z, condition)),
                                  (z, c)),
        "reconstruct": ExportSignature(
            lambda x, condition: float32_outputs(reconstruction=model.reconstruct(x, condition)), (x, c)),
        "sample": ExportSignature(sample, (c,), random=True),
    }
