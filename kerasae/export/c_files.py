"""The C source and header of a TFLite Micro export (:mod:`kerasae.export.tflm`): the model as an aligned byte
array, and what a firmware needs to run it.

For the part ``encoder`` (``decoder`` alike):

* ``encoder_model_data.cc``: ``alignas(16) const unsigned char g_encoder_model_data[] = {...};`` and
  ``const unsigned int g_encoder_model_data_len``: the ``.tflite`` file's bytes, aligned to :data:`ALIGNMENT`
  (TFLite Micro reads the flatbuffer in place). Valid C11 (``<stdalign.h>``) and C++11.
* ``encoder_model_data.h``: their ``extern`` declarations (C linkage in C++ too, so C and C++ code can use
  them); ``ENCODER_MODEL_ARENA_SIZE`` (the recommended tensor arena), ``ENCODER_MODEL_ARENA_MEASURED`` and
  ``ENCODER_MODEL_NUM_OPS``; for each input and output its ``_INDEX`` (for ``interpreter.input(i)`` /
  ``output(i)``), ``_SIZE`` (elements), ``_SCALE`` and ``_ZERO_POINT`` (``real = SCALE * (q - ZERO_POINT)``),
  e.g. ``ENCODER_MODEL_INPUT_X_SCALE``; and, in a comment, the op-resolver calls and the interpreter set-up.
"""

import math
import re

#: Alignment of the C byte array.
ALIGNMENT = 16
#: ``MicroMutableOpResolver`` methods whose names do not follow from the op's (``FULLY_CONNECTED ->
#: AddFullyConnected``), as TFLite Micro's ``micro_mutable_op_resolver.h`` names them.
RESOLVER_METHODS = {"BATCH_MATMUL": "AddBatchMatMul", "CUMSUM": "AddCumSum", "PADV2": "AddPadV2",
                    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM"}
_ARRAY_LINE = 12  # bytes per line of the array


def resolver_method(op):
    """The ``tflite::MicroMutableOpResolver`` method that registers a builtin op: ``CONV_2D -> AddConv2D``."""
    words = op.split("_")
    return RESOLVER_METHODS.get(op) or "Add" + "".join(w if w[0].isdigit() else w[0] + w[1:].lower() for w in words)


def identifier(text):
    """``text`` as a C identifier fragment: ``encoder -> encoder``, ``scale_tril -> scale_tril``, ``a-b -> a_b``."""
    text = re.sub(r"\W", "_", str(text))
    return f"_{text}" if text[:1].isdigit() else text


def array_name(part):
    """The C array of a part: ``g_encoder_model_data``."""
    return f"g_{identifier(part)}_model_data"


def c_source(content, part, files):
    """The ``.cc`` file: the model as an aligned byte array and its length (``files``: the folder's file names,
    :func:`kerasae.export.tflm.file_names`)."""
    lines = [", ".join(f"0x{b:02x}" for b in content[i : i + _ARRAY_LINE]) for i in range(0, len(content), _ARRAY_LINE)]
    array = array_name(part)
    return "\n".join([
        f"// The {part} of a kerasae model, as TFLite Micro reads it: {len(content)} bytes, aligned to {ALIGNMENT}.",
        f"// Written by kerasae export (format tflm) from {files['model']}; see {files['header']}.",
        f'#include "{files["header"]}"',
        "",
        "#ifndef __cplusplus",
        "#include <stdalign.h>",
        "#endif",
        "",
        f"alignas({ALIGNMENT}) const unsigned char {array}[] = {{",
        *(f"    {line}," for line in lines),
        "};",
        f"const unsigned int {array}_len = {len(content)};",
        "",
    ])


def _define(name, value):
    return f"#define {name} {value}"


def c_header(part, info, model_class, margin):
    """The header of a part: see the module's description. ``info`` is the artifact's ``"tflm"`` metadata
    (:func:`kerasae.export.tflm.describe`), ``margin`` the recommended arena's margin over the measured one."""
    prefix, array = f"{identifier(part).upper()}_MODEL", array_name(part)
    guard = f"KERASAE_{prefix}_DATA_H_"
    ops = info["op_resolver"]
    first_input = f"{prefix}_INPUT_{identifier(info['inputs'][0]['name']).upper()}_INDEX"
    lines = [
        f"// The {part} of a kerasae model ({model_class}) for TensorFlow Lite for Microcontrollers.",
        "// Written by kerasae export (format tflm). Batch 1; int8 weights, activations, inputs and outputs.",
        f"// Tensor arena: {info['arena_bytes']} bytes measured (the smallest that allocates, tflite-micro "
        f"{info['tflite_micro']} Python interpreter,",
        f"// reference kernels, 64-bit host); {prefix}_ARENA_SIZE adds a {round((margin - 1) * 100)}% margin "
        "for optimised kernels' scratch buffers.",
        "//",
        f"//   static tflite::MicroMutableOpResolver<{len(ops)}> resolver;",
        *(f"//   resolver.{method}();" for method in ops),
        f"//   alignas(16) static uint8_t tensor_arena[{prefix}_ARENA_SIZE];",
        f"//   tflite::MicroInterpreter interpreter(tflite::GetModel({array}), resolver, tensor_arena,",
        f"//                                        {prefix}_ARENA_SIZE);",
        "//   interpreter.AllocateTensors();",
        f"//   int8_t* in = interpreter.input({first_input})->data.int8;  // q = round(real / SCALE) + ZERO_POINT",
        "//   interpreter.Invoke();  // then interpreter.output(..._INDEX)->data.int8: real = SCALE * (q - ZERO_POINT)",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        _define(f"{prefix}_ARENA_SIZE", info["arena_recommended_bytes"]),
        _define(f"{prefix}_ARENA_MEASURED", info["arena_bytes"]),
        _define(f"{prefix}_NUM_OPS", len(ops)),
    ]
    for kind, entries in (("INPUT", info["inputs"]), ("OUTPUT", info["outputs"])):
        for t in entries:
            name = f"{prefix}_{kind}_{identifier(t['name']).upper()}"
            lines += [
                "",
                f"// {kind.lower()} {t['index']} '{t['name']}': {t['dtype']} {t['shape']}",
                _define(f"{name}_INDEX", t["index"]),
                _define(f"{name}_SIZE", math.prod(t["shape"])),
            ]
            if t["scale"] is not None:  # a quantised tensor (every one, in kerasae's int8 files)
                lines += [_define(f"{name}_SCALE", f"{t['scale']:.9e}f"),
                          _define(f"{name}_ZERO_POINT", f"({t['zero_point']})")]
    return "\n".join([
        *lines,
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        f"extern const unsigned char {array}[];  // aligned to {ALIGNMENT} bytes",
        f"extern const unsigned int {array}_len;",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif  // {guard}",
        "",
    ])
