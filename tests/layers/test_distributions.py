import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats
from scipy.special import log_softmax, softplus

from helpers import assert_layer_roundtrip
from kerasae.layers import distributions as D
from kerasae.layers.distributions import tfd

RNG = np.random.default_rng(0)


def _randn(*shape, scale=1.0):
    return (scale * RNG.normal(size=shape)).astype("float32")


def test_independent_normal_log_prob_shapes_and_scale():
    params = _randn(5, 8)
    params[:, 4:] = -30.0  # a scale pre-activation far below zero still gives a scale above the floor
    q = D.IndependentNormal(4, min_scale=1e-3)(params)
    assert q.batch_shape == (5,) and q.event_shape == (4,)
    assert q.sample(7, seed=[1, 2]).shape == (7, 5, 4)
    np.testing.assert_allclose(q.stddev().numpy(), 1e-3, rtol=1e-3)

    params = _randn(5, 8)
    q = D.IndependentNormal(4)(params)
    x = _randn(5, 4)
    scale = softplus(params[:, 4:].astype("float64")) + 1e-4
    expected = stats.norm(params[:, :4], scale).logpdf(x).sum(-1)
    np.testing.assert_allclose(q.log_prob(x).numpy(), expected, rtol=1e-5)
    q_exp = D.IndependentNormal(4, scale_activation="exp")(params)
    np.testing.assert_allclose(q_exp.stddev().numpy(), np.exp(params[:, 4:]) + 1e-4, rtol=1e-5)


def test_independent_normal_univariate_and_image_layout():
    q = D.IndependentNormal(1)(_randn(3, 2))
    assert q.event_shape == (1,) and q.log_prob(_randn(3, 1)).shape == (3,)
    # Images: (H, W, 2C) is split into means (first C channels) and scales (last C channels).
    params = _randn(2, 3, 3, 4)
    q = D.IndependentNormal((3, 3, 2))(params)
    assert q.event_shape == (3, 3, 2)
    np.testing.assert_allclose(q.mean().numpy(), params[..., :2])
    # Flat parameters are reshaped to the same layout.
    q_flat = D.IndependentNormal((3, 3, 2))(params.reshape(2, -1))
    np.testing.assert_allclose(q_flat.mean().numpy(), params[..., :2])


def test_multivariate_normal_tril_is_valid_and_matches_scipy():
    d = 3
    layer = D.MultivariateNormalTriL(d)
    assert layer.params_size(d) == 9
    params = _randn(4, 9)
    q = layer(params)
    tril = q.scale.to_dense().numpy()
    np.testing.assert_array_equal(np.triu(tril, 1), 0.0)
    assert (np.diagonal(tril, axis1=-2, axis2=-1) > 0).all()
    x = _randn(4, d)
    for i in range(4):
        cov = tril[i].astype("float64") @ tril[i].T.astype("float64")
        assert np.linalg.eigvalsh(cov).min() > 0
        expected = stats.multivariate_normal(params[i, :d], cov).logpdf(x[i])
        np.testing.assert_allclose(q.log_prob(x).numpy()[i], expected, rtol=1e-4)
    assert q.sample(2, seed=[0, 1]).shape == (2, 4, d)


