"""TFLite Micro export (issue 21, item 2): full-int8, batch-1 encoder and decoder files that TFLite Micro's own
interpreter loads and runs with parity against Keras, their C array and header, the measured tensor arena, and
the requests it refuses (one line, exit status 2 from the CLI, nothing written).

tflite-micro is in the test extra (.ci/run installs it): this file imports it and never skips.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tflite_micro  # noqa: F401  (a missing package fails this file: it is in the test extra)
from tflite_micro import runtime

import kerasae
from kerasae import export as ex
from kerasae.cli import main as cli
from kerasae.export import c_files, tflm
from kerasae.export import tflite as export_tflite
from kerasae.models.autoencoder import Autoencoder, ExportSignature, float32_outputs
from helpers import one_line, snapshot, trained_autoencoder, trained_vae

LATENT = 4


def _autoencoder(data):
    return trained_autoencoder(data, LATENT)


def _vae(data):
    return trained_vae(data, LATENT, hidden_units=(32,))


MODELS = {"autoencoder": _autoencoder, "vae": _vae}
_EXPORTS = {}


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, digits, tmp_path_factory):
    """A digits model trained briefly, its encoder and decoder exported once to TFLite Micro."""
    name = request.param
    if name not in _EXPORTS:
        keras.utils.set_random_seed(0)
        model = MODELS[name](digits)
        out = tmp_path_factory.mktemp(f"tflm_{name}")
        results = ex.export(model, out, formats="tflm", parts=("encoder", "decoder"), parity_data=digits.x_test,
                            representative_data=digits.x_train, parity_samples=32)
        _EXPORTS[name] = model, out, {r.part: r for r in results}
    return _EXPORTS[name]


def _rel_error(actual, expected):
    return float(np.max(np.abs(np.asarray(actual) - expected)) / np.max(np.abs(expected)))


def _invoke(path, arena, inputs):
    """Runs a .tflite file with the tflite_micro package directly (not kerasae's helper), one row at a time."""
    micro = runtime.Interpreter.from_file(str(path), arena_size=arena)
    details = micro.get_input_details(0)
    scale, zero_point = details["quantization_parameters"]["scales"][0], details["quantization_parameters"]["zero_points"][0]
    out = micro.get_output_details(0)
    out_scale, out_zero = out["quantization_parameters"]["scales"][0], out["quantization_parameters"]["zero_points"][0]
    rows = []
    for row in inputs:
        q = np.clip(np.round(row / scale + zero_point), -128, 127).astype(np.int8)[None]
        micro.set_input(q, 0)
        micro.invoke()
        rows.append((micro.get_output(0).astype("float32")[0] - out_zero) * out_scale)
    return np.stack(rows)


# ================================================================================================ parity
def test_encoder_and_decoder_run_in_tflite_micro_with_parity(exported, digits):
    """Held-out rows (the gate saw the first 32) through TFLite Micro's own interpreter, at the measured arena."""
    model, out, results = exported
    x = digits.x_test[-17:]
    codes = np.asarray(model.encode_mean(x), "float32")
    encoder, decoder = results["encoder"], results["decoder"]
    assert encoder.path == str(out / "encoder_tflm") and encoder.signatures == ["encode"]
    assert decoder.path == str(out / "decoder_tflm") and decoder.signatures == ["decode"]
    assert encoder.format == "tflm" and encoder.quantization == "int8" and encoder.tolerance == tflm.TOLERANCE
    assert 0 < encoder.max_rel_error <= tflm.TOLERANCE and 0 < decoder.max_rel_error <= tflm.TOLERANCE
    code_name = "code" if "code" in tflm.io_names(open(out / "encoder_tflm" / "encoder.tflite", "rb").read())[2] else "mean"
    got = ex.run_tflm(out / "encoder_tflm", x=x)[code_name]
    assert got.shape == codes.shape and _rel_error(got, codes) <= tflm.TOLERANCE
    decoded = np.asarray(model.decode(codes), "float32")
    got = ex.run_tflm(out / "decoder_tflm", z=codes)["reconstruction"]
    assert got.shape == decoded.shape and _rel_error(got, decoded) <= tflm.TOLERANCE
    for part, inputs, expected in (("encoder", x, codes), ("decoder", codes, decoded)):
        arena = results[part].details["arena_bytes"]
        direct = _invoke(out / f"{part}_tflm" / f"{part}.tflite", arena, inputs)
        assert _rel_error(direct, expected) <= tflm.TOLERANCE, part


def test_files_are_static_full_int8_with_micro_ops_only(exported):
    model, out, results = exported
    for part, result in results.items():
        content = (out / f"{part}_tflm" / f"{part}.tflite").read_bytes()
        assert tflm.dynamic_tensors(content) == []
        micro = runtime.Interpreter.from_bytes(content)
        for i, details in enumerate([micro.get_input_details(0), micro.get_output_details(0)]):
            assert details["dtype"] == np.int8 and details["shape"][0] == 1, (part, i)
        ops = tflm.op_names(content)
        assert not {"BROADCAST_TO", "RANDOM_STANDARD_NORMAL", "RANDOM_UNIFORM", "MULTINOMIAL"} & set(ops)
        assert set(ops) <= {"FULLY_CONNECTED", "LOGISTIC", "SPLIT", "QUANTIZE", "DEQUANTIZE", "RESHAPE"}, ops
        weights = export_tflite.weight_types(content)
        assert weights.get("INT8") and not {"FLOAT32", "FLOAT16"} & set(weights)


def test_metadata_records_arena_ops_and_quantisation(exported):
    model, out, results = exported
    vae = "sample" in model.export_signatures()
    for part, result in results.items():
        with open(out / f"{part}_tflm.json") as f:
            meta = json.load(f)
        info = meta["tflm"]
        assert result.details == info and meta["format"] == "tflm" and meta["part"] == part
        assert meta["quantization"] == "int8" and meta["int8_io"] is True and meta["weight_scales"] in ("per_tensor", "per_channel")
        assert meta["parity"]["status"] == "passed" and meta["parity"]["tolerance"] == tflm.TOLERANCE
        assert sorted(os.listdir(out / f"{part}_tflm")) == sorted(info["files"].values())
        assert info["model_bytes"] == os.path.getsize(out / f"{part}_tflm" / info["files"]["model"])
        assert 0 < info["arena_reported_bytes"] <= info["arena_bytes"] < info["arena_recommended_bytes"]
        assert info["arena_recommended_bytes"] % tflm.ARENA_ROUNDING == 0
        assert info["op_resolver"] == [c_files.resolver_method(op) for op in info["ops"]]
        assert "AddFullyConnected" in info["op_resolver"]
        assert info["tflite_micro"] == tflite_micro.__version__.split("-")[0]
        (tensor,) = info["inputs"]
        assert tensor["name"] == ("x" if part == "encoder" else "z") and tensor["dtype"] == "int8"
        assert tensor["shape"] == [1, 64 if part == "encoder" else LATENT] and tensor["scale"] > 0
    encoder = json.loads((out / "encoder_tflm.json").read_text())
    decoder = json.loads((out / "decoder_tflm.json").read_text())
    assert [t["name"] for t in encoder["tflm"]["outputs"]] == (["mean"] if vae else ["code"])
    assert encoder["tflm"]["left_out_outputs"] == (["scale"] if vae else [])
    assert ("'scale' output" in encoder.get("notes", "")) == vae
    assert ("'sample' signature" in decoder.get("notes", "")) == vae


def test_arena_is_the_smallest_that_allocates(exported):
    _, out, results = exported
    result = results["encoder"]
    content = (out / "encoder_tflm" / "encoder.tflite").read_bytes()
    arena = result.details["arena_bytes"]
    assert tflm.interpreter(content, arena)[0] is not None
    # One byte less does not allocate: tried in a child process (tflite-micro crashes on an arena a few bytes short)
    path = out / "encoder_tflm" / "encoder.tflite"
    assert tflm._bisect(str(path), arena - 2, arena) == arena
    assert tflm._bisect(str(path), arena - 2, arena + 1) == arena
    assert tflm.measure_arena(content, "encoder") == (arena, result.details["arena_reported_bytes"])


def test_an_arena_search_survives_a_crashing_probe(tmp_path, monkeypatch):
    """A child that dies trying a size (as tflite-micro's interpreter does just below the arena it needs) counts
    that size as too small, and the search goes on in a new child."""
    script = tmp_path / "fake.py"  # allocates from 100 bytes; crashes (exit -11 style) for 90-99
    script.write_text("import os, sys\nlow, high = map(int, sys.argv[2:4])\nwhile high - low > 1:\n"
                      "    m = (low + high) // 2\n    print('try', m, flush=True)\n"
                      "    if 90 <= m < 100: os.abort()\n"
                      "    print('ok' if m >= 100 else 'fail', m, flush=True)\n"
                      "    high, low = (m, low) if m >= 100 else (high, m)\n")
    monkeypatch.setattr(tflm, "_BISECTION", script.read_text())
    assert tflm._bisect(str(script), 1, 1000) == 100


# ================================================================================================ C files
def _array_bytes(source):
    body = source.split("= {", 1)[1].split("};", 1)[0]
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body))


