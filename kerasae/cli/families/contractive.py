"""CLI glue of the contractive autoencoder (``kerasae train contractive``)."""

from kerasae.cli.arguments import non_negative_float
from kerasae.cli.registry import networks_from_args, register_model

#: ``--penalty-method`` choices: :data:`kerasae.ops.jacobian.PENALTY_METHODS` (a test keeps them equal).
PENALTY_METHODS = ("auto", "closed_form", "mlp", "autodiff", "hutchinson")


def build(args, data):
    from kerasae.models.contractive import ContractiveAutoencoder

    encoder, decoder = networks_from_args(args, data)
    return ContractiveAutoencoder(
        encoder,
        decoder,
        contractive_weight=args.contractive_weight,
        penalty_method=args.penalty_method,
        seed=args.seed,
        reconstruction_loss=args.loss,
        l2=args.l2,
        name="contractive_autoencoder",
    )


def evaluate(model, data, args):
    from keras import ops

    from kerasae.ops.jacobian import jacobian_norm

    norms = jacobian_norm(model.encoder, data.x_test[:512])
    return {"mean_jacobian_norm": float(ops.convert_to_numpy(ops.mean(norms)))}


register_model(
    "contractive",
    build,
    help="Contractive autoencoder: reconstruction + lambda * ||dh/dx||_F^2 (closed form for a sigmoid layer).",
    arguments=(
        (("--contractive-weight",), {"type": non_negative_float, "default": 0.1, "help": "lambda, weight of the Jacobian penalty"}),
        (
            ("--penalty-method",),
            {"choices": PENALTY_METHODS, "default": "auto", "help": "exact (auto/closed_form/mlp/autodiff) or hutchinson estimate"},
        ),
    ),
    evaluate=evaluate,
    model_class="ContractiveAutoencoder",
)