def test_bernoulli_log_prob_is_minus_bce_per_image():
    logits = _randn(3, 2, 2, 1)
    x = (RNG.random((3, 2, 2, 1)) < 0.5).astype("float32")
    p = D.IndependentBernoulli((2, 2, 1))(logits)
    assert p.event_shape == (2, 2, 1)
    prob = 1 / (1 + np.exp(-logits.astype("float64")))
    expected = (x * np.log(prob) + (1 - x) * np.log1p(-prob)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(p.log_prob(x).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(p.mean().numpy(), prob, rtol=1e-5)
    assert set(np.unique(p.sample(seed=[3, 4]).numpy())) <= {0.0, 1.0}


def test_logit_bernoulli_log_prob_and_gradient_match_tfp_bernoulli():
    # The fast log-prob x * s - softplus(s) against TFP's own form, on extreme logits and grey-level data.
    logits = tf.constant(np.concatenate([_randn(200) * 5, [-80, -20, 0, 20, 80, 1e4, -1e4]]).astype("float32"))
    for x in (np.zeros(207), np.ones(207), RNG.random(207)):
        x = x.astype("float32")
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(logits)
            ours = D.LogitBernoulli(logits=logits, dtype="float32").log_prob(x)
            reference = tfd.Bernoulli(logits=logits, dtype="float32").log_prob(x)
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(tape.gradient(ours, logits).numpy(), tape.gradient(reference, logits).numpy(),
                                   atol=1e-6)
    from_probs = D.LogitBernoulli(probs=[0.3], dtype="float32")  # TFP's own form
    np.testing.assert_allclose(from_probs.log_prob([1.0, 0.0]).numpy(), np.log([0.3, 0.7]), rtol=1e-6)


def test_categorical_per_pixel_and_one_hot():
    k = 4
    layer = D.Categorical(k, event_shape=(2, 2, 1))
    assert layer.params_size((2, 2, 1), num_classes=k) == 16
    logits = _randn(3, 2, 2, k)  # last axis: [class 0 | class 1 | class 2 | class 3], one channel each
    p = layer(logits)
    assert p.event_shape == (2, 2, 1)
    levels = RNG.integers(0, k, size=(3, 2, 2, 1)).astype("float32")
    logp = log_softmax(logits.astype("float64"), axis=-1)
    expected = np.take_along_axis(logp, levels.astype(int), axis=-1).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(p.log_prob(levels).numpy(), expected, rtol=1e-5)
    samples = p.sample(5, seed=[0, 0]).numpy()
    assert samples.shape == (5, 3, 2, 2, 1) and samples.min() >= 0 and samples.max() < k

    onehot = D.OneHotCategorical(k)
    logits = _randn(6, k)
    p = onehot(logits)
    assert p.event_shape == (k,)
    labels = RNG.integers(0, k, size=6)
    expected = log_softmax(logits.astype("float64"), axis=-1)[np.arange(6), labels]
    np.testing.assert_allclose(p.log_prob(np.eye(k)[labels]).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(p.probs_parameter().numpy().sum(-1), 1.0, rtol=1e-6)


def test_gaussian_likelihoods_include_normalising_constant():
    mu = _randn(4, 6)
    x = _randn(4, 6)
    p = D.FixedScaleNormal(6, scale=0.3)(mu)
    expected = -0.5 * ((x - mu) ** 2).sum(-1) / 0.09 - 6 * math.log(0.3) - 3 * math.log(2 * math.pi)
    np.testing.assert_allclose(p.log_prob(x).numpy(), expected, rtol=1e-5)

    layer = D.LearnedScaleNormal(6, initial_scale=0.5, min_scale=1e-3)
    assert [w.name for w in layer.trainable_weights] == ["log_scale"]
    sigma = np.linspace(0.1, 2.0, 6).astype("float32")
    layer.log_scale.assign(np.log(sigma - 1e-3))
    np.testing.assert_allclose(layer.scale().numpy(), sigma, rtol=1e-5)
    expected = stats.norm(mu, sigma).logpdf(x).sum(-1)
    np.testing.assert_allclose(layer(mu).log_prob(x).numpy(), expected, rtol=1e-5)
    with tf.GradientTape() as tape:
        nll = -tf.reduce_mean(layer(mu).log_prob(x))
    assert np.abs(tape.gradient(nll, layer.log_scale).numpy()).min() > 0


@pytest.mark.parametrize(
    "layer",
    [
        D.IndependentNormal((2, 3), scale_activation="exp", min_scale=0.01),
        D.MultivariateNormalTriL(3, min_scale=0.02),
        D.IndependentBernoulli((2, 2, 1)),
        D.Categorical(5, event_shape=(4,)),
        D.OneHotCategorical(3),
        D.FixedScaleNormal(4, scale=0.2),
        D.LearnedScaleNormal((2, 2), initial_scale=0.7),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_serialization_round_trip_and_float32(layer):
    restored = assert_layer_roundtrip(layer)
    params = tf.constant(_randn(3, _params_size(layer)), dtype="float16")  # mixed-precision inputs
    a, b = layer(params), restored(params)
    x = a.sample(seed=[5, 6])
    assert x.dtype == tf.float32 and a.log_prob(x).dtype == tf.float32
    np.testing.assert_allclose(a.log_prob(x).numpy(), b.log_prob(x).numpy(), rtol=1e-6)
    assert a.log_prob(x).shape == (3,)


def _params_size(layer):
    if isinstance(layer, D.MultivariateNormalTriL):
        return layer.params_size(layer.event_size_)
    if isinstance(layer, D.Categorical):
        return layer.params_size(layer.event_shape or None, num_classes=layer.num_classes)
    return layer.params_size(layer.event_shape)


def test_works_in_graph_and_xla():
    normal, bernoulli = D.IndependentNormal(3), D.IndependentBernoulli(3)
    tril = D.MultivariateNormalTriL(3)

    @tf.function(jit_compile=True)
    def step(params, x):
        z = normal(params).sample(seed=tf.constant([1, 2]))
        return bernoulli(z).log_prob(x) + tril(tf.concat([params, params[:, :3]], -1)).log_prob(z)

    out = step(tf.constant(_randn(4, 6)), tf.ones((4, 3)))
    assert out.shape == (4,) and np.isfinite(out.numpy()).all()


def test_bad_arguments_raise():
    cases = [
        (lambda: D.IndependentNormal(0), "event_shape"),
        (lambda: D.IndependentNormal(3, min_scale=-1), "min_scale > 0"),
        (lambda: D.IndependentNormal(3, scale_activation="relu"), "scale_activation"),
        (lambda: D.MultivariateNormalTriL(2.5), "event_size"),
        (lambda: D.Categorical(1), "num_classes"),
        (lambda: D.FixedScaleNormal(3, scale=0), "scale > 0"),
        (lambda: D.LearnedScaleNormal(3, initial_scale=1e-4, min_scale=1e-3), "initial_scale > min_scale"),
        (lambda: D.IndependentNormal(3)(np.zeros((2, 5), "float32")), "expects 6 parameters"),
        (lambda: D.MultivariateNormalTriL(3)(np.zeros((2, 6), "float32")), "expects 9 parameters"),
        (lambda: D.OneHotCategorical(3)(np.zeros((2, 4), "float32")), "3 logits"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()


def test_registered_names():
    for cls in (D.IndependentNormal, D.MultivariateNormalTriL, D.IndependentBernoulli, D.Categorical,
                D.OneHotCategorical, D.FixedScaleNormal, D.LearnedScaleNormal):
        assert keras.saving.get_registered_name(cls) == f"kerasae>{cls.__name__}"


def test_tril_matches_fill_scale_tril_bijector():
    import tensorflow_probability as tfp

    tfb = tfp.bijectors
    layer = D.MultivariateNormalTriL(4, min_scale=1e-3)
    entries = _randn(3, 10)
    bijector = tfb.FillScaleTriL(diag_bijector=tfb.Chain([tfb.Shift(1e-3), tfb.Softplus()]), diag_shift=None)
    np.testing.assert_allclose(layer.scale_tril(entries).numpy(), bijector.forward(entries).numpy(), rtol=1e-6)


@pytest.mark.parametrize("name, cls, scale", [("bernoulli", D.IndependentBernoulli, None),
                                              ("gaussian", D.FixedScaleNormal, 0.3),
                                              ("gaussian_learned", D.LearnedScaleNormal, 0.3),
                                              ("categorical", D.Categorical, None)])
def test_likelihood_layer_builds_the_named_layer(name, cls, scale):
    layer = D.likelihood_layer(name, (4,), scale=0.3, num_bins=5)
    assert type(layer) is cls and layer.name == "likelihood" and tuple(layer.event_shape) == (4,)
    if name == "gaussian":
        assert layer.scale == 0.3
    if name == "gaussian_learned":
        np.testing.assert_allclose(layer.scale(), 0.3, rtol=1e-6)
    if name == "categorical":
        assert layer.num_classes == 5
    with pytest.raises(ValueError, match="Expected likelihood in .* Received: likelihood='poisson'"):
        D.likelihood_layer("poisson", (4,))
