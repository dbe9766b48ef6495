"""Data: named and user data sets as float32 in [0, 1], synthetic data, and ``tf.data`` pipelines.

Names:
    ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images), the embedded default that
    works offline. ``mnist`` and ``fashion_mnist``: 28x28 images through ``keras.datasets``' own loaders
    and cache (``KERAS_HOME``). Anything else is read as a path to a ``.npz``, ``.npy`` or ``.csv`` file.

Example:
    >>> data = kerasae.datasets.load("digits", validation_split=0.1)
    >>> data.x_train.shape, data.x_train.dtype
    ((1293, 64), dtype('float32'))
    >>> train = data.pipeline("train", batch_size=64)
"""

import dataclasses
import math
import os

import numpy as np

from kerasae.data.checks import check_array  # noqa: F401  (also reachable from here)
from kerasae.data.pipelines import make_pipeline
from kerasae.utils.validation import check_choice, check_number

#: Names :func:`load` knows; anything else is treated as a file path.
NAMES = ("digits", "mnist", "fashion_mnist")
FILE_SUFFIXES = (".npz", ".npy", ".csv")
BINARIZATIONS = (None, "static", "dynamic")


@dataclasses.dataclass
class Dataset:
    """Train, validation and test splits of one data set, float32 in [0, 1].

    Attributes:
        name: The name or path it was loaded from.
        x_train, y_train, x_val, y_val, x_test, y_test: The splits (labels ``None`` where unknown; the
            validation split is empty when ``validation_split=0``).
        image_shape: ``(height, width, channels)`` of one image, or ``None`` for non-image data.
        binarize: ``None``, ``"static"`` (already thresholded) or ``"dynamic"`` (``pipeline`` draws a fresh
            Bernoulli sample of every training batch each epoch).
        seed: The seed used for splitting, shuffling and dynamic binarisation.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    image_shape: tuple | None = None
    binarize: str | None = None
    seed: int = 0

    @property
    def input_shape(self):
        """Shape of one example as the models see it, e.g. ``(64,)`` or ``(8, 8, 1)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self):
        """Number of label classes (``max label + 1``), or ``None`` without labels."""
        if self.y_train is None:
            return None
        return int(max(self.y_train.max(), self.y_test.max() if self.y_test is not None else 0)) + 1

    def split(self, split):
        """Returns ``(x, y)`` of ``"train"``, ``"val"`` or ``"test"``."""
        check_choice("split", split, ("train", "val", "test"))
        return getattr(self, f"x_{split}"), getattr(self, f"y_{split}")

    def pipeline(self, split="train", batch_size=64, shuffle=None, with_labels=False, transform=None):
        """A batched, prefetched ``tf.data.Dataset`` of one split (see :func:`make_pipeline`).

        Shuffling and dynamic binarisation apply to the training split only (test data is binarised
        with a fixed draw so that evaluations are reproducible).
        """
        x, y = self.split(split)
        training = split == "train"
        binarize = self.binarize if self.binarize == "dynamic" else None
        if binarize and not training:
            x = _bernoulli(x, self.seed + 1)
            binarize = None
        return make_pipeline(
            x,
            y if with_labels else None,
            batch_size=batch_size,
            shuffle=training if shuffle is None else shuffle,
            seed=self.seed,
            binarize=binarize,
            transform=transform,
        )


def _to_layout(x, flatten, image_shape, name):
    """Reshapes samples to flat vectors or to (H, W, C) images."""
    if x.ndim > 4:
        raise ValueError(
            f"Expected {name} of rank 2 (n, features), 3 (n, height, width) or 4 (n, height, width, "
            f"channels). Received shape {x.shape} (rank {x.ndim})."
        )
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim == 4:
        image_shape = tuple(x.shape[1:])
    elif image_shape is None:
        side = int(round(math.sqrt(x.shape[1])))
        image_shape = (side, side, 1) if side * side == x.shape[1] else None
    if flatten:
        return x.reshape(len(x), math.prod(x.shape[1:])), image_shape
    if image_shape is None:
        raise ValueError(
            f"{name} holds flat vectors of {x.shape[1]} features, which is not a square image, so it cannot "
            "be loaded with flatten=False. Fix: pass image_shape=(height, width, channels), or flatten=True."
        )
    if math.prod(image_shape) != math.prod(x.shape[1:]):
        raise ValueError(
            f"image_shape={image_shape} does not match {name}'s {math.prod(x.shape[1:])} features per sample."
        )
    return x.reshape((len(x),) + tuple(image_shape)), tuple(image_shape)


