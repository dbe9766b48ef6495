"""CLI glue of the stacked autoencoder (``kerasae train stacked``): layer-wise pre-training, then fine-tuning."""

from kerasae.cli.arguments import non_negative_float, positive_int
from kerasae.cli.families.denoising import NOISES
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
        noise=args.noise,
        noise_level=args.noise_level,
        contractive_weight=args.contractive_weight,
        seed=args.seed,
        tied_weights=args.tied_weights,
        reconstruction_loss=args.loss,
        l2=args.l2,
        name="stacked_autoencoder",
    )


def unused_options(args):
    unused = [("--architecture conv", "the stacked autoencoder is fully connected (--architecture mlp)")]
    if args.noise is None:
        unused.append(("--noise-level", "it sets the rate of --noise, which is not given (pass --noise masking, ...)"))
    return unused


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
    help="Stacked autoencoder: greedy layer-wise pre-training (--epochs-per-layer; denoising with --noise, "
    "contractive with --contractive-weight), then fine-tuning.",
    arguments=(
        (("--epochs-per-layer",), {"type": positive_int, "default": 10, "help": "pre-training epochs of each layer"}),
        (("--noise",), {"choices": NOISES, "default": None,
                        "help": "corrupt each layer's input in pre-training: a stacked denoising autoencoder (SdA)"}),
        (("--noise-level",), {"type": float, "default": 0.25, "help": "with --noise: its rate (stddev for gaussian)"}),
        (("--contractive-weight",), {"type": non_negative_float, "default": 0.0,
                                     "help": "lambda of each layer's Jacobian penalty in pre-training (not with --noise)"}),
        (("--tied-weights",), {"action": "store_true",
                               "help": "each decoder layer uses its mirror encoder layer's kernel transposed (W' = W^T)"}),
    ),
    fit=fit,
    model_class="StackedAutoencoder",
    unused_options=unused_options,
)
