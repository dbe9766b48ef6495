import argparse
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasae
from helpers import assert_keras_roundtrip, assert_training_lowers_loss, compile_model
from kerasae.cli import registry
from kerasae.models.cvae import CVAE
from kerasae.models.iwae import IWAE
from kerasae.models.vae import VAE


@pytest.fixture(scope="module")
def binary_digits():
    return kerasae.datasets.load("digits", binarize="dynamic")


@pytest.fixture(scope="module")
def x_test_binary(binary_digits):
    """The test split with the pipeline's fixed Bernoulli draw."""
    return np.concatenate(list(binary_digits.pipeline("test", batch_size=len(binary_digits.x_test)).as_numpy_iterator()))


@pytest.fixture(scope="module")
def trained(binary_digits, x_test_binary):
    """A small Bernoulli VAE trained 15 epochs on dynamically binarised digits, and its initial test NLL."""
    keras.utils.set_random_seed(0)
    model = VAE.create((64,), 8, hidden_units=(64,), seed=0)
    compile_model(model, learning_rate=3e-3)
    nll_init = -model.log_likelihood(x_test_binary, num_samples=10, seed=0).mean()
    model.fit(binary_digits.pipeline("train", batch_size=64), epochs=15, verbose=0, shuffle=False)
    return model, nll_init


def test_nll_improves_and_prior_samples_are_valid(trained, x_test_binary):
    model, nll_init = trained
    nll = -model.log_likelihood(x_test_binary, num_samples=100, seed=0).mean()
    assert nll_init > 40.0  # about 64 log 2 = 44 nats at initialisation
    assert nll < nll_init - 10.0, f"test NLL {nll_init:.2f} -> {nll:.2f}"
    samples = model.sample(50, seed=0)
    assert samples.shape == (50, 64) and np.isfinite(samples).all()
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    np.testing.assert_array_equal(samples, model.sample(50, seed=0))  # seeded sampling reproduces


def test_iwae_estimate_equals_elbo_at_k1_and_grows_with_k(trained, x_test_binary):
    model, _ = trained
    elbo = model.evaluate(x_test_binary, batch_size=512, verbose=0, return_dict=True)["elbo"]
    repeated = np.repeat(x_test_binary, 5, axis=0)  # 1,800 one-sample estimates: standard error ~0.1 nats
    k1 = model.log_likelihood(repeated, num_samples=1, batch_size=600, seed=1)
    assert abs(k1.mean() - elbo) < 4 * k1.std() / math.sqrt(len(k1)) + 0.05
    means = [model.log_likelihood(x_test_binary, num_samples=k, seed=2).mean() for k in (1, 10, 100)]
    assert means[0] < means[1] < means[2], means
    assert means[2] - means[0] > 0.3
    # Drawing the samples in chunks (2 x 50) estimates the same quantity as one chunk of 100.
    chunked = model.log_likelihood(x_test_binary, num_samples=100, sample_batch_size=50, seed=3).mean()
    assert abs(chunked - means[2]) < 0.2


def test_keras_round_trip_keeps_log_likelihood(trained, x_test_binary, tmp_path):
    model, _ = trained
    x = x_test_binary[:64]
    loaded = assert_keras_roundtrip(
        model, x, tmp_path, outputs=lambda m, x: m.log_likelihood(x, num_samples=20, seed=7), atol=1e-4
    )
    networks = ("encoder", "decoder")
    own = lambda m: {k: v for k, v in m.get_config().items() if k not in networks}  # noqa: E731
    assert own(loaded) == own(model) and own(model)["likelihood"] == "bernoulli"


