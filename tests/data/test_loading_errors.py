"""Bad inputs to ``kerasae.datasets.load`` and the pipelines (issue 18, rows 3, 8, 9, 10, 11, 12 and 13):
each is refused up front with one ValueError of one line that names what was wrong and the fix; good
inputs in unusual forms (numpy integers, relative and ``~`` paths, whole-number float labels) load."""

import io
import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest

from kerasae.data import datasets
from kerasae.data.pipelines import make_pipeline, mixed_pipeline

RNG = np.random.default_rng(0)


def _raises(message, fn, *args, **kwargs):
    """Asserts ``fn`` raises a one-line ValueError containing ``message`` (a plain fragment)."""
    with pytest.raises(ValueError) as info:
        fn(*args, **kwargs)
    text = str(info.value)
    assert message in text, text
    assert "\n" not in text and text == text.strip(), f"not one line: {text!r}"
    return text


def _npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _huge_header(version=(1, 0)):
    """A .npy file whose header claims a (10**6, 10**6) float32 array (4 TB) over 64 bytes of data."""
    buf = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 2), "float32"))
    header["shape"] = (10**6, 10**6)
    write = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    write(buf, header)
    return buf.getvalue() + bytes(64)


def _zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


X = RNG.random((20, 4)).astype("float32")
LABELS = np.arange(20) % 4

