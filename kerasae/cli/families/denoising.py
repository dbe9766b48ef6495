"""CLI glue of the denoising autoencoder (``kerasae train denoising``)."""

from kerasae.cli.registry import networks_from_args, register_model

#: ``--noise`` choices: the names of :data:`kerasae.layers.corruption.CORRUPTIONS` (a test keeps them equal;
#: spelled out here so that ``--help`` needs no TensorFlow).
NOISES = ("gaussian", "salt_and_pepper", "masking", "dropout")


def build(args, data):
    from kerasae.models.denoising import DenoisingAutoencoder

    encoder, decoder = networks_from_args(args, data)
    return DenoisingAutoencoder(
        encoder,
        decoder,
        noise=args.noise,
        noise_level=args.noise_level,
        seed=args.seed,
        reconstruction_loss=args.loss,
        l2=args.l2,
        name="denoising_autoencoder",
    )


def evaluate(model, data, args):
    from kerasae.models.denoising import denoising_scores

    scores = denoising_scores(model, data.x_test, seed=args.seed)
    return {f"denoising_{name}": value for name, value in scores.items()}


register_model(
    "denoising",
    build,
    help="Denoising autoencoder: reconstruct the clean input from a freshly corrupted copy each batch.",
    arguments=(
        (("--noise",), {"choices": NOISES, "default": "gaussian", "help": "corruption"}),
        (
            ("--noise-level",),
            {"type": float, "default": 0.3, "help": "stddev for gaussian noise, rate for the others"},
        ),
    ),
    evaluate=evaluate,
    model_class="DenoisingAutoencoder",
)
