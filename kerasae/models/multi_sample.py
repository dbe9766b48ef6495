"""The multi-sample objectives of Rainforth et al. (2018), each with the IWAE as a special case: MIWAE, CIWAE
and PIWAE.

Each is an :class:`~kerasae.IWAE` (the same networks, posteriors, likelihoods, ``log_likelihood`` and exports)
trained on another bound of the importance weights ``log w_s = log p(x|z_s) + log p(z_s) - log q(z_s|x)``:

* :class:`MIWAE` ``(M, K)``: the average of ``M`` independent ``K``-sample IWAE bounds.
* :class:`CIWAE` ``(beta)``: ``beta * ELBO + (1 - beta) * L_K``.
* :class:`PIWAE` ``(M, K)``: the encoder on MIWAE ``(M, K)``, the decoder on the IWAE bound of all ``M K``
  samples; the one variant with its own ``train_step`` (two gradients of one forward pass).

Their rationale: a tighter bound helps the generative network but lowers the signal-to-noise ratio of the
inference network's gradient; these trade the two.
"""

import math

import keras
import tensorflow as tf

from kerasae.models.iwae import IWAE, log_importance_weights
from kerasae.utils.validation import check_number, check_positive_int


def multiply_importance_weighted_bound(parts, num_groups, num_samples):
    """``L_{M,K} = (1/M) sum_m [logsumexp_k log w_{m,k} - log K]`` per example: the mean of ``M`` ``K``-sample
    importance-weighted bounds over disjoint groups of the samples.

    Args:
        parts: :meth:`kerasae.VAE.log_weights`'s dict, drawn with ``M K`` samples (``log_px_z``, ``log_pz``,
            ``log_qz``, each ``(M K, batch)``); sample ``s`` belongs to group ``s // K``.
        num_groups: ``M``.
        num_samples: ``K``, the samples of each group.

    Returns:
        A float32 tensor ``(batch,)``. ``M = 1`` gives :func:`kerasae.models.iwae.importance_weighted_bound`;
        ``K = 1`` gives the ELBO's Monte Carlo estimate ``mean_s log w_s``.
    """
    log_w = tf.reshape(log_importance_weights(parts), (num_groups, num_samples, -1))
    return tf.reduce_mean(tf.reduce_logsumexp(log_w, axis=1), axis=0) - math.log(num_samples)


@keras.saving.register_keras_serializable(package="kerasae")
class MIWAE(IWAE):
    """Multiply importance-weighted autoencoder: a VAE trained on the average of ``M`` independent ``K``-sample
    importance-weighted bounds (``M = num_groups``, ``K = num_samples``).

    Objective (minimised), per example, with ``M K`` reparameterised samples ``z_{m,k} ~ q(z|x)``:

        loss = -L_{M,K}(x),  L_{M,K}(x) = (1/M) sum_m [logsumexp_k log w_{m,k} - log K],
        log w_{m,k} = log p(x|z_{m,k}) + log p(z_{m,k}) - log q(z_{m,k}|x)

    ``M = 1`` is the IWAE (``L_K``) and ``K = 1`` the ELBO estimated with ``M`` samples: for ``M K`` samples,
    ``L_{M,K}`` is looser than ``L_{MK}`` but its inference-network gradient has a higher signal-to-noise ratio.
    Metrics: ``loss``, ``miwae_bound`` (``L_{M,K}``), ``iwae_bound`` (``L_{MK}``, the IWAE bound of all ``M K``
    samples), and the diagnostics ``reconstruction_nll``, ``kl`` and ``elbo`` from the same samples.

    Args:
        encoder, decoder: As for :class:`~kerasae.VAE`.
        num_groups: ``M``, the bounds averaged, >= 1.
        num_samples: ``K``, the samples of each bound, >= 1 (a step draws ``M K`` per example).
        **kwargs: As for :class:`~kerasae.IWAE` (``beta`` and ``kl_warmup_steps`` must stay 1 and 0).

    Returns:
        Called on a batch, the reconstruction (as :class:`~kerasae.VAE`).

    Example:
        >>> model = kerasae.MIWAE.create((784,), 50, hidden_units=(200, 200), activation="tanh",
        ...                              num_groups=8, num_samples=8)

    References:
        Rainforth et al. (2018), Tighter variational bounds are not necessarily better. ICML.
    """

    loss_terms = ("reconstruction_nll", "kl", "elbo", "iwae_bound", "miwae_bound")
    diagnostic_terms = loss_terms
    objective_term = "miwae_bound"

    def __init__(self, encoder, decoder, num_groups=8, num_samples=8, **kwargs):
        num_groups = check_positive_int("num_groups", num_groups)
        super().__init__(encoder, decoder, num_samples=num_samples, **kwargs)
        self.num_groups = num_groups

    @property
    def samples_per_example(self):
        """``M K``: every group's samples, drawn at once."""
        return self.num_groups * self.num_samples

    def bound_terms(self, parts, terms):
        bounds = super().bound_terms(parts, terms)  # iwae_bound: L_{MK}
        bounds["miwae_bound"] = multiply_importance_weighted_bound(parts, self.num_groups, self.num_samples)
        return bounds

    def get_config(self):
        config = super().get_config()
        config.update(num_groups=self.num_groups)
        return config


