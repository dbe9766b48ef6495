import numpy as np
import pytest

import kerasae
from kerasae import anomaly
from helpers import compile_model, small_mlp


@pytest.fixture(scope="module")
def digits_without_nines(digits):
    """An autoencoder trained on digits 0-8 only, and the test split divided into normal and anomalous."""
    import keras

    keras.utils.set_random_seed(0)
    encoder, decoder = small_mlp(latent_dim=8, hidden_units=(32,))
    model = compile_model(kerasae.Autoencoder(encoder, decoder), learning_rate=5e-3)
    model.fit(digits.x_train[digits.y_train != 9], epochs=15, batch_size=64, verbose=0)
    nine = digits.y_test == 9
    return model, digits.x_test[~nine], digits.x_test[nine]


def test_held_out_digit_scores_higher(digits_without_nines):
    model, normal, anomalous = digits_without_nines
    scores_normal = anomaly.anomaly_score(model, normal)
    scores_anomalous = anomaly.anomaly_score(model, anomalous)
    # The score is the model's own per-example reconstruction loss.
    np.testing.assert_allclose(scores_normal[:5], np.mean((normal[:5] - model.reconstruct(normal[:5])) ** 2, axis=1), rtol=1e-5)
    assert scores_anomalous.mean() > 1.3 * scores_normal.mean()
    auc = anomaly.roc_auc(scores_normal, scores_anomalous)
    assert auc > 0.75

    report = anomaly.anomaly_report(model, normal, anomalous, quantile=0.9)
    assert report["auc"] == pytest.approx(auc)
    # The threshold is the 90% quantile of these very scores (linear interpolation: within one example).
    assert 0.1 - 1 / len(normal) <= report["false_positive_rate"] <= 0.1 + 1 / len(normal)
    assert report["detection_rate"] > 0.2
    assert set(report) >= {"auc", "threshold", "detection_rate", "false_positive_rate"}


