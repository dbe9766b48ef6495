"""ONNX export (issue 21, item 3): one ``.onnx`` file per signature, through tf2onnx from the staged SavedModel,
run with ONNX Runtime and checked for parity with Keras like every other artifact; the optional packages
missing is one line (exit status 2 from the CLI) and nothing written.

tf2onnx, onnx and onnxruntime are in the test extra: these tests import them and never skip.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import onnx
import onnxruntime
import pytest

import kerasae
from kerasae import export as ex
from kerasae.cli import main as cli
from kerasae.export import onnx as onnx_export
from kerasae.export import parity
from helpers import one_line, snapshot, trained_autoencoder, trained_vae

LATENT = 4


def _autoencoder(data):
    return trained_autoencoder(data, LATENT)


def _vae(data):
    return trained_vae(data, LATENT)


def _cvae(data):
    model = kerasae.CVAE.create((64,), LATENT, num_classes=10)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit((data.x_train, keras.utils.to_categorical(data.y_train, 10)), epochs=2, batch_size=64, verbose=0)
    return model


MODELS = {"autoencoder": _autoencoder, "vae": _vae, "cvae": _cvae}
_EXPORTS = {}


def _parity_data(model, data, rows=slice(None)):
    x = data.x_test[rows]
    if ex.condition_size(model) is None:
        return x
    return x, keras.utils.to_categorical(data.y_test[rows], 10).astype("float32")


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, digits, tmp_path_factory):
    """A model trained briefly on digits, exported once to ONNX (the autoencoder's encoder alone too)."""
    name = request.param
    if name not in _EXPORTS:
        keras.utils.set_random_seed(0)
        model = MODELS[name](digits)
        out = tmp_path_factory.mktemp(f"onnx_{name}")
        parts = ("full", "encoder") if name == "autoencoder" else ("full",)
        results = ex.export(model, out, formats="onnx", parts=parts, parity_data=_parity_data(model, digits),
                            parity_samples=32)
        _EXPORTS[name] = model, out, {r.part: r for r in results}
    return _EXPORTS[name]


def _held_out(model, digits):
    """Rows the parity gate did not see (it used the first 32), their codes and conditions, by input name."""
    x = digits.x_test[-17:]
    if ex.condition_size(model) is None:
        return {"x": x, "z": np.asarray(model.encode_mean(x), "float32")}
    condition = keras.utils.to_categorical(digits.y_test[-17:], 10).astype("float32")
    return {"x": x, "condition": condition, "z": np.asarray(model.encode_mean((x, condition)), "float32")}


def _rel_error(actual, expected):
    return float(np.max(np.abs(np.asarray(actual) - expected)) / np.max(np.abs(expected)))


# ================================================================================================ parity
def test_every_signature_matches_keras_in_onnxruntime(exported, digits):
    """Each .onnx file, run by ONNX Runtime directly, gives Keras's outputs for its signature."""
    model, out, results = exported
    declared = model.export_signatures()
    inputs = _held_out(model, digits)
    result = results["full"]
    assert result.format == "onnx" and result.quantization == "none" and result.path == str(out / "onnx")
    deterministic = [name for name, sig in declared.items() if not sig.random]
    assert set(deterministic) <= set(result.signatures)
    for name in deterministic:
        sig = declared[name]
        session = onnxruntime.InferenceSession(str(out / "onnx" / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == list(sig.input_names)
        feeds = {n: inputs[n] for n in sig.input_names}
        expected = {k: np.asarray(v) for k, v in sig.fn(*feeds.values()).items()}
        names = [o.name for o in session.get_outputs()]
        assert sorted(names) == sorted(expected)
        for output, value in zip(names, session.run(names, feeds)):
            assert value.shape == expected[output].shape
            assert _rel_error(value, expected[output]) <= onnx_export.TOLERANCE, (name, output)
        assert ex.run_onnx(out / "onnx", name, **feeds).keys() == expected.keys()  # the helper: folder + name


def test_parity_is_recorded_in_metadata(exported):
    model, out, results = exported
    result = results["full"]
    assert result.metadata_path == str(out / "onnx.json") and result.tolerance == onnx_export.TOLERANCE
    assert 0 < result.max_rel_error <= onnx_export.TOLERANCE
    with open(result.metadata_path) as f:
        meta = json.load(f)
    assert meta["format"] == "onnx" and meta["artifact"] == "onnx" and meta["part"] == "full"
    assert meta["files"] == {name: f"{name}.onnx" for name in result.signatures}
    assert sorted(os.listdir(out / "onnx")) == sorted(meta["files"].values())
    assert meta["onnx"]["opset"] == onnx_export.OPSET and meta["onnx"]["checked_with"] == ["CPUExecutionProvider"]
    assert meta["onnx"]["onnxruntime"] == onnxruntime.__version__ and meta["onnx"]["onnx"] == onnx.__version__
    assert meta["onnx"]["tf2onnx"]
    assert meta["parity"]["status"] == "passed" and meta["parity"]["num_samples"] == 32
    assert meta["parity"]["tolerance"] == onnx_export.TOLERANCE
    assert set(meta["parity"]["errors"]) == set(result.signatures)
    assert meta["size_bytes"] == sum(os.path.getsize(out / "onnx" / f) for f in meta["files"].values())
    conditional = ex.condition_size(model) is not None
    assert meta["inputs"]["encode"] == (["x", "condition"] if conditional else ["x"])
    assert meta["inputs"]["decode"] == (["z", "condition"] if conditional else ["z"])
    assert (meta["condition"] is not None) == conditional


def test_files_are_valid_onnx_with_a_symbolic_batch_axis(exported):
    model, out, results = exported
    for name in results["full"].signatures:
        proto = onnx.load(str(out / "onnx" / f"{name}.onnx"))
        onnx.checker.check_model(proto, full_check=True)
        assert {o.domain: o.version for o in proto.opset_import}[""] == onnx_export.OPSET
        if model.export_signatures()[name].random:
            continue
        for value in [*proto.graph.input, *proto.graph.output]:
            assert value.type.tensor_type.shape.dim[0].dim_param == "batch", (name, value.name)


def test_sample_draws_in_onnxruntime(exported, digits):
    """A VAE's sampler is exported (unseeded random ops): finite samples of the input's shape, new ones per call
    and per process (as a reloaded SavedModel draws anew)."""
    model, out, results = exported
    if "sample" not in model.export_signatures():
        assert "sample" not in results["full"].signatures and not os.path.exists(out / "onnx" / "sample.onnx")
        return
    assert "sample" in results["full"].signatures
    if ex.condition_size(model) is None:
        feeds = {"n": np.array(5, np.int32)}
    else:
        feeds = {"condition": np.eye(10, dtype="float32")[[7] * 5]}
    session = onnx_export.session(out / "onnx" / "sample.onnx")
    first, second = (ex.run_onnx(session, "sample", **feeds)["samples"] for _ in range(2))
    assert first.shape == second.shape == (5, 64) and np.all(np.isfinite(first)) and not np.allclose(first, second)
    assert ex.run_onnx(out / "onnx", "sample", **feeds)["samples"].shape == (5, 64)  # by folder and name
    script = (
        "import sys, numpy as np, onnxruntime as ort\n"
        "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n"
        "feeds = {i.name: np.eye(10, dtype='float32')[[7] * 5] if i.name == 'condition' else np.array(5, np.int32)"
        " for i in s.get_inputs()}\n"
        "print(repr(float(s.run(None, feeds)[0].sum())))\n"
    )
    draws = [subprocess.run([sys.executable, "-c", script, str(out / "onnx" / "sample.onnx")], capture_output=True,
                            text=True, check=True, timeout=120).stdout for _ in range(2)]
    assert draws[0] != draws[1], draws  # two processes, two draws: no seed is fixed in the file
    nodes = onnx.load(str(out / "onnx" / "sample.onnx")).graph.node
    random = [node for node in nodes if node.op_type in onnx_export.RANDOM_OPS]
    assert random and not any(a.name == "seed" for node in random for a in node.attribute)


def test_encoder_part_holds_encode_only(exported, digits):
    model, out, results = exported
    if "encoder" not in results:
        return
    result = results["encoder"]
    assert result.path == str(out / "encoder_onnx") and result.signatures == ["encode"]
    assert os.listdir(out / "encoder_onnx") == ["encode.onnx"] and os.path.isfile(out / "encoder_onnx.json")
    x = digits.x_test[-5:]
    codes = ex.run_onnx(out / "encoder_onnx", "encode", x=x)["code"]
    assert _rel_error(codes, np.asarray(model.encode_mean(x))) <= onnx_export.TOLERANCE


def test_run_onnx_refuses_unknown_signature_and_inputs(exported):
    _, out, results = exported
    with pytest.raises(ValueError, match="No signature 'nope'.*Available") as err:
        ex.run_onnx(out / "onnx", "nope", x=np.zeros((1, 64), "float32"))
    one_line(err.value)
    with pytest.raises(ValueError, match="expects inputs"):
        ex.run_onnx(out / "onnx", "decode", x=np.zeros((1, 64), "float32"))


# =============================================================================================== failures
@pytest.fixture(scope="module")
def small(digits):
    keras.utils.set_random_seed(0)
    return _autoencoder(digits)


def test_failed_parity_writes_nothing_and_keeps_existing_outputs(small, digits, tmp_path, monkeypatch):
    out = tmp_path / "exported"
    out.mkdir()
    (out / "onnx").mkdir()
    (out / "onnx" / "encode.onnx").write_bytes(b"an earlier export")
    (out / "notes.txt").write_text("keep me")
    before = snapshot(out)
    run_onnx = onnx_export.run_onnx

    def off_by_one(*args, **kwargs):
        return {k: v + 1.0 for k, v in run_onnx(*args, **kwargs).items()}

    monkeypatch.setattr(onnx_export, "run_onnx", off_by_one)
    with pytest.raises(ex.ParityError, match="The onnx export 'onnx' does not match") as err:
        ex.export(small, out, formats=("saved_model", "onnx"), parity_data=digits.x_test)
    one_line(err.value)
    assert snapshot(out) == before
    assert sorted(os.listdir(tmp_path)) == ["exported"]  # no staging folder left behind


def test_a_deterministic_signature_that_does_not_convert_is_an_error(small, digits, tmp_path, monkeypatch):
    convert = onnx_export._convert

    def failing(function, input_names, random):
        if input_names == ["z"]:
            raise TypeError("No conversion for op FancyOp")
        return convert(function, input_names, random)

    monkeypatch.setattr(onnx_export, "_convert", failing)
    expected = "ONNX conversion of the full model's 'decode' signature failed.*FancyOp"
    with pytest.raises(ValueError, match=expected) as err:
        ex.export(small, tmp_path / "out", formats="onnx", parity_data=digits.x_test)
    one_line(err.value)
    assert not os.path.exists(tmp_path / "out")


def test_a_sampler_that_does_not_convert_is_left_out_with_a_note(digits, tmp_path, monkeypatch):
    keras.utils.set_random_seed(0)
    model = kerasae.VAE.create((64,), LATENT)  # untrained: parity holds for any weights
    convert = onnx_export._convert

    def failing(function, input_names, random):
        if random:
            raise ValueError("No Op registered for BroadcastArgs")
        return convert(function, input_names, random)

    monkeypatch.setattr(onnx_export, "_convert", failing)
    with pytest.warns(UserWarning, match="'sample' signature did not convert to ONNX.*BroadcastArgs"):
        (result,) = ex.export(model, tmp_path, formats="onnx", parity_data=digits.x_test, parity_samples=8)
    assert result.signatures == ["decode", "encode", "reconstruct"]
    with open(result.metadata_path) as f:
        meta = json.load(f)
    assert "sample" not in meta["files"] and "'sample'" in meta["notes"] and "decode" in meta["notes"]


def test_tolerance_can_be_set_for_onnx_alone(small, digits, tmp_path):
    (result,) = ex.export(small, tmp_path, formats="onnx", parity_data=digits.x_test,
                          tolerance={"onnx": 0.5, "saved_model": 0.1})
    assert result.tolerance == 0.5
    assert parity.tolerance_for(None, "onnx") == onnx_export.TOLERANCE


def test_skipped_parity_is_recorded_as_unchecked(small, tmp_path):
    (result,) = ex.export(small, tmp_path, formats="onnx", parts="decoder", check_parity=False)
    assert result.path == str(tmp_path / "decoder_onnx") and result.signatures == ["decode"] and result.parity is None
    with open(tmp_path / "decoder_onnx.json") as f:
        meta = json.load(f)
    assert meta["parity"]["status"] == "unchecked" and meta["files"] == {"decode": "decode.onnx"}


def test_all_means_the_formats_without_optional_packages(small, digits, tmp_path, monkeypatch):
    """``formats="all"`` (the CLI's default) needs no optional package: ONNX is asked for by name."""
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    results = ex.export(small, tmp_path, formats="all", parity_data=digits.x_test, parity_samples=4)
    assert sorted({r.format for r in results}) == ["saved_model", "tflite"]


# ======================================================================================= missing packages
@pytest.mark.parametrize("package", onnx_export.PACKAGES)
def test_missing_package_is_one_line_and_writes_nothing(small, digits, tmp_path, monkeypatch, package):
    monkeypatch.setitem(sys.modules, package, None)  # `import package` now raises ImportError
    with pytest.raises(ex.MissingPackageError) as err:
        ex.export(small, tmp_path / "out", formats=("saved_model", "onnx"), parity_data=digits.x_test)
    assert isinstance(err.value, ImportError) and isinstance(err.value, ValueError) and err.value.name == package
    message = one_line(err.value)
    assert f"{package} cannot be imported" in message and message.endswith('Fix: pip install "kerasae[onnx]"')
    assert not os.path.exists(tmp_path / "out") and os.listdir(tmp_path) == []


# ==================================================================================================== CLI
def test_cli_exports_onnx_end_to_end(trained_run, capsys):
    capsys.readouterr()
    assert cli.main(["export", str(trained_run), "--format", "onnx"]) == 0
    printed = capsys.readouterr().out
    assert f"| {trained_run / 'export' / 'onnx'} | decode, encode, reconstruct |" in printed
    export_dir = trained_run / "export"
    assert sorted(os.listdir(export_dir / "onnx")) == ["decode.onnx", "encode.onnx", "reconstruct.onnx"]
    with open(export_dir / "onnx.json") as f:
        meta = json.load(f)
    assert meta["files"] == {"decode": "decode.onnx", "encode": "encode.onnx", "reconstruct": "reconstruct.onnx"}
    assert meta["parity"]["status"] == "passed" and meta["parity"]["tolerance"] == onnx_export.TOLERANCE
    assert meta["model_class"].endswith("Autoencoder") and meta["input_shape"] == [64]
    model = keras.saving.load_model(trained_run / "model.keras")
    x = kerasae.datasets.load("digits").x_test[:9]
    reconstruction = ex.run_onnx(export_dir / "onnx", "reconstruct", x=x)["reconstruction"]
    assert _rel_error(reconstruction, np.asarray(model.reconstruct(x))) <= onnx_export.TOLERANCE


def test_cli_missing_package_exits_2_onone_line(trained_run, capsys, monkeypatch):
    before = snapshot(trained_run)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    capsys.readouterr()
    assert cli.main(["export", str(trained_run), "--format", "saved_model", "onnx", "--out",
                     str(trained_run / "elsewhere")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    error = one_line(captured.err.strip())
    assert error.startswith("kerasae: error: ONNX export needs") and "onnxruntime cannot be imported" in error
    assert error.endswith('Fix: pip install "kerasae[onnx]"')
    assert snapshot(trained_run) == before and not os.path.exists(trained_run / "elsewhere")
