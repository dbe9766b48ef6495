"""Export to SavedModel and TFLite/LiteRT: signatures, parity with Keras, atomic writes, metadata, CLI.

Conversions are slowish, so each model family is exported once (every format and quantisation mode) in a
module-scoped fixture that the parity tests share.
"""

import argparse
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import kerasae
from kerasae import _compat
from kerasae.layers import distributions
from kerasae import export as ex
from kerasae.cli import export as cli_export
from kerasae.utils import files
from kerasae.export import quality
from kerasae.export import signatures as export_signatures
from kerasae.export import tflite as export_tflite
from kerasae.models.autoencoder import Autoencoder, ExportSignature, float32_outputs

LATENT = 4
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ============================================================================================ families
@keras.saving.register_keras_serializable(package="kerasae_test")
class GaussianEncoderAutoencoder(Autoencoder):
    """A probabilistic stand-in for the VAE: ``encode`` returns a posterior, ``sample(n)`` decodes prior draws.

    It declares what it exports, as every kerasae model does: the posterior's ``mean`` and ``scale`` for
    ``encode``, and a random ``sample`` signature.
    """

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        self.posterior = distributions.IndependentNormal(event_shape=LATENT)
        self.seed_generator = keras.random.SeedGenerator(0)

    @property
    def latent_dim(self):
        return LATENT

    def encode(self, x, training=False):
        return self.posterior(self.encoder(x, training=training))

    def encode_mean(self, x):
        return keras.ops.convert_to_numpy(self.encode(x).mean())

    def reconstruct(self, x):
        return self.decode(self.encode(x).mean())

    def sample(self, n):
        return self.decode(keras.random.normal((n, LATENT), seed=self.seed_generator))

    def export_signatures(self):
        signatures = super().export_signatures()

        def encode(x):
            posterior = self.encode(x)
            return float32_outputs(mean=posterior.mean(), scale=posterior.stddev())

        signatures["encode"] = ExportSignature(encode, signatures["encode"].specs)
        n = tf.TensorSpec((), tf.int32, name="n")
        signatures["sample"] = ExportSignature(lambda n: float32_outputs(samples=self.sample(n)), (n,), random=True)
        return signatures


def _args(name, entry, architecture="mlp"):
    """The CLI's namespace for a registered model, with small settings and the variant's defaults."""
    args = argparse.Namespace(
        model=name, dataset="digits", architecture=architecture, latent_dim=LATENT, hidden_units=None,
        filters=None, activation="relu", dropout=0.0, loss="mse", l2=0.0, validation_split=0.0,
        holdout_class=None, epochs=2, batch_size=64, learning_rate=3e-3, jit_compile="off", seed=0, out=None,
        overwrite=False, verbose=0,
    )
    parser = argparse.ArgumentParser()
    for flags, kwargs in entry.arguments:
        parser.add_argument(*flags, **kwargs)
    for key, value in vars(parser.parse_args([])).items():
        setattr(args, key, value)
    return args


def _registered(name, **overrides):
    from kerasae.cli import main as cli
    from kerasae.cli import registry

    entry = registry.models()[name]  # a lost registration fails here (KeyError), never skips
    args = _args(name, entry)
    vars(args).update(overrides)
    data = cli.load_data(args, entry)
    model = entry.build(args, data)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    if entry.fit is not None:
        entry.fit(model, data, args, [])
    elif entry.pipeline is not None:  # e.g. the CVAE's (x, condition) inputs
        model.fit(entry.make_pipeline(model, data, "train", 64), epochs=2, verbose=0)
    else:
        model.fit(data.x_train, epochs=2, batch_size=64, verbose=0)
    return model, data


def _autoencoder(flatten, architecture):
    data = kerasae.datasets.load("digits", flatten=flatten)
    encoder, decoder = kerasae.networks.build(architecture, data.input_shape, LATENT)
    model = Autoencoder(encoder, decoder)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(data.x_train, epochs=2, batch_size=64, verbose=0)
    return model, data


