"""The prior layers (kerasae.layers.priors): densities against numpy, sampling, argument checks, serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats
from scipy.special import log_softmax, logsumexp, softplus

from kerasae.layers import distributions as D
from kerasae.layers import priors as P
from kerasae.layers.priors import tfd

RNG = np.random.default_rng(0)


def _randn(*shape, scale=1.0):
    return (scale * RNG.normal(size=shape)).astype("float32")


def _set_weights(layer):
    """Random values in every weight of ``layer`` (beyond the initial ones), returned as numpy arrays."""
    values = [_randn(*w.shape) for w in layer.weights]
    layer.set_weights(values)
    return values


def _encoder(input_shape, latent_dim, posterior="diagonal"):
    """A small MLP encoder and its posterior layer, ``encode(x) -> q(z|x)``, with fixed random weights."""
    layer = D.MultivariateNormalTriL(latent_dim) if posterior == "full" else D.IndependentNormal(latent_dim)
    size = layer.params_size(latent_dim)
    inputs = keras.Input(input_shape)
    h = keras.layers.Dense(16, activation="tanh")(keras.layers.Flatten()(inputs))
    network = keras.Model(inputs, keras.layers.Dense(size)(h))
    network.set_weights([_randn(*w.shape, scale=0.5) for w in network.weights])
    return network, lambda x: layer(network(x))


def test_standard_normal_is_the_vaes_former_prior_of_either_family():
    z = _randn(7, 3)
    diagonal, full = P.StandardNormalPrior(3)(), P.StandardNormalPrior(3, posterior="full")()
    assert isinstance(diagonal, tfd.Independent) and isinstance(full, tfd.MultivariateNormalDiag)
    expected = stats.norm.logpdf(z).sum(-1)
    for p in (diagonal, full):
        assert p.event_shape == (3,) and p.batch_shape == ()
        np.testing.assert_allclose(p.log_prob(z).numpy(), expected, rtol=1e-5)
    q = D.IndependentNormal(3)(_randn(4, 6))
    kl = tfd.kl_divergence(q, diagonal)  # the closed form the VAE keeps
    assert kl.shape == (4,) and P.StandardNormalPrior.closed_form_kl and not P.VampPrior.closed_form_kl


def test_mixture_of_gaussians_log_prob_matches_numpy():
    layer = P.MixtureOfGaussiansPrior(latent_dim=3, num_components=4, min_scale=1e-3)
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == ["means", "scale_params", "logits"]
    p0 = layer()
    np.testing.assert_allclose(p0.components_distribution.stddev().numpy(), 1.0, rtol=1e-5)  # sigma starts at 1
    np.testing.assert_allclose(p0.mixture_distribution.probs_parameter().numpy(), 0.25, rtol=1e-6)
    means, scale_params, logits = (v.astype("float64") for v in _set_weights(layer))
    scales = softplus(scale_params) + 1e-3
    z = _randn(2, 5, 3, scale=2.0)  # any leading shape
    per_component = stats.norm.logpdf(z[..., None, :], means, scales).sum(-1)  # (2, 5, K)
    expected = logsumexp(log_softmax(logits) + per_component, axis=-1)
    p = layer()
    assert isinstance(p, tfd.MixtureSameFamily) and p.event_shape == (3,) and p.batch_shape == ()
    np.testing.assert_allclose(p.log_prob(z).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_vamp_prior_log_prob_is_the_numpy_mixture_of_the_encoders_posteriors(posterior):
    network, encode = _encoder((8,), 3, posterior)
    layer = P.VampPrior((8,), num_components=5, value_range=(0.0, 1.0))
    u = RNG.uniform(-0.5, 1.5, size=(5, 8)).astype("float32")  # some outside [0, 1]: clipped
    layer.assign_pseudo_inputs(u)
    np.testing.assert_array_equal(layer.pseudo_inputs().numpy(), np.clip(u, 0, 1))
    p = layer(encode=encode)
    assert isinstance(p, tfd.MixtureSameFamily) and p.event_shape == (3,) and p.batch_shape == ()

    params = network(np.clip(u, 0, 1)).numpy().astype("float64")  # the encoder's outputs on the pseudo-inputs
    z = _randn(6, 3)
    if posterior == "diagonal":
        loc, scale = params[:, :3], softplus(params[:, 3:]) + 1e-4
        per_component = stats.norm.logpdf(z[:, None, :], loc, scale).sum(-1)  # (6, K)
    else:
        q = encode(np.clip(u, 0, 1))
        loc, tril = params[:, :3], q.scale.to_dense().numpy().astype("float64")
        per_component = np.stack(
            [stats.multivariate_normal(loc[k], tril[k] @ tril[k].T).logpdf(z) for k in range(5)], axis=-1)
    expected = logsumexp(per_component, axis=-1) - np.log(5)
    np.testing.assert_allclose(p.log_prob(z).numpy(), expected, rtol=1e-5)


def test_vamp_prior_samples_pick_a_component_uniformly_then_draw_from_it():
    # Five pseudo-inputs whose posteriors are far apart and narrow: each draw lies at one of their means.
    means = np.array([[-20.0], [-10.0], [0.0], [10.0], [20.0]], "float32")

    def encode(u):
        return tfd.Independent(tfd.Normal(means + 0.0 * u[:, :1], 0.01), reinterpreted_batch_ndims=1)

    layer = P.VampPrior((2,), num_components=5)
    draws = layer(encode=encode).sample(5000, seed=tf.constant([3, 4])).numpy()[:, 0]
    nearest = np.abs(draws[:, None] - means[:, 0]).argmin(-1)
    assert np.abs(draws - means[nearest, 0]).max() < 0.1
    counts = np.bincount(nearest, minlength=5)
    assert stats.chisquare(counts).pvalue > 1e-3, counts  # uniform over the components
    again = layer(encode=encode).sample(5000, seed=tf.constant([3, 4])).numpy()[:, 0]
    np.testing.assert_array_equal(draws, again)  # a stateless seed reproduces


def test_vamp_prior_initialisation_and_value_range():
    keras.utils.set_random_seed(0)
    layer = P.VampPrior((4, 4, 1), num_components=50)
    u = layer.pseudo_inputs().numpy()
    assert u.shape == (50, 4, 4, 1)
    assert abs(u.mean() - 0.05) < 0.01 and abs(u.std() - 0.01) < 0.005  # Tomczak & Welling's N(0.05, 0.01^2)
    free = P.VampPrior((2,), num_components=2, value_range=None)
    free.assign_pseudo_inputs([[-3.0, 4.0], [0.5, 0.5]])
    np.testing.assert_array_equal(free.pseudo_inputs().numpy(), [[-3.0, 4.0], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"Expected 2 finite pseudo-inputs of shape \(2,\).*Received: an array of shape \(3, 2\)"):
        free.assign_pseudo_inputs(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="call it with encode="):
        free()


def test_vamp_prior_gradient_reaches_the_pseudo_inputs_inside_the_range():
    network, encode = _encoder((3,), 2)
    layer = P.VampPrior((3,), num_components=4)
    layer.assign_pseudo_inputs([[0.2, 0.5, 0.7], [0.1, 0.9, 0.3], [2.0, 0.5, 0.5], [0.4, 0.4, -1.0]])
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(layer(encode=encode).log_prob(_randn(8, 2)))
    gradient = tape.gradient(value, layer.pseudo_inputs_weight).numpy()
    assert np.all(gradient[:2] != 0)
    assert gradient[2, 0] == 0 and gradient[3, 2] == 0  # clipped values (the paper's Hardtanh) get none


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: P.StandardNormalPrior(0), "Expected latent_dim to be a positive integer. Received: latent_dim=0"),
        (lambda: P.StandardNormalPrior(2, posterior="iaf"), "Expected posterior to be one of"),
        (lambda: P.MixtureOfGaussiansPrior(2, num_components=0), "Expected num_components to be a positive integer"),
        (lambda: P.MixtureOfGaussiansPrior(2, init_stddev=0.0), r"Expected init_stddev > 0. Received: init_stddev=0.0"),
        (lambda: P.MixtureOfGaussiansPrior(2, min_scale=1.5), r"Expected min_scale < 1"),
        (lambda: P.VampPrior((8,), num_components=2.5), "Expected num_components to be a positive integer"),
        (lambda: P.VampPrior(0), "Expected input_shape to be a positive integer or a non-empty tuple"),
        (lambda: P.VampPrior((8,), init_stddev=-1), "Expected init_stddev > 0"),
        (lambda: P.VampPrior((8,), value_range=(1, 0)), r"Expected value_range to be None or a pair .*Received: value_range=\(1, 0\)"),
        (lambda: P.VampPrior((8,), value_range="01"), "Expected value_range to be None or a pair"),
        (lambda: P.get("gaussian", 2, (8,)), r"Expected prior to be one of \['standard', 'vamp', 'mog'\]"),
        (lambda: P.get("standard", 2, (8,), num_components=5), "num_components sets the K of prior='vamp' or 'mog'"),
        (lambda: P.get(P.MixtureOfGaussiansPrior(2), 2, (8,), num_components=5), "a prior layer has its own"),
    ],
)
def test_bad_arguments_name_the_expected_value(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_get_builds_the_named_prior_and_passes_a_layer_through():
    assert isinstance(P.get("standard", 3, (8,), posterior="full")(), tfd.MultivariateNormalDiag)
    mog = P.get("mog", 3, (8,), num_components=4)
    assert isinstance(mog, P.MixtureOfGaussiansPrior) and mog.num_components == 4 and mog.name == "prior"
    vamp = P.get("vamp", 3, (8,))
    assert isinstance(vamp, P.VampPrior) and vamp.num_components == 500 and vamp.example_shape == (8,)
    layer = P.VampPrior((8,), num_components=3, name="mine")
    assert P.get(layer, 3, (8,)) is layer
    restored = P.get(keras.saving.serialize_keras_object(layer), 3, (8,))
    assert isinstance(restored, P.VampPrior) and restored.get_config() == layer.get_config()
    with pytest.raises(ValueError, match=r"examples of shape \(8,\), through the model's encoder, which takes inputs "
                                         r"of shape \(18,\)"):
        layer.check_model(3, (18,))
    with pytest.raises(ValueError, match="Expected a prior over 3-dimensional codes.*latent_dim=2"):
        P.MixtureOfGaussiansPrior(2).check_model(3, (8,))


@pytest.mark.parametrize("layer", [
    P.StandardNormalPrior(3, posterior="full", name="p"),
    P.MixtureOfGaussiansPrior(3, num_components=4, init_stddev=0.5, min_scale=1e-3),
    P.VampPrior((8,), num_components=6, init_mean=0.5, init_stddev=0.1, value_range=None),
])
def test_config_round_trip_gives_the_same_distribution(layer):
    config = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert type(restored) is type(layer) and restored.get_config() == layer.get_config()
    _set_weights(layer)
    restored.set_weights(layer.get_weights())
    _, encode = _encoder((8,), 3)
    z = _randn(5, 3)
    np.testing.assert_allclose(restored(encode=encode).log_prob(z).numpy(), layer(encode=encode).log_prob(z).numpy(),
                               rtol=1e-6)
