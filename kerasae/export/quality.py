"""The quality gate: a quantised artifact must keep what users measure the model by, not only match it element-wise.

Quantisation moves every output a little, and a few outputs of a trained network (a pixel whose logit sits where
the sigmoid is steep) move a lot: the largest element-wise error of an int8 file over thousands of outputs says
little about the model a device gets. So quantised artifacts (TFLite ``dynamic``, ``int8``, ``int16x8`` and
TFLite Micro files) are gated on two things (:func:`gate`):

- element-wise, on the *relative RMS error* of each output (the root mean square of the difference from Keras,
  divided by the largest absolute Keras value), against the mode's tolerance
  (:data:`kerasae.export.options.TOLERANCES`); the largest errors are recorded beside it;
- on the model's quality on held-out data (:func:`figures`), against :data:`QUALITY_TOLERANCES`:

  ========================== ================================================================================
  figure                     what is compared (artifact against the float32 Keras model, same inputs)
  ========================== ================================================================================
  ``reconstruction_mse``     mean squared error between the inputs and their reconstructions; gated on its
                             relative increase (default at most 5%)
  ``log_likelihood``         models that declare a likelihood (VAEs, :meth:`reconstruction_log_likelihood`):
                             the mean log-likelihood of the inputs, in nats per example, under the likelihood
                             whose mean is the reconstruction (the decoder's Bernoulli or Gaussian); gated on
                             its decrease (default at most 1 nat)
  ``accuracy``               models that export a classifier (a ``classify`` signature, ``x -> probabilities``,
                             e.g. :class:`kerasae.M2`), when the export is given the held-out rows' class
                             ``labels``: the fraction of rows whose most probable class is their label; gated
                             on its decrease (default at most 0.01, one percentage point); full-model
                             artifacts only (the parts hold no classifier)
  ========================== ================================================================================

The reconstruction of each part: ``full``, the artifact's ``reconstruct``; ``encoder``, Keras's ``decode`` of the
artifact's codes (its ``code`` output, or ``mean`` for a posterior); ``decoder``, the artifact's ``decode`` of
Keras's codes. The reference is Keras's own (``reconstruct``, or ``decode`` of its codes): the model as trained, also
for files converted from a copy fine-tuned for int8 (:mod:`kerasae.export.qat`). The figures use up to
``quality_samples`` held-out rows (:data:`~kerasae.export.options.DEFAULT_QUALITY_SAMPLES`) and are written into
the artifact's metadata (``quality``) with the tolerances they passed.
"""

import numpy as np

from kerasae.export.options import CLASSIFIER_SIGNATURE, CONDITION, QUALITY_TOLERANCES, QUANTIZED
from kerasae.export.parity import ParityError
from kerasae.export.signatures import feed
from kerasae.utils.validation import check_number


def gated(fmt, quantization):
    """Whether an artifact is quantised, and so gated on quality and on relative RMS errors."""
    return (fmt if fmt != "tflite" else quantization) in QUANTIZED


def tolerances(given=None):
    """:data:`QUALITY_TOLERANCES` updated with ``given`` (a dict by figure name), each checked."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(QUALITY_TOLERANCES))
    if unknown:
        raise ValueError(f"Expected quality_tolerance keys in {sorted(QUALITY_TOLERANCES)}. Received: {unknown}")
    return {key: check_number(f"quality_tolerance[{key!r}]", given.get(key, default), minimum=0)
            for key, default in QUALITY_TOLERANCES.items()}


def _code(outputs):
    return np.asarray(outputs["code"] if "code" in outputs else outputs["mean"], "float32")


def _call(signature, inputs):
    return {key: np.asarray(value) for key, value in signature.fn(*feed(signature, inputs).values()).items()}


def reconstructions(table, run, part, inputs):
    """``(artifact's, Keras's)`` reconstructions of ``inputs["x"]`` for one part (see the module docstring).

    ``run(signature, **inputs)`` runs the artifact; ``table`` holds the Keras model's signatures.
    """
    x, condition = inputs["x"], inputs.get(CONDITION)
    extra = {} if condition is None else {CONDITION: condition}
    if part == "full" and "reconstruct" in table:
        keras = _call(table["reconstruct"], inputs)["reconstruction"]
        return np.asarray(run("reconstruct", x=x, **extra)["reconstruction"]), keras
    codes = _code(_call(table["encode"], inputs))
    keras = _call(table["decode"], {"z": codes, **extra})["reconstruction"]
    if part == "decoder":
        return np.asarray(run("decode", z=codes, **extra)["reconstruction"]), keras
    artifact_codes = _code(run("encode", x=x, **extra))
    return _call(table["decode"], {"z": artifact_codes, **extra})["reconstruction"], keras


def _probabilities(outputs):
    """A classifier's output: ``probabilities``, or its only output."""
    if "probabilities" in outputs or len(outputs) != 1:
        return np.asarray(outputs["probabilities"])
    return np.asarray(next(iter(outputs.values())))


