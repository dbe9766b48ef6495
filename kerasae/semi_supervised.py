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

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasae.autoencoder import Autoencoder

#: Tasks the prediction head can solve.
TASKS = ("classification", "regression")
#: The label of an unlabelled example in classification (regression uses NaN).
UNLABELLED = -1
#: Keras epochs the head's passes over the (few) labelled codes are reported in (see ``_fit_head``).
MAX_HEAD_EPOCHS = 10


# ---------------------------------------------------------------------------------------------- helpers
def _check_task(task):
    if task not in TASKS:
        raise ValueError(f"Expected task to be one of {list(TASKS)}. Received: task={task!r}")


def default_head(latent_dim, units, name="head"):
    """A linear head on the code: ``Dense(units)``, logits for classification, values for regression.

    Args:
        latent_dim: Width of the code.
        units: Number of classes (classification) or of regression outputs.
        name: The model's name.

    Returns:
        A functional ``keras.Model`` mapping ``(batch, latent_dim)`` to ``(batch, units)``.
    """
    z = keras.Input((int(latent_dim),), name="z")
    return keras.Model(z, keras.layers.Dense(int(units), name="output")(z), name=name)


def encode_codes(model, x, batch_size=256):
    """Codes of ``x`` in inference mode, as a numpy array, for any model with ``encode``.

    When ``encode`` returns a distribution (the VAE's posterior ``q(z|x)``), its mean is used.

    Args:
        model: A trained model with ``encode(x)``.
        x: Inputs, ``(n, ...)``.
        batch_size: Examples encoded at a time.

    Returns:
        A float32 array ``(n, latent_dim)``.
    """
    if not callable(getattr(model, "encode", None)):
        raise ValueError(
            f"Expected a model with an encode(x) method (an autoencoder or a VAE). Received {type(model).__name__}."
        )
    x = np.asarray(x, dtype="float32")
    codes = []
    for start in range(0, len(x), batch_size):
        out = model.encode(x[start : start + batch_size])
        if hasattr(out, "sample") and callable(getattr(out, "mean", None)):  # a tfp distribution
            out = out.mean()
        codes.append(np.asarray(out, dtype="float32"))
    return np.concatenate(codes, axis=0)


def labelled_mask(y, task="classification"):
    """Which examples carry a label: ``y != -1`` (classification) or all targets finite (regression).

    Args:
        y: Labels ``(n,)``, or regression targets ``(n,)`` / ``(n, k)``.
        task: ``"classification"`` or ``"regression"``.

    Returns:
        A boolean numpy array ``(n,)``.
    """
    _check_task(task)
    y = np.asarray(y)
    if task == "classification":
        return y.reshape(len(y), -1)[:, 0] != UNLABELLED
    return np.all(np.isfinite(y.reshape(len(y), -1).astype("float64")), axis=1)


def mask_labels(y, labels_per_class, seed=0):
    """Keeps ``labels_per_class`` labels of each class (seeded, balanced) and marks the rest ``-1``.

    Args:
        y: Integer class labels ``(n,)`` of a fully labelled training set.
        labels_per_class: How many examples of each class keep their label, >= 1.
        seed: Seed of the choice.

    Returns:
        An int64 array ``(n,)``: the label for the kept examples, ``-1`` elsewhere.

    Raises:
        ValueError: if ``y`` is not a 1-D array of non-negative integers, or a class has fewer than
            ``labels_per_class`` examples.
    """
    if isinstance(labels_per_class, bool) or not isinstance(labels_per_class, (int, np.integer)) or labels_per_class < 1:
        raise ValueError(f"Expected labels_per_class to be a positive integer. Received: labels_per_class={labels_per_class!r}")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(
            "Expected y to be a non-empty 1-D array of class labels (integers >= 0). "
            f"Received shape {y.shape}, dtype {y.dtype}."
        )
    rng = np.random.default_rng(seed)
    out = np.full(len(y), UNLABELLED, dtype="int64")
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < labels_per_class:
        raise ValueError(
            f"Class {classes[counts.argmin()]} has only {counts.min()} examples, fewer than "
            f"labels_per_class={labels_per_class}. Fix: use labels_per_class <= {counts.min()}."
        )
    for c in classes:
        keep = rng.choice(np.flatnonzero(y == c), size=labels_per_class, replace=False)
        out[keep] = c
    return out


