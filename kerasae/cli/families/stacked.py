"""CLI glue of the stacked autoencoder (``kerasae train stacked``): layer-wise pre-training, then fine-tuning."""

from kerasae.cli.arguments import positive_int
from kerasae.cli.registry import keras_verbose, register_model


def build(args, data):
    import math

    from kerasae import networks
    from kerasae.models.stacked import StackedAutoencoder

    if args.architecture != "mlp":
        raise ValueError(f"The stacked autoencoder is fully connected. Expected --architecture mlp. Received: {args.architecture}.")
    units = tuple(args.hidden_units or networks.default_hidden_units(math.prod(data.input_shape), args.latent_dim))
    return StackedAutoencoder(
        data.input_shape,
        layer_units=units + (args.latent_dim,),
        activation=args.activation,
        dropout=args.dropout,
        reconstruction_loss=args.loss,
        l2=args.l2,
        name="stacked_autoencoder",
    )


def unused_options(args):
    return [("--architecture conv", "the stacked autoencoder is fully connected (--architecture mlp)")]


def fit(model, data, args, callbacks):
    """Pre-trains layer by layer, then fine-tunes the compiled model like the standard CLI fit."""
    import keras

    verbose = keras_verbose(args)
    pretraining = model.pretrain(
        data.x_train,
        epochs_per_layer=args.epochs_per_layer,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        verbose=verbose,
    )
    if not model.compiled:
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    validation = data.pipeline("val", batch_size=args.batch_size) if len(data.x_val) >= args.batch_size else None
    history = model.fit(
        data.pipeline("train", batch_size=args.batch_size),
        validation_data=validation,
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the pipeline reshuffles each epoch
    )
    history.pretraining = pretraining  # one History per pre-training stage
    return history


register_model(
    "stacked",
    build,
    help="Stacked autoencoder: greedy layer-wise pre-training (--epochs-per-layer), then fine-tuning.",
    arguments=(
        (("--epochs-per-layer",), {"type": positive_int, "default": 10, "help": "pre-training epochs of each layer"}),
    ),
    fit=fit,
    model_class="StackedAutoencoder",
    unused_options=unused_options,
)
