"""The flow layers (kerasae.layers.flows): the IAF's density against numpy's change of variables, the MADE's
autoregressive masks, the sample's log-density, serialization and argument checks."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats
from scipy.special import expit, softplus

from helpers import assert_layer_roundtrip
from kerasae.layers import posteriors
from kerasae.layers.flows import MADE, InverseAutoregressiveFlow

RNG = np.random.default_rng(0)
D = 3


def _randomize(layer, scale=0.7):
    """Random values in every weight of ``layer``, returned as float64 numpy arrays."""
    values = [(scale * RNG.normal(size=w.shape)).astype("float32") for w in layer.weights]
    layer.set_weights(values)
    return [v.astype("float64") for v in values]


def _numpy_made(made, z, context):
    """The MADE's ``(shift, gate)`` in float64 numpy, from its weights and masks (ELU hidden units)."""
    weights = {w.path.split("/")[-1]: w.numpy().astype("float64") for w in made.weights}
    h = z
    for i, mask in enumerate(made.masks):
        h = h @ (weights[f"kernel_{i}"] * mask) + weights[f"bias_{i}"]
        if i == 0:
            h = h + context @ weights["context_kernel"]
        if i < len(made.masks) - 1:
            h = np.where(h > 0, h, np.expm1(np.minimum(h, 0)))
    return h[..., :D], h[..., D:]