# (id, file name, file contents (bytes, or a str for text), load options, message fragment)
BAD_FILES = [
    # Row 8: empty, truncated, crafted and non-array files.
    ("empty-npy", "x.npy", b"", {}, "is empty (0 bytes)"),
    ("empty-npz", "x.npz", b"", {}, "is empty (0 bytes), not a valid .npz archive"),
    ("non-zip-npz", "x.npz", b"just some text, not a zip", {}, "not a valid .npz archive (kerasae loads arrays only, never pickled objects)"),
    ("pickle-npz", "x.npz", pickle.dumps({"x": [1, 2]}), {}, "never pickled objects). Expected a zip archive"),
    ("pickle-npy", "x.npy", pickle.dumps([[1.0, 2.0]]), {}, "does not start with NumPy's magic bytes"),
    ("object-npy", "x.npy", _npy_bytes(np.array([[1, None]], dtype=object)), {}, "holds Python objects (dtype object)"),
    ("object-npz", "x.npz", _zip({"x.npy": _npy_bytes(np.array([[1, None]], dtype=object))}), {}, "['x'] holds Python objects"),
    ("huge-header-npy", "x.npy", _huge_header(), {}, "header claims an array of shape (1000000, 1000000)"),
    ("huge-header-npy-v2", "x.npy", _huge_header((2, 0)), {}, "but only 64 bytes of data follow"),
    ("huge-header-npz", "x.npz", _zip({"x.npy": _huge_header()}), {}, "['x']'s header claims an array of shape (1000000, 1000000)"),
    ("truncated-npy", "x.npy", _npy_bytes(X)[:-10], {}, "truncated or corrupt"),
    ("damaged-header", "x.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': nonsense", {}, "damaged .npy header"),
    ("npz-without-arrays", "x.npz", _zip({"notes.txt": b"hello"}), {}, "holds no arrays"),
    ("npz-two-unknown-arrays", "x.npz", _npz(a=X, b=X), {}, "holds arrays ['a', 'b']. Expected 'x_train'"),
    ("npz-y-test-without-x-test", "x.npz", _npz(x_train=X, y_test=LABELS), {}, "holds y_test but no x_test"),
    ("npz-y-train-without-y-test", "x.npz", _npz(x_train=X, y_train=LABELS, x_test=X), {}, "holds y_train but no y_test"),
    ("npz-test-shape", "x.npz", _npz(x_train=X, x_test=X[:, :3]), {}, "Expected test examples of the training examples' shape (4,)"),
    ("non-utf8-csv", "x.csv", b"\xff\xfe\x00\x81garbage", {}, "is not a text CSV file"),
    ("non-numeric-csv", "x.csv", "a,b\n1,2\nthree,4\n", {}, "Could not parse"),
    ("unsupported-suffix", "x.txt", "0.1,0.2\n", {}, "Unsupported file type '.txt'"),
    ("no-features", "x.npy", _npy_bytes(np.zeros((5, 0), "float32")), {}, "at least one sample of at least one feature"),
    ("complex-data", "x.npy", _npy_bytes(np.zeros((5, 2), "complex64")), {}, "to be a numeric array"),
    # Row 3: one scale for all splits, or a clear refusal.
    ("mixed-int-dtypes", "x.npz", _npz(x_train=np.full((10, 4), 300, "uint16"), x_test=np.full((3, 4), 3, "uint8")), {}, "share one dtype"),
    ("int64-no-full-scale", "x.npy", _npy_bytes(RNG.integers(0, 256, (10, 4))), {}, "has no such full scale. Fix: save the data as uint8"),
    ("int16-negative", "x.npy", _npy_bytes(np.full((10, 4), -5, "int16")), {}, "expected values in [0, 1]"),
    # Row 12 / 13: options that do not apply to the file.
    ("label-column-on-npy", "x.npy", _npy_bytes(X), {"label_column": 0}, "label_column applies to .csv files only"),
    ("label-column-out-of-range", "x.csv", "1,0,0,0\n" * 10, {"label_column": 7}, "Expected label_column to be an integer in [-4, 3]"),
    ("label-column-negative-out-of-range", "x.csv", "1,0,0,0\n" * 10, {"label_column": -5}, "Expected label_column to be an integer in [-4, 3]"),
    ("label-column-word", "x.csv", "1,0,0,0\n" * 10, {"label_column": "first"}, "Expected label_column to be a column index"),
    ("label-column-float", "x.csv", "1,0,0,0\n" * 10, {"label_column": 1.0}, "Expected label_column to be a column index"),
    ("label-column-leaves-nothing", "x.csv", "1\n" * 10, {"label_column": "last"}, "would leave no features"),
    ("num-classes-without-labels", "x.npy", _npy_bytes(X), {"num_classes": 3}, "num_classes applies to labelled data"),
    # Row 11: labels are class indices.
    ("fractional-labels", "x.npz", _npz(x=X, y=LABELS + 0.5), {}, "whole numbers (class indices); kerasae never truncates"),
    ("fractional-csv-labels", "x.csv", "0,0,0.5\n0,0,1.5\n" * 5, {"label_column": "last"}, "Received 0.5 at sample 0"),
    ("negative-labels", "x.npz", _npz(x=X, y=LABELS - 1), {}, "class indices >= 0 (-1 marks unlabelled examples only after loading"),
    ("nan-labels", "x.npz", _npz(x=X, y=np.where(LABELS == 2, np.nan, LABELS)), {}, "class indices, finite"),
    ("label-1000", "x.npz", _npz(x=X, y=np.r_[LABELS[:-1], 1000]), {}, "so num_classes (max + 1) would be 1001"),
    ("label-over-num-classes", "x.npz", _npz(x=X, y=LABELS), {"num_classes": 3}, "class indices in [0, 3) (num_classes=3). Received 3"),
    ("one-hot-labels", "x.npz", _npz(x=X, y=np.eye(4)[LABELS]), {}, "one class index per sample, shape (n,). Received shape (20, 4) (one-hot rows?"),
    ("string-labels", "x.npz", _npz(x=X, y=np.array(["cat"] * 20)), {}, "to be integer class indices. Received dtype <U3"),
    ("label-count", "x.npz", _npz(x=X, y=LABELS[:-2]), {}, "Expected one label per sample in the training labels. Received 20 samples and 18 labels"),
    ("test-label-count", "x.npz", _npz(x_train=X, y_train=LABELS, x_test=X, y_test=LABELS[:3]), {}, "in the test labels. Received 20 samples and 3 labels"),
    ("negative-test-labels", "x.npz", _npz(x_train=X, y_train=LABELS, x_test=X, y_test=LABELS - 1), {}, "Expected the test labels to be class indices >= 0"),
    # Row 9: too few samples to split, refused at load.
    ("one-sample", "x.npy", _npy_bytes(X[:1]), {}, "Expected at least 3 samples to hold out a test split (test_split=0.2), each non-empty, and keep one for training. Received: 1 sample."),
    ("two-samples", "x.npy", _npy_bytes(X[:2]), {}, "Received: 2 samples"),
    ("too-few-for-validation", "x.npy", _npy_bytes(X[:6]), {"validation_split": 0.1}, "Expected at least 7 samples to hold out a test split (test_split=0.2) and a validation split (validation_split=0.1)"),
    ("too-few-for-validation-with-test", "x.npz", _npz(x_train=X[:4], x_test=X[:2]), {"validation_split": 0.1}, "Expected at least 6 samples to hold out a validation split"),
]