def _gaussian():
    data = kerasae.datasets.load("digits")
    encoder, _ = kerasae.networks.mlp((64,), 2 * LATENT, hidden_units=(32,))
    _, decoder = kerasae.networks.mlp((64,), LATENT, hidden_units=(32,))
    return GaussianEncoderAutoencoder(encoder, decoder), data


FAMILIES = {
    "mlp": lambda: _autoencoder(True, "mlp"),
    "conv": lambda: _autoencoder(False, "conv"),
    "gaussian": _gaussian,
    **{name: (lambda name=name: _registered(name)) for name in (
        "sparse", "denoising", "contractive", "stacked", "vae")},
    # 64 x 16 kernels: TFLite's dynamic-range quantisation leaves smaller ones in float32, and a 'dynamic' file
    # without int8 weights is refused (see test_checks.py).
    "stacked_tied": lambda: _registered("stacked", tied_weights=True),  # decoder kernels: the encoder's, transposed
    "linear": lambda: _registered("linear", latent_dim=16),
    "cvae": lambda: _registered("cvae"),  # conditional: inputs (x, condition)
    "semi_supervised": lambda: _registered("semi-supervised"),  # trained on (x, labels)
}
_EXPORTS = {}  # family -> (model, data, results): each family is trained and exported once per session


def _one_hot(model, labels):
    return keras.utils.to_categorical(labels, model.num_classes).astype("float32")


def _data(model, data, split):
    """A split as ``export`` takes it: inputs, or ``(x, condition)`` for a conditional model."""
    x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    return x if ex.condition_size(model) is None else (x, _one_hot(model, y))


def _export_family(family, tmp_path_factory):
    if family not in _EXPORTS:
        keras.utils.set_random_seed(0)
        model, data = FAMILIES[family]()
        out = tmp_path_factory.mktemp(f"export_{family}")
        results = ex.export(
            model, out, quantize="all", parity_data=_data(model, data, "test"),
            representative_data=_data(model, data, "train"), preprocessing={"scaling": "x / 16 to [0, 1]"},
        )
        _EXPORTS[family] = model, data, {(r.format, r.quantization): r for r in results}
    return _EXPORTS[family]


@pytest.fixture(scope="module", params=list(FAMILIES))
def exported(request, tmp_path_factory):
    """One family, exported once to a SavedModel and a TFLite file per quantisation mode."""
    return _export_family(request.param, tmp_path_factory)


def _keras_outputs(model, signature, **inputs):
    sig = model.export_signatures()[signature]
    return {k: np.asarray(v) for k, v in sig.fn(*[inputs[name] for name in sig.input_names]).items()}


def _inputs(model, data):
    """Held-out rows the parity gate did not see, their codes, and for a conditional model their conditions."""
    x = data.x_test[-17:]
    if ex.condition_size(model) is None:
        encoded, condition = model.encode(x), None
    else:
        condition = _one_hot(model, data.y_test[-17:])
        encoded = model.encode((x, condition))
    z = encoded.mean() if hasattr(encoded, "stddev") else encoded
    return {"x": x, "z": np.asarray(z), **({} if condition is None else {"condition": condition})}


def _feed(inputs, name, batch=None):
    """A signature's inputs: ``x`` or ``z`` (by signature), plus ``condition`` when there is one."""
    first = "z" if name == "decode" else "x"
    return {k: v[:batch] for k, v in inputs.items() if k in (first, "condition")}


def _rel_error(actual, expected):
    return float(np.max(np.abs(np.asarray(actual) - expected)) / np.max(np.abs(expected)))


