"""The base `Autoencoder` model: one training step for the whole zoo.

The base model owns ``train_step`` and ``test_step`` in TensorFlow's trainer order. A variant contributes
its named per-example loss terms by overriding :meth:`Autoencoder.compute_loss_terms` (or the smaller
hooks :meth:`Autoencoder.corrupt` and :meth:`Autoencoder.code_penalties`) and declares their names in
``loss_terms`` so that each is tracked as a Keras metric. It overrides the step itself only where the
training procedure differs (for example the stacked autoencoder's layer-wise pre-training).
"""

import dataclasses
import math
import warnings
from typing import Callable

import keras
import tensorflow as tf
from keras import ops

from kerasae import callbacks as callbacks_module
from kerasae.models import inputs
from kerasae.ops import losses
from kerasae.utils import xla
from kerasae.utils.validation import check_choice, check_number, is_int

#: Training steps per call of the compiled function with ``compile(steps_per_execution="auto")``.
AUTO_STEPS_PER_EXECUTION = 16


def auto_steps_per_execution(*step_counts):
    """What ``compile(steps_per_execution="auto")`` runs per compiled call for these step counts.

    The largest value up to :data:`AUTO_STEPS_PER_EXECUTION` that divides every given count (``None``: not
    given), so that Keras' whole calls run exactly the requested steps.

    Example:
        >>> kerasae.autoencoder.auto_steps_per_execution(100, None)
        10
    """
    counts = [int(n) for n in step_counts if n is not None and int(n) > 0]
    return max(d for d in range(1, AUTO_STEPS_PER_EXECUTION + 1) if all(n % d == 0 for n in counts))


@dataclasses.dataclass(frozen=True)
class ExportSignature:
    """One function a model exports, as :meth:`Autoencoder.export_signatures` declares it.

    Attributes:
        fn: ``fn(*tensors) -> {output name: float32 tensor}``, one tensor per spec; traceable by ``tf.function``.
        specs: A named ``tf.TensorSpec`` per input (the names are the exported signature's input names).
        random: Whether ``fn`` draws random numbers (such signatures stay out of TFLite files, and their
            outputs are checked by shape, not against Keras).
    """

    fn: Callable
    specs: tuple
    random: bool = False

    @property
    def input_names(self):
        return tuple(spec.name for spec in self.specs)


def float32_outputs(**tensors):
    """``{name: tensor}`` with every tensor cast to float32: what an :class:`ExportSignature`'s ``fn`` returns."""
    return {name: tf.cast(value, tf.float32) for name, value in tensors.items()}


