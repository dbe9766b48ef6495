"""Prediction heads on a trained model's codes: :class:`LatentPredictor` (the M1 scheme with a VAE),
:class:`LatentLabelSpreading` (M1 with a transductive classifier) and the helpers the semi-supervised autoencoder
shares with them."""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasae.data.labels import UNLABELLED, check_labels, check_task, labelled_mask
from kerasae.utils.validation import check_positive_int

#: Keras epochs the head's passes over the (few) labelled codes are reported in (see ``fit_head``).
MAX_HEAD_EPOCHS = 10


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
    """Codes of ``x`` in inference mode, as a numpy array: ``model.encode_mean(x)`` (the code, or a VAE's
    posterior mean), or ``model.encode(x)`` for a model without it (e.g. :class:`kerasae.linear.PCA`).

    Args:
        model: A trained model with ``encode_mean(x)`` or ``encode(x)``.
        x: Inputs, ``(n, ...)``.
        batch_size: Examples encoded at a time.

    Returns:
        A float32 array ``(n, latent_dim)``.
    """
    encode = _encoder_of(model)
    batch_size = check_positive_int("batch_size", batch_size)
    x = np.asarray(x, dtype="float32")
    codes = [np.asarray(encode(x[start : start + batch_size]), dtype="float32") for start in range(0, len(x), batch_size)]
    return np.concatenate(codes, axis=0)


def _encoder_of(model):
    encode = getattr(model, "encode_mean", None) or getattr(model, "encode", None)
    if not callable(encode):
        raise ValueError(
            f"Expected a model with an encode(x) method (an autoencoder or a VAE). Received {type(model).__name__}."
        )
    return encode


def _some_labelled(labels, task):
    """``labelled_mask(labels, task)``, refusing labels with no labelled example."""
    mask = labelled_mask(labels, task)
    if not mask.any():
        raise ValueError("Expected at least one labelled example to fit the head. Received none (all -1 or NaN).")
    return mask


def fit_head(head, codes, labels, task, epochs, batch_size, learning_rate, verbose=0, validation_data=None, seed=0):
    """Fits ``head`` on fixed codes (the encoder is frozen: no gradient reaches it) for ``epochs`` passes."""
    epochs, batch_size = check_positive_int("epochs", epochs), check_positive_int("batch_size", batch_size)
    mask = _some_labelled(labels, task)
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


def head_outputs(head, codes, task, batch_size=256):
    batch_size = check_positive_int("batch_size", batch_size)
    out = np.concatenate(
        [np.asarray(head(codes[i : i + batch_size], training=False)) for i in range(0, len(codes), batch_size)]
    )
    return np.asarray(ops.softmax(out, axis=-1)) if task == "classification" else out


