"""MIWAE, CIWAE and PIWAE (Rainforth et al. 2018): their bounds against the IWAE, the VAE and a numpy reference on
fixed weights and noise, PIWAE's two gradients, training, saving, export and the command line."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

import kerasae
from helpers import assert_keras_roundtrip, assert_training_lowers_loss, build_registered, compile_model
from kerasae.cli import main as cli
from kerasae.models.iwae import IWAE
from kerasae.models.multi_sample import CIWAE, MIWAE, PIWAE, multiply_importance_weighted_bound
from kerasae.models.vae import VAE


@pytest.fixture(scope="module")
def x_binary():
    data = kerasae.datasets.load("digits", binarize="static")
    return data.x_train[:512]


@pytest.fixture
def networks():
    """One small encoder and decoder, shared by every model built on them (so they hold the same weights)."""
    model = VAE.create((64,), 3, hidden_units=(16,))
    return model.encoder, model.decoder


def _per_example(model, x):
    """``(terms, loss)`` of one forward pass: the model's first draw of its seed generator (seed 0)."""
    terms, _ = model.compute_loss_terms(tf.constant(x), tf.constant(x))
    return {k: v.numpy() for k, v in terms.items()}, model.combine_loss_terms(terms).numpy()


def test_special_cases_on_fixed_weights_and_noise(networks, x_binary):
    enc, dec, x, k = *networks, x_binary[:32], 5
    iwae_terms, iwae_loss = _per_example(IWAE(enc, dec, num_samples=k, seed=0), x)
    vae_terms, vae_loss = _per_example(VAE(enc, dec, num_samples=k, seed=0), x)
    # MIWAE with one group is the IWAE.
    terms, loss = _per_example(MIWAE(enc, dec, num_groups=1, num_samples=k, seed=0), x)
    np.testing.assert_allclose(loss, iwae_loss, rtol=1e-6)
    np.testing.assert_allclose(terms["miwae_bound"], terms["iwae_bound"], rtol=1e-6)
    # CIWAE: beta = 1 is the VAE bound, beta = 0 the IWAE bound, and in between their combination.
    np.testing.assert_allclose(_per_example(CIWAE(enc, dec, beta=1.0, num_samples=k, seed=0), x)[1], vae_loss, rtol=1e-6)
    np.testing.assert_allclose(_per_example(CIWAE(enc, dec, beta=0.0, num_samples=k, seed=0), x)[1], iwae_loss, rtol=1e-6)
    terms, loss = _per_example(CIWAE(enc, dec, beta=0.25, num_samples=k, seed=0), x)
    np.testing.assert_allclose(-loss, 0.25 * vae_terms["elbo"] + 0.75 * iwae_terms["iwae_bound"], rtol=1e-6)
    # MIWAE with one sample per group is the ELBO estimated from its M samples (a Monte Carlo KL).
    _, mc_vae_loss = _per_example(VAE(enc, dec, num_samples=k, analytic_kl=False, seed=0), x)
    np.testing.assert_allclose(_per_example(MIWAE(enc, dec, num_groups=k, num_samples=1, seed=0), x)[1], mc_vae_loss,
                               rtol=1e-5)
    # PIWAE reports the IWAE bound of all M K samples as its loss.
    np.testing.assert_allclose(_per_example(PIWAE(enc, dec, num_groups=1, num_samples=k, seed=0), x)[1], iwae_loss,
                               rtol=1e-6)


def test_miwae_bound_against_numpy(networks, x_binary):
    enc, dec, x = *networks, x_binary[:16]
    m, k = 3, 4
    model = MIWAE(enc, dec, num_groups=m, num_samples=k, seed=0)
    twin = MIWAE(enc, dec, num_groups=m, num_samples=k, seed=0)  # the same first draw
    terms, loss = _per_example(model, x)
    parts = twin.log_weights(tf.constant(x), m * k)
    log_w = (parts["log_px_z"] + parts["log_pz"] - parts["log_qz"]).numpy().astype("float64")  # (M K, batch)
    miwae = np.mean(logsumexp(log_w.reshape(m, k, -1), axis=1) - np.log(k), axis=0)
    iwae = logsumexp(log_w, axis=0) - np.log(m * k)
    np.testing.assert_allclose(terms["miwae_bound"], miwae, rtol=1e-5)
    np.testing.assert_allclose(terms["iwae_bound"], iwae, rtol=1e-5)
    np.testing.assert_allclose(loss, -miwae, rtol=1e-5)
    np.testing.assert_allclose(multiply_importance_weighted_bound(parts, m, k), miwae, rtol=1e-5)
    # For the same samples, ELBO estimate <= L_{M,K} <= L_{MK} (Jensen), example by example.
    assert (log_w.mean(axis=0) <= miwae + 1e-4).all() and (miwae <= iwae + 1e-4).all()