# ============================================================================================ SavedModel
def test_saved_model_signatures_match_keras(exported):
    model, data, results = exported
    path = results[("saved_model", "none")].path
    loaded = tf.saved_model.load(path)
    expected = {"encode", "decode", "reconstruct", "serving_default"} | ({"sample"} if hasattr(model, "sample") else set())
    assert set(loaded.signatures) == expected
    inputs = _inputs(model, data)
    for batch in (1, 17):  # a polymorphic batch dimension
        for name in ("encode", "decode", "reconstruct", "serving_default"):
            feed = _feed(inputs, name, batch)
            got = loaded.signatures[name](**{k: tf.constant(v) for k, v in feed.items()})
            want = _keras_outputs(model, "reconstruct" if name == "serving_default" else name, **feed)
            assert set(got) == set(want)
            for key in want:
                np.testing.assert_allclose(got[key].numpy(), want[key], atol=1e-5, rtol=1e-5)
    if "sample" in expected:
        if "condition" in inputs:  # one sample per condition row
            feed = {"condition": tf.constant(inputs["condition"][:3])}
        else:
            feed = {"n": tf.constant(3)}
        samples = loaded.signatures["sample"](**feed)["samples"].numpy()
        assert samples.shape == (3, *data.input_shape) and np.all(np.isfinite(samples))


#: The families whose encoder gives a distribution (the others' ``encode`` gives a code tensor).
PROBABILISTIC = ("gaussian", "vae", "cvae")


@pytest.mark.parametrize("family", PROBABILISTIC)
def test_probabilistic_encoder_exports_mean_and_scale(family, tmp_path_factory):
    model, data, results = _export_family(family, tmp_path_factory)
    inputs = _feed({k: v[:5] for k, v in _inputs(model, data).items()}, "encode")
    posterior = model.encode(tuple(inputs.values()) if len(inputs) == 2 else inputs["x"])
    assert hasattr(posterior, "stddev"), f"{family}'s encode gave {type(posterior).__name__}, not a distribution"
    loaded = tf.saved_model.load(results[("saved_model", "none")].path)
    out = loaded.signatures["encode"](**{k: tf.constant(v) for k, v in inputs.items()})
    np.testing.assert_allclose(out["mean"].numpy(), posterior.mean().numpy(), atol=1e-5)
    np.testing.assert_allclose(out["scale"].numpy(), posterior.stddev().numpy(), atol=1e-5)
    assert np.all(out["scale"].numpy() > 0)


# ============================================================================================ TFLite
#: The modes of full-model files (int16x8 makes encoder and decoder files only: tests/export/test_quality.py).
FULL_MODES = [q for q in ex.QUANTIZATIONS if q != "int16x8"]
QUANTISED = ("dynamic", "int8")


def _rms_rel_error(actual, expected):
    return float(np.sqrt(np.mean((np.asarray(actual) - expected) ** 2)) / np.max(np.abs(expected)))


@pytest.mark.parametrize("mode", FULL_MODES)
def test_tflite_signatures_match_keras_within_tolerance(exported, mode):
    model, data, results = exported
    result = results[("tflite", mode)]
    interpreter = Interpreter(model_path=result.path)
    assert set(interpreter.get_signature_list()) == {"encode", "decode", "reconstruct"}  # no random 'sample'
    inputs = _inputs(model, data)
    for name in ("encode", "decode", "reconstruct"):
        got = interpreter.get_signature_runner(name)(**_feed(inputs, name))
        for key, want in _keras_outputs(model, name, **_feed(inputs, name)).items():
            assert got[key].shape == want.shape
            error = (_rms_rel_error if mode in QUANTISED else _rel_error)(got[key], want)
            assert error <= ex.TOLERANCES[mode], (name, key)
    if mode == "none":
        np.testing.assert_allclose(got["reconstruction"], want, atol=1e-5)


def test_tflite_weights_match_their_label(exported):
    _, _, results = exported
    for mode in FULL_MODES:
        with open(results[("tflite", mode)].path, "rb") as f:
            found = export_tflite.weight_types(f.read())
        assert found.get(export_tflite.WEIGHT_TYPES[mode]), (mode, found)
        assert not set(found) & ({"FLOAT32", "FLOAT16"} if mode == "int8" else {"INT8", "FLOAT16"} if mode == "none" else set())


