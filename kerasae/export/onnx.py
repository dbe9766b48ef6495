"""ONNX, for ONNX Runtime, TensorRT and OpenVINO: one ``.onnx`` file per signature, converted with tf2onnx.

An ONNX export is a folder (``onnx`` for the full model, ``encoder_onnx``, ``decoder_onnx``) holding one file
per signature of the staged SavedModel, named after it: ``encode.onnx``, ``decode.onnx``, ``reconstruct.onnx``
and, for generative models, ``sample.onnx`` (ONNX graphs have one entry point each). Each file takes and
returns the signature's inputs and outputs by name (``x``, ``z``, ``condition``; ``code``, ``mean``, ``scale``,
``reconstruction``...), float32, with a symbolic ``batch`` axis; ``sample.onnx`` takes ``n`` (int32 scalar), or
``condition`` for a conditional model, and draws with ONNX's random ops, unseeded (the seed tf2onnx copies from
the exported graph is removed): each call draws anew, and so does each process, as a reloaded SavedModel does
(ONNX Runtime seeds them once per process, so two sessions of one process draw the same sequence). A sampler
that does not convert is left out with a warning (the metadata say so): draw ``z ~ N(0, I)`` on the host and run
``decode.onnx``.

The files are converted from the SavedModel signatures the export has just written (with
``tf2onnx.convert.from_function``, ONNX opset :data:`OPSET`), checked with ``onnx.checker``, then run with
ONNX Runtime's CPU provider on the parity data and compared with Keras like every other artifact
(:mod:`kerasae.export.parity`; float32, default tolerance :data:`TOLERANCE`). The exported weights are float32;
quantise with the target runtime's own tools (TensorRT, OpenVINO, ``onnxruntime.quantization``).

tf2onnx, onnx and onnxruntime are optional: ``pip install "kerasae[onnx]"``. Without them an ONNX export
stops with :class:`MissingPackageError` before anything is written.

Example:
    >>> kerasae.export.export(model, "exported", formats=("saved_model", "onnx"), parity_data=data.x_test)
    >>> codes = kerasae.export.run_onnx("exported/onnx", "encode", x=x)["code"]
    >>> import onnxruntime    # or directly, file by file
    >>> session = onnxruntime.InferenceSession("exported/onnx/encode.onnx", providers=["CPUExecutionProvider"])
    >>> (codes,) = session.run(["code"], {"x": x})
"""

import importlib.metadata
import os
import warnings

import numpy as np

from kerasae.export.options import TOLERANCES
from kerasae.utils import packages
from kerasae.utils.packages import MissingPackageError  # noqa: F401 - raised by require; kerasae.export's name

#: The format's name in ``export(formats=...)`` and ``kerasae export --format``.
FORMAT = "onnx"
#: The ONNX opset the files are written in (one that ONNX Runtime, TensorRT and OpenVINO read).
OPSET = 17
#: Default tolerance on the relative parity error (:data:`kerasae.export.options.TOLERANCES`).
TOLERANCE = TOLERANCES[FORMAT]
#: The optional packages an ONNX export needs, by module name.
PACKAGES = ("tf2onnx", "onnx", "onnxruntime")
#: How to install them.
INSTALL = 'pip install "kerasae[onnx]"'
#: ONNX Runtime's execution providers used for the parity check.
PROVIDERS = ("CPUExecutionProvider",)
#: Name of the symbolic first axis of the inputs and outputs of the deterministic signatures.
BATCH_AXIS = "batch"
_DTYPES = {"tensor(float)": "float32", "tensor(int32)": "int32", "tensor(int64)": "int64"}
#: ONNX's random ops, whose optional ``seed`` attribute is removed (ONNX Runtime then seeds each process anew).
RANDOM_OPS = ("RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli")


def require():
    """Imports the packages of an ONNX export.

    Raises:
        MissingPackageError: naming the package that is missing (or fails to import) and the fix.
    """
    packages.require(PACKAGES, "ONNX export", INSTALL)


def file_name(signature):
    """The file of one signature in an ONNX export folder: ``encode -> encode.onnx``."""
    return f"{signature}.onnx"


def signature_names(path):
    """The signatures of an ONNX export folder: the names of its ``.onnx`` files, sorted."""
    return sorted(name[: -len(".onnx")] for name in os.listdir(path) if name.endswith(".onnx"))


def converter_info():
    """What made and checked the files, recorded in the metadata: opset, package versions, providers."""
    info = {"opset": OPSET, "checked_with": list(PROVIDERS)}
    for module in PACKAGES:
        try:
            info[module] = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - require() ran first
            info[module] = None
    return info


