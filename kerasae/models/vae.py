"""The variational autoencoder (VAE), on which the IWAE (:mod:`~kerasae.models.iwae`) and the conditional VAE
(:mod:`~kerasae.models.cvae`) build.

The encoder network outputs the parameters of the approximate posterior ``q(z|x)`` (a diagonal or a
full-covariance normal, or a normal through IAF, planar or radial flow steps: :mod:`kerasae.layers.posteriors`),
the prior is ``p(z) = N(0, I)``, a learned mixture of Gaussians or a VampPrior (:mod:`kerasae.layers.priors`), and
the decoder network outputs the parameters of the likelihood ``p(x|z)``:

* ``"bernoulli"``: independent Bernoulli pixels from logits, for binary (or binarised) data in [0, 1].
* ``"gaussian"``: ``N(mu(z), sigma^2 I)`` with a fixed ``sigma`` (``likelihood_scale``).
* ``"gaussian_learned"``: ``N(mu(z), diag(sigma_d^2))`` with one learned ``sigma_d`` per data dimension.
* ``"categorical"``: each feature quantised to ``num_bins`` intensity levels, ``k = round(x (K - 1))``, and
  modelled by a ``K``-way categorical over the levels (the decoder outputs ``K`` logits per feature). Its
  log-likelihood is that of the discrete levels (a probability mass, not a density), and the "mean" in data
  space is ``E[k] / (K - 1)``.

The Gaussian likelihoods include the full normalising constant, so every NLL is in nats per example and
comparable across models of the same data.

Distribution layers are attributes of the model and are called on the networks' outputs (never inside a
functional model), which works in eager, graph (``fit``) and XLA (``jit_compile=True``) modes.

Example:
    >>> model = kerasae.vae.VAE.create((64,), latent_dim=2, likelihood="bernoulli")
    >>> model.compile(optimizer="adam")
    >>> model.fit(x_train, epochs=20, batch_size=64)
    >>> nll = -model.log_likelihood(x_test, num_samples=1000).mean()
"""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from kerasae.layers import distributions as dists
from kerasae.layers import posteriors, priors
from kerasae.layers.posteriors import POSTERIORS, posterior_params_size
from kerasae import networks
from kerasae.ops import sampling
from kerasae.models import likelihood as likelihood_estimate
from kerasae.models.autoencoder import Autoencoder, ExportSignature, float32_outputs
from kerasae.utils.validation import check_choice, check_int, check_number, check_positive_int

tfd = tfp.distributions

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned", "categorical")
#: Keyword arguments of :meth:`VAE.create` that go to the network builders rather than to the model.
NETWORK_ARGUMENTS = ("hidden_units", "filters", "kernel_size", "activation", "dropout", "code_activation")


def likelihood_decoder_outputs(likelihood, num_bins=16):
    """Decoder values per data feature: ``num_bins`` for ``"categorical"``, 1 otherwise."""
    check_choice("likelihood", likelihood, LIKELIHOODS)
    return int(num_bins) if likelihood == "categorical" else 1


