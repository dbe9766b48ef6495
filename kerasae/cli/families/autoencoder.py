"""CLI glue of the plain autoencoder (``kerasae train autoencoder``)."""

from kerasae.cli.registry import networks_from_args, register_model


def build(args, data):
    from kerasae.models.autoencoder import Autoencoder

    encoder, decoder = networks_from_args(args, data)
    return Autoencoder(encoder, decoder, reconstruction_loss=args.loss, l2=args.l2)


register_model(
    "autoencoder",
    build,
    help="Undercomplete autoencoder (MLP or conv) trained to reconstruct its input.",
    model_class="Autoencoder",
)
