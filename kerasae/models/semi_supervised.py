"""Semi-supervised learning with autoencoders: a prediction head on the code, trained with few labels.

Two schemes share one encoder ``z = f(x)`` and a prediction head ``y^ = h(z)``:

* **Concurrent** (:class:`SemiSupervisedAutoencoder` and ``fit``): one ``fit`` over batches that mix
  labelled and unlabelled examples minimises ``supervised loss on the labelled examples + alpha *
  reconstruction loss on all of them``, so the unlabelled data shapes the code the head reads.
* **Sequential** (:meth:`SemiSupervisedAutoencoder.fit_sequential`, and :class:`LatentPredictor` for any
  trained model with ``encode``, e.g. the VAE's posterior mean: the M1 scheme of Kingma et al. 2014): train
  the autoencoder on all the data, freeze it, then fit the head on the codes of the labelled examples.

Label convention: an unlabelled example has the label ``-1`` (classification) or ``NaN`` (regression; an
example is labelled when all its targets are finite). :func:`mask_labels` keeps ``n`` labels per class
and hides the rest; :func:`mixed_pipeline` builds the ``tf.data`` pipeline whose every batch holds both.

Example:
    >>> data = kerasae.datasets.load("digits")
    >>> y = kerasae.semi_supervised.mask_labels(data.y_train, labels_per_class=5, seed=0)
    >>> encoder, decoder = kerasae.networks.mlp((64,), latent_dim=16)
    >>> model = kerasae.semi_supervised.SemiSupervisedAutoencoder(encoder, decoder, num_classes=10)
    >>> model.compile(optimizer="adam")
    >>> model.fit(kerasae.semi_supervised.mixed_pipeline(data.x_train, y, batch_size=64), epochs=20)
    >>> model.predict_labels(data.x_test)
"""

import keras
import numpy as np
from keras import ops

from kerasae.data.labels import TASKS, UNLABELLED, check_task, labelled_mask, mask_labels  # noqa: F401
from kerasae.data.pipelines import mixed_pipeline  # noqa: F401  (also reachable from here)
from kerasae.models.autoencoder import Autoencoder
from kerasae.models.latent_predictor import (  # noqa: F401  (also reachable from here)
    LatentLabelSpreading,
    LatentPredictor,
    accuracy,
    default_head,
    encode_codes,
    fit_head,
    head_outputs,
)
from kerasae.utils.validation import check_int, check_number, check_positive_int


def _supervised_per_example(task, labels, outputs):
    """Per-example supervised loss, labelled mask and correctness (all ``(batch,)`` float32).

    Unlabelled examples get exactly 0 loss (their label is replaced before the loss is computed, so no NaN
    can leak through the product).
    """
    outputs = ops.cast(outputs, "float32")
    if task == "classification":
        labels = ops.cast(labels, "int32")
        mask = ops.not_equal(labels, UNLABELLED)
        safe = ops.where(mask, labels, ops.zeros_like(labels))
        loss = ops.sparse_categorical_crossentropy(safe, outputs, from_logits=True)
        correct = ops.cast(ops.equal(ops.cast(ops.argmax(outputs, axis=-1), "int32"), safe), "float32")
    else:
        labels = ops.cast(labels, "float32")
        finite = ops.isfinite(labels)
        mask = ops.all(finite, axis=-1)
        safe = ops.where(finite, labels, ops.zeros_like(labels))
        loss = ops.mean(ops.square(safe - outputs), axis=-1)
        correct = ops.zeros_like(loss)
    mask = ops.cast(mask, "float32")
    return mask * loss, mask, correct