@keras.saving.register_keras_serializable(package="kerasae")
class CIWAE(IWAE):
    """Combination importance-weighted autoencoder: a VAE trained on a convex combination of the ELBO and the
    ``K``-sample importance-weighted bound (``K = num_samples``), from the same samples.

    Objective (minimised), per example, with ``K`` reparameterised samples ``z_k ~ q(z|x)``:

        loss = -(beta * ELBO(x) + (1 - beta) * L_K(x)),
        ELBO(x) = (1/K) sum_k log p(x|z_k) - KL(q(z|x) || p(z)),
        L_K(x) = logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K

    The ELBO is the VAE's (the KL in closed form where tfp has it, or the Monte Carlo ``mean_k [log q - log p]``
    with ``analytic_kl=False``), so ``beta = 1`` trains a VAE with ``K`` samples and ``beta = 0`` the IWAE.
    ``beta`` here is Rainforth et al.'s weight of the ELBO, not the beta-VAE's KL weight (which stays 1).
    Metrics: ``loss``, ``ciwae_bound`` (the combination), ``iwae_bound`` (``L_K``), and the diagnostics
    ``reconstruction_nll``, ``kl`` and ``elbo`` from the same samples.

    Args:
        encoder, decoder: As for :class:`~kerasae.VAE`.
        beta: Weight of the ELBO, in [0, 1].
        num_samples: ``K``, >= 1.
        **kwargs: As for :class:`~kerasae.IWAE` (no KL warm-up).

    Returns:
        Called on a batch, the reconstruction (as :class:`~kerasae.VAE`).

    Example:
        >>> model = kerasae.CIWAE.create((784,), 50, hidden_units=(200, 200), activation="tanh", beta=0.5,
        ...                              num_samples=64)

    References:
        Rainforth et al. (2018), Tighter variational bounds are not necessarily better. ICML.
    """

    loss_terms = ("reconstruction_nll", "kl", "elbo", "iwae_bound", "ciwae_bound")
    diagnostic_terms = loss_terms
    objective_term = "ciwae_bound"

    def __init__(self, encoder, decoder, beta=0.5, num_samples=64, **kwargs):
        beta = check_number("beta", beta, minimum=0, maximum=1, hint="the weight of the ELBO")
        super().__init__(encoder, decoder, num_samples=num_samples, **kwargs)
        self.beta = beta  # the VAE's KL weight stays 1 (kl_weight)

    @classmethod
    def check_unit_kl_weight(cls, kwargs):
        """Raises ``ValueError`` for a KL warm-up (``beta`` is this model's own argument)."""
        if kwargs.get("kl_warmup_steps", 0):
            raise ValueError(
                f"{cls.__name__} trains on a combination of bounds without a KL weight to warm up. Expected "
                f"kl_warmup_steps=0. Received: kl_warmup_steps={kwargs['kl_warmup_steps']!r}. Fix: use VAE for a "
                "KL warm-up."
            )

    def kl_weight(self):
        """The KL's weight in the ELBO: 1 (``beta`` weighs the ELBO against the IWAE bound instead)."""
        return tf.constant(1.0, "float32")

    def bound_terms(self, parts, terms):
        bounds = super().bound_terms(parts, terms)  # iwae_bound: L_K
        bounds["ciwae_bound"] = self.beta * terms["elbo"] + (1.0 - self.beta) * bounds["iwae_bound"]
        return bounds


