"""The squared Frobenius norm of an encoder's Jacobian, ``||dh(x)/dx||_F^2`` per example, computed exactly
(closed form, matrix forms for MLPs, autodiff) or estimated (Hutchinson): the contractive penalty.

Example:
    >>> encoder, _ = kerasae.networks.mlp((64,), latent_dim=16, hidden_units=(), code_activation="sigmoid")
    >>> kerasae.ops.jacobian.exact_method(encoder)  # a single sigmoid layer: the closed form
    'closed_form'
    >>> norms = kerasae.ops.jacobian.jacobian_norm(encoder, x_test)  # (n,)
"""

import math

import keras
import tensorflow as tf
from keras import ops

from kerasae.ops import sampling
from kerasae.utils.validation import check_choice

#: Ways of computing the penalty: ``"auto"`` picks the first exact method that applies among
#: ``"closed_form"`` (one sigmoid Dense layer), ``"mlp"`` (a chain of Dense layers with elementwise
#: activations) and ``"autodiff"`` (any encoder); ``"hutchinson"`` is the unbiased stochastic estimate.
PENALTY_METHODS = ("auto", "closed_form", "mlp", "autodiff", "hutchinson")

#: Keras activations that act elementwise, so that their Jacobian is diagonal (the ``"mlp"`` method).
ELEMENTWISE_ACTIVATIONS = tuple(
    fn
    for fn in (getattr(keras.activations, name, None) for name in (
        "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish", "mish",
        "sigmoid", "hard_sigmoid", "log_sigmoid", "tanh", "hard_tanh", "tanh_shrink", "softplus", "softsign",
        "hard_silu", "hard_swish", "exponential", "sparse_plus", "squareplus", "soft_shrink", "hard_shrink",
    ))
    if fn is not None
)


def sigmoid_dense_layer(encoder):
    """The encoder's single sigmoid ``Dense`` layer if the closed form applies to it, else ``None``.

    The closed form applies to an encoder that is one ``Dense`` layer with a sigmoid activation, possibly
    after an ``Input`` and a ``Flatten`` (``kerasae.networks.mlp(..., hidden_units=(),
    code_activation="sigmoid")``), or to such a ``Dense`` layer itself.
    """
    layers = getattr(encoder, "layers", None)
    if layers is None:
        layers = [encoder]
    layers = [layer for layer in layers if not isinstance(layer, (keras.layers.InputLayer, keras.layers.Flatten))]
    if len(layers) != 1:
        return None
    (layer,) = layers
    if type(layer) is keras.layers.Dense and layer.activation is keras.activations.sigmoid:
        return layer
    return None


def _elementwise(layer):
    """Whether ``layer`` maps each unit through the same scalar function (a diagonal Jacobian)."""
    if type(layer) is keras.layers.Activation:
        return layer.activation in ELEMENTWISE_ACTIVATIONS
    return type(layer) in (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)


def dense_chain(encoder, training=False):
    """The encoder as blocks ``[(dense, [elementwise layers]), ...]`` if it is an MLP, else ``None``.

    An MLP here is a chain of ``Dense`` layers with elementwise activations, optionally after an
    ``Input`` and a ``Flatten``, with elementwise activation layers (``Activation``, ``ReLU``,
    ``LeakyReLU``, ``ELU``) and, when ``training`` is False or their rate is 0, ``Dropout`` layers in
    between: what ``kerasae.networks.mlp`` builds. A Functional model qualifies only if no layer is
    called twice.
    """
    layers = getattr(encoder, "layers", None)
    if layers is None:
        layers = [encoder]
    elif isinstance(encoder, keras.Model) and not isinstance(encoder, keras.Sequential):
        try:
            config = encoder.get_config()
        except Exception:  # noqa: BLE001 - a subclassed model without a config is not a plain chain
            return None
        if not isinstance(config, dict) or "layers" not in config:
            return None  # a subclassed model: its call() may do anything
        if any(len(layer.get("inbound_nodes", ())) > 1 for layer in config["layers"]):
            return None  # a shared layer
    blocks = []
    for layer in layers:
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Flatten)) and not blocks:
            continue
        if isinstance(layer, keras.layers.Dropout) and (not training or layer.rate == 0):
            continue
        if type(layer) is keras.layers.Dense and layer.activation in ELEMENTWISE_ACTIVATIONS:
            if getattr(layer, "quantization_mode", None) is not None:
                return None
            blocks.append((layer, []))
        elif blocks and _elementwise(layer):
            blocks[-1][1].append(layer)
        else:
            return None
    return blocks or None