def test_quantile_threshold_gives_the_false_positive_rate(digits_without_nines):
    model, normal, _ = digits_without_nines
    rng = np.random.default_rng(0)
    order = rng.permutation(len(normal))
    reference, held_out = normal[order[: len(order) // 2]], normal[order[len(order) // 2 :]]
    detector = anomaly.AnomalyDetector(model, quantile=0.9).fit(reference)
    assert detector.threshold == pytest.approx(np.quantile(anomaly.anomaly_score(model, reference), 0.9))
    assert abs(detector.predict(held_out).mean() - 0.1) < 0.07
    # Exactly on scores with known order statistics.
    assert anomaly.fit_threshold(np.arange(101), 0.9) == pytest.approx(90.0)
    assert np.mean(np.arange(101) > anomaly.fit_threshold(np.arange(101), 0.9)) == pytest.approx(10 / 101)


def test_auc_is_the_probability_an_anomaly_scores_higher():
    assert anomaly.roc_auc([0.1, 0.2, 0.3], [0.4, 0.5]) == 1.0
    assert anomaly.roc_auc([0.4, 0.5], [0.1, 0.2, 0.3]) == 0.0
    assert anomaly.roc_auc([0.1, 0.3], [0.2, 0.4]) == pytest.approx(0.75)


def test_vae_scores_are_negative_log_likelihoods(digits):
    vae = kerasae.VAE.create((64,), 4, hidden_units=(16,), seed=0)
    x = digits.x_test[:6]
    scores = anomaly.anomaly_score(vae, x, num_samples=8, seed=3)
    np.testing.assert_allclose(scores, -vae.log_likelihood(x, num_samples=8, seed=3), rtol=1e-6)
    reconstruction = anomaly.anomaly_score(vae, x, method="reconstruction")
    np.testing.assert_allclose(reconstruction, np.mean((x - np.asarray(vae.reconstruct(x))) ** 2, axis=1), rtol=1e-5)


def test_bad_inputs_raise(digits_without_nines):
    model, normal, anomalous = digits_without_nines
    with pytest.raises(ValueError, match="quantile"):
        anomaly.fit_threshold([1.0, 2.0], quantile=1.0)
    with pytest.raises(ValueError, match="quantile"):
        anomaly.AnomalyDetector(model, quantile=0)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        anomaly.fit_threshold([])
    with pytest.raises(ValueError, match="NaN or inf"):
        anomaly.roc_auc([0.1, np.nan], [0.2])
    with pytest.raises(ValueError, match="method"):
        anomaly.anomaly_score(model, normal, method="distance")
    with pytest.raises(ValueError, match="log_likelihood"):
        anomaly.anomaly_score(model, normal, method="likelihood")
    with pytest.raises(ValueError, match="expects"):
        anomaly.anomaly_score(model, normal.reshape(-1, 8, 8, 1))
    with pytest.raises(ValueError, match="NaN or inf"):
        anomaly.anomaly_score(model, np.full((2, 64), np.nan))
    with pytest.raises(ValueError, match="encode"):
        anomaly.anomaly_score(object(), normal)
    with pytest.raises(ValueError, match="fit"):
        anomaly.AnomalyDetector(model).predict(anomalous)


def test_scores_check_inputs_as_fit_does_and_take_numpy_integers(digits):
    vae = kerasae.VAE.create((64,), 2, hidden_units=(8,), seed=0)
    x = digits.x_test[:6]
    for method in ("likelihood", "reconstruction"):  # the Bernoulli VAE's own support, whatever the score
        with pytest.raises(ValueError, match=r"bernoulli likelihood of VAE scores values in \[0, 1\]") as err:
            anomaly.anomaly_score(vae, x * 16, method=method)
        assert "\n" not in str(err.value)
    for kwargs in ({"num_samples": 0}, {"batch_size": 0}, {"num_samples": 1.5}):
        with pytest.raises(ValueError, match=f"Expected {next(iter(kwargs))} to be a positive integer"):
            anomaly.anomaly_score(vae, x, **kwargs)
    plain = anomaly.anomaly_score(vae, x, num_samples=4, batch_size=4, seed=1)
    numpy = anomaly.anomaly_score(vae, x, num_samples=np.int64(4), batch_size=np.int64(4), seed=np.int64(1))
    np.testing.assert_array_equal(plain, numpy)


def test_likelihood_and_elbo_come_from_the_same_importance_samples(digits):
    vae = kerasae.VAE.create((64,), 4, hidden_units=(16,), seed=0)
    x = digits.x_test[:30]
    scores = anomaly.anomaly_scores(vae, x, num_samples=6, seed=2, batch_size=8)
    assert list(scores) == ["likelihood", "elbo", "reconstruction"] == list(anomaly.score_methods(vae))
    np.testing.assert_allclose(scores["likelihood"], -vae.log_likelihood(x, num_samples=6, batch_size=8, seed=2), rtol=1e-6)
    # Jensen: the mean of the log weights (the ELBO) is at most the log of their mean (the IWAE bound).
    assert np.all(scores["elbo"] >= scores["likelihood"] - 1e-9) and np.any(scores["elbo"] > scores["likelihood"])
    np.testing.assert_allclose(anomaly.anomaly_score(vae, x, method="elbo", num_samples=6, seed=2, batch_size=8), scores["elbo"])
    # With one sample, both are the same single log weight.
    one = anomaly.anomaly_scores(vae, x, ("likelihood", "elbo"), num_samples=1, seed=2)
    np.testing.assert_allclose(one["likelihood"], one["elbo"], rtol=1e-9)


def test_an_autoencoder_has_only_the_reconstruction_score(digits_without_nines):
    model, normal, _ = digits_without_nines
    assert anomaly.score_methods(model) == ("reconstruction",)
    with pytest.raises(ValueError, match="log_weights"):
        anomaly.anomaly_score(model, normal, method="elbo")
    with pytest.raises(ValueError, match="at least one scoring method"):
        anomaly.anomaly_scores(model, normal, methods=())