# ---------------------------------------------------------------------------------------------- model
@keras.saving.register_keras_serializable(package="kerasae")
class SemiSupervisedAutoencoder(Autoencoder):
    """An autoencoder whose code also feeds a prediction head, trained on labelled and unlabelled data.

    Objective on a batch ``B`` whose labelled examples are ``L`` (label ``-1``/``NaN`` = unlabelled):

        loss = (1/|L|) sum_{n in L} s(y_n, h(f(x_n))) + alpha * mean_{n in B} r(x_n, g(f(x_n)))
               (+ l2 * sum_W ||W||^2)

    with ``s`` the cross-entropy of the head's logits (classification) or the mean squared error
    (regression), ``r`` the reconstruction loss, and the first term 0 when the batch has no labels.
    Per example, the supervised term is ``mask_n * s_n * |B| / max(|L|, 1)``, so that the batch mean the
    base model takes is the mean over the labelled examples (exactly 0 without labels). Under a
    distribution strategy ``|B|`` and ``|L|`` are per replica: the loss is the mean of the replicas'
    labelled means. Sample weights multiply each example's terms; ``|L|`` counts examples, not weights.

    Metrics: ``loss`` (the objective), ``reconstruction_loss`` (mean over all examples),
    ``supervised_loss`` and, for classification, ``accuracy`` (both over the labelled examples only). A
    compiled metric sees ``(labels, head outputs)`` weighted by the labelled mask.

    Data arrive as ``(x, y)`` with ``y`` the (partial) labels, not a reconstruction target; ``fit(x)``
    without labels trains the autoencoder alone. Calling the model returns reconstructions, as for every
    autoencoder; :meth:`predict_head` and :meth:`predict_labels` give the head's predictions.

    Args:
        encoder: A Keras model mapping inputs to codes.
        decoder: A Keras model mapping codes to pre-activations of the input's shape.
        head: A Keras model or layer mapping codes to logits (classification, ``num_classes`` wide, no
            softmax) or values (regression). ``None`` builds a linear :func:`default_head`.
        task: ``"classification"`` or ``"regression"``.
        num_classes: Number of classes (classification; inferred from ``head`` when given).
        output_dim: Number of regression outputs (regression; inferred from ``head`` when given).
        alpha: Weight of the reconstruction loss, >= 0 (0: the head and encoder are trained on labels only).
        reconstruction_loss: ``"mse"`` or ``"bce"``.
        output_activation: ``"sigmoid"`` or ``"linear"``.
        l2: L2 weight penalty on every kernel.
        **kwargs: Passed to ``keras.Model``.

    Example:
        >>> encoder, decoder = kerasae.networks.mlp((64,), latent_dim=16)
        >>> model = kerasae.semi_supervised.SemiSupervisedAutoencoder(encoder, decoder, num_classes=10)
        >>> model.compile(optimizer="adam")
        >>> y = kerasae.semi_supervised.mask_labels(y_train, labels_per_class=5)
        >>> model.fit(kerasae.semi_supervised.mixed_pipeline(x_train, y), epochs=20)
        >>> labels = model.predict_labels(x_test)

    References:
        Ranzato & Szummer (2008), Semi-supervised learning of compact document representations with deep
        networks. ICML.
        Kingma, Rezende, Mohamed & Welling (2014), Semi-supervised learning with deep generative models
        (the M1 scheme). NeurIPS.
        Le, Patterson & White (2018), Supervised autoencoders: improving generalization performance with
        unsupervised regularizers. NeurIPS.
    """

    loss_terms = ("reconstruction_loss", "supervised_loss")
    nested_objects = ("encoder", "decoder", "head")

    def __init__(
        self,
        encoder,
        decoder,
        head=None,
        task="classification",
        num_classes=None,
        output_dim=None,
        alpha=1.0,
        reconstruction_loss="mse",
        output_activation="sigmoid",
        l2=0.0,
        **kwargs,
    ):
        check_task(task)
        alpha = check_number("alpha", alpha, minimum=0, hint="the weight of the reconstruction loss")
        super().__init__(encoder, decoder, reconstruction_loss=reconstruction_loss,
                         output_activation=output_activation, l2=l2, **kwargs)
        # === Config ===
        self.task = task
        self.alpha = float(alpha)
        head_units = None
        if head is not None:
            if not getattr(head, "built", False):
                head.build((None, self.latent_dim))
            head_units = int(head.compute_output_shape((None, self.latent_dim))[-1])
        if task == "classification":
            num_classes = num_classes if num_classes is not None else head_units
            units = num_classes = check_int(
                "num_classes", num_classes, minimum=2, hint="for classification, or a head whose output width gives it"
            )
        else:
            output_dim = output_dim if output_dim is not None else (head_units or 1)
            units = output_dim = check_positive_int("output_dim", output_dim)
        if head_units is not None and head_units != units:
            raise ValueError(
                f"The head outputs {head_units} values per example, but the {task} task needs {units} "
                f"(num_classes={num_classes!r}, output_dim={output_dim!r}). Fix: match the head's last layer."
            )
        self.num_classes = num_classes
        self.output_dim = output_dim
        # === Networks ===
        self.head = default_head(self.latent_dim, units) if head is None else head
        # === Metrics ===
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy") if task == "classification" else None

    # ------------------------------------------------------------------ predictions
    def predict_head(self, x, batch_size=256):
        """The head's predictions for inputs ``x`` (inference mode), as numpy.

        Returns:
            Class probabilities ``(n, num_classes)`` (softmax of the logits) for classification, predicted
            values ``(n, output_dim)`` for regression.
        """
        return head_outputs(self.head, encode_codes(self, x, batch_size), self.task, batch_size)

    def predict_labels(self, x, batch_size=256):
        """Predicted classes ``(n,)`` (classification) or values ``(n, output_dim)`` (regression)."""
        out = self.predict_head(x, batch_size)
        return out.argmax(axis=-1) if self.task == "classification" else out

    # ------------------------------------------------------------------ objective
    def targets(self, x, y):
        """The labels of the batch (not a reconstruction target); ``fit(x)`` alone means no labels."""
        batch = ops.shape(x)[0]
        if self.task == "classification":
            if y is None:
                return ops.full((batch,), UNLABELLED, dtype="int32")
            if len(y.shape) == 2 and y.shape[-1] == 1:
                y = ops.squeeze(y, axis=-1)
            if len(y.shape) != 1:
                raise ValueError(
                    f"{type(self).__name__} expects integer class labels of shape (batch,), -1 for unlabelled "
                    f"examples. Received labels of shape {tuple(y.shape)}. Fix: pass integer labels, not "
                    "one-hot vectors or images."
                )
            return ops.cast(y, "int32")
        if y is None:
            return ops.full((batch, self.output_dim), float("nan"), dtype="float32")
        if len(y.shape) == 1:
            y = ops.expand_dims(y, -1)
        if len(y.shape) != 2 or y.shape[-1] != self.output_dim:
            raise ValueError(
                f"{type(self).__name__} expects regression targets of shape (batch, {self.output_dim}) "
                f"(NaN for unlabelled examples). Received targets of shape {tuple(y.shape)}."
            )
        return ops.cast(y, "float32")

    def compute_loss_terms(self, x, target, training=False):
        """Per-example reconstruction and (normalised) supervised terms; ``target`` holds the labels.

        Returns:
            ``(terms, head_outputs)``: ``terms["supervised_loss"][n] = mask_n * s_n * |B| / max(|L|, 1)``
            (its batch mean is the labelled mean) and the head's logits or values.
        """
        terms, code, _ = self.autoencoder_terms(x, x, training=training)
        head_outputs = self.head(code, training=training)
        masked, mask, _ = _supervised_per_example(self.task, target, head_outputs)
        batch = ops.cast(ops.shape(mask)[0], "float32")
        terms["supervised_loss"] = masked * (batch / ops.maximum(ops.sum(mask), 1.0))
        return terms, head_outputs

    def combine_loss_terms(self, terms):
        """``supervised + alpha * reconstruction`` (+ any code penalties), per example."""
        scaled = dict(terms, reconstruction_loss=self.alpha * terms["reconstruction_loss"])
        return super().combine_loss_terms(scaled)

    def update_metrics(self, terms, per_example_loss, regularization, target, prediction, sample_weight):
        """Tracks ``supervised_loss`` and ``accuracy`` over the labelled examples only.

        Returns the labelled mask (times any sample weight) so that compiled metrics also see only the
        labelled examples.
        """
        others = {name: value for name, value in terms.items() if name != "supervised_loss"}
        super().update_metrics(others, per_example_loss, regularization, target, prediction, sample_weight)
        masked, mask, correct = _supervised_per_example(self.task, target, prediction)
        weights = mask if sample_weight is None else mask * ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        # Mean over the labelled examples: sum(w * mask * s) / sum(w * mask); nothing when none.
        self.term_trackers["supervised_loss"].update_state(masked, sample_weight=weights)
        if self.accuracy_tracker is not None:
            self.accuracy_tracker.update_state(correct, sample_weight=weights)
        return weights

    # ------------------------------------------------------------------ sequential training
    def fit_sequential(
        self,
        x,
        y,
        *,
        epochs=10,
        head_epochs=None,
        batch_size=64,
        head_learning_rate=1e-2,
        callbacks=None,
        validation_data=None,
        verbose=0,
    ):
        """Sequential training: the autoencoder on all of ``x``, then the head on frozen codes.

        Stage 1 fits the model on ``x`` without labels (only the reconstruction loss; the head gets no
        gradient). Stage 2 computes the codes of the labelled examples in inference mode and fits the head
        on them with the encoder frozen (it receives no gradient). The model must be compiled.

        Args:
            x: All inputs, ``(n, ...)``.
            y: Labels, ``-1``/``NaN`` for unlabelled examples.
            epochs: Epochs of the autoencoder stage.
            head_epochs: Epochs of the head stage (default: ``10 * epochs``, the labelled set being small).
            batch_size: Batch size of both stages.
            head_learning_rate: Adam learning rate of the head stage.
            callbacks: Callbacks for the autoencoder stage.
            validation_data: Optional ``(x_val, y_val)`` for the head stage.
            verbose: Keras verbosity.

        Returns:
            ``{"autoencoder": History, "head": History}``.
        """
        x = np.asarray(x, dtype="float32")
        y = np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"Expected one label per example. Received {len(x)} examples and {len(y)} labels.")
        if not self.compiled:
            raise ValueError("Compile the model before fit_sequential, e.g. model.compile(optimizer='adam').")
        history = self.fit(x, epochs=epochs, batch_size=batch_size, callbacks=callbacks, verbose=verbose)
        validation = None
        if validation_data is not None:
            x_val, y_val = validation_data
            validation = (encode_codes(self, x_val), np.asarray(y_val))
        trainable = self.encoder.trainable
        self.encoder.trainable = False
        try:
            head_history = fit_head(
                self.head, encode_codes(self, x), y, self.task, head_epochs or 10 * epochs, batch_size,
                head_learning_rate, verbose, validation,
            )
        finally:
            self.encoder.trainable = trainable
        return {"autoencoder": history, "head": head_history}

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "head": keras.saving.serialize_keras_object(self.head),
                "task": self.task,
                "num_classes": self.num_classes,
                "output_dim": self.output_dim,
                "alpha": self.alpha,
            }
        )
        return config