def test_quantised_files_are_smaller(exported):
    model, _, results = exported
    size = {q: results[("tflite", q)].size_bytes for q in FULL_MODES}
    assert size["float16"] < size["none"]
    assert size["dynamic"] <= size["none"]  # dynamic range quantisation skips weights under 1024 values
    weights = 4 * model.count_params() / size["none"]  # the float32 weights' share of the float32 file
    if weights > 0.6:  # otherwise int8's quantisation parameters and extra ops outweigh the savings
        assert size["int8"] < 0.9 * size["none"]
    if weights > 0.9:
        assert size["int8"] < 0.4 * size["none"]


def test_metadata_beside_each_artifact(exported):
    model, data, results = exported
    for (fmt, mode), result in results.items():
        assert result.metadata_path == os.path.splitext(result.path)[0] + ".json"
        with open(result.metadata_path) as f:
            meta = json.load(f)
        assert meta["format"] == fmt and meta["quantization"] == mode and meta["part"] == "full"
        assert meta["model_class"].endswith(type(model).__name__)
        assert meta["input_shape"] == list(data.input_shape)
        assert meta["code_size"] == _inputs(model, data)["z"].shape[-1]
        assert meta["preprocessing"] == {"scaling": "x / 16 to [0, 1]"}
        assert meta["versions"]["tensorflow"] == tf.__version__ and meta["versions"]["kerasae"] == kerasae.__version__
        assert set(meta["signatures"]) >= {"encode", "decode", "reconstruct"}
        k = ex.condition_size(model)
        extra = [] if k is None else ["condition"]
        assert meta["inputs"]["encode"] == ["x", *extra] and meta["inputs"]["decode"] == ["z", *extra]
        if k is None:
            assert meta["condition"] is None
        else:
            assert meta["condition"] == {"input": "condition", "shape": [None, k], "dtype": "float32",
                                         "encoding": f"one-hot rows, num_classes={k}"}
        assert meta["dtype_policy"] == meta["trained_dtype_policy"] == "float32"
        assert meta["parity"]["status"] == "passed" and meta["parity"]["num_samples"] >= 1
        errors, gated = meta["parity"]["errors"], mode in QUANTISED
        measure = "rms_rel_error" if gated else "max_rel_error"
        assert meta["parity"]["metric"].startswith("sqrt" if gated else "max")
        assert errors["encode"] and all(e[measure] <= meta["parity"]["tolerance"]
                                        for outs in errors.values() for e in outs.values() if measure in e)
        if gated:  # quantised: quality figures beside Keras's, within the default limits
            figures = meta["quality"]["figures"]
            assert meta["quality"]["tolerances"] == ex.QUALITY_TOLERANCES
            assert figures["reconstruction_mse"]["change"] <= ex.QUALITY_TOLERANCES["reconstruction_mse"]
            assert figures["reconstruction_mse"]["num_samples"] == min(len(data.x_test), 1000)
        else:
            assert "quality" not in meta
        assert meta["size_bytes"] == result.size_bytes > 0


# ============================================================================================ conditional
@pytest.fixture(scope="module")
def cvae(tmp_path_factory):
    return _export_family("cvae", tmp_path_factory)


