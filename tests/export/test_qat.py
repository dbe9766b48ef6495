"""Quantisation-aware fine-tuning for int8 exports (issue 21, item 1): the fake-quantisation ops against TFLite's
arithmetic, the clipped ranges of saturating activations in the converted file, the fine-tuned copy (its weights on
the grid the file holds, the model left as it was), the quality gate against the model as trained, the metadata,
and the refusals (Python and CLI)."""

import argparse
import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema

import kerasae
from kerasae import export as ex
from kerasae.cli import export as cli_export
from kerasae.cli import main as cli
from kerasae.export import qat, signatures, tflite
from kerasae.ops import fake_quant
from helpers import one_line, snapshot, trained_vae

OPEN = {"reconstruction_mse": 1e9, "log_likelihood": 1e9}
#: Calibration rows: fewer than the default keeps each conversion quick.
FEW = 100


# ============================================================================================ the ops
def test_weight_grid_is_tflites_symmetric_int8_with_a_straight_through_gradient():
    kernel = tf.Variable([[0.5, -0.02, 0.0], [-1.27, 0.3, 0.0]])
    per_channel = fake_quant.weight_scale(kernel, "per_channel")
    np.testing.assert_allclose(per_channel.numpy(), [[1.27 / 127, 0.3 / 127, 1.0]], rtol=1e-6)  # zero channel: 1
    assert float(fake_quant.weight_scale(kernel, "per_tensor")) == pytest.approx(1.27 / 127)
    scale = tf.constant(0.01)  # a clipped grid: levels -127..127 of 0.01, so |w| > 1.27 is clipped
    with tf.GradientTape() as tape:
        rounded = fake_quant.quantize_weights(kernel * 2, scale)
    levels = rounded.numpy() / 0.01
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)
    np.testing.assert_allclose(rounded.numpy(), [[1.0, -0.04, 0.0], [-1.27, 0.6, 0.0]], atol=1e-6)
    np.testing.assert_allclose(tape.gradient(rounded, kernel).numpy(), [[2, 2, 2], [0, 2, 2]])  # 0 where clipped
    with pytest.raises(ValueError, match=r"Expected weight_scales in \['per_channel', 'per_tensor'\]"):
        fake_quant.weight_scale(kernel, "per_row")


def test_saturated_range_clips_where_the_int8_output_stops_changing():
    bound = fake_quant.SATURATION["tanh"]
    assert np.tanh(bound) == pytest.approx(1 - 1 / 256)  # within half a step (1/128) of -1
    assert fake_quant.saturated_range(-59.0, 49.0, "tanh") == (-bound, bound)
    assert fake_quant.saturated_range(0.5, 2.0, "tanh") == (0.0, 2.0)  # int8 ranges hold 0
    assert fake_quant.saturated_range(-59.0, 49.0, "linear") == (-59.0, 49.0)
    assert 1 / (1 + math.exp(fake_quant.SATURATION["sigmoid"])) == pytest.approx(1 / 512)


def test_weight_clip_lowers_the_rounding_error_of_heavy_tails():
    def error(kernel, clip):
        scale = clip / 127
        return np.sum((np.round(np.clip(kernel, -clip, clip) / scale) * scale - kernel) ** 2)

    heavy = (0.1 * np.random.default_rng(0).standard_t(3, (784, 200))).astype("float32")  # a few large weights
    largest = float(np.abs(heavy).max())
    clip = qat.weight_clip(heavy)
    assert clip < 0.8 * largest and error(heavy, clip) < 0.8 * error(heavy, largest)
    lone = np.random.default_rng(0).normal(0, 0.1, (64, 32)).astype("float32")
    lone[0, 0] = 5.0  # one outlier: clipping it would cost more than the coarse grid
    assert qat.weight_clip(lone) == pytest.approx(5.0)


# ============================================================================================ on a digits VAE
def _tanh_inputs(content):
    """The int8 range width (255 steps) of every input of a TANH op in a TFLite file."""
    model = schema.Model.GetRootAs(bytearray(content), 0)
    widths = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            code = model.OperatorCodes(op.OpcodeIndex())
            if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == schema.BuiltinOperator.TANH:
                widths.append(255 * float(graph.Tensors(op.Inputs(0)).Quantization().Scale(0)))
    return widths


@pytest.fixture(scope="module")
def vae(digits):
    keras.utils.set_random_seed(0)
    return trained_vae(digits, 4, epochs=2, hidden_units=(32,), activation="tanh")