def mlp_jacobian_norm(blocks, x):
    """Exact ``||dh(x_n)/dx_n||_F^2`` per example for an MLP encoder, in matrix form.

    For ``L`` Dense layers ``a_l = h_{l-1} W_l + b_l``, ``h_l = f_l(a_l)`` (Keras kernels ``W_l`` of shape
    ``(in, out)``, elementwise ``f_l``) the Jacobian is ``J = D_L W_L^T D_{L-1} ... D_1 W_1^T`` with
    ``D_l = diag(f_l'(a_l))``. With ``B = D_L W_L^T ... W_2^T D_1`` (``k`` rows, built from the code side
    with batched matrix products) and the batch-constant ``G = W_1^T W_1``,

        ||J||_F^2 = tr(B G B^T) = sum_ij (B G)_ij B_ij,

    which never forms the ``k x d`` Jacobian: per example it costs ``k`` times the hidden layers' sizes
    squared, instead of ``k`` passes through the input layer (``d x h_1``). For one layer it reduces to
    ``sum_j f'(a_j)^2 ||W_:j||^2`` (the sigmoid closed form's generalisation). For one hidden layer and a
    linear code (``J = W_2^T D_1 W_1^T``) the code side is batch-constant too: with ``H = W_2 W_2^T``,

        ||J||_F^2 = tr(D_1 G D_1 H) = s^T (G * H) s,   s = f_1'(a_1) (the diagonal of D_1),

    a quadratic form with one ``(h_1, h_1)`` matrix for the whole batch (``*`` elementwise), ``h_1^2``
    multiply-adds per example instead of ``k h_1^2``. Computed in float32 and differentiable (the
    training step's tape differentiates through the derivatives ``f'``).

    Args:
        blocks: :func:`dense_chain` of the encoder.
        x: A batch of inputs, ``(batch, ...)``; flattened to ``(batch, d)``.

    Returns:
        A float32 tensor of shape ``(batch,)``.
    """
    h = tf.cast(tf.reshape(x, (tf.shape(x)[0], -1)), "float32")
    kernels, derivatives = [], []
    for dense, elementwise in blocks:
        kernel = tf.cast(dense.kernel, "float32")
        a = tf.matmul(h, kernel)
        if dense.bias is not None:
            a = a + tf.cast(dense.bias, "float32")
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(a)
            h = dense.activation(a)
            for layer in elementwise:
                h = tf.cast(layer(h), "float32")
        derivatives.append(tape.gradient(h, a))  # f'(a): the activations are elementwise
        kernels.append(kernel)
    first = kernels[0]
    if len(kernels) == 1:
        return tf.reduce_sum(tf.square(derivatives[0]) * tf.reduce_sum(tf.square(first), axis=0), axis=-1)
    if quadratic_form_applies(blocks):
        kernel = _gram(first) * tf.matmul(kernels[1], kernels[1], transpose_b=True)  # G * H: once per batch
        return tf.maximum(_quadratic_form(derivatives[0], kernel), 0.0)
    b = derivatives[-1][:, :, None] * tf.transpose(kernels[-1])[None]  # D_L W_L^T: (batch, k, h_{L-1})
    for kernel, derivative in zip(kernels[-2:0:-1], derivatives[-2:0:-1]):
        b = tf.einsum("bkj,ij->bki", b * derivative[:, None, :], kernel)
    b = b * derivatives[0][:, None, :]  # (batch, k, h_1)
    if first.shape[0] <= first.shape[1]:  # d <= h_1: the Jacobian itself is the smaller product
        return tf.reduce_sum(tf.square(tf.einsum("bkj,ij->bki", b, first)), axis=(1, 2))
    return tf.maximum(_trace_form(b, _gram(first)), 0.0)


def quadratic_form_applies(blocks):
    """Whether :func:`mlp_jacobian_norm` computes ``s^T (G * H) s`` for these :func:`dense_chain` blocks.

    It does for two Dense layers whose second (the code) is linear, with no activation layers after it,
    when ``h_1 < k d``; with ``h_1 >= k d`` the ``k x d`` Jacobian itself is the smaller product.
    """
    if len(blocks) != 2:
        return False
    (hidden, _), (code, code_elementwise) = blocks
    (d, h_1), k = hidden.kernel.shape, code.kernel.shape[1]
    return code.activation is keras.activations.linear and not code_elementwise and h_1 < k * d