def test_c_array_holds_the_file_aligned(exported):
    _, out, results = exported
    for part in results:
        folder = out / f"{part}_tflm"
        content = (folder / f"{part}.tflite").read_bytes()
        source = (folder / f"{part}_model_data.cc").read_text()
        header = (folder / f"{part}_model_data.h").read_text()
        assert _array_bytes(source) == content
        assert f"alignas(16) const unsigned char g_{part}_model_data[] = {{" in source
        assert f"const unsigned int g_{part}_model_data_len = {len(content)};" in source
        assert f"extern const unsigned char g_{part}_model_data[];" in header
        info = results[part].details
        prefix = f"{part.upper()}_MODEL"
        assert f"#define {prefix}_ARENA_SIZE {info['arena_recommended_bytes']}" in header
        assert f"#define {prefix}_ARENA_MEASURED {info['arena_bytes']}" in header
        assert all(f"resolver.{method}();" in header for method in info["op_resolver"])


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (the bytes are checked above)")
def test_c_files_compile_as_c_and_cpp(exported, tmp_path):
    _, out, results = exported
    for part in results:
        folder = out / f"{part}_tflm"
        name = f"{part.upper()}_MODEL_INPUT_{'X' if part == 'encoder' else 'Z'}"
        main = tmp_path / f"{part}_main.c"
        main.write_text(
            f'#include "{part}_model_data.h"\n'
            f"int main(void) {{ float s = {name}_SCALE; int zero = {name}_ZERO_POINT;\n"
            f"  return (int)(g_{part}_model_data_len + {part.upper()}_MODEL_ARENA_SIZE + {name}_SIZE + {name}_INDEX"
            f" + zero + s) + g_{part}_model_data[0]; }}\n"
        )
        commands = [
            ["cc", "-fsyntax-only", "-Wall", "-Werror", "-std=c11", "-x", "c", str(folder / f"{part}_model_data.cc")],
            ["cc", "-fsyntax-only", "-Wall", "-Werror", "-std=c99", f"-I{folder}", str(main)],
        ]
        if shutil.which("c++"):
            commands.append(["c++", "-fsyntax-only", "-Wall", "-Werror", "-std=c++11", str(folder / f"{part}_model_data.cc")])
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, (command, done.stderr[-2000:])