@keras.saving.register_keras_serializable(package="kerasae")
class Autoencoder(keras.Model):
    """An autoencoder ``x -> z = f(x) -> x^ = g(z)`` trained to reconstruct its input.

    Objective, averaged over the batch:

        loss = mean_n [ r(x_n, g(f(x_n))) + sum_j penalty_j(x_n) ] + l2 * sum_W ||W||_F^2

    where ``r`` is the per-example reconstruction loss (``mse``: ``mean_d (x_d - x^_d)^2``; ``bce``:
    binary cross-entropy on the decoder's logits, the output being ``sigmoid(logits)``), the penalties
    are those of the variant (none here), and the last term is an optional L2 weight penalty on every
    kernel of the encoder and decoder. Each term is tracked as its own metric (``loss``,
    ``reconstruction_loss``, ``regularization_loss`` when ``l2 > 0``) and shown in the progress bar.

    Args:
        encoder: A Keras model (or layer) mapping inputs to codes, e.g. from :func:`kerasae.networks.mlp`.
        decoder: A Keras model mapping codes to pre-activations of the input's shape.
        reconstruction_loss: ``"mse"`` or ``"bce"``.
        output_activation: ``"sigmoid"`` (data in [0, 1]) or ``"linear"``. ``"bce"`` needs ``"sigmoid"``.
        l2: Weight of the L2 penalty on the encoder's and decoder's kernels, >= 0.
        **kwargs: Passed to ``keras.Model`` (``name``, ``dtype``, ...).

    Returns:
        Called on a batch, the reconstructions ``x^`` in data space.

    Example:
        >>> encoder, decoder = kerasae.networks.mlp((64,), latent_dim=8)
        >>> model = kerasae.Autoencoder(encoder, decoder)
        >>> model.compile(optimizer="adam")
        >>> history = model.fit(x_train, epochs=10, batch_size=64)
        >>> codes = model.encode(x_test)

    ``fit(x)`` reconstructs ``x``; ``fit(x, x_target)`` reconstructs another target of the same shape
    (e.g. clean images for noisy inputs). Keras drops ``sample_weight`` when ``y`` is ``None``, so weighted
    training passes the target explicitly: ``fit(x, x, sample_weight=w)``.

    References:
        Hinton & Salakhutdinov (2006), Reducing the dimensionality of data with neural networks. Science.
        Goodfellow, Bengio & Courville (2016), Deep Learning, chapter 14.
    """

    #: Names of the per-example terms :meth:`compute_loss_terms` returns; each becomes a metric.
    loss_terms = ("reconstruction_loss",)
    #: Terms that are reported as metrics but not added to the loss (diagnostics).
    diagnostic_terms = ()
    #: Constructor arguments holding Keras objects, (de)serialized by get_config/from_config.
    nested_objects = ("encoder", "decoder")
    #: Whether a code at least as wide as the input deserves a warning (False for over-complete variants).
    undercomplete = True

    def __init__(self, encoder, decoder, reconstruction_loss="mse", output_activation="sigmoid", l2=0.0, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.reconstruction_loss_fn = losses.get_reconstruction_loss(reconstruction_loss)
        check_choice("output_activation", output_activation, ("sigmoid", "linear"))
        if reconstruction_loss == "bce" and output_activation != "sigmoid":
            raise ValueError("reconstruction_loss='bce' is computed on logits and needs output_activation='sigmoid'. "
                             f"Received: output_activation={output_activation!r}")
        self.reconstruction_loss = reconstruction_loss
        self.output_activation = output_activation
        self.l2 = check_number("l2", l2, minimum=0)
        # === Networks ===
        self.encoder = encoder
        self.decoder = decoder
        self._check_undercomplete()
        if getattr(encoder, "built", False) and getattr(decoder, "built", False):
            self.built = True  # functional networks: every variable exists, so saving needs no data.
        # === Metrics ===
        self.loss_tracker = keras.metrics.Mean(name="loss")
        names = [*self.loss_terms, *(["regularization_loss"] if self.l2 > 0 else [])]
        self.term_trackers = {name: keras.metrics.Mean(name=name) for name in names}

    # ------------------------------------------------------------------ shapes
    @property
    def data_shape(self):
        """Shape of one example, as the encoder expects it (without the batch axis)."""
        return tuple(self.encoder.inputs[0].shape[1:])

    @property
    def latent_dim(self):
        """Size of the code produced by :meth:`encode`."""
        return int(self.encoder.outputs[0].shape[-1])

    def _check_undercomplete(self):
        if not self.undercomplete:
            return
        try:
            input_dim = math.prod(self.data_shape)
            code_dim = self.latent_dim
        except (AttributeError, IndexError, TypeError):  # not a functional model: nothing to check.
            return
        if code_dim >= input_dim:
            warnings.warn(
                f"{type(self).__name__}: the code has {code_dim} units for {input_dim} input features, so "
                "this undercomplete autoencoder can learn the identity. Use latent_dim < input size, or a "
                "regularised variant (sparse, denoising, contractive) for an over-complete code.",
                stacklevel=3,
            )

    # ------------------------------------------------------------------ API
    def encode(self, x, training=False):
        """Maps inputs to codes ``z = f(x)``. Deterministic unless ``training=True``."""
        return self.encoder(x, training=training)

    def decode(self, z, training=False):
        """Maps codes to reconstructions in data space, ``x^ = a(g(z))`` with ``a`` the output activation."""
        return self.activate(self.decoder(z, training=training))

    def encode_mean(self, x):
        """The point code of ``x`` as a numpy array: ``encode(x)`` here, the posterior mean for a VAE."""
        return keras.ops.convert_to_numpy(self.encode(x))

    def reconstruct(self, x):
        """Reconstructs inputs, ``g(f(x))``, in inference mode (no corruption, no dropout)."""
        return self.decode(self.encode(x))

    def export_signatures(self):
        """The functions :func:`kerasae.export.export` writes, by signature name, in order.

        Returns a dict ``name -> ExportSignature``; here ``reconstruct`` (``x -> reconstruction``), ``encode``
        (``x -> code``) and ``decode`` (``z -> reconstruction``), with ``x`` of shape ``(batch, *data_shape)``
        and ``z`` ``(batch, latent_dim)``, float32. Variants whose inputs or outputs differ override it (the
        VAE exports its posterior and ``sample``). Cheap: nothing is traced until export.
        """
        x = tf.TensorSpec((None, *self.data_shape), tf.float32, name="x")
        z = tf.TensorSpec((None, self.latent_dim), tf.float32, name="z")
        return {
            "reconstruct": ExportSignature(lambda x: float32_outputs(reconstruction=self.reconstruct(x)), (x,)),
            "encode": ExportSignature(lambda x: float32_outputs(code=self.encode(x)), (x,)),
            "decode": ExportSignature(lambda z: float32_outputs(reconstruction=self.decode(z)), (z,)),
        }

    def call(self, inputs, training=None):
        return self.decode(self.encode(inputs, training=training), training=training)

    def activate(self, outputs):
        """Applies the output activation to decoder pre-activations."""
        if self.output_activation == "sigmoid":
            return ops.sigmoid(outputs)
        return outputs

    # ------------------------------------------------------------------ objective (variants override)
    def corrupt(self, x, training=False):
        """The encoder's input for a clean batch ``x``. Identity here; the denoising variant corrupts."""
        return x

    def code_penalties(self, x, code, training=False):
        """Per-example penalties on the code, a dict ``name -> (batch,)`` tensor. None here."""
        return {}

    def compute_loss_terms(self, x, target, training=False):
        """Runs the forward pass and returns the named per-example loss terms.

        Args:
            x: A batch of inputs.
            target: What the reconstruction should match (the clean input).
            training: Whether the forward pass runs in training mode.

        Returns:
            ``(terms, prediction)``: a dict mapping each name in ``loss_terms`` to a float32 tensor of
            shape ``(batch,)``, and the reconstructions in data space (what ``compile(metrics=...)`` sees).
        """
        terms, _, prediction = self.autoencoder_terms(x, target, training=training)
        return terms, prediction

    def autoencoder_terms(self, x, target, training=False):
        """The autoencoder's own forward pass and terms: reconstruction loss and code penalties.

        Variants that add an output of the code (a prediction head) build on this.

        Returns:
            ``(terms, code, prediction)``: the per-example terms, the codes of the (possibly corrupted)
            inputs, and the reconstructions in data space.
        """
        code = self.encoder(self.corrupt(x, training=training), training=training)
        outputs = self.decoder(code, training=training)
        prediction = self.activate(outputs)
        loss_input = outputs if self.reconstruction_loss == "bce" else prediction
        terms = {"reconstruction_loss": self.reconstruction_loss_fn(target, loss_input)}
        terms.update(self.code_penalties(x, code, training=training))
        return terms, code, prediction

    def loss_input(self, outputs):
        """What the reconstruction loss compares with the target: logits for ``bce``, data otherwise."""
        return outputs if self.reconstruction_loss == "bce" else self.activate(outputs)

    def combine_loss_terms(self, terms):
        """The per-example loss from the named terms: their sum, diagnostics excluded."""
        return sum(value for name, value in terms.items() if name not in self.diagnostic_terms)

    def regularization_loss(self):
        """Model-level (not per-example) penalties: the L2 weight penalty plus any layer losses."""
        total = ops.zeros((), dtype="float32")
        if self.l2 > 0:
            kernels = [w for w in self.trainable_weights if "kernel" in w.path]
            total = total + self.l2 * sum(ops.sum(ops.square(ops.cast(w, "float32"))) for w in kernels)
        extra = self.losses
        if extra:
            total = total + ops.cast(ops.sum(ops.stack([ops.cast(l, "float32") for l in extra])), "float32")
        return total

    # ------------------------------------------------------------------ compiling
    def compile(self, *args, jit_compile="auto", steps_per_execution="auto", **kwargs):
        """``keras.Model.compile`` with XLA where it is faster and several training steps per compiled call.

        ``jit_compile="auto"`` resolves to a boolean here, by a rule the benchmarks back (benchmarks/RESULTS.md;
        :mod:`kerasae.utils.xla`): XLA off for a model with convolution layers (sub-models included) when
        TensorFlow sees no GPU or TPU, as TensorFlow's own CPU convolutions train faster; on for models
        without convolutions (with kerasae's ThreeFry sampling under XLA, :mod:`kerasae.ops.sampling`) and
        for any model on a GPU or TPU; off under a ``tf.distribute`` strategy (whose cross-replica reductions
        XLA does not take on every device), with ``run_eagerly=True``, or when the environment sets
        ``KERASAE_JIT_COMPILE=0``. ``model.jit_compile`` holds the boolean ``fit`` uses, and
        :attr:`jit_compile_choice` why; a saved model keeps ``"auto"`` and re-derives it when loaded. Pass
        ``jit_compile=True`` or ``False`` to choose yourself (``False`` for layers that XLA cannot compile).

        ``steps_per_execution="auto"`` runs up to :data:`AUTO_STEPS_PER_EXECUTION` training steps per call
        of the compiled function (1 with ``run_eagerly=True`` or under a ``tf.distribute`` strategy). That
        removes Keras' per-step Python work from ``fit``, which weighs on small models' steps (the speed-ups
        through ``fit`` are measured in benchmarks/RESULTS.md). As with any ``steps_per_execution`` in Keras,
        per-batch callback hooks (``on_train_batch_end``...) then run once per call; pass
        ``steps_per_execution=1`` for callbacks that must see every batch. Given a number of steps that the
        value does not divide, ``fit``, ``evaluate`` and ``predict`` use its largest divisor up to it instead
        (Keras runs whole calls, and would take extra steps from a repeated dataset).
        """
        under_strategy = tf.distribute.has_strategy()
        requested = jit_compile
        jit_compile, why = xla.resolve_jit_compile(self, jit_compile, kwargs.get("run_eagerly"))
        auto = steps_per_execution == "auto"
        # Keras 3's multi-step loop fails under MirroredStrategy (keras-team/keras#19246): 1 there, as in eager.
        self._auto_steps_per_execution = auto and not kwargs.get("run_eagerly") and not under_strategy
        if auto:
            steps_per_execution = AUTO_STEPS_PER_EXECUTION if self._auto_steps_per_execution else 1
        elif not is_int(steps_per_execution) or steps_per_execution < 1:  # numpy integers too
            raise ValueError(f"Expected steps_per_execution to be a positive integer or 'auto'. "
                             f"Received: steps_per_execution={steps_per_execution!r}")
        steps_per_execution = int(steps_per_execution)
        super().compile(*args, jit_compile=jit_compile, steps_per_execution=steps_per_execution, **kwargs)
        self._functions_by_steps = {}  # steps_per_execution -> (train, test, predict) functions built for it
        self._steps_per_execution_is_auto = auto
        self._jit_compile_choice = xla.choice(requested, self.jit_compile, why)

    @property
    def jit_compile_choice(self):
        """``{"requested", "jit_compile", "reason"}``: how :meth:`compile` set ``jit_compile`` (None before it)."""
        return dict(getattr(self, "_jit_compile_choice", None) or {}) or None

    def get_compile_config(self):
        """Keras' compile config, with ``"auto"`` kept as the choice of ``steps_per_execution`` and
        ``jit_compile`` (a saved model reloads with it, not with its value of the moment)."""
        config = super().get_compile_config()
        if config is not None and getattr(self, "_steps_per_execution_is_auto", False):
            config = {**config, "steps_per_execution": "auto"}
        if config is not None and (self.jit_compile_choice or {}).get("requested") == "auto":
            config = {**config, "jit_compile": "auto"}
        return config

    def _adjust_steps_per_execution(self, *step_counts):
        """With ``steps_per_execution="auto"``: sets :func:`auto_steps_per_execution` of the step counts. Keras
        builds its compiled functions for one value; each value's are kept, so that alternating step counts
        (``fit(steps_per_epoch=10)``, then ``evaluate(x)``) compile each value once."""
        if not getattr(self, "_auto_steps_per_execution", False):
            return
        steps = auto_steps_per_execution(*step_counts)
        if steps != self.steps_per_execution:
            cache = self._functions_by_steps
            cache[self.steps_per_execution] = (self.train_function, self.test_function, self.predict_function)
            self.steps_per_execution = steps
            self.train_function, self.test_function, self.predict_function = cache.get(steps, (None, None, None))

    def compile_from_config(self, config):
        """Restores the compile state saved in a ``.keras`` file (Keras skips it for a custom ``compile``)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)  # so that the saved optimizer state loads

    # ------------------------------------------------------------------ checks before training
    #: Why inputs must lie in [0, 1] (e.g. "the Bernoulli likelihood"), or None: any finite values.
    unit_interval_inputs = None

    def check_inputs(self, x, name="x"):
        """Checks inputs against the model before any training or evaluation starts (:mod:`kerasae.models.inputs`).

        Arrays must be non-empty, numeric, finite, shaped like the encoder's input, and in [0, 1] where
        :attr:`unit_interval_inputs` says why; ``tf.data`` inputs are checked by their element shape where
        it is known.

        Returns:
            An array as float32 (other inputs as given).

        Raises:
            ValueError: naming the expected shape or value, and the fix.
        """
        return inputs.check_inputs(self, x, name)

    def fit(self, x=None, y=None, batch_size=None, *args, callbacks=None, **kwargs):
        """``keras.Model.fit`` with the inputs checked, a :class:`StopOnNaN` guard, the optimizer built first."""
        self.check_inputs(x)
        self._adjust_steps_per_execution(kwargs.get("steps_per_epoch"), kwargs.get("validation_steps"))
        if batch_size is not None and hasattr(x, "shape") and batch_size > x.shape[0]:
            raise ValueError(
                f"batch_size={batch_size} is larger than the {x.shape[0]} samples. Fix: use batch_size <= {x.shape[0]}."
            )
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # ignored for datasets anyway; avoids Keras's warning
        callbacks = list(callbacks or [])
        if not any(isinstance(c, callbacks_module.StopOnNaN) for c in callbacks):
            callbacks.append(callbacks_module.StopOnNaN())
        self._build_optimizer()
        self._fitting = True  # fit's own validation calls evaluate: fit has chosen steps_per_execution
        try:
            return super().fit(x, y, batch_size, *args, callbacks=callbacks, **kwargs)
        finally:
            self._fitting = False

    def _build_optimizer(self):
        """Creates the optimizer's variables before ``fit`` traces its step (Keras on TensorFlow leaves that to the
        step's first trace, which then runs a second time), unless a layer is unbuilt (its variables don't exist)."""
        optimizer = self.optimizer
        if optimizer is not None and not optimizer.built and self.built and all(l.built for l in xla.sublayers(self)):
            with self.distribute_strategy.scope():
                optimizer.build(self.trainable_variables)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate`` with the inputs checked first."""
        self.check_inputs(x)
        if not getattr(self, "_fitting", False):
            self._adjust_steps_per_execution(kwargs.get("steps"))
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """``keras.Model.predict``; a ``steps`` count adjusts ``steps_per_execution="auto"`` (see :meth:`compile`)."""
        self._adjust_steps_per_execution(kwargs.get("steps"))
        return super().predict(x, *args, **kwargs)

    # ------------------------------------------------------------------ training step
    def targets(self, x, y):
        """What the step compares the model's outputs with, from a batch's ``x`` and ``y``.

        The reconstruction target here: ``y`` when given (it must have the input's shape), else ``x``.
        A variant whose ``y`` means something else (labels) overrides this.
        """
        if y is None:
            return x
        if tuple(y.shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(
                f"{type(self).__name__} reconstructs its input, so a target y must have the input's shape "
                f"{tuple(x.shape[1:])}. Received y of shape {tuple(y.shape[1:])} per example (labels?). "
                "Fix: call fit(x) without y, or pass clean targets of the same shape as x."
            )
        return y

    def _objective(self, data, training):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        target = self.targets(x, y)
        terms, prediction = self.compute_loss_terms(x, target, training=training)
        unknown = set(terms) - set(self.loss_terms)
        if unknown:
            raise ValueError(
                f"{type(self).__name__}.compute_loss_terms returned terms {sorted(unknown)} that are not "
                f"declared in loss_terms={self.loss_terms}. Declare them so that they can be tracked."
            )
        per_example = self.combine_loss_terms(terms)
        regularization = self.regularization_loss()
        # Mean over the *global* batch (correct under tf.distribute), plus the model-level penalties
        # divided by the number of replicas (their gradients are summed across replicas).
        loss = tf.nn.compute_average_loss(per_example, sample_weight=sample_weight)
        loss = loss + tf.nn.scale_regularization_loss(regularization)
        metric_weight = self.update_metrics(
            terms, per_example + regularization, regularization, target, prediction, sample_weight
        )
        return loss, x, target, prediction, metric_weight

    def update_metrics(self, terms, per_example_loss, regularization, target, prediction, sample_weight):
        """Updates the ``loss`` and per-term trackers with one batch.

        A variant overrides this where a term is averaged over a subset of the batch (the semi-supervised
        loss over labelled examples only).

        Returns:
            The sample weight the compiled metrics (``compile(metrics=...)``) see for this batch.
        """
        self.loss_tracker.update_state(per_example_loss, sample_weight=sample_weight)
        for name, value in terms.items():
            self.term_trackers[name].update_state(value, sample_weight=sample_weight)
        if "regularization_loss" in self.term_trackers:
            self.term_trackers["regularization_loss"].update_state(regularization)
        return sample_weight

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, x, target, prediction, sample_weight = self._objective(data, training=True)
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._logs(x, target, prediction, sample_weight)

    def test_step(self, data):
        _, x, target, prediction, sample_weight = self._objective(data, training=False)
        return self._logs(x, target, prediction, sample_weight)

    def _logs(self, x, target, prediction, sample_weight):
        logs = self.compute_metrics(x, target, prediction, sample_weight)
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3 reduces step outputs across workers with `strategy.reduce("MEAN", v, axis=0)`, which
            # fails on scalars (tensorflow/tensorflow#72388). The metric values are already synchronised, so
            # a length-1 vector reduces to the same scalar.
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    @property
    def metrics(self):
        # Our own "loss" tracker replaces the one `compile` creates (which this step never updates).
        own = [self.loss_tracker, *self.term_trackers.values()]
        rest = [m for m in super().metrics if m.name != "loss" and all(m is not o for o in own)]
        return own + rest

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        serialize = keras.saving.serialize_keras_object
        config.update(encoder=serialize(self.encoder), decoder=serialize(self.decoder), l2=self.l2,
                      reconstruction_loss=self.reconstruction_loss, output_activation=self.output_activation)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in cls.nested_objects:
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