@tf.custom_gradient
def _gram(kernel):
    """``G = W^T W`` (``(h_1, h_1)``, once per batch), with its gradient ``W (dG + dG^T)`` in one product.

    Autodiff would differentiate the two operands of the product separately: two ``d x h_1 x h_1``
    products, each as costly as ``G`` itself (for a 784-256 layer at batch 100, 0.4 of a plain step).
    """

    def grad(upstream):
        return tf.matmul(kernel, upstream + tf.transpose(upstream))

    return tf.matmul(kernel, kernel, transpose_a=True), grad


@tf.custom_gradient
def _trace_form(b, gram):
    """``tr(B_n G B_n^T)`` per example for a symmetric ``G``, with a gradient that reuses ``B G``.

    Autodiff would form ``B G^T`` again for ``dB``; symmetry gives ``dB = 2 B G`` from the forward pass.
    """
    product = tf.einsum("bkj,ji->bki", b, gram)
    value = tf.reduce_sum(product * b, axis=(1, 2))

    def grad(upstream):
        weighted = upstream[:, None, None]
        return 2.0 * weighted * product, tf.einsum("bkj,bki->ji", weighted * b, b)

    return value, grad


@tf.custom_gradient
def _quadratic_form(s, kernel):
    """``s_n^T K s_n`` per example for a symmetric ``K``, with a gradient that reuses ``s K`` (as above)."""
    product = tf.matmul(s, kernel)
    value = tf.reduce_sum(product * s, axis=-1)

    def grad(upstream):
        weighted = upstream[:, None]
        return 2.0 * weighted * product, tf.matmul(weighted * s, s, transpose_a=True)

    return value, grad


def sigmoid_jacobian_norm(code, kernel):
    """Closed-form ``||dh/dx||_F^2`` for ``h = sigmoid(x W + b)``, per example.

    ``dh_k/dx_m = h_k (1 - h_k) W_mk``, so ``||J||_F^2 = sum_k (h_k (1 - h_k))^2 sum_m W_mk^2``.

    Args:
        code: The codes ``h``, shape ``(batch, k)``.
        kernel: The Dense kernel ``W``, shape ``(d, k)`` (Keras' layout: inputs by units).

    Returns:
        A float32 tensor of shape ``(batch,)``.
    """
    code = ops.cast(code, "float32")
    column_norms = ops.sum(ops.square(ops.cast(kernel, "float32")), axis=0)
    return ops.sum(ops.square(code * (1.0 - code)) * column_norms, axis=-1)


def autodiff_jacobian_norm(encoder, x, training=False):
    """Exact ``||dh(x_n)/dx_n||_F^2`` per example for any encoder, by reverse-mode autodiff.

    Row ``k`` of example ``n``'s Jacobian is the gradient of ``h_k(x_n)`` with respect to ``x_n``. All
    ``k`` rows come from one forward and one backward pass on the batch tiled ``k`` times: copy ``k``
    of the batch keeps only code unit ``k``, and because examples are processed independently the
    gradient of the sum with respect to each copy is exactly that row. This avoids ``pfor`` (which
    ``batch_jacobian`` uses), so it runs under XLA and inside the training step's outer
    ``GradientTape`` (which differentiates through it). The cost is that of the encoder on ``k`` times
    the batch. With ``training=True`` and dropout, each copy draws its own mask, which gives an unbiased
    estimate of the expected penalty.

    Args:
        encoder: A Keras model or layer mapping inputs to codes; it must treat examples independently
            (no batch statistics in training mode).
        x: A batch of inputs.
        training: Whether to run the encoder in training mode (dropout).

    Returns:
        A float32 tensor of shape ``(batch,)``.
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, "float32")
    batch = tf.shape(x)[0]
    code_dim = math.prod(encoder.compute_output_shape((None,) + tuple(x.shape[1:]))[1:])
    tiled = tf.tile(x, tf.concat([[code_dim], tf.ones([tf.rank(x) - 1], tf.int32)], axis=0))
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(tiled)
        code = tf.reshape(encoder(tiled, training=training), (code_dim, batch, code_dim))
        # Copy k keeps code unit k: the sum's gradient on copy k, example n, is d h_k(x_n) / d x_n.
        selected = tf.reduce_sum(code * tf.eye(code_dim, dtype=code.dtype)[:, None, :])
    rows = tape.gradient(selected, tiled)
    rows = tf.reshape(tf.cast(rows, "float32"), (code_dim, batch, -1))
    return tf.reduce_sum(tf.square(rows), axis=(0, 2))


def hutchinson_jacobian_norm(encoder, x, seed, num_projections=1, training=False):
    """Unbiased stochastic estimate of ``||dh(x_n)/dx_n||_F^2`` per example (Hutchinson's trick).

    For Rademacher vectors ``v`` (entries +-1), ``E_v ||J^T v||^2 = tr(J J^T) = ||J||_F^2``; each of the
    ``num_projections`` draws costs one vector-Jacobian product, so the estimate costs about one extra
    encoder forward and backward pass per projection, whatever the code size (the exact
    :func:`autodiff_jacobian_norm` costs ``k`` of them for a ``k``-unit code).

    Args:
        encoder: A Keras model or layer mapping inputs to codes, treating examples independently.
        x: A batch of inputs.
        seed: A stateless seed, shape ``(2,)`` int32 (e.g. ``kerasae.sampling.next_seed(generator)``).
        num_projections: Number of random projections averaged, >= 1.
        training: Whether to run the encoder in training mode.

    Returns:
        A float32 tensor of shape ``(batch,)``.

    References:
        Hutchinson (1990), A stochastic estimator of the trace of the influence matrix for Laplacian
        smoothing splines. Communications in Statistics.
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, "float32")
    batch = tf.shape(x)[0]
    tiled = tf.tile(x, tf.concat([[num_projections], tf.ones([tf.rank(x) - 1], tf.int32)], axis=0))
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(tiled)
        code = encoder(tiled, training=training)
        signs = tf.where(sampling.uniform(tf.shape(code), seed, code.dtype) < 0.5, -1.0, 1.0)
        projected = tf.reduce_sum(code * tf.cast(signs, code.dtype))
    rows = tf.reshape(tf.cast(tape.gradient(projected, tiled), "float32"), (num_projections, batch, -1))
    return tf.reduce_mean(tf.reduce_sum(tf.square(rows), axis=-1), axis=0)