def test_analytic_kl_matches_monte_carlo_and_numpy(digits):
    x = digits.x_test[:8]
    for posterior in ("diagonal", "full"):
        model = VAE.create((64,), 3, posterior=posterior, hidden_units=(16,))
        q = model.encode(x)
        analytic = model.kl_divergence(q).numpy()
        z = q.sample(20000, seed=[0, 1])
        monte_carlo = tf.reduce_mean(q.log_prob(z) - model.prior().log_prob(z), axis=0).numpy()
        np.testing.assert_allclose(analytic, monte_carlo, rtol=0.05, atol=0.01)
        if posterior == "diagonal":
            mu, sigma = q.mean().numpy(), q.stddev().numpy()
            expected = 0.5 * (mu**2 + sigma**2 - 1 - 2 * np.log(sigma)).sum(-1)
            np.testing.assert_allclose(analytic, expected, rtol=1e-5)
    # Without the closed form, the Monte Carlo estimate from the training samples is used.
    mc_model = VAE.create((64,), 3, hidden_units=(16,), analytic_kl=False, num_samples=2000)
    parts = mc_model.log_weights(x, 2000, seed=tf.constant([3, 4]))
    estimate = mc_model.kl_divergence(parts["posterior"], parts["log_qz"], parts["log_pz"]).numpy()
    np.testing.assert_allclose(estimate, tf.reduce_mean(parts["log_qz"] - parts["log_pz"], 0).numpy())
    np.testing.assert_allclose(estimate, tfp_kl(parts["posterior"], mc_model.prior()), rtol=0.1, atol=0.02)


def tfp_kl(q, p):
    import tensorflow_probability as tfp

    return tfp.distributions.kl_divergence(q, p).numpy()


def test_posteriors_are_valid(digits):
    x = digits.x_test[:16]
    q = VAE.create((64,), 4, hidden_units=(16,)).encode(x)
    assert q.event_shape == (4,) and (q.stddev().numpy() > 0).all()
    full = VAE.create((64,), 4, posterior="full", hidden_units=(16,)).encode(x)
    tril = full.scale.to_dense().numpy()
    np.testing.assert_array_equal(np.triu(tril, 1), 0.0)
    assert (np.diagonal(tril, axis1=1, axis2=2) > 0).all()
    assert np.linalg.eigvalsh(full.covariance().numpy().astype("float64")).min() > 0


def test_gradients_reach_encoder_through_the_sample(digits):
    model = VAE.create((64,), 4, hidden_units=(16,), seed=0)
    x = digits.x_train[:32]
    with tf.GradientTape() as tape:
        terms, _ = model.compute_loss_terms(x, x, training=True)
        reconstruction = tf.reduce_mean(terms["reconstruction_nll"])  # the KL is left out on purpose
    grads = tape.gradient(reconstruction, model.encoder.trainable_variables)
    assert all(g is not None for g in grads)
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_gaussian_nll_includes_normalising_constant(digits):
    x = digits.x_test[:4]
    for likelihood, sigma in (("gaussian", 0.3), ("gaussian_learned", None)):
        model = VAE.create((64,), 2, likelihood=likelihood, likelihood_scale=0.3, hidden_units=(16,))
        if sigma is None:
            sigma = np.linspace(0.05, 1.0, 64).astype("float32")
            model.likelihood_layer.log_scale.assign(np.log(sigma - model.likelihood_layer.min_scale))
        parts = model.log_weights(x, 3, seed=tf.constant([0, 0]))
        mu = parts["likelihood"].mean().numpy()  # (3, 4, 64)
        expected = (-0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)).sum(-1)
        np.testing.assert_allclose(parts["log_px_z"].numpy(), expected, rtol=1e-5)


def test_beta_weights_kl_and_warmup_ramps(digits):
    x = digits.x_train[:256]
    model = compile_model(VAE.create((64,), 4, hidden_units=(16,), beta=0.25, seed=0))
    result = model.evaluate(x, batch_size=256, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], result["reconstruction_nll"] + 0.25 * result["kl"], rtol=1e-5)
    np.testing.assert_allclose(result["elbo"], -(result["reconstruction_nll"] + result["kl"]), rtol=1e-5)

    warm = compile_model(VAE.create((64,), 4, hidden_units=(16,), beta=2.0, kl_warmup_steps=8))
    assert float(warm.kl_weight()) == 0.0
    warm.fit(x, epochs=1, batch_size=64, verbose=0)  # 4 steps
    np.testing.assert_allclose(float(warm.kl_weight()), 1.0)
    warm.fit(x, epochs=2, batch_size=64, verbose=0)
    np.testing.assert_allclose(float(warm.kl_weight()), 2.0)


