"""The linear autoencoder and its closed-form counterpart, principal component analysis.

A linear autoencoder trained with squared error learns the principal subspace of its data: at the
optimum the decoder's columns span the top-``k`` principal components (Baldi & Hornik, 1989), and its
reconstruction error equals that of PCA with ``k`` components. :func:`pca` computes that optimum in closed
form (a numpy SVD) so that a trained model can be checked against it, and :func:`principal_angles`
measures how far two subspaces are apart.

Example:
    >>> model = kerasae.linear.LinearAutoencoder.from_shape((64,), latent_dim=8)
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-2))
    >>> model.fit(x_train, epochs=200, batch_size=len(x_train), verbose=0)
    >>> reference = kerasae.linear.pca(x_train, 8)
    >>> np.mean((reference.reconstruct(x_test) - x_test) ** 2)
"""

import dataclasses
import math

import keras
import numpy as np

from kerasae.data import datasets
from kerasae.models.autoencoder import Autoencoder
from kerasae.utils.validation import check_int, check_number, check_positive_int

#: Layers that keep a network linear (affine): anything else makes the autoencoder non-linear.
_LINEAR_LAYERS = (keras.layers.InputLayer, keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dropout)


def _nonlinear_layers(network):
    """Names of the layers of ``network`` that are not affine (empty for a linear network)."""
    found = []
    for layer in getattr(network, "layers", [network]):
        if isinstance(layer, _LINEAR_LAYERS):
            continue
        if isinstance(layer, keras.layers.Dense) and layer.activation in (None, keras.activations.linear):
            continue
        found.append(layer.name)
    return found


@keras.saving.register_keras_serializable(package="kerasae")
class LinearAutoencoder(Autoencoder):
    """A linear autoencoder: affine encoder and decoder trained with squared error.

    Objective, averaged over the batch:

        loss = mean_n mean_d (x_nd - x^_nd)^2,   z = W x + b,   x^ = V z + c

    with ``W`` of shape ``(k, d)`` and ``V`` of shape ``(d, k)`` (Keras stores their transposes as the
    Dense kernels). Its minimisers are the PCA solutions: ``V`` spans the top-``k`` principal subspace of
    the data and ``V W`` is the orthogonal projection onto it (after centring by ``c``), so the
    reconstruction error equals PCA's. ``W`` and ``V`` themselves are only determined up to an
    invertible ``k x k`` matrix, so the columns of ``V`` are not the principal components themselves.

    Args:
        encoder: An affine network, e.g. from :meth:`from_shape` or
            ``kerasae.networks.mlp(input_shape, k, hidden_units=(), activation=None)``. Only ``Dense``
            layers without activation, ``Flatten``, ``Reshape`` and ``Dropout`` are allowed.
        decoder: An affine network mapping codes back to the input's shape.
        reconstruction_loss: ``"mse"`` (the squared error that makes the model PCA).
        output_activation: ``"linear"`` (a sigmoid would make the model non-linear).
        l2: Weight of the L2 penalty on the kernels, >= 0.
        **kwargs: Passed to :class:`kerasae.Autoencoder`.

    Raises:
        ValueError: if a network contains a non-linear layer, or the loss or output activation is not
            the linear model's.

    Example:
        >>> model = kerasae.linear.LinearAutoencoder.from_shape((64,), latent_dim=8)
        >>> model.compile(optimizer="adam")
        >>> model.fit(x_train, epochs=100, batch_size=256, verbose=0)
        >>> basis = model.decoder_basis()  # (64, 8), orthonormal, spans the principal subspace

    References:
        Baldi & Hornik (1989), Neural networks and principal component analysis: learning from examples
        without local minima. Neural Networks 2(1).
        Bourlard & Kamp (1988), Auto-association by multilayer perceptrons and singular value
        decomposition. Biological Cybernetics 59.
    """

    def __init__(self, encoder, decoder, reconstruction_loss="mse", output_activation="linear", l2=0.0, **kwargs):
        if reconstruction_loss != "mse" or output_activation != "linear":
            raise ValueError(
                "A LinearAutoencoder is trained with squared error on linear outputs (that makes it PCA). "
                f"Expected reconstruction_loss='mse' and output_activation='linear'. Received: "
                f"reconstruction_loss={reconstruction_loss!r}, output_activation={output_activation!r}. "
                "Fix: use kerasae.Autoencoder for other losses or activations."
            )
        for role, network in (("encoder", encoder), ("decoder", decoder)):
            bad = _nonlinear_layers(network)
            if bad:
                raise ValueError(
                    f"Expected an affine {role} (Dense layers without activation, Flatten, Reshape, Dropout). "
                    f"Received a {role} with non-linear layers {bad}. Fix: build the networks with "
                    "LinearAutoencoder.from_shape(input_shape, latent_dim), or use kerasae.Autoencoder."
                )
        super().__init__(
            encoder,
            decoder,
            reconstruction_loss=reconstruction_loss,
            output_activation=output_activation,
            l2=l2,
            **kwargs,
        )

    @classmethod
    def from_shape(cls, input_shape, latent_dim, dropout=0.0, **kwargs):
        """Builds a linear autoencoder with one ``Dense`` layer each way.

        Args:
            input_shape: Shape of one example, e.g. ``(64,)`` or ``(8, 8, 1)``.
            latent_dim: Number of components ``k``.
            dropout: Dropout rate on the encoder's input during training, in [0, 1) (a multiplicative
                noise that acts like a ridge penalty on the reconstruction).
            **kwargs: Passed to the constructor (``l2``, ``name``, ...).

        Returns:
            An uncompiled :class:`LinearAutoencoder`.
        """
        input_shape = tuple(int(d) for d in input_shape)
        dropout = check_number("dropout", dropout, minimum=0, maximum=1, exclusive_maximum=True)
        latent_dim = check_positive_int("latent_dim", latent_dim)
        inputs = keras.Input(input_shape, name="x")
        h = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
        if dropout:
            h = keras.layers.Dropout(dropout, name="dropout")(h)
        encoder = keras.Model(inputs, keras.layers.Dense(latent_dim, name="code")(h), name="linear_encoder")
        z = keras.Input((latent_dim,), name="z")
        h = keras.layers.Dense(math.prod(input_shape), name="output")(z)
        if len(input_shape) > 1:
            h = keras.layers.Reshape(input_shape, name="reshape")(h)
        decoder = keras.Model(z, h, name="linear_decoder")
        return cls(encoder, decoder, **kwargs)

    def decoder_matrix(self):
        """The decoder's linear map ``V`` as a numpy array of shape ``(d, k)``."""
        kernels = [layer.kernel for layer in self.decoder.layers if isinstance(layer, keras.layers.Dense)]
        matrix = np.eye(self.latent_dim, dtype="float64")
        for kernel in kernels:
            matrix = matrix @ np.asarray(keras.ops.convert_to_numpy(kernel), dtype="float64")
        return matrix.T

    def decoder_basis(self):
        """An orthonormal basis ``(d, k)`` of the decoder's column space (the learned principal subspace)."""
        q, _ = np.linalg.qr(self.decoder_matrix())
        return q


