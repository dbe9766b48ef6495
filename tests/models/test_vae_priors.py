"""The VAE (and IWAE) with a mixture prior: the VampPrior and the mixture of Gaussians (kerasae.layers.priors).

The KL term and the importance-weighted log-likelihood are checked against numpy at the same draws; training,
sampling, the ``.keras`` round trip, export (SavedModel with ``sample``, TFLite) and the command line on digits.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats
from scipy.special import log_softmax, logsumexp, softplus

import kerasae
from helpers import assert_keras_roundtrip, assert_training_lowers_loss, build_registered, compile_model, one_line
from kerasae.cli import main as cli
from kerasae.cli import registry
from kerasae.cli.families import vae as vae_family
from kerasae.layers import priors as P
from kerasae.models.cvae import CVAE
from kerasae.models.iwae import IWAE
from kerasae.models.vae import VAE

LATENT = 4
PRIORS = {"vamp": {"prior": "vamp", "num_components": 12}, "mog": {"prior": "mog", "num_components": 5}}


@pytest.fixture(scope="module")
def binary(digits):
    """The digits binarised once (the Bernoulli likelihood scores values in {0, 1})."""
    return (digits.x_train > 0.5).astype("float32"), (digits.x_test > 0.5).astype("float32")


def _model(prior, cls=VAE, **kwargs):
    keras.utils.set_random_seed(0)
    return cls.create((64,), LATENT, hidden_units=(32,), seed=0, **PRIORS[prior], **kwargs)


@pytest.fixture(scope="module")
def trained(binary):
    """A VAE of each prior trained 5 epochs on binarised digits, with its loss before and after."""
    models = {}
    for prior in PRIORS:
        model = _model(prior)
        before, after, _ = assert_training_lowers_loss(model, binary[0], epochs=5, factor=0.9)
        models[prior] = model, before, after
    return models


def _numpy_log_weights(model, x, eps):
    """``log p(x|z)``, ``log p(z)`` and ``log q(z|x)`` in float64 numpy at ``z = mu(x) + sigma(x) eps``."""
    params = model.encoder(x).numpy().astype("float64")
    loc, scale = params[:, :LATENT], softplus(params[:, LATENT:]) + model.min_scale
    z = loc + scale * eps  # (S, batch, d)
    log_q = stats.norm.logpdf(z, loc, scale).sum(-1)
    layer = model.prior_layer
    if isinstance(layer, P.VampPrior):
        u_params = model.encoder(layer.pseudo_inputs()).numpy().astype("float64")  # the posteriors of the u_k
        means, scales = u_params[:, :LATENT], softplus(u_params[:, LATENT:]) + model.min_scale
        log_pi = np.full(layer.num_components, -np.log(layer.num_components))
    else:
        means, scale_params, logits = (w.astype("float64") for w in layer.get_weights())
        scales, log_pi = softplus(scale_params) + layer.min_scale, log_softmax(logits)
    log_p = logsumexp(log_pi + stats.norm.logpdf(z[..., None, :], means, scales).sum(-1), axis=-1)
    logits = model.decoder(z.reshape(-1, LATENT).astype("float32")).numpy().astype("float64").reshape(*z.shape[:2], -1)
    log_px = (x * logits - np.logaddexp(0.0, logits)).sum(-1)
    return log_px, log_p, log_q


@pytest.mark.parametrize("prior", list(PRIORS))
def test_kl_and_log_likelihood_use_the_prior_at_the_drawn_codes(prior, binary):
    model = _model(prior)
    if prior == "mog":  # away from the initial equal weights and unit scales
        model.prior_layer.set_weights([np.random.default_rng(1).normal(size=w.shape) for w in model.prior_layer.weights])
    x, (s, batch) = binary[1][:6], (3, 6)
    seed = tf.constant([7, 8])
    eps = tf.random.stateless_normal((s, batch, LATENT), seed=seed, alg="philox").numpy().astype("float64")
    log_px, log_p, log_q = _numpy_log_weights(model, x, eps)

    assert model.analytic_kl and not model.prior_layer.closed_form_kl  # no closed form: Monte Carlo
    terms = model._elbo_terms(model.log_weights(x, s, seed=seed))
    np.testing.assert_allclose(terms["kl"].numpy(), (log_q - log_p).mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(terms["reconstruction_nll"].numpy(), -log_px.mean(0), rtol=1e-4, atol=1e-4)

    # log_likelihood draws one chunk of K = 3 samples with the seed [seed, 0]: the same estimate in numpy.
    eps = tf.random.stateless_normal((s, batch, LATENT), seed=[5, 0], alg="philox").numpy().astype("float64")
    log_px, log_p, log_q = _numpy_log_weights(model, x, eps)
    expected = logsumexp(log_px + log_p - log_q, axis=0) - np.log(s)
    np.testing.assert_allclose(model.log_likelihood(x, num_samples=s, seed=5), expected, rtol=1e-4, atol=1e-4)


def test_training_lowers_the_loss_and_nll(trained, binary):
    for prior, (model, before, after) in trained.items():
        assert after < 0.9 * before, (prior, before, after)
        assert -model.log_likelihood(binary[1][:100], num_samples=20, seed=0).mean() < before


def test_iwae_trains_with_a_vamp_prior(binary):
    model = _model("vamp", cls=IWAE, num_samples=3)
    assert_training_lowers_loss(model, binary[0], epochs=3, factor=0.9)
    assert isinstance(model.prior_layer, P.VampPrior)


def test_xla_compiled_training_step(binary):
    model = compile_model(_model("vamp"), jit_compile=True)  # the mixture's log-density, the encoder inside it
    history = model.fit(binary[0][:256], epochs=1, batch_size=64, verbose=0)
    assert model.jit_compile and np.isfinite(history.history["loss"][-1])


def test_sample_draws_from_the_prior_reproducibly(trained):
    for prior, (model, _, _) in trained.items():
        a, b = model.sample(10, seed=3), model.sample(10, seed=3)
        assert a.shape == (10, 64) and np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, model.sample(10, seed=4)), prior
    model = trained["vamp"][0]
    codes = model._prior_codes(2000, seed=1).numpy()  # a component of the mixture, then a draw from it
    prior = model.prior()
    np.testing.assert_allclose(codes.mean(0), prior.mean().numpy(), atol=0.1)


@pytest.mark.parametrize("prior", [*PRIORS, "layer"])
def test_keras_round_trip_gives_identical_outputs(prior, trained, binary, tmp_path):
    if prior == "layer":  # a prior layer of the user's own settings is saved as its config
        keras.utils.set_random_seed(0)
        layer = P.VampPrior((64,), num_components=7, init_mean=0.3, init_stddev=0.1, value_range=None)
        model = VAE.create((64,), LATENT, hidden_units=(32,), seed=0, prior=layer)
        compile_model(model).fit(binary[0][:256], epochs=1, batch_size=64, verbose=0)
    else:
        model = trained[prior][0]
    x = binary[1][:32]

    def outputs(m, x):
        z = np.random.default_rng(0).normal(size=(5, LATENT)).astype("float32")
        return np.concatenate([m.log_likelihood(x, num_samples=10, seed=7), m.sample(4, seed=2).ravel(),
                               m.prior().log_prob(z).numpy()])

    loaded = assert_keras_roundtrip(model, x, tmp_path, outputs=outputs, atol=1e-5)
    own = lambda m: {k: v for k, v in m.get_config().items() if k not in ("encoder", "decoder")}  # noqa: E731
    assert own(loaded) == own(model)
    assert type(loaded.prior_layer) is type(model.prior_layer)
    expected = {"vamp": ("vamp", 12), "mog": ("mog", 5)}.get(prior)
    if expected:
        assert (loaded.get_config()["prior"], loaded.get_config()["num_components"]) == expected
    else:
        assert loaded.prior_layer.get_config() == layer.get_config() and loaded.get_config()["num_components"] is None


@pytest.mark.parametrize("prior", list(PRIORS))
def test_export_saved_model_with_sample_and_tflite_with_parity(prior, trained, binary, tmp_path):
    model = trained[prior][0]
    results = kerasae.export.export(model, tmp_path / "export", formats=("saved_model", "tflite"),
                                    parity_data=binary[1])
    by_format = {r.format: r for r in results}
    assert "sample" in by_format["saved_model"].signatures
    assert set(by_format["tflite"].signatures) == {"reconstruct", "encode", "decode"}  # random: SavedModel only
    assert all(r.max_rel_error <= r.tolerance for r in results)
    saved = tf.saved_model.load(str(tmp_path / "export" / "saved_model")).signatures
    samples = saved["sample"](n=tf.constant(6))["samples"].numpy()
    assert samples.shape == (6, 64) and np.isfinite(samples).all() and 0 <= samples.min() and samples.max() <= 1


def test_constructor_checks_and_the_conditional_vae():
    for kwargs, message in (
        ({"prior": "gaussian"}, r"Expected prior to be one of \['standard', 'vamp', 'mog'\]"),
        ({"prior": "standard", "num_components": 3}, "num_components sets the K of prior='vamp' or 'mog'"),
        ({"prior": "vamp", "num_components": 0}, "Expected num_components to be a positive integer. Received: "
                                                 "num_components=0"),
        ({"prior": P.MixtureOfGaussiansPrior(3)}, "Expected a prior over 4-dimensional codes"),
        ({"prior": P.VampPrior((32,), num_components=2)}, r"examples of shape \(32,\), through the model's encoder"),
    ):
        with pytest.raises(ValueError, match=message):
            VAE.create((64,), LATENT, hidden_units=(8,), **kwargs)
    with pytest.raises(ValueError, match=r"which takes inputs of shape \(74,\) \(a conditional VAE's encoder"):
        CVAE.create((64,), LATENT, num_classes=10, hidden_units=(8,), prior="vamp", num_components=3)
    cvae = CVAE.create((64,), LATENT, num_classes=10, hidden_units=(8,), prior="mog", num_components=3)
    x, c = np.zeros((2, 64), "float32"), np.eye(10, dtype="float32")[:2]
    assert np.isfinite(cvae.log_likelihood((x, c), num_samples=4, seed=0)).all()
    assert cvae.sample(3, condition=1, seed=0).shape == (3, 64)


def test_cli_prior_options_match_the_layers():
    assert vae_family.PRIORS == P.PRIORS
    assert vae_family.PSEUDO_INPUTS == P.VampPrior((1,)).num_components
    assert vae_family.PRIOR_COMPONENTS == P.MixtureOfGaussiansPrior(1).num_components
    # None, not "standard": a run recorded before --prior existed resumes with the same options
    assert registry.option_defaults(registry.models()["vae"])["prior"] is None
    model, *_ = build_registered("iwae", "--prior", "mog", "--prior-components", "3")
    assert isinstance(model, IWAE) and isinstance(model.prior_layer, P.MixtureOfGaussiansPrior)
    assert model.prior_layer.num_components == 3
    model, *_ = build_registered("vae", "--prior", "vamp", "--architecture", "conv", "--filters", "4")
    assert model.prior_layer.example_shape == (8, 8, 1) and model.prior_layer.num_components == 500
    model, *_ = build_registered("vae")
    assert isinstance(model.prior_layer, P.StandardNormalPrior) and model.get_config()["prior"] == "standard"


def test_cli_trains_evaluates_and_exports_a_vamp_run(tmp_path, digits):
    out = tmp_path / "run"
    argv = ["train", "vae", "--prior", "vamp", "--pseudo-inputs", "20", "--epochs", "2", "--latent-dim", "3",
            "--hidden-units", "32", "--nll-samples", "5", "--validation-split", "0", "--out", str(out), "--verbose", "0"]
    assert cli.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["prior"] == "vamp" and metrics["config"]["pseudo_inputs"] == 20
    assert np.isfinite(metrics["test"]["nll"]) and (out / "samples.png").is_file()
    model = keras.models.load_model(out / "model.keras")
    assert isinstance(model.prior_layer, P.VampPrior) and model.prior_layer.num_components == 20

    assert cli.main(["export", str(out), "--format", "saved_model", "tflite", "--parity-samples", "16"]) == 0
    saved = tf.saved_model.load(str(out / "export" / "saved_model")).signatures
    x = (digits.x_test[:5] > 0.5).astype("float32")
    np.testing.assert_allclose(saved["encode"](x=tf.constant(x))["mean"], model.encode_mean(x), atol=1e-5)
    assert saved["sample"](n=tf.constant(3))["samples"].shape == (3, 64)
    assert (out / "export" / "model_float32.tflite").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--prior", "vamp", "--pseudo-inputs", "0"], "argument --pseudo-inputs: expected a positive integer, got 0"),
    (["--prior", "mog", "--prior-components", "-2"], "argument --prior-components: expected a positive integer"),
    (["--prior", "gaussian"], "argument --prior: invalid choice: 'gaussian'"),
    (["--pseudo-inputs", "5"], "--pseudo-inputs does not apply to 'kerasae train vae' (--pseudo-inputs: it sets the "
                               "size of --prior vamp only)"),
    (["--prior", "vamp", "--prior-components", "5"], "--prior-components does not apply"),
])
def test_cli_bad_prior_options_are_one_line_with_status_2(argv, message, capsys, tmp_path):
    assert cli.main(["train", "vae", "--epochs", "1", "--out", str(tmp_path / "r"), *argv]) == 2
    err = one_line(capsys.readouterr().err.strip())
    assert message in err, err
    assert not (tmp_path / "r").exists()
    assert cli.main(["train", "cvae", "--prior", "mog", "--epochs", "1", "--out", str(tmp_path / "r")]) == 2
    assert "unrecognized arguments: --prior" in capsys.readouterr().err
