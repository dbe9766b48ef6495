"""The stacked autoencoder: greedy layer-wise pre-training (plain, denoising or contractive layers), then
end-to-end fine-tuning.

Example:
    >>> model = kerasae.stacked.StackedAutoencoder((64,), layer_units=(32, 16, 8))
    >>> histories = model.pretrain(x_train, epochs_per_layer=10)  # one shallow autoencoder per layer
    >>> model.compile(optimizer="adam")
    >>> model.fit(x_train, epochs=20)  # fine-tuning of the whole stack
    >>> sda = kerasae.stacked.StackedAutoencoder((64,), (32, 16), noise="masking", noise_level=0.25)  # an SdA
"""

import warnings

import keras
import numpy as np

from kerasae.data import datasets
from kerasae import networks
from kerasae.layers import corruption
from kerasae.layers.tied import TiedDense
from kerasae.models.autoencoder import Autoencoder
from kerasae.models.contractive import ContractiveAutoencoder
from kerasae.models.denoising import DenoisingAutoencoder
from kerasae.utils.validation import check_number, check_positive_int


@keras.saving.register_keras_serializable(package="kerasae")
class StackedAutoencoder(Autoencoder):
    """A deep fully connected autoencoder whose layers are pre-trained one at a time.

    The encoder is ``h_l = a(W_l h_{l-1} + b_l)`` for ``l = 1..L`` (``h_0 = x``, widths ``layer_units``)
    and the decoder mirrors it. Greedy pre-training (:meth:`pretrain`) trains, for each ``l`` in turn, the
    shallow autoencoder made of encoder layer ``l`` and its mirror decoder layer ``l'`` on the codes of
    the (already trained, frozen) layers below:

        stage l:  min_{W_l, b_l, V_l, c_l} mean_n r_l(h_{l-1,n}, a_l'(V_l a(W_l h_{l-1,n} + b_l) + c_l))

    where ``r_1`` is the model's reconstruction loss with its output activation and ``r_l`` (``l > 1``)
    the squared error on the hidden activations. A stacked *denoising* autoencoder (SdA, ``noise``) trains
    each stage as a :class:`~kerasae.models.denoising.DenoisingAutoencoder`: the stage's input is corrupted
    afresh each batch, ``a(W_l h~_{l-1} + b_l)`` with ``h~ ~ C(h~ | h_{l-1})``, and the clean ``h_{l-1}`` is
    the target; a stacked *contractive* autoencoder (``contractive_weight``) trains each stage as a
    :class:`~kerasae.models.contractive.ContractiveAutoencoder`, adding
    ``lambda * ||d h_l / d h_{l-1}||_F^2`` to the stage's loss. Fine-tuning is then an ordinary ``fit`` of
    the whole model on the usual objective

        loss = mean_n r(x_n, g(f(x_n))) + l2 * sum_W ||W||_F^2,

    or, for a classifier, :class:`kerasae.EncoderPredictor` on the pre-trained encoder (the papers' protocol).

    Args:
        input_shape: Shape of one example, e.g. ``(64,)`` or ``(8, 8, 1)`` (flattened by the encoder).
        layer_units: Widths of the encoder's layers, the last one being the code, e.g. ``(32, 16, 8)``.
        activation: Activation of the hidden layers (and of the mirrored decoder layers).
        code_activation: Activation of the code layer (``None`` for linear).
        dropout: Dropout rate after each hidden layer, in [0, 1) (also used in pre-training).
        noise: ``None`` (plain pre-training) or a corruption of the stages' inputs (:mod:`kerasae.corruption`:
            ``"masking"``, ``"gaussian"``, ``"salt_and_pepper"`` or ``"dropout"``): a stacked denoising
            autoencoder. Pre-training only; fine-tuning sees clean inputs.
        noise_level: The corruption's rate (its standard deviation for ``"gaussian"``).
        contractive_weight: ``lambda`` >= 0 of the stages' Jacobian penalty (``0``: none); not with ``noise``.
        seed: Optional integer seed of the stages' corruption.
        tied_weights: Each decoder layer uses its mirror encoder layer's kernel transposed, ``V_l = W_l^T``
            (:class:`kerasae.layers.tied.TiedDense`), in pre-training and fine-tuning: half the weights (the
            decoder owns only its biases), as in Vincent et al.'s denoising autoencoders.
        **kwargs: Passed to :class:`kerasae.Autoencoder` (``reconstruction_loss``,
            ``output_activation``, ``l2``, ``name``, ...).

    Example:
        >>> model = kerasae.stacked.StackedAutoencoder((64,), layer_units=(32, 16, 8))
        >>> histories = model.pretrain(x_train, epochs_per_layer=10, batch_size=64)

    References:
        Bengio, Lamblin, Popovici & Larochelle (2007), Greedy layer-wise training of deep networks. NIPS.
        Hinton & Salakhutdinov (2006), Reducing the dimensionality of data with neural networks. Science.
        Vincent, Larochelle, Lajoie, Bengio & Manzagol (2010), Stacked denoising autoencoders. JMLR 11.
        Rifai, Vincent, Muller, Glorot & Bengio (2011), Contractive auto-encoders. ICML.
    """

    nested_objects = ()

    def __init__(
        self,
        input_shape,
        layer_units=(32, 16, 8),
        activation="relu",
        code_activation=None,
        dropout=0.0,
        noise=None,
        noise_level=0.25,
        contractive_weight=0.0,
        seed=None,
        tied_weights=False,
        **kwargs,
    ):
        if noise is not None:
            corruption.get_corruption(noise, noise_level)  # checks the name and the level
        contractive_weight = check_number("contractive_weight", contractive_weight, minimum=0)
        if noise is not None and contractive_weight:
            raise ValueError("Expected one pre-training regulariser: noise (a stacked denoising autoencoder) or "
                             f"contractive_weight (a stacked contractive one). Received: noise={noise!r}, "
                             f"contractive_weight={contractive_weight}. Fix: pass one of them.")
        input_shape = tuple(int(d) for d in input_shape)
        layer_units = tuple(layer_units)
        if not layer_units:
            raise ValueError(f"Expected at least one layer width in layer_units. Received: layer_units={layer_units!r}")
        encoder, decoder = networks.mlp(
            input_shape,
            layer_units[-1],
            hidden_units=layer_units[:-1],
            activation=activation,
            code_activation=code_activation,
            dropout=dropout,
            tied_weights=bool(tied_weights),
            name="stacked",
        )
        for key in ("encoder", "decoder"):
            if key in kwargs:
                raise ValueError(f"StackedAutoencoder builds its own {key} from layer_units; do not pass {key}.")
        with warnings.catch_warnings():
            if noise is not None or contractive_weight:  # regularised layers: an over-complete code is fine
                warnings.filterwarnings("ignore", message=".*undercomplete autoencoder can learn the identity")
            super().__init__(encoder, decoder, **kwargs)
        self.input_shape_ = input_shape
        self.layer_units = tuple(int(u) for u in layer_units)
        self.activation = activation
        self.code_activation = code_activation
        self.dropout = float(dropout)
        self.noise = noise
        self.noise_level = float(noise_level)
        self.contractive_weight = float(contractive_weight)
        self.seed = seed
        self.tied_weights = bool(tied_weights)

    # ------------------------------------------------------------------ pre-training
    def _dense_layers(self):
        encoder = [layer for layer in self.encoder.layers if isinstance(layer, keras.layers.Dense)]
        decoder = [layer for layer in self.decoder.layers if isinstance(layer, (keras.layers.Dense, TiedDense))]
        return encoder, decoder[::-1]  # decoder[l] mirrors encoder[l]

    def stage(self, index):
        """The shallow autoencoder of pre-training stage ``index`` (0-based), sharing this model's layers.

        Stage 0 maps inputs to the first hidden layer and back to data space (with the model's
        reconstruction loss and output activation); stage ``l > 0`` maps the activations of layer ``l - 1``
        to those of layer ``l`` and back, with squared error.

        Returns:
            An uncompiled :class:`kerasae.Autoencoder` whose weights are those of encoder layer ``index``
            and its mirror decoder layer: a ``DenoisingAutoencoder`` with the model's ``noise``, a
            ``ContractiveAutoencoder`` with its ``contractive_weight``, or a plain one.
        """
        if not 0 <= index < len(self.layer_units):
            raise ValueError(f"Expected a stage index in [0, {len(self.layer_units)}). Received: index={index!r}")
        encoder_layers, decoder_layers = self._dense_layers()
        first = index == 0
        inputs = keras.Input(self.data_shape if first else (self.layer_units[index - 1],))
        h = keras.layers.Flatten()(inputs) if first and len(self.data_shape) > 1 else inputs
        h = encoder_layers[index](h)
        if self.dropout and index < len(self.layer_units) - 1:
            h = keras.layers.Dropout(self.dropout)(h)
        encoder = keras.Model(inputs, h, name=f"stage_{index}_encoder")
        code = keras.Input((self.layer_units[index],))
        h = decoder_layers[index](code)
        if first and len(self.data_shape) > 1:
            h = keras.layers.Reshape(self.data_shape)(h)
        decoder = keras.Model(code, h, name=f"stage_{index}_decoder")
        options = {"reconstruction_loss": self.reconstruction_loss if first else "mse",
                   "output_activation": self.output_activation if first else "linear", "l2": self.l2,
                   "name": f"stage_{index}"}
        stage_class = Autoencoder
        if self.noise is not None:
            stage_class = DenoisingAutoencoder
            options.update(noise=self.noise, noise_level=self.noise_level,
                           seed=None if self.seed is None else self.seed + index)
        elif self.contractive_weight:
            stage_class, options["contractive_weight"] = ContractiveAutoencoder, self.contractive_weight
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a stage may widen; the stack as a whole was checked already.
            return stage_class(encoder, decoder, **options)

    def pretrain(self, x, epochs_per_layer=10, batch_size=64, learning_rate=1e-3, verbose=0):
        """Greedy layer-wise pre-training: trains each layer as a shallow autoencoder, bottom up.

        Each stage gets a fresh Adam optimizer; the codes of the layers below are computed once per stage
        in inference mode. The model's own optimizer and weights of the other layers are untouched, so
        fine-tuning is a plain ``compile`` and ``fit`` afterwards.

        Args:
            x: Training inputs, an array of shape ``(n, *input_shape)``.
            epochs_per_layer: Epochs of each stage, a positive integer.
            batch_size: Batch size of each stage.
            learning_rate: Adam learning rate of each stage.
            verbose: Passed to ``fit``.

        Returns:
            A list with one ``keras.callbacks.History`` per layer.

        Raises:
            ValueError: for data that is not a finite array of the model's input shape, or bad options.
        """
        x = datasets.check_array(x, unit_interval=False)
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(
                f"Expected pre-training inputs of shape (n, {', '.join(map(str, self.data_shape))}). "
                f"Received shape {x.shape}. Fix: pass the same data as to fit (e.g. dataset.x_train)."
            )
        epochs_per_layer = check_positive_int("epochs_per_layer", epochs_per_layer)
        histories = []
        h = x
        for index in range(len(self.layer_units)):
            stage = self.stage(index)
            stage.compile(optimizer=keras.optimizers.Adam(learning_rate))
            histories.append(stage.fit(h, epochs=epochs_per_layer, batch_size=batch_size, verbose=verbose))
            h = np.asarray(stage.encoder.predict(h, batch_size=max(batch_size, 256), verbose=0))
        return histories

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        for key in ("encoder", "decoder"):
            config.pop(key)
        config.update(
            {
                "input_shape": self.input_shape_,
                "layer_units": self.layer_units,
                "activation": self.activation,
                "code_activation": self.code_activation,
                "dropout": self.dropout,
                "noise": self.noise,
                "noise_level": self.noise_level,
                "contractive_weight": self.contractive_weight,
                "seed": self.seed,
                "tied_weights": self.tied_weights,
            }
        )
        return config


# ---------------------------------------------------------------------------------------------- CLI
