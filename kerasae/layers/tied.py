"""Tied weights: :class:`TiedDense`, the decoder layer whose kernel is the transpose of an encoder layer's.

A tied autoencoder reconstructs with ``W' = W^T``: the decoder owns only its biases, so the model has about half
the weights of an untied one and every gradient of the decoder also reaches the encoder's kernel.

Example:
    >>> dense = keras.layers.Dense(32, activation="sigmoid")
    >>> h = dense(x)                                       # (batch, 32)
    >>> back = kerasae.layers.tied.TiedDense(dense)(h)     # (batch, x.shape[-1]), kernel dense.kernel^T
"""

import keras
from keras import ops


class _Untracked:
    """Holds a layer without Keras tracking it, so that the tied kernel is saved and counted once, by its owner."""

    def __init__(self, layer):
        self.layer = layer


@keras.saving.register_keras_serializable(package="kerasae")
class TiedDense(keras.layers.Layer):
    """A dense layer that shares the transposed kernel of another: ``y = a(h W^T + c)``.

    ``W`` (``(n_in, n_out)``) is the kernel of ``tied_to``, a ``keras.layers.Dense`` that maps ``n_in`` to
    ``n_out`` values; this layer maps ``n_out`` values back to ``n_in`` with its own bias ``c`` (``n_in``).
    The kernel belongs to ``tied_to`` alone: it is saved, counted among the weights and penalised once, there;
    training through this layer updates it.

    Args:
        tied_to: The ``keras.layers.Dense`` whose kernel this layer transposes (built before this layer's call).
        activation: Activation of the output (``None``: linear).
        use_bias: Whether the layer adds its own bias ``c``.

    Returns:
        Called on ``(batch, n_out)``, the values ``(batch, n_in)``.

    Raises:
        ValueError: if ``tied_to`` is not a ``Dense`` layer, or if the layer is deserialized on its own (the model
            that holds it rebuilds the tie, e.g. ``StackedAutoencoder(..., tied_weights=True)``).

    References:
        Vincent, Larochelle, Bengio & Manzagol (2008), Extracting and composing robust features with denoising
        autoencoders. ICML (tied weights, ``W' = W^T``).
    """

    def __init__(self, tied_to, activation=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(tied_to, keras.layers.Dense):
            raise ValueError("Expected tied_to to be a keras.layers.Dense layer (the encoder layer whose kernel is "
                             f"transposed). Received: tied_to={tied_to!r}. Fix: pass the Dense layer itself.")
        self._tied = _Untracked(tied_to)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)

    @property
    def tied_to(self):
        """The ``Dense`` layer whose kernel this layer uses transposed."""
        return self._tied.layer

    def build(self, input_shape):
        if not self.tied_to.built:
            raise ValueError(f"Expected the tied layer {self.tied_to.name!r} to be built before {self.name!r}. "
                             "Fix: call the encoder before the decoder.")
        n_in, n_out = self.tied_to.kernel.shape
        if input_shape[-1] is not None and input_shape[-1] != n_out:
            raise ValueError(f"Expected inputs with {n_out} features (the output width of {self.tied_to.name!r}). "
                             f"Received: input_shape={tuple(input_shape)}.")
        self.bias = self.add_weight(shape=(n_in,), initializer="zeros", name="bias") if self.use_bias else None
        self.built = True

    def call(self, inputs):
        outputs = ops.matmul(inputs, ops.transpose(ops.cast(self.tied_to.kernel, inputs.dtype)))
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.tied_to.kernel.shape[0])

    def get_config(self):
        return {**super().get_config(), "tied_to": self.tied_to.name,
                "activation": keras.activations.serialize(self.activation), "use_bias": self.use_bias}

    @classmethod
    def from_config(cls, config):
        raise ValueError(f"A TiedDense layer (tied to {config.get('tied_to')!r}) cannot be rebuilt on its own: its "
                         "kernel is another layer's. Fix: save and load the model that holds it (e.g. "
                         "StackedAutoencoder(..., tied_weights=True)), which ties its layers again.")
