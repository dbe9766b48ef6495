"""Random draws that stay fast under XLA: stateless sampling from a Keras ``SeedGenerator``.

Every random draw inside a training step (corruptions, reparameterised samples, projections) goes through
these functions, with an explicit stateless algorithm chosen when the draw is traced:

* inside an XLA-compiled function (``jit_compile=True``): ThreeFry, the counter-based generator JAX uses by
  default. XLA expands it into 32-bit adds, rotations and xors that it fuses and vectorises, several times
  faster on CPU than Philox or TensorFlow's default ``alg="auto_select"`` under XLA (measured in
  benchmarks/RESULTS.md);
* everywhere else (eager, graph mode, exported SavedModels and TFLite files): Philox, the algorithm
  TensorFlow's CPU and GPU kernels implement (they have no ThreeFry kernel).

So the same seed gives different draws with and without XLA; each is reproducible in its own setting.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from kerasae._compat import in_xla_context

tfd = tfp.distributions
#: The stateless algorithm outside XLA (TensorFlow's CPU and GPU kernels).
ALGORITHM = "philox"
#: The stateless algorithm inside an XLA-compiled function.
XLA_ALGORITHM = "threefry"


def algorithm():
    """The algorithm for a draw traced now: :data:`XLA_ALGORITHM` under XLA compilation, else :data:`ALGORITHM`."""
    if in_xla_context():
        return XLA_ALGORITHM
    return ALGORITHM


def next_seed(seed_generator):
    """The next stateless seed, shape ``(2,)`` int32, from a ``keras.random.SeedGenerator``."""
    return tf.cast(seed_generator.next(), "int32")


def uniform(shape, seed, dtype="float32"):
    """``U[0, 1)`` draws of ``shape`` from a stateless seed (shape ``(2,)``), with :func:`algorithm`."""
    return tf.random.stateless_uniform(shape, seed=seed, dtype=dtype, alg=algorithm())


def normal(shape, seed, dtype="float32"):
    """Standard normal draws of ``shape`` from a stateless seed (shape ``(2,)``), with :func:`algorithm`."""
    return tf.random.stateless_normal(shape, seed=seed, dtype=dtype, alg=algorithm())


def reparameterized_sample(distribution, num_samples, seed):
    """Draws ``num_samples`` reparameterised samples ``loc + scale @ eps``, ``eps ~ N(0, I)`` (:func:`normal`).

    Handles the posteriors kerasae builds, ``Independent(Normal)`` and ``MultivariateNormalLinearOperator``
    (``MultivariateNormalTriL``); any other distribution falls back to its own ``sample``.

    Args:
        distribution: A ``tfp.distributions`` object.
        num_samples: Number of samples ``S``.
        seed: A stateless seed, shape ``(2,)`` int32.

    Returns:
        A tensor of shape ``(S, *batch_shape, *event_shape)``, differentiable with respect to the
        distribution's parameters.
    """
    base = distribution.distribution if isinstance(distribution, tfd.Independent) else distribution
    if isinstance(base, tfd.Normal):
        loc = tf.convert_to_tensor(base.loc)
        scale = tf.convert_to_tensor(base.scale)
        shape = tf.concat([[num_samples], tf.shape(loc + scale)], axis=0)
        return loc + scale * normal(shape, seed, loc.dtype)
    if isinstance(distribution, tfd.MultivariateNormalLinearOperator):
        loc = tf.convert_to_tensor(distribution.loc)
        shape = tf.concat([[num_samples], tf.shape(loc)], axis=0)
        return loc + distribution.scale.matvec(normal(shape, seed, loc.dtype))
    return distribution.sample(num_samples, seed=seed)