def test_ranges_alone_clip_sharp_tanh_inputs_and_keep_more_quality(vae, digits, tmp_path):
    sharp = type(vae).from_config(vae.get_config())  # a first layer 20x sharper: pre-activations past saturation
    sharp.set_weights([w * 20 if i == 0 else w for i, w in enumerate(vae.get_weights())])
    common = dict(formats="tflite", quantize="int8", parts="encoder", weight_scales="per_channel",
                  parity_data=digits.x_test, representative_data=digits.x_train, representative_samples=FEW,
                  quality_tolerance=OPEN)
    (plain,) = ex.export(sharp, tmp_path / "plain", **common)
    (ranged,) = ex.export(sharp, tmp_path / "ranged", qat_epochs=0, **common)
    bound = 2 * fake_quant.SATURATION["tanh"]
    widths = [_tanh_inputs(open(r.path, "rb").read()) for r in (plain, ranged)]
    assert min(widths[0]) > 2 * bound and max(widths[1]) <= bound * 1.001
    x, mean = digits.x_test, sharp.encode_mean(digits.x_test)
    errors = [np.sqrt(np.mean((ex.run_tflite(r.path, "encode", x=x)["mean"] - mean) ** 2)) for r in (plain, ranged)]
    assert errors[1] < 0.8 * errors[0]  # the codes of the model itself, closer
    assert ranged.qat["epochs"] == 0 and ranged.qat["steps"] == 0 and plain.qat is None


def _file_weights(path):
    """``{shape: float weights}`` of a TFLite file's int8 rank-2 constant tensors (kernels), dequantised."""
    model = schema.Model.GetRootAs(bytearray(open(path, "rb").read()), 0)
    found = {}
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            data = model.Buffers(tensor.Buffer()).DataAsNumpy() if tensor.Buffer() > 0 else 0
            if tensor.Type() == schema.TensorType.INT8 and tensor.ShapeLength() == 2 and not isinstance(data, int):
                shape = tuple(tensor.ShapeAsNumpy())
                scales = tensor.Quantization().ScaleAsNumpy()
                values = data.view(np.int8).reshape(shape).astype("float32")
                found[shape] = values * (scales[:, None] if len(scales) > 1 else scales[0])
    return found


def test_fine_tuned_copy_holds_the_grid_the_file_holds_and_leaves_the_model(vae, digits, tmp_path):
    before = vae.get_weights()
    table = signatures.signature_table(vae)
    calibration = tflite.calibration_inputs(vae, table, digits.x_train[:FEW], None, 0)
    copy, record = qat.fine_tune(vae, digits.x_train, calibration, epochs=1, learning_rate=1e-3, batch_size=64,
                                 weight_scales="per_tensor")
    assert record["epochs"] == 1 and record["steps"] == math.ceil(len(digits.x_train) / 64)
    assert record["weight_scales"] == "per_tensor" and record["learning_rate"] == 1e-3
    assert record["layers"] == 4 and np.isfinite(record["final_loss"])
    for old, now in zip(before, vae.get_weights()):
        np.testing.assert_array_equal(old, now)  # the model itself is not trained
    layers = qat.wrappers(copy)
    assert [layer.activation_name for layer in layers] == ["tanh", "linear", "tanh", "linear"]
    assert not np.allclose(keras.ops.convert_to_numpy(layers[0].layer.kernel), before[0])  # the copy was
    chosen = signatures.select(qat.Source(copy, record).table, "encoder")
    signatures.write_saved_model(chosen, str(tmp_path / "saved_model"))
    content = tflite.convert(str(tmp_path / "saved_model"), chosen, "int8", tflite.representative_dataset(
        chosen, calibration), False, "encoder", "per_tensor")
    (tmp_path / "encoder.tflite").write_bytes(content)
    weights = _file_weights(tmp_path / "encoder.tflite")
    assert len(weights) == 2
    for layer in layers[:2]:  # the converter found the grid each kernel was trained on: no second rounding
        kernel = keras.ops.convert_to_numpy(layer.quantized_kernel()).T
        np.testing.assert_allclose(weights[kernel.shape], kernel, atol=1e-6)


