"""Keras 3 layers that map network outputs to ``tfp.distributions`` objects.

Each layer takes a batch of parameters (the linear outputs of an encoder or decoder) and returns a
``tfp.distributions.Distribution`` whose *batch* shape is the leading axes of its input and whose *event*
shape is one example, so that ``log_prob(x)`` gives one value per example (``tfd.Independent`` over every
feature axis: an image likelihood over ``(H, W, C)`` is a single event).

Parameter layout. A layer with ``k`` parameters per event element (2 for a normal's mean and scale)
reads its input as ``(batch..., *event_shape[:-1], k * event_shape[-1])`` (or anything with the same
number of values per example, which is reshaped to that) and splits the last axis into ``k`` equal
chunks: ``[means | scales]``. This is what :func:`kerasae.networks.mlp` and :func:`kerasae.networks.conv`
produce with ``decoder_outputs=k``, and what an encoder with ``latent_dim=params_size(event_shape)``
produces for a flat event. ``params_size(event_shape)`` gives the number of values per example.

The layers compute in float32 whatever the global dtype policy (inputs are cast), hold no randomness
(sampling takes a ``seed``), and are meant to be called on the outputs of networks inside a model's own
methods (for example :class:`kerasae.vae.VAE`), in eager, graph or XLA mode; do not put them inside a
functional model, whose outputs must be tensors.

Example:
    >>> layer = kerasae.distributions.IndependentNormal(event_shape=4)
    >>> q = layer(keras.ops.zeros((2, kerasae.distributions.IndependentNormal.params_size(4))))
    >>> q.batch_shape, q.event_shape
    (TensorShape([2]), TensorShape([4]))
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from kerasae.utils.validation import check_choice, check_int, check_number, check_positive_int, is_int

tfd = tfp.distributions

#: Activations that map an unconstrained pre-activation to a positive scale.
SCALE_ACTIVATIONS = ("softplus", "exp")


def _event_shape(value, name="event_shape"):
    """Normalises an int or a sequence of ints (numpy integers too) to a tuple of positive ints."""
    shape = (value,) if is_int(value) else value
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if not shape or any(not is_int(d) or d < 1 for d in shape):
        raise ValueError(
            f"Expected {name} to be a positive integer or a non-empty tuple of positive integers. "
            f"Received: {name}={value!r}"
        )
    return tuple(int(d) for d in shape)


def positive_scale(pre_activation, activation="softplus", min_scale=1e-4):
    """Maps an unconstrained tensor to a scale ``> min_scale``: ``softplus(u) + floor`` or ``exp(u) + floor``."""
    if activation == "exp":
        return tf.exp(pre_activation) + min_scale
    return tf.nn.softplus(pre_activation) + min_scale


class DistributionLayer(keras.layers.Layer):
    """Base class: reshapes parameters to ``(batch..., *event_shape[:-1], k * event_shape[-1])`` in float32.

    Subclasses set ``params_per_element`` (``k``) and implement :meth:`make_distribution`.

    Args:
        event_shape: Shape of one event (an int for a vector).
        **kwargs: Passed to ``keras.layers.Layer`` (``name``, ...). The dtype is float32 unless given.
    """

    #: Number of parameters per event element.
    params_per_element = 1

    def __init__(self, event_shape, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.event_shape = _event_shape(event_shape)
        # Built from the start: the layers hold no variables, or (LearnedScaleNormal) create them here, so that
        # a model's variables all exist before its first step is traced.
        self.built = True

    @property
    def event_size(self):
        """Number of elements of one event, ``prod(event_shape)``."""
        return math.prod(self.event_shape)

    @classmethod
    def params_size(cls, event_shape):
        """Number of parameter values per example for an event of ``event_shape`` (int or tuple)."""
        return cls.params_per_element * math.prod(_event_shape(event_shape))

    def _params(self, inputs):
        """Casts to float32 and reshapes to ``(batch..., *event_shape[:-1], k * event_shape[-1])``."""
        inputs = tf.cast(inputs, "float32")
        k = self.params_per_element
        target = self.event_shape[:-1] + (k * self.event_shape[-1],)
        size = math.prod(target)
        if tuple(inputs.shape[-len(target):]) == target:
            return inputs
        # Per-example parameters arrive flat (or in another layout): find the batch axes and reshape.
        static = inputs.shape
        batch_rank = None
        for rank in range(len(static) + 1):
            tail = static[rank:]
            if all(d is not None for d in tail) and math.prod(tail) == size:
                batch_rank = rank
                break
        if batch_rank is None:
            raise ValueError(
                f"{type(self).__name__} with event_shape={self.event_shape} expects {size} parameters per "
                f"example (params_size), laid out as {target}. Received inputs of shape {tuple(static)}. "
                f"Fix: build the network with {size} outputs (or decoder_outputs={k})."
            )
        batch = tf.shape(inputs)[:batch_rank]
        return tf.reshape(inputs, tf.concat([batch, tf.constant(target, dtype=batch.dtype)], axis=0))

    def _split(self, params):
        return tf.split(params, self.params_per_element, axis=-1) if self.params_per_element > 1 else [params]

    def _independent(self, distribution, ndims=None):
        ndims = len(self.event_shape) if ndims is None else ndims
        if ndims == 0:
            return distribution
        return tfd.Independent(distribution, reinterpreted_batch_ndims=ndims)

    def call(self, inputs):
        return self.make_distribution(*self._split(self._params(inputs)))

    def make_distribution(self, *params):
        raise NotImplementedError

    def compute_output_spec(self, inputs):  # pragma: no cover - symbolic use is not supported.
        raise ValueError(
            f"{type(self).__name__} returns a tfp distribution and cannot be used in a functional model. "
            "Call it on a network's outputs inside a model's methods instead."
        )

    def get_config(self):
        config = super().get_config()
        config.update({"event_shape": list(self.event_shape)})
        return config


@keras.saving.register_keras_serializable(package="kerasae")
class IndependentNormal(DistributionLayer):
    """Diagonal normal ``N(mu, diag(sigma^2))`` over ``event_shape`` from ``[mu | u]`` with ``sigma = a(u) + floor``.

    ``a`` is softplus (default) or exp. A univariate normal is ``event_shape=1``.

    Args:
        event_shape: Shape of one event (an int for a vector, e.g. the latent size).
        scale_activation: ``"softplus"`` or ``"exp"``.
        min_scale: Floor added to the scale, ``> 0`` (keeps the density bounded).
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.Independent(tfd.Normal(mu, sigma))`` with event shape ``event_shape``.

    Example:
        >>> layer = kerasae.distributions.IndependentNormal(8)
        >>> encoder, _ = kerasae.networks.mlp((64,), latent_dim=layer.params_size(8))
        >>> q = layer(encoder(x))
        >>> z = q.sample(seed=[0, 1])
    """

    params_per_element = 2

    def __init__(self, event_shape, scale_activation="softplus", min_scale=1e-4, **kwargs):
        super().__init__(event_shape, **kwargs)
        self.scale_activation = check_choice("scale_activation", scale_activation, SCALE_ACTIVATIONS)
        self.min_scale = check_number("min_scale", min_scale, minimum=0, exclusive_minimum=True)

    def make_distribution(self, loc, scale_pre):
        scale = positive_scale(scale_pre, self.scale_activation, self.min_scale)
        return self._independent(tfd.Normal(loc=loc, scale=scale))

    def get_config(self):
        config = super().get_config()
        config.update({"scale_activation": self.scale_activation, "min_scale": self.min_scale})
        return config


@keras.saving.register_keras_serializable(package="kerasae")
class MultivariateNormalTriL(DistributionLayer):
    """Full-covariance normal ``N(mu, L L^T)`` with ``L`` lower triangular with a positive diagonal.

    The input holds ``d`` means followed by the ``d (d + 1) / 2`` entries of ``L``, filled row by row as
    ``tfp.math.fill_triangular`` does (what ``tfp.bijectors.FillScaleTriL`` computes); the diagonal goes
    through ``a(u) + floor`` (softplus or exp).

    Args:
        event_size: Dimension ``d`` of the event (an int).
        scale_activation: ``"softplus"`` or ``"exp"`` for the diagonal of ``L``.
        min_scale: Floor added to the diagonal of ``L``, ``> 0``.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.MultivariateNormalTriL`` with event shape ``(d,)``.

    Example:
        >>> layer = kerasae.distributions.MultivariateNormalTriL(2)
        >>> layer.params_size(2)
        5
    """

    def __init__(self, event_size, scale_activation="softplus", min_scale=1e-4, **kwargs):
        event_size = check_positive_int("event_size", event_size)
        super().__init__(event_size, **kwargs)
        self.event_size_ = event_size
        self.scale_activation = check_choice("scale_activation", scale_activation, SCALE_ACTIVATIONS)
        self.min_scale = check_number("min_scale", min_scale, minimum=0, exclusive_minimum=True)

    @classmethod
    def params_size(cls, event_size):
        event_size = check_positive_int("event_size", event_size)
        return event_size + event_size * (event_size + 1) // 2

    def _params(self, inputs):
        inputs = tf.cast(inputs, "float32")
        size = self.params_size(self.event_size_)
        if inputs.shape[-1] != size:
            raise ValueError(
                f"MultivariateNormalTriL with event_size={self.event_size_} expects {size} parameters per "
                f"example on the last axis (d means + d(d+1)/2 scale entries). Received inputs of shape "
                f"{tuple(inputs.shape)}."
            )
        return inputs

    def call(self, inputs):
        params = self._params(inputs)
        d = self.event_size_
        return tfd.MultivariateNormalTriL(loc=params[..., :d], scale_tril=self.scale_tril(params[..., d:]))

    def scale_tril(self, entries):
        """The ``(..., d, d)`` lower-triangular ``L`` from its ``d (d + 1) / 2`` entries.

        Same as ``tfb.FillScaleTriL(diag_bijector=Shift(min_scale)(a))``, written with a constant mask
        instead of ``set_diag`` so that its gradient also compiles with XLA for a dynamic batch size.
        """
        tril = tfp.math.fill_triangular(entries)
        eye = tf.eye(self.event_size_, dtype=tril.dtype)
        diagonal = tf.reduce_sum(tril * eye, axis=-1, keepdims=True)
        positive = positive_scale(diagonal, self.scale_activation, self.min_scale)
        return tril * (1.0 - eye) + positive * eye

    def get_config(self):
        config = super().get_config()
        del config["event_shape"]
        config.update(
            {"event_size": self.event_size_, "scale_activation": self.scale_activation, "min_scale": self.min_scale}
        )
        return config


class LogitBernoulli(tfd.Bernoulli):
    """``tfd.Bernoulli`` whose ``log_prob`` on logits ``s`` is ``x * s - softplus(s)``.

    The same value as TFP's ``x log p + (1 - x) log(1 - p)`` for finite logits and any ``x`` in [0, 1], and
    the same gradient ``x - sigmoid(s)``, in three element-wise ops where TFP's takes nine (two softplus, two
    ``multiply_no_nan``...) and their gradients: the VAE's reconstruction term runs it on every pixel of
    every training batch. Everything else (sampling, mean, KL, entropy) is TFP's.
    """

    def _log_prob(self, event):
        if self.logits is None:  # built from probabilities: TFP's own form
            return super()._log_prob(event)
        logits = tf.convert_to_tensor(self.logits)
        return tf.cast(event, logits.dtype) * logits - tf.math.softplus(logits)


@keras.saving.register_keras_serializable(package="kerasae")
class IndependentBernoulli(DistributionLayer):
    """Independent Bernoulli variables over ``event_shape`` from logits, ``p = sigmoid(logits)``.

    ``log_prob(x)`` accepts any ``x`` in [0, 1] (the continuous relaxation ``x log p + (1 - x) log(1 - p)``,
    i.e. minus the binary cross-entropy), one value per example. Samples and ``mean()`` are float32.

    Args:
        event_shape: Shape of one event, e.g. ``(784,)`` or ``(28, 28, 1)``.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.Independent(tfd.Bernoulli(logits))`` with event shape ``event_shape``.
    """

    def make_distribution(self, logits):
        return self._independent(LogitBernoulli(logits=logits, dtype="float32"))


@keras.saving.register_keras_serializable(package="kerasae")
class Categorical(DistributionLayer):
    """Independent categorical variables over ``event_shape``, each over ``num_classes`` values, from logits.

    With ``event_shape=None`` (the default) there is a single variable and the input is
    ``(batch..., num_classes)`` logits. Otherwise the input holds
    ``num_classes`` chunks on its last axis (``[logits of class 0 | class 1 | ...]``), each of
    ``event_shape[-1]`` values; ``probs = softmax`` over the classes. Values are class indices (float32, so
    that they can be compared with data); ``log_prob`` takes indices of shape ``(batch..., *event_shape)``.

    Args:
        num_classes: Number of values each variable takes, >= 2.
        event_shape: Shape of one event (the variables), e.g. ``(28, 28, 1)`` for a per-pixel categorical;
            ``None`` for a single variable.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.Independent(tfd.Categorical(logits))`` with event shape ``event_shape``.
    """

    def __init__(self, num_classes, event_shape=None, **kwargs):
        super().__init__(1 if event_shape is None else event_shape, **kwargs)
        num_classes = check_int("num_classes", num_classes, minimum=2)
        self.num_classes = num_classes
        self.params_per_element = num_classes
        if event_shape is None:
            self.event_shape = ()

    @classmethod
    def params_size(cls, event_shape=None, num_classes=None):
        if num_classes is None:
            raise ValueError("Categorical.params_size needs num_classes: params_size(event_shape, num_classes).")
        return num_classes * (1 if event_shape is None else math.prod(_event_shape(event_shape)))

    def class_logits(self, inputs):
        """The logits as ``(batch..., *event_shape, num_classes)``."""
        if not self.event_shape:  # a single variable: (batch..., num_classes)
            inputs = tf.cast(inputs, "float32")
            if inputs.shape[-1] != self.num_classes:
                raise ValueError(
                    f"{type(self).__name__} expects {self.num_classes} logits on the last axis. "
                    f"Received inputs of shape {tuple(inputs.shape)}."
                )
            return inputs
        params = self._params(inputs)
        return tf.stack(self._split(params), axis=-1)

    def call(self, inputs):
        return self._independent(self._base(logits=self.class_logits(inputs)))

    def _base(self, logits):
        return tfd.Categorical(logits=logits, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "event_shape": list(self.event_shape) or None})
        return config


@keras.saving.register_keras_serializable(package="kerasae")
class OneHotCategorical(Categorical):
    """Like :class:`Categorical`, but values are one-hot vectors: event shape ``(*event_shape, num_classes)``.

    Args:
        num_classes: Number of classes, >= 2.
        event_shape: Shape of the variables; ``None`` (default) for a single one-hot vector.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.Independent(tfd.OneHotCategorical(logits))``.

    Example:
        >>> layer = kerasae.distributions.OneHotCategorical(10)
        >>> p = layer(logits)  # (batch, 10) logits
        >>> p.log_prob(keras.ops.one_hot(labels, 10))  # (batch,)
    """

    def _base(self, logits):
        return tfd.OneHotCategorical(logits=logits, dtype="float32")


@keras.saving.register_keras_serializable(package="kerasae")
class FixedScaleNormal(DistributionLayer):
    """Gaussian likelihood ``N(mu, sigma^2 I)`` with a fixed ``sigma``; the input is the mean ``mu``.

    ``-log_prob(x) = ||x - mu||^2 / (2 sigma^2) + D log(sigma) + (D / 2) log(2 pi)``, the full normalising
    constant included.

    Args:
        event_shape: Shape of one event (e.g. the image shape).
        scale: The standard deviation ``sigma``, > 0.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.Independent(tfd.Normal(mu, sigma))`` with event shape ``event_shape``.
    """

    def __init__(self, event_shape, scale=1.0, **kwargs):
        super().__init__(event_shape, **kwargs)
        self.scale = check_number("scale", scale, minimum=0, exclusive_minimum=True)

    def make_distribution(self, loc):
        return self._independent(tfd.Normal(loc=loc, scale=tf.fill(tf.shape(loc), self.scale)))

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


@keras.saving.register_keras_serializable(package="kerasae")
class LearnedScaleNormal(DistributionLayer):
    """Gaussian likelihood ``N(mu, diag(sigma^2))`` with a learned ``sigma_d`` per data dimension.

    The input is the mean ``mu``; the layer owns one trainable weight ``log_scale`` of shape
    ``event_shape`` (shared across examples), and ``sigma = exp(log_scale) + min_scale``. The maximum
    likelihood ``sigma_d`` is the root mean squared residual of dimension ``d``.

    Args:
        event_shape: Shape of one event (e.g. the image shape).
        initial_scale: Initial ``sigma``, > ``min_scale``.
        min_scale: Floor of ``sigma``, > 0.
        **kwargs: Passed to ``keras.layers.Layer``.

    Returns:
        ``tfd.Independent(tfd.Normal(mu, sigma))`` with event shape ``event_shape``.
    """

    def __init__(self, event_shape, initial_scale=1.0, min_scale=1e-3, **kwargs):
        super().__init__(event_shape, **kwargs)
        self.min_scale = check_number("min_scale", min_scale, minimum=0, exclusive_minimum=True)
        self.initial_scale = check_number("initial_scale", initial_scale, minimum=0, exclusive_minimum=True)
        if self.initial_scale <= self.min_scale:
            raise ValueError(
                f"Expected initial_scale > min_scale. Received: initial_scale={initial_scale!r}, "
                f"min_scale={min_scale!r}"
            )
        self.log_scale = self.add_weight(
            name="log_scale",
            shape=self.event_shape,
            initializer=keras.initializers.Constant(math.log(self.initial_scale - self.min_scale)),
            trainable=True,
        )

    def scale(self):
        """The per-dimension standard deviation, shape ``event_shape``."""
        return tf.exp(tf.cast(self.log_scale, "float32")) + self.min_scale

    def make_distribution(self, loc):
        return self._independent(tfd.Normal(loc=loc, scale=self.scale() + tf.zeros_like(loc)))

    def get_config(self):
        config = super().get_config()
        config.update({"initial_scale": self.initial_scale, "min_scale": self.min_scale})
        return config


def likelihood_layer(likelihood, event_shape, scale=1.0, num_bins=None, name="likelihood"):
    """The likelihood layer a model names by ``likelihood``: ``"bernoulli"`` (:class:`IndependentBernoulli`),
    ``"gaussian"`` (:class:`FixedScaleNormal` with ``scale``), ``"gaussian_learned"`` (:class:`LearnedScaleNormal`
    starting from ``scale``) or ``"categorical"`` (:class:`Categorical` over ``num_bins`` levels)."""
    if likelihood == "bernoulli":
        return IndependentBernoulli(event_shape, name=name)
    if likelihood == "gaussian":
        return FixedScaleNormal(event_shape, scale=scale, name=name)
    if likelihood == "gaussian_learned":
        return LearnedScaleNormal(event_shape, initial_scale=scale, name=name)
    if likelihood == "categorical":
        return Categorical(num_bins, event_shape=event_shape, name=name)
    raise ValueError(f"Expected likelihood in ('bernoulli', 'gaussian', 'gaussian_learned', 'categorical'). "
                     f"Received: likelihood={likelihood!r}")
