"""A classifier's accuracy as a quality figure of quantised exports (issue 21, item 1): the figure against its
formula, the labels' checks, and on a digits M2 (whose ``classify`` signature is its classifier) the figure equal
to the accuracy computed from the artifact's own outputs, its record in the metadata, and the refusal of an
artifact that loses more than the limit."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasae import export as ex
from kerasae.cli import export as cli_export
from kerasae.export import quality, tflite
from kerasae.models.autoencoder import ExportSignature
from kerasae.models.m2 import M2
from helpers import one_line, snapshot

X = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]], "float32")
LABELS = np.array([2, 2, 1, 0])


def _signature(fn, name):
    return ExportSignature(fn, (tf.TensorSpec((None, 3), tf.float32, name=name),))


#: Keras: probabilities proportional to x + 0.1 (its most probable classes 0 or 2, 2, 1, 0: three of four right).
TABLE = {
    "classify": _signature(lambda x: {"probabilities": (x + [0.1, 0.0, 0.05]) / tf.reduce_sum(x + 0.15, -1, True)},
                           "x"),
    "encode": _signature(lambda x: {"code": x}, "x"),
    "decode": _signature(lambda z: {"reconstruction": z}, "z"),
    "reconstruct": _signature(lambda x: {"reconstruction": x}, "x"),
}


def _artifact(signature, **inputs):
    if signature == "classify":  # always class 2: right twice
        return {"probabilities": np.tile([[0.2, 0.3, 0.5]], (len(inputs["x"]), 1))}
    return {"code": inputs["x"]} if signature == "encode" else {"reconstruction": inputs["x"]}


def test_accuracy_figure_matches_its_formula_and_is_gated():
    report = quality.figures(object(), TABLE, _artifact, "full", {"x": X, "condition": None, "labels": LABELS})
    assert report["accuracy"] == {"artifact": 0.5, "keras": 0.75, "change": 0.25, "num_samples": 4}
    assert "accuracy" not in quality.figures(object(), TABLE, _artifact, "encoder",
                                             {"x": X, "condition": None, "labels": LABELS})  # parts: no classifier
    assert "accuracy" not in quality.figures(object(), TABLE, _artifact, "full", {"x": X, "condition": None})
    with pytest.raises(ex.ParityError, match=r"'f' loses too much.*accuracy decrease 25 percentage points \(Keras "
                                             r"0\.75, this file 0\.5; limit 1 percentage point\)") as err:
        quality.gate(report, quality.tolerances(), "'f'")
    one_line(err.value)
    quality.gate(report, quality.tolerances({"accuracy": 0.25}), "'f'")  # passes
    assert cli_export.quality_limit("accuracy=0.02") == ("accuracy", 0.02)


def test_labels_are_checked_on_one_line():
    from kerasae.export import inputs

    np.testing.assert_array_equal(inputs.check_labels([2.0, 0.0], 2), [2, 0])
    for labels in ([1, 2, 3], [[1], [2]], [0.5, 1.0], [-1, 0]):
        with pytest.raises(ValueError, match=r"Expected labels to be whole-number class indices >= 0, one per row "
                                             r"of parity_data: shape \(2,\)") as err:
            inputs.check_labels(labels, 2)
        one_line(err.value)
    with pytest.raises(ValueError, match=r"Expected labels in \[0, 3\) \(the classifier's 3 classes\)\. Received: "
                                         r"labels up to 3"):
        quality.check_labels(TABLE, {"x": X, "labels": np.array([0, 1, 2, 3])})


# ============================================================================================ on a digits M2
@pytest.fixture(scope="module")
def m2(digits):
    keras.utils.set_random_seed(0)
    model = M2.create(digits.input_shape, 4, num_classes=10, hidden_units=(16,))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(digits.x_train, digits.y_train, epochs=3, batch_size=128, verbose=0)
    return model


def _m2_export(model, digits, out, **options):
    one_hot = lambda y: keras.utils.to_categorical(y, 10).astype("float32")  # noqa: E731
    return ex.export(model, out, formats="tflite", quantize="int8", parity_data=(digits.x_test, one_hot(digits.y_test)),
                     representative_data=(digits.x_train, one_hot(digits.y_train)), representative_samples=100,
                     weight_scales="per_channel", labels=digits.y_test, **options)


def test_m2_int8_accuracy_is_the_artifacts_own_and_a_loss_over_the_limit_writes_nothing(m2, digits, tmp_path,
                                                                                           monkeypatch):
    (result,) = _m2_export(m2, digits, tmp_path / "ok", quality_tolerance={"accuracy": 1.0})
    meta = json.loads(open(result.metadata_path).read())
    figure = meta["quality"]["figures"]["accuracy"]
    x, y = digits.x_test, digits.y_test
    by_hand = np.mean(np.argmax(ex.run_tflite(result.path, "classify", x=x)["probabilities"], -1) == y)
    assert figure["artifact"] == pytest.approx(by_hand) and figure["num_samples"] == len(x)
    assert figure["keras"] == pytest.approx(np.mean(m2.predict_labels(x) == y))
    assert figure["change"] == pytest.approx(figure["keras"] - figure["artifact"])
    assert meta["quality"]["tolerances"]["accuracy"] == 1.0 and result.quality == meta["quality"]

    run = tflite.run_tflite

    def worse(model, signature="reconstruct", **inputs):  # an artifact whose classifier names the next class
        outputs = run(model, signature, **inputs)
        if signature == "classify":
            outputs["probabilities"] = np.roll(outputs["probabilities"], 1, axis=-1)
        return outputs

    monkeypatch.setattr(tflite, "run_tflite", worse)
    out = tmp_path / "refused"
    out.mkdir()
    before = snapshot(out)
    with pytest.raises(ex.ParityError, match=r"'model_int8\.tflite' loses too much of the model's quality on held-out "
                                             r"data: accuracy decrease .* percentage points .*limit 1 percentage point\)") as err:
        _m2_export(m2, digits, out)
    one_line(err.value)
    assert snapshot(out) == before and sorted(os.listdir(tmp_path)) == ["ok", "refused"]
