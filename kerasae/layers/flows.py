"""Normalizing-flow posteriors: the inverse autoregressive flow (IAF) as a Keras 3 distribution layer.

:class:`InverseAutoregressiveFlow` reads an encoder's outputs ``[mu | u | h]`` (the base normal's mean, its scale
pre-activation and a context vector) and returns ``q(z|x)``, a ``tfp.distributions.TransformedDistribution``: the
diagonal normal ``N(mu, diag(sigma^2))`` pushed through ``T`` IAF steps (Kingma et al., 2016), each a
``tfb.Invert(tfb.MaskedAutoregressiveFlow(...))`` whose autoregressive network is a :class:`MADE` (Germain et
al., 2015) of the code and the context, with a ``tfb.Permute`` reversing the order between steps. Sampling is
one pass through the steps and reparameterised; ``log_prob`` of any code is exact (the inverse of a step solves
the autoregression, ``d`` passes of its network); the log-density of the layer's own samples needs no inverse
(:func:`kerasae.layers.posteriors.sample_and_log_prob`: the change of variables at the base draw).

:class:`MADE` is written here with Keras 3 weights and fixed masks (``tfb.AutoregressiveNetwork`` is a Keras 2
layer). Like the other distribution layers (:mod:`kerasae.layers.distributions`), the layers compute in float32,
hold no randomness, are called inside a model's own methods (eager, graph or XLA mode) and never inside a
functional model.

Example:
    >>> layer = kerasae.layers.flows.InverseAutoregressiveFlow(4, flow_steps=2)
    >>> q = layer(keras.ops.zeros((3, layer.params_size(4))))   # TransformedDistribution, event shape (4,)
    >>> z = q.sample(seed=[0, 1]); q.log_prob(z).shape
    TensorShape([3])

References:
    Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling (2016), Improved variational inference with inverse
    autoregressive flow. NeurIPS.
    Germain, Gregor, Murray & Larochelle (2015), MADE: masked autoencoder for distribution estimation. ICML.
    Rezende & Mohamed (2015), Variational inference with normalizing flows. ICML.
"""

import functools

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from kerasae.layers.distributions import SCALE_ACTIVATIONS, positive_scale
from kerasae.utils.validation import check_choice, check_int, check_number, check_positive_int, is_int

tfd = tfp.distributions
tfb = tfp.bijectors

#: Initial bias of every IAF step's gate ``s``: ``sigma = sigmoid(1) ~ 0.73`` keeps each step near the identity at
#: first (Kingma et al. initialise the gate to +1 or +2).
GATE_BIAS = 1.0


def check_hidden_units(name, value):
    """``value`` as a non-empty tuple of positive ints; raises ``ValueError`` otherwise."""
    try:
        units = tuple(value)
    except TypeError:
        units = ()
    if not units or not all(is_int(u) and u >= 1 for u in units):
        raise ValueError(f"Expected {name} to be a non-empty sequence of positive integers. Received: {name}={value!r}")
    return tuple(int(u) for u in units)


def default_hidden_units(event_size):
    """The MADE widths when none are given: two hidden layers of ``4 * event_size`` units."""
    return (4 * event_size, 4 * event_size)


def made_masks(event_size, hidden_units, params=1):
    """The MADE masks (Germain et al., 2015), one ``(inputs, outputs)`` float32 array per layer.

    Inputs have degrees ``1..d`` (their order), hidden units degrees in ``[1, d - 1]`` assigned in turn, and
    outputs ``params`` copies of ``1..d``: a hidden unit sees the inputs of degree ``<=`` its own, and output ``i``
    the hidden units of degree ``< i``, so that it depends on ``z_1..z_{i-1}`` only.
    """
    d = event_size
    degrees = [np.arange(1, d + 1)]
    for width in hidden_units:
        degrees.append(np.arange(width) % max(1, d - 1) + min(1, d - 1))
    masks = [degrees[i + 1][None, :] >= degrees[i][:, None] for i in range(len(hidden_units))]
    masks.append(np.tile(degrees[0][None, :] > degrees[-1][:, None], (1, params)))
    return [m.astype("float32") for m in masks]


