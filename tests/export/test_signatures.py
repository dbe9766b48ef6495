"""What each model declares for export (``export_signatures``), and what export refuses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasae
from kerasae import export as ex
from kerasae.export import signatures
from kerasae.models.autoencoder import ExportSignature
from kerasae.models.cvae import CVAE
from kerasae.models.vae import VAE

LATENT, K = 3, 10
BATCH = 5


def _models():
    return {
        "autoencoder": kerasae.Autoencoder(*kerasae.networks.mlp((64,), LATENT, hidden_units=(16,))),
        "vae": VAE.create((64,), LATENT, hidden_units=(16,)),
        "vae_full": VAE.create((64,), LATENT, hidden_units=(16,), posterior="full"),
        "cvae": CVAE.create((64,), LATENT, num_classes=K, hidden_units=(16,)),
        "cvae_conv": CVAE.create((8, 8, 1), LATENT, architecture="conv", num_classes=K, filters=(4,)),
    }


#: name -> (input names, output names) per signature, in the declared order.
EXPECTED = {
    "autoencoder": {
        "reconstruct": (("x",), {"reconstruction"}),
        "encode": (("x",), {"code"}),
        "decode": (("z",), {"reconstruction"}),
    },
    "vae": {
        "reconstruct": (("x",), {"reconstruction"}),
        "encode": (("x",), {"mean", "scale"}),
        "decode": (("z",), {"reconstruction"}),
        "sample": (("n",), {"samples"}),
    },
    "vae_full": {
        "reconstruct": (("x",), {"reconstruction"}),
        "encode": (("x",), {"mean", "scale", "scale_tril"}),
        "decode": (("z",), {"reconstruction"}),
        "sample": (("n",), {"samples"}),
    },
    "cvae": {
        "reconstruct": (("x", "condition"), {"reconstruction"}),
        "encode": (("x", "condition"), {"mean", "scale"}),
        "decode": (("z", "condition"), {"reconstruction"}),
        "sample": (("condition",), {"samples"}),
    },
}
EXPECTED["cvae_conv"] = EXPECTED["cvae"]


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return _models()


@pytest.mark.parametrize("family", list(EXPECTED))
def test_export_signatures_declare_names_inputs_and_outputs(models, family):
    model = models[family]
    table = model.export_signatures()
    assert list(table) == list(EXPECTED[family])  # reconstruct first: it is also serving_default
    shape = model.data_shape
    rng = np.random.default_rng(0)
    values = {
        "x": rng.random((BATCH, *shape)).astype("float32"),
        "z": rng.standard_normal((BATCH, LATENT)).astype("float32"),
        "condition": np.eye(K, dtype="float32")[rng.integers(K, size=BATCH)],
        "n": tf.constant(BATCH),
    }
    for name, (input_names, output_names) in EXPECTED[family].items():
        sig = table[name]
        assert isinstance(sig, ExportSignature)
        assert sig.input_names == input_names
        assert sig.random == (name == "sample")
        for spec in sig.specs:
            assert isinstance(spec, tf.TensorSpec) and spec.dtype in (tf.float32, tf.int32)
        specs = {spec.name: spec for spec in sig.specs}
        if "x" in specs:
            assert tuple(specs["x"].shape) == (None, *shape)
        if "z" in specs:
            assert tuple(specs["z"].shape) == (None, LATENT)
        if "condition" in specs:
            assert tuple(specs["condition"].shape) == (None, K) and specs["condition"].dtype == tf.float32
        if "n" in specs:
            assert tuple(specs["n"].shape) == () and specs["n"].dtype == tf.int32
        outputs = sig.fn(*[values[n] for n in input_names])
        assert set(outputs) == output_names
        assert all(v.dtype == tf.float32 for v in outputs.values())
        if output_names & {"reconstruction", "samples"}:
            assert tuple(next(iter(outputs.values())).shape) == (BATCH, *shape)
    condition = values["condition"] if family.startswith("cvae") else None
    x = values["x"] if condition is None else (values["x"], condition)
    encoded = table["encode"].fn(*[values[n] for n in table["encode"].input_names])
    code = encoded["code"] if "code" in encoded else encoded["mean"]
    np.testing.assert_allclose(model.encode_mean(x), code.numpy(), atol=1e-6)  # encode_mean is the point code
    if "scale_tril" in encoded:
        assert tuple(encoded["scale_tril"].shape) == (BATCH, LATENT, LATENT)


def test_export_reads_the_declared_table(models):
    cvae, autoencoder = models["cvae"], models["autoencoder"]
    assert ex.condition_size(cvae) == K and ex.condition_size(autoencoder) is None
    assert ex.input_shape_of(models["cvae_conv"]) == (8, 8, 1)
    assert [name for name, _ in signatures.select(cvae.export_signatures(), "decoder")] == ["decode", "sample"]
    assert [name for name, _ in signatures.select(autoencoder.export_signatures(), "decoder")] == ["decode"]
    assert [name for name, _ in signatures.select(autoencoder.export_signatures(), "encoder")] == ["encode"]


def test_exporting_a_model_that_is_not_a_kerasae_model_is_a_clear_error(tmp_path):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(4)])
    match = r"kerasae exports kerasae models \(Autoencoder and its subclasses\); received Sequential"
    with pytest.raises(ValueError, match=match):
        ex.export(model, tmp_path / "out", parity_data=np.zeros((4, 64), "float32"))
    with pytest.raises(ValueError, match=match):
        ex.condition_size(model)
    assert list(tmp_path.iterdir()) == []
