"""TensorFlow Lite for Microcontrollers (TFLite Micro, TFLM): full-int8 encoder and decoder files with C arrays.

``export(..., formats="tflm", parts=("encoder", "decoder"))`` (``kerasae export RUN --format tflm``) writes, per
part, a folder ``encoder_tflm`` / ``decoder_tflm`` holding:

* ``encoder.tflite``: one function (``encode`` or ``decode``), batch 1 (static shapes), int8 weights,
  activations, inputs and outputs (TFLite's full-integer quantisation calibrated on the representative data,
  int8 weight scales as ``weight_scales`` says), built from ops that TFLite Micro's op resolver has;
* ``encoder_model_data.h`` / ``.cc``: the same bytes as ``alignas(16) const unsigned char
  g_encoder_model_data[]`` and its length ``g_encoder_model_data_len``, and in the header the ops to register,
  the tensor-arena size and each input's and output's index, size, scale and zero point (C11 and C++11:
  :mod:`kerasae.export.c_files`).

Before anything is written the file is loaded in the ``tflite-micro`` Python interpreter (TFLite Micro's own
kernels and op resolver), the smallest tensor arena it allocates in is found (:func:`measure_arena`), and it
runs on the held-out inputs one example at a time, compared with Keras like every other artifact
(:mod:`kerasae.export.parity`, default tolerance :data:`TOLERANCE`, the int8 one: inputs and outputs are
quantised with the file's own scales). The metadata (``encoder_tflm.json``) records, under ``"tflm"``, the arena
sizes, the ops and the op-resolver calls, the inputs' and outputs' quantisation and the files.

What a microcontroller file leaves out: random signatures (a VAE decoder's ``sample``: draw ``z ~ N(0, I)`` on
the host or device and run the decoder), and of a probabilistic encoder's outputs all but the code (a VAE's
posterior ``mean``): its ``scale`` goes through a softplus, whose EXP and LOG kernels TFLite Micro has in
float32 only. A signature that draws random numbers is refused (TFLite Micro has no random ops), as is
``part="full"`` (its three functions would need three files: export the encoder and the decoder).

Arena sizes. ``arena_bytes`` is the smallest arena (to the byte) in which the interpreter allocates the
model's tensors, found by bisection; the interpreter runs in it for the parity check (``arena_reported_bytes``
is what the interpreter reports in use once allocated: allocating needs more, for its temporary buffers). It is
measured on a
64-bit host with TFLite Micro's reference kernels: a 32-bit microcontroller needs less for the interpreter's
own structures, but kernels optimised for a target (CMSIS-NN, ...) may ask for scratch buffers the reference
kernels do not, so the header's ``ENCODER_MODEL_ARENA_SIZE`` (``arena_recommended_bytes``) adds
:data:`ARENA_MARGIN`, rounded up to :data:`ARENA_ROUNDING` bytes: tighten it on the device with
``MicroInterpreter::arena_used_bytes()``.

The ``tflite-micro`` package is optional: ``pip install "kerasae[tflm]"``; without it a TFLM export stops with
:class:`~kerasae.utils.packages.MissingPackageError` before anything is written.

Example:
    >>> kerasae.export.export(model, "exported", formats="tflm", parts=("encoder", "decoder"),
    ...                       parity_data=data.x_test, representative_data=data.x_train)
    >>> codes = kerasae.export.run_tflm("exported/encoder_tflm", x=data.x_test[:5])["code"]
"""

import contextlib
import importlib.metadata
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

from kerasae.export import c_files
from kerasae.utils import packages
from kerasae.utils.packages import MissingPackageError  # noqa: F401 - raised by require
from kerasae.export.options import TOLERANCES

#: The format's name in ``export(formats=...)`` and ``kerasae export --format``.
FORMAT = "tflm"
#: The parts a TFLM file can hold (one function each).
PARTS = ("encoder", "decoder")
#: Default tolerance on the relative parity error (:data:`kerasae.export.options.TOLERANCES`).
TOLERANCE = TOLERANCES[FORMAT]
#: The optional package (module name) and how to install it.
PACKAGE = "tflite_micro"
INSTALL = 'pip install "kerasae[tflm]"'
#: The recommended arena: the measured one times this, rounded up to :data:`ARENA_ROUNDING` bytes.
ARENA_MARGIN = 1.25
ARENA_ROUNDING = 1024
#: The largest arena tried; a model that does not allocate in it is refused.
MAX_ARENA = 64 * 1024 * 1024
#: The encoder outputs a TFLM file keeps: the code (an autoencoder's ``code``, a posterior's ``mean``).
CODE_OUTPUTS = ("code", "mean")
#: TensorFlow op types that draw random numbers (TFLite Micro has none).
RANDOM_OPS = re.compile(r"Random|TruncatedNormal|Multinomial")


