"""Export trained autoencoders to SavedModel (servers, TF-Hub style reuse) and TFLite / LiteRT (devices).

Every export is checked before it is kept: each signature runs on held-out inputs both in Keras and in the
exported artifact, the errors are written to a JSON file beside the artifact, and an artifact whose error
exceeds its tolerance raises :class:`ParityError` and leaves nothing behind. Writes are atomic: artifacts
are built in a temporary folder in the destination's parent and renamed into place only when every
artifact of the call has passed, so a failed export never leaves a half-written artifact and never
destroys what was already at the destination.

Signatures (inputs ``x``: a batch ``(batch, *input_shape)``, float32; ``z``: codes ``(batch, code_size)``;
``condition``: one-hot rows ``(batch, num_classes)``, float32, for conditional models only; the batch
dimension is polymorphic):

=================== ===================== =====================================================================
signature           inputs                outputs
=================== ===================== =====================================================================
``encode``          ``x``                 ``code``; for a probabilistic encoder (``model.encode(x)`` returns a
                                          distribution): ``mean`` and ``scale`` (the posterior's standard
                                          deviation), plus ``scale_tril`` for a full-covariance posterior
``decode``          ``z``                 ``reconstruction`` (the likelihood's mean for a probabilistic decoder)
``reconstruct``     ``x``                 ``reconstruction``; also exported as ``serving_default``
``sample``          ``n`` (int32 scalar)  ``samples``, ``(n, *input_shape)``; generative models (with
                                          ``sample(n)``) in SavedModels only
=================== ===================== =====================================================================

Conditional models (:func:`condition_size`: an integer ``num_classes`` and ``decode(z, condition)``, e.g.
:class:`kerasae.CVAE`) take ``condition`` as a second input in every signature: ``encode(x,
condition)``, ``decode(z, condition)``, ``reconstruct(x, condition)``, and in SavedModels ``sample(condition)``,
which draws one sample per condition row (``(n, num_classes)`` rows give ``(n, *input_shape)`` samples: to
draw 16 sevens, pass 16 one-hot rows of class 7). Their ``parity_data`` is the pair ``(x, condition)``.

``part="encoder"`` exports ``encode`` alone (also as ``serving_default``); ``part="decoder"`` exports
``decode`` (also as ``serving_default``) and, for generative models, ``sample``.

TFLite files keep the signatures (run them with ``Interpreter.get_signature_runner(name)``) except
``sample``: it needs random ops that LiteRT's builtin op set does not guarantee (and that full-integer
quantisation cannot express). The portable way to generate on a device is to draw the noise on the host,
``z ~ N(0, I)`` (the model's prior), and call the ``decode`` signature on it (with the chosen ``condition``
for a conditional model); this works in every runtime.

Parity tolerances. The error of one output is its *relative* error, the largest absolute difference
between the artifact and Keras divided by the largest absolute value of the Keras output; both it and the
largest absolute difference are recorded. The defaults, per artifact:

====================== =========== =================================================================
artifact               tolerance   why (typical error of a small trained model on digits)
====================== =========== =================================================================
SavedModel             1e-5        the same TensorFlow graph (0)
TFLite ``none``        1e-4        float32; LiteRT's kernels may sum in another order (0 to 1e-6)
TFLite ``float16``     5e-3        float16 weights (11-bit mantissa), float32 arithmetic (~5e-4)
TFLite ``dynamic``     5e-2        int8 weights, activations quantised on the fly (5e-3 to 2.5e-2)
TFLite ``int8``        8e-2        int8 weights and activations, 256 levels per tensor calibrated on
                                   the representative data (~1.5e-2); with ``int8_io`` the inputs and
                                   outputs are int8 too, which adds one input and one output rounding
====================== =========== =================================================================

Override them with ``tolerance=`` (a float, or a dict by ``"saved_model"`` or mode).

File sizes. The weights are stored once, however many signatures use them; ``int8`` and ``dynamic`` files
hold them as int8 (a quarter of float32), biases stay 4 bytes (int32 or float32). Each quantised tensor
also carries its scales (float32) and zero points (int64) in the tensor table of *each* signature that
uses it (``reconstruct`` repeats the encoder's and the decoder's). With ``weight_scales="per_tensor"``
(the default) that is one pair per tensor, and int8 files come to 0.26-0.30 of float32 for every family
of ``benchmarks/export_benchmark.py`` (digits, 64-512-256-8 networks), with test reconstruction MSE within
0.5% of float32's; a model of a few thousand weights (the 64-8 linear autoencoder, 7 KiB) stays near 0.8,
its file being mostly fixed structure (tensor tables, signature definitions). TFLite's own default, ``"per_channel"``, keeps a pair per output channel:
finer for convolutions whose channels differ in range, but 0.32-0.36 of float32 on the same models (the
scales are ~18% of an MLP's int8 file); ``"auto"`` uses per-channel scales for convolutions only. The
parity gate checks whichever is chosen. Export ``part="encoder"``/``"decoder"`` files for the smallest
device artifacts.

Example:
    >>> data = kerasae.datasets.load("digits")
    >>> results = kerasae.export.export(
    ...     model, "exported", formats=("saved_model", "tflite"), quantize=("none", "int8"),
    ...     parity_data=data.x_test, representative_data=data.x_train)
    >>> [os.path.basename(r.path) for r in results]
    ['saved_model', 'model_float32.tflite', 'model_int8.tflite']

Loading, TF-Hub style:
    >>> reloaded = tf.saved_model.load("exported/saved_model")
    >>> codes = reloaded.signatures["encode"](x=tf.constant(x))["code"]
    >>> # A classifier on top of the frozen exported encoder:
    >>> inputs = keras.Input((64,))
    >>> code = keras.layers.TFSMLayer("exported/saved_model", call_endpoint="encode", trainable=False)(inputs)
    >>> classifier = keras.Model(inputs, keras.layers.Dense(10)(code["code"]))

A conditional VAE:
    >>> c = keras.utils.to_categorical(data.y_test, 10)
    >>> kerasae.export.export(cvae, "exported_cvae", parity_data=(data.x_test, c))
    >>> decode = tf.saved_model.load("exported_cvae/saved_model").signatures["decode"]
    >>> sevens = decode(z=tf.random.normal((16, 8)), condition=tf.one_hot([7] * 16, 10))["reconstruction"]

And on a device, with LiteRT:
    >>> from ai_edge_litert.interpreter import Interpreter
    >>> runner = Interpreter(model_path="exported/model_int8.tflite").get_signature_runner("encode")
    >>> codes = runner(x=x)["code"]     # or kerasae.export.run_tflite(path, "encode", x=x) for int8 I/O
"""