def mixed_pipeline(x, y, batch_size=64, labelled_fraction=0.25, seed=0, task="classification"):
    """A shuffled ``tf.data`` pipeline of ``(x, y)`` batches that each mix labelled and unlabelled examples.

    Every batch holds ``k`` labelled examples and ``batch_size - k`` unlabelled ones, with
    ``k = round(batch_size * max(labelled_fraction, n_labelled / n))`` (at least 1, at most ``batch_size - 1``).
    The labelled examples are oversampled (drawn from a reshuffled, repeated stream) so that every batch
    has some; an epoch is one pass over the unlabelled examples.

    Args:
        x: Inputs ``(n, ...)``.
        y: Labels with ``-1`` (classification) or ``NaN`` (regression) marking the unlabelled examples,
            e.g. from :func:`mask_labels`.
        batch_size: Examples per batch.
        labelled_fraction: Smallest fraction of each batch that is labelled, in (0, 1).
        seed: Seed of the shuffling.
        task: ``"classification"`` or ``"regression"`` (how unlabelled examples are marked).

    Returns:
        A ``tf.data.Dataset`` of ``(x, y)`` batches.

    Raises:
        ValueError: for mismatched lengths, a bad batch size or fraction, or no examples.
    """
    from kerasae.datasets import make_pipeline

    x = np.asarray(x, dtype="float32")
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"Expected one label per example. Received {len(x)} examples and {len(y)} labels.")
    if not 0.0 < float(labelled_fraction) < 1.0:
        raise ValueError(f"Expected labelled_fraction in (0, 1). Received: labelled_fraction={labelled_fraction!r}")
    y = y.astype("int64") if task == "classification" else y.astype("float32")
    mask = labelled_mask(y, task)
    n_labelled, n = int(mask.sum()), len(x)
    if n_labelled in (0, n):  # nothing to mix
        return make_pipeline(x, y, batch_size=batch_size, shuffle=True, seed=seed)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"Expected batch_size to be an integer >= 2 to mix examples. Received: batch_size={batch_size!r}")
    k = round(batch_size * max(float(labelled_fraction), n_labelled / n))
    k = min(max(k, 1), batch_size - 1)
    x_lab, y_lab, x_unl, y_unl = x[mask], y[mask], x[~mask], y[~mask]
    labelled = (
        tf.data.Dataset.from_tensor_slices((x_lab, y_lab))
        .cache()
        .shuffle(len(x_lab), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(k)
    )
    unlabelled = (
        tf.data.Dataset.from_tensor_slices((x_unl, y_unl))
        .cache()
        .shuffle(len(x_unl), seed=seed + 1, reshuffle_each_iteration=True)
        .batch(batch_size - k)
    )
    mixed = tf.data.Dataset.zip((labelled, unlabelled)).map(
        lambda a, b: (tf.concat([a[0], b[0]], axis=0), tf.concat([a[1], b[1]], axis=0)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return mixed.prefetch(tf.data.AUTOTUNE)


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


def _fit_head(head, codes, labels, task, epochs, batch_size, learning_rate, verbose=0, validation_data=None, seed=0):
    """Fits ``head`` on fixed codes (the encoder is frozen: no gradient reaches it) for ``epochs`` passes."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"Expected {name} to be a positive integer. Received: {name}={value!r}")
    mask = labelled_mask(labels, task)
    if not mask.any():
        raise ValueError("Expected at least one labelled example to fit the head. Received none (all -1 or NaN).")
    codes, labels = codes[mask], np.asarray(labels)[mask]
    if task == "regression":
        labels = labels.astype("float32").reshape(len(labels), -1)
    wrapper = keras.Sequential([keras.Input(codes.shape[1:]), head], name="head_trainer")
    if task == "classification":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        loss, metrics = keras.losses.MeanSquaredError(), []
    wrapper.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    # The labelled set is small: report the passes in at most MAX_HEAD_EPOCHS Keras epochs, which saves the
    # per-epoch overhead (the number of gradient steps is that of `epochs` passes).
    batch_size = min(batch_size, len(codes))
    steps = epochs * math.ceil(len(codes) / batch_size)
    keras_epochs = min(epochs, MAX_HEAD_EPOCHS)
    data = (
        tf.data.Dataset.from_tensor_slices((codes, labels))
        .shuffle(len(codes), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .repeat()
    )
    return wrapper.fit(
        data,
        epochs=keras_epochs,
        steps_per_epoch=math.ceil(steps / keras_epochs),
        shuffle=False,  # the pipeline reshuffles
        verbose=verbose,
        validation_data=validation_data,
    )


def _head_outputs(head, codes, task, batch_size=256):
    out = np.concatenate(
        [np.asarray(head(codes[i : i + batch_size], training=False)) for i in range(0, len(codes), batch_size)]
    )
    return np.asarray(ops.softmax(out, axis=-1)) if task == "classification" else out


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
        _check_task(task)
        if isinstance(alpha, bool) or not float(alpha) >= 0:
            raise ValueError(f"Expected alpha >= 0 (the weight of the reconstruction loss). Received: alpha={alpha!r}")
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
            if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
                raise ValueError(
                    "Expected num_classes to be an integer >= 2 for classification (or a head whose output "
                    f"width gives it). Received: num_classes={num_classes!r}"
                )
            units = num_classes = int(num_classes)
        else:
            output_dim = output_dim if output_dim is not None else (head_units or 1)
            if isinstance(output_dim, bool) or not isinstance(output_dim, (int, np.integer)) or output_dim < 1:
                raise ValueError(f"Expected output_dim to be a positive integer. Received: output_dim={output_dim!r}")
            units = output_dim = int(output_dim)
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
        return _head_outputs(self.head, encode_codes(self, x, batch_size), self.task, batch_size)

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
            head_history = _fit_head(
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


class LatentPredictor:
    """A head fitted on the frozen codes of any trained model with ``encode`` (the M1 scheme).

    The codes are ``model.encode(x)`` in inference mode, or its mean when ``encode`` returns a
    distribution (the VAE's posterior mean ``E[z|x]``). Only the head is trained: minimising the mean
    cross-entropy (or squared error) ``(1/|L|) sum_{n in L} s(y_n, h(z_n))`` over the labelled examples.

    Args:
        model: A trained model with ``encode(x)`` (an :class:`kerasae.Autoencoder`, a VAE, ...).
        head: A Keras model mapping codes to logits or values; ``None`` for a linear :func:`default_head`.
        task: ``"classification"`` or ``"regression"``.
        num_classes: Number of classes (classification; default: ``max label + 1`` at ``fit``).
        output_dim: Number of regression outputs (default: from the targets at ``fit``).

    Example:
        >>> vae = kerasae.vae.VAE(encoder, decoder)  # trained on all the images
        >>> m1 = kerasae.semi_supervised.LatentPredictor(vae).fit(x_train, y_partial, epochs=200)
        >>> m1.score(x_test, y_test)

    References:
        Kingma, Rezende, Mohamed & Welling (2014), Semi-supervised learning with deep generative models. NeurIPS.
    """

    def __init__(self, model, head=None, task="classification", num_classes=None, output_dim=None):
        _check_task(task)
        if not callable(getattr(model, "encode", None)):
            raise ValueError(
                f"Expected a model with an encode(x) method (an autoencoder or a VAE). Received {type(model).__name__}."
            )
        self.model = model
        self.head = head
        self.task = task
        self.num_classes = num_classes
        self.output_dim = output_dim
        self.history = None

    def fit(self, x, y, epochs=100, batch_size=64, learning_rate=1e-2, verbose=0, seed=0):
        """Fits the head on the codes of the labelled examples of ``x`` (``-1``/``NaN`` = unlabelled).

        Returns:
            ``self``.
        """
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"Expected one label per example. Received {len(x)} examples and {len(y)} labels.")
        codes = encode_codes(self.model, x)
        if self.head is None:
            if self.task == "classification":
                units = self.num_classes or int(y.max()) + 1
            else:
                units = self.output_dim or (y.shape[1] if y.ndim == 2 else 1)
            self.head = default_head(codes.shape[1], units)
        self.history = _fit_head(self.head, codes, y, self.task, epochs, batch_size, learning_rate, verbose, seed=seed)
        return self

    def predict_head(self, x, batch_size=256):
        """Class probabilities (classification) or predicted values (regression), as numpy."""
        if self.head is None:
            raise ValueError("The head is not fitted yet. Call fit(x, y) first.")
        return _head_outputs(self.head, encode_codes(self.model, x, batch_size), self.task, batch_size)

    def predict_labels(self, x, batch_size=256):
        """Predicted classes ``(n,)`` (classification) or values (regression)."""
        out = self.predict_head(x, batch_size)
        return out.argmax(axis=-1) if self.task == "classification" else out

    def score(self, x, y):
        """Accuracy (classification) or mean squared error (regression) on labelled ``(x, y)``."""
        prediction = self.predict_labels(x)
        if self.task == "classification":
            return float(np.mean(prediction == np.asarray(y)))
        return float(np.mean((prediction - np.asarray(y, dtype="float32").reshape(prediction.shape)) ** 2))


def accuracy(model, x, y):
    """Accuracy of ``model.predict_labels`` on labelled examples ``(x, y)``."""
    return float(np.mean(model.predict_labels(x) == np.asarray(y)))


# ---------------------------------------------------------------------------------------------- CLI
def _build(args, data):
    from kerasae.registry import networks_from_args

    if data.y_train is None:
        raise ValueError(f"The semi-supervised model needs labels, and the data set {data.name!r} has none.")
    encoder, decoder = networks_from_args(args, data)
    return SemiSupervisedAutoencoder(
        encoder, decoder, num_classes=max(data.num_classes, 2), alpha=args.alpha,
        reconstruction_loss=args.loss, l2=args.l2,
    )


def _verbose(args):
    import sys

    return args.verbose if getattr(args, "verbose", None) is not None else ("auto" if sys.stdout.isatty() else 2)


def _fit(model, data, args, callbacks):
    y = mask_labels(data.y_train, args.labels_per_class, seed=args.seed)
    if args.sequential:
        histories = model.fit_sequential(
            data.x_train, y, epochs=args.epochs, batch_size=args.batch_size, callbacks=callbacks, verbose=_verbose(args)
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
        verbose=_verbose(args),
        shuffle=False,  # the pipeline reshuffles each epoch
    )


def _labelled_pipeline(model, data, split, batch_size):
    """Evaluation pipelines carry the true labels, so the standard evaluation reports accuracy."""
    return data.pipeline(split, batch_size, with_labels=True)


def _register():
    from kerasae.registry import register_model

    register_model(
        "semi-supervised",
        _build,
        help="autoencoder + classifier head trained on few labels and all unlabelled data",
        arguments=(
            (("--labels-per-class",), {"type": int, "default": 10, "help": "labelled examples kept per class (default: 10)"}),
            (("--alpha",), {"type": float, "default": 1.0, "help": "weight of the reconstruction loss (default: 1)"}),
            (("--labelled-fraction",), {"type": float, "default": 0.25, "help": "least labelled fraction of each batch (default: 0.25)"}),
            (("--sequential",), {"action": "store_true", "help": "train the autoencoder first, then the head on frozen codes"}),
        ),
        fit=_fit,
        pipeline=_labelled_pipeline,
    )


_register()