def require():
    """Imports ``tflite_micro``.

    Raises:
        MissingPackageError: when it is missing or fails to import, with the fix.
    """
    packages.require((PACKAGE,), "TFLite Micro export", INSTALL)


def check_parts(parts, formats):
    """Raises ``ValueError`` when a part asked for would get no artifact: ``"full"`` with ``"tflm"`` alone."""
    empty = [part for part in parts if part not in PARTS and not set(formats) - {FORMAT}]
    if empty:
        raise ValueError(
            f"TFLite Micro files hold one function each, the encoder's or the decoder's, and part {empty[0]!r} "
            f"has no other format to export. Received parts {list(parts)}. Fix: --part encoder decoder "
            "(parts=('encoder', 'decoder')), or add a format for the full model."
        )


def file_names(part):
    """``{"model", "header", "source"}``: the files of a part's TFLM folder."""
    return {"model": f"{part}.tflite", "header": f"{part}_model_data.h", "source": f"{part}_model_data.cc"}


def kept_outputs(signature, names):
    """The outputs of ``signature`` that a TFLM file keeps: an encoder's code alone, every other output."""
    names = sorted(names)
    if signature != "encode":
        return names
    return [name for name in names if name in CODE_OUTPUTS] or names


# ================================================================================================ conversion
def _one_function(signatures, part):
    """The deterministic ``(name, ExportSignature)`` of a part, and the random signatures left out."""
    if part not in PARTS:
        raise ValueError(f"TFLite Micro files hold the encoder or the decoder. Received part={part!r}.")
    kept = [(name, sig) for name, sig in signatures if not sig.random]
    return kept[0], [name for name, sig in signatures if sig.random]


def batch_one(name, signature):
    """``signature`` with batch-1 inputs (static shapes) and the outputs :func:`kept_outputs` keeps.

    Returns:
        ``(ExportSignature, kept output names, left-out output names)``.
    """
    import tensorflow as tf

    from kerasae.export.signatures import output_names

    specs = tuple(tf.TensorSpec((1, *spec.shape[1:]), spec.dtype, name=spec.name) for spec in signature.specs)
    names = output_names(signature)
    keep = kept_outputs(name, names)

    def fn(*args):
        outputs = signature.fn(*args)
        return {key: outputs[key] for key in keep}

    return type(signature)(fn, specs), keep, sorted(set(names) - set(keep))


def random_ops(signature):
    """The random op types in ``signature``'s traced graph (its functions' too), sorted."""
    import tensorflow as tf

    graph = tf.function(signature.fn, input_signature=list(signature.specs)).get_concrete_function().graph
    definition = graph.as_graph_def()
    types = {node.op for node in definition.node}
    types |= {node.op for function in definition.library.function for node in function.node_def}
    return sorted(t for t in types if RANDOM_OPS.search(t))


def _flatbuffer(content):
    from ai_edge_litert import schema_py_generated as schema

    return schema, schema.Model.GetRootAs(bytearray(content), 0)


def op_names(content):
    """The builtin ops of a TFLite file (``["FULLY_CONNECTED", "LOGISTIC"]``), sorted."""
    schema, model = _flatbuffer(content)
    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    return sorted({names.get(max(c.BuiltinCode(), c.DeprecatedBuiltinCode()), "CUSTOM") for c in codes})


def io_names(content):
    """``(signature name, input names, output names)`` of a one-function file, in the order of its subgraph's
    inputs and outputs (the indices TFLite Micro's ``input(i)`` and ``output(i)`` take)."""
    _, model = _flatbuffer(content)
    signature = model.SignatureDefs(0)
    by_index = {}
    for maps, count in ((signature.Inputs, signature.InputsLength()), (signature.Outputs, signature.OutputsLength())):
        by_index.update({maps(i).TensorIndex(): maps(i).Name().decode() for i in range(count)})
    subgraph = model.Subgraphs(signature.SubgraphIndex())
    inputs = [by_index[subgraph.Inputs(i)] for i in range(subgraph.InputsLength())]
    outputs = [by_index[subgraph.Outputs(i)] for i in range(subgraph.OutputsLength())]
    return signature.SignatureKey().decode(), inputs, outputs


