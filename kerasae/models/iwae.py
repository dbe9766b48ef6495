"""The importance-weighted autoencoder (IWAE): a VAE trained on the K-sample bound."""

import math

import keras
import tensorflow as tf

from kerasae.models.vae import VAE

@keras.saving.register_keras_serializable(package="kerasae")
class IWAE(VAE):
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

    loss_terms = ("reconstruction_nll", "kl", "elbo", "iwae_bound")
    diagnostic_terms = ("reconstruction_nll", "kl", "elbo", "iwae_bound")

    def __init__(self, encoder, decoder, num_samples=5, **kwargs):
        if float(kwargs.get("beta", 1.0)) != 1.0 or kwargs.get("kl_warmup_steps", 0):
            raise ValueError(
                "IWAE trains on the importance-weighted bound, which has no KL weight. Expected beta=1 and "
                f"kl_warmup_steps=0. Received: beta={kwargs.get('beta')!r}, "
                f"kl_warmup_steps={kwargs.get('kl_warmup_steps')!r}. Fix: use VAE for a beta-VAE or warm-up."
            )
        super().__init__(encoder, decoder, num_samples=num_samples, **kwargs)

    def compute_loss_terms(self, x, target, training=False):
        parts = self.log_weights(x, self.num_samples, training=training)
        terms = self._elbo_terms(parts)
        log_w = parts["log_px_z"] + parts["log_pz"] - parts["log_qz"]
        terms["iwae_bound"] = tf.reduce_logsumexp(log_w, axis=0) - math.log(self.num_samples)
        prediction = tf.reduce_mean(self._likelihood_mean(parts["likelihood"]), axis=0)
        return terms, prediction

    def combine_loss_terms(self, terms):
        return -terms["iwae_bound"]