import argparse
import dataclasses
import datetime
import importlib.metadata
import inspect
import json
import math
import os
import shutil
import tempfile
import uuid
import warnings

import keras
import numpy as np
import tensorflow as tf

from kerasae.data import datasets
from kerasae import _compat, safe_loading

from kerasae.export.options import (  # noqa: F401  (the constants, also reachable from here)
    CONDITION,
    DEFAULT_PARITY_SAMPLES,
    DEFAULT_REPRESENTATIVE_SAMPLES,
    DEFAULT_WEIGHT_SCALES,
    FORMATS,
    PARTS,
    QUANTIZATIONS,
    RANDOM_SIGNATURES,
    TOLERANCES,
    WEIGHT_SCALES,
)
#: Variant modules imported (when they exist) so that their classes deserialize from ``.keras`` files.


class ParityError(ValueError):
    """An exported artifact's outputs differ from the Keras model's by more than the tolerance."""


@dataclasses.dataclass
class ExportResult:
    """One written artifact.

    Attributes:
        path: The SavedModel folder or the ``.tflite`` file.
        metadata_path: The JSON file beside it.
        format: ``"saved_model"`` or ``"tflite"``.
        part: ``"full"``, ``"encoder"`` or ``"decoder"``.
        quantization: The TFLite quantisation mode (``"none"`` for SavedModels).
        signatures: Names of the signatures in the artifact.
        parity: ``{signature: {output: {"max_abs_error": ..., "max_rel_error": ...}}}``.
        tolerance: The relative-error tolerance it passed.
        size_bytes: Size on disk.
    """

    path: str
    metadata_path: str
    format: str
    part: str
    quantization: str
    signatures: list
    parity: dict
    tolerance: float
    size_bytes: int

    @property
    def max_rel_error(self):
        """The largest relative parity error over every signature and output."""
        values = [e["max_rel_error"] for outs in self.parity.values() for e in outs.values() if "max_rel_error" in e]
        return max(values, default=0.0)


# ============================================================================================ signatures
def _is_distribution(value):
    return not tf.is_tensor(value) and callable(getattr(value, "mean", None))


def _encode_outputs(value):
    """The ``encode`` signature's outputs: ``code``, or ``mean``/``scale`` (/``scale_tril``) of a posterior."""
    if _is_distribution(value):
        outputs = {"mean": value.mean()}
        if callable(getattr(value, "stddev", None)):
            outputs["scale"] = value.stddev()
        scale_tril = getattr(value, "parameters", {}).get("scale_tril")
        if scale_tril is not None:
            outputs["scale_tril"] = scale_tril
        return {k: tf.cast(v, tf.float32) for k, v in outputs.items()}
    return {"code": tf.cast(value, tf.float32)}


def _data_outputs(value, name):
    """Outputs in data space: a tensor, or the mean of a distribution over data."""
    if _is_distribution(value):
        value = value.mean()
    return {name: tf.cast(value, tf.float32)}


def _code(encoded):
    """The point code of an encoder output: the tensor itself, or the posterior's mean."""
    return encoded["code"] if "code" in encoded else encoded["mean"]


def input_shape_of(model):
    """Shape of one example (without the batch axis) that ``model.encode`` expects."""
    shape = getattr(model, "data_shape", None)
    if shape is None:
        shape = tuple(model.encoder.inputs[0].shape[1:])
    shape = tuple(int(d) for d in shape)
    if not shape or any(d is None or d < 1 for d in shape):
        raise ValueError(f"Expected a model with a fully defined input shape. Received input shape {shape}.")
    return shape