def _name_batch_axis(proto):
    """Names the first axis of every input and output ``batch`` (tf2onnx leaves ``unk__N``)."""
    for value in [*proto.graph.input, *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH_AXIS


def _unseed(proto):
    """Removes the fixed ``seed`` of the random ops (tf2onnx copies the exported graph's, and every run of the file
    would then draw the same samples)."""
    for node in proto.graph.node:
        if node.op_type in RANDOM_OPS:
            kept = [a for a in node.attribute if a.name != "seed"]
            del node.attribute[:]
            node.attribute.extend(kept)


def _convert(function, input_names, random):
    """One SavedModel signature (a concrete function taking keyword inputs) as a checked ONNX ``ModelProto``."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    given = function.structured_input_signature[1]
    specs = [tf.TensorSpec(given[name].shape, given[name].dtype, name=name) for name in input_names]
    wrapper = tf.function(lambda *args: function(**dict(zip(input_names, args))))
    proto, _ = tf2onnx.convert.from_function(wrapper, input_signature=specs, opset=OPSET)
    onnx.checker.check_model(proto, full_check=True)  # an op tf2onnx could not convert fails here
    names = sorted(output.name for output in proto.graph.output)
    if names != sorted(function.structured_outputs):
        raise ValueError(f"the ONNX graph's outputs are {names}, the signature's {sorted(function.structured_outputs)}")
    if random:
        _unseed(proto)
    else:
        _name_batch_axis(proto)
    return proto


def write(saved_model_path, signatures, path, part):
    """Converts the ``(name, ExportSignature)`` pairs of a staged SavedModel to ``path/<name>.onnx``.

    Returns:
        The names of the signatures written (a random one that does not convert is left out, with a warning).

    Raises:
        ValueError: when a deterministic signature does not convert (with the converter's message).
    """
    import onnx
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model_path)
    os.makedirs(path)
    written = []
    for name, sig in signatures:
        if name not in loaded.signatures:  # a sampler the SavedModel already left out
            continue
        try:
            proto = _convert(loaded.signatures[name], list(sig.input_names), sig.random)
        except Exception as err:  # noqa: BLE001 - converter errors are long and opaque
            reason = " ".join(f"{type(err).__name__}: {err}".split())[:2000]
            if sig.random:
                warnings.warn(f"The {name!r} signature did not convert to ONNX ({reason}); the ONNX export has no "
                              f"{file_name(name)}. Draw codes on the host and run {file_name('decode')}.", stacklevel=3)
                continue
            raise ValueError(f"ONNX conversion of the {part} model's {name!r} signature failed ({reason}). Nothing "
                             "was written. Fix: export the other formats, or report the unconverted op.") from err
        onnx.save_model(proto, os.path.join(path, file_name(name)))
        written.append(name)
    return written


def session(path):
    """An ``onnxruntime.InferenceSession`` of one ``.onnx`` file on :data:`PROVIDERS`, logging errors only."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(os.fspath(path), options, providers=list(PROVIDERS))


def run_onnx(model, signature="reconstruct", **inputs):
    """Runs one signature of an ONNX export with ONNX Runtime (CPU).

    Args:
        model: An ONNX export folder (e.g. ``exported/onnx``), one ``.onnx`` file, or an
            ``onnxruntime.InferenceSession``.
        signature: Signature name, e.g. ``"encode"`` (picks the file of a folder).
        **inputs: The signature's inputs by name (``x=...`` or ``z=...``, ``condition=...`` for a
            conditional model; ``n=...`` for ``sample``).

    Returns:
        A dict of numpy arrays by output name.

    Raises:
        ValueError: for a signature the folder does not hold, or inputs other than the file's.

    Example:
        >>> codes = kerasae.export.run_onnx("exported/onnx", "encode", x=x)["code"]
    """
    runner = model
    if not hasattr(model, "get_inputs"):  # a path, not a session
        path = os.fspath(model)
        if os.path.isdir(path):
            available = signature_names(path)
            if signature not in available:
                raise ValueError(f"No signature {signature!r} in the ONNX export {path}. Available: {available}.")
            path = os.path.join(path, file_name(signature))
        runner = session(path)
    expected = {i.name: i.type for i in runner.get_inputs()}
    if sorted(expected) != sorted(inputs):
        raise ValueError(f"Signature {signature!r} expects inputs {sorted(expected)}. Received {sorted(inputs)}.")
    feeds = {name: np.asarray(inputs[name], dtype=_DTYPES.get(kind, "float32")) for name, kind in expected.items()}
    names = [output.name for output in runner.get_outputs()]
    return dict(zip(names, runner.run(names, feeds)))