def test_iwae_with_full_posterior_trains_with_xla(digits):
    x = digits.x_train[:1024]  # whole batches only: one XLA compilation for training, one for evaluation
    model = IWAE.create((64,), 4, posterior="full", hidden_units=(32,), num_samples=4, seed=0)
    compile_model(model, jit_compile=True)
    before = model.evaluate(x, batch_size=256, verbose=0, return_dict=True)
    history = model.fit(x, epochs=4, batch_size=64, verbose=0)
    after = model.evaluate(x, batch_size=256, verbose=0, return_dict=True)
    assert after["loss"] < 0.8 * before["loss"], (before["loss"], after["loss"])
    assert {"loss", "iwae_bound", "elbo", "kl", "reconstruction_nll"} <= set(history.history)
    assert after["iwae_bound"] > after["elbo"]
    np.testing.assert_allclose(after["loss"], -after["iwae_bound"], rtol=1e-6)
    with pytest.raises(ValueError, match="beta=1"):
        IWAE.create((64,), 4, beta=0.5)


def test_conv_vae_with_categorical_likelihood(digits_images):
    x = digits_images.x_train
    model = VAE.create((8, 8, 1), 2, architecture="conv", filters=(8, 16), likelihood="categorical", num_bins=17)
    assert model.decoder.outputs[0].shape[1:] == (8, 8, 17)
    assert_training_lowers_loss(model, x, epochs=3, factor=0.9)
    log_px = model.log_likelihood(x[:10], num_samples=5, seed=0)
    assert log_px.shape == (10,) and (log_px < 0).all()
    means = model.sample(6, seed=0)
    assert means.shape == (6, 8, 8, 1) and means.min() >= 0 and means.max() <= 1
    strip = model.interpolate(x[0], x[1], steps=5)
    assert strip.shape == (5, 8, 8, 1)
    np.testing.assert_allclose(strip[0], model.reconstruct(x[:1])[0], atol=1e-5)


def test_cvae_samples_the_requested_class(digits, tmp_path):
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(max_iter=2000).fit(digits.x_train, digits.y_train)
    onehot = keras.utils.to_categorical(digits.y_train, 10)
    model = compile_model(CVAE.create((64,), 4, num_classes=10, hidden_units=(128,), seed=0), learning_rate=3e-3)
    model.fit((digits.x_train, onehot), epochs=40, batch_size=64, verbose=0)
    classes = np.repeat(np.arange(10), 20)
    samples = model.sample(len(classes), condition=classes, seed=0)
    accuracy = (classifier.predict(samples) == classes).mean()
    assert accuracy > 0.7, accuracy
    three = model.sample(5, condition=3, seed=1)
    assert (classifier.predict(three) == 3).sum() >= 3
    with pytest.raises(ValueError, match=r"pair \(x, condition\)"):
        model.fit(digits.x_train, onehot, epochs=1, verbose=0)
    x_test = (digits.x_test[:32], keras.utils.to_categorical(digits.y_test[:32], 10))
    assert_keras_roundtrip(model, x_test, tmp_path, outputs=lambda m, x: m.log_likelihood(x, 5, seed=0), atol=1e-4)


def test_bad_arguments_raise():
    encoder, decoder = kerasae.networks.mlp((64,), 8)
    with pytest.raises(ValueError, match="needs 16 encoder outputs"):
        VAE(encoder, decoder)
    for kwargs, message in (
        ({"posterior": "lowrank"}, "posterior"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"beta": -1.0}, "beta >= 0"),
        ({"num_samples": 0}, "num_samples"),
        ({"kl_warmup_steps": 1.5}, "kl_warmup_steps"),
    ):
        with pytest.raises(ValueError, match=message):
            VAE.create((64,), 2, hidden_units=(8,), **kwargs)


def _args(**overrides):
    args = dict(
        architecture="mlp", latent_dim=2, hidden_units=[32], filters=None, activation="relu", dropout=0.0,
        batch_size=64, epochs=1, seed=0, l2=0.0, likelihood="bernoulli", posterior="diagonal", num_samples=None,
        beta=1.0, kl_warmup=1.0, nll_samples=5, verbose=0, num_bins=16,
    )
    args.update(overrides)
    return argparse.Namespace(**args)