def condition_size(model):
    """Width ``K`` of a conditional model's one-hot condition, or None for an unconditional model.

    A model is conditional when it has an integer ``num_classes`` attribute and its ``decode`` takes a
    ``condition`` argument; its inputs follow :class:`kerasae.CVAE`'s convention: ``encode((x, c))``,
    ``decode(z, condition=c)``, ``reconstruct((x, c))`` and ``sample(n, condition)``, with ``c`` one-hot rows
    ``(batch, K)``. Its signatures take the extra float32 input ``condition``, ``(batch, K)``.

    Example:
        >>> kerasae.export.condition_size(kerasae.CVAE.create((64,), 8, num_classes=10))
        10
    """
    k = getattr(model, "num_classes", None)
    decode = getattr(model, "decode", None)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or not callable(decode):
        return None
    try:
        parameters = inspect.signature(decode).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return None
    return int(k) if CONDITION in parameters else None


def _model_input(x, condition):
    """What ``encode``/``reconstruct`` take: ``x``, or the pair ``(x, condition)`` of a conditional model."""
    return x if condition is None else (x, condition)


def _encode(model, x, condition=None):
    return _encode_outputs(model.encode(_model_input(x, condition)))


def _decode(model, z, condition=None):
    if condition is None:
        return model.decode(z)
    return model.decode(z, condition=condition)


def _reconstruct(model, x, condition=None):
    if callable(getattr(model, "reconstruct", None)):
        return model.reconstruct(_model_input(x, condition))
    return _decode(model, _code(_encode(model, x, condition)), condition)


def _sample_fn(model, conditional=False):
    """The ``sample`` signature's function for generative models, else None.

    Unconditional models (with ``sample(n)``): ``n -> {"samples": (n, ...)}``. Conditional models (with
    ``sample(n, condition)``): ``condition -> {"samples": ...}``, one sample per one-hot row of ``condition``.
    Models with a ``prior`` (a distribution, or a method returning one) are sampled in the graph as
    ``decode(prior.sample(n))``, which works whatever ``model.sample`` returns (numpy, for convenience);
    others through ``model.sample`` itself.
    """
    sample = getattr(model, "sample", None)
    if not callable(sample):
        return None
    required = [
        p for p in inspect.signature(sample).parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(required) != (2 if conditional else 1):
        return None
    prior = getattr(model, "prior", None)

    def draw(n, condition=None):
        if prior is None:
            return sample(n) if condition is None else sample(n, condition)
        distribution = prior if _is_distribution(prior) else prior()
        return _decode(model, distribution.sample(n), condition)

    if conditional:
        return lambda condition: _data_outputs(draw(tf.shape(condition)[0], condition), "samples")
    return lambda n: _data_outputs(draw(n), "samples")


@dataclasses.dataclass
class _Signature:
    name: str
    fn: object  # fn(*tensors) -> dict of float32 tensors, one tensor per spec
    specs: tuple  # tf.TensorSpec per input, named
    random: bool = False

    @property
    def input_names(self):
        return [spec.name for spec in self.specs]

    def feed(self, inputs):
        """This signature's inputs by name, from a dict holding (at least) all of them."""
        return {name: inputs[name] for name in self.input_names}


def _signatures(model, part):
    """The signatures of one exported part, in order (the first is also ``serving_default``)."""
    for method in ("encode", "decode"):
        if not callable(getattr(model, method, None)):
            raise ValueError(
                f"Expected a model with encode() and decode() methods (a kerasae autoencoder). "
                f"Received {type(model).__name__} without {method}()."
            )
    shape = input_shape_of(model)
    k = condition_size(model)
    zeros_c = None if k is None else np.zeros((1, k), "float32")
    code_size = int(_code(_encode(model, np.zeros((1, *shape), "float32"), zeros_c)).shape[-1])
    x_spec = tf.TensorSpec((None, *shape), tf.float32, name="x")
    z_spec = tf.TensorSpec((None, code_size), tf.float32, name="z")
    if k is None:
        table = {
            "reconstruct": _Signature(
                "reconstruct", lambda x: _data_outputs(_reconstruct(model, x), "reconstruction"), (x_spec,)
            ),
            "encode": _Signature("encode", lambda x: _encode(model, x), (x_spec,)),
            "decode": _Signature("decode", lambda z: _data_outputs(_decode(model, z), "reconstruction"), (z_spec,)),
        }
        sample_specs = (tf.TensorSpec((), tf.int32, name="n"),)
    else:
        c_spec = tf.TensorSpec((None, k), tf.float32, name=CONDITION)
        table = {
            "reconstruct": _Signature(
                "reconstruct",
                lambda x, condition: _data_outputs(_reconstruct(model, x, condition), "reconstruction"),
                (x_spec, c_spec),
            ),
            "encode": _Signature("encode", lambda x, condition: _encode(model, x, condition), (x_spec, c_spec)),
            "decode": _Signature(
                "decode",
                lambda z, condition: _data_outputs(_decode(model, z, condition), "reconstruction"),
                (z_spec, c_spec),
            ),
        }
        sample_specs = (c_spec,)
    sample = _sample_fn(model, conditional=k is not None)
    if sample is not None:
        table["sample"] = _Signature("sample", sample, sample_specs, True)
    names = {
        "full": ["reconstruct", "encode", "decode", "sample"],
        "encoder": ["encode"],
        "decoder": ["decode", "sample"],
    }[part]
    return [table[n] for n in names if n in table], shape, code_size


# ============================================================================================ staging
class _Staging:
    """A temporary folder beside the destination; :meth:`commit` renames its artifacts into place."""

    def __init__(self, parent):
        self.parent = parent
        self.created_parent = not os.path.isdir(parent)
        os.makedirs(parent, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=".kerasae-export-", dir=parent)
        self.committed = False

    def path(self, name):
        return os.path.join(self.dir, name)

    def commit(self, moves):
        """Renames ``(staged, final)`` pairs; on any failure restores what was at the destinations."""
        done, backups, created = [], [], []
        try:
            for staged, final in moves:
                parent = os.path.dirname(final)
                if not os.path.isdir(parent):
                    os.makedirs(parent)
                    created.append(parent)
                if os.path.lexists(final):
                    backup = self.path(f".old-{uuid.uuid4().hex}")
                    os.replace(final, backup)
                    backups.append((backup, final))
                os.replace(staged, final)
                done.append(final)
            self.committed = True
        except BaseException:
            for final in done:
                _remove(final)
            for backup, final in backups:
                os.replace(backup, final)
            for parent in reversed(created):
                if os.path.isdir(parent) and not os.listdir(parent):
                    os.rmdir(parent)
            raise

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.created_parent and not self.committed and not os.listdir(self.parent):
            os.rmdir(self.parent)  # a failed export leaves no empty folders either


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def metadata_path(artifact_path):
    """The JSON file beside an artifact: ``model_int8.tflite -> model_int8.json``, ``saved_model -> saved_model.json``."""
    root, ext = os.path.splitext(os.fspath(artifact_path).rstrip(os.sep))
    return (root if ext == ".tflite" else root + ext) + ".json"


def _size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return os.path.getsize(path)


# ============================================================================================ writing
def _write_saved_model(signatures, path):
    archive = keras.export.ExportArchive()
    for sig in signatures:  # the first endpoint also becomes serving_default
        try:
            if sig.random:  # trace it first: a sampler written for eager mode is left out, not fatal
                tf.function(sig.fn, input_signature=list(sig.specs)).get_concrete_function()
        except Exception as err:  # noqa: BLE001 - a model method that cannot be traced
            warnings.warn(
                f"The model's sampler could not be traced with symbolic inputs {sig.input_names} "
                f"({type(err).__name__}: {err}); the SavedModel has no 'sample' signature. Draw codes on the "
                "host and call 'decode' instead.",
                stacklevel=3,
            )
            continue
        archive.add_endpoint(sig.name, sig.fn, input_signature=list(sig.specs))
    archive.write_out(path, verbose=False)


def _converter(saved_model_path, signatures, quantize, representative, int8_io, weight_scales="per_tensor"):
    keys = [s.name for s in signatures if not s.random]
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_path, signature_keys=keys)
    if quantize in ("dynamic", "int8"):
        _compat.set_weight_scales(converter, weight_scales)
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter


def _convert(saved_model_path, signatures, quantize, representative, int8_io, part, weight_scales="per_tensor"):
    """Converts a staged SavedModel's deterministic signatures to TFLite bytes."""
    converter = _converter(saved_model_path, signatures, quantize, representative, int8_io, weight_scales)
    try:
        with warnings.catch_warnings():  # the calibrator's own tf.lite.Interpreter deprecation warning
            warnings.simplefilter("ignore", UserWarning)
            return converter.convert()
    except Exception as err:  # noqa: BLE001 - converter errors are long and opaque
        raise ValueError(
            f"TFLite conversion ({quantize}) of the {part} model failed: {type(err).__name__}: {str(err)[:2000]}"
        ) from err


def _representative_dataset(model, signatures, x, condition, seed):
    """Calibration samples for every signature: data for ``x`` inputs, their codes (and posterior draws) for ``z``.

    A conditional model's ``condition`` input gets the condition of each row (its code's, for ``z``).
    """
    rng = np.random.default_rng(seed)
    inputs = {}
    for sig in signatures:
        if sig.random:
            continue
        if "x" in sig.input_names:
            values = {"x": x, CONDITION: condition}
        else:
            encoded = {k: np.asarray(v) for k, v in _encode(model, x, condition).items()}
            z, c = _code(encoded), condition
            if "scale" in encoded:  # a posterior: calibrate on draws too, so that noisy codes stay in range
                z = np.concatenate([z, z + encoded["scale"] * rng.standard_normal(z.shape).astype("float32")])
                c = None if c is None else np.concatenate([c, c])
            values = {"z": z, CONDITION: c}
        inputs[sig.name] = sig.feed(values)

    def generate():
        for name, values in inputs.items():
            for i in range(len(next(iter(values.values())))):
                yield name, {key: np.asarray(value[i : i + 1], "float32") for key, value in values.items()}

    return generate


