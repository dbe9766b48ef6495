"""The VAE (and IWAE, CVAE) with a flow posterior (posterior="iaf", "planar" or "radial"): training, the Monte
Carlo KL, the ``.keras`` round trip, XLA (IAF), and export with parity (the ``encode`` signature's outputs); each
check runs for every flow through the ``trained`` fixture."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasae
from helpers import assert_keras_roundtrip, assert_training_lowers_loss, compile_model
from kerasae.layers import flows, planar, posteriors
from kerasae.models.cvae import CVAE
from kerasae.models.iwae import IWAE
from kerasae.models.vae import VAE, posterior_params_size

LATENT = 4
#: Per flow: its layer, the model's flow arguments, and the ``encode`` output beside the code and the base normal.
FLOWS = {
    "iaf": (flows.InverseAutoregressiveFlow, {"flow_steps": 2, "flow_hidden_units": (16, 16)}, "context"),
    "planar": (planar.PlanarFlow, {"flow_steps": 4}, "flow_parameters"),
    "radial": (planar.RadialFlow, {"flow_steps": 4}, "flow_parameters"),
}


@pytest.fixture(scope="module")
def binary(digits):
    return (digits.x_train > 0.5).astype("float32"), (digits.x_test > 0.5).astype("float32")


def _model(cls=VAE, posterior="iaf", **kwargs):
    keras.utils.set_random_seed(0)
    return cls.create((64,), LATENT, posterior=posterior, hidden_units=(32,), seed=0, **kwargs)


@pytest.fixture(scope="module", params=list(FLOWS))
def trained(request, binary):
    """A VAE with each flow posterior trained 3 epochs on binarised digits; a short fit lowers the loss."""
    model = _model(posterior=request.param, **FLOWS[request.param][1])
    assert_training_lowers_loss(model, binary[0], epochs=3, factor=0.9)
    return model


def test_fit_lowers_the_loss_with_a_monte_carlo_kl(trained, binary):
    model, x = trained, binary[1][:64]
    layer_class, kwargs, _ = FLOWS[model.posterior]
    assert type(model.posterior_layer) is layer_class and not model.analytic_kl
    assert model.posterior_layer.flow_steps == kwargs["flow_steps"]
    assert model.encoder.outputs[0].shape[-1] == posterior_params_size(model.posterior, LATENT, kwargs["flow_steps"])
    if model.posterior == "iaf":
        assert model.posterior_layer.hidden_units == (16, 16)
    parts = model.log_weights(x, 3, seed=tf.constant([1, 2]))
    terms = model._elbo_terms(parts)
    np.testing.assert_allclose(terms["kl"].numpy(), (parts["log_qz"] - parts["log_pz"]).numpy().mean(0), rtol=1e-5)
    log_px = model.log_likelihood(x, num_samples=20, seed=0)
    assert np.isfinite(log_px).all() and log_px.mean() > terms["elbo"].numpy().mean() - 1.0
    codes = model.encode_mean(x[:5])  # the flow's image of the base mean, what reconstruct decodes
    np.testing.assert_allclose(model.decode(codes).numpy(), model.reconstruct(x[:5]).numpy(), atol=1e-6)
    assert model.sample(3, seed=1).shape == (3, 64) and model.interpolate(x[0], x[1], steps=3).shape == (3, 64)


def test_keras_round_trip_gives_identical_outputs(trained, binary, tmp_path):
    x = binary[1][:32]

    def outputs(m, x):
        return np.concatenate([m.log_likelihood(x, num_samples=5, seed=7), m.encode_mean(x).ravel(),
                               np.asarray(m.reconstruct(x)).ravel()])

    loaded = assert_keras_roundtrip(trained, x, tmp_path, outputs=outputs, atol=1e-5)
    config = loaded.get_config()
    kwargs = FLOWS[trained.posterior][1]
    units = kwargs.get("flow_hidden_units")
    assert (config["posterior"], config["flow_steps"], config["flow_hidden_units"], config["analytic_kl"]) == (
        trained.posterior, kwargs["flow_steps"], None if units is None else list(units), False)


def test_iwae_with_an_iaf_posterior_trains_with_xla(binary):
    model = compile_model(_model(IWAE, num_samples=3, flow_steps=1), jit_compile=True)
    history = model.fit(binary[0][:128], epochs=1, batch_size=64, verbose=0)
    assert model.jit_compile and np.isfinite(history.history["loss"][-1])


def test_export_saved_model_and_tflite_with_parity(trained, binary, tmp_path):
    results = kerasae.export.export(trained, tmp_path / "export", formats=("saved_model", "tflite"),
                                    parity_data=binary[1])
    assert all(r.max_rel_error <= r.tolerance for r in results)
    saved = tf.saved_model.load(str(tmp_path / "export" / "saved_model")).signatures
    x = binary[1][:5]
    encoded = saved["encode"](x=tf.constant(x))
    assert sorted(encoded) == sorted(["base_mean", "base_scale", "code", FLOWS[trained.posterior][2]])
    np.testing.assert_allclose(encoded["code"].numpy(), trained.encode_mean(x), atol=1e-5)
    q = trained.encode(x)
    np.testing.assert_allclose(encoded["base_scale"].numpy(), q.distribution.stddev().numpy(), atol=1e-5)
    if trained.posterior != "iaf":  # the encoder's raw step parameters rebuild the flow: the code is f(base_mean)
        rebuilt = trained.posterior_layer.bijector(encoded["flow_parameters"]).forward(encoded["base_mean"])
        np.testing.assert_allclose(rebuilt.numpy(), encoded["code"].numpy(), atol=1e-5)
    assert saved["sample"](n=tf.constant(3))["samples"].shape == (3, 64)


def test_constructor_checks_and_the_conditional_vae():
    assert posterior_params_size("iaf", LATENT) == 3 * LATENT and "iaf" in posteriors.FLOWS
    for kwargs, message in (
        ({"analytic_kl": True}, r"The 'iaf' posterior has no closed-form KL divergence.*Expected analytic_kl=None "
                                r"\(auto\) or False with posterior='iaf'. Received: analytic_kl=True"),
        ({"flow_steps": 0}, "Expected flow_steps to be a positive integer. Received: flow_steps=0"),
        ({"flow_hidden_units": (8, -1)}, "Expected flow_hidden_units to be a non-empty sequence of positive integers"),
        ({"prior": "vamp", "num_components": 3}, "The VampPrior mixes the model's posteriors"),
    ):
        with pytest.raises(ValueError, match=message):
            VAE.create((64,), LATENT, posterior="iaf", hidden_units=(8,), **kwargs)
    with pytest.raises(ValueError, match=r"flow_steps sets the steps of a flow posterior \('iaf', 'planar', "
                                         r"'radial'\). Received: flow_steps=2 with posterior='diagonal'"):
        VAE.create((64,), LATENT, hidden_units=(8,), flow_steps=2)
    encoder, decoder = kerasae.networks.mlp((64,), 2 * LATENT)
    with pytest.raises(ValueError, match=f"needs {3 * LATENT} encoder outputs"):
        VAE(encoder, decoder, latent_dim=LATENT, posterior="iaf")
    assert VAE.create((64,), LATENT, hidden_units=(8,)).analytic_kl  # auto: closed form for a normal posterior
    mog = VAE.create((64,), LATENT, posterior="iaf", hidden_units=(8,), prior="mog", num_components=3)
    assert np.isfinite(mog.log_likelihood(np.zeros((2, 64), "float32"), num_samples=3, seed=0)).all()
    cvae = CVAE.create((64,), LATENT, num_classes=10, posterior="iaf", hidden_units=(8,), flow_steps=1)
    x, c = np.zeros((2, 64), "float32"), np.eye(10, dtype="float32")[:2]
    assert np.isfinite(cvae.log_likelihood((x, c), num_samples=4, seed=0)).all()
    assert cvae.encode_mean((x, c)).shape == (2, LATENT) and cvae.sample(3, condition=1, seed=0).shape == (3, 64)


@pytest.mark.parametrize("posterior, step_size", [("planar", 2 * LATENT + 1), ("radial", LATENT + 2)])
def test_amortised_flows_refuse_what_cannot_work_and_serve_every_model(posterior, step_size):
    """The encoder outputs the base normal and K steps of parameters; an analytic KL, MADE widths and the VampPrior
    are refused; the IWAE, the CVAE and a mixture prior take the flow."""
    assert posterior_params_size(posterior, LATENT, 3) == 2 * LATENT + 3 * step_size
    assert posterior_params_size(posterior, LATENT) == 2 * LATENT + 2 * step_size  # the default: 2 steps
    for kwargs, message in (
        ({"analytic_kl": True}, f"The '{posterior}' posterior has no closed-form KL divergence"),
        ({"flow_hidden_units": (8,)}, "flow_hidden_units sets the MADE widths of posterior='iaf'. Received: "
                                      f"flow_hidden_units=\\(8,\\) with posterior='{posterior}'"),
        ({"prior": "vamp", "num_components": 3}, f"The VampPrior mixes the model's posteriors.*posterior='{posterior}' "
                                                 f"would invert.*which the {posterior} steps have in no closed form"),
    ):
        with pytest.raises(ValueError, match=message):
            VAE.create((64,), LATENT, posterior=posterior, hidden_units=(8,), **kwargs)
    encoder, decoder = kerasae.networks.mlp((64,), 3 * LATENT)
    with pytest.raises(ValueError, match=f"needs {2 * LATENT + 3 * step_size} encoder outputs.*posterior_params_size"
                                         f"\\('{posterior}', {LATENT}, flow_steps=3\\)"):
        VAE(encoder, decoder, latent_dim=LATENT, posterior=posterior, flow_steps=3)
    x, c = np.zeros((2, 64), "float32"), np.eye(10, dtype="float32")[:2]
    iwae = _model(IWAE, posterior, num_samples=3, flow_steps=3, prior="mog", num_components=3)
    assert np.isfinite(iwae.log_likelihood(x, num_samples=4, seed=0)).all()
    cvae = CVAE.create((64,), LATENT, num_classes=10, posterior=posterior, hidden_units=(8,), flow_steps=1)
    assert np.isfinite(cvae.log_likelihood((x, c), num_samples=4, seed=0)).all()
    assert cvae.encode_mean((x, c)).shape == (2, LATENT) and cvae.sample(3, condition=1, seed=0).shape == (3, 64)
