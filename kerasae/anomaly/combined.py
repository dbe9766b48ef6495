"""The combined anomaly score of an autoencoder: how badly it reconstructs an example, and how far the example's code
lies from the codes of the normal training examples, each standardised on held-out normal examples.

An autoencoder trained on one class flags an anomaly in two ways. It reconstructs it badly (the residual), or it
maps it to a code far from every normal code, where the decoder may still draw something close to the input (a
simple shape that a network of the normal class redraws well). The reconstruction error alone misses the second kind, the distance
between codes alone the first. The score adds the two as z-scores, each part's mean and standard deviation taken
on normal examples held out from training (the validation split), so no weight is fitted on anomalies:

    s(x) = (e(x) - mean_val(e)) / std_val(e) + (d(x) - mean_val(d)) / std_val(d)
    e(x) = mean over pixels of (G_sigma * (x - x^))^2        (x^ = model.reconstruct(x))
    d(x) = mean Euclidean distance from f(x) to its k nearest codes of the training examples  (f = encode_mean)

For images the residual is smoothed by a Gaussian ``G_sigma`` of ``sigma`` pixels before squaring: a missing or
extra stroke then counts more than a stroke drawn a pixel to one side. Non-image inputs use the plain residual. The
nearest neighbours come from scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors`.

Example:
    >>> score = kerasae.anomaly.CombinedScore(model, image_shape=(28, 28, 1)).fit(data.x_train, data.x_val)
    >>> s = score.score(data.x_test)                 # higher: more anomalous; mean 0 on data.x_val
    >>> score.parts(data.x_test)                     # {"reconstruction": e, "code_distance": d}

References:
    Ruff et al. (2018), Deep one-class classification (ICML): the one-class protocol.
"""

import math

import numpy as np

from kerasae.anomaly.scores import check_x
from kerasae.utils.validation import check_number, check_positive_int, is_int

#: The two parts of the score, in order.
PARTS = ("reconstruction", "code_distance")


class CombinedScore:
    """Anomaly score ``s(x)``: the standardised smoothed reconstruction error plus the standardised distance of the
    code to its ``neighbours`` nearest training codes (see the module's docstring for the formula).

    Args:
        model: A trained kerasae autoencoder (any family with ``encode_mean`` and ``reconstruct``: autoencoders,
            denoising, contractive, VAEs).
        image_shape: ``(height, width, channels)`` of one example, for smoothing flattened images; ``None``: the
            model's own input shape when it is an image (rank 3), else no smoothing.
        sigma: Standard deviation of the Gaussian smoothing the residual, in pixels (``0``: none).
        neighbours: ``k``, the nearest training codes averaged.
        batch_size: Examples encoded and reconstructed at a time.

    Raises:
        ValueError: for a model without ``encode_mean``/``reconstruct``, an ``image_shape`` that does not hold
            the model's inputs, a negative ``sigma`` or a non-positive ``neighbours``/``batch_size``.
    """

    def __init__(self, model, image_shape=None, sigma=1.0, neighbours=5, batch_size=256):
        missing = [name for name in ("encode_mean", "reconstruct") if not callable(getattr(model, name, None))]
        if missing:
            raise ValueError(
                f"CombinedScore needs a kerasae autoencoder (encode_mean and reconstruct). Received "
                f"{type(model).__name__}, which has no {' or '.join(missing)}."
            )
        self.model = model
        self.image_shape = self._check_image_shape(model, image_shape)
        self.sigma = check_number("sigma", sigma, minimum=0.0)
        self.neighbours = check_positive_int("neighbours", neighbours)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self._index = None
        self.mean = self.std = self.reference_scores = None

    @staticmethod
    def _check_image_shape(model, image_shape):
        data_shape = tuple(getattr(model, "data_shape", None) or ())
        if image_shape is None:
            return data_shape if len(data_shape) == 3 else None
        ok = isinstance(image_shape, (tuple, list)) and len(image_shape) == 3 and all(
            is_int(v) and v >= 1 for v in image_shape)
        if not ok or (data_shape and math.prod(image_shape) != math.prod(data_shape)):
            raise ValueError(
                f"Expected image_shape to be (height, width, channels) holding the model's inputs {data_shape}. "
                f"Received: image_shape={image_shape!r}. Fix: pass the data set's image shape, or None."
            )
        return tuple(int(v) for v in image_shape)

    def _codes_and_errors(self, x):
        from scipy.ndimage import gaussian_filter

        codes, errors = [], []
        for start in range(0, len(x), self.batch_size):
            xb = x[start : start + self.batch_size]
            codes.append(np.asarray(self.model.encode_mean(xb), dtype="float64").reshape(len(xb), -1))
            residual = np.asarray(xb, dtype="float64") - np.asarray(self.model.reconstruct(xb), dtype="float64")
            if self.image_shape is not None and self.sigma > 0:
                residual = gaussian_filter(residual.reshape(len(xb), *self.image_shape),
                                           sigma=(0, self.sigma, self.sigma, 0))
            errors.append(np.mean(residual.reshape(len(xb), -1) ** 2, axis=1))
        return np.concatenate(codes), np.concatenate(errors)

    def fit(self, x_train, x_val):
        """Indexes the codes of ``x_train`` (the normal training examples) and standardises both parts on
        ``x_val`` (normal examples held out from training, at least 2); returns ``self``."""
        from sklearn.neighbors import NearestNeighbors

        x_train = check_x(self.model, x_train, "x_train")
        x_val = check_x(self.model, x_val, "x_val")
        if len(x_train) < self.neighbours:
            raise ValueError(
                f"Expected at least neighbours={self.neighbours} training examples. Received {len(x_train)}. "
                "Fix: pass more normal training examples, or fewer neighbours."
            )
        if len(x_val) < 2:
            raise ValueError(
                f"Expected at least 2 held-out normal examples to standardise the score on. Received {len(x_val)}. "
                "Fix: train with a validation split (e.g. --validation-split 0.1)."
            )
        codes, _ = self._codes_and_errors(x_train)
        self._index = NearestNeighbors(n_neighbors=self.neighbours).fit(codes)
        parts = self._raw_parts(x_val)
        self.mean = {name: float(values.mean()) for name, values in parts.items()}
        self.std = {name: float(values.std()) for name, values in parts.items()}
        # flat: no spread beyond float32 round-off (identical examples differ by ~1e-7 relative on some CPUs)
        flat = [name for name, value in self.std.items() if not value > 1e-5 * abs(self.mean[name])]
        if flat:
            raise ValueError(
                f"The held-out normal examples all have the same {' and '.join(flat)}, so it cannot be standardised. "
                "Fix: pass distinct held-out examples."
            )
        self.reference_scores = self._combine(parts)
        return self

    def _raw_parts(self, x):
        codes, errors = self._codes_and_errors(x)
        distances, _ = self._index.kneighbors(codes)
        return {"reconstruction": errors, "code_distance": distances.mean(axis=1)}

    def _combine(self, parts):
        return sum((parts[name] - self.mean[name]) / self.std[name] for name in PARTS)

    def parts(self, x):
        """``{"reconstruction": e(x), "code_distance": d(x)}``, each ``(n,)`` float64, before standardising."""
        if self._index is None:
            raise ValueError("The score is not fitted yet. Call fit(x_train, x_val) first.")
        return self._raw_parts(check_x(self.model, x, "x"))

    def score(self, x):
        """``s(x)``, a float64 array ``(n,)``: higher means more anomalous."""
        return self._combine(self.parts(x))