# ============================================================================================ running
def run_tflite(model, signature="reconstruct", **inputs):
    """Runs one signature of a TFLite file with the LiteRT interpreter, in float32.

    Inputs are quantised and outputs dequantised with the tensors' own parameters when the file has int8
    inputs or outputs (``int8_io=True``), so the call reads the same for every quantisation mode.

    Args:
        model: Path to a ``.tflite`` file, or a LiteRT ``Interpreter``.
        signature: Signature name, e.g. ``"encode"``.
        **inputs: The signature's inputs by name (``x=...`` or ``z=...``, and ``condition=...`` for a
            conditional model), float arrays.

    Returns:
        A dict of float32 numpy arrays by output name.

    Example:
        >>> codes = kerasae.export.run_tflite("exported/model_int8.tflite", "encode", x=x)["code"]
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = model if isinstance(model, Interpreter) else Interpreter(model_path=os.fspath(model))
    available = interpreter.get_signature_list()
    if signature not in available:
        raise ValueError(f"No signature {signature!r} in the TFLite file. Available signatures: {sorted(available)}.")
    runner = interpreter.get_signature_runner(signature)
    feed = {}
    for name, details in runner.get_input_details().items():
        if name not in inputs:
            raise ValueError(f"Signature {signature!r} expects inputs {sorted(runner.get_input_details())}. Received {sorted(inputs)}.")
        feed[name] = _quantize(np.asarray(inputs[name], dtype="float32"), details)
    outputs = runner(**feed)
    details = runner.get_output_details()
    return {name: _dequantize(value, details[name]) for name, value in outputs.items()}


def _quantize(x, details):
    dtype = details["dtype"]
    if dtype == np.float32:
        return x
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(y, details):
    if details["dtype"] == np.float32:
        return np.asarray(y)
    scale, zero_point = details["quantization"]
    return ((np.asarray(y).astype("float32") - zero_point) * scale).astype("float32")


def _errors(actual, expected, signature):
    report = {}
    for name, ref in expected.items():
        if name not in actual:
            raise ParityError(f"The exported {signature!r} signature has no output {name!r}; it has {sorted(actual)}.")
        got = np.asarray(actual[name], dtype="float32")
        if got.shape != ref.shape:
            raise ParityError(f"The exported {signature!r} output {name!r} has shape {got.shape}, Keras gives {ref.shape}.")
        abs_error = float(np.max(np.abs(got - ref))) if ref.size else 0.0
        if not np.all(np.isfinite(got)):
            abs_error = float("inf")
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        report[name] = {"max_abs_error": abs_error, "max_rel_error": abs_error / max(scale, 1e-12)}
    return report


def _check_sample(samples, n, shape, label):
    samples = np.asarray(samples)
    if samples.shape != (n, *shape) or not np.all(np.isfinite(samples)):
        raise ParityError(
            f"{label}: the 'sample' signature returned shape {samples.shape} (finite: "
            f"{bool(np.all(np.isfinite(samples)))}); expected finite samples of shape {(n, *shape)}."
        )
    return {"samples": {"checked": "shape and finiteness (random outputs differ from Keras's)", "n": n}}


def _parity_saved_model(path, signatures, reference, inputs, shape):
    loaded = tf.saved_model.load(path)
    report = {}
    for sig in signatures:
        if sig.name not in loaded.signatures:
            continue
        if sig.random:
            if CONDITION in sig.input_names:  # one sample per condition row
                feed = {CONDITION: tf.constant(inputs[CONDITION][:4])}
                n = len(inputs[CONDITION][:4])
            else:
                feed, n = {"n": tf.constant(4)}, 4
            report[sig.name] = _check_sample(loaded.signatures[sig.name](**feed)["samples"], n, shape, path)
            continue
        outputs = loaded.signatures[sig.name](**{k: tf.constant(v) for k, v in sig.feed(inputs).items()})
        report[sig.name] = _errors({k: v.numpy() for k, v in outputs.items()}, reference[sig.name], sig.name)
    return report, [n for n in loaded.signatures.keys()]


def _parity_tflite(path, signatures, reference, inputs):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    names = list(interpreter.get_signature_list())
    report = {}
    for sig in signatures:
        if sig.random:
            continue
        if sig.name not in names:
            raise ParityError(f"The TFLite file lost the {sig.name!r} signature; it has {names}.")
        outputs = run_tflite(interpreter, sig.name, **sig.feed(inputs))
        report[sig.name] = _errors(outputs, reference[sig.name], sig.name)
    return report, names


def _gate(report, tolerance, label):
    failures = [
        f"{sig}/{out}: relative error {e['max_rel_error']:.3g} (max abs {e['max_abs_error']:.3g})"
        for sig, outs in report.items()
        for out, e in outs.items()
        if "max_rel_error" in e and not e["max_rel_error"] <= tolerance
    ]
    if failures:
        raise ParityError(
            f"{label} does not match the Keras model within the relative tolerance {tolerance:g}: "
            + "; ".join(failures)
            + ". Nothing was written. Fix: use a milder quantisation ('float16' or 'dynamic'), give more "
            "representative data for 'int8', or pass a larger tolerance if this error is acceptable."
        )


# ============================================================================================ public API
def _versions():
    import kerasae

    versions = {"kerasae": kerasae.__version__, "tensorflow": tf.__version__, "keras": keras.__version__}
    try:
        versions["ai_edge_litert"] = importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        pass
    return versions


def _check_data(x, shape, name, fix):
    if x is None:
        raise ValueError(f"Expected {name}. Received None. Fix: {fix}")
    x = np.asarray(x)
    if x.ndim >= 1 and tuple(x.shape[1:]) != shape and x.ndim >= 2 and math.prod(x.shape[1:]) == math.prod(shape):
        x = x.reshape((len(x), *shape))
    if x.ndim < 2 or tuple(x.shape[1:]) != shape or len(x) == 0:
        raise ValueError(
            f"Expected {name} of shape (n, {', '.join(map(str, shape))}) matching the model's input. "
            f"Received shape {x.shape}. Fix: {fix}"
        )
    return datasets.check_array(x, name, unit_interval=False)  # numeric, finite, float32


def _check_inputs(data, shape, k, name, fix, rng=None):
    """``(x, condition)`` from ``data``: inputs ``x``, or for a conditional model the pair ``(x, condition)``.

    ``condition`` is None for an unconditional model (``k`` None). With ``rng``, a conditional model's lone
    ``x`` gets one-hot conditions of random classes (fine for calibration, not for a parity check).
    """
    if k is None:
        if isinstance(data, tuple) and len(data) == 2:
            raise ValueError(
                f"Expected {name} to be an array of inputs: the model is not conditional (it has no num_classes "
                f"and decode(z, condition)). Received a pair. Fix: {fix}"
            )
        return _check_data(data, shape, name, fix), None
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x = _check_data(data[0], shape, name, fix)
        condition = np.asarray(data[1])
        if condition.shape != (len(x), k):
            raise ValueError(
                f"Expected the condition of {name} to be one-hot rows of shape ({len(x)}, {k}), one per input "
                f"(num_classes={k}). Received shape {condition.shape}. Fix: keras.utils.to_categorical(labels, {k})."
            )
        condition = condition.astype("float32")
        if not np.all(np.isfinite(condition)):
            raise ValueError(f"The condition of {name} contains NaN or inf values. Expected one-hot rows.")
        return x, condition
    if rng is None or data is None:
        raise ValueError(
            f"Expected {name}=(x, condition) for a conditional model (condition: one-hot rows of width "
            f"num_classes={k}). Received {'None' if data is None else 'a single array'}. Fix: {fix}"
        )
    x = _check_data(data, shape, name, fix)
    return x, np.eye(k, dtype="float32")[rng.integers(k, size=len(x))]


def _normalize(values, allowed, name):
    values = [values] if isinstance(values, str) else list(values)
    if "all" in values:
        values = list(allowed)
    for value in values:
        if value not in allowed:
            raise ValueError(f"Expected {name} in {list(allowed)} (or 'all'). Received: {name}={value!r}")
    if not values:
        raise ValueError(f"Expected at least one {name}. Received none.")
    return list(dict.fromkeys(values))


def _tolerance(tolerances, key):
    if tolerances is None:
        return TOLERANCES[key]
    if isinstance(tolerances, dict):
        return float(tolerances.get(key, TOLERANCES[key]))
    return float(tolerances)


def artifact_name(fmt, part="full", quantization="none"):
    """The file name :func:`export` gives an artifact, e.g. ``encoder_saved_model`` or ``model_int8.tflite``."""
    prefix = "model" if part == "full" else part
    if fmt == "saved_model":
        return "saved_model" if part == "full" else f"{part}_saved_model"
    return f"{prefix}_{'float32' if quantization == 'none' else quantization}.tflite"


def export(
    model,
    out_dir,
    *,
    formats=FORMATS,
    quantize=("none",),
    parts=("full",),
    parity_data=None,
    representative_data=None,
    preprocessing=None,
    tolerance=None,
    int8_io=False,
    weight_scales=DEFAULT_WEIGHT_SCALES,
    parity_samples=DEFAULT_PARITY_SAMPLES,
    representative_samples=DEFAULT_REPRESENTATIVE_SAMPLES,
    seed=0,
    names=None,
):
    """Exports a model's encoder, decoder or both to SavedModel and TFLite files, each checked for parity.

    Every artifact of the call is built in a temporary folder beside ``out_dir`` and checked; only when all
    pass are they renamed into ``out_dir`` (replacing same-named artifacts, keeping everything else). If
    one fails, nothing is written and the destination is left as it was.

    Args:
        model: A kerasae autoencoder (anything with ``encode``/``decode``; ``reconstruct`` and ``sample(n)``
            are used when present), or a conditional one such as :class:`kerasae.CVAE`, whose signatures
            also take ``condition``.
        out_dir: Destination folder (created if needed).
        formats: ``"saved_model"``, ``"tflite"``, a list of them, or ``"all"``.
        quantize: TFLite quantisation modes: ``"none"`` (float32), ``"float16"``, ``"dynamic"`` (int8
            weights), ``"int8"`` (full integer, calibrated on ``representative_data``), a list, or ``"all"``.
        parts: ``"full"``, ``"encoder"``, ``"decoder"``, a list, or ``"all"``.
        parity_data: Held-out inputs ``(n, *input_shape)`` for the parity check (the first
            ``parity_samples`` rows are used); for a conditional model (see :func:`condition_size`) the pair
            ``(x, condition)`` with one-hot conditions ``(n, num_classes)``. Required.
        representative_data: Training inputs for int8 calibration (``representative_samples`` rows); for a
            conditional model ``(x, condition)``, or ``x`` alone to calibrate on one-hot conditions of
            random classes. Required for ``"int8"``.
        preprocessing: What the inputs must go through before ``encode``, recorded in the metadata, e.g.
            ``{"scaling": "x / 255 to [0, 1]", "binarization": "static", "threshold": 0.5}``.
        tolerance: Relative-error tolerance: ``None`` for :data:`TOLERANCES`, a float for every artifact,
            or a dict by ``"saved_model"`` / quantisation mode.
        int8_io: For ``"int8"``, make the TFLite inputs and outputs int8 too (see :func:`run_tflite`).
        weight_scales: How ``"dynamic"`` and ``"int8"`` files scale their int8 weights (see "File sizes"
            above): ``"per_tensor"`` (one scale per kernel: the smallest files), ``"per_channel"`` (one per
            output channel, TFLite's own default: finer, larger files) or ``"auto"`` (per tensor for Dense
            kernels, per channel for convolutions).
        parity_samples: Number of held-out rows compared.
        representative_samples: Number of calibration rows (at most the rows given). Ranges calibrated on
            too few rows clip held-out values: with 200 rows the int8 contractive and linear autoencoders of
            ``benchmarks/export_benchmark.py`` failed the parity gate (code errors 0.14 and 0.09), with 1000
            they pass (0.02 and 0.01).
        seed: Seed of the calibration draws.
        names: Optional ``{(format, part, quantization): file name}`` overriding :func:`artifact_name`.

    Returns:
        A list of :class:`ExportResult`, one per artifact.

    Raises:
        ParityError: if an artifact's outputs differ from Keras's beyond the tolerance.
        ValueError: for unknown formats, modes or parts, missing or mis-shaped data.

    Example:
        >>> results = kerasae.export.export(model, "exported", quantize="all", parts=("full", "encoder"),
        ...                                 parity_data=data.x_test, representative_data=data.x_train)
    """
    formats = _normalize(formats, FORMATS, "format")
    quantize = _normalize(quantize, QUANTIZATIONS, "quantize")
    parts = _normalize(parts, PARTS, "part")
    shape = input_shape_of(model)
    k = condition_size(model)
    if k is None:
        fix = "pass held-out inputs, e.g. parity_data=data.x_test from kerasae.datasets.load(...)."
        fix_repr = "pass training inputs, e.g. representative_data=data.x_train, or choose another quantisation."
    else:
        fix = (
            "pass held-out inputs and their conditions, e.g. "
            f"parity_data=(data.x_test, keras.utils.to_categorical(data.y_test, {k}))."
        )
        fix_repr = (
            f"pass training inputs and their conditions, e.g. representative_data=(data.x_train, "
            f"keras.utils.to_categorical(data.y_train, {k})), or choose another quantisation."
        )
    x_parity, c_parity = _check_inputs(parity_data, shape, k, "parity_data", fix)
    x_parity, c_parity = x_parity[:parity_samples], None if c_parity is None else c_parity[:parity_samples]
    x_repr = c_repr = None
    if "tflite" in formats and "int8" in quantize:
        rng = np.random.default_rng(seed)
        x_repr, c_repr = _check_inputs(
            representative_data, shape, k, "representative_data for int8 quantisation", fix_repr, rng
        )
        keep = rng.permutation(len(x_repr))[:representative_samples]
        x_repr, c_repr = x_repr[keep], None if c_repr is None else c_repr[keep]
    if int8_io and not ("tflite" in formats and "int8" in quantize):
        raise ValueError("int8_io=True applies to quantize='int8' TFLite files only. Fix: add 'int8' to quantize.")
    if weight_scales not in WEIGHT_SCALES:
        raise ValueError(f"Expected weight_scales in {list(WEIGHT_SCALES)}. Received: weight_scales={weight_scales!r}")

    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"The export destination {out_dir} exists and is not a folder. Fix: choose another folder.")
    staging = _Staging(os.path.dirname(out_dir))
    results, moves = [], []
    try:
        for part in parts:
            signatures, shape, code_size = _signatures(model, part)
            inputs = {"x": x_parity, "z": np.asarray(_code(_encode(model, x_parity, c_parity))), CONDITION: c_parity}
            reference = {
                s.name: {key: np.asarray(v) for key, v in s.fn(*s.feed(inputs).values()).items()}
                for s in signatures
                if not s.random
            }
            sm_path = staging.path(f"{part}.saved_model")
            _write_saved_model(signatures, sm_path)
            common = {
                "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
                "part": part,
                "input_shape": list(shape),
                "code_size": code_size,
                "code_outputs": sorted(reference["encode"]) if "encode" in reference else None,
                "preprocessing": dict(preprocessing or {}),
                "condition": None if k is None else {
                    "input": CONDITION,
                    "shape": [None, k],
                    "dtype": "float32",
                    "encoding": f"one-hot rows, num_classes={k}",
                },
                "versions": _versions(),
            }
            artifacts = []
            if "saved_model" in formats:
                artifacts.append(("saved_model", "none"))
            if "tflite" in formats:
                artifacts.extend(("tflite", q) for q in quantize)
            for fmt, q in artifacts:
                name = (names or {}).get((fmt, part, q)) or artifact_name(fmt, part, q)
                final = os.path.join(out_dir, name)
                tol = _tolerance(tolerance, "saved_model" if fmt == "saved_model" else q)
                label = f"The {fmt} export {name!r}"
                if fmt == "saved_model":
                    staged = staging.path(name)
                    shutil.copytree(sm_path, staged)
                    report, sig_names = _parity_saved_model(staged, signatures, reference, inputs, shape)
                else:
                    staged = staging.path(name)
                    representative = (
                        _representative_dataset(model, signatures, x_repr, c_repr, seed) if q == "int8" else None
                    )
                    content = _convert(
                        sm_path, signatures, q, representative, int8_io and q == "int8", part, weight_scales
                    )
                    with open(staged, "wb") as f:
                        f.write(content)
                    report, sig_names = _parity_tflite(staged, signatures, reference, inputs)
                _gate(report, tol, label)
                meta = {
                    **common,
                    "format": fmt,
                    "artifact": name,
                    "quantization": q,
                    "int8_io": bool(int8_io and q == "int8"),
                    "weight_scales": weight_scales if q in ("dynamic", "int8") else None,
                    "signatures": sorted(sig_names),
                    "inputs": {s.name: s.input_names for s in signatures if s.name in sig_names},
                    "parity": {
                        "metric": "max |artifact - keras| / max |keras| per output (relative); max abs also",
                        "tolerance": tol,
                        "num_samples": int(len(x_parity)),
                        "errors": report,
                    },
                    "size_bytes": _size(staged),
                    "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                }
                if fmt == "tflite" and any(s.random for s in signatures):
                    meta["notes"] = (
                        "The 'sample' signature (random ops) is not in TFLite files: draw z ~ N(0, I) on "
                        "the host and call 'decode'" + (" with the chosen condition." if k else ".")
                    )
                staged_meta = staging.path(os.path.basename(metadata_path(name)))
                with open(staged_meta, "w") as f:
                    json.dump(meta, f, indent=2, sort_keys=True)
                moves += [(staged, final), (staged_meta, metadata_path(final))]
                results.append(
                    ExportResult(final, metadata_path(final), fmt, part, q, sorted(sig_names), report, tol, meta["size_bytes"])
                )
        staging.commit(moves)
    finally:
        staging.cleanup()
    return results


def export_saved_model(model, path, *, part="full", parity_data=None, preprocessing=None, tolerance=None):
    """Exports one SavedModel at ``path`` (a folder), with ``path.json`` beside it. See :func:`export`.

    Returns:
        The :class:`ExportResult`.

    Example:
        >>> kerasae.export.export_saved_model(model, "encoder", part="encoder", parity_data=data.x_test)
        >>> layer = keras.layers.TFSMLayer("encoder", call_endpoint="encode")
    """
    path = os.path.abspath(os.fspath(path))
    (result,) = export(
        model, os.path.dirname(path), formats="saved_model", parts=part, parity_data=parity_data,
        preprocessing=preprocessing, tolerance=tolerance, names={("saved_model", part, "none"): os.path.basename(path)},
    )
    return result


def export_tflite(
    model, path, *, quantize="none", part="full", parity_data=None, representative_data=None,
    preprocessing=None, tolerance=None, int8_io=False, weight_scales="per_tensor",
):
    """Exports one TFLite file at ``path`` (with the metadata JSON beside it). See :func:`export`.

    Returns:
        The :class:`ExportResult`.

    Example:
        >>> kerasae.export.export_tflite(model, "ae_int8.tflite", quantize="int8",
        ...                              parity_data=data.x_test, representative_data=data.x_train)
    """
    path = os.path.abspath(os.fspath(path))
    if not path.endswith(".tflite"):
        raise ValueError(f"Expected a TFLite path ending in '.tflite'. Received: path={path!r}")
    (result,) = export(
        model, os.path.dirname(path), formats="tflite", quantize=quantize, parts=part, parity_data=parity_data,
        representative_data=representative_data, preprocessing=preprocessing, tolerance=tolerance, int8_io=int8_io,
        weight_scales=weight_scales, names={("tflite", part, quantize): os.path.basename(path)},
    )
    return result


# ============================================================================================ command line
