"""The contractive autoencoder: a penalty on the Frobenius norm of the encoder's Jacobian.

Example:
    >>> encoder, decoder = kerasae.networks.mlp((64,), latent_dim=16, hidden_units=(), code_activation="sigmoid")
    >>> model = kerasae.contractive.ContractiveAutoencoder(encoder, decoder, contractive_weight=0.1)
    >>> model.uses_closed_form  # a single sigmoid layer: the closed form is used
    True
    >>> norms = kerasae.contractive.jacobian_norm(model.encoder, x_test)  # ||dh/dx||_F^2 per example
"""

import keras

from kerasae.models.autoencoder import Autoencoder
from kerasae.ops import sampling
from kerasae.ops.jacobian import (  # noqa: F401  (the norms, also reachable from here)
    ELEMENTWISE_ACTIVATIONS,
    PENALTY_METHODS,
    autodiff_jacobian_norm,
    dense_chain,
    exact_method,
    hutchinson_jacobian_norm,
    jacobian_norm,
    mlp_jacobian_norm,
    quadratic_form_applies,
    sigmoid_dense_layer,
    sigmoid_jacobian_norm,
)
from kerasae.utils.validation import check_number, check_positive_int


@keras.saving.register_keras_serializable(package="kerasae")
class ContractiveAutoencoder(Autoencoder):
    """An autoencoder whose code is made insensitive to small input changes by a Jacobian penalty.

    Objective, averaged over the batch:

        loss = mean_n [ r(x_n, g(h(x_n))) + lambda * ||dh(x_n)/dx_n||_F^2 ] + l2 * sum_W ||W||_F^2

    with ``h`` the encoder, ``g`` the decoder and ``lambda`` the ``contractive_weight``. For an encoder
    ``h = sigmoid(W x + b)`` (one sigmoid Dense layer) the penalty has the closed form

        ||dh/dx||_F^2 = sum_k (h_k (1 - h_k))^2 sum_m W_km^2,

    used automatically. An MLP encoder (Dense layers with elementwise activations, see :func:`dense_chain`)
    gets the exact norm in matrix form with ``G = W_1^T W_1`` (:func:`mlp_jacobian_norm`): for one hidden
    layer and a linear code the quadratic form ``s^T (G * H) s`` (``h_1^2`` multiply-adds per example);
    otherwise ``tr(B G B^T)`` (about ``k h_1 h_2`` multiply-adds per example twice over, several times a
    plain step's work). Any other encoder gets the exact norm by autodiff (:func:`autodiff_jacobian_norm`),
    an extra forward and backward pass of the encoder on the batch tiled ``k`` times.
    ``penalty_method="hutchinson"`` uses the unbiased estimate ``E_v ||J^T v||^2`` with
    ``num_projections`` Rademacher vectors instead, about one extra backward pass per projection. What each
    method costs against a plain step is measured in benchmarks/RESULTS.md. The
    penalty is tracked as the metric ``contractive_penalty`` (``lambda`` times the mean norm).

    Args:
        encoder: A Keras model mapping inputs to codes.
        decoder: A Keras model mapping codes to pre-activations of the input's shape.
        contractive_weight: ``lambda`` >= 0.
        penalty_method: ``"auto"`` (the first exact method that applies), ``"closed_form"``, ``"mlp"``,
            ``"autodiff"`` (see :func:`jacobian_norm`) or ``"hutchinson"`` (see
            :func:`hutchinson_jacobian_norm`). ``training_method`` tells which one the training step uses.
        num_projections: Random projections of the ``"hutchinson"`` estimate, >= 1.
        seed: Seed of the ``"hutchinson"`` projections (``None``: random).
        **kwargs: Passed to :class:`kerasae.Autoencoder` (``reconstruction_loss``, ``l2``, ...).

    Example:
        >>> encoder, decoder = kerasae.networks.mlp((64,), 16, hidden_units=(), code_activation="sigmoid")
        >>> model = kerasae.contractive.ContractiveAutoencoder(encoder, decoder, contractive_weight=0.1)

    References:
        Rifai, Vincent, Muller, Glorot & Bengio (2011), Contractive auto-encoders: explicit invariance
        during feature extraction. ICML.
    """

    loss_terms = ("reconstruction_loss", "contractive_penalty")
    undercomplete = False

    def __init__(
        self, encoder, decoder, contractive_weight=0.1, penalty_method="auto", num_projections=1, seed=None, **kwargs
    ):
        contractive_weight = check_number("contractive_weight", contractive_weight, minimum=0)
        num_projections = check_positive_int("num_projections", num_projections)
        training_method = exact_method(encoder, penalty_method, training=True)  # also checks the method
        super().__init__(encoder, decoder, **kwargs)
        self.contractive_weight = float(contractive_weight)
        self.penalty_method = penalty_method
        self.num_projections = num_projections
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.training_method = training_method  # The method of the training step: see exact_method().
        self.uses_closed_form = training_method == "closed_form"

    def code_penalties(self, x, code, training=False):
        if self.penalty_method == "hutchinson":
            seed = sampling.next_seed(self.seed_generator)
            norms = hutchinson_jacobian_norm(self.encoder, x, seed, self.num_projections, training=training)
        else:
            norms = jacobian_norm(self.encoder, x, training=training, method=self.penalty_method, code=code)
        return {"contractive_penalty": self.contractive_weight * norms}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "contractive_weight": self.contractive_weight,
                "penalty_method": self.penalty_method,
                "num_projections": self.num_projections,
                "seed": self.seed,
            }
        )
        return config