def dynamic_tensors(content):
    """Names of the tensors whose shape is not static (a ``-1`` in their shape signature)."""
    _, model = _flatbuffer(content)
    found = []
    for g in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(g)
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            if tensor.ShapeSignatureLength() and -1 in tensor.ShapeSignatureAsNumpy():
                found.append(tensor.Name().decode())
    return found


# ==================================================================================================== interpreter
@contextlib.contextmanager
def _captured_stderr():
    """Collects what C code writes to the process's stderr meanwhile (TFLite Micro's own messages) in a list."""
    log = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield log
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            log.append(sink.read().decode(errors="replace"))


def interpreter(content, arena_size):
    """A TFLite Micro Python interpreter of ``content`` with an arena of ``arena_size`` bytes, or ``(None, its
    error messages)`` when the model does not allocate in it."""
    from tflite_micro import runtime

    with _captured_stderr() as log:
        try:
            return runtime.Interpreter.from_bytes(bytes(content), arena_size=int(arena_size)), ""
        except RuntimeError as err:
            failure = str(err)
    return None, " ".join(f"{failure}: {log[0]}".split())


def _reported_total(micro):
    """The arena bytes the interpreter's recording allocator reports in use after allocation."""
    with _captured_stderr() as log:
        micro.print_allocations()
    found = re.search(r"Arena allocation total (\d+) bytes", log[0])
    if found is None:  # the lower bound of the search: without it, too small an arena crashes the interpreter
        raise RuntimeError(f"tflite-micro {importlib.metadata.version('tflite-micro')} no longer reports its arena use "
                           f"as kerasae reads it ({' '.join(log[0].split())[:300]!r}). Fix: {INSTALL} of a version "
                           "that kerasae's tests pass with, or report this.")
    return int(found.group(1))


#: The bisection of :func:`measure_arena`, run in a child process: prints ``try N`` before each arena size it tries,
#: then ``ok N`` or ``fail N``.
_BISECTION = """
import sys
from tflite_micro import runtime
content, (low, high) = open(sys.argv[1], "rb").read(), map(int, sys.argv[2:4])
while high - low > 1:
    middle = (low + high) // 2
    print("try", middle, flush=True)
    try:
        runtime.Interpreter.from_bytes(content, arena_size=middle)
        print("ok", middle, flush=True)
        high = middle
    except RuntimeError:
        print("fail", middle, flush=True)
        low = middle
"""


def _bisect(path, low, high):
    """The smallest arena in ``(low, high]`` in which the TFLite file at ``path`` allocates (``low`` fails, ``high``
    works), found in child processes: for an arena up to 16 bytes short of what it needs, tflite-micro's
    interpreter crashes its process (SIGSEGV) rather than raising. A size that crashed its child counts as too
    small, and a new child goes on from there."""
    while high - low > 1:
        done = subprocess.run([sys.executable, "-c", _BISECTION, path, str(low), str(high)], capture_output=True,
                              text=True, timeout=600)
        tried = None
        for word, size in (line.split() for line in done.stdout.splitlines() if line.strip()):
            size = int(size)
            if word == "ok":
                high, tried = size, None
            elif word == "fail":
                low, tried = size, None
            else:
                tried = size
        if tried is not None:  # the child died trying it
            low = tried
        elif done.returncode != 0:
            raise RuntimeError(f"The arena search of tflite-micro failed: {' '.join(done.stderr.split())[-500:]}")
    return high


def measure_arena(content, label):
    """``(smallest arena that allocates, in bytes; the total the interpreter reports after allocating)``.

    The interpreter first allocates in :data:`MAX_ARENA` and reports its total; the smallest arena is then found
    by bisection between that total (an arena below it cannot hold what was allocated) and :data:`MAX_ARENA`, in
    child processes (:func:`_bisect`).

    Raises:
        ValueError: when TFLite Micro cannot load the model (an op it lacks, a type its kernel refuses), with
            its own messages.
    """
    micro, error = interpreter(content, MAX_ARENA)
    if micro is None:
        raise ValueError(
            f"{label} does not load in TFLite Micro's interpreter ({error[:1500]}). Nothing was written. Fix: "
            "export the format 'tflite' for LiteRT instead, or use layers whose int8 kernels TFLite Micro has."
        )
    total = _reported_total(micro)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.tflite")
        with open(path, "wb") as f:
            f.write(bytes(content))
        return _bisect(path, total - 1, MAX_ARENA), total