def test_piwae_step_follows_miwae_for_the_encoder_and_iwae_for_the_decoder(x_binary):
    x, lr = x_binary[:64], 0.05
    # A learned likelihood scale: a generative variable outside the decoder network.
    model = PIWAE.create((64,), 3, hidden_units=(8,), likelihood="gaussian_learned", num_groups=3, num_samples=2, seed=0)
    copy = PIWAE.from_config(model.get_config())
    model(x[:1]), copy(x[:1])
    copy.set_weights(model.get_weights())
    inference, generative = copy.variable_groups()
    assert {v.path for v in inference} == {v.path for v in copy.encoder.trainable_variables}
    assert {v.path for v in generative} == {v.path for v in copy.decoder.trainable_variables} | {
        copy.likelihood_layer.log_scale.path}
    with tf.GradientTape(persistent=True) as tape:
        terms, _ = copy.compute_loss_terms(tf.constant(x), tf.constant(x), training=True)
        encoder_loss, decoder_loss = (-tf.reduce_mean(terms[name]) for name in ("miwae_bound", "iwae_bound"))
    by_hand = dict(zip(map(id, inference), tape.gradient(encoder_loss, inference)))
    by_hand.update(zip(map(id, generative), tape.gradient(decoder_loss, generative)))
    iwae_for_encoder = tape.gradient(decoder_loss, inference)

    before = [v.numpy() for v in model.trainable_variables]
    model.compile(optimizer=keras.optimizers.SGD(lr))
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)  # one step
    for v, old, twin in zip(model.trainable_variables, before, copy.trainable_variables):
        np.testing.assert_allclose(v.numpy(), old - lr * by_hand[id(twin)].numpy(), atol=1e-5, err_msg=v.path)
    # The encoder's gradient is not the IWAE(M K) one (so the comparison above tells the two apart).
    largest = max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(iwae_for_encoder, [by_hand[id(v)] for v in inference]))
    assert largest > 1e-2, largest


def test_piwae_refuses_shared_or_undeclared_variables(networks, x_binary):
    enc, dec = networks
    shared = type("Shared", (PIWAE,), {"inference_networks": ("encoder", "posterior_layer", "decoder")})
    with pytest.raises(ValueError, match="in both or neither"):
        shared(enc, dec, num_groups=2, num_samples=2).variable_groups()
    partial = type("Partial", (PIWAE,), {"generative_networks": ("likelihood_layer",)})
    with pytest.raises(ValueError, match="in both or neither"):
        partial(enc, dec, num_groups=2, num_samples=2).variable_groups()


@pytest.mark.parametrize("cls, kwargs", [
    (MIWAE, {"num_groups": 2, "num_samples": 3}),
    (CIWAE, {"beta": 0.3, "num_samples": 4}),
    (PIWAE, {"num_groups": 2, "num_samples": 3}),
], ids=["miwae", "ciwae", "piwae"])
def test_training_lowers_the_loss_and_the_model_round_trips(cls, kwargs, x_binary, tmp_path):
    model = compile_model(cls.create((64,), 4, hidden_units=(32,), seed=0, **kwargs))
    _, _, history = assert_training_lowers_loss(model, x_binary, epochs=4, factor=0.9)
    assert set(model.loss_terms) <= set(history.history)
    result = model.evaluate(x_binary, batch_size=256, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], -result[model.objective_term], rtol=1e-6)
    log_px = model.log_likelihood(x_binary[:20], num_samples=50, seed=0)
    assert log_px.shape == (20,) and np.isfinite(log_px).all() and (log_px < 0).all()
    loaded = assert_keras_roundtrip(model, x_binary[:64], tmp_path,
                                    outputs=lambda m, x: m.log_likelihood(x, 10, seed=0), atol=1e-4)
    for name, value in kwargs.items():
        assert getattr(loaded, name) == value and loaded.get_config()[name] == value
    assert set(model.export_signatures()) == {"reconstruct", "encode", "decode", "sample"}


