"""The VAE and IWAE with two stochastic layers (kerasae.models.hvae): bounds against a numpy reference on fixed
weights, log-likelihood, training (XLA too), serialisation, the API's shapes and the argument checks."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

import kerasae
from helpers import assert_keras_roundtrip, assert_training_lowers_loss
from kerasae.models.hvae import HierarchicalIWAE, HierarchicalVAE, build_networks

DIMS = (5, 3)
HIDDEN = ((12,), (7,))
SEED = tf.constant([7, 8], "int32")


@pytest.fixture(scope="module")
def binary_digits():
    data = kerasae.datasets.load("digits")
    return (data.x_train > 0.5).astype("float32"), (data.x_test > 0.5).astype("float32")


def _small(cls=HierarchicalVAE, **kwargs):
    return cls.create((64,), DIMS, HIDDEN, activation="tanh", **kwargs)


# ============================================================================================ numpy reference
def _mlp(network, h):
    """A kerasae MLP (Dense layers, tanh or linear) in float64 numpy; ``h`` of any leading shape."""
    for layer in network.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel, bias = (np.asarray(w, "float64") for w in layer.get_weights())
            activation = layer.get_config()["activation"]
            assert activation in ("tanh", "linear"), activation
            h = h @ kernel + bias
            h = np.tanh(h) if activation == "tanh" else h
    return h


def _normal_log_pdf(v, params, min_scale=1e-4):
    """log N(v; mu, diag(s^2)) from ``[mu | u]`` with ``s = softplus(u) + min_scale`` (IndependentNormal)."""
    d = params.shape[-1] // 2
    mu, s = params[..., :d], np.logaddexp(0.0, params[..., d:]) + min_scale
    return (-0.5 * ((v - mu) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)).sum(-1)


def _reference(model, x, h1, h2):
    """``(log p(x|h1), log p(h1|h2) + log p(h2), log q(h1|x) + log q(h2|h1))``, each ``(S, batch)``, in numpy."""
    x, h1, h2 = (np.asarray(a, "float64") for a in (x, h1, h2))
    logits = _mlp(model.decoder, h1)
    log_px = (x * logits - np.logaddexp(0.0, logits)).sum(-1)
    log_p = _normal_log_pdf(h1, _mlp(model.top_decoder, h2)) + (-0.5 * h2**2 - 0.5 * np.log(2 * np.pi)).sum(-1)
    log_q = _normal_log_pdf(h1, _mlp(model.encoder, x)[None]) + _normal_log_pdf(h2, _mlp(model.top_encoder, h1))
    return log_px, log_p, log_q


@pytest.mark.parametrize("cls, k", [(HierarchicalVAE, 1), (HierarchicalIWAE, 3)])
def test_elbo_and_iwae_bound_match_numpy_on_fixed_weights(binary_digits, cls, k):
    x = binary_digits[1][:16]
    model = _small(cls, num_samples=k, seed=0)
    model._next_seed = lambda: SEED  # the training step's draws are then those of log_weights(seed=SEED)
    terms, _ = model.compute_loss_terms(x, x)
    parts = model.log_weights(x, k, seed=SEED)
    assert parts["h1"].shape == (k, 16, DIMS[0]) and parts["h2"].shape == (k, 16, DIMS[1])
    log_px, log_p, log_q = _reference(model, x, parts["h1"], parts["h2"])
    for name, expected in (("log_px_z", log_px), ("log_pz", log_p), ("log_qz", log_q)):
        np.testing.assert_allclose(parts[name].numpy(), expected, rtol=1e-4, atol=1e-3, err_msg=name)
    log_w = log_px + log_p - log_q
    np.testing.assert_allclose(terms["reconstruction_nll"], -log_px.mean(0), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(terms["kl"], (log_q - log_p).mean(0), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(terms["elbo"], log_w.mean(0), rtol=1e-4, atol=1e-3)
    loss = model.combine_loss_terms(terms).numpy()
    if cls is HierarchicalIWAE:
        bound = logsumexp(log_w, axis=0) - math.log(k)
        np.testing.assert_allclose(terms["iwae_bound"], bound, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(loss, -bound, rtol=1e-4, atol=1e-3)
        assert (bound >= log_w.mean(0) - 1e-4).all()  # Jensen: L_K >= the mean of its log-weights
    else:
        np.testing.assert_allclose(loss, -log_w.mean(0), rtol=1e-4, atol=1e-3)


def test_samples_come_from_the_two_posteriors(binary_digits):
    """``h1 ~ q(h1|x)`` and ``h2 ~ q(h2|h1)`` at the sampled ``h1``: the standardised draws are N(0, 1), independent."""
    x = binary_digits[1][:8]
    model = _small(seed=0)
    parts = model.log_weights(x, 2000, seed=SEED)
    h1, h2 = (parts[k].numpy().astype("float64") for k in ("h1", "h2"))

    def standardised(v, params):
        d = params.shape[-1] // 2
        return (v - params[..., :d]) / (np.logaddexp(0.0, params[..., d:]) + 1e-4)

    eps = np.concatenate([standardised(h1, _mlp(model.encoder, x)[None]), standardised(h2, _mlp(model.top_encoder, h1))],
                         axis=-1).reshape(-1, sum(DIMS))
    assert np.abs(eps.mean(0)).max() < 0.03 and np.abs(eps.std(0) - 1).max() < 0.03
    corr = np.corrcoef(eps, rowvar=False) - np.eye(sum(DIMS))
    assert np.abs(corr).max() < 0.03
    np.testing.assert_array_equal(model.log_weights(x, 3, seed=SEED)["h2"], parts["h2"][:3])  # seeded: reproducible


# ============================================================================================ trained model
@pytest.fixture(scope="module")
def trained(binary_digits):
    keras.utils.set_random_seed(0)
    model = _small(seed=0)
    assert_training_lowers_loss(model, binary_digits[0], epochs=3, factor=0.9)
    return model


def test_log_likelihood_tightens_with_k(trained, binary_digits):
    x = binary_digits[1][:120]
    elbo = trained.evaluate(x, batch_size=120, verbose=0, return_dict=True)["elbo"]
    k1 = trained.log_likelihood(np.repeat(x, 10, axis=0), num_samples=1, batch_size=600, seed=1)
    assert abs(k1.mean() - elbo) < 4 * k1.std() / math.sqrt(len(k1)) + 0.05  # L_1 is the ELBO
    log_px = trained.log_likelihood(x, num_samples=50, seed=2)
    assert log_px.shape == (120,) and log_px.dtype == np.float64 and np.isfinite(log_px).all() and (log_px < 0).all()
    assert log_px.mean() > k1.mean() + 0.1
    np.testing.assert_array_equal(log_px, trained.log_likelihood(x, num_samples=50, seed=2))


def test_keras_round_trip(trained, binary_digits, tmp_path):
    x = binary_digits[1][:64]
    assert_keras_roundtrip(trained, x, tmp_path, outputs=lambda m, x: m.log_likelihood(x, 10, seed=3), atol=1e-4)
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)  # the helper's copy trained on
    np.testing.assert_allclose(loaded.encode_mean(x), trained.encode_mean(x), atol=1e-6)
    np.testing.assert_allclose(loaded.sample(4, seed=1), trained.sample(4, seed=1), atol=1e-6)
    networks = ("encoder", "decoder", "top_encoder", "top_decoder")
    own = lambda m: {k: v for k, v in m.get_config().items() if k not in networks}  # noqa: E731
    assert own(loaded) == own(trained) and own(trained)["latent_dims"] == list(DIMS)
    assert type(trained).from_config(trained.get_config()).latent_dims == DIMS


def test_api_shapes_and_export_signatures(trained, binary_digits):
    x = binary_digits[1][:6]
    q = trained.encode(x)
    assert q.event_shape == (DIMS[1],) and trained.latent_dim == DIMS[1] and trained.latent_dims == DIMS
    z = trained.encode_mean(x)
    assert z.shape == (6, DIMS[1])
    decoded = trained.decode(z).numpy()
    assert decoded.shape == (6, 64) and decoded.min() >= 0 and decoded.max() <= 1
    assert trained(x).shape == (6, 64) and np.allclose(trained.reconstruct(x), trained(x))
    samples = trained.sample(5, seed=0)
    assert samples.shape == (5, 64) and np.isfinite(samples).all()
    np.testing.assert_array_equal(samples, trained.sample(5, seed=0))
    strip = trained.interpolate(x[0], x[1], steps=4)
    assert strip.shape == (4, 64)
    np.testing.assert_allclose(strip[0], decoded[0], atol=1e-5)  # the ends decode the top codes
    assert trained.interpolate(x[:2], x[2:4], steps=3).shape == (2, 3, 64)

    table = trained.export_signatures()
    assert list(table) == ["reconstruct", "encode", "decode", "sample"]
    encoded = table["encode"].fn(tf.constant(x))
    np.testing.assert_allclose(encoded["mean"], z, atol=1e-6)
    np.testing.assert_allclose(encoded["scale"], q.stddev(), atol=1e-6)
    assert tuple(table["decode"].specs[0].shape) == (None, DIMS[1])
    np.testing.assert_allclose(table["decode"].fn(tf.constant(z))["reconstruction"], decoded, atol=1e-6)
    assert table["sample"].random and table["sample"].fn(tf.constant(3))["samples"].shape == (3, 64)


def test_training_step_compiles_with_xla(binary_digits):
    """The loss and its gradient under ``jit_compile=True`` (ThreeFry draws), checked against numpy."""
    x = binary_digits[0][:32]
    model = _small(HierarchicalIWAE, num_samples=3, seed=0)
    model._next_seed = lambda: SEED

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            terms, _ = model.compute_loss_terms(x, x, training=True)
            loss = tf.reduce_mean(model.combine_loss_terms(terms))
        parts = model.log_weights(x, 3, seed=SEED)  # the same draws
        return terms, tape.gradient(loss, model.trainable_variables), parts["h1"], parts["h2"]

    terms, gradients, h1, h2 = step(tf.constant(x))
    log_px, log_p, log_q = _reference(model, x, h1, h2)
    bound = logsumexp(log_px + log_p - log_q, axis=0) - math.log(3)
    np.testing.assert_allclose(terms["iwae_bound"], bound, rtol=1e-4, atol=1e-3)
    assert len(gradients) == len(model.trainable_variables) == 16  # every layer of the four networks
    assert all(g is not None and np.isfinite(g).all() and np.abs(g).max() > 0 for g in gradients)


def test_other_likelihoods_and_conv_networks(digits, digits_images):
    x = digits.x_test[:4]
    for likelihood in ("gaussian_learned", "categorical"):
        model = _small(likelihood=likelihood, num_bins=4)
        log_px = model.log_weights(x, 2, seed=SEED)["log_px_z"].numpy()
        assert log_px.shape == (2, 4) and np.isfinite(log_px).all()
        assert likelihood != "categorical" or (log_px <= 0).all()  # a probability mass
        assert model.decode(model.encode_mean(x)).shape == (4, 64)
    conv = HierarchicalVAE.create((8, 8, 1), latent_dims=(4, 2), hidden_units=(None, (6,)), architecture="conv",
                                  filters=(4,))
    parts = conv.log_weights(digits_images.x_test[:3], 2, seed=SEED)
    assert parts["log_px_z"].shape == (2, 3) and conv.sample(2, seed=0).shape == (2, 8, 8, 1)


def test_bad_arguments_raise():
    nets = build_networks((64,), DIMS, HIDDEN)
    cases = [
        (lambda: HierarchicalVAE(**nets, latent_dims=(6, 3)), r"the encoder needs 2 \* h1_dim values of q\(h1\|x\): 12"),
        (lambda: HierarchicalVAE(**{**nets, "top_decoder": nets["top_encoder"]}, latent_dims=DIMS), "top_decoder needs h2_dim inputs"),
        (lambda: HierarchicalVAE.create((64,), latent_dims=None), "pair of positive integers"),
        (lambda: HierarchicalVAE.create((64,), latent_dims=(5,)), "pair of positive integers"),
        (lambda: HierarchicalVAE.create((64,), latent_dims=(5, 0)), "pair of positive integers"),
        (lambda: HierarchicalVAE.create((64,), hidden_units=(200, 200)), "Expected hidden_units to be a pair"),
        (lambda: HierarchicalVAE.create((8, 8, 1), architecture="conv", hidden_units=((8,), (8,))),
         r"Fix: pass hidden_units=\(None, \(8,\)\)"),
        (lambda: _small(likelihood="poisson"), "likelihood"),
        (lambda: _small(num_samples=0), "num_samples"),
        (lambda: _small(HierarchicalIWAE, beta=0.5), "beta=1 .* Fix: use HierarchicalVAE"),
        (lambda: _small().sample(0), "Expected n to be a positive integer"),
    ]
    for make, match in cases:
        with pytest.raises(ValueError, match=match):
            make()
    inferred = HierarchicalVAE(**nets)  # latent_dims from the decoders
    assert inferred.latent_dims == DIMS and inferred.num_samples == 1
    assert HierarchicalIWAE(**nets).num_samples == 5
