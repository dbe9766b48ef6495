"""The sparse autoencoder: an L1 penalty on the code's activations.

Example:
    >>> encoder, decoder = kerasae.networks.mlp((64,), latent_dim=128, code_activation="relu")
    >>> model = kerasae.sparse.SparseAutoencoder(encoder, decoder, sparsity_weight=1e-3)
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(x_train, epochs=20, batch_size=64)
    >>> history.history["active_fraction"][-1]  # share of code units in use
"""

import keras
from keras import ops

from kerasae.models.autoencoder import Autoencoder
from kerasae.utils.validation import check_number


def _flatten_code(code):
    code = ops.cast(code, "float32")
    return ops.reshape(code, (ops.shape(code)[0], -1))


def l1_activity(code):
    """Per-example L1 norm of the code, ``||h(x_n)||_1 = sum_k |h_k(x_n)|``.

    Args:
        code: A batch of codes, shape ``(batch, ...)``.

    Returns:
        A float32 tensor of shape ``(batch,)``.
    """
    return ops.sum(ops.abs(_flatten_code(code)), axis=-1)


def active_fraction(code, threshold=1e-2):
    """Per-example share of code units whose magnitude exceeds ``threshold``.

    Args:
        code: A batch of codes, shape ``(batch, ...)``.
        threshold: Units with ``|h_k| > threshold`` count as active.

    Returns:
        A float32 tensor of shape ``(batch,)`` with values in [0, 1].
    """
    return ops.mean(ops.cast(ops.abs(_flatten_code(code)) > threshold, "float32"), axis=-1)


@keras.saving.register_keras_serializable(package="kerasae")
class SparseAutoencoder(Autoencoder):
    """An autoencoder whose code is pushed towards sparsity by an L1 activity penalty.

    Objective, averaged over the batch:

        loss = mean_n [ r(x_n, g(h(x_n))) + lambda * ||h(x_n)||_1 ] + l2 * sum_W ||W||_F^2

    with ``h`` the encoder, ``g`` the decoder, ``r`` the reconstruction loss and ``lambda`` the
    ``sparsity_weight``. Because the penalty, not the width, limits what the code can carry, the code may
    be over-complete (wider than the input). A code activation of ``"relu"`` gives exact zeros.

    Besides the loss terms (``reconstruction_loss``, ``sparsity_penalty`` = ``lambda * ||h||_1``) the
    model reports ``active_fraction``, the share of code units with ``|h_k| > activity_threshold``, as a
    diagnostic that is not part of the loss.

    Args:
        encoder: A Keras model mapping inputs to codes (e.g. ``kerasae.networks.mlp(...,
            code_activation="relu")``).
        decoder: A Keras model mapping codes to pre-activations of the input's shape.
        sparsity_weight: ``lambda`` >= 0, the weight of the L1 penalty.
        activity_threshold: Magnitude above which a code unit counts as active, > 0.
        **kwargs: Passed to :class:`kerasae.Autoencoder` (``reconstruction_loss``, ``l2``, ...).

    Example:
        >>> encoder, decoder = kerasae.networks.mlp((64,), 128, code_activation="relu")
        >>> model = kerasae.sparse.SparseAutoencoder(encoder, decoder, sparsity_weight=1e-3)

    References:
        Ng (2011), Sparse autoencoder. CS294A lecture notes, Stanford University.
        Goodfellow, Bengio & Courville (2016), Deep Learning, section 14.2.1.
    """

    loss_terms = ("reconstruction_loss", "sparsity_penalty", "active_fraction")
    diagnostic_terms = ("active_fraction",)
    undercomplete = False

    def __init__(self, encoder, decoder, sparsity_weight=1e-3, activity_threshold=1e-2, **kwargs):
        sparsity_weight = check_number("sparsity_weight", sparsity_weight, minimum=0)
        activity_threshold = check_number("activity_threshold", activity_threshold, minimum=0, exclusive_minimum=True)
        super().__init__(encoder, decoder, **kwargs)
        self.sparsity_weight = sparsity_weight
        self.activity_threshold = activity_threshold

    def code_penalties(self, x, code, training=False):
        return {
            "sparsity_penalty": self.sparsity_weight * l1_activity(code),
            "active_fraction": active_fraction(code, self.activity_threshold),
        }

    def get_config(self):
        config = super().get_config()
        config.update({"sparsity_weight": self.sparsity_weight, "activity_threshold": self.activity_threshold})
        return config


# ---------------------------------------------------------------------------------------------- CLI
