import numpy as np
import pytest

from kerasae.data import datasets


def test_digits_shapes_ranges_and_splits():
    data = datasets.load("digits", validation_split=0.1, seed=3)
    assert data.x_train.dtype == np.float32 and data.x_train.shape[1:] == (64,)
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 1797
    assert len(data.x_test) == round(0.2 * 1797) and len(data.x_val) == round(0.1 * (1797 - 359))
    for x in (data.x_train, data.x_val, data.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert data.num_classes == 10 and data.image_shape == (8, 8, 1)
    images = datasets.load("digits", flatten=False, seed=3)
    assert images.x_train.shape[1:] == (8, 8, 1)
    np.testing.assert_array_equal(images.x_test.reshape(len(images.x_test), -1), datasets.load("digits", seed=3).x_test)


def test_static_and_dynamic_binarisation():
    static = datasets.load("digits", binarize="static", threshold=0.5)
    assert set(np.unique(static.x_train)) <= {0.0, 1.0}
    dynamic = datasets.load("digits", binarize="dynamic")
    ds = dynamic.pipeline("train", batch_size=len(dynamic.x_train), shuffle=False)
    first, second = (next(iter(ds)).numpy() for _ in range(2))
    assert set(np.unique(first)) <= {0.0, 1.0}
    assert not np.array_equal(first, second), "dynamic binarisation must draw afresh each epoch"
    # The Bernoulli draw has the grey level as its mean.
    np.testing.assert_allclose(first.mean(), dynamic.x_train.mean(), atol=0.01)


def test_pipeline_batches_labels_and_transform(digits):
    ds = datasets.make_pipeline(digits.x_train, digits.y_train, batch_size=100, shuffle=True, transform=lambda x: 1 - x)
    x, y = next(iter(ds))
    assert x.shape == (100, 64) and y.shape == (100,)
    assert np.all(x.numpy() <= 1)
    with pytest.raises(ValueError, match="larger than the 1438 samples"):
        datasets.make_pipeline(digits.x_train, batch_size=5000)


@pytest.mark.parametrize("drop_remainder", [False, True])
def test_pipeline_epochs_are_seeded_permutations_of_every_example(digits, drop_remainder):
    x, y = digits.x_train, np.arange(len(digits.x_train))  # labels = row numbers, to follow the examples
    ds = datasets.make_pipeline(x, y, batch_size=100, seed=4, drop_remainder=drop_remainder)
    batches = 14 if drop_remainder else 15  # 1438 examples
    assert int(ds.cardinality()) == batches  # known to Keras (progress bars, no "ran out of data")
    epochs = [np.concatenate([b[1].numpy() for b in ds]) for _ in range(2)]
    for order in epochs:
        assert len(order) == (1400 if drop_remainder else 1438) and len(set(order)) == len(order)
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch
    rows, labels = next(iter(ds))
    np.testing.assert_array_equal(rows.numpy(), x[labels.numpy()])  # inputs and labels stay paired
    again = datasets.make_pipeline(x, y, batch_size=100, seed=4, drop_remainder=drop_remainder)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in again]), epochs[0])  # seeded
    ordered = datasets.make_pipeline(x, y, batch_size=100, shuffle=False)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in ordered]), y)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_user_files(tmp_path, suffix):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(50, 16)).astype("uint8")
    path = tmp_path / f"data{suffix}"
    if suffix == ".npy":
        np.save(path, x)
    elif suffix == ".npz":
        np.savez(path, x=x, y=np.arange(50) % 2)
    else:
        np.savetxt(path, x / 255.0, delimiter=",", header="a" + ",b" * 15, comments="")
    data = datasets.load(str(path), test_split=0.2)
    assert data.x_train.shape == (40, 16) and data.x_test.shape == (10, 16)
    assert data.x_train.max() <= 1.0
    assert data.image_shape == (4, 4, 1)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.full((10, 4), np.nan), "NaN or inf"),
        (np.full((10, 4), 2.5), r"values in \[2.5, 2.5\], expected values in \[0, 1\]"),
        (np.zeros((10, 2, 2, 2, 2)), "Expected the train data of rank 2"),
        (np.zeros((0, 4)), "at least one sample"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=message):
        datasets.load(str(path))


def test_unknown_name_and_bad_options():
    with pytest.raises(ValueError, match="No data set named 'cifar'"):
        datasets.load("cifar")
    with pytest.raises(ValueError, match="Expected binarize"):
        datasets.load("digits", binarize="yes")
    with pytest.raises(ValueError, match="Expected validation_split"):
        datasets.load("digits", validation_split=1.5)



def test_flat_non_square_data_cannot_become_images(tmp_path):
    path = tmp_path / "flat.npy"
    np.save(path, np.zeros((20, 10), "float32"))
    with pytest.raises(ValueError, match="not a square image"):
        datasets.load(str(path), flatten=False)
    assert datasets.load(str(path), flatten=False, image_shape=(2, 5, 1)).x_train.shape[1:] == (2, 5, 1)


def test_low_rank_gaussian_subspace():
    x, basis = datasets.low_rank_gaussian(num_samples=4000, dim=10, rank=2, noise=0.01, seed=0)
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    overlap = np.linalg.svd(basis.T @ vt[:2].T, compute_uv=False)
    assert overlap.min() > 0.999


def test_mnist_through_keras_cache():
    """Runs where the Keras cache is seeded (CI does it); MNIST is never downloaded by kerasae."""
    try:
        data = datasets.load("mnist", flatten=False)
    except ValueError as err:
        pytest.skip(f"MNIST not in the Keras cache: {err}")
    assert data.x_train.shape == (60000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    assert data.x_train.max() == 1.0 and data.num_classes == 10