def check_labels(table, inputs):
    """Raises ``ValueError`` for ``inputs["labels"]`` outside a declared classifier's classes (nothing to check
    without labels or a ``classify`` signature)."""
    labels = inputs.get("labels")
    if labels is None or CLASSIFIER_SIGNATURE not in table or not len(labels):
        return
    width = _probabilities(_call(table[CLASSIFIER_SIGNATURE], {"x": inputs["x"][:1]})).shape[-1]
    if labels.max() >= width:
        raise ValueError(f"Expected labels in [0, {width}) (the classifier's {width} classes). Received: labels up to "
                         f"{int(labels.max())}. Fix: pass the labels of parity_data's rows.")


def accuracy(table, run, inputs):
    """``{"keras": ..., "artifact": ..., "change": ...}``: the fraction of ``inputs["x"]`` whose most probable class
    (Keras's ``classify``, the artifact's) is its label, and the decrease; None without labels or classifier."""
    labels = inputs.get("labels")
    if labels is None or CLASSIFIER_SIGNATURE not in table:
        return None
    values = [float(np.mean(np.argmax(probabilities, axis=-1) == labels)) for probabilities in (
        _probabilities(run(CLASSIFIER_SIGNATURE, x=inputs["x"])), _probabilities(_call(table[CLASSIFIER_SIGNATURE], inputs)))]
    return {"artifact": values[0], "keras": values[1], "change": values[1] - values[0]}


def figures(model, table, run, part, inputs):
    """The quality figures of an artifact against Keras on ``inputs`` (a dict with ``x``, for a conditional model
    ``condition``, and optionally ``labels``): ``{figure: {"keras": ..., "artifact": ..., "change": ...}}``.

    ``change`` is the relative increase of ``reconstruction_mse`` and the decrease (Keras minus artifact) of
    ``log_likelihood``, which is there only when the model declares ``reconstruction_log_likelihood(x, mean)``,
    and of ``accuracy``, there only for a full model with a ``classify`` signature and ``labels`` given.
    """
    artifact, keras = reconstructions(table, run, part, inputs)
    x = inputs["x"].reshape(keras.shape)
    mse = [float(np.mean((rec - x) ** 2)) for rec in (artifact, keras)]
    report = {"reconstruction_mse": {"artifact": mse[0], "keras": mse[1], "change": mse[0] / max(mse[1], 1e-12) - 1}}
    score = getattr(model, "reconstruction_log_likelihood", None)
    values = None if score is None else [score(x, rec) for rec in (artifact, keras)]
    if values is not None and values[0] is not None:
        ll = [float(np.mean(v)) for v in values]
        report["log_likelihood"] = {"artifact": ll[0], "keras": ll[1], "change": ll[1] - ll[0]}
    correct = accuracy(table, run, inputs) if part == "full" else None
    if correct is not None:
        report["accuracy"] = correct
    for value in report.values():
        value["num_samples"] = int(len(x))
    return report


def _points(fraction):
    """An accuracy change as ``"2.5 percentage points"``."""
    return f"{100 * fraction:.3g} percentage point{'' if abs(100 * fraction) == 1 else 's'}"


def gate(report, limits, label):
    """Raises :class:`~kerasae.export.parity.ParityError` naming every figure whose change exceeds its limit."""
    units = {"reconstruction_mse": ("increase", lambda c: f"{100 * c:.1f}%", lambda t: f"{100 * t:g}%"),
             "log_likelihood": ("decrease", lambda c: f"{c:.3g} nats", lambda t: f"{t:g} nats"),
             "accuracy": ("decrease", _points, _points)}
    failures = [
        f"{name} {units[name][0]} {units[name][1](figure['change'])} (Keras {figure['keras']:.4g}, this file "
        f"{figure['artifact']:.4g}; limit {units[name][2](limits[name])})"
        for name, figure in report.items()
        if not figure["change"] <= limits[name]
    ]
    if failures:
        raise ParityError(
            f"{label} loses too much of the model's quality on held-out data: " + "; ".join(failures) + ". Nothing "
            "was written. Fix: for LiteRT use 'int16x8' (16-bit activations, int8 weights; part='encoder' and "
            "part='decoder') or 'dynamic' instead of full int8 ('int8', 'tflm'), fine-tune for int8 (qat_epochs, "
            "--qat-epochs), give more representative data, or pass quality_tolerance (--quality-tolerance) if this "
            "loss is acceptable."
        )
