"""Data: named and user data sets as float32 in [0, 1], synthetic data, and ``tf.data`` pipelines.

Names:
    ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images), the embedded default that
    works offline. ``mnist`` and ``fashion_mnist``: 28x28 images through ``keras.datasets``' own loaders
    and cache (``KERAS_HOME``). Anything else is read as a path to a ``.npz``, ``.npy`` or ``.csv`` file
    (relative and ``~`` paths are resolved; the data set records the absolute path).

Scaling (one scale for every split, recorded as :attr:`Dataset.scaling`):
    ``scale="auto"`` (the default) divides integer data by its dtype's maximum, the same number for the
    training and the test data: 255 for ``uint8``, 65535 for ``uint16`` (127 and 32767 for ``int8`` and
    ``int16``), whatever the values (0/1 images stored as ``uint8`` become 0 and 1/255: pass ``scale=1``).
    32- and 64-bit integers have no such full scale (dividing by 2**31 would turn pixel values into zeros),
    so they are refused unless every value is 0 or 1 (binary data, not scaled): pass ``scale=255`` (the
    value that means 1.0) or ``scale="minmax"``. Float and boolean data are used as stored and must already lie in [0, 1].
    ``scale=NUMBER`` divides every split by that number; ``scale="minmax"`` maps the minimum and maximum
    over all splits together to 0 and 1; ``scale=None`` uses the data as stored. The named data sets have a
    fixed scale (``digits``' grey levels 0-16 are divided by 16, MNIST's bytes by 255).

Labels:
    Class indices: whole numbers >= 0 (``3.0`` is taken as 3, ``2.5`` is refused, never truncated), one per
    sample. ``-1`` is refused at load: it marks unlabelled examples only after loading, as
    :func:`kerasae.data.labels.mask_labels` writes it for semi-supervised training.
    :attr:`Dataset.num_classes` is ``max label + 1`` over all splits unless ``load(num_classes=K)`` declares
    it (labels must then lie in ``[0, K)``); labels that leave most of ``0..max`` unused (e.g. ten classes
    0-9 and one label 1000, which would make 1001 classes) are refused unless ``num_classes`` is given.

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

from kerasae.data.checks import check_array, check_scale, scale_splits
from kerasae.data.files import FILE_SUFFIXES, load_file, one_line, resolve  # noqa: F401  (FILE_SUFFIXES: also here)
from kerasae.data.labels import check_label_range, check_labels
from kerasae.data.pipelines import make_pipeline
from kerasae.utils.validation import check_choice, check_int, check_number, is_int

#: Names :func:`load` knows; anything else is treated as a file path.
NAMES = ("digits", "mnist", "fashion_mnist")
BINARIZATIONS = (None, "static", "dynamic")
SPLITS = ("train", "val", "test")
#: Largest seed: scikit-learn's splits take seeds below 2**32.
MAX_SEED = 2**32 - 1


@dataclasses.dataclass
class Dataset:
    """Train, validation and test splits of one data set, float32 in [0, 1].

    Attributes:
        name: The name it was loaded by (``"digits"``), or the absolute path of a file.
        x_train, y_train, x_val, y_val, x_test, y_test: The splits (labels ``None`` where unknown, else
            int64 class indices; the validation split is empty when ``validation_split=0``).
        image_shape: ``(height, width, channels)`` of one image, or ``None`` for non-image data.
        binarize: ``None``, ``"static"`` (already thresholded) or ``"dynamic"`` (``pipeline`` draws a fresh
            Bernoulli sample of every training batch each epoch).
        seed: The seed used for splitting, shuffling and dynamic binarisation.
        scaling: How the stored values were mapped to [0, 1], the same for every split, e.g.
            ``"divided by 255, the maximum of uint8"`` (for a run's record).
        path: The absolute path of a file data set, ``None`` for a named one.
        declared_num_classes: ``num_classes`` as passed to :func:`load`, or ``None``.
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
    scaling: str = "none"
    path: str | None = None
    declared_num_classes: int | None = None

    @property
    def input_shape(self):
        """Shape of one example as the models see it, e.g. ``(64,)`` or ``(8, 8, 1)``."""
        return tuple(self.x_train.shape[1:])

    def _labels(self):
        return [y for y in (self.y_train, self.y_val, self.y_test) if y is not None and len(y)]

    @property
    def num_classes(self):
        """Number of label classes, or ``None`` without labels: ``num_classes`` as declared to :func:`load`,
        else ``max label + 1`` over all splits (class indices are ``0..num_classes-1``)."""
        if self.y_train is None:
            return None
        if self.declared_num_classes is not None:
            return self.declared_num_classes
        labels = self._labels()
        return int(max(int(y.max()) for y in labels)) + 1 if labels else 0

    @property
    def classes(self):
        """The class indices that occur in any split, sorted (a gap shows classes that never occur), or
        ``None`` without labels."""
        if self.y_train is None:
            return None
        labels = self._labels()
        return np.unique(np.concatenate(labels)) if labels else np.zeros(0, "int64")

    def split(self, split):
        """Returns ``(x, y)`` of ``"train"``, ``"val"`` or ``"test"``."""
        check_choice("split", split, SPLITS)
        return getattr(self, f"x_{split}"), getattr(self, f"y_{split}")

    def pipeline(self, split="train", batch_size=64, shuffle=None, with_labels=False, transform=None):
        """A batched, prefetched ``tf.data.Dataset`` of one split (see :func:`make_pipeline`).

        Shuffling and dynamic binarisation apply to the training split only (test data is binarised
        with a fixed draw so that evaluations are reproducible).

        Raises:
            ValueError: for an empty split, labels asked of unlabelled data, or a bad batch size.
        """
        x, y = self.split(split)
        with_labels = _check_bool("with_labels", with_labels)
        if shuffle is not None:
            shuffle = _check_bool("shuffle", shuffle)
        if len(x) == 0:
            how = "validation_split=0" if split == "val" else "test_split=0"
            raise ValueError(
                f"The {split} split of {self.name!r} is empty (it was loaded with {how}, or emptied after "
                f"loading). Expected at least one example. Fix: load it with a non-zero "
                f"{'validation_split' if split == 'val' else 'test_split'}, or use another split."
            )
        if with_labels and y is None:
            raise ValueError(
                f"Expected labels for with_labels=True. Received: the data set {self.name!r} has none. "
                "Fix: use with_labels=False, or load a labelled data set."
            )
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


def _check_bool(name, value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"Expected {name} to be True or False. Received: {name}={value!r}")


def _check_image_shape(image_shape):
    if image_shape is None:
        return None
    ok = isinstance(image_shape, (tuple, list)) and len(image_shape) == 3
    if ok and all(is_int(v) and v >= 1 for v in image_shape):
        return tuple(int(v) for v in image_shape)
    raise ValueError(
        "Expected image_shape to be (height, width, channels), three positive integers, or None. "
        f"Received: image_shape={image_shape!r}"
    )


def _check_label_column(label_column):
    if label_column is None or label_column == "last" or is_int(label_column):
        return label_column
    raise ValueError(
        f"Expected label_column to be a column index (an integer), 'last' or None. Received: "
        f"label_column={label_column!r}"
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
            f"image_shape={image_shape} does not match {name}'s {math.prod(x.shape[1:])} features per sample. "
            "Fix: pass an image_shape whose height * width * channels is the number of features."
        )
    return x.reshape((len(x),) + tuple(image_shape)), tuple(image_shape)


def _bernoulli(x, seed):
    return (np.random.default_rng(seed).random(x.shape, dtype="float32") < x).astype("float32")


# ---------------------------------------------------------------------------------------------- loaders
def _load_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    native = (16.0, "divided by 16 (the digits' grey levels are 0-16)")
    return digits.images, digits.target, None, None, native


def _load_keras(name):
    import keras

    loader = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[name]
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as err:  # no network and no cache
        raise ValueError(
            f"Could not load {name!r} through keras.datasets ({type(err).__name__}: {one_line(err)}). Expected "
            "the file in Keras's cache ($KERAS_HOME/datasets, default ~/.keras/datasets) or internet access. "
            "Fix: connect once, or seed the cache as shared/data/README.md describes."
        ) from err
    return x_train, y_train, x_test, y_test, (255.0, "divided by 255, the maximum of uint8")


def _held_out(n, fraction):
    return int(round(n * fraction))


def _splits_fit(n, test_split, validation_split):
    """Whether ``n`` samples give a non-empty test split (``test_split`` of them, when not ``None``), a
    non-empty validation split (when ``validation_split > 0``) and at least one training sample."""
    for fraction in (test_split, validation_split):
        if fraction:
            out = _held_out(n, fraction)
            if out == 0 or out >= n:
                return False
            n -= out
    return True


def _check_split_sizes(n, test_split, validation_split):
    if _splits_fit(n, test_split, validation_split):
        return
    fractions = [f for f in (test_split, validation_split) if f]
    start = max([n + 1] + [int(0.5 / f) + 1 for f in fractions])
    needed = next((m for m in range(start, start + 100_000) if _splits_fit(m, test_split, validation_split)), None)
    parts = []
    if test_split:
        parts.append(f"a test split (test_split={test_split:g})")
    if validation_split:
        parts.append(f"a validation split (validation_split={validation_split:g})")
    at_least = f"at least {needed} samples" if needed else "more samples"
    other = ", or validation_split=0" if validation_split else ""
    raise ValueError(
        f"Expected {at_least} to hold out {' and '.join(parts)}, each non-empty, and keep one for training. "
        f"Received: {n} sample{'s' if n != 1 else ''}. Fix: use more data, or other fractions{other}."
    )


def _split(x, y, fraction, seed):
    """Seeded split (stratified when labels allow it) into (kept, held out)."""
    from sklearn.model_selection import train_test_split

    n_out = _held_out(len(x), fraction)
    if n_out == 0:
        return x, y, x[:0], (y[:0] if y is not None else None)
    if n_out >= len(x):
        raise ValueError(f"Cannot hold out {fraction:.0%} of {len(x)} samples and keep any for training.")
    stratify = None
    if y is not None:
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= 2 and min(n_out, len(x) - n_out) >= len(counts):
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
    num_classes=None,
):
    """Loads a data set as float32 in [0, 1] with train, validation and test splits.

    Every check runs here, before any training: a data set that loads has finite values in [0, 1],
    valid labels and a non-empty training split, and non-empty validation and test splits where they were
    asked for. The module docstring says how values are scaled and what labels may be.

    Args:
        name_or_path: ``"digits"``, ``"mnist"``, ``"fashion_mnist"``, or a path (relative, ``~`` and
            ``os.PathLike`` paths accepted) to a ``.npz`` (arrays ``x_train``/``y_train``/``x_test``/
            ``y_test``, or ``x``/``y``, or one array), ``.npy`` (samples) or ``.csv`` (one sample a row,
            optional header) file. Files are read as arrays only, never unpickled.
        flatten: ``True`` for flat vectors ``(n, features)``, ``False`` for images ``(n, H, W, C)``.
        binarize: ``None``; ``"static"`` (pixels above ``threshold`` become 1, once); or ``"dynamic"``
            (a fresh Bernoulli draw with the pixel as probability, every epoch, in :meth:`Dataset.pipeline`,
            for the training split; the validation and test splits are binarised once, with one fixed
            Bernoulli draw from ``numpy.random.default_rng(seed + 1)``, so that every evaluation of every
            model sees the same binary images, as in the papers' "fixed binarisation of the test set").
        threshold: Threshold of static binarisation, in [0, 1).
        validation_split: Fraction of the training data held out for validation, in [0, 1).
        test_split: Fraction held out as test data when the source has no test split (digits, files), in
            [0, 1); with 0 the test split is empty.
        seed: Seed of the splits, the shuffling and dynamic binarisation, an integer in [0, 2**32 - 1].
        scale: For files: ``"auto"`` (integers divided by their dtype's maximum, e.g. 255 for uint8, the
            same for every split; floats used as stored), a positive number to divide every split by,
            ``"minmax"`` (the minimum and maximum over all splits become 0 and 1) or ``None``. Named data
            sets have a fixed scale and take only ``"auto"``. The scale used is :attr:`Dataset.scaling`.
        image_shape: ``(H, W, C)`` for flat files loaded with ``flatten=False``.
        label_column: For CSV files, the label's column index or ``"last"``; ``None`` when no labels.
        num_classes: The number of classes, when labels must lie in ``[0, num_classes)`` (default: the
            largest label + 1, refused when most of ``0..max`` would be unused classes).

    Returns:
        A :class:`Dataset`.

    Raises:
        ValueError: for an unknown name or missing, empty, truncated or non-array file, a wrong rank, NaN or
            inf values, values outside [0, 1], labels that are not class indices, too few samples for the
            splits, or bad options; the message is one line and says what was expected and the fix.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ValueError(
            f"Expected name_or_path to be a data set name {list(NAMES)} or a file path. "
            f"Received: name_or_path={name_or_path!r}"
        )
    name = os.fspath(name_or_path)
    if not isinstance(name, str):
        name = os.fsdecode(name)
    flatten = _check_bool("flatten", flatten)
    check_choice("binarize", binarize, BINARIZATIONS)
    threshold = check_number("threshold", threshold, minimum=0, maximum=1, exclusive_maximum=True)
    validation_split = check_number("validation_split", validation_split, minimum=0, maximum=1, exclusive_maximum=True)
    test_split = check_number("test_split", test_split, minimum=0, maximum=1, exclusive_maximum=True)
    seed = check_int("seed", seed, minimum=0, maximum=MAX_SEED)
    scale = check_scale(scale)
    image_shape = _check_image_shape(image_shape)
    label_column = _check_label_column(label_column)
    num_classes = check_int("num_classes", num_classes, minimum=1, optional=True)

    path = None
    if name in NAMES:
        for option, value, default in (("scale", scale, "auto"), ("label_column", label_column, None)):
            if value != default:
                raise ValueError(
                    f"{option} applies to files only; {name!r} has a fixed scale and its own labels. "
                    f"Received: {option}={value!r}. Fix: drop {option}."
                )
        x, y, x_test, y_test, native = _load_digits() if name == "digits" else _load_keras(name)
    else:
        path = resolve(name)
        x, y, x_test, y_test = load_file(path, label_column, name, NAMES)
        name = path
        native = None

    if x_test is None and y_test is not None:
        raise ValueError(
            f"{name} holds y_test but no x_test. Expected test labels only with test data. Fix: save x_test "
            "too, or drop y_test."
        )
    if x_test is not None and (y is None) != (y_test is None):
        has, lacks = ("y_train", "y_test") if y is not None else ("y_test", "y_train")
        raise ValueError(
            f"{name} holds {has} but no {lacks}. Expected labels for both the training and the test data, or "
            f"for neither. Fix: save {lacks} too, or drop {has}."
        )
    arrays = {"the training data": x} if x_test is None else {"the training data": x, "the test data": x_test}
    arrays, scaling = scale_splits(arrays, scale, native)
    x = check_array(arrays["the training data"], "the training data", unit_interval=True)
    if x_test is not None:
        x_test = check_array(arrays["the test data"], "the test data", unit_interval=True)
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"Expected test examples of the training examples' shape {x.shape[1:]}. Received: test "
                f"examples of shape {x_test.shape[1:]} in {name}. Fix: save x_test with the same shape."
            )
    if y is not None:
        y = check_labels(y, "the training labels", len(x), num_classes)
    if y_test is not None:
        y_test = check_labels(y_test, "the test labels", len(x_test), num_classes)
    if y is not None:
        check_label_range([y] if y_test is None else [y, y_test], num_classes)
    elif num_classes is not None:
        raise ValueError(
            f"num_classes applies to labelled data, and {name!r} has no labels. Received: "
            f"num_classes={num_classes}. Fix: drop num_classes, or load labelled data."
        )

    _check_split_sizes(len(x), test_split if x_test is None else None, validation_split)
    if x_test is None:
        x, y, x_test, y_test = _split(x, y, test_split, seed)
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
        scaling=scaling,
        path=path,
        declared_num_classes=num_classes,
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
