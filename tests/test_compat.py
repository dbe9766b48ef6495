"""kerasae/_compat.py: each private TensorFlow/Keras use still exists and still does what kerasae relies on.

These tests fail loudly when a TensorFlow or Keras upgrade removes or changes a private API, rather than
letting kerasae silently take another path. Every public function of ``_compat`` has a test here
(:func:`test_every_compat_function_has_a_test`).
"""

import inspect
import os
import re
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from kerasae import _compat


def test_every_compat_function_has_a_test():
    functions = [n for n, f in vars(_compat).items() if inspect.isfunction(f) and not n.startswith("_")]
    tests = [n for n in vars(sys.modules[__name__]) if n.startswith("test_")]
    missing = [n for n in functions if not any(t.startswith(f"test_{n}") for t in tests)]
    assert functions and not missing, f"kerasae._compat functions without a test_<name>... here: {missing}"


# ========================================================================================= in_xla_context
def test_in_xla_context_private_api_exists():
    from tensorflow.python.framework import ops
    from tensorflow.python.ops import control_flow_util

    assert callable(control_flow_util.GraphOrParentsInXlaContext)
    assert callable(ops.get_default_graph)


def test_in_xla_context_true_under_jit_compile():
    @tf.function(jit_compile=True)
    def compiled(x):
        return x + tf.constant(float(_compat.in_xla_context()))

    assert float(compiled(tf.constant(0.0))) == 1.0


def test_in_xla_context_false_in_plain_graph_mode():
    @tf.function(jit_compile=False)
    def plain(x):
        return x + tf.constant(float(_compat.in_xla_context()))

    @tf.function
    def default(x):
        return x + tf.constant(float(_compat.in_xla_context()))

    assert float(plain(tf.constant(0.0))) == 0.0
    assert float(default(tf.constant(0.0))) == 0.0


def test_in_xla_context_false_eagerly():
    assert tf.executing_eagerly()
    assert _compat.in_xla_context() is False


def test_in_xla_context_true_in_a_function_called_from_a_compiled_one():
    """A plain tf.function traced inside a jit-compiled one is compiled with it (its parent graph)."""

    @tf.function
    def inner(x):
        return x + tf.constant(float(_compat.in_xla_context()))

    @tf.function(jit_compile=True)
    def outer(x):
        return inner(x)

    assert float(outer(tf.constant(0.0))) == 1.0


# ====================================================================================== set_weight_scales
def _tiny_model():
    """A float32 Dense 8 -> 6 layer as a tf.Module with one concrete function."""
    rng = np.random.default_rng(0)
    module = tf.Module()
    module.w = tf.Variable(rng.normal(size=(8, 6)).astype("float32") * np.linspace(0.1, 3.0, 6, dtype="float32"))
    module.b = tf.Variable(np.zeros(6, "float32"))
    module.f = tf.function(
        lambda x: tf.matmul(x, module.w) + module.b, input_signature=[tf.TensorSpec((None, 8), tf.float32)]
    )
    return module


def _converter(module=None):
    module = module or _tiny_model()
    return tf.lite.TFLiteConverter.from_concrete_functions([module.f.get_concrete_function()], module)


def test_set_weight_scales_flags_exist_on_a_real_converter():
    converter = _converter()
    assert isinstance(converter, tf.lite.TFLiteConverter)
    for mode, flag in _compat.PER_TENSOR_FLAGS.items():
        assert hasattr(converter, flag), f"tf.lite.TFLiteConverter lost {flag} (weight_scales={mode!r})"
        assert getattr(converter, flag) is False, f"{flag} is on by default"


@pytest.mark.parametrize("mode", sorted(_compat.PER_TENSOR_FLAGS))
def test_set_weight_scales_sets_the_flag(mode):
    converter = _converter()
    flag = _compat.PER_TENSOR_FLAGS[mode]
    assert hasattr(converter, flag)
    _compat.set_weight_scales(converter, mode)
    assert getattr(converter, flag) is True
    others = set(_compat.PER_TENSOR_FLAGS.values()) - {flag}
    assert all(getattr(converter, other) is False for other in others)


