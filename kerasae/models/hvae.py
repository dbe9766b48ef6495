"""VAEs with two stochastic layers, ``x -> h1 -> h2`` (Burda et al.'s two-layer VAE and IWAE).

Inference network ``q(h1, h2 | x) = q(h1|x) q(h2|h1)``, generative model ``p(x, h1, h2) = p(h2) p(h1|h2)
p(x|h1)`` with ``p(h2) = N(0, I)``; ``q(h1|x)``, ``q(h2|h1)`` and ``p(h1|h2)`` are diagonal normals
(:class:`kerasae.distributions.IndependentNormal`) and ``p(x|h1)`` is any likelihood of the
:class:`~kerasae.VAE` (Bernoulli, Gaussian, learned-scale Gaussian, categorical). The model's
:meth:`~HierarchicalVAE.log_weights` folds both layers into the VAE's three log densities, so the VAE's ELBO,
the IWAE bound (:class:`~kerasae.models.iwae.ImportanceWeighted`) and ``log_likelihood`` apply unchanged.

Example:
    >>> model = kerasae.HierarchicalIWAE.create((784,), latent_dims=(100, 50), num_samples=5)
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-4))
    >>> model.fit(x_train, epochs=10, batch_size=20)
    >>> nll = -model.log_likelihood(x_test, num_samples=5000).mean()
"""

import keras
import numpy as np
import tensorflow as tf

from kerasae import networks
from kerasae.layers import distributions as dists
from kerasae.models import likelihood as likelihood_estimate
from kerasae.models.autoencoder import ExportSignature, float32_outputs
from kerasae.models.iwae import ImportanceWeighted
from kerasae.models.vae import VAE, likelihood_decoder_outputs
from kerasae.ops import sampling
from kerasae.utils.validation import check_int, check_positive_int, is_int

#: The reference architecture (Burda et al., MNIST): ``h1`` and ``h2`` sizes, and the hidden widths of the
#: bottom (``x <-> h1``) and top (``h1 <-> h2``) networks.
DEFAULT_LATENT_DIMS = (100, 50)
DEFAULT_HIDDEN_UNITS = ((200, 200), (100, 100))


def check_latent_dims(latent_dims):
    """``(h1_dim, h2_dim)`` as a tuple of two positive ints; raises ``ValueError`` otherwise."""
    try:
        dims = tuple(latent_dims)
    except TypeError:
        dims = ()
    if len(dims) != 2 or not all(is_int(d) and d >= 1 for d in dims):
        raise ValueError(
            "Expected latent_dims to be a pair of positive integers (h1_dim, h2_dim), e.g. (100, 50). "
            f"Received: latent_dims={latent_dims!r}"
        )
    return tuple(int(d) for d in dims)


def _hidden_units(hidden_units, architecture):
    """``(bottom, top)`` widths from ``hidden_units``: ``None`` (the defaults) or a pair of width sequences."""
    if hidden_units is None:
        return (None if architecture == "conv" else DEFAULT_HIDDEN_UNITS[0]), DEFAULT_HIDDEN_UNITS[1]
    pair = tuple(hidden_units) if isinstance(hidden_units, (list, tuple)) else ()
    if len(pair) != 2 or not all(part is None or isinstance(part, (list, tuple)) for part in pair):
        raise ValueError(
            "Expected hidden_units to be a pair (bottom widths, top widths), e.g. ((200, 200), (100, 100)): the "
            f"bottom networks x <-> h1 and the top networks h1 <-> h2. Received: hidden_units={hidden_units!r}"
        )
    bottom, top = pair
    if architecture == "conv" and bottom is not None:
        raise ValueError(
            f"With architecture='conv' the bottom networks are convolutional (set by filters), so hidden_units' "
            f"bottom widths do not apply. Received: hidden_units={hidden_units!r}. Fix: pass hidden_units=(None, "
            f"{tuple(top) if top is not None else DEFAULT_HIDDEN_UNITS[1]})."
        )
    bottom = DEFAULT_HIDDEN_UNITS[0] if bottom is None and architecture != "conv" else bottom
    return (None if bottom is None else tuple(bottom)), tuple(DEFAULT_HIDDEN_UNITS[1] if top is None else top)