def split_parameters(inputs, event_size, size, owner, rest):
    """A flow posterior's encoder outputs ``[mean | scale | rest]`` (last axis, ``size`` values) as three float32
    tensors; raises ``ValueError`` naming ``owner`` and the ``rest`` for another width."""
    params = tf.cast(inputs, "float32")
    if params.shape[-1] != size:
        raise ValueError(
            f"{owner} expects {size} parameters per example on the last axis ([mean | scale | {rest}]). Received "
            f"inputs of shape {tuple(params.shape)}.")
    d = event_size
    return params[..., :d], params[..., d:2 * d], params[..., 2 * d:]


@keras.saving.register_keras_serializable(package="kerasae")
class MADE(keras.layers.Layer):
    """Masked autoencoder for distribution estimation: an MLP from ``z`` (and a context ``h``) to ``params``
    autoregressive outputs per element of ``z``.

        a_1 = act((W_1 * M_1) z + C h + b_1),  a_l = act((W_l * M_l) a_{l-1} + b_l),
        [o^(1) | ... | o^(params)] = (W_L * M_L) a_{L-1} + b_L

    with the masks ``M_l`` of :func:`made_masks`, so that ``o^(k)_i`` depends on ``z_1..z_{i-1}`` and ``h`` only
    (``d o_i / d z_j = 0`` for ``j >= i``). The context enters the first hidden layer unmasked.

    Args:
        event_size: ``d``, the size of ``z``, >= 1.
        hidden_units: Widths of the hidden layers, a non-empty sequence of positive ints (widths >= ``d - 1`` let
            every output see all the inputs before it).
        context_size: Size of the context ``h``, >= 0 (0: no context).
        params: Outputs per element, >= 1.
        activation: Hidden activation (a Keras activation name), default ``"elu"`` (Kingma et al.'s).
        **kwargs: Passed to ``keras.layers.Layer``. The dtype is float32 unless given.

    Returns:
        Called as ``made(z, context=None)`` on ``z`` of shape ``(..., d)`` (and ``h`` of shape broadcastable to
        ``(..., context_size)``): a tuple of ``params`` tensors of shape ``(..., d)``.

    Example:
        >>> made = kerasae.layers.flows.MADE(4, hidden_units=(16, 16), context_size=4, params=2)
        >>> shift, gate = made(tf.zeros((3, 4)), tf.zeros((3, 4)))

    References:
        Germain, Gregor, Murray & Larochelle (2015), MADE: masked autoencoder for distribution estimation. ICML.
    """

    def __init__(self, event_size, hidden_units=(32, 32), context_size=0, params=1, activation="elu", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.event_size = check_positive_int("event_size", event_size)
        self.hidden_units = check_hidden_units("hidden_units", hidden_units)
        self.context_size = check_int("context_size", context_size, minimum=0)
        self.params = check_positive_int("params", params)
        try:
            self._activation = keras.activations.get(activation)
        except (ValueError, TypeError):
            self._activation = None
        if not isinstance(activation, str) or self._activation is None:
            raise ValueError(f"Expected activation to be a Keras activation name. Received: activation={activation!r}")
        self.activation = activation
        self.masks = made_masks(self.event_size, self.hidden_units, self.params)
        sizes = (self.event_size, *self.hidden_units, self.params * self.event_size)
        self.kernels, self.biases = [], []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.kernels.append(self.add_weight(name=f"kernel_{i}", shape=(n_in, n_out), initializer="glorot_uniform"))
            self.biases.append(self.add_weight(name=f"bias_{i}", shape=(n_out,), initializer="zeros"))
        self.context_kernel = None
        if self.context_size:
            self.context_kernel = self.add_weight(name="context_kernel", shape=(self.context_size, sizes[1]),
                                                  initializer="glorot_uniform")
        self.built = True  # the weights exist before a model's first step is traced

    def call(self, inputs, context=None):
        z = tf.cast(inputs, "float32")
        lead = tf.shape(z)[:-1]
        h = tf.reshape(z, (-1, self.event_size))
        last = len(self.kernels) - 1
        for i, (kernel, bias, mask) in enumerate(zip(self.kernels, self.biases, self.masks)):
            h = tf.matmul(h, tf.cast(kernel, "float32") * mask) + tf.cast(bias, "float32")
            if i == 0 and self.context_kernel is not None:
                if context is None:
                    raise ValueError(f"This MADE takes a context of size {self.context_size}: call it as "
                                     "made(z, context).")
                width = tf.shape(h)[-1:]
                projected = tf.matmul(tf.cast(context, "float32"), tf.cast(self.context_kernel, "float32"))
                projected = tf.broadcast_to(projected, tf.concat([lead, width], axis=0))
                h = h + tf.reshape(projected, tf.shape(h))
            if i < last:
                h = self._activation(h)
        out = tf.reshape(h, tf.concat([lead, [self.params * self.event_size]], axis=0))
        return tuple(tf.split(out, self.params, axis=-1))

    def compute_output_spec(self, *args, **kwargs):  # pragma: no cover - used inside bijectors only
        raise ValueError("MADE is called inside a flow's bijector on tensors, not in a functional model.")

    def get_config(self):
        return {**super().get_config(), "event_size": self.event_size, "hidden_units": list(self.hidden_units),
                "context_size": self.context_size, "params": self.params, "activation": self.activation}


@keras.saving.register_keras_serializable(package="kerasae")
class InverseAutoregressiveFlow(keras.layers.Layer):
    """``q(z|x)``: a diagonal normal through ``T`` inverse autoregressive flow steps (Kingma et al., 2016).

    The input holds, per example, ``[mu | u | h]``: the base mean ``mu`` (``d``), the scale pre-activation ``u``
    (``d``, ``sigma = a(u) + min_scale`` with ``a`` softplus or exp) and the context ``h`` (``context_size``). With
    ``z_0 = mu + sigma * eps``, ``eps ~ N(0, I)``, each step ``t`` computes, from its :class:`MADE` ``[m_t | s_t] =
    MADE_t(z_{t-1}, h)``, the gated (LSTM-type, numerically stable) update

        g_t = sigmoid(s_t),  z_t = g_t * z_{t-1} + (1 - g_t) * m_t,

    and the elements are reversed between steps. The Jacobian of each step is triangular, so

        log q(z_T | x) = sum_i log N(eps_i; 0, 1) - sum_i log sigma_i - sum_t sum_i log g_{t,i}.

    Each step is ``tfb.Invert(tfb.MaskedAutoregressiveFlow(bijector_fn=...))``: the MAF's ``bijector_fn`` form of
    ``shift_and_log_scale_fn``, whose bijector is the gate above with ``log g = log_sigmoid(s)`` (no
    ``exp(-s)`` that the shift-and-log-scale form would need). The gate's bias starts at :data:`GATE_BIAS`.

    Args:
        event_size: ``d``, the size of the code, >= 1.
        flow_steps: ``T``, the number of IAF steps, >= 1.
        hidden_units: Widths of each step's MADE, a non-empty sequence of positive ints; ``None``:
            :func:`default_hidden_units` (two layers of ``4 d``).
        context_size: Size of the context ``h``, >= 0; ``None``: ``d``.
        activation: The MADEs' hidden activation, default ``"elu"``.
        scale_activation: ``"softplus"`` or ``"exp"`` for the base scale.
        min_scale: Floor of the base scale, > 0.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.TransformedDistribution`` with base ``tfd.Independent(tfd.Normal(mu, sigma))`` and the chained steps
        as bijector, batch shape the input's leading axes, event shape ``(d,)``; it has no closed-form mean
        (:func:`kerasae.layers.posteriors.point_code` gives the steps' image of ``mu``), and its attribute
        ``flow_context`` holds ``h``.

    Example:
        >>> layer = kerasae.layers.flows.InverseAutoregressiveFlow(8, flow_steps=2)
        >>> encoder, _ = kerasae.networks.mlp((64,), latent_dim=layer.params_size(8))
        >>> q = layer(encoder(x))
        >>> z = q.sample(seed=[0, 1]); log_q = q.log_prob(z)

    References:
        Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling (2016), Improved variational inference with
        inverse autoregressive flow. NeurIPS.
        Germain, Gregor, Murray & Larochelle (2015), MADE: masked autoencoder for distribution estimation. ICML.
        Rezende & Mohamed (2015), Variational inference with normalizing flows. ICML.
    """

    def __init__(self, event_size, flow_steps=2, hidden_units=None, context_size=None, activation="elu",
                 scale_activation="softplus", min_scale=1e-4, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.event_size = check_positive_int("event_size", event_size)
        self.flow_steps = check_positive_int("flow_steps", flow_steps)
        self.hidden_units = (default_hidden_units(self.event_size) if hidden_units is None
                             else check_hidden_units("hidden_units", hidden_units))
        self.context_size = self.event_size if context_size is None else check_int("context_size", context_size,
                                                                                   minimum=0)
        self.activation = activation
        self.scale_activation = check_choice("scale_activation", scale_activation, SCALE_ACTIVATIONS)
        self.min_scale = check_number("min_scale", min_scale, minimum=0, exclusive_minimum=True)
        self.networks = [MADE(self.event_size, self.hidden_units, self.context_size, params=2, activation=activation,
                              name=f"made_{t}") for t in range(self.flow_steps)]
        for made in self.networks:  # the gate's half of the output bias: sigmoid(GATE_BIAS)
            made.biases[-1].assign(np.r_[np.zeros(self.event_size), np.full(self.event_size, GATE_BIAS)])
        self.built = True

    @classmethod
    def params_size(cls, event_size, context_size=None):
        """Encoder outputs per example: ``2 d + context_size`` (``3 d`` with the default context)."""
        event_size = check_positive_int("event_size", event_size)
        context = event_size if context_size is None else check_int("context_size", context_size, minimum=0)
        return 2 * event_size + context

    def _split(self, inputs):
        return split_parameters(inputs, self.event_size, self.params_size(self.event_size, self.context_size),
                                f"InverseAutoregressiveFlow with event_size={self.event_size} and context_size="
                                f"{self.context_size}", "context")

    @staticmethod
    def _gate(made, context, y):
        """The bijector of one step at ``y`` (the MAF's ``bijector_fn``): its inverse is ``g y + (1 - g) m``."""
        shift, gate = made(y, context)
        step = tfb.Chain([tfb.Shift((1.0 - tf.sigmoid(gate)) * shift), tfb.Scale(log_scale=tf.math.log_sigmoid(gate))])
        return tfb.Invert(step)

    def bijector(self, context):
        """The chained steps for the context ``h`` (``(batch..., context_size)``): ``z_0 -> z_T``."""
        order = np.arange(self.event_size - 1, -1, -1, dtype="int32")
        steps = []
        for t, made in enumerate(self.networks):
            if t:
                steps.append(tfb.Permute(permutation=order, name=f"reverse_{t}"))
            maf = tfb.MaskedAutoregressiveFlow(bijector_fn=functools.partial(self._gate, made, context),
                                               name=f"maf_{t}")
            steps.append(tfb.Invert(maf, name=f"iaf_{t}"))
        return tfb.Chain(steps[::-1], name="iaf")  # Chain applies its last bijector first

    def call(self, inputs):
        loc, scale_pre, context = self._split(inputs)
        scale = positive_scale(scale_pre, self.scale_activation, self.min_scale)
        base = tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)
        distribution = tfd.TransformedDistribution(base, self.bijector(context), name="iaf_posterior")
        distribution.flow_context = context
        return distribution

    def compute_output_spec(self, inputs):  # pragma: no cover - symbolic use is not supported.
        raise ValueError("InverseAutoregressiveFlow returns a tfp distribution and cannot be used in a functional "
                         "model. Call it on a network's outputs inside a model's methods instead.")

    def get_config(self):
        return {**super().get_config(), "event_size": self.event_size, "flow_steps": self.flow_steps,
                "hidden_units": list(self.hidden_units), "context_size": self.context_size,
                "activation": self.activation, "scale_activation": self.scale_activation, "min_scale": self.min_scale}