@dataclasses.dataclass
class PCA:
    """The result of :func:`pca`: the closed-form optimum of a linear autoencoder.

    Attributes:
        mean: The data mean, shape ``(d,)``.
        components: The top-``k`` principal directions as orthonormal rows, shape ``(k, d)``.
        explained_variance: The variance along each component, shape ``(k,)``, decreasing.
        input_shape: Shape of one example (to restore images in :meth:`reconstruct`).
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    input_shape: tuple

    def encode(self, x):
        """Coordinates in the principal basis, ``(x - mean) components^T``, shape ``(n, k)``."""
        x = np.asarray(x, dtype="float64").reshape(len(x), -1)
        return (x - self.mean) @ self.components.T

    def decode(self, z):
        """Points of the principal subspace, ``z components + mean``, in the input's shape."""
        x = np.asarray(z, dtype="float64") @ self.components + self.mean
        return x.reshape((len(x),) + tuple(self.input_shape)).astype("float32")

    def reconstruct(self, x):
        """Orthogonal projection onto the principal affine subspace (the best rank-k reconstruction)."""
        return self.decode(self.encode(x))

    def mse(self, x):
        """Mean squared reconstruction error over examples and features."""
        x = np.asarray(x, dtype="float64")
        return float(np.mean((self.reconstruct(x) - x) ** 2))


def pca(x, k):
    """Principal component analysis by SVD of the centred data.

    Args:
        x: Samples of shape ``(n, ...)``; every non-batch axis is flattened.
        k: Number of components, between 1 and ``min(n, d)``.

    Returns:
        A :class:`PCA` with the mean, the top-``k`` components and their variances, whose
        ``reconstruct(x)`` gives the rank-``k`` PCA reconstruction.

    Raises:
        ValueError: for data that is not a finite array of samples, or ``k`` out of range.
    """
    x = datasets.check_array(x, unit_interval=False)
    input_shape = tuple(x.shape[1:])
    flat = x.reshape(len(x), -1).astype("float64")
    n, d = flat.shape
    k = check_int("k", k, minimum=1, maximum=min(n, d), hint="min of samples and features")
    mean = flat.mean(axis=0)
    _, singular_values, vt = np.linalg.svd(flat - mean, full_matrices=False)
    return PCA(
        mean=mean,
        components=vt[:k],
        explained_variance=singular_values[:k] ** 2 / max(n - 1, 1),
        input_shape=input_shape,
    )


def principal_angles(a, b):
    """The principal angles between the column spaces of two matrices, in radians, increasing.

    Args:
        a: A matrix ``(d, p)``.
        b: A matrix ``(d, q)``.

    Returns:
        ``min(p, q)`` angles in ``[0, pi/2]``; the last is the largest (0 for identical subspaces).
    """
    qa, _ = np.linalg.qr(np.asarray(a, dtype="float64"))
    qb, _ = np.linalg.qr(np.asarray(b, dtype="float64"))
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.sort(np.arccos(np.clip(cosines, -1.0, 1.0)))


# ---------------------------------------------------------------------------------------------- CLI