def jacobian_norm(encoder, x, training=False, method="auto", code=None):
    """Per-example squared Frobenius norm of the encoder's Jacobian, ``||dh(x_n)/dx_n||_F^2``.

    Args:
        encoder: A Keras model or layer mapping inputs to codes.
        x: A batch of inputs (array or tensor).
        training: Whether to run the encoder in training mode.
        method: ``"auto"`` (the closed form for a single sigmoid Dense layer, the matrix form for an
            MLP, autodiff otherwise), ``"closed_form"``, ``"mlp"`` or ``"autodiff"`` (all exact; for the
            stochastic estimate call :func:`hutchinson_jacobian_norm`).
        code: The encoder's output on ``x`` if already computed (the closed form reuses it).

    Returns:
        A float32 tensor of shape ``(batch,)``.

    Raises:
        ValueError: for an unknown method, or a method that does not apply to the encoder.
    """
    if method == "hutchinson":
        raise ValueError("jacobian_norm computes the exact norm; call hutchinson_jacobian_norm for the estimate.")
    method, structure = _resolve_method(encoder, method, training)
    if method == "closed_form":
        code = encoder(x, training=training) if code is None else code
        return sigmoid_jacobian_norm(code, structure.kernel)
    if method == "mlp":
        return mlp_jacobian_norm(structure, x)
    return autodiff_jacobian_norm(encoder, x, training=training)


def exact_method(encoder, method="auto", training=False):
    """The method :func:`jacobian_norm` uses: ``method`` itself, or for ``"auto"`` the first that applies.

    Raises:
        ValueError: for an unknown method, or ``"closed_form"``/``"mlp"`` with an encoder it does not apply to.
    """
    return _resolve_method(encoder, method, training)[0]


def _resolve_method(encoder, method, training):
    """``(method, structure)``: the sigmoid layer for the closed form, the blocks for ``"mlp"``, else None."""
    check_choice("penalty_method", method, PENALTY_METHODS)
    if method in ("autodiff", "hutchinson"):
        return method, None
    layer = sigmoid_dense_layer(encoder) if method in ("auto", "closed_form") else None
    if layer is not None:
        return "closed_form", layer
    if method == "closed_form":
        raise ValueError(
            "penalty_method='closed_form' needs an encoder that is a single Dense layer with a sigmoid "
            "activation (optionally after Flatten), e.g. kerasae.networks.mlp(input_shape, k, "
            "hidden_units=(), code_activation='sigmoid'). Fix: build such an encoder, or use "
            "penalty_method='auto' (the exact method that fits the encoder)."
        )
    blocks = dense_chain(encoder, training)
    if blocks is not None:
        return "mlp", blocks
    if method == "mlp":
        raise ValueError(
            "penalty_method='mlp' needs an encoder that is a chain of Dense layers with elementwise "
            "activations (optionally after Flatten, with Dropout only at rate 0 when training), e.g. "
            "kerasae.networks.mlp(...). Fix: use penalty_method='auto' (autodiff for other encoders)."
        )
    return "autodiff", None