def build_networks(input_shape, latent_dims=DEFAULT_LATENT_DIMS, hidden_units=None, architecture="mlp",
                   likelihood="bernoulli", num_bins=16, activation="tanh", dropout=0.0, filters=None, kernel_size=3,
                   name="hvae"):
    """The four networks of a two-layer VAE, from :mod:`kerasae.networks`.

    The bottom pair (``encoder``: ``x -> 2 h1_dim`` values of ``q(h1|x)``; ``decoder``: ``h1 ->`` likelihood
    parameters) is an MLP or, with ``architecture="conv"``, convolutional (``filters``, ``kernel_size``); the
    top pair (``top_encoder``: ``h1 -> 2 h2_dim`` values of ``q(h2|h1)``; ``top_decoder``: ``h2 -> 2 h1_dim``
    values of ``p(h1|h2)``) is always an MLP. Every hidden layer has ``activation`` (and ``dropout``).

    Args: as for :meth:`HierarchicalVAE.create`.

    Returns:
        ``{"encoder": ..., "top_encoder": ..., "top_decoder": ..., "decoder": ...}``, functional Keras models.
    """
    h1, h2 = check_latent_dims(latent_dims)
    bottom, top = _hidden_units(hidden_units, architecture)
    common = {"activation": activation, "dropout": dropout}
    if architecture == "conv":
        bottom_kwargs = {"kernel_size": kernel_size, **({} if filters is None else {"filters": tuple(filters)})}
    else:
        bottom_kwargs = {"hidden_units": bottom}
    shape = tuple(int(d) for d in input_shape)
    outputs = likelihood_decoder_outputs(likelihood, num_bins)
    encoder, _ = networks.build(architecture, shape, 2 * h1, name=name, **common, **bottom_kwargs)
    _, decoder = networks.build(architecture, shape, h1, decoder_outputs=outputs, name=name, **common, **bottom_kwargs)
    top_encoder, _ = networks.mlp((h1,), 2 * h2, hidden_units=top, name=f"{name}_top", **common)
    _, top_decoder = networks.mlp((h1,), h2, hidden_units=top, decoder_outputs=2, name=f"{name}_top", **common)
    return {"encoder": encoder, "top_encoder": top_encoder, "top_decoder": top_decoder, "decoder": decoder}


def _width(network, which):
    """The last axis of a functional network's input or output, or None (not a functional model)."""
    try:
        return int(getattr(network, which)[0].shape[-1])
    except (AttributeError, IndexError, TypeError):
        return None