def _tensor(details, name, index):
    scales, zero_points = (details["quantization_parameters"][k] for k in ("scales", "zero_points"))
    quantized = len(scales) > 0  # a float tensor has neither
    return {"name": name, "index": index, "dtype": np.dtype(details["dtype"]).name,
            "shape": [int(d) for d in details["shape"]], "scale": float(scales[0]) if quantized else None,
            "zero_point": int(zero_points[0]) if quantized else None}


def tensors(micro, content):
    """``(inputs, outputs)``: each a list of ``{name, index, dtype, shape, scale, zero_point}``."""
    _, inputs, outputs = io_names(content)
    return ([_tensor(micro.get_input_details(i), n, i) for i, n in enumerate(inputs)],
            [_tensor(micro.get_output_details(i), n, i) for i, n in enumerate(outputs)])


def _quantize(x, tensor):
    if tensor["scale"] is None:
        return np.asarray(x, tensor["dtype"])
    info = np.iinfo(tensor["dtype"])
    q = np.round(np.asarray(x, "float32") / tensor["scale"] + tensor["zero_point"])
    return np.clip(q, info.min, info.max).astype(tensor["dtype"])


def _dequantize(q, tensor):
    if tensor["scale"] is None:
        return np.asarray(q, "float32")
    return ((np.asarray(q).astype("float32") - tensor["zero_point"]) * tensor["scale"]).astype("float32")


def _read(model):
    """The bytes of a TFLM folder's ``.tflite`` file, of a ``.tflite`` file, or ``model`` itself (bytes)."""
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    path = os.fspath(model)
    if os.path.isdir(path):
        found = sorted(name for name in os.listdir(path) if name.endswith(".tflite"))
        if len(found) != 1:
            raise ValueError(f"Expected one .tflite file in the TFLM folder {path}. Found {found}.")
        path = os.path.join(path, found[0])
    with open(path, "rb") as f:
        return f.read()


def run_tflm(model, arena_size=None, **inputs):
    """Runs a TFLM file in TFLite Micro's Python interpreter, one example at a time, in float32.

    Inputs are quantised and outputs dequantised with the file's own scales and zero points.

    Args:
        model: A TFLM export folder (``exported/encoder_tflm``), its ``.tflite`` file, or the file's bytes.
        arena_size: Tensor arena in bytes (default: :data:`MAX_ARENA`).
        **inputs: The function's inputs by name (``x=...``, or ``z=...``; ``condition=...`` for a conditional
            model), float arrays with a batch axis.

    Returns:
        A dict of float32 numpy arrays by output name, one row per example.

    Example:
        >>> codes = kerasae.export.run_tflm("exported/encoder_tflm", x=x)["code"]
    """
    content = _read(model)
    micro, error = interpreter(content, arena_size or MAX_ARENA)
    if micro is None:
        raise ValueError(f"The TFLM file does not load in TFLite Micro's interpreter: {error[:1500]}")
    ins, outs = tensors(micro, content)
    if sorted(t["name"] for t in ins) != sorted(inputs):
        raise ValueError(f"The TFLM file expects inputs {sorted(t['name'] for t in ins)}. Received {sorted(inputs)}.")
    values = {t["name"]: np.asarray(inputs[t["name"]], "float32") for t in ins}
    rows = {len(v) for v in values.values()}
    if len(rows) != 1:
        raise ValueError(f"Expected inputs with as many rows each. Received {({k: v.shape for k, v in values.items()})}.")
    results = {t["name"]: [] for t in outs}
    for i in range(rows.pop()):
        for t in ins:
            micro.set_input(_quantize(values[t["name"]][i : i + 1].reshape(t["shape"]), t), t["index"])
        micro.invoke()
        for t in outs:
            results[t["name"]].append(_dequantize(micro.get_output(t["index"]), t)[0])
    return {name: np.stack(rows_) for name, rows_ in results.items()}


