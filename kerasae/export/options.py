"""What an export can be asked for, and its defaults: plain data, importable without TensorFlow (the CLI
builds ``kerasae export --help`` from it)."""

#: Export formats (``"onnx"`` needs the optional ``kerasae[onnx]``, :mod:`kerasae.export.onnx`; ``"tflm"``, TFLite
#: Micro files of the encoder and decoder, ``kerasae[tflm]``, :mod:`kerasae.export.tflm`).
FORMATS = ("saved_model", "tflite", "onnx", "tflm")
#: What ``formats="all"`` exports: the formats that need no optional package.
ALL_FORMATS = ("saved_model", "tflite")
#: TFLite quantisation modes (``"int16x8"``: int8 weights, 16-bit activations; encoder and decoder files only).
QUANTIZATIONS = ("none", "float16", "dynamic", "int8", "int16x8")
#: TFLite modes calibrated on representative data.
CALIBRATED = ("int8", "int16x8")
#: Quantised artifacts (TFLite modes and formats): gated on quality and on relative RMS errors
#: (:mod:`kerasae.export.quality`).
QUANTIZED = ("dynamic", "int8", "int16x8", "tflm")
#: What to export: the whole model, the encoder alone or the decoder alone.
PARTS = ("full", "encoder", "decoder")
#: How int8 weights are scaled (``weight_scales=``): ``"smallest"`` (per tensor when the file passes every gate,
#: else per output channel), one scale per tensor, per output channel (TFLite's own default), or per channel for
#: convolutions only.
WEIGHT_SCALES = ("smallest", "per_tensor", "per_channel", "auto")
DEFAULT_WEIGHT_SCALES = "smallest"
#: Held-out examples each artifact is compared on, and training examples int8 is calibrated on, by default.
DEFAULT_PARITY_SAMPLES = 64
DEFAULT_REPRESENTATIVE_SAMPLES = 1000
#: Held-out examples the quality figures of a quantised artifact are measured on, at most.
DEFAULT_QUALITY_SAMPLES = 1000
#: Default tolerance on the relative parity error of each output, per artifact (the largest error for float
#: artifacts, the RMS error for quantised ones).
TOLERANCES = {"saved_model": 1e-5, "onnx": 1e-4, "none": 1e-4, "float16": 5e-3, "dynamic": 5e-2, "int8": 0.08,
              "int16x8": 5e-2, "tflm": 0.08}
#: Quantisation-aware fine-tuning (:mod:`kerasae.export.qat`): Adam's learning rate (small: the model is trained
#: already) and the examples per step, by default.
DEFAULT_QAT_LEARNING_RATE = 1e-5
DEFAULT_QAT_BATCH_SIZE = 100
#: Default limits of the quality gate of quantised artifacts: the relative increase of the reconstruction MSE,
#: the decrease of the mean log-likelihood in nats per example, and the decrease of a classifier's accuracy (a
#: fraction: 0.01 is one percentage point) (:mod:`kerasae.export.quality`).
QUALITY_TOLERANCES = {"reconstruction_mse": 0.05, "log_likelihood": 1.0, "accuracy": 0.01}
#: The signature of a model that exports a classifier (``x -> probabilities``, ``(batch, num_classes)``), which the
#: ``accuracy`` figure reads.
CLASSIFIER_SIGNATURE = "classify"
#: Signatures that need random ops and are left out of TFLite files.
RANDOM_SIGNATURES = ("sample",)
#: Name of the extra input of a conditional model's signatures (one-hot rows, ``(batch, num_classes)``).
CONDITION = "condition"
#: int8 calibration needs at least this many representative examples (ranges from fewer clip held-out values).
MIN_REPRESENTATIVE_SAMPLES = 10
#: The smallest default tolerance of an artifact (float32) compared with a model trained under a mixed-precision
#: policy, by the policy's compute dtype (see :mod:`kerasae.export.precision`).
PRECISION_TOLERANCES = {"float16": 1e-2, "bfloat16": 5e-2}