def _scale(x, scale, name):
    x = np.asarray(x)
    if scale == "auto":
        if np.issubdtype(x.dtype, np.integer) and x.size and x.max() > 1:
            return x.astype("float32") / (255.0 if x.max() <= 255 else float(x.max()))
        return x
    if scale == "minmax":
        x = check_array(x, name, unit_interval=False)
        lo, hi = x.min(), x.max()
        return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    if scale is None:
        return x
    check_choice("scale", scale, ("auto", "minmax", None))


def _bernoulli(x, seed):
    return (np.random.default_rng(seed).random(x.shape, dtype="float32") < x).astype("float32")


# ---------------------------------------------------------------------------------------------- loaders
def _load_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")
    return x, digits.target.astype("int64"), None, None


def _load_keras(name):
    import keras

    loader = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[name]
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as err:  # no network and no cache
        raise ValueError(
            f"Could not load {name!r} through keras.datasets ({type(err).__name__}: {err}). Expected the "
            "file in Keras's cache ($KERAS_HOME/datasets, default ~/.keras/datasets) or internet access. "
            "Fix: connect once, or seed the cache as shared/data/README.md describes."
        ) from err
    return x_train / np.float32(255), y_train.astype("int64"), x_test / np.float32(255), y_test.astype("int64")


def _read_csv(path, label_column):
    with open(path) as f:
        first = f.readline()
    try:
        [float(v) for v in first.strip().split(",") if v.strip()]
        skip = 0
    except ValueError:
        skip = 1  # a header row
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=skip, dtype="float64", ndmin=2)
    except ValueError as err:
        raise ValueError(f"Could not parse {path} as a numeric CSV file: {err}") from err
    if label_column is None:
        return table, None
    col = table.shape[1] - 1 if label_column == "last" else int(label_column)
    return np.delete(table, col, axis=1), table[:, col].astype("int64")


def _load_file(path, label_column):
    if not os.path.exists(path):
        raise ValueError(
            f"No data set named {path!r} and no such file. Expected one of {list(NAMES)} or a path to a "
            f"{', '.join(FILE_SUFFIXES)} file."
        )
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False), None, None, None
    if suffix == ".csv":
        x, y = _read_csv(path, label_column)
        return x, y, None, None
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            if "x_train" in keys:
                get = lambda k: f[k] if k in keys else None  # noqa: E731
                return get("x_train"), get("y_train"), get("x_test"), get("y_test")
            if "x" in keys:
                return f["x"], (f["y"] if "y" in keys else None), None, None
            if len(keys) == 1:
                return f[keys.pop()], None, None, None
        raise ValueError(
            f"{path} holds arrays {sorted(keys)}. Expected 'x_train' (and optionally 'y_train', 'x_test', "
            "'y_test'), or 'x' (and optionally 'y'), or a single array."
        )
    raise ValueError(f"Unsupported file type {suffix!r} for {path}. Expected one of {list(FILE_SUFFIXES)}.")


def _split(x, y, fraction, seed):
    """Seeded split (stratified when labels allow it) into (kept, held out)."""
    from sklearn.model_selection import train_test_split

    n_out = int(round(len(x) * fraction))
    if n_out == 0:
        return x, y, x[:0], (y[:0] if y is not None else None)
    if n_out >= len(x):
        raise ValueError(f"Cannot hold out {fraction:.0%} of {len(x)} samples and keep any for training.")
    stratify = None
    if y is not None:
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= 2 and n_out >= len(counts):
            stratify = y
    arrays = (x,) if y is None else (x, y)
    parts = train_test_split(*arrays, test_size=n_out, random_state=seed, stratify=stratify)
    if y is None:
        return parts[0], None, parts[1], None
    return parts[0], parts[2], parts[1], parts[3]


