"""Export trained autoencoders to SavedModel (servers, TF-Hub style reuse), TFLite / LiteRT (devices), ONNX and
TFLite Micro (microcontrollers).

Every export is checked before it is kept: each signature runs on held-out inputs both in Keras and in the
exported artifact, the errors are written to a JSON file beside the artifact, and an artifact whose error
exceeds its tolerance raises :class:`~kerasae.export.parity.ParityError` and leaves nothing behind. Writes are
atomic (:class:`kerasae.utils.files.Staging`): artifacts are built in a private temporary folder in the
destination's parent and renamed into place only when every artifact of the call has passed, so a failed export
never leaves a half-written artifact and never destroys what was already at the destination. The signatures,
TFLite, ONNX and TFLite Micro conversions, parity tolerances and metadata are described in their own modules (see
:mod:`kerasae.export`); how each format is written and checked is :mod:`kerasae.export.formats`.

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

A conditional VAE (its parity data is the pair ``(x, condition)``):
    >>> c = keras.utils.to_categorical(data.y_test, 10)
    >>> kerasae.export.export(cvae, "exported_cvae", parity_data=(data.x_test, c))
    >>> decode = tf.saved_model.load("exported_cvae/saved_model").signatures["decode"]
    >>> sevens = decode(z=tf.random.normal((16, 8)), condition=tf.one_hot([7] * 16, 10))["reconstruction"]

And on a device, with LiteRT:
    >>> from ai_edge_litert.interpreter import Interpreter
    >>> runner = Interpreter(model_path="exported/model_int8.tflite").get_signature_runner("encode")
    >>> codes = runner(x=x)["code"]     # or kerasae.export.run_tflite(path, "encode", x=x) for int8 I/O
"""

import dataclasses
import os

import numpy as np

from kerasae.export import formats as export_formats
from kerasae.export import inputs as export_inputs
from kerasae.export import metadata, parity, precision, qat, quality, signatures, tflm
from kerasae.export import onnx as onnx_export
from kerasae.export.metadata import metadata_path
from kerasae.export.options import (
    ALL_FORMATS,
    CALIBRATED,
    DEFAULT_PARITY_SAMPLES,
    DEFAULT_QAT_BATCH_SIZE,
    DEFAULT_QAT_LEARNING_RATE,
    DEFAULT_QUALITY_SAMPLES,
    DEFAULT_REPRESENTATIVE_SAMPLES,
    DEFAULT_WEIGHT_SCALES,
    FORMATS,
    MIN_REPRESENTATIVE_SAMPLES,
    PARTS,
    QUANTIZATIONS,
    TOLERANCES,
    WEIGHT_SCALES,
)
from kerasae.export.parity import ParityError
from kerasae.export.signatures import condition_size, input_shape_of
from kerasae.export.tflite import run_tflite
from kerasae.utils import files
from kerasae.utils.validation import check_choice, check_int, check_positive_int

#: Public names, with those defined in the other export modules (reachable from here too).
__all__ = [
    "ExportResult", "ParityError", "artifact_name", "condition_size", "export", "export_saved_model", "export_tflite",
    "input_shape_of", "metadata_path", "run_tflite", "FORMATS", "PARTS", "QUANTIZATIONS", "TOLERANCES", "WEIGHT_SCALES",
]


