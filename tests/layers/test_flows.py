"""The flow layers (kerasae.layers.flows, kerasae.layers.planar): the IAF's density against numpy's change of
variables, the MADE's autoregressive masks; the planar and radial steps against numpy's formulas of the paper and
autodiff Jacobians, their constraints; the sample's log-density, serialization and argument checks."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats
from scipy.special import expit, softplus

from helpers import assert_layer_roundtrip
from kerasae.layers import posteriors
from kerasae.layers.flows import MADE, InverseAutoregressiveFlow
from kerasae.layers.planar import PlanarBijector, PlanarFlow, RadialBijector, RadialFlow

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


# ================================================================================ planar and radial flows
AMORTISED = [PlanarFlow, RadialFlow]


def _numpy_planar(z, params):
    """Rezende & Mohamed's planar step in float64: ``(f(z), log|det df/dz|)`` from the raw ``[u | w | b]``."""
    u, w, b = params[..., :D], params[..., D:2 * D], params[..., 2 * D]
    wu = (w * u).sum(-1, keepdims=True)
    u_hat = u + (-1.0 + softplus(wu) - wu) * w / (w * w).sum(-1, keepdims=True)  # appendix A.1
    a = (w * z).sum(-1) + b
    psi = (1.0 - np.tanh(a) ** 2)[:, None] * w
    return z + u_hat * np.tanh(a)[:, None], np.log(np.abs(1.0 + (psi * u_hat).sum(-1)))


def _numpy_radial(z, params):
    """The radial step in float64 from the raw ``[z0 | a | c]``: ``alpha = softplus(a)``, ``beta = -alpha +
    softplus(c)``, ``h = 1 / (alpha + r)``, log-det ``(d - 1) log(1 + beta h) + log(1 + beta h + beta h' r)``."""
    z0, alpha = params[..., :D], softplus(params[..., D])
    beta = -alpha + softplus(params[..., D + 1])
    r = np.linalg.norm(z - z0, axis=-1)
    h, dh = 1.0 / (alpha + r), -1.0 / (alpha + r) ** 2
    log_det = (D - 1) * np.log(1.0 + beta * h) + np.log(1.0 + beta * h + beta * dh * r)
    return z + (beta * h)[:, None] * (z - z0), log_det