@keras.saving.register_keras_serializable(package="kerasae")
class HierarchicalVAE(VAE):
    """VAE with two stochastic layers: ``q(h1|x) q(h2|h1)`` and ``p(h2) p(h1|h2) p(x|h1)``.

    Objective (minimised), per example, with ``S = num_samples`` reparameterised draws ``h1_s ~ q(h1|x)``,
    ``h2_s ~ q(h2|h1_s)``:

        loss = -(1/S) sum_s log p(x | h1_s) + beta_t * KL,
        KL = (1/S) sum_s [log q(h1_s|x) + log q(h2_s|h1_s) - log p(h1_s|h2_s) - log p(h2_s)]

    a Monte Carlo estimate of ``KL(q(h1, h2|x) || p(h1, h2))`` (no closed form for this pair); with ``beta = 1``
    and no warm-up it is minus the ELBO. :class:`HierarchicalIWAE` trains on the ``K``-sample bound instead.
    ``log_likelihood`` is the importance-weighted estimate with ``q(h1, h2|x)`` as the proposal. Metrics:
    ``loss``, ``reconstruction_nll``, ``kl`` and ``elbo``, in nats per example.

    The codes of :meth:`encode` and :meth:`decode` are the top ones, ``h2``: ``encode(x)`` is ``q(h2|h1)`` at
    ``h1 = E[q(h1|x)]``, ``decode(h2)`` the data mean ``E[x|h1]`` at ``h1 = E[p(h1|h2)]``. Called on ``x``
    (and :meth:`reconstruct`) the model gives ``E[x|h1]`` at ``h1 = E[q(h1|x)]``, the bottom layer's
    reconstruction, which is sharper than ``decode(encode_mean(x))`` through the top code. :meth:`sample` is an
    ancestral draw, ``h2 ~ p(h2)``, ``h1 ~ p(h1|h2)``, returning the data means ``E[x|h1]``.

    Args:
        encoder: Network ``x -> 2 * h1_dim`` values (``[mean | scale pre-activation]``) of ``q(h1|x)``.
        top_encoder: Network ``h1 -> 2 * h2_dim`` values of ``q(h2|h1)``.
        top_decoder: Network ``h2 -> 2 * h1_dim`` values of ``p(h1|h2)``.
        decoder: Network ``h1 ->`` likelihood parameters of the data's shape (as the :class:`VAE`'s decoder).
        latent_dims: ``(h1_dim, h2_dim)``; ``None`` infers them from the decoders' inputs.
        likelihood: ``"bernoulli"``, ``"gaussian"``, ``"gaussian_learned"`` or ``"categorical"`` (as for
            :class:`VAE`).
        likelihood_scale: ``sigma`` of ``"gaussian"``; the initial ``sigma`` of ``"gaussian_learned"``.
        num_bins: Levels ``K`` of ``"categorical"``, >= 2.
        beta: Weight of the KL term, >= 0.
        kl_warmup_steps: Optimizer steps of a linear KL warm-up from 0 to ``beta`` (0: none).
        num_samples: Samples ``S`` per example in training, >= 1.
        min_scale: Floor of the scales of the three normals, > 0.
        seed: Seed of the sampling (``None``: random).
        l2: Weight of an L2 penalty on every kernel (of all four networks), >= 0.
        **kwargs: Passed to ``keras.Model``.

    Returns:
        Called on a batch, the likelihood's mean at ``h1 = E[q(h1|x)]`` (the reconstruction in data space).

    Example:
        >>> model = kerasae.HierarchicalVAE.create((784,), latent_dims=(100, 50), activation="tanh")
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(x_train, epochs=10, batch_size=20)
        >>> q = model.encode(x_test)          # q(h2|h1), a tfp distribution over the 50-d top code
        >>> images = model.sample(16, seed=0)  # ancestral draws h2 -> h1 -> E[x|h1]
        >>> log_px = model.log_likelihood(x_test, num_samples=5000)  # (n,) nats

    References:
        Burda, Grosse & Salakhutdinov (2016), Importance weighted autoencoders. ICLR.
        Sønderby et al. (2016), Ladder variational autoencoders. NeurIPS.
    """

    nested_objects = ("encoder", "decoder", "top_encoder", "top_decoder")
    #: The layers the top code ``E[h2|x]`` depends on (:class:`~kerasae.models.encoder_predictor.PretrainedEncoder`).
    inference_networks = ("encoder", "h1_posterior_layer", "top_encoder", "posterior_layer")
    network_name = "hvae"

    def __init__(self, encoder, top_encoder, top_decoder, decoder, latent_dims=None, likelihood="bernoulli",
                 likelihood_scale=1.0, num_bins=16, beta=1.0, kl_warmup_steps=0, num_samples=1, min_scale=1e-4,
                 seed=None, l2=0.0, **kwargs):
        if latent_dims is None:
            latent_dims = (_width(decoder, "inputs"), _width(top_decoder, "inputs"))
            if None in latent_dims:
                raise ValueError("Could not infer latent_dims from the decoders (not functional models). "
                                 "Pass latent_dims=(h1_dim, h2_dim).")
        dims = check_latent_dims(latent_dims)
        super().__init__(encoder, decoder, latent_dim=dims[1], posterior="diagonal", likelihood=likelihood,
                         likelihood_scale=likelihood_scale, num_bins=num_bins, beta=beta,
                         kl_warmup_steps=kl_warmup_steps, num_samples=num_samples, analytic_kl=False,
                         min_scale=min_scale, seed=seed, l2=l2, **kwargs)
        # === Config and networks (the VAE's posterior_layer is q(h2|h1), its prior p(h2)) ===
        self.latent_dims = dims
        self.top_encoder = top_encoder
        self.top_decoder = top_decoder
        self._check_hierarchy()
        self.h1_posterior_layer = dists.IndependentNormal(dims[0], min_scale=min_scale, name="h1_posterior")
        self.h1_prior_layer = dists.IndependentNormal(dims[0], min_scale=min_scale, name="h1_prior")

    # ------------------------------------------------------------------ construction helpers
    def _check_networks(self):
        """Replaced by :meth:`_check_hierarchy`, once all four networks are attributes."""

    def _check_hierarchy(self):
        h1, h2 = self.latent_dims
        expected = (
            ("encoder", self.encoder, "outputs", 2 * h1, "2 * h1_dim values of q(h1|x)"),
            ("top_encoder", self.top_encoder, "inputs", h1, "h1_dim inputs"),
            ("top_encoder", self.top_encoder, "outputs", 2 * h2, "2 * h2_dim values of q(h2|h1)"),
            ("top_decoder", self.top_decoder, "inputs", h2, "h2_dim inputs"),
            ("top_decoder", self.top_decoder, "outputs", 2 * h1, "2 * h1_dim values of p(h1|h2)"),
        )
        for name, network, which, size, what in expected:
            got = _width(network, which)
            if got is not None and got != size:
                raise ValueError(
                    f"With latent_dims={self.latent_dims}, the {name} needs {what}: {size}. Received a {name} with "
                    f"{got} {which}. Fix: build the networks with kerasae.models.hvae.build_networks(input_shape, "
                    f"latent_dims={self.latent_dims}), or use {type(self).__name__}.create(...)."
                )

    @classmethod
    def create(cls, input_shape, latent_dims=DEFAULT_LATENT_DIMS, hidden_units=None, activation="tanh",
               architecture="mlp", filters=None, kernel_size=3, dropout=0.0, likelihood="bernoulli", num_bins=16,
               **kwargs):
        """Builds the four networks (:func:`build_networks`) and the model in one line.

        Args:
            input_shape: Shape of one example.
            latent_dims: ``(h1_dim, h2_dim)``; default the reference ``(100, 50)``.
            hidden_units: ``(bottom widths, top widths)``, default ``((200, 200), (100, 100))``: the hidden
                layers of ``x <-> h1`` (widest first; ``None`` with ``architecture="conv"``) and of ``h1 <-> h2``.
            activation: Hidden activation, default ``"tanh"`` (the reference's).
            architecture: ``"mlp"`` or ``"conv"`` for the bottom networks (the top ones are MLPs).
            filters, kernel_size: The bottom conv networks' blocks (``None``: :func:`kerasae.networks.conv`'s).
            dropout: Dropout rate after each hidden layer.
            likelihood, num_bins, **kwargs: The model's constructor arguments.

        Returns:
            An uncompiled model.

        Raises:
            ValueError: for ``latent_dims`` or ``hidden_units`` of the wrong form, and the constructor's errors.
        """
        nets = build_networks(input_shape, latent_dims, hidden_units, architecture, likelihood, num_bins, activation,
                              dropout, filters, kernel_size, name=cls.network_name)
        return cls(**nets, latent_dims=latent_dims, likelihood=likelihood, num_bins=num_bins, **kwargs)

    # ------------------------------------------------------------------ distributions
    def _apply(self, network, layer, z, training=False):
        """``layer(network(z))`` for ``z`` of shape ``(..., width)``: the network runs on the flattened axes."""
        z = tf.cast(z, "float32")
        outputs = network(tf.reshape(z, (-1, z.shape[-1])), training=training)
        tail = tf.constant(tuple(outputs.shape[1:]), "int32")
        return layer(tf.reshape(outputs, tf.concat([tf.shape(z)[:-1], tail], axis=0)))

    def _h1_posterior(self, x, training=False):
        """``q(h1|x)``, batch shape ``(batch,)``."""
        return self.h1_posterior_layer(self.encoder(x, training=training))

    def _h2_posterior(self, h1, training=False):
        """``q(h2|h1)`` for ``h1`` of shape ``(..., h1_dim)``."""
        return self._apply(self.top_encoder, self.posterior_layer, h1, training)

    def _h1_prior(self, h2, training=False):
        """``p(h1|h2)`` for ``h2`` of shape ``(..., h2_dim)``."""
        return self._apply(self.top_decoder, self.h1_prior_layer, h2, training)

    def _likelihood(self, h1, condition=None, training=False):
        """``p(x|h1)`` for ``h1`` of shape ``(..., h1_dim)``."""
        return self._apply(self.decoder, self.likelihood_layer, h1, training)

    def _posterior(self, x, condition=None, training=False):
        """The posterior over the top code: ``q(h2|h1)`` at ``h1 = E[q(h1|x)]`` (what :meth:`encode` returns)."""
        return self._h2_posterior(self._h1_posterior(x, training).mean(), training)

    def log_weights(self, inputs, num_samples, seed=None, training=False):
        """Draws ``S = num_samples`` pairs ``h1_s ~ q(h1|x)``, ``h2_s ~ q(h2|h1_s)`` per example (reparameterised,
        from one stateless draw of ``seed``, shape ``(2,)`` int32; ``None``: the model's seed generator) and
        returns the VAE's pieces of the importance weights, for the pair ``z = (h1, h2)``.

        Returns:
            A dict of float32 ``(S, batch)`` tensors ``log_px_z`` (``log p(x|h1)``), ``log_pz`` (``log p(h1|h2)
            + log p(h2)``) and ``log_qz`` (``log q(h1|x) + log q(h2|h1)``), plus ``posterior`` (``q(h1|x)``),
            ``likelihood`` (``p(x|h1_s)``) and the samples ``h1`` ``(S, batch, h1_dim)`` and ``h2``.
        """
        x, _ = self._split_inputs(inputs)
        seed = self._next_seed() if seed is None else seed
        h1_dim, h2_dim = self.latent_dims
        q_h1 = self._h1_posterior(x, training)
        loc = tf.convert_to_tensor(q_h1.distribution.loc)
        shape = tf.concat([[num_samples], tf.shape(loc)[:-1], [h1_dim + h2_dim]], axis=0)
        eps = sampling.normal(shape, seed)  # one draw for both layers
        h1 = loc + q_h1.distribution.scale * eps[..., :h1_dim]
        q_h2 = self._h2_posterior(h1, training)
        h2 = q_h2.distribution.loc + q_h2.distribution.scale * eps[..., h1_dim:]
        likelihood = self._likelihood(h1, training=training)
        return {
            "log_px_z": likelihood.log_prob(self._likelihood_value(x)),
            "log_pz": self._h1_prior(h2, training).log_prob(h1) + self.prior().log_prob(h2),
            "log_qz": q_h1.log_prob(h1) + q_h2.log_prob(h2),
            "posterior": q_h1, "likelihood": likelihood, "h1": h1, "h2": h2,
        }

    def kl_divergence(self, posterior, log_qz=None, log_pz=None):
        """``KL(q(h1, h2|x) || p(h1, h2))`` per example, by Monte Carlo: ``mean_s [log q - log p]`` of the samples."""
        if log_qz is None or log_pz is None:
            raise ValueError(f"{type(self).__name__}'s KL has no closed form; it needs log_qz and log_pz of "
                             "posterior samples (from log_weights).")
        return tf.reduce_mean(log_qz - log_pz, axis=0)

    # ------------------------------------------------------------------ API
    def decode(self, z, training=False):
        """The data mean ``E[x|h1]`` at ``h1 = E[p(h1|h2)]`` for top codes ``z = h2`` ``(..., h2_dim)``, a tensor."""
        return self._likelihood_mean(self._likelihood(self._h1_prior(z, training).mean(), training=training))

    def call(self, inputs, training=None):
        x, _ = self._split_inputs(inputs)
        h1 = self._h1_posterior(x, training).mean()
        return self._likelihood_mean(self._likelihood(h1, training=training))

    def _generate(self, n, seed=None, stateful=False):
        """Ancestral data means ``E[x|h1]``, ``h1 ~ p(h1|h2)``, ``h2 ~ p(h2)``: stateless draws from an int
        ``seed`` (``None``: the seed generator), or with ``stateful`` TensorFlow's own draws (exports)."""
        if stateful:
            h2 = self.prior().sample(n)
            h1 = self._h1_prior(h2).sample()
        else:
            seeds = ((self._next_seed(), self._next_seed()) if seed is None
                     else (tf.constant([seed, 0], "int32"), tf.constant([seed, 1], "int32")))
            h2 = sampling.reparameterized_sample(self.prior(), n, seeds[0])
            h1 = sampling.reparameterized_sample(self._h1_prior(h2), 1, seeds[1])[0]
        return self._likelihood_mean(self._likelihood(h1))

    def sample(self, n, seed=None):
        """``n`` ancestral samples: ``h2 ~ N(0, I)``, ``h1 ~ p(h1|h2)`` (a draw, not the mean), decoded to the
        data means ``E[x|h1]``. ``seed``: an optional int, for reproducible draws.

        Returns:
            A numpy array ``(n, *data_shape)``.
        """
        n, seed = check_positive_int("n", n), likelihood_estimate.check_seed(seed)
        return keras.ops.convert_to_numpy(self._generate(n, seed))

    def interpolate(self, x1, x2, steps=10):
        """Decodes (:meth:`decode`) the straight line between the top codes ``E[q(h2|h1)]`` of ``x1`` and ``x2``
        in ``steps`` points (ends included, >= 2); single examples or batches of equal size.

        Returns:
            A numpy array ``(steps, *data_shape)`` for single examples, ``(batch, steps, *data_shape)`` for
            batches.
        """
        steps = check_int("steps", steps, minimum=2)
        a, b = np.asarray(x1, "float32"), np.asarray(x2, "float32")
        single = a.shape == self.data_shape
        if single:
            a, b = a[None], b[None]
        za, zb = self.encode(a).mean(), self.encode(b).mean()
        t = tf.reshape(tf.linspace(0.0, 1.0, steps), (steps, 1, 1))
        out = np.moveaxis(keras.ops.convert_to_numpy(self.decode((1.0 - t) * za + t * zb)), 0, 1)
        return out[0] if single else out

    # ------------------------------------------------------------------ export
    def export_signatures(self):
        """The VAE's signatures (``reconstruct``; ``encode`` giving ``mean`` and ``scale`` of the top code's
        ``q(h2|h1)``; ``decode`` of top codes ``z``, ``(batch, h2_dim)``), with ``sample`` (``n -> samples``)
        an ancestral draw as :meth:`sample`."""
        signatures = super().export_signatures()
        specs = signatures["sample"].specs
        signatures["sample"] = ExportSignature(
            lambda n: float32_outputs(samples=self._generate(n, stateful=True)), specs, random=True)
        return signatures

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        for key in ("posterior", "analytic_kl", "latent_dim"):  # fixed here: diagonal, Monte Carlo, latent_dims
            config.pop(key, None)
        serialize = keras.saving.serialize_keras_object
        config.update(top_encoder=serialize(self.top_encoder), top_decoder=serialize(self.top_decoder),
                      latent_dims=list(self.latent_dims))
        return config