# ================================================================================================ refusals
@pytest.fixture(scope="module")
def small(digits):
    keras.utils.set_random_seed(0)
    return _autoencoder(digits)


@pytest.mark.parametrize("parts", ["full", "all", ("full", "encoder")])
def test_full_part_alone_is_refused_on_one_line(small, digits, tmp_path, parts):
    with pytest.raises(ValueError, match="TFLite Micro files hold one function each.*'full'.*--part encoder decoder") as err:
        ex.export(small, tmp_path / "out", formats="tflm", parts=parts, parity_data=digits.x_test,
                  representative_data=digits.x_train)
    one_line(err.value)
    assert not os.path.exists(tmp_path / "out")


@keras.saving.register_keras_serializable(package="kerasae_test_tflm")
class NoisyEncoderAutoencoder(Autoencoder):
    """An autoencoder whose exported encoder adds Gaussian noise: a random op TFLite Micro does not have."""

    def export_signatures(self):
        signatures = super().export_signatures()

        def encode(x):
            code = self.encoder(x)
            return float32_outputs(code=code + tf.random.normal(tf.shape(code)))

        signatures["encode"] = ExportSignature(encode, signatures["encode"].specs)
        return signatures


def test_random_op_is_refused_on_one_line(digits, tmp_path):
    model = NoisyEncoderAutoencoder(*kerasae.networks.mlp((64,), LATENT, hidden_units=(16,)))
    with pytest.raises(ValueError, match="would draw random numbers \\(RandomStandardNormal\\).*no random ops") as err:
        ex.export(model, tmp_path / "out", formats="tflm", parts="encoder", check_parity=False,
                  representative_data=digits.x_train)
    one_line(err.value)
    assert not os.path.exists(tmp_path / "out")