def test_export_fine_tunes_int8_files_only_and_gates_them_against_the_model(vae, digits, tmp_path):
    results = ex.export(vae, tmp_path, formats="tflite", quantize=("none", "int8"), parts="encoder",
                        parity_data=digits.x_test, representative_data=digits.x_train, representative_samples=FEW,
                        qat_epochs=1, qat_learning_rate=3e-4, qat_batch_size=128, quality_tolerance=OPEN)
    float32, int8 = results
    x = digits.x_test
    assert float32.qat is None  # float files: the model itself
    np.testing.assert_allclose(ex.run_tflite(float32.path, "encode", x=x)["mean"], vae.encode_mean(x), atol=1e-4)
    meta = json.loads(open(int8.metadata_path).read())
    assert meta["qat"] == int8.qat and meta["qat"]["epochs"] == 1 and meta["qat"]["batch_size"] == 128
    assert meta["qat"]["learning_rate"] == 3e-4 and meta["qat"]["weight_scales"] == "per_tensor"
    figure = meta["quality"]["figures"]["reconstruction_mse"]  # the model as trained, not the fine-tuned copy
    assert figure["keras"] == pytest.approx(float(np.mean((np.asarray(vae.reconstruct(x)) - x) ** 2)), rel=1e-5)
    reconstruction = np.asarray(vae.decode(ex.run_tflite(int8.path, "encode", x=x)["mean"]))
    assert figure["artifact"] == pytest.approx(float(np.mean((reconstruction - x) ** 2)), rel=1e-5)


def test_bad_qat_options_are_refused_on_one_line_before_anything_is_written(vae, digits, tmp_path):
    common = dict(formats="tflite", parity_data=digits.x_test, representative_data=digits.x_train)
    cases = [
        (dict(quantize="dynamic", qat_epochs=1), r"Expected quantize='int8' or format 'tflm' with qat_epochs"),
        (dict(quantize="int8", qat_epochs=-1), r"Expected qat_epochs to be an integer >= 0 or None"),
        (dict(quantize="int8", qat_epochs=1, qat_learning_rate=0), r"Expected qat_learning_rate > 0"),
        (dict(quantize="int8", qat_epochs=1, qat_data=np.zeros((0, 64), "float32")),
         r"Expected qat_data to hold at least one example"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            ex.export(vae, tmp_path / "out", **common, **options)
        one_line(err.value)
    assert not os.path.exists(tmp_path / "out")
    cvae = kerasae.CVAE.create(digits.input_shape, 2, num_classes=10, hidden_units=(8,))
    one_hot = keras.utils.to_categorical(digits.y_test, 10).astype("float32")
    with pytest.raises(ValueError, match=r"Expected qat_data for a conditional model \(conditions of 10 classes\)"):
        ex.export(cvae, tmp_path / "out", formats="tflite", quantize="int8", parity_data=(digits.x_test, one_hot),
                  representative_data=digits.x_train, representative_samples=FEW, qat_epochs=1)
    assert not os.path.exists(tmp_path / "out")


# ============================================================================================ CLI
def test_cli_qat_epochs_writes_the_record(trained_run, capsys):
    assert cli.main(["export", str(trained_run), "--format", "tflite", "--quantize", "int8", "--qat-epochs", "1",
                     "--qat-learning-rate", "1e-4", "--parity-samples", "8", "--representative-samples", str(FEW),
                     "--part", "encoder", "--out", str(trained_run / "qat")]) == 0
    meta = json.loads((trained_run / "qat" / "encoder_int8.json").read_text())
    assert meta["qat"]["epochs"] == 1 and meta["qat"]["learning_rate"] == 1e-4 and meta["qat"]["steps"] >= 1
    assert meta["quality"]["figures"]["reconstruction_mse"]["change"] <= 0.05


@pytest.mark.parametrize("argv, message", [
    (["--qat-epochs", "-1"], "argument --qat-epochs: expected an integer >= 0, got -1"),
    (["--qat-epochs", "1", "--qat-learning-rate", "0"], "argument --qat-learning-rate: expected a number > 0"),
    (["--qat-epochs", "1", "--quantize", "dynamic"], "Expected quantize='int8' or format 'tflm' with qat_epochs"),
])
def test_cli_bad_qat_options_exit_2_on_one_line(trained_run, capsys, argv, message):
    before = snapshot(trained_run)
    capsys.readouterr()
    assert cli.main(["export", str(trained_run), "--format", "tflite", "--quantize", "int8", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert snapshot(trained_run) == before


def test_cli_refuses_qat_of_a_run_with_its_own_training_procedure():
    args = argparse.Namespace(qat_epochs=1, qat_batch_size=10)
    with pytest.raises(ValueError, match="a 'semi-supervised' run trains by a procedure of its own") as err:
        cli_export._qat_data(args, {"model": "semi-supervised"}, None, None, None)
    one_line(err.value)
    assert cli_export._qat_data(argparse.Namespace(qat_epochs=None), {}, None, None, None) is None
