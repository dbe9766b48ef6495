"""CLI glue of the linear autoencoder (``kerasae train linear``)."""

from kerasae.cli.registry import register_model


def build(args, data):
    from kerasae.models.linear import LinearAutoencoder

    if args.architecture != "mlp":
        raise ValueError(
            f"The linear autoencoder is a pair of affine maps. Expected --architecture mlp. Received: "
            f"--architecture {args.architecture}."
        )
    if args.loss != "mse":
        raise ValueError(f"The linear autoencoder is trained with squared error. Expected --loss mse. Received: --loss {args.loss}.")
    return LinearAutoencoder.from_shape(
        data.input_shape, args.latent_dim, dropout=args.dropout, l2=args.l2, name="linear_autoencoder"
    )


def unused_options(args):
    affine = "the linear autoencoder is a pair of affine maps, with no hidden layers"
    return [
        ("--hidden-units", affine),
        ("--activation", affine),
        ("--architecture conv", "the linear autoencoder is fully connected (--architecture mlp)"),
        ("--loss", "the linear autoencoder is trained with squared error (--loss mse)"),
    ]


def evaluate(model, data, args):
    import math

    from kerasae.models.linear import pca, principal_angles

    reference = pca(data.x_train, min(model.latent_dim, math.prod(data.input_shape)))
    angles = principal_angles(model.decoder_matrix(), reference.components.T)
    return {"pca_test_mse": reference.mse(data.x_test), "largest_principal_angle": float(angles[-1])}


register_model(
    "linear",
    build,
    help="Linear autoencoder (z = Wx + b, x^ = Vz + c, squared error): learns PCA's principal subspace.",
    evaluate=evaluate,
    model_class="LinearAutoencoder",
    unused_options=unused_options,
)