@keras.saving.register_keras_serializable(package="kerasae")
class PIWAE(MIWAE):
    """Partially importance-weighted autoencoder: the inference network trained on the MIWAE bound
    ``L_{M,K}`` and the generative network on the IWAE bound ``L_{MK}`` of the same ``M K`` samples.

    Per example, with ``M K`` reparameterised samples ``z_{m,k} ~ q_phi(z|x)`` and
    ``log w_{m,k} = log p_theta(x, z_{m,k}) - log q_phi(z_{m,k}|x)``, one training step follows

        phi   <- step(grad_phi   -L_{M,K}(x)),  L_{M,K} = (1/M) sum_m [logsumexp_k log w_{m,k} - log K]
        theta <- step(grad_theta -L_{MK}(x)),   L_{MK}  = logsumexp_{m,k} log w_{m,k} - log (M K)

    two gradients of one forward pass, applied as one optimizer step. ``phi`` are the variables of the
    networks named in ``inference_networks`` (the encoder and the posterior layer), ``theta`` those of
    ``generative_networks`` (the decoder, the likelihood layer, a learned scale included, and the prior); the
    two must hold every trainable variable, none twice. The reported ``loss`` is ``-L_{MK}`` (the generative network's
    objective, comparable with an IWAE of ``M K`` samples); ``miwae_bound`` is the inference network's.
    ``M = 1`` trains exactly as the IWAE with ``K`` samples. Metrics: ``loss``, ``iwae_bound``,
    ``miwae_bound``, and the diagnostics ``reconstruction_nll``, ``kl`` and ``elbo``.

    Args:
        encoder, decoder: As for :class:`~kerasae.VAE`.
        num_groups: ``M``, >= 1.
        num_samples: ``K``, >= 1 (a step draws ``M K`` per example).
        **kwargs: As for :class:`~kerasae.IWAE`.

    Returns:
        Called on a batch, the reconstruction (as :class:`~kerasae.VAE`).

    Example:
        >>> model = kerasae.PIWAE.create((784,), 50, hidden_units=(200, 200), activation="tanh",
        ...                              num_groups=8, num_samples=8)
        >>> model.compile(optimizer="adam")
        >>> model.fit(x_train, epochs=10, batch_size=100)

    References:
        Rainforth et al. (2018), Tighter variational bounds are not necessarily better. ICML.
    """

    objective_term = "iwae_bound"
    #: The bound the inference network's gradient follows.
    inference_objective_term = "miwae_bound"
    #: Attributes holding the inference network ``q(z|x)``, and the generative network ``p(x|z)``.
    inference_networks = ("encoder", "posterior_layer")
    generative_networks = ("decoder", "likelihood_layer", "prior_layer")

    def variable_groups(self):
        """``(inference, generative)``: the model's trainable variables split by the networks that hold them
        (:attr:`inference_networks`, :attr:`generative_networks`), each list in ``trainable_variables`` order.

        Raises:
            ValueError: for a variable in both groups (shared weights) or in neither.
        """
        owned = {}
        for group, names in (("inference", self.inference_networks), ("generative", self.generative_networks)):
            for name in names:
                for variable in getattr(self, name).trainable_variables:
                    owned.setdefault(id(variable), set()).add(group)
        variables = self.trainable_variables
        wrong = [(v.path, sorted(owned.get(id(v), ()))) for v in variables if len(owned.get(id(v), ())) != 1]
        if wrong:
            raise ValueError(
                f"{type(self).__name__} trains the inference and generative networks on different bounds, so each "
                f"trainable variable must belong to exactly one of {self.inference_networks} (inference) and "
                f"{self.generative_networks} (generative). Received variables in both or neither: {wrong}. Fix: "
                "do not share layers between the encoder and the decoder, or declare the networks holding them."
            )
        inference = [v for v in variables if owned[id(v)] == {"inference"}]
        generative = [v for v in variables if owned[id(v)] == {"generative"}]
        return inference, generative

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        target = self.targets(x, y)
        inference, generative = self.variable_groups()
        with tf.GradientTape(persistent=True) as tape:
            terms, prediction = self.compute_loss_terms(x, target, training=True)
            regularization = self.regularization_loss()
            penalty = tf.nn.scale_regularization_loss(regularization)
            losses = [
                self.optimizer.scale_loss(tf.nn.compute_average_loss(-terms[name], sample_weight=sample_weight) + penalty)
                for name in (self.inference_objective_term, self.objective_term)
            ]
        gradients = {id(v): g for v, g in zip(inference, tape.gradient(losses[0], inference))}
        gradients.update({id(v): g for v, g in zip(generative, tape.gradient(losses[1], generative))})
        del tape
        variables = self.trainable_variables  # one step, in the order the optimizer's state is built and saved
        self.optimizer.apply_gradients([(gradients[id(v)], v) for v in variables])
        metric_weight = self.update_metrics(
            terms, self.combine_loss_terms(terms) + regularization, regularization, target, prediction, sample_weight
        )
        return self._logs(x, target, prediction, metric_weight)
