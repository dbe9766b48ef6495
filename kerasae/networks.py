"""Builders for encoder and decoder networks.

Every builder returns a pair of functional ``keras.Model`` objects ``(encoder, decoder)``. The decoder
mirrors the encoder: its layer sizes are the encoder's in reverse order, so the network narrows gradually
to the code and widens back. The decoder ends in a linear layer (pre-activations); the model applies the
output activation that matches its loss (a sigmoid for data in [0, 1]).

Example:
    >>> encoder, decoder = kerasae.networks.mlp((64,), latent_dim=8)
    >>> [layer.units for layer in encoder.layers if hasattr(layer, "units")]
    [32, 16, 8]
"""

import math

import keras
from keras import layers

from kerasae.layers.tied import TiedDense
from kerasae.utils.validation import check_number, check_positive_int

#: Architectures known to :func:`build`.
ARCHITECTURES = ("mlp", "conv")


def default_hidden_units(input_dim, latent_dim, depth=2):
    """Hidden widths of a default MLP: ``depth`` layers halving from ``min(512, max(256, 4 * input_dim))``,
    none narrower than the code.

    Wide enough that a default autoencoder beats PCA of its code size (on the 8x8 digits, 64 -> 8: ``(256,
    128)``; a pyramid narrowing from the input, ``(32, 16)``, lost to PCA), and the common MNIST width
    (784 -> ``(512, 256)``).

    Args:
        input_dim: Number of input features.
        latent_dim: Size of the code.
        depth: Number of hidden layers.

    Returns:
        A tuple of ``depth`` non-increasing widths, e.g. ``(256, 128)`` for 64 -> 8.
    """
    first = min(512, max(256, 4 * int(input_dim)))
    return tuple(max(int(latent_dim), first // 2**i) for i in range(depth))


def mlp(
    input_shape,
    latent_dim,
    hidden_units=None,
    activation="relu",
    code_activation=None,
    dropout=0.0,
    decoder_outputs=1,
    tied_weights=False,
    name="mlp",
):
    """Builds a fully connected encoder and its mirrored decoder.

    Inputs of any rank are flattened by the encoder and reshaped back by the decoder, so the same
    builder serves flat vectors and images.

    Args:
        input_shape: Shape of one example, e.g. ``(64,)`` or ``(28, 28, 1)``.
        latent_dim: Size of the code (the encoder's output width).
        hidden_units: Widths of the encoder's hidden layers, widest first; the decoder uses them in
            reverse. ``None`` picks ``default_hidden_units(input_dim, latent_dim, 2)``; ``()`` gives a
            single linear map each way.
        activation: Activation of the hidden layers.
        code_activation: Activation of the code layer (``None`` for linear; ``"sigmoid"`` for the
            contractive autoencoder's closed form; ``"relu"`` for a non-negative sparse code).
        dropout: Dropout rate after each hidden layer, in [0, 1).
        decoder_outputs: Number of values the decoder produces per input feature (1 for a mean or logits;
            2 for a Gaussian with a learned scale). They are stacked on the last axis.
        tied_weights: Each decoder layer uses the transposed kernel of its mirror encoder layer
            (:class:`kerasae.layers.tied.TiedDense`, ``W' = W^T``) and owns only its bias; needs
            ``decoder_outputs=1``. Such a decoder is not rebuilt from its own config: a model that uses it
            re-ties it from its own options (``kerasae.StackedAutoencoder(..., tied_weights=True)``).
        name: Prefix for the two models' names.

    Returns:
        ``(encoder, decoder)``: the encoder maps ``(batch, *input_shape)`` to ``(batch, latent_dim)``; the
        decoder maps ``(batch, latent_dim)`` to ``(batch, *input_shape)`` (last axis times
        ``decoder_outputs``), linear outputs.
    """
    input_shape = tuple(int(d) for d in input_shape)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    decoder_outputs = check_positive_int("decoder_outputs", decoder_outputs)
    dropout = check_number("dropout", dropout, minimum=0, maximum=1, exclusive_maximum=True)
    input_dim = math.prod(input_shape)
    if hidden_units is None:
        hidden_units = default_hidden_units(input_dim, latent_dim)
    hidden_units = tuple(check_positive_int("hidden_units", units) for units in hidden_units)
    if tied_weights and decoder_outputs != 1:
        raise ValueError("Expected decoder_outputs=1 with tied_weights (the decoder's last kernel is the first "
                         f"layer's, transposed: one value per input). Received: decoder_outputs={decoder_outputs}.")

    inputs = keras.Input(input_shape, name="x")
    h = layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    dense = []
    for i, units in enumerate(hidden_units):
        dense.append(layers.Dense(units, activation=activation, name=f"hidden_{i}"))
        h = dense[-1](h)
        if dropout:
            h = layers.Dropout(dropout, name=f"dropout_{i}")(h)
    dense.append(layers.Dense(latent_dim, activation=code_activation, name="code"))
    code = dense[-1](h)
    encoder = keras.Model(inputs, code, name=f"{name}_encoder")

    def decoder_layer(index, units, **options):  # index: the mirrored encoder layer's, counted from the code
        if tied_weights:
            return TiedDense(dense[len(dense) - 1 - index], **options)
        return layers.Dense(units, **options)

    z = keras.Input((latent_dim,), name="z")
    h = z
    for i, units in enumerate(reversed(hidden_units)):
        h = decoder_layer(i, units, activation=activation, name=f"hidden_{i}")(h)
        if dropout:
            h = layers.Dropout(dropout, name=f"dropout_{i}")(h)
    out_shape = input_shape[:-1] + (input_shape[-1] * decoder_outputs,)
    h = decoder_layer(len(hidden_units), math.prod(out_shape), name="output")(h)
    if len(out_shape) > 1:
        h = layers.Reshape(out_shape, name="reshape")(h)
    decoder = keras.Model(z, h, name=f"{name}_decoder")
    return encoder, decoder


def conv(
    input_shape,
    latent_dim,
    filters=(32, 64),
    kernel_size=3,
    activation="relu",
    code_activation=None,
    dropout=0.0,
    decoder_outputs=1,
    name="conv",
):
    """Builds a convolutional encoder and its mirrored transposed-convolution decoder.

    Each encoder block is a stride-2 ``Conv2D`` that halves height and width; the code is a dense layer
    on the flattened feature map. The decoder maps the code back to that feature map and undoes the
    blocks with stride-2 ``Conv2DTranspose`` layers in reverse order. Works for any image whose height
    and width are divisible by ``2 ** len(filters)``: 28x28x1 (MNIST) and 8x8x1 (digits) with the default.

    Args:
        input_shape: ``(height, width, channels)``.
        latent_dim: Size of the code.
        filters: Filters of the encoder's convolution blocks, in order; the decoder uses them reversed.
        kernel_size: Convolution kernel size.
        activation: Activation of the convolution blocks.
        code_activation: Activation of the code layer.
        dropout: Dropout rate after each block, in [0, 1).
        decoder_outputs: Output channels per input channel (2 for a Gaussian with learned scale).
        name: Prefix for the two models' names.

    Returns:
        ``(encoder, decoder)`` as for :func:`mlp`.

    Raises:
        ValueError: if the input is not an image or its size is not divisible by ``2 ** len(filters)``.
    """
    input_shape = tuple(int(d) for d in input_shape)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    decoder_outputs = check_positive_int("decoder_outputs", decoder_outputs)
    dropout = check_number("dropout", dropout, minimum=0, maximum=1, exclusive_maximum=True)
    filters = tuple(check_positive_int("filters", f) for f in filters)
    if len(input_shape) != 3:
        raise ValueError(
            f"Expected image inputs of shape (height, width, channels) for a conv network. Received: "
            f"input_shape={input_shape}. Fix: load the data with flatten=False, or use the 'mlp' architecture."
        )
    height, width, channels = input_shape
    factor = 2 ** len(filters)
    if height % factor or width % factor:
        raise ValueError(
            f"Expected height and width divisible by 2**len(filters)={factor}. Received: "
            f"input_shape={input_shape}, filters={filters}. Fix: use fewer filter blocks or pad the images."
        )

    inputs = keras.Input(input_shape, name="x")
    h = inputs
    for i, f in enumerate(filters):
        h = layers.Conv2D(f, kernel_size, strides=2, padding="same", activation=activation, name=f"conv_{i}")(h)
        if dropout:
            h = layers.Dropout(dropout, name=f"dropout_{i}")(h)
    feature_shape = tuple(h.shape[1:])
    h = layers.Flatten(name="flatten")(h)
    code = layers.Dense(latent_dim, activation=code_activation, name="code")(h)
    encoder = keras.Model(inputs, code, name=f"{name}_encoder")

    z = keras.Input((latent_dim,), name="z")
    h = layers.Dense(math.prod(feature_shape), activation=activation, name="dense")(z)
    h = layers.Reshape(feature_shape, name="reshape")(h)
    for i, f in enumerate(reversed(filters)):
        h = layers.Conv2DTranspose(
            f, kernel_size, strides=2, padding="same", activation=activation, name=f"deconv_{i}"
        )(h)
        if dropout:
            h = layers.Dropout(dropout, name=f"dropout_{i}")(h)
    h = layers.Conv2D(channels * decoder_outputs, kernel_size, padding="same", name="output")(h)
    decoder = keras.Model(z, h, name=f"{name}_decoder")
    return encoder, decoder


def build(architecture, input_shape, latent_dim, **kwargs):
    """Builds ``(encoder, decoder)`` for a named architecture.

    Args:
        architecture: ``"mlp"`` or ``"conv"``.
        input_shape: Shape of one example.
        latent_dim: Size of the code.
        **kwargs: Passed to :func:`mlp` or :func:`conv`.

    Returns:
        ``(encoder, decoder)``.

    Raises:
        ValueError: for an unknown architecture.
    """
    builders = {"mlp": mlp, "conv": conv}
    if architecture not in builders:
        raise ValueError(
            f"Unknown architecture {architecture!r}. Expected one of {list(ARCHITECTURES)}."
        )
    return builders[architecture](input_shape, latent_dim, **kwargs)