@dataclasses.dataclass
class ExportResult:
    """One written artifact.

    Attributes:
        path: The SavedModel folder, the ``.tflite`` file, the ONNX folder (one ``.onnx`` file per signature) or
            the TFLite Micro folder (``.tflite`` file, C source and header).
        metadata_path: The JSON file beside it.
        format: ``"saved_model"``, ``"tflite"``, ``"onnx"`` or ``"tflm"``.
        part: ``"full"``, ``"encoder"`` or ``"decoder"``.
        quantization: The TFLite quantisation mode (``"none"`` for SavedModels and ONNX, ``"int8"`` for TFLite Micro).
        signatures: Names of the signatures in the artifact.
        parity: ``{signature: {output: {"max_abs_error": ..., "max_rel_error": ...}}}``, or None when parity
            was not checked (``check_parity=False``).
        tolerance: The relative-error tolerance it passed (None when not checked).
        size_bytes: Size on disk.
        details: The format's own metadata key (``metadata[format]``): for ``"tflm"`` the arena sizes, ops and
            files (:func:`kerasae.export.tflm.describe`), for ``"onnx"`` the converter's versions; else empty.
        quality: A quantised artifact's quality figures and the limits they passed (:mod:`kerasae.export.quality`);
            None for float artifacts and unchecked ones.
        qat: For a full-integer artifact converted after quantisation-aware fine-tuning, its record
            (:mod:`kerasae.export.qat`); else None.
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
    details: dict = dataclasses.field(default_factory=dict)
    quality: dict = None
    qat: dict = None

    @property
    def max_rel_error(self):
        """The largest relative parity error over every signature and output (None when not checked)."""
        if self.parity is None:
            return None
        values = [e["max_rel_error"] for outs in self.parity.values() for e in outs.values() if "max_rel_error" in e]
        return max(values, default=0.0)


def artifact_name(fmt, part="full", quantization="none"):
    """The file name :func:`export` gives an artifact: ``encoder_saved_model``, ``model_int8.tflite``, ``onnx``,
    ``decoder_tflm``..."""
    prefix = "model" if part == "full" else part
    if fmt in ("saved_model", onnx_export.FORMAT, tflm.FORMAT):
        return fmt if part == "full" else f"{part}_{fmt}"
    return f"{prefix}_{'float32' if quantization == 'none' else quantization}.tflite"


# ============================================================================================ checks
def _normalize(values, allowed, name, everything=None):
    values = [values] if isinstance(values, str) else list(values)
    if "all" in values:
        values = [*(everything or allowed), *(v for v in values if v != "all")]
    for value in values:
        if value not in allowed:
            raise ValueError(f"Expected {name} in {list(allowed)} (or 'all'). Received: {name}={value!r}")
    if not values:
        raise ValueError(f"Expected at least one {name}. Received none.")
    return list(dict.fromkeys(values))


@dataclasses.dataclass
class _Options:
    """The checked options of one :func:`export` call."""

    formats: list
    quantize: list
    parts: list
    tolerance: object
    int8_io: bool
    weight_scales: str
    seed: object
    names: dict
    preprocessing: dict
    quality_tolerance: dict

    @property
    def int8_tflite(self):
        """Whether an int8 TFLite file is asked for."""
        return "tflite" in self.formats and "int8" in self.quantize

    @property
    def calibrates(self):
        """Whether a calibrated TFLite file (int8, int16x8) or a TFLite Micro file is asked for (they need
        representative data)."""
        return ("tflite" in self.formats and bool(set(self.quantize) & set(CALIBRATED))) or tflm.FORMAT in self.formats

    def artifacts(self, part="full"):
        """``(format, quantization)`` of every artifact of one part, SavedModel first."""
        found = [("saved_model", "none")] if "saved_model" in self.formats else []
        found += [("tflite", q) for q in self.quantize] if "tflite" in self.formats else []
        found += [(onnx_export.FORMAT, "none")] if onnx_export.FORMAT in self.formats else []
        return found + ([(tflm.FORMAT, "int8")] if tflm.FORMAT in self.formats and part in tflm.PARTS else [])

    def name(self, fmt, part, quantization):
        return self.names.get((fmt, part, quantization)) or artifact_name(fmt, part, quantization)

    def scale_choices(self, quantised, checked):
        """The weight scales to try for one artifact, in order: for ``"smallest"``, per-tensor then per-channel scales
        for a quantised artifact whose gates are checked (per-channel alone otherwise); else the one asked for."""
        if self.weight_scales != "smallest":
            return [self.weight_scales]
        return ["per_tensor", "per_channel"] if quantised and checked else ["per_channel"]

    def tolerance_of(self, fmt, quantization, policy="float32"):
        key = quantization if fmt == "tflite" else fmt
        return parity.tolerance_for(self.tolerance, key, precision.precision_tolerance(policy))


def _check_options(formats, quantize, parts, tolerance, int8_io, weight_scales, seed, names, preprocessing,
                   quality_tolerance):
    parts = _normalize(parts, PARTS, "part")
    options = _Options(
        formats=_normalize(formats, FORMATS, "format", everything=ALL_FORMATS),
        # "all": every mode that applies to the parts asked for (int16x8 makes no full-model file)
        quantize=_normalize(quantize, QUANTIZATIONS, "quantize",
                            everything=[q for q in QUANTIZATIONS if q != "int16x8" or "full" not in parts]),
        parts=parts,
        tolerance=tolerance,
        int8_io=bool(int8_io),
        weight_scales=check_choice("weight_scales", weight_scales, WEIGHT_SCALES),
        seed=check_int("seed", seed, minimum=0, optional=True),
        names=dict(names or {}),
        preprocessing=dict(preprocessing or {}),
        quality_tolerance=quality.tolerances(quality_tolerance),
    )
    if options.int8_io and not options.int8_tflite:
        raise ValueError("int8_io=True applies to quantize='int8' TFLite files only (TFLite Micro files are int8 "
                         "throughout). Fix: add 'int8' to quantize.")
    tflm.check_parts(options.parts, options.formats)
    if "tflite" in options.formats and "int16x8" in options.quantize and "full" in options.parts:
        raise ValueError("quantize='int16x8' makes encoder and decoder files only (TensorFlow's converter mis-scales "
                         "the weights that the full model's signatures share in this mode). Received: parts="
                         f"{options.parts}. Fix: pass parts=('encoder', 'decoder') (--part encoder decoder).")
    for fmt, q in options.artifacts(tflm.PARTS[0]):
        options.tolerance_of(fmt, q)  # raises for a negative or non-numeric tolerance
    return options


def _destination(out_dir):
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"The export destination {out_dir} exists and is not a folder. Fix: choose another folder.")
    return out_dir


# ============================================================================================ export
@dataclasses.dataclass
class _Job:
    """What every artifact of one :func:`export` call shares."""

    model: object  # the model exported: float32 (precision.float32_model)
    table: dict  # its signatures
    reference_table: dict  # the signatures of the model as trained, that parity compares with
    policy: str  # the dtype policy it was trained under
    options: _Options
    inputs: object  # held-out "x", "z" and "condition"; None when parity is not checked
    calibration: object  # int8 calibration inputs, or None
    staging: files.Staging
    out_dir: str
    qat: object = None  # qat.Source of the full-integer artifacts, or None


def _export_part(job, part):
    """Stages every artifact of one part and checks it; returns their results and ``(staged, final)`` moves."""
    chosen = signatures.select(job.table, part)
    checked = job.inputs is not None
    reference = signatures.keras_outputs(signatures.select(job.reference_table, part), job.inputs) if checked else None
    saved_model = job.staging.path(f"{part}.saved_model")
    signatures.write_saved_model(chosen, saved_model)
    shape, k = signatures.input_shape(job.table), signatures.condition_width(job.table)
    encode = dict(chosen).get("encode")
    code_outputs = None if encode is None else sorted(reference["encode"] if checked else signatures.output_names(encode))
    common = metadata.part_metadata(
        job.model, part, shape, signatures.code_size(job.table), code_outputs, k, job.options.preprocessing, job.policy
    )
    results, moves = [], []
    for fmt, q in job.options.artifacts(part):
        name, handler = job.options.name(fmt, part, q), export_formats.TABLE[fmt]
        staged, tolerance = job.staging.path(name), job.options.tolerance_of(fmt, q, job.policy)
        fine_tuned = job.qat is not None and qat.applies(fmt, q)
        source, signed, expected = ((saved_model, chosen, reference) if not fine_tuned
                                    else job.qat.part(job.staging, part, job.inputs))
        gated, label = quality.gated(fmt, q), f"The {fmt} export {name!r}"
        choices = job.options.scale_choices(gated, checked)
        for scales in choices:  # "smallest": per-tensor scales, unless the file fails a gate
            trial = dataclasses.replace(job, options=dataclasses.replace(job.options, weight_scales=scales))
            try:
                own = handler.write(trial, source, signed, part, q, staged, name)
                if checked:
                    report, exported = handler.check(staged, signed, expected, job.inputs, shape)
                    parity.gate(report, tolerance, label, "rms_rel_error" if gated else "max_rel_error")
                else:
                    report, tolerance, exported = None, None, handler.names(staged)
                if gated:
                    own["quality"] = _quality(job, handler, staged, part, label) if checked else None
                if fine_tuned:
                    own["qat"] = job.qat.record
                break
            except ParityError:
                if scales == choices[-1]:
                    raise
                files.remove(staged)
        int8_io = fmt == tflm.FORMAT or (job.options.int8_io and q == "int8")
        meta = metadata.artifact_metadata(
            common, fmt=fmt, name=name, quantization=q, int8_io=int8_io, weight_scales=scales,
            signatures=chosen, exported=exported, size=metadata.size_bytes(staged),
            parity=metadata.parity_record(report, tolerance, 0 if not checked else len(job.inputs["x"]), job.policy,
                                          "rms_rel_error" if gated else "max_rel_error"),
            own=own,
        )
        staged_meta = job.staging.path(os.path.basename(metadata.metadata_path(name)))
        metadata.write_metadata(staged_meta, meta)
        final = os.path.join(job.out_dir, name)
        moves += [(staged, final), (staged_meta, metadata.metadata_path(final))]
        results.append(ExportResult(final, metadata.metadata_path(final), fmt, part, q, sorted(exported), report,
                                    tolerance, meta["size_bytes"], meta.get(fmt, {}), meta.get("quality"),
                                    meta.get("qat")))
    return results, moves


def _quality(job, handler, staged, part, label):
    """The quality figures of a quantised artifact (:mod:`kerasae.export.quality`), gated; its metadata's ``quality``."""
    figures = quality.figures(job.model, job.reference_table, lambda signature, **inputs: handler.run(
        staged, signature, **inputs), part, job.inputs["quality"])
    quality.gate(figures, job.options.quality_tolerance, label)
    return {"figures": figures, "tolerances": job.options.quality_tolerance}