class LatentPredictor:
    """A head fitted on the frozen codes of any trained model with ``encode`` (the M1 scheme).

    The codes are ``model.encode_mean(x)`` in inference mode: the code, or a VAE's posterior mean ``E[z|x]``.
    Only the head is trained: minimising the mean cross-entropy (or squared error)
    ``(1/|L|) sum_{n in L} s(y_n, h(z_n))`` over the labelled examples.

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
        check_task(task)
        _encoder_of(model)  # raises for a model without encode(x)
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
        if self.task == "classification":  # the labelled ones: class indices (never 2.5 truncated to 2)
            labelled = _some_labelled(y, self.task)
            y_labelled = check_labels(y[labelled], "the labelled examples' labels", num_classes=self.num_classes)
            y = np.full(len(y), UNLABELLED, dtype="int64")
            y[labelled] = y_labelled
        codes = encode_codes(self.model, x)
        if self.head is None:
            if self.task == "classification":
                units = self.num_classes or int(y.max()) + 1
            else:
                units = self.output_dim or (y.shape[1] if y.ndim == 2 else 1)
            self.head = default_head(codes.shape[1], units)
        self.history = fit_head(self.head, codes, y, self.task, epochs, batch_size, learning_rate, verbose, seed=seed)
        return self

    def predict_head(self, x, batch_size=256):
        """Class probabilities (classification) or predicted values (regression), as numpy."""
        if self.head is None:
            raise ValueError("The head is not fitted yet. Call fit(x, y) first.")
        return head_outputs(self.head, encode_codes(self.model, x, batch_size), self.task, batch_size)

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


class LatentLabelSpreading:
    """M1 with a transductive classifier: label spreading over the nearest-neighbour graph of the codes of every
    example, labelled or not.

    The codes are ``model.encode_mean(x)`` (a VAE's posterior mean). Label spreading (Zhou et al. 2004,
    scikit-learn's ``LabelSpreading``) iterates ``F <- alpha S F + (1 - alpha) Y`` with ``S`` the symmetrically
    normalised ``n_neighbors``-nearest-neighbour graph of all codes and ``Y`` the one-hot labels (zero rows for
    unlabelled examples); an example takes the class of its largest ``F``, a new example that of its neighbours
    among the fitted codes. Unlike :class:`LatentPredictor`'s head, the unlabelled codes shape the classifier, as
    the paper's transductive SVM on M1's codes does.

    Args:
        model: A trained model with ``encode(x)`` (a VAE: the M1 of Kingma et al.).
        n_neighbors: Neighbours per code in the graph.
        alpha: Weight of the neighbours' labels against an example's own, in ``(0, 1)``.
        max_iter: Most iterations of the spreading.

    Example:
        >>> m1 = kerasae.LatentLabelSpreading(vae).fit(x_train, y_partial)   # -1: unlabelled
        >>> m1.score(x_test, y_test)

    References:
        Zhou, Bousquet, Lal, Weston & Schoelkopf (2004), Learning with local and global consistency. NeurIPS.
        Kingma, Rezende, Mohamed & Welling (2014), Semi-supervised learning with deep generative models. NeurIPS.
    """

    def __init__(self, model, n_neighbors=10, alpha=0.2, max_iter=200):
        _encoder_of(model)  # raises for a model without encode(x)
        self.model = model
        self.n_neighbors = check_positive_int("n_neighbors", n_neighbors)
        if not 0 < alpha < 1:
            raise ValueError(f"Expected 0 < alpha < 1 (the neighbours' weight). Received: alpha={alpha!r}.")
        self.alpha = float(alpha)
        self.max_iter = check_positive_int("max_iter", max_iter)
        self.spreading = None

    def fit(self, x, y):
        """Spreads the labels of ``y`` (class indices; ``-1``/``NaN`` = unlabelled) over the codes of ``x``.

        Returns:
            ``self``.
        """
        from sklearn.semi_supervised import LabelSpreading

        y = np.asarray(y, dtype="float64")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"Expected one label per example, shape ({len(x)},). Received shape {y.shape}.")
        labelled = labelled_mask(y)
        if not labelled.any():
            raise ValueError("Expected some labelled examples (class indices >= 0). Received none. Fix: label a few.")
        labels = np.full(len(y), UNLABELLED, dtype="int64")
        labels[labelled] = check_labels(y[labelled], "the labelled examples' labels")
        if len(x) <= self.n_neighbors:
            raise ValueError(f"Expected more than n_neighbors={self.n_neighbors} examples. Received {len(x)}. Fix: "
                             "pass more examples (unlabelled ones count) or a smaller n_neighbors.")
        self.spreading = LabelSpreading(kernel="knn", n_neighbors=self.n_neighbors, alpha=self.alpha,
                                        max_iter=self.max_iter).fit(encode_codes(self.model, x), labels)
        self._labelled, self._labels = labelled, labels[labelled]
        return self

    def predict_labels(self, x, batch_size=256):
        """Predicted classes ``(n,)``: the largest spread label among an example's neighbours; an example whose
        neighbours received none (a part of the graph no label reaches) takes its nearest labelled code's class."""
        if self.spreading is None:
            raise ValueError("The labels are not spread yet. Call fit(x, y) first.")
        codes = encode_codes(self.model, x, batch_size)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 for an example no label reaches: handled below
            probabilities = self.spreading.predict_proba(codes)
        labels = self.spreading.classes_[np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1)]
        unreached = ~np.isfinite(probabilities).all(axis=1) | (np.nan_to_num(probabilities).sum(axis=1) == 0)
        if unreached.any():
            from sklearn.neighbors import NearestNeighbors

            index = NearestNeighbors(n_neighbors=1).fit(self.spreading.X_[self._labelled])
            labels[unreached] = self._labels[index.kneighbors(codes[unreached], return_distance=False)[:, 0]]
        return labels

    def score(self, x, y):
        """Accuracy on labelled ``(x, y)``."""
        return accuracy(self, x, y)


def accuracy(model, x, y):
    """Accuracy of ``model.predict_labels`` on labelled examples ``(x, y)``."""
    return float(np.mean(model.predict_labels(x) == np.asarray(y)))