def test_cli_registration_evaluate_and_plots(tmp_path):
    for name in ("vae", "iwae", "cvae"):
        assert name in registry.models()
    entry = registry.models()["vae"]
    assert entry.data_options(_args()) == {"binarize": "dynamic"}
    assert entry.data_options(_args(likelihood="gaussian")) == {}
    data = kerasae.datasets.load("digits", **entry.data_options(_args()))
    model = entry.build(_args(), data)
    assert isinstance(model, VAE) and model.latent_dim == 2 and model.kl_warmup_steps == 23
    compile_model(model)
    model.fit(data.pipeline("train", batch_size=64), epochs=1, verbose=0, shuffle=False)
    results = entry.evaluate(model, data, _args())
    assert set(results) >= {"elbo", "nll"} and results["nll"] < -results["elbo"] + 1.0
    written = entry.plots(model, data, str(tmp_path))
    # A plain VAE's reconstructions (beside PCA's) are the standard plots' (tests/cli/test_baseline.py).
    assert {p.split("/")[-1] for p in written} == {"samples.png", "interpolation.png", "manifold.png", "latent.png"}
    cvae_entry = registry.models()["cvae"]
    cvae = compile_model(cvae_entry.build(_args(latent_dim=3), data))  # no 2-D manifold: faster
    assert isinstance(cvae, CVAE) and cvae.num_classes == 10
    train = cvae_entry.make_pipeline(cvae, data, "train", 64)
    x, condition = next(iter(train))[0]
    assert x.shape == (64, 64) and condition.shape == (64, 10)
    history = cvae.fit(train, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][-1])
    assert np.isfinite(cvae_entry.evaluate(cvae, data, _args())["nll"])
    assert len(cvae_entry.plots(cvae, data, str(tmp_path / "cvae"))) == 3
    iwae = registry.models()["iwae"].build(_args(), data)
    assert isinstance(iwae, IWAE) and iwae.num_samples == 5


# ============================================================================================ bad inputs
@pytest.fixture(scope="module")
def small_vaes():
    """Untrained models of each likelihood: the checks run before any computation."""
    keras.utils.set_random_seed(0)
    return {
        "bernoulli": VAE.create((64,), 2, hidden_units=(8,), seed=0),
        "categorical": VAE.create((64,), 2, hidden_units=(8,), likelihood="categorical", num_bins=4, seed=0),
        "gaussian": VAE.create((64,), 2, hidden_units=(8,), likelihood="gaussian", seed=0),
        "cvae": CVAE.create((64,), 2, num_classes=10, hidden_units=(8,), seed=0),
    }


def _x(n=6):
    return np.random.default_rng(0).random((n, 64)).astype("float32")


def _pair(x=None, c=None, n=6):
    x = _x(n) if x is None else x
    return x, keras.utils.to_categorical(np.arange(n) % 10, 10).astype("float32") if c is None else c


def _with_nan():
    x = _x()
    x[2, 5] = np.nan
    return x