def test_piwae_trains_with_xla(x_binary):
    # The two-gradient step under XLA (what "auto" picks for MLPs): whole batches, one compilation.
    model = compile_model(PIWAE.create((64,), 3, hidden_units=(16,), num_groups=2, num_samples=2, seed=0),
                          jit_compile=True)
    history = model.fit(x_binary[:256], epochs=3, batch_size=64, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses


def test_piwae_exports_a_saved_model(x_binary, tmp_path):
    model = compile_model(PIWAE.create((64,), 3, hidden_units=(16,), num_groups=2, num_samples=2, seed=0))
    model.fit(x_binary, epochs=1, batch_size=128, verbose=0)
    kerasae.export.export(model, tmp_path / "out", formats=("saved_model",), parity_data=x_binary[:32])
    saved = tf.saved_model.load(str(tmp_path / "out" / "saved_model")).signatures
    encoded = saved["encode"](x=tf.constant(x_binary[:5]))
    np.testing.assert_allclose(encoded["mean"], model.encode_mean(x_binary[:5]), atol=1e-5)


def test_bad_arguments_raise(networks):
    enc, dec = networks
    for cls, kwargs, message in (
        (MIWAE, {"num_groups": 0}, "Expected num_groups to be"),
        (PIWAE, {"num_groups": 2.5}, "Expected num_groups to be"),
        (MIWAE, {"num_samples": 0}, "num_samples"),
        (CIWAE, {"beta": 1.5}, r"Expected beta in \[0, 1\]"),
        (CIWAE, {"beta": -0.1}, r"Expected beta in \[0, 1\]"),
        (CIWAE, {"kl_warmup_steps": 3}, "Expected kl_warmup_steps=0"),
        (MIWAE, {"beta": 0.5}, "Expected beta=1"),  # the VAE's KL weight
    ):
        with pytest.raises(ValueError, match=message):
            cls(enc, dec, **kwargs)


SMALL = ["--hidden-units", "16", "--latent-dim", "3", "--batch-size", "128", "--nll-samples", "4", "--verbose", "0"]


@pytest.mark.parametrize("name, argv, expected", [
    ("miwae", ["--num-groups", "3", "--num-samples", "2"], {"num_groups": 3, "num_samples": 2}),
    ("ciwae", ["--beta", "0.25", "--num-samples", "3"], {"beta": 0.25, "num_samples": 3}),
    ("piwae", ["--num-groups", "2", "--num-samples", "2"], {"num_groups": 2, "num_samples": 2}),
])
def test_cli_trains_each_objective_for_an_epoch(name, argv, expected, tmp_path):
    out = tmp_path / name
    assert cli.main(["train", name, "--epochs", "1", "--out", str(out), *SMALL, *argv]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model_class"] == name.upper()
    assert np.isfinite(metrics["test"]["loss"]) and np.isfinite(metrics["test"]["nll"])
    model = keras.models.load_model(out / "model.keras")
    for key, value in expected.items():
        assert getattr(model, key) == value


def test_cli_defaults_and_refusals(capsys):
    miwae, *_ = build_registered("miwae")
    ciwae, *_ = build_registered("ciwae")
    assert (type(miwae), miwae.num_groups, miwae.num_samples) == (MIWAE, 8, 8)
    assert (type(ciwae), ciwae.beta, ciwae.num_samples) == (CIWAE, 0.5, 64)
    for name, argv, message in (
        ("ciwae", ["--beta", "1.5"], "expected a number in [0, 1]"),
        ("miwae", ["--beta", "0.5"], "unrecognized arguments: --beta"),
        ("ciwae", ["--num-groups", "2"], "unrecognized arguments: --num-groups"),
        ("piwae", ["--num-groups", "0"], "--num-groups"),
    ):
        assert cli.main(["train", name, "--epochs", "1", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