@pytest.mark.parametrize("cls, step", [(PlanarFlow, _numpy_planar), (RadialFlow, _numpy_radial)])
def test_amortised_flow_is_numpys_formulas_and_its_sample_log_prob(cls, step):
    layer, steps = cls(D, flow_steps=3), 3
    params = RNG.normal(size=(4, layer.params_size(D, steps)))
    assert params.shape[-1] == 2 * D + steps * cls.step_size(D) == 2 * D + steps * {PlanarFlow: 2 * D + 1,
                                                                                     RadialFlow: D + 2}[cls]
    q = layer(params.astype("float32"))
    assert q.batch_shape == (4,) and q.event_shape == (D,) and posteriors.is_flow(q)
    seed = tf.constant([5, 6])
    z, log_q = posteriors.sample_and_log_prob(q, 1, seed)
    eps = tf.random.stateless_normal((1, 4, D), seed=seed, alg="philox").numpy()[0].astype("float64")
    loc, scale = params[:, :D], softplus(params[:, D:2 * D]) + 1e-4
    expected, expected_log_q = loc + scale * eps, stats.norm.logpdf(eps).sum(-1) - np.log(scale).sum(-1)
    size = cls.step_size(D)
    for k in range(steps):  # log q(z_K) = log q_0(z_0) - sum_k log|det df_k/dz|
        expected, log_det = step(expected, params[:, 2 * D + k * size:2 * D + (k + 1) * size])
        expected_log_q -= log_det
    np.testing.assert_allclose(z.numpy()[0], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(log_q.numpy()[0], expected_log_q, rtol=1e-4, atol=1e-4)
    point, flat = posteriors.point_code(q).numpy(), loc  # the point code: the steps' image of the base mean
    for k in range(steps):
        flat, _ = step(flat, params[:, 2 * D + k * size:2 * D + (k + 1) * size])
    np.testing.assert_allclose(point, flat, rtol=1e-4, atol=1e-4)
    draw, z0 = q.sample(seed=[7, 8]), q.distribution.sample(seed=[7, 8])  # q.sample pushes the base's draw through
    own = q.distribution.log_prob(z0) - q.bijector.forward_log_det_jacobian(z0, event_ndims=1)
    np.testing.assert_allclose(q.log_prob(draw).numpy(), own.numpy(), atol=1e-5)  # its own draw: TFP's cache
    with pytest.raises(NotImplementedError, match=f"The {layer.flow} flow has no closed-form inverse, so "
                                                  r"q.log_prob\(z\) works only for a z that q.sample returned"):
        q.log_prob(tf.constant(expected, "float32"))  # any other code would need the inverse


@pytest.mark.parametrize("cls", AMORTISED)
def test_log_det_is_the_autodiff_jacobians(cls):
    layer = cls(D, flow_steps=3)
    q = layer((1.5 * RNG.normal(size=(6, layer.params_size(D, 3)))).astype("float32"))
    z = tf.constant(2.0 * RNG.normal(size=(6, D)), "float32")
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = q.bijector.forward(z)
    sign, log_det = np.linalg.slogdet(tape.batch_jacobian(y, z).numpy().astype("float64"))
    assert np.all(sign > 0)  # each step keeps the orientation (invertible and continuous)
    np.testing.assert_allclose(q.bijector.forward_log_det_jacobian(z, event_ndims=1).numpy(), log_det, atol=1e-4)


def test_planar_constraint_holds_and_its_log_det_is_stable():
    u, w = RNG.normal(size=(5, D)) * 3, RNG.normal(size=(5, D))
    u[0] = -20.0 * w[0] / (w[0] ** 2).sum()  # w^T u = -20: m = -1 + softplus(-20), 1 + m below float32 resolution
    step = PlanarBijector(u, w, RNG.normal(size=5))
    wu, wu_hat = (u * w).sum(-1), tf.reduce_sum(step.w * step.u_hat, -1).numpy()
    assert np.all(wu_hat >= -1.0 - 1e-5) and wu[0] < -19  # to within float32's rounding of u_hat
    np.testing.assert_allclose(wu_hat, -1.0 + softplus(wu), rtol=1e-5, atol=1e-6)  # w^T u_hat = m(w^T u)
    z = -(step.b.numpy() / (w * w).sum(-1))[:, None] * w  # on the hyperplane: tanh(w^T z + b) = 0
    log_det = step.forward_log_det_jacobian(tf.constant(z, "float32"), event_ndims=1).numpy()
    np.testing.assert_allclose(log_det[0], np.log(softplus(wu[0])), rtol=1e-4)  # log(1 + m), not log(0)
    np.testing.assert_allclose(log_det[1:], np.log(softplus(wu[1:])), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(PlanarBijector(u[:1], np.zeros((1, D)), [0.3]).forward(z[:1]).numpy(),
                               z[:1] + u[:1] * np.tanh(0.3), atol=1e-5)  # w = 0: no division by zero


def test_radial_constraint_holds_at_its_centre_and_its_limit():
    z0, a, c = RNG.normal(size=(3, D)), np.array([0.5, -2.0, 1.0]), np.array([-60.0, 0.3, 2.0])
    step = RadialBijector(z0, a, c)
    assert np.all(step.beta.numpy() >= -step.alpha.numpy()) and np.all(step.alpha.numpy() > 0)
    x = tf.constant(z0, "float32")  # r = 0: f(z0) = z0, det (1 + beta / alpha)^d, and a finite gradient
    with tf.GradientTape() as tape:
        tape.watch(x)
        log_det = step.forward_log_det_jacobian(x, event_ndims=1)
    np.testing.assert_allclose(step.forward(x).numpy(), z0, atol=1e-6)
    alpha = softplus(a)
    np.testing.assert_allclose(log_det.numpy()[1:], D * np.log(softplus(c[1:]) / alpha[1:]), rtol=1e-5)
    assert np.isfinite(log_det.numpy()[0]) and np.all(np.isfinite(tape.gradient(log_det, x).numpy()))


@pytest.mark.parametrize("cls", AMORTISED)
def test_amortised_config_round_trip_and_errors(cls):
    layer = cls(D, flow_steps=2, scale_activation="exp", min_scale=1e-3, name="q")
    config = layer.get_config()
    assert {k: config[k] for k in ("event_size", "flow_steps", "scale_activation", "min_scale")} == {
        "event_size": D, "flow_steps": 2, "scale_activation": "exp", "min_scale": 1e-3}
    restored = assert_layer_roundtrip(layer)
    params, z = RNG.normal(size=(2, cls.params_size(D, 2))).astype("float32"), RNG.normal(size=(2, D))
    z = tf.constant(z, "float32")
    for statistic in (lambda q: q.bijector.forward(z), lambda q: q.distribution.stddev(),
                      lambda q: q.bijector.forward_log_det_jacobian(z, event_ndims=1)):
        np.testing.assert_allclose(statistic(restored(params)).numpy(), statistic(layer(params)).numpy(), atol=1e-6)
    assert cls(D).flow_steps == 2 and not layer.weights  # amortised: the encoder outputs every parameter
    for kwargs, message in (({"flow_steps": 0}, "Expected flow_steps to be a positive integer. Received: flow_steps=0"),
                            ({"scale_activation": "relu"}, "scale_activation"), ({"min_scale": 0.0}, "min_scale")):
        with pytest.raises(ValueError, match=message):
            cls(D, **kwargs)
    with pytest.raises(ValueError, match="Expected event_size to be a positive integer. Received: event_size=0"):
        cls(0)
    size = cls.params_size(D, 2)
    with pytest.raises(ValueError, match=rf"{cls.__name__} with event_size={D} and flow_steps=2 expects {size} "
                                         r"parameters per example on the last axis \(\[mean \| scale \| 2 steps of "):
        layer(np.zeros((2, size - 1), "float32"))
