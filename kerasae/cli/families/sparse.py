"""CLI glue of the sparse autoencoder (``kerasae train sparse``)."""

from kerasae.cli.arguments import non_negative_float
from kerasae.cli.registry import networks_from_args, register_model


def build(args, data):
    from kerasae.models.sparse import SparseAutoencoder

    encoder, decoder = networks_from_args(args, data, code_activation=args.code_activation)
    return SparseAutoencoder(
        encoder,
        decoder,
        sparsity_weight=args.sparsity_weight,
        activity_threshold=args.activity_threshold,
        reconstruction_loss=args.loss,
        l2=args.l2,
        name="sparse_autoencoder",
    )


register_model(
    "sparse",
    build,
    help="Sparse autoencoder: reconstruction + lambda * ||h(x)||_1 (the code may be over-complete).",
    arguments=(
        (("--sparsity-weight",), {"type": non_negative_float, "default": 1e-3, "help": "lambda, weight of the L1 code penalty"}),
        (
            ("--activity-threshold",),
            {"type": float, "default": 1e-2, "help": "|h| above which a code unit counts as active (diagnostic)"},
        ),
        (
            ("--code-activation",),
            {"choices": ("relu", "linear"), "default": "relu", "help": "activation of the code layer"},
        ),
    ),
    model_class="SparseAutoencoder",
)
