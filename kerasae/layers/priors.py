"""Keras 3 layers that build a VAE's prior ``p(z)`` as a ``tfp.distributions`` object.

A prior layer holds the prior's parameters (if any) and returns the distribution when called, with event shape
``(latent_dim,)`` and an empty batch shape, so that ``log_prob(z)`` takes codes of any leading shape ``(..., d)``:

* :class:`StandardNormalPrior`: ``N(0, I)``, of the posterior's family, so that the KL has a closed form.
* :class:`MixtureOfGaussiansPrior`: ``sum_k pi_k N(mu_k, diag(sigma_k^2))`` with ``K`` learned components.
* :class:`VampPrior`: ``(1/K) sum_k q(z|u_k)``, the mixture of the model's own posteriors at ``K`` learned
  pseudo-inputs ``u_k`` (Tomczak & Welling, 2018). The layer holds the pseudo-inputs, and the model passes its
  encoder as ``encode`` (a function from a batch of inputs to ``q(z|x)``) when it calls the layer:
  ``prior_layer(encode=lambda u: model.encode(u))``. The layer never owns the encoder, so every variable has
  one owner and the model's saving and training stay as they are.

A mixture has no closed-form KL against a normal posterior: a VAE with a mixture prior estimates
``KL(q || p)`` by Monte Carlo, ``log q(z|x) - log p(z)`` at its posterior samples (the ELBO stays unbiased).
Sampling a mixture picks a component by its weight (uniformly for the VampPrior) and draws from it; that is
``tfd.MixtureSameFamily``'s own sampler, which is not reparameterised (nothing needs it to be: only the
prior's ``log_prob`` enters a loss). An exported VAE draws from its prior in the SavedModel's ``sample``
signature; TFLite files hold no random signature, whatever the prior (``encode``, ``decode`` and ``reconstruct``
do not involve it).

Like the distribution layers (:mod:`kerasae.layers.distributions`), the layers compute in float32, hold no
randomness, and are called inside a model's own methods (eager, graph or XLA mode), never inside a functional
model. :func:`get` builds the layer named by the VAE's ``prior`` argument.

Example:
    >>> prior = kerasae.layers.priors.MixtureOfGaussiansPrior(latent_dim=2, num_components=10)
    >>> p = prior()                      # tfd.MixtureSameFamily, event shape (2,)
    >>> p.log_prob(np.zeros((5, 2)))     # (5,)
"""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from kerasae.layers.distributions import _event_shape, positive_scale
from kerasae.utils.validation import check_choice, check_number, check_positive_int

tfd = tfp.distributions

#: The names the VAE's ``prior`` argument takes.
PRIORS = ("standard", "vamp", "mog")
#: Posterior families :class:`StandardNormalPrior` matches.
POSTERIOR_FAMILIES = ("diagonal", "full")


class Prior(keras.layers.Layer):
    """Base class of the prior layers: ``call(encode=None)`` returns ``p(z)``, a float32 tfp distribution.

    Attributes:
        closed_form_kl: Whether ``tfd.kl_divergence(q, p)`` is known for kerasae's posteriors (else the VAE
            estimates the KL by Monte Carlo).
        uses_encoder: Whether ``call`` needs ``encode`` (the model's ``x -> q(z|x)``).
        num_components: The mixture's ``K`` (``None`` for a single normal).
    """

    closed_form_kl = False
    uses_encoder = False
    num_components = None

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.built = True  # the weights are created in __init__: they exist before a model's first step is traced

    def call(self, encode=None):
        raise NotImplementedError

    def compute_output_spec(self, *args, **kwargs):  # pragma: no cover - symbolic use is not supported.
        raise ValueError(f"{type(self).__name__} returns a tfp distribution and cannot be used in a functional model.")

    def check_model(self, latent_dim, input_shape):
        """Raises ``ValueError`` unless the prior fits a model with codes of ``latent_dim`` whose encoder takes
        examples of ``input_shape`` (``None``: unknown, not checked)."""
        own = getattr(self, "latent_dim", None)
        if own is not None and own != latent_dim:
            raise ValueError(f"Expected a prior over {latent_dim}-dimensional codes (the model's latent_dim). "
                             f"Received: {type(self).__name__} with latent_dim={own}")