def test_failed_parity_writes_nothing(small, digits, tmp_path, monkeypatch):
    out = tmp_path / "exported"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    before = snapshot(out)
    run = tflm.run_tflm
    monkeypatch.setattr(tflm, "run_tflm", lambda *a, **k: {key: v + 1.0 for key, v in run(*a, **k).items()})
    with pytest.raises(ex.ParityError, match="The tflm export 'decoder_tflm' does not match") as err:
        ex.export(small, out, formats="tflm", parts="decoder", parity_data=digits.x_test,
                  representative_data=digits.x_train, parity_samples=8)
    one_line(err.value)
    assert snapshot(out) == before and sorted(os.listdir(tmp_path)) == ["exported"]


def test_missing_package_is_one_line_and_writes_nothing(small, digits, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tflite_micro", None)
    with pytest.raises(ex.MissingPackageError) as err:
        ex.export(small, tmp_path / "out", formats=("saved_model", "tflm"), parts="encoder",
                  parity_data=digits.x_test, representative_data=digits.x_train)
    assert isinstance(err.value, ValueError) and err.value.name == "tflite_micro"
    assert one_line(err.value).endswith('Fix: pip install "kerasae[tflm]"')
    assert not os.path.exists(tmp_path / "out")


# ==================================================================================================== CLI
def test_cli_exports_encoder_and_decoder_and_prints_the_arena(trained_run, capsys):
    capsys.readouterr()
    assert cli.main(["export", str(trained_run), "--format", "tflm", "--parity-samples", "16"]) == 0
    printed = capsys.readouterr().out
    export_dir = trained_run / "export"
    for part in ("encoder", "decoder"):
        meta = json.loads((export_dir / f"{part}_tflm.json").read_text())
        arena = meta["tflm"]["arena_bytes"]
        assert f"TFLite Micro {part}: model {meta['tflm']['model_bytes']} bytes; tensor arena {arena} bytes" in printed
        assert str(export_dir / f"{part}_tflm" / f"{part}_model_data.h") in printed
        assert meta["parity"]["status"] == "passed"
    assert "ops to register: AddFullyConnected" in printed
    assert not os.path.exists(export_dir / "saved_model")  # --format tflm alone: the two parts, nothing else


@pytest.mark.parametrize("argv, expected", [
    (["--format", "tflm", "--part", "full"], "kerasae: error: TFLite Micro files hold one function each"),
    (["--format", "tflm", "--part", "both"], "invalid choice: 'both'"),
])
def test_cli_bad_request_exits_2_on_one_line(trained_run, capsys, argv, expected):
    before = snapshot(trained_run)
    capsys.readouterr()
    assert cli.main(["export", str(trained_run), *argv, "--out", str(trained_run / "elsewhere")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and expected in one_line(captured.err.strip())
    assert len(captured.err.strip().splitlines()) == 1
    assert snapshot(trained_run) == before and not os.path.exists(trained_run / "elsewhere")


def test_cli_missing_package_exits_2_on_one_line(trained_run, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tflite_micro", None)
    capsys.readouterr()
    assert cli.main(["export", str(trained_run), "--format", "tflm", "--out", str(trained_run / "elsewhere")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("kerasae: error: TFLite Micro export needs")
    assert not os.path.exists(trained_run / "elsewhere")
