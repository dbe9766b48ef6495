"""The baseline every run is shown beside: PCA with as many components as the run's code has dimensions.

An autoencoder with a ``k``-dimensional code that reconstructs worse than the best rank-``k`` linear
projection (PCA, :func:`kerasae.models.linear.pca`, fitted on the same training images) has learnt nothing a
linear map could not; ``kerasae train`` writes both figures to ``metrics.json`` (``"pca_baseline"``) and draws
PCA's reconstructions under the model's.
"""

import math

import numpy as np


def pca_baseline(model, data, code_size):
    """The test mean squared reconstruction error of ``model`` (its ``reconstruct``: the likelihood mean of a
    VAE) and of PCA with ``min(code_size, features)`` components fitted on ``data``'s training split, on the
    same test images.

    Returns:
        ``(figures, pca)``: ``figures`` a dict (``components``, ``test_mse``, ``pca_test_mse``, ``ratio``:
        the model's error over PCA's, below 1 when the model wins) for ``metrics.json``; ``pca`` the fitted
        :class:`~kerasae.models.linear.PCA` (for the plots).
    """
    from kerasae.models.linear import pca

    x_train = np.asarray(data.x_train, dtype="float32")
    x_test = np.asarray(data.x_test, dtype="float32")
    k = max(1, min(int(code_size), math.prod(x_train.shape[1:]), len(x_train)))
    reference = pca(x_train, k)
    reconstructed = np.asarray(model.reconstruct(x_test), dtype="float64").reshape(x_test.shape)
    model_mse = float(np.mean((reconstructed - x_test) ** 2))
    pca_mse = reference.mse(x_test)
    figures = {"components": k, "test_mse": model_mse, "pca_test_mse": pca_mse,
               "ratio": model_mse / pca_mse if pca_mse > 0 else None}
    return figures, reference