def test_log_prob_is_numpys_change_of_variables_on_fixed_weights():
    layer = InverseAutoregressiveFlow(D, flow_steps=2, hidden_units=(8,))
    for made in layer.networks:
        _randomize(made)
    params = RNG.normal(size=(4, layer.params_size(D))).astype("float32")
    q = layer(params)
    assert q.batch_shape == (4,) and q.event_shape == (D,) and posteriors.is_flow(q)

    loc, scale, context = params[:, :D], softplus(params[:, D:2 * D]) + 1e-4, params[:, 2 * D:]
    eps = RNG.normal(size=(4, D))
    z = loc + scale * eps
    log_q = stats.norm.logpdf(eps).sum(-1) - np.log(scale).sum(-1)
    for t, made in enumerate(layer.networks):
        if t:
            z = z[:, ::-1]  # the steps reverse the order between them
        shift, gate = _numpy_made(made, z, context.astype("float64"))
        g = expit(gate)
        z = g * z + (1 - g) * shift
        log_q -= np.log(g).sum(-1)

    z0 = (loc + scale * eps).astype("float32")
    np.testing.assert_allclose(q.bijector.forward(z0).numpy(), z, rtol=1e-5, atol=1e-5)
    # log_prob of a fresh tensor inverts the flow (the autoregression, d passes of each MADE).
    np.testing.assert_allclose(q.log_prob(tf.constant(z, "float32")).numpy(), log_q, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(posteriors.point_code(q).numpy(), q.bijector.forward(loc).numpy(), atol=1e-6)


def test_sample_log_prob_is_base_log_prob_minus_log_det():
    layer = InverseAutoregressiveFlow(D, flow_steps=3, hidden_units=(6, 6))
    for made in layer.networks:
        _randomize(made)
    q = layer(RNG.normal(size=(5, layer.params_size(D))).astype("float32"))
    seed = tf.constant([3, 4])
    z, log_q = posteriors.sample_and_log_prob(q, 2, seed)
    assert z.shape == (2, 5, D) and log_q.shape == (2, 5)
    base = q.distribution
    z0 = base.mean() + base.stddev() * tf.random.stateless_normal((2, 5, D), seed=seed, alg="philox")
    np.testing.assert_allclose(z.numpy(), q.bijector.forward(z0).numpy(), atol=1e-6)
    expected = base.log_prob(z0) - q.bijector.forward_log_det_jacobian(z0, event_ndims=1)
    np.testing.assert_allclose(log_q.numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(q.log_prob(tf.identity(z)).numpy(), log_q.numpy(), rtol=1e-4, atol=1e-4)


def test_made_and_each_step_are_autoregressive():
    made = MADE(5, hidden_units=(7, 6), context_size=2, params=2)
    _randomize(made)
    z, context = tf.constant(RNG.normal(size=(3, 5)), "float32"), tf.constant(RNG.normal(size=(3, 2)), "float32")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        outputs = made(z, context)
    below = np.tril(np.ones((5, 5)), -1).astype(bool)  # d out_i / d z_j may be non-zero only for j < i
    for out in outputs:
        jacobian = tape.batch_jacobian(out, z).numpy()
        np.testing.assert_array_equal(jacobian[:, ~below], 0.0)
        assert np.all(np.abs(jacobian[:, below]) > 0)  # every earlier input is seen (widths >= d - 1)
    layer = InverseAutoregressiveFlow(5, flow_steps=1, hidden_units=(7,))
    _randomize(layer.networks[0])
    q = layer(RNG.normal(size=(3, 15)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(z)
        z1 = q.bijector.forward(z)
    jacobian = tape.batch_jacobian(z1, z).numpy()
    np.testing.assert_array_equal(np.triu(jacobian, 1), 0.0)  # triangular: log|det| is the sum of log g
    log_det = np.log(np.abs(np.diagonal(jacobian, axis1=1, axis2=2))).sum(-1)
    np.testing.assert_allclose(q.bijector.forward_log_det_jacobian(z, event_ndims=1).numpy(), log_det, atol=1e-5)


def test_config_round_trip():
    layer = InverseAutoregressiveFlow(D, flow_steps=2, hidden_units=[5], context_size=2, activation="tanh",
                                      scale_activation="exp", min_scale=1e-3, name="q")
    config = layer.get_config()
    assert {k: config[k] for k in ("event_size", "flow_steps", "hidden_units", "context_size", "activation",
                                   "scale_activation", "min_scale")} == {
        "event_size": D, "flow_steps": 2, "hidden_units": [5], "context_size": 2, "activation": "tanh",
        "scale_activation": "exp", "min_scale": 1e-3}
    assert layer.params_size(D, 2) == 8 and InverseAutoregressiveFlow.params_size(D) == 9
    assert_layer_roundtrip(layer, RNG.normal(size=(4, 8)).astype("float32"), atol=1e-5)
    assert_layer_roundtrip(MADE(4, hidden_units=(6,), context_size=1, params=2), None)
    default = InverseAutoregressiveFlow(D)
    assert default.flow_steps == 2 and default.hidden_units == (4 * D, 4 * D) and default.context_size == D


@pytest.mark.parametrize("kwargs, message", [
    ({"flow_steps": 0}, "Expected flow_steps to be a positive integer. Received: flow_steps=0"),
    ({"flow_steps": 1.5}, "Expected flow_steps to be a positive integer"),
    ({"hidden_units": 8}, "Expected hidden_units to be a non-empty sequence of positive integers. Received: "
                          "hidden_units=8"),
    ({"hidden_units": (8, 0)}, "Expected hidden_units to be a non-empty sequence of positive integers"),
    ({"hidden_units": ()}, "Expected hidden_units to be a non-empty sequence"),
    ({"context_size": -1}, "Expected context_size to be an integer >= 0. Received: context_size=-1"),
    ({"activation": "nope"}, "Expected activation to be a Keras activation name. Received: activation='nope'"),
    ({"scale_activation": "relu"}, "scale_activation"),
    ({"min_scale": 0.0}, "min_scale"),
])
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InverseAutoregressiveFlow(D, **kwargs)


def test_input_and_call_errors():
    with pytest.raises(ValueError, match="Expected event_size to be a positive integer. Received: event_size=0"):
        InverseAutoregressiveFlow(0)
    with pytest.raises(ValueError, match=r"expects 9 parameters per example on the last axis \(\[mean \| scale \| "):
        InverseAutoregressiveFlow(D)(np.zeros((2, 6), "float32"))
    with pytest.raises(ValueError, match="takes a context of size 2"):
        MADE(D, hidden_units=(4,), context_size=2)(tf.zeros((1, D)))