@keras.saving.register_keras_serializable(package="kerasae")
class VAE(Autoencoder):
    """Variational autoencoder ``q(z|x) = N(mu(x), Sigma(x))``, a prior ``p(z)``, ``p(x|z)`` from the decoder.

    Objective (minimised), per example, with ``S = num_samples`` reparameterised samples
    ``z_s = mu(x) + L(x) eps_s``, ``eps_s ~ N(0, I)`` (pushed through the flow, ``z_s = f(...)``, for a flow):

        loss = -(1/S) sum_s log p(x | z_s) + beta_t * KL(q(z|x) || p(z)),
        beta_t = beta * min(1, t / kl_warmup_steps)    (t = optimizer step; beta_t = beta without warm-up)

    With ``beta = 1`` and no warm-up the loss is minus the evidence lower bound,
    ``ELBO = E_q[log p(x|z)] - KL(q || p) <= log p(x)``. The KL term is analytic where
    ``tfp.distributions.kl_divergence`` knows the pair (diagonal and full normal posteriors against the
    standard normal), and the Monte Carlo estimate ``(1/S) sum_s [log q(z_s|x) - log p(z_s)]`` otherwise
    (a mixture prior, a flow posterior, or ``analytic_kl=False``). Metrics: ``loss``, ``reconstruction_nll``
    (``-(1/S) sum_s log p(x|z_s)``), ``kl``, and the diagnostic ``elbo`` (always with weight 1 on the KL), all in
    nats per example.

    The KL warm-up reads ``optimizer.iterations`` inside the step, so it works in graph and XLA mode,
    continues where it stopped after a ``.keras`` round trip, and needs no callback; ``evaluate`` reports the
    ``loss`` with the current weight (``elbo`` is independent of it).

    Args:
        encoder: Network mapping inputs to ``posterior_params_size(posterior, latent_dim)`` values.
        decoder: Network mapping codes ``(batch, latent_dim)`` to likelihood parameters of the data's shape
            (last axis times ``num_bins`` for ``"categorical"``), linear outputs.
        latent_dim: Size of the code; ``None`` infers it from the decoder's input.
        posterior: ``"diagonal"`` (:class:`~kerasae.distributions.IndependentNormal`), ``"full"``
            (:class:`~kerasae.distributions.MultivariateNormalTriL`), or a flow: ``"iaf"``, ``"planar"`` or
            ``"radial"`` (:mod:`kerasae.layers.posteriors`: layers, point code, encoder outputs and exports).
        flow_steps: Steps of a flow posterior (default 2); ``None`` with the other posteriors.
        flow_hidden_units: Widths of each IAF step's MADE (default two layers of ``4 latent_dim``).
        likelihood: ``"bernoulli"``, ``"gaussian"``, ``"gaussian_learned"`` or ``"categorical"``.
        likelihood_scale: ``sigma`` of ``"gaussian"``; the initial ``sigma`` of ``"gaussian_learned"``.
        num_bins: Number of intensity levels ``K`` of ``"categorical"``, >= 2.
        beta: Weight of the KL term (beta-VAE), >= 0.
        kl_warmup_steps: Optimizer steps over which the KL weight ramps linearly from 0 to ``beta``
            (0: no warm-up).
        num_samples: Reparameterised samples ``S`` per example in training, >= 1.
        analytic_kl: Use the closed-form KL when tfp has it; ``None`` (auto): ``True`` for the normal posteriors,
            ``False`` (Monte Carlo) for a flow, which refuses ``True``.
        prior: ``"standard"`` (``N(0, I)``), ``"mog"`` (:class:`~kerasae.layers.priors.MixtureOfGaussiansPrior`),
            ``"vamp"`` (:class:`~kerasae.layers.priors.VampPrior`, through this model's encoder), or a prior layer.
        num_components: ``K`` of ``"mog"`` (default 10) or of ``"vamp"`` (pseudo-inputs, default 500).
        min_scale: Floor of the posterior's scale, > 0.
        seed: Seed of the sampling (``None``: random).
        l2: Weight of an L2 penalty on every kernel, >= 0.
        **kwargs: Passed to ``keras.Model``.

    Returns:
        Called on a batch, the likelihood's mean at the posterior mean (the reconstruction in data space).

    Example:
        >>> model = kerasae.vae.VAE.create((784,), 50, hidden_units=(200, 200), activation="tanh")
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(x_train, epochs=10, batch_size=100)
        >>> q = model.encode(x_test)          # a tfp distribution; q.mean() == model.encode_mean(x_test)
        >>> images = model.sample(16, seed=0)  # likelihood means of 16 prior draws
        >>> log_px = model.log_likelihood(x_test, num_samples=5000)  # (n,) nats

    References:
        Kingma & Welling (2014), Auto-encoding variational Bayes. ICLR.
        Rezende, Mohamed & Wierstra (2014), Stochastic backpropagation and approximate inference in deep
        generative models. ICML.
        Higgins et al. (2017), beta-VAE: learning basic visual concepts with a constrained variational
        framework. ICLR.
        Bowman et al. (2016), Generating sentences from a continuous space (KL annealing). CoNLL.
        Kingma et al. (2016), Improved variational inference with inverse autoregressive flow. NeurIPS.
    """

    loss_terms = ("reconstruction_nll", "kl", "elbo")
    diagnostic_terms = ("elbo",)
    undercomplete = False  # the KL term regularises the code; a wide encoder output is expected.

    def __init__(self, encoder, decoder, latent_dim=None, posterior="diagonal", likelihood="bernoulli",
                 likelihood_scale=1.0, num_bins=16, beta=1.0, kl_warmup_steps=0, num_samples=1, analytic_kl=None,
                 min_scale=1e-4, seed=None, l2=0.0, prior="standard", num_components=None, flow_steps=None,
                 flow_hidden_units=None, **kwargs):
        check_choice("posterior", posterior, POSTERIORS)
        flow_steps, flow_hidden_units = posteriors.flow_arguments(posterior, flow_steps, flow_hidden_units)
        analytic_kl = posteriors.resolve_analytic_kl(posterior, analytic_kl)
        check_choice("likelihood", likelihood, LIKELIHOODS)
        num_bins = check_int("num_bins", num_bins, minimum=2)
        beta = check_number("beta", beta, minimum=0)
        kl_warmup_steps = check_int("kl_warmup_steps", kl_warmup_steps, minimum=0)
        num_samples = check_positive_int("num_samples", num_samples)
        kwargs.pop("reconstruction_loss", None)  # implied by the likelihood
        kwargs.pop("output_activation", None)
        bernoulli = likelihood == "bernoulli"
        super().__init__(encoder, decoder, reconstruction_loss="bce" if bernoulli else "mse",
                         output_activation="sigmoid" if bernoulli else "linear", l2=l2, **kwargs)
        # === Config ===
        self.posterior = posterior
        self.likelihood = likelihood
        self.likelihood_scale = float(likelihood_scale)
        self.num_bins = num_bins
        self.beta = beta
        self.kl_warmup_steps = kl_warmup_steps
        self.num_samples = num_samples
        self.analytic_kl = analytic_kl
        self.min_scale = float(min_scale)
        self.seed = seed
        self.flow_steps = flow_steps
        self.flow_hidden_units = flow_hidden_units
        self._latent_dim = int(latent_dim) if latent_dim is not None else self._infer_latent_dim()
        self._check_networks()
        # === Distribution layers (attributes, called on the networks' outputs) ===
        self.posterior_layer = posteriors.build(posterior, self._latent_dim, min_scale, flow_steps, flow_hidden_units)
        shape = self.data_shape
        self.likelihood_layer = dists.likelihood_layer(likelihood, shape, likelihood_scale, num_bins)
        family = "diagonal" if posterior in posteriors.FLOWS else posterior  # the standard normal's (KL by MC)
        self.prior_layer = priors.get(prior, self._latent_dim, shape, family, num_components)
        self.prior_layer.check_model(self._latent_dim, self._encoder_input_shape())
        posteriors.check_prior(posterior, self.prior_layer)
        self._prior_name = prior if isinstance(prior, str) else None  # a layer given is saved as its config
        self.seed_generator = keras.random.SeedGenerator(seed)

    # ------------------------------------------------------------------ construction helpers
    def _infer_latent_dim(self):
        try:
            return int(self.decoder.inputs[0].shape[-1])
        except (AttributeError, IndexError, TypeError):
            raise ValueError("Could not infer latent_dim from the decoder (not a functional model). "
                             "Pass latent_dim=...") from None

    def _encoder_input_shape(self):
        try:
            return tuple(self.encoder.inputs[0].shape[1:])
        except (AttributeError, IndexError, TypeError):
            return None

    def _check_networks(self):
        posteriors.check_encoder(self.encoder, self.posterior, self._latent_dim, self.flow_steps)

    @classmethod
    def create(cls, input_shape, latent_dim, architecture="mlp", posterior="diagonal", likelihood="bernoulli",
               num_bins=16, **kwargs):
        """Builds the networks and the model in one line.

        The encoder gets ``posterior_params_size(posterior, latent_dim)`` outputs and the decoder
        ``likelihood_decoder_outputs(likelihood, num_bins)`` values per feature, both from
        :func:`kerasae.networks.build` with the same hidden layers (for ``"mlp"``, the default widths are
        those of a ``latent_dim`` code).

        Args: the example's ``input_shape``, the code's width ``latent_dim``, the ``architecture``
        (``"mlp"`` or ``"conv"``), and as for the constructor ``posterior``, ``likelihood`` and ``num_bins``;
        ``**kwargs`` holds network options (``hidden_units``, ``filters``, ``kernel_size``, ``activation``,
        ``dropout``) and the model's other constructor arguments (``beta``, ``num_samples``, ...).

        Returns:
            An uncompiled model.

        Example:
            >>> model = kerasae.vae.VAE.create((28, 28, 1), 16, architecture="conv", likelihood="bernoulli")
        """
        net_kwargs = {k: kwargs.pop(k) for k in NETWORK_ARGUMENTS if k in kwargs}
        encoder, decoder = cls._networks(
            lambda shape, width, **extra: networks.build(architecture, shape, width, **net_kwargs, **extra),
            tuple(input_shape), latent_dim, posterior, likelihood, num_bins, kwargs,
            default_hidden=architecture == "mlp" and net_kwargs.get("hidden_units") is None,
        )
        return cls(encoder, decoder, latent_dim=latent_dim, posterior=posterior, likelihood=likelihood,
                   num_bins=num_bins, **kwargs)

    #: Name given to the networks :meth:`create` builds.
    network_name = "vae"

    @classmethod
    def _network_inputs(cls, input_shape, latent_dim, model_kwargs):
        """The encoder's input shape and the decoder's input width: the example's shape and the code's width
        here (the CVAE appends its condition to both)."""
        return input_shape, latent_dim

    @classmethod
    def _networks(cls, build, input_shape, latent_dim, posterior, likelihood, num_bins, model_kwargs,
                  default_hidden=False):
        """``(encoder, decoder)`` from ``build(input_shape, width, **extra) -> (encoder, decoder)``."""
        extra = {"name": cls.network_name}
        if default_hidden:
            extra["hidden_units"] = networks.default_hidden_units(math.prod(input_shape), latent_dim)
        encoder_shape, decoder_width = cls._network_inputs(input_shape, latent_dim, model_kwargs)
        encoder, _ = build(encoder_shape, posterior_params_size(posterior, latent_dim, model_kwargs.get("flow_steps")),
                           **extra)
        outputs = likelihood_decoder_outputs(likelihood, num_bins)
        _, decoder = build(input_shape, decoder_width, decoder_outputs=outputs, **extra)
        return encoder, decoder

    # ------------------------------------------------------------------ shapes
    @property
    def latent_dim(self):
        """Size of the code ``z``."""
        return self._latent_dim

    @property
    def data_shape(self):
        """Shape of one example (from the decoder's output)."""
        out = tuple(int(d) for d in self.decoder.outputs[0].shape[1:])
        k = likelihood_decoder_outputs(self.likelihood, self.num_bins)
        if out[-1] % k:
            raise ValueError(f"The {self.likelihood!r} likelihood needs {k} decoder outputs per feature, so the "
                             f"decoder's last axis must be a multiple of {k}. Received a decoder with output shape {out}.")
        return out[:-1] + (out[-1] // k,)

    @property
    def unit_interval_inputs(self):
        """Why inputs must lie in [0, 1]: the Bernoulli and categorical likelihoods score values in [0, 1]."""
        return f"the {self.likelihood} likelihood" if self.likelihood in ("bernoulli", "categorical") else None

    def _split_inputs(self, inputs):
        """``(x, condition)`` from the model's input: a VAE's input is ``x`` alone (no condition); the CVAE's
        is the pair ``(x, condition)``, and its posterior and likelihood take the condition."""
        return inputs, None

    # ------------------------------------------------------------------ distributions
    def prior(self, training=False):
        """The prior ``p(z)`` from :attr:`prior_layer`: ``N(0, I)`` of the posterior's family (so the KL is
        analytic), a mixture of Gaussians, or the VampPrior (this model's posteriors of its pseudo-inputs)."""
        return self.prior_layer(encode=lambda u: self._posterior(u, training=training))

    def _posterior(self, x, condition=None, training=False):
        """``q(z|x)`` (``condition``: None here; the CVAE's one-hot rows)."""
        return self.posterior_layer(self.encoder(x, training=training))

    def _likelihood(self, z, condition=None, training=False):
        """``p(x|z)`` for codes ``z`` of shape ``(..., latent_dim)``; batch shape ``z.shape[:-1]``."""
        z = tf.cast(z, "float32")
        flat = tf.reshape(z, (-1, z.shape[-1]))
        outputs = self.decoder(flat, training=training)
        tail = tuple(outputs.shape[1:])
        outputs = tf.reshape(outputs, tf.concat([tf.shape(z)[:-1], tf.constant(tail, "int32")], axis=0))
        return self.likelihood_layer(outputs)

    def _likelihood_value(self, x):
        """Data as the likelihood scores it (levels ``round(x (K - 1))`` for the categorical)."""
        x = tf.cast(x, "float32")
        if self.likelihood == "categorical":
            return tf.round(tf.clip_by_value(x, 0.0, 1.0) * (self.num_bins - 1))
        return x

    def _likelihood_mean(self, distribution):
        """The likelihood's mean in data space (``E[k] / (K - 1)`` for the categorical)."""
        if self.likelihood == "categorical":
            logits = distribution.distribution.logits_parameter()
            probs = tf.nn.softmax(tf.reshape(logits, (-1, self.num_bins)))  # softmax takes rank <= 5
            levels = tf.linspace(0.0, 1.0, self.num_bins)
            return tf.reshape(tf.reduce_sum(probs * levels, axis=-1), tf.shape(logits)[:-1])
        return distribution.mean()

    def _next_seed(self):
        return sampling.next_seed(self.seed_generator)

    def kl_weight(self):
        """The current KL weight ``beta_t`` (a float32 scalar tensor), ramping to ``beta`` with warm-up."""
        beta = tf.constant(self.beta, "float32")
        optimizer = getattr(self, "optimizer", None)
        if self.kl_warmup_steps <= 0 or optimizer is None:
            return beta
        step = tf.cast(optimizer.iterations, "float32")
        return beta * tf.minimum(1.0, step / float(self.kl_warmup_steps))

    def log_weights(self, inputs, num_samples, seed=None, training=False):
        """Samples ``S = num_samples`` codes ``z_s ~ q(z|x)`` per example of ``inputs`` (a batch; ``(x,
        condition)`` for the CVAE) and returns the pieces of the importance weights. ``seed``: a stateless
        seed, shape ``(2,)`` int32 (``None``: the model's seed generator).

        Returns:
            A dict of float32 tensors of shape ``(S, batch)``: ``log_px_z`` (``log p(x|z_s)``),
            ``log_pz`` (``log p(z_s)``), ``log_qz`` (``log q(z_s|x)``), plus ``posterior`` (the
            distribution) and ``likelihood`` (``p(x|z_s)``).
        """
        x, condition = self._split_inputs(inputs)
        seed = self._next_seed() if seed is None else seed
        posterior = self._posterior(x, condition, training=training)
        z, log_qz = posteriors.sample_and_log_prob(posterior, num_samples, seed)
        likelihood = self._likelihood(z, condition, training=training)
        return {"log_px_z": likelihood.log_prob(self._likelihood_value(x)), "log_pz": self.prior(training).log_prob(z),
                "log_qz": log_qz, "posterior": posterior, "likelihood": likelihood}

    def kl_divergence(self, posterior, log_qz=None, log_pz=None):
        """``KL(q(z|x) || p(z))`` per example: analytic if possible, else ``mean_s [log q - log p]``."""
        if self.analytic_kl and self.prior_layer.closed_form_kl:
            try:
                return tfd.kl_divergence(posterior, self.prior())
            except NotImplementedError:
                pass
        if log_qz is None:
            raise ValueError("A Monte Carlo KL estimate needs log_qz and log_pz of posterior samples.")
        return tf.reduce_mean(log_qz - log_pz, axis=0)

    # ------------------------------------------------------------------ objective
    def _elbo_terms(self, parts):
        nll = -tf.reduce_mean(parts["log_px_z"], axis=0)
        kl = self.kl_divergence(parts["posterior"], parts["log_qz"], parts["log_pz"])
        return {"reconstruction_nll": nll, "kl": kl, "elbo": -(nll + kl)}

    def compute_loss_terms(self, x, target, training=False):
        parts = self.log_weights(x, self.num_samples, training=training)
        terms = self._elbo_terms(parts)
        prediction = tf.reduce_mean(self._likelihood_mean(parts["likelihood"]), axis=0)
        return terms, prediction

    def combine_loss_terms(self, terms):
        return terms["reconstruction_nll"] + self.kl_weight() * terms["kl"]

    # ------------------------------------------------------------------ API
    def encode(self, x, training=False):
        """The approximate posterior ``q(z|x)``, a ``tfp`` distribution with batch shape ``(batch,)``.

        Use ``.mean()`` (or :meth:`encode_mean`) for the codes, ``.stddev()`` for a diagonal posterior's
        scales and ``.sample(seed=...)`` for draws (a flow's has no ``.mean()``: see :meth:`encode_mean`).
        """
        x, condition = self._split_inputs(x)
        return self._posterior(x, condition, training=training)

    def encode_mean(self, x):
        """The posterior mean ``E_q[z]``, shape ``(batch, latent_dim)``, as a numpy array; for a flow posterior, the
        flow's image of the base mean (:func:`kerasae.layers.posteriors.point_code`), what :meth:`reconstruct`
        decodes."""
        return keras.ops.convert_to_numpy(posteriors.point_code(self.encode(x)))

    def decode(self, z, training=False):
        """The likelihood's mean ``E[x|z]`` in data space (probabilities for Bernoulli), as a tensor."""
        return self._likelihood_mean(self._likelihood(z, training=training))

    def reconstruct(self, x):
        """Decodes the posterior mean (a flow's point code, :meth:`encode_mean`): ``E[x | z = E_q[z|x]]``."""
        return self.call(x, training=False)

    def call(self, inputs, training=None):
        x, condition = self._split_inputs(inputs)
        q = self._posterior(x, condition, training=training)
        return self._likelihood_mean(self._likelihood(posteriors.point_code(q), condition, training=training))

    def _prior_codes(self, n, seed):
        n, seed = check_positive_int("n", n), likelihood_estimate.check_seed(seed)
        seed = self._next_seed() if seed is None else tf.constant([seed, 0], "int32")
        return sampling.reparameterized_sample(self.prior(), n, seed)

    def sample(self, n, seed=None):
        """Decodes ``n`` codes drawn from the prior (``seed``: an optional int, for reproducible draws).

        Returns:
            A numpy array ``(n, *data_shape)`` of likelihood means ``E[x|z]``, ``z ~ p(z)`` (a mixture: a component
            drawn by its weight, then its normal).
        """
        return keras.ops.convert_to_numpy(self.decode(self._prior_codes(n, seed)))

    def interpolate(self, x1, x2, steps=10):
        """Decodes the straight line between the posterior means of ``x1`` and ``x2`` in ``steps`` points (ends
        included, >= 2). ``x1``, ``x2``: single examples (shape ``data_shape``) or batches of equal size (for
        the CVAE, the condition is taken from ``x1``).

        Returns:
            A numpy array ``(steps, *data_shape)`` for single examples, ``(batch, steps, *data_shape)`` for
            batches.
        """
        steps = check_int("steps", steps, minimum=2)
        (a, ca), (b, _) = self._split_inputs(x1), self._split_inputs(x2)
        a, b = np.asarray(a, "float32"), np.asarray(b, "float32")
        single = a.shape == self.data_shape
        if single:
            a, b = a[None], b[None]
            ca = None if ca is None else np.asarray(ca, "float32")[None]
        za, zb = (posteriors.point_code(self._posterior(v, ca)) for v in (a, b))
        t = tf.reshape(tf.linspace(0.0, 1.0, steps), (steps, 1, 1))
        z = (1.0 - t) * za + t * zb  # (steps, batch, d)
        out = keras.ops.convert_to_numpy(self._likelihood_mean(self._likelihood(z, ca)))
        out = np.moveaxis(out, 0, 1)  # (batch, steps, ...)
        return out[0] if single else out

    def log_likelihood(self, x, num_samples=1000, batch_size=100, sample_batch_size=None, seed=None):
        """Importance-weighted estimate of ``log p(x)`` per example, in nats.

        ``log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K``, ``z_k ~ q(z|x)``:
        the IWAE bound, a lower bound that tightens as ``K`` grows (equal in expectation to the ELBO at
        ``K = 1``). Samples are drawn in chunks of ``sample_batch_size`` so that ``K = 5000`` fits in
        memory.

        Args:
            x: Inputs ``(n, ...)`` (``(x, condition)`` for the CVAE), numpy arrays or tensors: finite, shaped
                like the model's input, in [0, 1] for a Bernoulli or categorical likelihood (checked as
                ``fit`` checks them, :meth:`check_inputs`).
            num_samples: ``K``, >= 1 (integers, numpy integers too, as for every count below).
            batch_size: Examples per chunk, >= 1.
            sample_batch_size: Samples per chunk, >= 1; default keeps ``batch_size * sample_batch_size`` near
                20,000 decoder evaluations.
            seed: Optional int; the same seed gives the same estimate (also after a ``.keras`` round trip).

        Returns:
            A float64 numpy array ``(n,)`` of log-likelihood estimates.

        Raises:
            ValueError: for inputs that are empty, not finite, mis-shaped or outside the likelihood's
                support, and for counts that are not positive integers.
        """
        return likelihood_estimate.log_likelihood(self, x, num_samples, batch_size, sample_batch_size, seed)

    # ------------------------------------------------------------------ export
    def posterior_outputs(self, posterior):
        """The ``encode`` signature's outputs: ``mean`` and ``scale`` (standard deviations) of ``q(z|x)``, and
        ``scale_tril`` (its Cholesky factor) for a full posterior; for a flow, ``code`` (the point code that
        ``reconstruct`` decodes: edge users pass it to ``decode``), ``base_mean``, ``base_scale`` and the flow's
        ``context`` (:func:`kerasae.layers.posteriors.export_outputs`)."""
        return float32_outputs(**posteriors.export_outputs(posterior, self.posterior))

    def reconstruction_log_likelihood(self, x, mean):
        """``log p(x | E[x|z] = mean)`` per example in nats (numpy; None for the categorical likelihood): how export's
        quality gate scores a quantised artifact's reconstructions (:mod:`kerasae.export.quality`)."""
        scale = self.likelihood_layer.scale() if self.likelihood == "gaussian_learned" else self.likelihood_scale
        return likelihood_estimate.log_likelihood_of_mean(self.likelihood, x, mean, keras.ops.convert_to_numpy(scale))

    def export_signatures(self):
        """The autoencoder's signatures, with ``encode`` giving the posterior (:meth:`posterior_outputs`), and
        ``sample`` (``n``, an int32 scalar ``-> samples``, ``(n, *data_shape)``: likelihood means of prior draws)."""
        signatures = super().export_signatures()
        x = signatures["encode"].specs
        signatures["encode"] = ExportSignature(lambda x: self.posterior_outputs(self.encode(x)), x)
        n = tf.TensorSpec((), tf.int32, name="n")
        signatures["sample"] = ExportSignature(
            lambda n: float32_outputs(samples=self.decode(self.prior().sample(n))), (n,), random=True)
        return signatures

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        config.pop("reconstruction_loss", None)
        config.pop("output_activation", None)
        names = ("posterior", "likelihood", "likelihood_scale", "num_bins", "beta", "kl_warmup_steps", "num_samples",
                 "analytic_kl", "min_scale", "seed", "flow_steps")
        config.update(latent_dim=self._latent_dim, **{name: getattr(self, name) for name in names})
        units = self.flow_hidden_units
        config["flow_hidden_units"] = None if units is None else list(units)
        named = self._prior_name is not None
        config.update(prior=self._prior_name if named else keras.saving.serialize_keras_object(self.prior_layer),
                      num_components=self.prior_layer.num_components if named else None)
        return config