def load(
    name_or_path="digits",
    *,
    flatten=True,
    binarize=None,
    threshold=0.5,
    validation_split=0.0,
    test_split=0.2,
    seed=0,
    scale="auto",
    image_shape=None,
    label_column=None,
):
    """Loads a data set as float32 in [0, 1] with train, validation and test splits.

    Args:
        name_or_path: ``"digits"``, ``"mnist"``, ``"fashion_mnist"``, or a path to a ``.npz`` (arrays
            ``x_train``/``y_train``/``x_test``/``y_test``, or ``x``/``y``), ``.npy`` (samples) or ``.csv``
            (one sample a row, optional header) file.
        flatten: ``True`` for flat vectors ``(n, features)``, ``False`` for images ``(n, H, W, C)``.
        binarize: ``None``; ``"static"`` (pixels above ``threshold`` become 1, once); or ``"dynamic"``
            (a fresh Bernoulli draw with the pixel as probability, every epoch, in :meth:`Dataset.pipeline`).
        threshold: Threshold of static binarisation.
        validation_split: Fraction of the training data held out for validation.
        test_split: Fraction held out as test data when the source has no test split (digits, files).
        seed: Seed of the splits, the shuffling and dynamic binarisation.
        scale: ``"auto"`` (integer data is divided by 255, float data must already be in [0, 1]),
            ``"minmax"`` (rescale to [0, 1] by the global min and max) or ``None``.
        image_shape: ``(H, W, C)`` for flat files loaded with ``flatten=False``.
        label_column: For CSV files, the label's column index or ``"last"``; ``None`` when no labels.

    Returns:
        A :class:`Dataset`.

    Raises:
        ValueError: for an unknown name or missing file, a wrong rank, NaN or inf values, values outside
            [0, 1], empty data, or bad options; the message says what was expected.
    """
    check_choice("binarize", binarize, BINARIZATIONS)
    for arg, value in (("validation_split", validation_split), ("test_split", test_split), ("threshold", threshold)):
        check_number(arg, value, minimum=0, maximum=1, exclusive_maximum=True)
    name = os.fspath(name_or_path)
    if name == "digits":
        x, y, x_test, y_test = _load_digits()
    elif name in ("mnist", "fashion_mnist"):
        x, y, x_test, y_test = _load_keras(name)
    else:
        x, y, x_test, y_test = _load_file(name, label_column)

    x = check_array(_scale(x, scale, "the training data"), "the training data", unit_interval=True)
    if y is not None and len(y) != len(x):
        raise ValueError(f"Expected one label per sample. Received {len(x)} samples and {len(y)} labels.")
    if x_test is None:
        x, y, x_test, y_test = _split(x, y, test_split, seed)
    else:
        x_test = check_array(_scale(x_test, scale, "the test data"), "the test data", unit_interval=True)
    x, y, x_val, y_val = _split(x, y, validation_split, seed)

    arrays = {}
    image = None
    for split, arr in (("train", x), ("val", x_val), ("test", x_test)):
        if len(arr) == 0:
            arr = arr.reshape((0,) + tuple(x.shape[1:]))
        arrays[split], image = _to_layout(arr, flatten, image_shape or image, f"the {split} data")
    if binarize == "static":
        arrays = {k: (v > threshold).astype("float32") for k, v in arrays.items()}
    return Dataset(
        name=name,
        x_train=arrays["train"],
        y_train=y,
        x_val=arrays["val"],
        y_val=y_val,
        x_test=arrays["test"],
        y_test=y_test,
        image_shape=image,
        binarize=binarize,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------- synthetic
def low_rank_gaussian(num_samples=2000, dim=20, rank=3, noise=0.05, seed=0):
    """Samples ``x = U diag(s) e + noise * eps`` whose principal subspace is known.

    Args:
        num_samples: Number of samples.
        dim: Dimension of each sample.
        rank: Dimension of the signal subspace.
        noise: Standard deviation of the isotropic noise.
        seed: Random seed.

    Returns:
        ``(x, basis)``: float32 samples ``(num_samples, dim)``, centred on zero, and the orthonormal basis
        ``(dim, rank)`` of the true top-``rank`` principal subspace (signal scales 3, 2.5, 2, ...).
    """
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(dim, rank)))
    scales = 3.0 - 0.5 * np.arange(rank)
    codes = rng.normal(size=(num_samples, rank)) * np.maximum(scales, 0.5)
    x = codes @ basis.T + noise * rng.normal(size=(num_samples, dim))
    return x.astype("float32"), basis.astype("float32")
