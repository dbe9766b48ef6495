"""kerasae.anomaly.CombinedScore: the smoothed reconstruction error plus the distance of the code to its nearest
training codes, each standardised on held-out normal examples; against a numpy reference on fixed weights."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import kerasae
from kerasae import anomaly
from kerasae.data import classes
from helpers import compile_model, small_mlp


@pytest.fixture(scope="module")
def zeros():
    """Digits with a validation split, only the zeros for training; an autoencoder trained on them."""
    import keras

    data = classes.keep_class(kerasae.datasets.load("digits", validation_split=0.2), 0)
    keras.utils.set_random_seed(0)
    encoder, decoder = small_mlp(latent_dim=4, hidden_units=(32,))
    model = compile_model(kerasae.Autoencoder(encoder, decoder), learning_rate=1e-2)
    model.fit(data.x_train, epochs=15, batch_size=32, verbose=0)
    return model, data


def _reference(model, x_train, x_val, x, sigma, k, shape):
    """The score written out with numpy: each image's residual smoothed alone, neighbours by brute force."""

    def parts(xs):
        residual = xs - np.asarray(model.reconstruct(xs), dtype="float64")
        smoothed = [gaussian_filter(r.reshape(shape)[..., 0], sigma) if sigma else r for r in residual]
        errors = np.array([np.mean(np.square(s)) for s in smoothed])
        codes = np.asarray(model.encode_mean(xs), dtype="float64")
        train = np.asarray(model.encode_mean(x_train), dtype="float64")
        distances = np.linalg.norm(codes[:, None, :] - train[None, :, :], axis=-1)
        return errors, np.sort(distances, axis=1)[:, :k].mean(axis=1)

    (e_val, d_val), (e, d) = parts(x_val), parts(x)
    return (e - e_val.mean()) / e_val.std() + (d - d_val.mean()) / d_val.std()


@pytest.mark.parametrize("sigma, k", [(1.0, 5), (0.0, 1), (0.7, 3)])
def test_score_equals_its_formula(zeros, sigma, k):
    model, data = zeros
    score = anomaly.CombinedScore(model, image_shape=(8, 8, 1), sigma=sigma, neighbours=k, batch_size=7)
    score.fit(data.x_train, data.x_val)
    x = data.x_test[:50]
    expected = _reference(model, data.x_train, data.x_val, x, sigma, k, (8, 8, 1))
    np.testing.assert_allclose(score.score(x), expected, rtol=1e-5, atol=1e-5)  # float32 networks, other batches
    # Standardised on the held-out normal examples: their scores average 0.
    assert abs(score.reference_scores.mean()) < 1e-9
    np.testing.assert_allclose(score.score(data.x_val), score.reference_scores)


def test_without_an_image_shape_the_residual_is_not_smoothed(zeros):
    model, data = zeros
    flat = anomaly.CombinedScore(model).fit(data.x_train, data.x_val)
    assert flat.image_shape is None
    x = data.x_test[:20]
    mse = np.mean((x - np.asarray(model.reconstruct(x))) ** 2, axis=1)
    np.testing.assert_allclose(flat.parts(x)["reconstruction"], mse, rtol=1e-5)
    smoothed = anomaly.CombinedScore(model, image_shape=(8, 8, 1)).fit(data.x_train, data.x_val)
    assert not np.allclose(smoothed.parts(x)["reconstruction"], mse)
    np.testing.assert_allclose(smoothed.parts(x)["code_distance"], flat.parts(x)["code_distance"])


def test_one_class_report_puts_the_combined_score_first(zeros):
    model, data = zeros
    is_anomalous = classes.anomalous(data.y_test, 0)
    report = anomaly.one_class_report(model, data.x_test, is_anomalous, x_reference=data.x_val, quantile=0.9,
                                      x_train=data.x_train, image_shape=data.image_shape or (8, 8, 1))
    assert report["score"] == "combined" and report["auc"] == report["auc_combined"]
    assert report["auc"] >= 0.9 and report["auc_reconstruction"] >= 0.9
    fitted = anomaly.CombinedScore(model, image_shape=(8, 8, 1)).fit(data.x_train, data.x_val)
    scores = fitted.score(data.x_test)
    assert report["auc"] == pytest.approx(anomaly.roc_auc(scores[~is_anomalous], scores[is_anomalous]))
    assert report["threshold"] == pytest.approx(np.quantile(fitted.reference_scores, 0.9))
    without = anomaly.one_class_report(model, data.x_test, is_anomalous, x_reference=data.x_val)
    assert without["score"] == "reconstruction" and "auc_combined" not in without


def test_bad_arguments_raise(zeros):
    model, data = zeros
    with pytest.raises(ValueError, match=r"Expected sigma >= 0.*Received: sigma=-1"):
        anomaly.CombinedScore(model, sigma=-1)
    with pytest.raises(ValueError, match="neighbours"):
        anomaly.CombinedScore(model, neighbours=0)
    with pytest.raises(ValueError, match=r"image_shape .*holding the model's inputs \(64,\).*Fix"):
        anomaly.CombinedScore(model, image_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="image_shape"):
        anomaly.CombinedScore(model, image_shape=(64,))
    with pytest.raises(ValueError, match="needs a kerasae autoencoder.*Received object"):
        anomaly.CombinedScore(object())
    score = anomaly.CombinedScore(model, neighbours=5)
    with pytest.raises(ValueError, match=r"not fitted yet.*fit\(x_train, x_val\)"):
        score.score(data.x_test)
    with pytest.raises(ValueError, match="at least 2 held-out normal examples.*--validation-split"):
        score.fit(data.x_train, data.x_val[:1])
    with pytest.raises(ValueError, match="at least neighbours=5 training examples. Received 4"):
        score.fit(data.x_train[:4], data.x_val)
    with pytest.raises(ValueError, match="same reconstruction and code_distance"):
        score.fit(data.x_train, np.repeat(data.x_val[:1], 3, axis=0))
    with pytest.raises(ValueError, match="x_val"):
        score.fit(data.x_train, data.x_val[:, :10])