@keras.saving.register_keras_serializable(package="kerasae")
class StandardNormalPrior(Prior):
    """``p(z) = N(0, I)`` over ``latent_dim`` codes, of the posterior's family so that the KL is analytic:
    ``tfd.Independent(tfd.Normal)`` for a diagonal posterior, ``tfd.MultivariateNormalDiag`` for a full one.

    Args:
        latent_dim: Size ``d`` of the code, >= 1.
        posterior: The posterior family it is paired with, ``"diagonal"`` or ``"full"``.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    closed_form_kl = True

    def __init__(self, latent_dim, posterior="diagonal", **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.posterior = check_choice("posterior", posterior, POSTERIOR_FAMILIES)

    def call(self, encode=None):
        zeros = tf.zeros((self.latent_dim,), "float32")
        if self.posterior == "full":
            return tfd.MultivariateNormalDiag(loc=zeros, scale_diag=tf.ones_like(zeros))
        return tfd.Independent(tfd.Normal(zeros, tf.ones_like(zeros)), reinterpreted_batch_ndims=1)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "posterior": self.posterior}


@keras.saving.register_keras_serializable(package="kerasae")
class MixtureOfGaussiansPrior(Prior):
    """``p(z) = sum_k softmax(a)_k N(z; mu_k, diag(sigma_k^2))``: ``K`` learned diagonal normal components.

    The layer owns ``means`` ``(K, d)`` (initialised ``N(0, init_stddev^2)``, so that the components start apart),
    ``scale_params`` ``(K, d)`` with ``sigma = softplus(scale_params) + min_scale`` (initialised to ``sigma = 1``)
    and ``logits`` ``(K,)`` (initialised to 0: equal weights).

    Args:
        latent_dim: Size ``d`` of the code, >= 1.
        num_components: ``K``, >= 1.
        init_stddev: Spread of the initial means, > 0.
        min_scale: Floor of every ``sigma``, > 0.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.MixtureSameFamily(tfd.Categorical(logits), tfd.Independent(tfd.Normal(means, sigmas)))``.
    """

    def __init__(self, latent_dim, num_components=10, init_stddev=1.0, min_scale=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.num_components = check_positive_int("num_components", num_components)
        self.init_stddev = check_number("init_stddev", init_stddev, minimum=0, exclusive_minimum=True)
        self.min_scale = check_number("min_scale", min_scale, minimum=0, exclusive_minimum=True)
        if self.min_scale >= 1.0:
            raise ValueError(f"Expected min_scale < 1 (the initial scale). Received: min_scale={min_scale!r}")
        shape = (self.num_components, self.latent_dim)
        self.means = self.add_weight(name="means", shape=shape,
                                     initializer=keras.initializers.RandomNormal(stddev=self.init_stddev))
        inverse_softplus = math.log(math.expm1(1.0 - self.min_scale))  # softplus(u) + min_scale = 1
        self.scale_params = self.add_weight(name="scale_params", shape=shape,
                                            initializer=keras.initializers.Constant(inverse_softplus))
        self.logits = self.add_weight(name="logits", shape=(self.num_components,), initializer="zeros")

    def call(self, encode=None):
        scale = positive_scale(tf.cast(self.scale_params, "float32"), "softplus", self.min_scale)
        components = tfd.Independent(tfd.Normal(tf.cast(self.means, "float32"), scale), reinterpreted_batch_ndims=1)
        return tfd.MixtureSameFamily(tfd.Categorical(logits=tf.cast(self.logits, "float32")), components)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "num_components": self.num_components,
                "init_stddev": self.init_stddev, "min_scale": self.min_scale}


@keras.saving.register_keras_serializable(package="kerasae")
class VampPrior(Prior):
    """The variational mixture of posteriors ``p(z) = (1/K) sum_k q(z | u_k)`` (Tomczak & Welling, 2018).

    The ``K`` pseudo-inputs ``u_k`` are learned examples of ``input_shape``; the layer owns them as the weight
    ``pseudo_inputs`` ``(K, *input_shape)``, initialised ``N(init_mean, init_stddev^2)`` (the paper's 0.05 and
    0.01 for images in [0, 1]) or set from training examples with :meth:`assign_pseudo_inputs` (the paper's
    alternative). They are clipped to ``value_range`` when used (the paper's and pythae's ``Hardtanh(0, 1)``:
    the gradient of a clipped value is zero), so they stay valid inputs of an encoder trained on [0, 1] data.
    Called with ``encode`` (the model's ``x -> q(z|x)``), the layer runs the encoder on the pseudo-inputs and
    returns the uniform mixture of the ``K`` posteriors, of the posterior's own family (diagonal or full).

    Args:
        input_shape: Shape of one example (the encoder's input), e.g. ``(784,)`` or ``(28, 28, 1)``.
        num_components: ``K``, the number of pseudo-inputs, >= 1 (the paper's 500 for MNIST).
        init_mean, init_stddev: The initial pseudo-inputs' normal distribution (``init_stddev`` > 0).
        value_range: ``(low, high)`` the pseudo-inputs are clipped to, or ``None`` for none.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.MixtureSameFamily(tfd.Categorical(zeros(K)), q(z | u_1..K))``, event shape ``(latent_dim,)``.

    References:
        Tomczak & Welling (2018), VAE with a VampPrior. AISTATS.
    """

    uses_encoder = True

    def __init__(self, input_shape, num_components=500, init_mean=0.05, init_stddev=0.01, value_range=(0.0, 1.0),
                 **kwargs):
        super().__init__(**kwargs)
        self.example_shape = _event_shape(input_shape, "input_shape")
        self.num_components = check_positive_int("num_components", num_components)
        self.init_mean = check_number("init_mean", init_mean)
        self.init_stddev = check_number("init_stddev", init_stddev, minimum=0, exclusive_minimum=True)
        self.value_range = _value_range(value_range)
        initializer = keras.initializers.RandomNormal(mean=self.init_mean, stddev=self.init_stddev)
        self.pseudo_inputs_weight = self.add_weight(
            name="pseudo_inputs", shape=(self.num_components, *self.example_shape), initializer=initializer)

    def pseudo_inputs(self):
        """The pseudo-inputs as the encoder sees them, ``(K, *input_shape)`` float32 (clipped to ``value_range``)."""
        u = tf.cast(self.pseudo_inputs_weight, "float32")
        return u if self.value_range is None else tf.clip_by_value(u, *self.value_range)

    def assign_pseudo_inputs(self, x):
        """Sets the pseudo-inputs to ``x``, ``(K, *input_shape)`` finite values (e.g. ``K`` training examples,
        the paper's data initialisation)."""
        x = np.asarray(x, "float32")
        if x.shape != tuple(self.pseudo_inputs_weight.shape) or not np.isfinite(x).all():
            raise ValueError(f"Expected {self.num_components} finite pseudo-inputs of shape {self.example_shape}, "
                             f"an array {tuple(self.pseudo_inputs_weight.shape)}. Received: an array of shape {x.shape}")
        self.pseudo_inputs_weight.assign(x)

    def call(self, encode=None):
        if encode is None:
            raise ValueError("VampPrior mixes the model's posteriors of its pseudo-inputs: call it with "
                             "encode=<a function from inputs to q(z|x)>, e.g. prior(encode=model.encode).")
        components = encode(self.pseudo_inputs())
        logits = tf.zeros((self.num_components,), "float32")
        return tfd.MixtureSameFamily(tfd.Categorical(logits=logits), components)

    def check_model(self, latent_dim, input_shape):
        if input_shape is not None and tuple(input_shape) != self.example_shape:
            raise ValueError(
                f"The VampPrior passes its pseudo-inputs, examples of shape {self.example_shape}, through the model's "
                f"encoder, which takes inputs of shape {tuple(input_shape)} (a conditional VAE's encoder also sees "
                "the condition, which pseudo-inputs lack). Fix: prior='mog' or 'standard', or a VampPrior of the "
                "encoder's input shape.")

    def get_config(self):
        value_range = None if self.value_range is None else list(self.value_range)
        return {**super().get_config(), "input_shape": list(self.example_shape), "num_components": self.num_components,
                "init_mean": self.init_mean, "init_stddev": self.init_stddev, "value_range": value_range}


def _value_range(value):
    """``value_range`` as ``(low, high)`` floats with ``low < high``, or None."""
    if value is None:
        return None
    try:
        low, high = (check_number("value_range", v) for v in value)
    except (TypeError, ValueError):
        low = high = None
    if low is None or not low < high:
        raise ValueError(f"Expected value_range to be None or a pair (low, high) of finite numbers with low < high. "
                         f"Received: value_range={value!r}")
    return (low, high)


def get(prior, latent_dim, input_shape=None, posterior="diagonal", num_components=None):
    """The prior layer for a VAE's ``prior`` argument (the model then checks it, :meth:`Prior.check_model`).

    Args:
        prior: ``"standard"``, ``"vamp"``, ``"mog"``, a :class:`Prior` layer, or its serialized config.
        latent_dim: The model's code size.
        input_shape: The shape of one example (the VampPrior's pseudo-inputs).
        posterior: The posterior family (``"diagonal"`` or ``"full"``), which the standard normal matches.
        num_components: ``K`` of ``"vamp"`` (default 500) or ``"mog"`` (default 10); ``None`` otherwise.

    Returns:
        A :class:`Prior` layer named ``"prior"`` (a layer given is returned as it is).
    """
    if isinstance(prior, dict):
        prior = keras.saving.deserialize_keras_object(prior)
    named = prior if isinstance(prior, Prior) else check_choice(
        "prior", prior, PRIORS, hint="or a kerasae.layers.priors.Prior layer")
    if num_components is not None and named not in ("vamp", "mog"):
        raise ValueError(f"num_components sets the K of prior='vamp' or 'mog' (a prior layer has its own). Received: "
                         f"num_components={num_components!r} with prior={getattr(named, 'name', named)!r}")
    if isinstance(prior, Prior):
        return prior
    if prior == "standard":
        return StandardNormalPrior(latent_dim, posterior=posterior, name="prior")
    extra = {} if num_components is None else {"num_components": num_components}
    if prior == "mog":
        return MixtureOfGaussiansPrior(latent_dim, name="prior", **extra)
    return VampPrior(input_shape, name="prior", **extra)