def test_cvae_decode_with_a_chosen_condition_matches_keras(cvae):
    model, data, results = cvae
    z = np.random.default_rng(1).standard_normal((6, LATENT)).astype("float32")
    saved = tf.saved_model.load(results[("saved_model", "none")].path).signatures
    decoded = {}
    for label in (3, 7):
        want = np.asarray(model.decode(z, condition=label))
        condition = _one_hot(model, np.full(6, label))
        got = saved["decode"](z=tf.constant(z), condition=tf.constant(condition))["reconstruction"].numpy()
        np.testing.assert_allclose(got, want, atol=1e-5)
        for mode in FULL_MODES:
            got = ex.run_tflite(results[("tflite", mode)].path, "decode", z=z, condition=condition)["reconstruction"]
            error = (_rms_rel_error if mode in QUANTISED else _rel_error)(got, want)
            assert error <= (1e-5 if mode == "none" else ex.TOLERANCES[mode]), mode
        decoded[label] = got
    assert np.max(np.abs(decoded[3] - decoded[7])) > 0.05  # the condition does change what is decoded
    samples = saved["sample"](condition=tf.constant(_one_hot(model, [7, 7, 3, 0, 1])))["samples"].numpy()
    assert samples.shape == (5, *data.input_shape) and np.all((samples >= 0) & (samples <= 1))


def test_conditional_export_needs_conditions(cvae, mlp, tmp_path):
    model, data, _ = cvae
    kwargs = {"formats": "saved_model"}
    with pytest.raises(ValueError, match=r"Expected parity_data=\(x, condition\) for a conditional model"):
        ex.export(model, tmp_path / "out", parity_data=data.x_test, **kwargs)
    with pytest.raises(ValueError, match=r"one-hot rows of shape \(\d+, 10\)"):
        ex.export(model, tmp_path / "out", parity_data=(data.x_test, data.y_test), **kwargs)
    with pytest.raises(ValueError, match="not conditional"):
        ex.export(mlp[0], tmp_path / "out", parity_data=_data(model, data, "test"), **kwargs)
    assert os.listdir(tmp_path) == []
    # Calibration data without conditions is calibrated on random classes.
    (result,) = ex.export(model, tmp_path / "out", formats="tflite", quantize="int8", parts="decoder",
                          parity_data=_data(model, data, "test"), representative_data=data.x_train)
    assert result.max_rel_error <= ex.TOLERANCES["int8"]


def test_export_from_a_cvae_run_folder(cvae, tmp_path):
    from kerasae.cli import registry

    model, _, _ = cvae
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    config = vars(_args("cvae", registry.models()["cvae"]))
    (run / "metrics.json").write_text(json.dumps({"config": config}))
    results = cli_export.export_from_args(_parse([str(run), "--quantize", "int8"]))
    assert [os.path.basename(r.path) for r in results] == ["saved_model", "model_int8.tflite"]
    assert all(r.max_rel_error <= r.tolerance for r in results)
    with open(run / "export" / "model_int8.json") as f:
        meta = json.load(f)
    assert meta["condition"]["shape"] == [None, 10] and meta["preprocessing"]["binarization"] == "dynamic"
    runner = Interpreter(model_path=results[1].path).get_signature_runner("reconstruct")
    assert set(runner.get_input_details()) == {"x", "condition"}


# ============================================================================================ one model
@pytest.fixture(scope="module")
def mlp():
    keras.utils.set_random_seed(0)
    return _autoencoder(True, "mlp")


def test_encoder_only_in_a_trainable_classifier_via_tfsm_layer(mlp, tmp_path):
    model, data = mlp
    ex.export(model, tmp_path, formats="saved_model", parts=("encoder", "decoder"), parity_data=data.x_test)
    encoder_path = tmp_path / "encoder_saved_model"
    assert set(tf.saved_model.load(str(encoder_path)).signatures) == {"encode", "serving_default"}
    assert set(tf.saved_model.load(str(tmp_path / "decoder_saved_model")).signatures) == {"decode", "serving_default"}

    frozen = keras.layers.TFSMLayer(str(encoder_path), call_endpoint="encode", trainable=False)
    inputs = keras.Input(data.input_shape)
    logits = keras.layers.Dense(10)(frozen(inputs)["code"])
    classifier = keras.Model(inputs, logits)
    classifier.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    encoder_weights = [w.numpy().copy() for w in frozen.weights]
    history = classifier.fit(data.x_train, data.y_train, epochs=5, batch_size=128, verbose=0)
    loss = history.history["loss"]
    assert loss[-1] < 0.8 * loss[0]
    assert classifier.trainable_weights and all(w.path.startswith("dense") for w in classifier.trainable_weights)
    for before, after in zip(encoder_weights, frozen.weights):
        np.testing.assert_array_equal(before, after.numpy())  # the exported encoder stayed frozen
    np.testing.assert_allclose(frozen(data.x_test[:4])["code"], model.encode(data.x_test[:4]), atol=1e-5)


