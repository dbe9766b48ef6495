"""Planar and radial flow posteriors (Rezende & Mohamed, 2015), amortised: the encoder outputs every step's
parameters per example.

:class:`PlanarFlow` and :class:`RadialFlow` read an encoder's outputs ``[mu | s | theta_1 | ... | theta_K]`` (the
base normal's mean, its scale pre-activation, then the raw parameters of each of the ``K`` steps) and return
``q(z|x)``, a ``tfp.distributions.TransformedDistribution``: ``N(mu, diag(sigma^2))`` pushed through ``K`` steps,
each a :class:`PlanarBijector` or a :class:`RadialBijector` built in the layer's call from that example's
``theta_k``. The parameters are amortised as in the paper (its MNIST results use this form): the layers hold no
weights, and the encoder's output grows by ``K (2 d + 1)`` (planar) or ``K (d + 2)`` (radial) values, where a
global flow (pythae's ``VAE_LinNF``) would learn one set of parameters for all examples.

Neither step has a closed-form inverse. Sampling is one pass through the steps and reparameterised, and the
log-density of the flow's own draws needs no inverse: the change of variables at the base draw
(:func:`kerasae.layers.posteriors.sample_and_log_prob`), or ``q.log_prob(z)`` of a ``z`` that ``q.sample``
returned (TFP's bijector cache). ``log_prob`` of any other code raises ``NotImplementedError`` naming that
limitation, which is why a VAE refuses the VampPrior (the density of every pseudo-input's posterior at every code)
with these posteriors; as with every flow, its KL is estimated by Monte Carlo.

Like the other distribution layers (:mod:`kerasae.layers.distributions`), the layers compute in float32, hold no
randomness, are called inside a model's own methods (eager, graph or XLA mode) and never inside a functional
model.

Example:
    >>> layer = kerasae.layers.planar.PlanarFlow(4, flow_steps=3)
    >>> q = layer(keras.ops.zeros((2, layer.params_size(4, 3))))   # TransformedDistribution, event shape (4,)
    >>> z, log_q = kerasae.layers.posteriors.sample_and_log_prob(q, 1, seed=[0, 1])

References:
    Rezende & Mohamed (2015), Variational inference with normalizing flows. ICML.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from kerasae.layers.distributions import SCALE_ACTIVATIONS, positive_scale
from kerasae.layers.flows import split_parameters
from kerasae.utils.validation import check_choice, check_number, check_positive_int

tfd = tfp.distributions
tfb = tfp.bijectors

#: Added to ``||w||^2`` in the planar constraint's denominator, so that ``w = 0`` does not divide by zero.
NORM_EPSILON = 1e-12


def _no_inverse(flow):
    raise NotImplementedError(
        f"The {flow} flow has no closed-form inverse, so q.log_prob(z) works only for a z that q.sample returned "
        "(TFP's bijector cache) and not for any other code. Fix: take the log-density of the flow's own draws with "
        "kerasae.layers.posteriors.sample_and_log_prob(q, num_samples, seed), or use posterior='iaf'.")


class PlanarBijector(tfb.Bijector):
    """One planar step ``f(z) = z + u_hat tanh(w^T z + b)`` with the invertibility constraint.

        u_hat = u + (m(w^T u) - w^T u) w / ||w||^2,   m(a) = -1 + softplus(a),

    so that ``w^T u_hat = m(w^T u) > -1`` and ``f`` is invertible. With ``psi(z) = tanh'(w^T z + b) w``,

        log |det df/dz| = log |1 + u_hat^T psi(z)|,

    computed as ``log(t^2 + (1 - t^2)(1 + w^T u_hat))``, ``t = tanh(w^T z + b)``: the same value, a sum of
    non-negative terms, with ``1 + w^T u_hat = softplus(w^T u)`` (to within :data:`NORM_EPSILON`) taken without the
    cancellation of ``1 + m``. ``f`` has no closed-form inverse: ``inverse`` raises ``NotImplementedError`` except on
    the bijector's own outputs (TFP's cache).

    Args:
        u: The raw direction, ``(..., d)``.
        w: The normal of the hyperplane, ``(..., d)``.
        b: The offset, ``(...)``.
        validate_args: Passed to ``tfb.Bijector``.
        name: The bijector's name.

    Returns:
        A bijector of event rank 1 whose batch shape is that of the parameters (``u_hat``: the constrained ``u``).

    Example:
        >>> step = PlanarBijector(u=[[0.5, -1.0]], w=[[1.0, 2.0]], b=[0.1])
        >>> y = step.forward([[0.3, 0.2]]); log_det = step.forward_log_det_jacobian([[0.3, 0.2]], event_ndims=1)

    References:
        Rezende & Mohamed (2015), Variational inference with normalizing flows (appendix A.1). ICML.
    """

    def __init__(self, u, w, b, validate_args=False, name="planar"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self.u = tf.convert_to_tensor(u, "float32", name="u")
            self.w = tf.convert_to_tensor(w, "float32", name="w")
            self.b = tf.convert_to_tensor(b, "float32", name="b")
            wu = tf.reduce_sum(self.w * self.u, axis=-1, keepdims=True)
            norm = tf.reduce_sum(tf.square(self.w), axis=-1, keepdims=True) + NORM_EPSILON
            softplus_wu = tf.math.softplus(wu)
            self.u_hat = self.u + (softplus_wu - 1.0 - wu) * self.w / norm
            # 1 + w^T u_hat = 1 + w^T u + (m - w^T u) r with r = ||w||^2 / norm: no cancellation at m near -1.
            ratio = (norm - NORM_EPSILON) / norm
            self.one_plus_wu_hat = tf.squeeze((1.0 - ratio) * (1.0 + wu) + ratio * softplus_wu, axis=-1)
            super().__init__(forward_min_event_ndims=1, dtype=tf.float32, validate_args=validate_args,
                             parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {"u": tfp.util.ParameterProperties(event_ndims=1), "w": tfp.util.ParameterProperties(event_ndims=1),
                "b": tfp.util.ParameterProperties(event_ndims=0)}

    def _tanh(self, x):
        return tf.tanh(tf.reduce_sum(self.w * x, axis=-1) + self.b)

    def _forward(self, x):
        return x + self.u_hat * self._tanh(x)[..., None]

    def _forward_log_det_jacobian(self, x):
        t2 = tf.square(self._tanh(x))
        return tf.math.log(tf.abs(t2 + (1.0 - t2) * self.one_plus_wu_hat))

    def _inverse(self, y):
        _no_inverse("planar")


class RadialBijector(tfb.Bijector):
    """One radial step ``f(z) = z + beta h(alpha, r) (z - z_0)``, ``r = ||z - z_0||``, ``h = 1 / (alpha + r)``.

    ``alpha = softplus(a) > 0`` and ``beta = -alpha + softplus(c) >= -alpha`` (the invertibility constraint) from the
    raw ``a`` and ``c``. With ``h' = -1 / (alpha + r)^2``,

        log |det df/dz| = (d - 1) log(1 + beta h) + log(1 + beta h + beta h' r),

    computed as ``(d - 1) [log(softplus(c) + r) - log(alpha + r)] + log(r^2 + 2 alpha r + alpha softplus(c))
    - 2 log(alpha + r)``: the same value, each logarithm of a positive sum. ``r`` has a zero gradient at ``z = z_0``.
    ``f`` has no closed-form inverse: ``inverse`` raises ``NotImplementedError`` except on the bijector's own outputs
    (TFP's cache).

    Args:
        z0: The centre, ``(..., d)``.
        alpha: The raw ``a`` of ``alpha = softplus(a)``, ``(...)``.
        beta: The raw ``c`` of ``beta = -alpha + softplus(c)``, ``(...)``.
        validate_args: Passed to ``tfb.Bijector``.
        name: The bijector's name.

    Returns:
        A bijector of event rank 1 whose batch shape is that of the parameters (``alpha``, ``beta``: the
        constrained values).

    Example:
        >>> step = RadialBijector(z0=[[0.0, 1.0]], alpha=[0.5], beta=[-0.2])
        >>> y = step.forward([[0.3, 0.2]]); log_det = step.forward_log_det_jacobian([[0.3, 0.2]], event_ndims=1)

    References:
        Rezende & Mohamed (2015), Variational inference with normalizing flows (appendix A.2). ICML.
    """

    def __init__(self, z0, alpha, beta, validate_args=False, name="radial"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self.z0 = tf.convert_to_tensor(z0, "float32", name="z0")
            self.alpha = tf.math.softplus(tf.convert_to_tensor(alpha, "float32", name="alpha"))
            self.softplus_beta = tf.math.softplus(tf.convert_to_tensor(beta, "float32", name="beta"))
            self.beta = self.softplus_beta - self.alpha
            super().__init__(forward_min_event_ndims=1, dtype=tf.float32, validate_args=validate_args,
                             parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {"z0": tfp.util.ParameterProperties(event_ndims=1),
                "alpha": tfp.util.ParameterProperties(event_ndims=0),
                "beta": tfp.util.ParameterProperties(event_ndims=0)}

    def _radius(self, x):
        squared = tf.reduce_sum(tf.square(x - self.z0), axis=-1)
        positive = squared > 0
        return tf.where(positive, tf.sqrt(tf.where(positive, squared, 1.0)), 0.0)

    def _forward(self, x):
        return x + (self.beta / (self.alpha + self._radius(x)))[..., None] * (x - self.z0)

    def _forward_log_det_jacobian(self, x):
        r = self._radius(x)
        d = tf.cast(tf.shape(self.z0)[-1], "float32")
        log_s = tf.math.log(self.alpha + r)
        return ((d - 1.0) * (tf.math.log(self.softplus_beta + r) - log_s)
                + tf.math.log(r * r + 2.0 * self.alpha * r + self.alpha * self.softplus_beta) - 2.0 * log_s)

    def _inverse(self, y):
        _no_inverse("radial")


class _AmortisedFlow(keras.layers.Layer):
    """The shared layer: a diagonal normal from ``[mu | s]`` through ``K`` steps, each from its slice of the rest of
    the input (``step_size(d)`` values, :meth:`step`). Subclasses set ``flow`` (its name) and those two."""

    flow = None

    def __init__(self, event_size, flow_steps=2, scale_activation="softplus", min_scale=1e-4, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.event_size = check_positive_int("event_size", event_size)
        self.flow_steps = check_positive_int("flow_steps", flow_steps)
        self.scale_activation = check_choice("scale_activation", scale_activation, SCALE_ACTIVATIONS)
        self.min_scale = check_number("min_scale", min_scale, minimum=0, exclusive_minimum=True)
        self.built = True  # no weights: the encoder outputs every parameter

    @classmethod
    def params_size(cls, event_size, flow_steps=2):
        """Encoder outputs per example: ``2 d`` (the base normal) plus ``flow_steps`` times :meth:`step_size`."""
        event_size = check_positive_int("event_size", event_size)
        return 2 * event_size + check_positive_int("flow_steps", flow_steps) * cls.step_size(event_size)

    def _split(self, inputs):
        d = self.event_size
        return split_parameters(inputs, d, self.params_size(d, self.flow_steps),
                                f"{type(self).__name__} with event_size={d} and flow_steps={self.flow_steps}",
                                f"{self.flow_steps} steps of {self.step_size(d)}")

    def bijector(self, flow_parameters):
        """The chained steps for the raw parameters ``(batch..., flow_steps * step_size(d))``: ``z_0 -> z_K``."""
        size = self.step_size(self.event_size)
        steps = [self.step(flow_parameters[..., k * size:(k + 1) * size], name=f"{self.flow}_{k}")
                 for k in range(self.flow_steps)]
        return tfb.Chain(steps[::-1], name=self.flow)  # Chain applies its last bijector first

    def call(self, inputs):
        loc, scale_pre, flow_parameters = self._split(inputs)
        scale = positive_scale(scale_pre, self.scale_activation, self.min_scale)
        base = tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)
        distribution = tfd.TransformedDistribution(base, self.bijector(flow_parameters),
                                                   name=f"{self.flow}_posterior")
        distribution.flow_parameters = flow_parameters
        return distribution

    def compute_output_spec(self, inputs):  # pragma: no cover - symbolic use is not supported.
        raise ValueError(f"{type(self).__name__} returns a tfp distribution and cannot be used in a functional model. "
                         "Call it on a network's outputs inside a model's methods instead.")

    def get_config(self):
        return {**super().get_config(), "event_size": self.event_size, "flow_steps": self.flow_steps,
                "scale_activation": self.scale_activation, "min_scale": self.min_scale}


@keras.saving.register_keras_serializable(package="kerasae")
class PlanarFlow(_AmortisedFlow):
    """``q(z|x)``: a diagonal normal through ``K`` planar steps whose parameters the encoder outputs per example.

    The input holds, per example, ``[mu | s | u_1 | w_1 | b_1 | ... | u_K | w_K | b_K]``: the base mean ``mu`` and
    the scale pre-activation ``s`` (``sigma = a(s) + min_scale``, ``a`` softplus or exp), then each step's raw
    ``u_k`` (``d``), ``w_k`` (``d``) and ``b_k`` (1). With ``z_0 = mu + sigma * eps``, ``eps ~ N(0, I)``, and
    ``z_k = f_k(z_{k-1})`` (:class:`PlanarBijector`: ``f_k(z) = z + u_hat_k tanh(w_k^T z + b_k)``, ``u_hat_k`` the
    constrained ``u_k``),

        log q(z_K | x) = log N(z_0; mu, diag(sigma^2)) - sum_k log |1 + u_hat_k^T tanh'(w_k^T z_{k-1} + b_k) w_k|.

    Args:
        event_size: ``d``, the size of the code, >= 1.
        flow_steps: ``K``, the number of planar steps, >= 1.
        scale_activation: ``"softplus"`` or ``"exp"`` for the base scale.
        min_scale: Floor of the base scale, > 0.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.TransformedDistribution`` with base ``tfd.Independent(tfd.Normal(mu, sigma))`` and the chained steps
        as bijector, batch shape the input's leading axes, event shape ``(d,)``; it has no closed-form mean
        (:func:`kerasae.layers.posteriors.point_code` gives the steps' image of ``mu``), its ``log_prob`` takes its
        own samples only (see the module), and its attribute ``flow_parameters`` holds the raw step parameters.

    Example:
        >>> layer = kerasae.layers.planar.PlanarFlow(8, flow_steps=10)
        >>> encoder, _ = kerasae.networks.mlp((64,), latent_dim=layer.params_size(8, 10))
        >>> q = layer(encoder(x))
        >>> z, log_q = kerasae.layers.posteriors.sample_and_log_prob(q, 1, seed=[0, 1])

    References:
        Rezende & Mohamed (2015), Variational inference with normalizing flows. ICML.
    """

    flow = "planar"

    @staticmethod
    def step_size(event_size):
        """Raw parameters of one step: ``2 d + 1`` (``u``, ``w``, ``b``)."""
        return 2 * event_size + 1

    def step(self, params, name="planar"):
        """The :class:`PlanarBijector` of one step's raw parameters ``[u | w | b]``."""
        d = self.event_size
        return PlanarBijector(params[..., :d], params[..., d:2 * d], params[..., 2 * d], name=name)


@keras.saving.register_keras_serializable(package="kerasae")
class RadialFlow(_AmortisedFlow):
    """``q(z|x)``: a diagonal normal through ``K`` radial steps whose parameters the encoder outputs per example.

    The input holds, per example, ``[mu | s | z0_1 | a_1 | c_1 | ... | z0_K | a_K | c_K]``: the base mean and scale
    pre-activation as for :class:`PlanarFlow`, then each step's centre ``z0_k`` (``d``) and the raw ``a_k`` and
    ``c_k`` of ``alpha_k = softplus(a_k)`` and ``beta_k = -alpha_k + softplus(c_k)`` (:class:`RadialBijector`:
    ``f_k(z) = z + beta_k (z - z0_k) / (alpha_k + ||z - z0_k||)``), and

        log q(z_K | x) = log N(z_0; mu, diag(sigma^2)) - sum_k log |det df_k / dz (z_{k-1})|.

    Args:
        event_size: ``d``, the size of the code, >= 1.
        flow_steps: ``K``, the number of radial steps, >= 1.
        scale_activation: ``"softplus"`` or ``"exp"`` for the base scale.
        min_scale: Floor of the base scale, > 0.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        As :class:`PlanarFlow`: a ``tfd.TransformedDistribution`` of event shape ``(d,)`` with no closed-form mean,
        whose ``log_prob`` takes its own samples only, with the raw step parameters as ``flow_parameters``.

    Example:
        >>> layer = kerasae.layers.planar.RadialFlow(8, flow_steps=10)
        >>> q = layer(encoder(x))     # an encoder of layer.params_size(8, 10) outputs
        >>> z, log_q = kerasae.layers.posteriors.sample_and_log_prob(q, 1, seed=[0, 1])

    References:
        Rezende & Mohamed (2015), Variational inference with normalizing flows. ICML.
    """

    flow = "radial"

    @staticmethod
    def step_size(event_size):
        """Raw parameters of one step: ``d + 2`` (``z0``, ``a``, ``c``)."""
        return event_size + 2

    def step(self, params, name="radial"):
        """The :class:`RadialBijector` of one step's raw parameters ``[z0 | a | c]``."""
        d = self.event_size
        return RadialBijector(params[..., :d], params[..., d], params[..., d + 1], name=name)