@keras.saving.register_keras_serializable(package="kerasae")
class HierarchicalIWAE(ImportanceWeighted, HierarchicalVAE):
    """Importance-weighted autoencoder with two stochastic layers: :class:`HierarchicalVAE` trained on the
    ``K``-sample bound (``K = num_samples``), Burda et al.'s two-layer IWAE.

    Objective (minimised), per example, with ``(h1_k, h2_k) ~ q(h1|x) q(h2|h1)`` reparameterised:

        loss = -L_K(x),
        L_K(x) = logsumexp_k [log p(x|h1_k) + log p(h1_k|h2_k) + log p(h2_k) - log q(h1_k|x) - log q(h2_k|h1_k)]
                 - log K

    ``L_1`` is the ELBO; ``L_K`` increases with ``K`` towards ``log p(x)``. The bound is
    :func:`kerasae.models.iwae.importance_weighted_bound`, shared with :class:`~kerasae.IWAE`. Metrics: ``loss``,
    ``iwae_bound``, and the diagnostics ``reconstruction_nll``, ``kl`` and ``elbo`` from the same samples.

    Args:
        encoder, top_encoder, top_decoder, decoder, **kwargs: As for :class:`HierarchicalVAE`; ``num_samples``
            defaults to 5, and ``beta`` and ``kl_warmup_steps`` must stay 1 and 0.

    Returns:
        Called on a batch, the reconstruction (as :class:`HierarchicalVAE`).

    Example:
        >>> model = kerasae.HierarchicalIWAE.create((784,), latent_dims=(100, 50), num_samples=50)

    References:
        Burda, Grosse & Salakhutdinov (2016), Importance weighted autoencoders. ICLR.
    """

    kl_weighted_class = "HierarchicalVAE"

    def __init__(self, encoder, top_encoder, top_decoder, decoder, num_samples=5, **kwargs):
        self.check_unit_kl_weight(kwargs)
        super().__init__(encoder, top_encoder, top_decoder, decoder, num_samples=num_samples, **kwargs)