def test_int8_io_file_has_integer_tensors_and_run_tflite_dequantises(mlp, tmp_path):
    model, data = mlp
    (result,) = ex.export(
        model, tmp_path, formats="tflite", quantize="int8", parts="encoder", int8_io=True,
        parity_data=data.x_test, representative_data=data.x_train,
    )
    runner = Interpreter(model_path=result.path).get_signature_runner("encode")
    assert runner.get_input_details()["x"]["dtype"] == np.int8
    assert runner.get_output_details()["code"]["dtype"] == np.int8
    x = data.x_test[-9:]
    codes = ex.run_tflite(result.path, "encode", x=x)["code"]
    assert codes.dtype == np.float32
    assert _rel_error(codes, np.asarray(model.encode(x))) <= ex.TOLERANCES["int8"]


def _weight_scale_counts(path):
    """Number of scales of each int8 constant kernel (rank >= 2) in a TFLite file, by tensor name."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    counts = {}
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            data = model.buffers[tensor.buffer].data
            if data is not None and len(tensor.shape) >= 2 and tensor.type == 9:  # TensorType.INT8
                counts[tensor.name.decode()] = len(tensor.quantization.scale)
    return counts


def test_int8_weight_scales_smallest_that_passes_by_default(tmp_path, monkeypatch):
    data = kerasae.datasets.load("digits")
    keras.utils.set_random_seed(0)  # the export benchmark's MLP: big enough for the weights to dominate
    model = Autoencoder(*kerasae.networks.mlp((64,), 8, hidden_units=(512, 256)))
    kwargs = {"formats": "tflite", "parity_data": data.x_test, "representative_data": data.x_train}
    results = ex.export(model, tmp_path / "default", quantize=("none", "int8"), **kwargs)
    (channel,) = ex.export(model, tmp_path / "channel", quantize="int8", weight_scales="per_channel", **kwargs)
    size = {r.quantization: r.size_bytes for r in results}
    assert size["int8"] <= 0.30 * size["none"] and size["int8"] < 0.95 * channel.size_bytes  # per tensor: it passes
    per_tensor = _weight_scale_counts(tmp_path / "default" / "model_int8.tflite")
    per_channel = _weight_scale_counts(channel.path)
    assert len(per_tensor) == len(per_channel) >= 6 and set(per_tensor.values()) == {1}  # 6 kernels, in 3 signatures
    assert sorted(set(per_channel.values())) == [8, 64, 256, 512]  # one scale per output unit
    for path, scales in ((results[1].metadata_path, "per_tensor"), (channel.metadata_path, "per_channel")):
        with open(path) as f:
            assert json.load(f)["weight_scales"] == scales
    # A per-tensor file that fails a gate is replaced by the per-channel one
    gate, calls = quality.gate, []

    def per_tensor_fails(report, limits, label):
        calls.append(label)
        if len(calls) == 1:
            raise ex.ParityError("per-tensor scales lose too much")
        gate(report, limits, label)

    monkeypatch.setattr(quality, "gate", per_tensor_fails)
    (fallback,) = ex.export(model, tmp_path / "fallback", quantize="int8", **kwargs)
    assert len(calls) == 2 and fallback.size_bytes == channel.size_bytes
    assert sorted(os.listdir(tmp_path / "fallback")) == [".kerasae", "model_int8.json", "model_int8.tflite"]
    with open(fallback.metadata_path) as f:
        assert json.load(f)["weight_scales"] == "per_channel"


def test_linear_autoencoder_at_mnist_size_int8_file_under_30_percent_of_float32(tmp_path):
    # The export benchmark's linear@mnist row (784-50), on MNIST-shaped stand-in data: the size target holds
    # where the weights, not the file's fixed structure (~3.8 KiB), make up the file.
    rng = np.random.default_rng(0)
    x = (rng.random((1200, 784)) < rng.random(784)).astype("float32")
    keras.utils.set_random_seed(0)
    model = kerasae.LinearAutoencoder.from_shape((784,), 50)
    results = ex.export(model, tmp_path, formats="tflite", quantize=("none", "int8"), parity_data=x[1000:],
                        representative_data=x[:1000], weight_scales="per_tensor")
    size = {r.quantization: r.size_bytes for r in results}
    assert size["int8"] <= 0.30 * size["none"]


def test_auto_weight_scales_are_per_channel_for_convolutions_only(tmp_path):
    data = kerasae.datasets.load("digits", flatten=False)
    keras.utils.set_random_seed(0)
    model = Autoencoder(*kerasae.networks.build("conv", data.input_shape, LATENT))
    (result,) = ex.export(model, tmp_path, formats="tflite", quantize="dynamic", weight_scales="auto",
                          parity_data=data.x_test)
    counts = _weight_scale_counts(result.path)
    conv = {name: n for name, n in counts.items() if "conv" in name.split("/")[-1] and "MatMul" not in name}
    dense = {name: n for name, n in counts.items() if "MatMul" in name}
    assert conv and dense and min(conv.values()) > 1 and set(dense.values()) == {1}


def test_missing_converter_option_is_a_clear_error(mlp, tmp_path, monkeypatch):
    model, data = mlp
    monkeypatch.setitem(_compat.PER_TENSOR_FLAGS, "per_tensor", "_option_of_another_tensorflow")
    with pytest.raises(ValueError, match="does not have.*weight_scales='per_channel'"):
        ex.export(model, tmp_path / "out", formats="tflite", quantize="dynamic", parity_data=data.x_test,
                  weight_scales="per_tensor")
    assert os.listdir(tmp_path) == []


def _listing(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else None


def test_failed_parity_leaves_nothing_and_keeps_existing_outputs(mlp, tmp_path):
    model, data = mlp
    out = tmp_path / "out"
    with pytest.raises(ex.ParityError, match="float16.*relative tolerance 0"):
        ex.export(model, out, formats="tflite", quantize=("none", "float16"), parity_data=data.x_test, tolerance={"float16": 0.0})
    assert os.listdir(tmp_path) == []  # no artifact, no metadata, no temporary folder, not even 'out'
    with pytest.raises(ex.ParityError):
        ex.export(model, tmp_path / "a" / "b", formats="tflite", quantize="float16", parity_data=data.x_test, tolerance=0.0)
    assert os.listdir(tmp_path) == []  # nor the missing parent folders

    out.mkdir()
    (out / "model_float32.tflite").write_bytes(b"old")
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ex.ParityError):
        ex.export(model, out, formats="tflite", quantize=("none", "float16"), parity_data=data.x_test, tolerance={"float16": 0.0})
    assert _listing(out) == ["keep.txt", "model_float32.tflite"]
    assert (out / "model_float32.tflite").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["out"]

    ex.export(model, out, formats="tflite", parity_data=data.x_test)  # a passing export replaces the old file
    assert _listing(out) == ["keep.txt", "model_float32.json", "model_float32.tflite"]
    assert (out / "model_float32.tflite").read_bytes() != b"old"


def test_a_saved_model_that_differs_from_keras_is_rejected(mlp, tmp_path, monkeypatch):
    model, data = mlp
    write = export_signatures.write_saved_model
    kernel = model.decoder.get_layer("output").kernel

    def write_perturbed(signatures, path):  # simulates a broken export: the artifact gets other weights
        original = kernel.numpy()
        kernel.assign(original + 0.5)
        try:
            write(signatures, path)
        finally:
            kernel.assign(original)

    monkeypatch.setattr(export_signatures, "write_saved_model", write_perturbed)
    with pytest.raises(ex.ParityError, match="saved_model.*decode/reconstruction"):
        ex.export_saved_model(model, tmp_path / "sm", parity_data=data.x_test)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"quantize": "int4"}, "Expected quantize in"),
        ({"formats": "coreml"}, "Expected format in"),
        ({"parts": "middle"}, "Expected part in"),
        ({"quantize": "int8"}, "representative_data for int8"),
        ({"parity_data": None}, "Expected parity_data"),
        ({"parity_data": np.zeros((4, 10))}, r"shape \(n, 64\)"),
        ({"int8_io": True}, "int8_io=True applies"),
        ({"weight_scales": "per_row"}, "Expected weight_scales to be one of"),
        ({"parity_samples": 0}, "Expected parity_samples to be a positive integer"),
        ({"tolerance": -1.0}, r"Expected tolerance >= 0\. Received: tolerance=-1.0"),
    ],
)
def test_bad_arguments_raise_value_error(mlp, tmp_path, kwargs, match):
    model, data = mlp
    kwargs = {"formats": "tflite", "parity_data": data.x_test, **kwargs}
    with pytest.raises(ValueError, match=match):
        ex.export(model, tmp_path / "out", **kwargs)
    assert os.listdir(tmp_path) == []


# ============================================================================================ command line
def _parse(argv):
    return cli_export.add_export_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_export_from_run_folder_and_keras_file(mlp, tmp_path):
    model, _ = mlp
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "metrics.json").write_text(json.dumps({"config": {"dataset": "digits", "model": "autoencoder"}}))
    results = cli_export.export_from_args(
        _parse([str(run), "--format", "tflite", "--quantize", "dynamic", "int8", "--weight-scales", "per_tensor"])
    )
    assert _listing(run / "export") == [
        ".kerasae", "model_dynamic.json", "model_dynamic.tflite", "model_int8.json", "model_int8.tflite"
    ]  # .kerasae: the marker of a folder kerasae wrote (so that `train --overwrite` may replace the run)
    assert set(files.read_marker(run / "export")["files"]) == set(_listing(run / "export"))
    assert all(e["rms_rel_error"] <= ex.TOLERANCES[r.quantization] for r in results for outs in r.parity.values()
               for e in outs.values())
    with open(run / "export" / "model_int8.json") as f:
        meta = json.load(f)
    assert meta["preprocessing"]["binarization"] is None and meta["weight_scales"] == "per_tensor"
    assert _parse([str(run)]).weight_scales == "smallest"

    out = tmp_path / "enc"
    cli_export.export_from_args(_parse([str(run / "model.keras"), "--format", "saved_model", "--part", "encoder", "--out", str(out)]))
    assert _listing(out) == [".kerasae", "encoder_saved_model", "encoder_saved_model.json"]


def test_export_scripts_show_help():
    code = (
        "import runpy, sys\n"
        "for script in sys.argv[1:]:\n"
        "    sys.argv = [script, '--help']\n"
        "    try:\n"
        "        runpy.run_path(script, run_name='__main__')\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, script\n"
    )
    scripts = [os.path.join(ROOT, "export", name) for name in ("saved_model.py", "tflite.py")]
    done = subprocess.run([sys.executable, "-c", code, *scripts], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    saved_model_help, tflite_help = done.stdout.split("usage: ")[1:]
    assert "--part" in saved_model_help and "--quantize" not in saved_model_help
    assert "--quantize" in tflite_help and "--int8-io" in tflite_help and "--weight-scales" in tflite_help