def test_set_weight_scales_per_channel_sets_nothing():
    converter = _converter()
    before = {flag: getattr(converter, flag) for flag in _compat.PER_TENSOR_FLAGS.values()}
    _compat.set_weight_scales(converter, "per_channel")
    assert {flag: getattr(converter, flag) for flag in before} == before


@pytest.mark.parametrize("mode", sorted(_compat.PER_TENSOR_FLAGS))
def test_set_weight_scales_raises_without_the_switch(mode):
    converter = types.SimpleNamespace()  # a converter of a TensorFlow without the attribute
    with pytest.raises(RuntimeError, match=_compat.PER_TENSOR_FLAGS[mode]):
        _compat.set_weight_scales(converter, mode)
    assert not hasattr(converter, _compat.PER_TENSOR_FLAGS[mode])  # nothing set silently


def _kernel_scale_counts(mode):
    """Number of quantisation scales of each int8 weight tensor of the tiny model converted in ``mode``."""
    converter = _converter()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(1)
    converter.representative_dataset = lambda: ([rng.normal(size=(1, 8)).astype("float32")] for _ in range(8))
    _compat.set_weight_scales(converter, mode)
    with warnings.catch_warnings():  # the calibrator's own tf.lite.Interpreter deprecation warning
        warnings.simplefilter("ignore", UserWarning)
        content = converter.convert()
    interpreter = Interpreter(model_content=content)
    return [
        len(d["quantization_parameters"]["scales"])
        for d in interpreter.get_tensor_details()
        if d["dtype"] == np.int8 and len(d["shape"]) == 2 and sorted(d["shape"]) == [6, 8]
    ]


def test_set_weight_scales_per_tensor_takes_effect():
    """The switch still changes the int8 file: one scale for the kernel instead of one per output unit."""
    assert _kernel_scale_counts("per_channel") == [6]
    assert _kernel_scale_counts("per_tensor") == [1]


def test_set_weight_scales_auto_takes_effect():
    """``"auto"``'s switch still gives a Dense kernel (a fully connected op) one scale, as ``"per_tensor"`` does."""
    assert _kernel_scale_counts("auto") == [1]


# ============================================================================================= elsewhere
PRIVATE = re.compile(r"\b_experimental_\w+|\btensorflow\.python\b|\bkeras\.src\b|\btf\.compat\.v1\b")


def test_private_apis_are_used_in_compat_only():
    """No other kerasae module reaches into a private TensorFlow/Keras API (``_compat`` holds them all)."""
    package = os.path.dirname(_compat.__file__)
    found = []
    for folder, _, names in os.walk(package):
        for name in names:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or path == _compat.__file__:
                continue
            with open(path, encoding="utf-8") as f:
                found += [f"{os.path.relpath(path, package)}:{n}: {m.group()}"
                          for n, line in enumerate(f, 1) for m in PRIVATE.finditer(line)]
    assert not found, f"private TensorFlow/Keras APIs outside kerasae/_compat.py: {found}"
    with open(_compat.__file__, encoding="utf-8") as f:
        assert PRIVATE.search(f.read())  # the pattern still finds what _compat.py holds


# ========================================================================================= onednn_enabled
def _onednn_in_a_fresh_interpreter(code, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    full_env.update(env)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-1]


def test_onednn_enabled_after_import_kerasae_unless_the_environment_says_no():
    code = "import kerasae, tensorflow; from kerasae import _compat; print(_compat.onednn_enabled())"
    assert _onednn_in_a_fresh_interpreter(code) == "True"  # kerasae.backend.prefer_onednn asked for it
    assert _onednn_in_a_fresh_interpreter(code, TF_ENABLE_ONEDNN_OPTS="0") == "False"
