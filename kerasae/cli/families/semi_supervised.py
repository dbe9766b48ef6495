"""CLI glue of the semi-supervised autoencoder (``kerasae train semi-supervised``)."""

from kerasae.cli.arguments import non_negative_float, positive_int
from kerasae.cli.registry import keras_verbose, networks_from_args, register_model


def build(args, data):
    from kerasae.models.semi_supervised import SemiSupervisedAutoencoder

    if data.y_train is None or data.y_test is None:
        raise ValueError(
            f"The semi-supervised model needs labels for its training and test data, and the data set "
            f"{data.name!r} has {'none' if data.y_train is None else 'no test labels'}. Fix: give the data "
            "labels ('y_train' and 'y_test', or 'y', in a .npz file), or train 'autoencoder'."
        )
    encoder, decoder = networks_from_args(args, data)
    return SemiSupervisedAutoencoder(
        encoder, decoder, num_classes=max(data.num_classes, 2), alpha=args.alpha,
        reconstruction_loss=args.loss, l2=args.l2,
    )


def fit(model, data, args, callbacks):
    from kerasae.data.pipelines import mixed_pipeline
    from kerasae.models.semi_supervised import mask_labels

    y = mask_labels(data.y_train, args.labels_per_class, seed=args.seed)
    verbose = keras_verbose(args)
    if args.sequential:
        histories = model.fit_sequential(
            data.x_train, y, epochs=args.epochs, batch_size=args.batch_size, callbacks=callbacks, verbose=verbose
        )
        return histories["autoencoder"]
    validation = None
    if len(data.x_val) >= args.batch_size and data.y_val is not None:
        validation = data.pipeline("val", args.batch_size, with_labels=True)
    return model.fit(
        mixed_pipeline(data.x_train, y, batch_size=args.batch_size, labelled_fraction=args.labelled_fraction, seed=args.seed),
        validation_data=validation,
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the pipeline reshuffles each epoch
    )


def unused_options(args):
    if args.sequential:
        return [("--labelled-fraction", "--sequential trains the head on frozen codes, without mixed batches")]
    return []


def labelled_pipeline(model, data, split, batch_size):
    """Evaluation pipelines carry the true labels, so the standard evaluation reports accuracy."""
    return data.pipeline(split, batch_size, with_labels=True)


register_model(
    "semi-supervised",
    build,
    help="autoencoder + classifier head trained on few labels and all unlabelled data",
    arguments=(
        (("--labels-per-class",), {"type": positive_int, "default": 10, "help": "labelled examples kept per class (default: 10)"}),
        (("--alpha",), {"type": non_negative_float, "default": 1.0, "help": "weight of the reconstruction loss (default: 1)"}),
        (("--labelled-fraction",), {"type": float, "default": 0.25, "help": "least labelled fraction of each batch (default: 0.25)"}),
        (("--sequential",), {"action": "store_true", "help": "train the autoencoder first, then the head on frozen codes"}),
    ),
    fit=fit,
    pipeline=labelled_pipeline,
    model_class="SemiSupervisedAutoencoder",
    unused_options=unused_options,
)