# ====================================================================================================== artifact
def write(job, saved_model, signatures, part, quantization, path, name):
    """Converts one part to a full-int8, batch-1 TFLite file, checks that TFLite Micro runs it, measures its
    arena and writes the folder ``path`` (:func:`file_names`). ``saved_model`` (the part's, with a polymorphic
    batch) is not used: the file is converted from its own batch-1 SavedModel.

    Returns:
        The metadata keys of the artifact: ``"tflm"`` (:func:`describe`) and ``"notes"`` on what was left out.

    Raises:
        ValueError: for a random signature, dynamic shapes, or a file TFLite Micro cannot load.
    """
    from kerasae.export import signatures as export_signatures
    from kerasae.export import tflite

    (function, signature), random = _one_function(signatures, part)
    label = f"The TFLite Micro file of the {part} ({function!r})"
    drawn = random_ops(signature)
    if drawn:
        raise ValueError(f"{label} would draw random numbers ({', '.join(drawn)}), and TFLite Micro has no random "
                         "ops. Nothing was written. Fix: draw the noise on the host and pass it as an input.")
    single, keep, left_out = batch_one(function, signature)
    staged = job.staging.path(f"{part}.tflm.saved_model")
    export_signatures.write_saved_model([(function, single)], staged)
    representative = tflite.representative_dataset([(function, single)], job.calibration)
    content = tflite.convert(staged, [(function, single)], "int8", representative, True, part, job.options.weight_scales)
    tflite.check_weights(content, "int8", label)
    dynamic = dynamic_tensors(content)
    if dynamic:
        raise ValueError(f"{label} has tensors of dynamic shape ({', '.join(dynamic[:5])}). Nothing was written.")
    info = describe(content, part, label)
    os.makedirs(path)
    files = file_names(part)
    with open(os.path.join(path, files["model"]), "wb") as f:
        f.write(content)
    with open(os.path.join(path, files["source"]), "w", encoding="utf-8") as f:
        f.write(c_files.c_source(content, part, files))
    model_class = f"{type(job.model).__module__}.{type(job.model).__qualname__}"
    with open(os.path.join(path, files["header"]), "w", encoding="utf-8") as f:
        f.write(c_files.c_header(part, info, model_class, ARENA_MARGIN))
    notes = []
    if left_out:
        notes.append(f"Left out of this microcontroller file: the {', '.join(repr(n) for n in left_out)} output of "
                     f"'{function}' (TFLite Micro runs its softplus in float32 only); it returns "
                     f"{', '.join(repr(k) for k in keep)}.")
    if random:
        notes.append(f"The {', '.join(repr(n) for n in random)} signature (random ops) is not in TFLite Micro "
                     "files: draw z ~ N(0, I) on the host or device and run the decoder.")
    meta = {"tflm": {**info, "left_out_outputs": left_out}}
    return {**meta, "notes": " ".join(notes)} if notes else meta


def describe(content, part, label):
    """The ``"tflm"`` metadata of a file: files, C array, model and arena bytes, ops, op-resolver calls, inputs
    and outputs, the tflite-micro version (:func:`measure_arena` raises for a file TFLite Micro cannot load)."""
    arena, reported = measure_arena(content, label)
    micro, _ = interpreter(content, arena)
    inputs, outputs = tensors(micro, content)
    ops = op_names(content)
    return {
        "files": file_names(part),
        "array": c_files.array_name(part),
        "model_bytes": len(content),
        "arena_bytes": arena,
        "arena_recommended_bytes": ARENA_ROUNDING * math.ceil(arena * ARENA_MARGIN / ARENA_ROUNDING),
        "arena_reported_bytes": reported,
        "ops": ops,
        "op_resolver": [c_files.resolver_method(op) for op in ops],
        "inputs": inputs,
        "outputs": outputs,
        "tflite_micro": importlib.metadata.version("tflite-micro"),
    }


def signature_names(path):
    """The function a TFLM folder holds, as a one-item list (``["encode"]``)."""
    return [io_names(_read(path))[0]]


def check(path, signatures, reference, inputs, shape=None):
    """Runs a TFLM folder's file in TFLite Micro's interpreter, in the arena its metadata will record, on
    ``inputs``; returns the error report and its function's name (:func:`kerasae.export.parity.errors`)."""
    from kerasae.export import parity
    from kerasae.export.signatures import feed

    content = _read(path)
    function, _, outputs = io_names(content)
    expected = {key: reference[function][key] for key in kept_outputs(function, reference[function])}
    arena, _ = measure_arena(content, "The TFLite Micro file")
    actual = run_tflm(content, arena_size=arena, **feed(dict(signatures)[function], inputs))
    return {function: parity.errors(actual, expected, function)}, [function]
