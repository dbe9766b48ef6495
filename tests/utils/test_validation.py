"""kerasae.utils.validation: one set of argument checks, one message style, numpy integers accepted."""

import subprocess
import sys

import numpy as np
import pytest

from kerasae.utils.validation import check_choice, check_int, check_number, check_positive_int, is_int


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(1), np.uint8(200)])
def test_positive_int_accepts_python_and_numpy_integers(value):
    result = check_positive_int("n", value)
    assert result == value and type(result) is int


@pytest.mark.parametrize("value", [0, -2, 1.0, 2.5, "3", None, True, False, np.bool_(True), np.float32(2)])
def test_positive_int_rejects_everything_else(value):
    with pytest.raises(ValueError) as info:
        check_positive_int("latent_dim", value)
    assert str(info.value) == f"Expected latent_dim to be a positive integer. Received: latent_dim={value!r}"


def test_int_bounds_and_optional():
    assert check_int("k", 5, minimum=1, maximum=5) == 5
    with pytest.raises(ValueError, match=r"Expected k to be an integer in \[1, 4\] \(min of samples\). Received: k=5"):
        check_int("k", 5, minimum=1, maximum=4, hint="min of samples")
    with pytest.raises(ValueError, match="Expected num_classes to be an integer >= 2. Received: num_classes=1"):
        check_int("num_classes", 1, minimum=2)
    assert check_int("seed", None, optional=True) is None
    with pytest.raises(ValueError, match="Expected seed to be an integer or None. Received: seed=1.5"):
        check_int("seed", 1.5, optional=True)
    assert is_int(np.int16(2)) and not is_int(True) and not is_int(2.0)


def test_number_messages_name_the_range():
    assert check_number("l2", np.float32(0.5), minimum=0) == 0.5
    assert type(check_number("l2", 1, minimum=0)) is float
    assert check_number("rate", np.array(0.25), minimum=0, maximum=1) == 0.25
    cases = [
        (dict(value=-1, minimum=0), "Expected x >= 0. Received: x=-1"),
        (dict(value=0, minimum=0, exclusive_minimum=True), "Expected x > 0. Received: x=0"),
        (dict(value=1.0, minimum=0, maximum=1, exclusive_maximum=True), r"Expected x in \[0, 1\). Received: x=1.0"),
        (dict(value="a lot", minimum=0, maximum=1, exclusive_maximum=True), r"Expected x in \[0, 1\). Received: x='a lot'"),
        (dict(value=float("inf"), minimum=0), "Expected x to be a finite number >= 0. Received: x=inf"),
        (dict(value=float("nan")), "Expected x to be a finite number. Received: x=nan"),
        (dict(value=True, minimum=0), "Expected x >= 0. Received: x=True"),
        (dict(value=-1, minimum=0, hint="a weight"), r"Expected x >= 0 \(a weight\). Received: x=-1"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=f"^{message}$"):
            check_number("x", **kwargs)


def test_choice():
    assert check_choice("loss", "mse", ("mse", "bce")) == "mse"
    with pytest.raises(ValueError, match=r"Expected loss to be one of \['mse', 'bce'\]. Received: loss='l1'"):
        check_choice("loss", "l1", ("mse", "bce"))


def test_networks_and_layers_agree_about_numpy_integers():
    """The two copies of the positive-integer check used to disagree: networks refused np.int64."""
    from kerasae import networks
    from kerasae.layers.distributions import IndependentNormal, MultivariateNormalTriL

    encoder, _ = networks.mlp((16,), np.int64(4), hidden_units=(np.int64(8),))
    assert encoder.output_shape == (None, 4)
    layer = MultivariateNormalTriL(np.int64(3))
    assert layer.params_size(np.int64(3)) == 9 and type(layer.get_config()["event_size"]) is int
    assert IndependentNormal((np.int64(2), 3)).event_shape == (2, 3)
    for make in (lambda: networks.mlp((16,), True), lambda: MultivariateNormalTriL(True)):
        with pytest.raises(ValueError, match="to be a positive integer"):
            make()


def test_imports_only_the_standard_library():
    code = "import sys, kerasae.utils.validation; print('numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
