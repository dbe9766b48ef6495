"""The importance-weighted autoencoder (IWAE): a VAE trained on the K-sample bound.

The bound and the objective live in :class:`ImportanceWeighted`, a mixin for any VAE whose
:meth:`~kerasae.VAE.log_weights` gives ``log p(x|z)``, ``log p(z)`` and ``log q(z|x)``: :class:`IWAE` is it on
the :class:`~kerasae.VAE`, :class:`kerasae.models.hvae.HierarchicalIWAE` on the two-layer VAE.
"""

import math

import keras
import tensorflow as tf

from kerasae.models.vae import VAE


def log_importance_weights(parts):
    """``log w_s = log p(x|z_s) + log p(z_s) - log q(z_s|x)`` from :meth:`kerasae.VAE.log_weights`'s dict,
    a float32 tensor ``(S, batch)``."""
    return parts["log_px_z"] + parts["log_pz"] - parts["log_qz"]


def importance_weighted_bound(parts, num_samples):
    """``L_K = logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K`` per example.

    Args:
        parts: :meth:`kerasae.VAE.log_weights`'s dict (``log_px_z``, ``log_pz``, ``log_qz``, each ``(K, batch)``).
        num_samples: ``K``, the samples the parts hold.

    Returns:
        A float32 tensor ``(batch,)``.
    """
    return tf.reduce_logsumexp(log_importance_weights(parts), axis=0) - math.log(num_samples)


class ImportanceWeighted:
    """Mixin that trains a VAE subclass on the ``K``-sample bound (``K = num_samples``), placed before it in the
    bases (``class IWAE(ImportanceWeighted, VAE)``).

    Objective (minimised): ``-L_K(x)`` (:func:`importance_weighted_bound`). Metrics: ``loss``, ``iwae_bound``,
    and the diagnostics ``reconstruction_nll``, ``kl`` and ``elbo`` from the same samples. The VAE's ``beta``
    and KL warm-up do not apply: the constructor refuses them (:meth:`check_unit_kl_weight`).

    A variant on more samples or another bound overrides :attr:`samples_per_example` (how many samples a step
    draws), :meth:`bound_terms` (the bounds computed from them, each a metric declared in ``loss_terms``) and
    ``objective_term`` (the bound whose negative is the loss), as the multi-sample objectives do
    (:mod:`kerasae.models.multi_sample`).
    """

    loss_terms = ("reconstruction_nll", "kl", "elbo", "iwae_bound")
    diagnostic_terms = ("reconstruction_nll", "kl", "elbo", "iwae_bound")
    #: The class to name in the error for ``beta != 1`` or a KL warm-up.
    kl_weighted_class = "VAE"
    #: The term whose negative is the per-example loss: the bound the model maximises.
    objective_term = "iwae_bound"

    @classmethod
    def check_unit_kl_weight(cls, kwargs):
        """Raises ``ValueError`` unless ``kwargs`` leave ``beta`` at 1 and ``kl_warmup_steps`` at 0."""
        if float(kwargs.get("beta", 1.0)) != 1.0 or kwargs.get("kl_warmup_steps", 0):
            raise ValueError(
                f"{cls.__name__} trains on the importance-weighted bound, which has no KL weight. Expected beta=1 "
                f"and kl_warmup_steps=0. Received: beta={kwargs.get('beta')!r}, "
                f"kl_warmup_steps={kwargs.get('kl_warmup_steps')!r}. Fix: use {cls.kl_weighted_class} for a "
                "beta-VAE or warm-up."
            )

    @property
    def samples_per_example(self):
        """The samples ``z_s ~ q(z|x)`` a training step draws per example: ``K = num_samples`` here (the
        multi-sample objectives of :mod:`kerasae.models.multi_sample` draw ``M K``)."""
        return self.num_samples

    def bound_terms(self, parts, terms):
        """The bounds computed from one step's samples, ``name -> (batch,)`` tensor: ``iwae_bound``, the
        importance-weighted bound over every sample drawn, here. ``terms`` holds the ELBO terms of the same
        samples (``reconstruction_nll``, ``kl``, ``elbo``); variants add their own bounds."""
        return {"iwae_bound": importance_weighted_bound(parts, self.samples_per_example)}

    def compute_loss_terms(self, x, target, training=False):
        parts = self.log_weights(x, self.samples_per_example, training=training)
        terms = self._elbo_terms(parts)
        terms.update(self.bound_terms(parts, terms))
        prediction = tf.reduce_mean(self._likelihood_mean(parts["likelihood"]), axis=0)
        return terms, prediction

    def combine_loss_terms(self, terms):
        return -terms[self.objective_term]


@keras.saving.register_keras_serializable(package="kerasae")
class IWAE(ImportanceWeighted, VAE):
    """Importance-weighted autoencoder: a VAE trained on the ``K``-sample bound (``K = num_samples``).

    Objective (minimised), per example, with ``z_k ~ q(z|x)`` reparameterised:

        loss = -L_K(x),  L_K(x) = logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K

    ``L_1`` is the ELBO and ``L_K`` increases with ``K`` towards ``log p(x)``. Everything else (networks,
    posteriors, likelihoods, ``log_likelihood``) is the VAE's; ``beta`` and the KL warm-up do not apply.
    Metrics: ``loss``, ``iwae_bound`` (``L_K``), and the diagnostics ``reconstruction_nll``, ``kl`` and
    ``elbo`` computed from the same samples.

    Args:
        encoder, decoder, **kwargs: As for :class:`VAE`; ``num_samples`` defaults to 5.

    Example:
        >>> model = kerasae.IWAE.create((784,), 50, hidden_units=(200, 200), activation="tanh", num_samples=5)

    References:
        Burda, Grosse & Salakhutdinov (2016), Importance weighted autoencoders. ICLR.
    """

    def __init__(self, encoder, decoder, num_samples=5, **kwargs):
        self.check_unit_kl_weight(kwargs)
        super().__init__(encoder, decoder, num_samples=num_samples, **kwargs)