BAD_LOG_LIKELIHOOD = [
    ("bernoulli", {"x": _with_nan()}, r"x contains 1 NaN or inf values \(first in samples \[2\]\)"),
    ("gaussian", {"x": np.full((2, 64), np.inf, "float32")}, "NaN or inf values"),
    ("bernoulli", {"x": _x() * 300}, r"x has values in \[.*\], but the bernoulli likelihood of VAE scores values in \[0, 1\]"),
    ("bernoulli", {"x": _x() - 1}, r"bernoulli likelihood of VAE scores values in \[0, 1\]\. Fix: rescale"),
    ("categorical", {"x": _x() + 1}, r"categorical likelihood of VAE scores values in \[0, 1\]"),
    ("bernoulli", {"x": np.zeros((3, 10))}, r"x has shape \(10,\) per example, but VAE expects \(64,\)"),
    ("bernoulli", {"x": np.zeros((0, 64))}, "at least one sample"),
    ("bernoulli", {"x": np.array([["a"] * 64])}, "numeric"),
    ("bernoulli", {"sample_batch_size": 0}, r"Expected sample_batch_size to be a positive integer\. Received: sample_batch_size=0"),
    ("bernoulli", {"num_samples": 0}, "Expected num_samples to be a positive integer"),
    ("bernoulli", {"num_samples": 2.5}, "Expected num_samples to be a positive integer"),
    ("bernoulli", {"batch_size": -1}, "Expected batch_size to be a positive integer"),
    ("bernoulli", {"seed": 1.5}, "Expected seed to be an integer in"),
    ("bernoulli", {"seed": 2**40}, "Expected seed to be an integer in"),
    ("cvae", {"x": _x()}, r"CVAE expects its input as the pair \(x, condition\)"),
    ("cvae", {"x": _pair(c=np.ones((6, 3), "float32"))}, "condition of width num_classes=10"),
    ("cvae", {"x": _pair(c=np.ones((4, 10), "float32"))}, r"Expected condition to be one-hot rows of shape \(6, 10\)"),
    ("cvae", {"x": _pair(c=np.full((6, 10), np.nan, "float32"))}, "condition contains NaN or inf"),
    ("cvae", {"x": _pair(x=_x() * 2)}, "bernoulli likelihood of CVAE scores values in"),
]


@pytest.mark.parametrize("name, kwargs, match", BAD_LOG_LIKELIHOOD)
def test_log_likelihood_refuses_bad_inputs_on_one_line(small_vaes, name, kwargs, match):
    model = small_vaes[name]
    kwargs = {"x": _pair() if name == "cvae" else _x(), "num_samples": 3, **kwargs}
    with pytest.raises(ValueError, match=match) as err:
        model.log_likelihood(**kwargs)
    assert "\n" not in str(err.value)


def test_log_likelihood_within_the_support_and_numpy_integers(small_vaes):
    x = (_x() > 0.5).astype("float32")
    for name in ("bernoulli", "categorical"):  # log-probabilities of discrete values
        assert np.all(small_vaes[name].log_likelihood(x, num_samples=4, seed=0) <= 0.0)
    unbounded = small_vaes["gaussian"].log_likelihood(_x() * 300, num_samples=2, seed=0)  # a density: any finite x
    assert np.all(np.isfinite(unbounded))
    model = small_vaes["bernoulli"]
    plain = model.log_likelihood(x, num_samples=5, batch_size=4, sample_batch_size=2, seed=3)
    numpy = model.log_likelihood(x, num_samples=np.int64(5), batch_size=np.int32(4), sample_batch_size=np.int64(2),
                                 seed=np.int64(3))
    np.testing.assert_array_equal(plain, numpy)
    np.testing.assert_array_equal(model.sample(np.int64(2), seed=np.int64(1)), model.sample(2, seed=1))
    pair = small_vaes["cvae"].log_likelihood(_pair(), num_samples=np.int64(2), seed=0)
    assert pair.shape == (6,) and np.all(np.isfinite(pair))


def test_fit_checks_inputs_as_log_likelihood_does(small_vaes):
    for name, x, match in (("bernoulli", _x() * 3, "bernoulli likelihood of VAE scores values in"),
                           ("cvae", _pair(c=np.ones((4, 10), "float32")), r"one-hot rows of shape \(6, 10\)")):
        model = compile_model(small_vaes[name])
        with pytest.raises(ValueError, match=match):
            model.fit(x, epochs=1, batch_size=2, verbose=0)
        assert int(model.optimizer.iterations) == 0  # refused before any training step


@pytest.mark.parametrize("num_classes", [None, 0, 2.5, "10"])
def test_cvae_num_classes_must_be_a_positive_integer(num_classes):
    with pytest.raises(ValueError, match=r"Expected num_classes to be a positive integer \(the width of the one-hot"):
        CVAE.create((64,), 2, num_classes=num_classes)
    assert CVAE.create((64,), 2, num_classes=np.int64(3), hidden_units=(8,)).num_classes == 3