def export(
    model, out_dir, *, formats=ALL_FORMATS, quantize=("none",), parts=("full",), parity_data=None,
    representative_data=None, preprocessing=None, tolerance=None, int8_io=False, weight_scales=DEFAULT_WEIGHT_SCALES,
    parity_samples=DEFAULT_PARITY_SAMPLES, representative_samples=DEFAULT_REPRESENTATIVE_SAMPLES, seed=0, names=None,
    check_parity=True, quality_tolerance=None, quality_samples=DEFAULT_QUALITY_SAMPLES, labels=None, qat_epochs=None,
    qat_learning_rate=DEFAULT_QAT_LEARNING_RATE, qat_batch_size=DEFAULT_QAT_BATCH_SIZE, qat_data=None,
):
    """Exports a model's encoder, decoder or both to SavedModel, TFLite and ONNX files, each checked for parity.

    Every artifact of the call is built in a temporary folder beside ``out_dir`` and checked; only when all
    pass are they renamed into ``out_dir`` (replacing same-named artifacts, keeping everything else). If
    one fails, nothing is written and the destination is left as it was.

    Args:
        model: A kerasae model (:class:`kerasae.Autoencoder` or a subclass): what it exports is what its
            :meth:`~kerasae.Autoencoder.export_signatures` declares (see :mod:`kerasae.export.signatures`);
            a conditional one such as :class:`kerasae.CVAE` takes ``condition`` in every signature.
        out_dir: Destination folder (created if needed).
        formats: ``"saved_model"``, ``"tflite"``, ``"onnx"`` (:mod:`kerasae.export.onnx`, needs
            ``pip install "kerasae[onnx]"``), ``"tflm"`` (TFLite Micro, full int8, the ``"encoder"`` and
            ``"decoder"`` parts only: :mod:`kerasae.export.tflm`, needs ``pip install "kerasae[tflm]"``), a list
            of them, or ``"all"`` (SavedModel and TFLite).
        quantize: TFLite quantisation modes: ``"none"`` (float32), ``"float16"``, ``"dynamic"`` (int8
            weights), ``"int8"`` (full integer, calibrated on ``representative_data``), ``"int16x8"`` (int8
            weights, 16-bit activations, calibrated; encoder and decoder parts only), a list, or ``"all"``.
        parts: ``"full"``, ``"encoder"``, ``"decoder"``, a list, or ``"all"``.
        parity_data: Held-out inputs ``(n, *input_shape)`` for the parity check (the first
            ``parity_samples`` rows are used); for a conditional model (see :func:`condition_size`) the pair
            ``(x, condition)`` with one-hot conditions ``(n, num_classes)``. Required.
        representative_data: Training inputs for int8 calibration (``representative_samples`` rows); for a
            conditional model ``(x, condition)``, or ``x`` alone to calibrate on one-hot conditions of
            random classes. Required for ``"int8"`` and ``"tflm"``.
        preprocessing: What the inputs must go through before ``encode``, recorded in the metadata, e.g.
            ``{"scaling": "x / 255 to [0, 1]", "binarization": "static", "threshold": 0.5}``.
        tolerance: Relative-error tolerance: ``None`` for :data:`TOLERANCES`, a float for every artifact,
            or a dict by ``"saved_model"``, ``"onnx"`` / quantisation mode (see :mod:`kerasae.export.parity`);
            quantised artifacts compare it with their relative RMS error, the others with their largest.
        quality_tolerance: Limits of the quality gate of quantised artifacts, a dict updating
            ``{"reconstruction_mse": 0.05, "log_likelihood": 1.0, "accuracy": 0.01}`` (relative MSE increase;
            nats lost per example; accuracy lost, a fraction), see :mod:`kerasae.export.quality`.
        quality_samples: Held-out rows of ``parity_data`` the quality figures use, at most (default 1000).
        labels: Class labels of ``parity_data``'s rows (whole numbers, ``(n,)``): a model that exports a classifier
            (a ``classify`` signature, e.g. :class:`kerasae.M2`) then gets the ``accuracy`` figure, gated on its
            decrease (default at most 0.01, one percentage point); ignored by other models.
        qat_epochs: Quantisation-aware fine-tuning (:mod:`kerasae.export.qat`): the ``int8`` TFLite and TFLite Micro
            files are converted from a copy of the model fine-tuned for this many epochs with int8 rounding
            simulated (0: their int8 ranges set, nothing trained); ``None`` (default): no fine-tuning.
        qat_learning_rate: Adam's learning rate of the fine-tuning.
        qat_batch_size: Examples per fine-tuning step (for arrays; a ``tf.data.Dataset`` keeps its batches).
        qat_data: The fine-tuning data, as the model's ``fit`` takes it (e.g. ``data.pipeline("train")``, binarised
            as in training); default: every row of ``representative_data`` (required for a conditional model).
        int8_io: For ``"int8"``, make the TFLite inputs and outputs int8 too (see :func:`run_tflite`).
        weight_scales: How quantised files scale their int8 weights (see "File sizes" in
            :mod:`kerasae.export.tflite`): ``"smallest"`` (the default: one scale per kernel when the file passes
            the parity and quality gates, else one per output channel; the metadata say which), ``"per_tensor"``
            (one scale per kernel: smaller files, coarser), ``"per_channel"`` (one per output channel, TFLite's
            own default) or ``"auto"`` (per tensor for Dense kernels, per channel for convolutions).
        parity_samples: Number of held-out rows compared, >= 1 (parity is always checked on at least one
            example unless ``check_parity=False``).
        representative_samples: Number of calibration rows (at most the rows given), >= 10
            (:data:`~kerasae.export.options.MIN_REPRESENTATIVE_SAMPLES`; fewer given rows are an error too).
            Ranges calibrated on too few rows clip held-out values, and int8 files of some families then
            fail the parity gate (``benchmarks/export_benchmark.py`` calibrates on the default).
        seed: Seed of the calibration draws.
        names: Optional ``{(format, part, quantization): file name}`` overriding :func:`artifact_name`.
        check_parity: ``False`` skips the parity check (``parity_data`` is then not needed): the metadata
            record the artifacts as unchecked (``"status": "unchecked"``, errors and tolerance null).

    Exports are float32: a model trained under a mixed-precision policy is rebuilt in float32 first and
    compared with the model as trained, at its precision (:mod:`kerasae.export.precision`). Each TFLite
    file's weights are read back and must match its label (see :mod:`kerasae.export.tflite`).

    Returns:
        A list of :class:`ExportResult`, one per artifact.

    Raises:
        ParityError: if an artifact's outputs differ from Keras's beyond the tolerance, or a quantised artifact
            loses more quality than ``quality_tolerance`` allows.
        MissingPackageError: for ``"onnx"`` without tf2onnx, onnx or onnxruntime, or ``"tflm"`` without
            tflite-micro (also a ``ValueError``).
        ValueError: for a model that is not a kerasae model, unknown formats, modes or parts, missing or
            mis-shaped data, too little calibration data, or a TFLite file whose weights do not match its mode.

    Example:
        >>> results = kerasae.export.export(model, "exported", quantize="all", parts=("full", "encoder"),
        ...                                 parity_data=data.x_test, representative_data=data.x_train)
    """
    reference_table = signatures.signature_table(model)  # refuses a model that is not a kerasae model
    options = _check_options(formats, quantize, parts, tolerance, int8_io, weight_scales, seed, names, preprocessing,
                             quality_tolerance)
    export_formats.require(options.formats)
    qat_epochs, qat_learning_rate, qat_batch_size = qat.check_options(qat_epochs, qat_learning_rate, qat_batch_size)
    if qat_epochs is not None and not any(qat.applies(f, q) for p in options.parts for f, q in options.artifacts(p)):
        raise ValueError(f"Expected quantize='int8' or format 'tflm' with qat_epochs (quantisation-aware fine-tuning "
                         f"serves full-integer files). Received: quantize={options.quantize}, formats={options.formats}")
    if not isinstance(check_parity, (bool, np.bool_)):
        raise ValueError(f"Expected check_parity to be True or False. Received: check_parity={check_parity!r}")
    check_parity = bool(check_parity)
    shape, k = signatures.input_shape(reference_table), signatures.condition_width(reference_table)
    inputs = None
    if check_parity:
        inputs = export_inputs.parity_inputs(model, parity_data, shape, k, check_positive_int("parity_samples", parity_samples),
                                             check_positive_int("quality_samples", quality_samples), labels)
        quality.check_labels(reference_table, inputs["quality"])
    samples = None
    if options.calibrates:
        samples = check_int("representative_samples", representative_samples, minimum=MIN_REPRESENTATIVE_SAMPLES,
                            hint=f"int8 ranges calibrated on fewer clip held-out values; Fix: pass at least "
                            f"{MIN_REPRESENTATIVE_SAMPLES}, e.g. the default {DEFAULT_REPRESENTATIVE_SAMPLES}")
    exported, policy = precision.float32_model(model)
    table = reference_table if exported is model else signatures.signature_table(exported)
    calibration = None
    if samples is not None:
        calibration = export_inputs.calibration(exported, table, representative_data, shape, k, samples, options.seed)
    out_dir = _destination(out_dir)
    source = None
    if qat_epochs is not None:
        copy, record = qat.fine_tune(exported, qat.data_of(qat_data, representative_data, k), calibration,
                                     epochs=qat_epochs, learning_rate=qat_learning_rate, batch_size=qat_batch_size,
                                     weight_scales=qat.grid(options.weight_scales), seed=options.seed or 0)
        source = qat.Source(copy, record)
    results, moves = [], []
    with files.Staging(os.path.dirname(out_dir)) as staging:
        job = _Job(exported, table, reference_table, policy, options, inputs, calibration, staging, out_dir, source)
        for part in options.parts:
            part_results, part_moves = _export_part(job, part)
            results += part_results
            moves += part_moves
        marker = files.marker_move(staging, out_dir, "export", [os.path.basename(final) for _, final in moves])
        staging.commit(moves + ([marker] if marker else []))
    return results


def export_saved_model(model, path, *, part="full", parity_data=None, preprocessing=None, tolerance=None,
                       check_parity=True):
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
        check_parity=check_parity,
    )
    return result


def export_tflite(
    model, path, *, quantize="none", part="full", parity_data=None, representative_data=None,
    preprocessing=None, tolerance=None, int8_io=False, weight_scales=DEFAULT_WEIGHT_SCALES, check_parity=True,
    quality_tolerance=None,
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
        check_parity=check_parity, quality_tolerance=quality_tolerance,
    )
    return result