@pytest.mark.parametrize("filename, contents, options, message", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_files_are_refused_in_one_line(tmp_path, filename, contents, options, message):
    path = tmp_path / filename
    path.write_bytes(contents.encode() if isinstance(contents, str) else contents)
    _raises(message, datasets.load, str(path), **options)


def test_unreadable_and_odd_paths_are_refused_in_one_line(tmp_path):
    folder = tmp_path / "folder.npy"
    folder.mkdir()
    _raises("is a folder", datasets.load, str(folder))
    _raises("No data set named", datasets.load, str(tmp_path / "missing.npy"))
    _raises("Expected name_or_path to be a data set name", datasets.load, 5)
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.npy"
        np.save(locked, X)
        locked.chmod(0)
        try:
            _raises("Could not read", datasets.load, str(locked))
        finally:
            locked.chmod(0o600)


# Row 12: options, through the shared validation helpers.
BAD_OPTIONS = [
    ({"validation_split": "0.1"}, "Expected validation_split in [0, 1). Received: validation_split='0.1'"),
    ({"validation_split": 1.0}, "Expected validation_split in [0, 1)"),
    ({"test_split": -0.1}, "Expected test_split in [0, 1)"),
    ({"test_split": float("nan")}, "Expected test_split to be a finite number"),
    ({"threshold": "half"}, "Expected threshold in [0, 1)"),
    ({"seed": -1}, "Expected seed to be an integer in [0, 4294967295]. Received: seed=-1"),
    ({"seed": 2**32}, "Expected seed to be an integer in [0, 4294967295]"),
    ({"seed": 1.5}, "Expected seed to be an integer"),
    ({"seed": True}, "Expected seed to be an integer"),
    ({"flatten": "no"}, "Expected flatten to be True or False"),
    ({"binarize": "yes"}, "Expected binarize to be one of"),
    ({"scale": 255}, "scale applies to files only"),
    ({"scale": "minmax"}, "scale applies to files only"),
    ({"label_column": 0}, "label_column applies to files only"),
    ({"scale": "max"}, "Expected scale to be 'auto', 'minmax', None or a positive number"),
    ({"scale": 0}, "Expected scale to be 'auto', 'minmax', None or a positive number"),
    ({"scale": -255}, "Received: scale=-255"),
    ({"scale": True}, "Received: scale=True"),
    ({"image_shape": (8, 8)}, "Expected image_shape to be (height, width, channels)"),
    ({"image_shape": (8, 8, 0)}, "Expected image_shape to be (height, width, channels)"),
    ({"num_classes": 0}, "Expected num_classes to be a positive integer or None"),
    ({"num_classes": 5}, "class indices in [0, 5) (num_classes=5)"),
]


@pytest.mark.parametrize("options, message", BAD_OPTIONS, ids=[next(iter(o)) + "=" + repr(v) for o, v in ((o, o[next(iter(o))]) for o, _ in BAD_OPTIONS)])
def test_bad_options_are_refused_in_one_line(options, message):
    _raises(message, datasets.load, "digits", **options)


def test_numpy_numbers_are_accepted_everywhere(tmp_path, digits):
    data = datasets.load(
        "digits", seed=np.int64(3), validation_split=np.float64(0.1), test_split=np.float32(0.25),
        threshold=np.float64(0.5), num_classes=np.int64(10), flatten=np.bool_(False), image_shape=(np.int64(8), 8, 1),
    )
    assert data.seed == 3 and type(data.seed) is int and data.num_classes == 10
    assert data.x_train.shape[1:] == (8, 8, 1)
    x = next(iter(data.pipeline("train", batch_size=np.int64(32), shuffle=np.bool_(True))))
    assert x.shape[0] == 32
    x, y = next(iter(make_pipeline(digits.x_train, digits.y_train, batch_size=np.int32(16), seed=np.int64(2))))
    assert x.shape[0] == 16
    path = tmp_path / "data.csv"
    np.savetxt(path, np.c_[X, LABELS], delimiter=",")
    labelled = datasets.load(str(path), label_column=np.int64(-1), scale=np.float32(2.0))
    assert labelled.input_shape == (4,) and labelled.scaling == "divided by 2 (scale=2)"
    assert labelled.x_train.max() <= 0.5


# Row 3: one scale for all splits, recorded.
def test_integer_data_is_scaled_by_one_dtype_scale_for_every_split(tmp_path):
    train = RNG.integers(0, 1000, (30, 4)).astype("uint16")
    test = RNG.integers(0, 10, (8, 4)).astype("uint16")
    path = tmp_path / "u16.npz"
    np.savez(path, x_train=train, x_test=test)
    data = datasets.load(str(path))
    assert data.scaling == "divided by 65535, the maximum of uint16"
    np.testing.assert_allclose(data.x_test, test / 65535.0, rtol=1e-6)  # not by the test split's own maximum
    assert np.isclose(sorted(np.concatenate([data.x_train, data.x_val]).ravel())[-1], train.max() / 65535.0)

    # uint8 test data whose maximum is <= 1 is divided by 255 like the training data.
    np.savez(path, x_train=RNG.integers(0, 256, (30, 4)).astype("uint8"), x_test=np.ones((8, 4), "uint8"))
    data = datasets.load(str(path))
    assert data.scaling == "divided by 255, the maximum of uint8"
    np.testing.assert_allclose(data.x_test, 1 / 255.0)

    # uint8 data whose values are all 0 or 1 follows the same rule (README: integers are divided by 255);
    # 0/1 data in 32- or 64-bit integers, which have no full scale, is binary and not scaled.
    np.savez(path, x=RNG.integers(0, 2, (30, 4)).astype("uint8"))
    assert datasets.load(str(path)).scaling == "divided by 255, the maximum of uint8"
    np.savez(path, x=RNG.integers(0, 2, (30, 4)).astype("int64"))
    data = datasets.load(str(path))
    assert data.scaling.startswith("none: int64 data whose values are all 0 or 1")
    assert set(np.unique(data.x_train)) == {0.0, 1.0}


@pytest.mark.parametrize(
    "scale, expected, scaling",
    [
        (1000, lambda raw: raw / 1000.0, "divided by 1000 (scale=1000)"),
        (255.0, lambda raw: raw / 255.0, "divided by 255 (scale=255)"),
        ("minmax", lambda raw: (raw - 2.0) / 498.0, "minmax: (x - 2) / 498, the minimum and maximum over all splits together"),
    ],
)
def test_explicit_scales_apply_to_every_split(tmp_path, scale, expected, scaling):
    train = np.full((10, 3), 100, "int64")
    train[0, 0], train[1, 1] = 2, 255
    test = np.full((4, 3), 500, "int64") if scale != 255.0 else np.full((4, 3), 200, "int64")
    path = tmp_path / "x.npz"
    np.savez(path, x_train=train, x_test=test)
    data = datasets.load(str(path), scale=scale)
    assert data.scaling == scaling
    np.testing.assert_allclose(data.x_test, expected(test), rtol=1e-6)  # the test split uses the same map


def test_scaling_is_recorded_for_named_and_float_data(tmp_path, digits):
    assert digits.scaling == "divided by 16 (the digits' grey levels are 0-16)"
    path = tmp_path / "x.npy"
    np.save(path, X)
    assert datasets.load(str(path)).scaling == "none: float32 data, used as stored (it must lie in [0, 1])"
    assert datasets.load(str(path), scale=None).scaling == "none: used as stored (scale=None)"


# Row 10: relative and ~ paths resolve, and the data set records the absolute path.
def test_relative_home_and_pathlike_paths_are_resolved(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "data.npy"
    np.save(path, X)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for given in ("sub/data.npy", "./sub/../sub/data.npy", "~/sub/data.npy", pathlib.Path("sub/data.npy")):
        data = datasets.load(given)
        assert data.name == data.path == str(path.resolve()) and os.path.isabs(data.name)
    assert datasets.load("digits").path is None and datasets.load("digits").name == "digits"


# Row 11: good labels in other forms are converted; num_classes is honest.
def test_whole_number_labels_are_converted_and_classes_recorded(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, x=X, y=(LABELS * 2).astype("float64")[:, None])  # (n, 1) floats 0, 2, 4, 6
    data = datasets.load(str(path))
    assert data.y_train.dtype == np.int64 and data.y_train.ndim == 1
    assert data.num_classes == 7 and data.classes.tolist() == [0, 2, 4, 6]
    np.savez(path, x=X, y=np.r_[LABELS[:-1], 1000])
    data = datasets.load(str(path), num_classes=1001)  # gaps declared on purpose
    assert data.num_classes == 1001 and data.classes.tolist() == [0, 1, 2, 3, 1000]
    np.savez(path, x=X, y=LABELS % 2 == 1)
    assert datasets.load(str(path)).num_classes == 2  # booleans are classes 0 and 1


# Row 9: the smallest data sets that split do give non-empty splits.
@pytest.mark.parametrize("n, options", [(3, {}), (7, {"validation_split": 0.1}), (5, {"test_split": 0.5})])
def test_smallest_splittable_data_sets_have_non_empty_splits(tmp_path, n, options):
    path = tmp_path / "x.npy"
    np.save(path, X[:n])
    data = datasets.load(str(path), **options)
    assert len(data.x_train) and len(data.x_test)
    assert len(data.x_val) or not options.get("validation_split")
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == n


def test_arrays_in_every_npy_layout_load(tmp_path):
    """The header-checking reader reads what numpy writes: compressed archives, Fortran order, v2 headers."""
    array = np.asfortranarray(RNG.random((12, 5)).astype("float32"))
    path = tmp_path / "x.npz"
    np.savez_compressed(path, x_train=array, y_train=np.arange(12) % 3, x_test=array[:4], y_test=np.arange(4) % 3)
    data = datasets.load(str(path))
    np.testing.assert_array_equal(data.x_test, array[:4])
    with open(tmp_path / "v2.npy", "wb") as f:
        np.lib.format.write_array(f, array, version=(2, 0))
    data = datasets.load(str(tmp_path / "v2.npy"), test_split=0.25, seed=1)
    assert sorted(map(tuple, np.concatenate([data.x_train, data.x_test]))) == sorted(map(tuple, array))


# Pipelines (row 12 and row 9's empty splits).
def test_pipeline_errors_are_one_line(digits):
    _raises("Expected batch_size to be a positive integer. Received: batch_size=0", digits.pipeline, "train", batch_size=0)
    _raises("Expected batch_size to be a positive integer. Received: batch_size='32'", digits.pipeline, "train", batch_size="32")
    _raises("Expected batch_size to be a positive integer. Received: batch_size=32.0", digits.pipeline, "train", batch_size=32.0)
    _raises("Expected split to be one of ['train', 'val', 'test']", digits.pipeline, "validation")
    _raises("The val split of 'digits' is empty (it was loaded with validation_split=0", digits.pipeline, "val")
    _raises("Expected shuffle to be True or False", digits.pipeline, "train", shuffle="yes")
    _raises("Expected with_labels to be True or False", digits.pipeline, "train", with_labels=1)
    _raises("Expected seed to be an integer", make_pipeline, digits.x_train, seed=1.5)
    _raises("Expected drop_remainder to be True or False", make_pipeline, digits.x_train, drop_remainder="no")
    _raises("Expected transform to be a function", make_pipeline, digits.x_train, transform=5)
    _raises("Expected one label per sample. Received 1438 samples and 3 labels", make_pipeline, digits.x_train, digits.y_train[:3])
    _raises("Expected at least one sample to build a pipeline", make_pipeline, digits.x_train[:0])
    unlabelled = datasets.load("digits", seed=0)
    unlabelled.y_train = None
    _raises("Expected labels for with_labels=True", unlabelled.pipeline, "train", with_labels=True)


@pytest.mark.parametrize(
    "labels, message",
    [
        (lambda y: np.r_[y[:1], 0.5, np.where(np.arange(len(y) - 2) % 2, -1, y[2:])], "Expected y to be class indices >= 0, or -1 for an unlabelled example. Received 0.5 at example 1"),
        (lambda y: np.where(np.arange(len(y)) % 2, -2, y), "Received -2 at example 1"),
        (lambda y: np.where(np.arange(len(y)) % 2, np.nan, y), "Received nan at example 1"),
        (lambda y: y.astype(str), "Expected y to be integer class labels"),
    ],
)
def test_mixed_pipeline_refuses_labels_that_are_not_class_indices(digits, labels, message):
    _raises(message, mixed_pipeline, digits.x_train, labels(digits.y_train), batch_size=32)


def test_mixed_pipeline_accepts_whole_float_labels_and_numpy_integers(digits):
    y = np.where(np.arange(len(digits.y_train)) % 10 == 0, digits.y_train, -1).astype("float64")
    x, yb = next(iter(mixed_pipeline(digits.x_train, y, batch_size=np.int64(32), seed=np.int64(1))))
    assert x.shape[0] == 32 and yb.dtype.name == "int64" and int((yb.numpy() >= 0).sum()) >= 1
