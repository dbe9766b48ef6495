"""M2, the semi-supervised VAE of Kingma, Rezende, Mohamed & Welling (2014), and M1+M2 (M2 on a trained VAE's codes).

M2 is a generative model ``p(x, y, z) = p(y) p(z) p(x|y, z)`` with a uniform categorical ``p(y)`` over ``K``
classes and ``p(z) = N(0, I)``, and an inference model ``q(y|x) q(z|x, y)``: the classifier ``q(y|x)`` is what
few labels and many unlabelled examples train. Label convention: as for
:class:`~kerasae.models.semi_supervised.SemiSupervisedAutoencoder`, ``-1`` marks an unlabelled example, and
:func:`kerasae.data.pipelines.mixed_pipeline` gives batches that mix both kinds.

M1+M2: pass a trained :class:`~kerasae.models.vae.VAE` as ``m1``. M2 then models M1's code ``z1`` instead of ``x``
(the paper's stacked model): M1's active units only, as in the authors' code (``m1_units``, e.g.
:func:`~kerasae.models.m2_parts.active_units`), their posterior means, or in training a fresh draw ``z1 ~ q(z1|x)``
each step as the authors' code does (``m1_samples=True``; :mod:`kerasae.models.m2_parts`). M1 is frozen and saved
inside the model, so that the model still takes images: ``predict_labels(x)``, ``generate`` (decoded through M1's
decoder) and the exported signatures work on images as for M2 alone.

Example:
    >>> data = kerasae.datasets.load("digits")
    >>> y = kerasae.data.labels.mask_labels(data.y_train, labels_per_class=5, seed=0)
    >>> model = kerasae.models.M2.create((64,), latent_dim=8, num_classes=10)
    >>> model.compile(optimizer="adam")
    >>> model.fit(kerasae.data.pipelines.mixed_pipeline(data.x_train, y, batch_size=64), epochs=50)
    >>> model.predict_labels(data.x_test)
"""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from kerasae import networks
from kerasae.data.labels import UNLABELLED
from kerasae.layers import distributions as dists
from kerasae.models import m2_parts
from kerasae.models.autoencoder import Autoencoder
from kerasae.models.cvae import CVAE
from kerasae.models.m2_parts import shape as _shape
from kerasae.models.m2_parts import width as _width
from kerasae.models.semi_supervised import _supervised_per_example
from kerasae.models.vae import VAE
from kerasae.ops import sampling
from kerasae.utils.validation import check_choice, check_int, check_number, check_positive_int

tfd = tfp.distributions

#: The likelihoods ``p(x|y, z)`` M2 offers: Bernoulli for data in [0, 1], Gaussians for M1's codes.
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned")
#: The classification weight of the paper (its ``alpha = 0.1 N`` for an objective summed over N examples).
PAPER_ALPHA = 0.1


@keras.saving.register_keras_serializable(package="kerasae")
class M2(Autoencoder):
    """The semi-supervised VAE M2: a classifier ``q(y|x)``, an encoder ``q(z|x, y)``, a decoder ``p(x|y, z)``.

    With the bound ``L(x, y) = -E_q(z|x,y)[log p(x|y, z) + log p(y) + log p(z) - log q(z|x, y)]`` (minus the
    ELBO of the pair, a loss; ``p(y) = 1/K``, the KL term analytic), the objective on a batch ``B`` whose labelled
    examples are ``L`` (label ``-1`` = unlabelled) is, per example and averaged over the batch:

        labelled n:    L(x_n, y_n)
        unlabelled n:  U(x_n) = sum_y q(y|x_n) L(x_n, y) - H(q(y|x_n))
        loss = mean_{n in B} [labelled or unlabelled term] + alpha * (1/|L|) sum_{n in L} -log q(y_n|x_n)

    ``-U(x)`` is the ELBO of ``x`` alone with ``y`` marginalised under ``q(y|x)``, a lower bound on ``log p(x)``
    (reported as the diagnostic ``elbo`` for every example). ``L(x, y)`` is computed for all ``K`` classes of
    every example in one batched pass (the batch tiled ``K`` times), ``num_samples`` reparameterised codes each.
    The classification term is 0 in a batch without labels. Metrics: ``loss``; ``labelled_loss`` (mean over the
    labelled examples), ``unlabelled_loss`` (over the unlabelled ones), ``classification_loss`` (the
    cross-entropy over the labelled ones), ``accuracy`` (labelled ones), ``elbo`` (all), in nats per example.

    About ``alpha``: the paper sums ``L`` and ``U`` over the ``N`` training examples and adds
    ``alpha_paper * E_labelled[-log q(y|x)]`` with ``alpha_paper = 0.1 N``; divided by ``N``, as here (per-example
    means), that is ``alpha = 0.1`` (:data:`PAPER_ALPHA`, the default). Larger values weigh the few labels more.

    Data arrive as ``(x, y)`` with ``y`` the partial labels (``fit(x)`` alone treats every example as unlabelled).
    Called on a batch, the model returns reconstructions under its predicted classes.

    Args:
        classifier: Network ``x -> K`` logits (no softmax); its input is the data (M1's codes with ``m1``).
        encoder: Network on ``x`` with the one-hot ``y`` appended (as extra channels, tiled, for images) ``->
            2 * latent_dim`` values (``[mean | scale pre-activation]`` of a diagonal normal).
        decoder: Network on ``[z, y]`` (``latent_dim + K``) ``->`` likelihood parameters of the data's shape.
        num_classes: ``K``; ``None`` infers it from the classifier's output width.
        latent_dim: Size of ``z``; ``None`` infers it from the decoder's input width.
        likelihood: ``"bernoulli"`` (data in [0, 1], as the VAE's), ``"gaussian"`` (fixed ``likelihood_scale``)
            or ``"gaussian_learned"`` (one learned scale per feature, for M1's codes).
        likelihood_scale: The fixed scale of ``"gaussian"``; the initial one of ``"gaussian_learned"``.
        alpha: Weight of the classification term, >= 0 (see above).
        num_samples: Reparameterised codes per example and class, >= 1.
        m1: Optional trained, unconditional :class:`~kerasae.models.vae.VAE` (M1+M2): M2 then models its code.
            It is frozen.
        m1_units: With ``m1``: the indices of the code units M2 models (``None``: all), e.g.
            :func:`~kerasae.models.m2_parts.active_units` (the authors' choice: the inactive ones dropped).
        m1_samples: With ``m1``: train on a fresh draw ``z1 ~ q(z1|x)`` each step (``True``, the authors' code), or
            on the posterior means (``False``). Prediction, evaluation and export always use the means.
        min_scale: Floor of the posterior's scale, > 0.
        seed: Seed of the sampling (``None``: random).
        l2: Weight of an L2 penalty on every kernel, >= 0.
        **kwargs: Passed to ``keras.Model``.

    Returns:
        Called on a batch, the likelihood's mean (in data space) at the posterior mean, under the predicted class.

    Example:
        >>> model = kerasae.models.M2.create((64,), latent_dim=8, num_classes=10)
        >>> model.compile(optimizer="adam")
        >>> model.fit(kerasae.data.pipelines.mixed_pipeline(x_train, y_partial), epochs=50)
        >>> labels = model.predict_labels(x_test)
        >>> style = model.encode_mean(x_test[:1])            # z of one test digit, under its predicted class
        >>> row = model.generate(range(10), z=style)         # that style, every class
        >>> units = kerasae.models.m2_parts.active_units(trained_vae, x_train)   # M1+M2
        >>> m1_m2 = kerasae.models.M2.create(None, 8, 10, m1=trained_vae, m1_units=units, likelihood="gaussian_learned")

    References:
        Kingma, Rezende, Mohamed & Welling (2014), Semi-supervised learning with deep generative models. NeurIPS.
    """

    loss_terms = ("labelled_loss", "unlabelled_loss", "classification_loss", "elbo")
    diagnostic_terms = ("elbo",)
    nested_objects = ("classifier", "encoder", "decoder", "m1")
    undercomplete = False

    def __init__(self, classifier, encoder, decoder, num_classes=None, latent_dim=None, likelihood="bernoulli",
                 likelihood_scale=1.0, alpha=PAPER_ALPHA, num_samples=1, m1=None, m1_units=None, m1_samples=False,
                 min_scale=1e-4, seed=None, l2=0.0, **kwargs):
        check_choice("likelihood", likelihood, LIKELIHOODS)
        alpha = check_number("alpha", alpha, minimum=0, hint="the weight of the classification term")
        num_samples = check_positive_int("num_samples", num_samples)
        if m1 is not None and (not isinstance(m1, VAE) or isinstance(m1, CVAE)):
            raise ValueError(f"Expected m1 to be a trained, unconditional kerasae VAE (M1 of M1+M2). Received "
                             f"{type(m1).__name__}. Fix: pass a kerasae.VAE (or IWAE), or m1=None for M2 alone.")
        kwargs.pop("reconstruction_loss", None)  # implied by the likelihood
        kwargs.pop("output_activation", None)
        bernoulli = likelihood == "bernoulli"
        super().__init__(encoder, decoder, reconstruction_loss="bce" if bernoulli else "mse",
                         output_activation="sigmoid" if bernoulli else "linear", l2=l2, **kwargs)
        # === Config ===
        self.classifier = classifier
        self.m1 = m1
        if m1 is not None:
            m1.trainable = False
        elif m1_units is not None:
            raise ValueError("m1_units selects units of M1's code, and m1 is None. Fix: pass m1, or drop m1_units.")
        self.m1_units = m2_parts.check_units(m1_units, m1.latent_dim) if m1 is not None else None
        self.m1_samples = bool(m1_samples)
        self.num_classes = check_int("num_classes", num_classes if num_classes is not None else _width(classifier),
                                     minimum=2, hint="the classifier's output width")
        self._latent_dim = check_positive_int(
            "latent_dim", latent_dim if latent_dim is not None else _width(decoder, "inputs") - self.num_classes)
        self.likelihood = likelihood
        self.likelihood_scale = float(likelihood_scale)
        self.alpha = float(alpha)
        self.num_samples = num_samples
        self.min_scale = float(min_scale)
        self.seed = seed
        self._check_networks()
        # === Distribution layers (attributes, called on the networks' outputs) ===
        self.posterior_layer = dists.IndependentNormal(self._latent_dim, min_scale=min_scale, name="posterior")
        shape = self.feature_shape
        self.likelihood_layer = dists.likelihood_layer(likelihood, shape, likelihood_scale)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.built = all(getattr(net, "built", False) for net in (classifier, encoder, decoder))

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, input_shape, latent_dim, num_classes, architecture="mlp", hidden_units=None,
               classifier_hidden_units=None, activation="relu", dropout=0.0, filters=None, m1=None, m1_units=None,
               **kwargs):
        """Builds the three networks with :func:`kerasae.networks.build` and the model (uncompiled).

        ``input_shape``: one example's (ignored with ``m1``: MLPs model its ``m1_units``); ``hidden_units``: the
        encoder's widths, mirrored by the decoder (``None``: the builder's default for ``latent_dim``);
        ``classifier_hidden_units``: the classifier's (``None``: ``hidden_units``); ``architecture``,
        ``activation``, ``dropout``, ``filters``: as for :func:`kerasae.networks.build`; ``**kwargs``: the
        model's other constructor arguments (``likelihood``, ``alpha``, ...).
        """
        if m1 is not None:
            m1_units = m2_parts.check_units(m1_units, m1.latent_dim)
            shape = (m2_parts.code_width(m1_units, m1.latent_dim),)
        else:
            shape = tuple(int(d) for d in input_shape)
        architecture = "mlp" if m1 is not None else architecture
        k = check_int("num_classes", num_classes, minimum=2)
        options = {"activation": activation, "dropout": dropout}
        if architecture == "conv" and filters is not None:
            options["filters"] = tuple(filters)
        if architecture == "mlp":
            hidden_units = networks.default_hidden_units(math.prod(shape), latent_dim) if hidden_units is None \
                else tuple(hidden_units)
            options["hidden_units"] = hidden_units
        classifier_options = dict(options)
        if architecture == "mlp" and classifier_hidden_units is not None:
            classifier_options["hidden_units"] = tuple(classifier_hidden_units)
        classifier, _ = networks.build(architecture, shape, k, name="m2_classifier", **classifier_options)
        encoder, _ = networks.build(architecture, shape[:-1] + (shape[-1] + k,), 2 * latent_dim, name="m2", **options)
        _, decoder = networks.build(architecture, shape, latent_dim + k, name="m2", **options)
        return cls(classifier, encoder, decoder, num_classes=k, latent_dim=latent_dim, m1=m1, m1_units=m1_units,
                   **kwargs)

    def _check_networks(self):
        k, d, shape = self.num_classes, self._latent_dim, self.feature_shape
        if shape is None:
            raise ValueError(f"Expected the classifier to be a functional Keras model (its input gives the data's "
                             f"shape). Received {type(self.classifier).__name__}. Fix: build it with "
                             "kerasae.networks.build(...), or use M2.create(...).")
        expected = {
            "classifier output": (_width(self.classifier), k),
            "encoder input": (_shape(self.encoder, "inputs"), shape[:-1] + (shape[-1] + k,)),
            "encoder output": (_width(self.encoder), 2 * d),
            "decoder input": (_width(self.decoder, "inputs"), d + k),
            "decoder output": (_shape(self.decoder), shape),
        }
        if self.m1 is not None:
            expected["classifier input"] = (shape, (m2_parts.code_width(self.m1_units, self.m1.latent_dim),))
        wrong = [f"{name} {got} (expected {want})" for name, (got, want) in expected.items()
                 if got is not None and got != want]
        if wrong:
            raise ValueError(f"M2's networks do not fit together: {'; '.join(wrong)}, for K={k} classes, a "
                             f"{d}-dimensional z and data of shape {shape}. Fix: build them with M2.create(...).")

    # ------------------------------------------------------------------ shapes
    @property
    def feature_shape(self):
        """Shape of what M2 models: one example, or M1's code for M1+M2 (the classifier's input)."""
        return _shape(self.classifier, "inputs")

    @property
    def data_shape(self):
        """Shape of one input example (M1's input for M1+M2)."""
        return tuple(self.m1.data_shape) if self.m1 is not None else self.feature_shape

    @property
    def latent_dim(self):
        """Size of the code ``z``."""
        return self._latent_dim

    @property
    def unit_interval_inputs(self):
        """Why inputs must lie in [0, 1] (the Bernoulli likelihood, M2's or M1's), or None."""
        if self.m1 is not None:
            return self.m1.unit_interval_inputs
        return "the bernoulli likelihood" if self.likelihood == "bernoulli" else None

    # ------------------------------------------------------------------ distributions
    def features(self, x, training=False):
        """What M2 models for inputs ``x``: ``x`` itself, or M1's code on ``m1_units`` (no gradient): a fresh draw
        ``z1 ~ q(z1|x)`` in training with ``m1_samples``, the posterior mean ``E_q[z1|x]`` otherwise."""
        if self.m1 is None:
            return tf.cast(x, "float32")
        return m2_parts.m1_codes(self.m1, x, self.m1_units, training and self.m1_samples, self.seed_generator)

    def prior(self):
        """``p(z) = N(0, I)``."""
        zeros = tf.zeros((self._latent_dim,), "float32")
        return tfd.Independent(tfd.Normal(zeros, tf.ones_like(zeros)), reinterpreted_batch_ndims=1)

    def _posterior(self, features, y, training=False):
        """``q(z|x, y)`` for features ``(n, ...)`` and one-hot rows ``y`` ``(n, K)``."""
        y = tf.cast(y, "float32")
        for _ in range(len(features.shape) - 2):  # images: the condition as extra channels, tiled
            y = y[:, None]
        y = tf.broadcast_to(y, tf.concat([tf.shape(features)[:-1], [self.num_classes]], axis=0))
        return self.posterior_layer(self.encoder(tf.concat([features, y], axis=-1), training=training))

    def _likelihood(self, z, y, training=False):
        """``p(x|y, z)`` for codes ``(..., n, latent_dim)`` and one-hot rows ``y`` ``(n, K)`` (batch shape
        ``z.shape[:-1]``)."""
        z = tf.cast(z, "float32")
        y = tf.broadcast_to(tf.cast(y, "float32"), tf.concat([tf.shape(z)[:-1], [self.num_classes]], axis=0))
        flat = tf.reshape(tf.concat([z, y], axis=-1), (-1, self._latent_dim + self.num_classes))
        outputs = tf.cast(self.decoder(flat, training=training), "float32")
        tail = tf.constant(tuple(outputs.shape[1:]), "int32")
        return self.likelihood_layer(tf.reshape(outputs, tf.concat([tf.shape(z)[:-1], tail], axis=0)))

    def _sample_codes(self, posterior):
        """``num_samples`` reparameterised draws ``(S, n, latent_dim)`` from ``posterior``."""
        return sampling.reparameterized_sample(posterior, self.num_samples, sampling.next_seed(self.seed_generator))

    def class_logits(self, x, training=False):
        """The classifier's logits ``(n, K)`` (float32) for inputs ``x``."""
        return tf.cast(self.classifier(self.features(x), training=training), "float32")

    def negative_elbo(self, features, y, training=False):
        """``L(x, y)`` per row: ``-(1/S) sum_s log p(x|y, z_s) + KL(q(z|x, y) || p(z)) + log K`` (``-log p(y)``).

        Args:
            features: What M2 models (:meth:`features`), ``(n, ...)``.
            y: One-hot rows ``(n, K)``.

        Returns:
            A float32 tensor ``(n,)``.
        """
        posterior = self._posterior(features, y, training=training)
        likelihood = self._likelihood(self._sample_codes(posterior), y, training=training)
        nll = -tf.reduce_mean(likelihood.log_prob(features), axis=0)
        return nll + tfd.kl_divergence(posterior, self.prior()) + math.log(self.num_classes)

    def class_bounds(self, features, training=False):
        """``L(x, y)`` for every class ``y`` of every example, ``(n, K)``: one pass over the batch tiled ``K``
        times (rows ``k n + i``: example ``i`` with class ``k``)."""
        k = self.num_classes
        n = tf.shape(features)[0]
        tiled = tf.tile(features, tf.concat([[k], tf.ones([len(features.shape) - 1], "int32")], axis=0))
        classes = tf.reshape(tf.broadcast_to(tf.eye(k)[:, None, :], tf.stack([k, n, k])), (-1, k))
        return tf.transpose(tf.reshape(self.negative_elbo(tiled, classes, training=training), tf.stack([k, n])))

    # ------------------------------------------------------------------ objective
    def targets(self, x, y):
        """The labels of the batch, ``(batch,)`` int32, ``-1`` for unlabelled; ``fit(x)`` alone: none labelled."""
        if y is None:
            return ops.full((ops.shape(x)[0],), UNLABELLED, dtype="int32")
        if len(y.shape) == 2 and y.shape[-1] == 1:
            y = ops.squeeze(y, axis=-1)
        if len(y.shape) != 1:
            raise ValueError(f"M2 expects integer class labels of shape (batch,), -1 for unlabelled examples. "
                             f"Received labels of shape {tuple(y.shape)}. Fix: pass class indices, not one-hot rows.")
        return ops.cast(y, "int32")

    def compute_loss_terms(self, x, target, training=False):
        """The per-example terms (see the class) and the classifier's logits.

        Returns:
            ``(terms, logits)``: ``labelled_loss`` (``mask_n L(x_n, y_n)``), ``unlabelled_loss`` (``(1 - mask_n)
            U(x_n)``), ``classification_loss`` (``mask_n CE_n |B| / max(|L|, 1)``, whose batch mean is the labelled
            mean; ``alpha`` weighs it in :meth:`combine_loss_terms`) and ``elbo`` (``-U(x_n)``, every example).
        """
        features = self.features(x, training=training)  # with M1: the classifier sees the same draw (authors' code)
        logits = tf.cast(self.classifier(features, training=training), "float32")
        log_q = tf.nn.log_softmax(logits)
        q = tf.exp(log_q)
        bounds = self.class_bounds(features, training=training)  # (n, K)
        unlabelled = tf.reduce_sum(q * bounds, axis=-1) + tf.reduce_sum(q * log_q, axis=-1)  # E_q[L] - H(q)
        labels = tf.cast(target, "int32")
        mask = tf.cast(tf.not_equal(labels, UNLABELLED), "float32")
        one_hot = tf.one_hot(tf.where(tf.equal(labels, UNLABELLED), 0, labels), self.num_classes, dtype="float32")
        batch = tf.cast(tf.shape(mask)[0], "float32")
        terms = {
            "labelled_loss": mask * tf.reduce_sum(one_hot * bounds, axis=-1),
            "unlabelled_loss": (1.0 - mask) * unlabelled,
            "classification_loss": mask * -tf.reduce_sum(one_hot * log_q, axis=-1) * batch / tf.maximum(
                tf.reduce_sum(mask), 1.0),
            "elbo": -unlabelled,
        }
        return terms, logits

    def combine_loss_terms(self, terms):
        """``labelled + unlabelled + alpha * classification`` per example (``elbo`` is a diagnostic)."""
        return terms["labelled_loss"] + terms["unlabelled_loss"] + self.alpha * terms["classification_loss"]

    def update_metrics(self, terms, per_example_loss, regularization, target, prediction, sample_weight):
        """Each term over the examples it concerns (labelled, unlabelled, all); returns the labelled mask (times
        any sample weight), the weight compiled metrics see."""
        labels = tf.cast(target, "int32")
        mask = tf.cast(tf.not_equal(labels, UNLABELLED), "float32")
        weight = (lambda m: m) if sample_weight is None else (
            lambda m: m * tf.reshape(tf.cast(sample_weight, "float32"), (-1,)))
        self.loss_tracker.update_state(per_example_loss, sample_weight=sample_weight)
        cross_entropy, _, correct = _supervised_per_example("classification", labels, prediction)
        for name, value, w in (("labelled_loss", terms["labelled_loss"], weight(mask)),
                               ("unlabelled_loss", terms["unlabelled_loss"], weight(1.0 - mask)),
                               ("classification_loss", cross_entropy, weight(mask)),
                               ("elbo", terms["elbo"], sample_weight)):
            self.term_trackers[name].update_state(value, sample_weight=w)
        if "regularization_loss" in self.term_trackers:
            self.term_trackers["regularization_loss"].update_state(regularization)
        self.accuracy_tracker.update_state(correct, sample_weight=weight(mask))
        return weight(mask)

    # ------------------------------------------------------------------ API
    def one_hot(self, labels, n=None):
        """Class indices ``(n,)``, one class (an int, repeated ``n`` times) or one-hot rows ``(n, K)``, as one-hot
        rows."""
        if tf.is_tensor(labels) and labels.shape.rank == 2:  # one-hot rows, also symbolic (export)
            return tf.cast(labels, "float32")
        labels = np.asarray(labels)
        if labels.ndim == 2:
            return tf.cast(labels, "float32")
        if labels.ndim == 0:
            labels = np.full((1 if n is None else int(n),), labels)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes or np.any(labels != np.round(labels))):
            raise ValueError(f"Expected class indices in [0, {self.num_classes}). Received: {labels.tolist()!r}")
        return tf.one_hot(labels.astype("int64"), self.num_classes, dtype="float32")

    def predict_proba(self, x, batch_size=256):
        """Class probabilities ``q(y|x)``, a numpy array ``(n, K)`` (inference mode)."""
        batch_size, x = check_positive_int("batch_size", batch_size), np.asarray(x, "float32")
        return np.concatenate([keras.ops.convert_to_numpy(tf.nn.softmax(self.class_logits(x[i:i + batch_size])))
                               for i in range(0, len(x), batch_size)], axis=0)

    def predict_labels(self, x, batch_size=256):
        """Predicted classes ``argmax_y q(y|x)``, ``(n,)``."""
        return self.predict_proba(x, batch_size).argmax(axis=-1)

    def _split(self, x, condition):
        if condition is None and isinstance(x, (tuple, list)) and len(x) == 2:
            x, condition = x
        features = self.features(x)
        if condition is None:  # the predicted class
            condition = tf.one_hot(tf.argmax(self.classifier(features), axis=-1), self.num_classes, dtype="float32")
        return features, self.one_hot(condition, tf.shape(features)[0])

    def encode(self, x, condition=None, training=False):
        """``q(z|x, y)``, a ``tfp`` distribution with batch shape ``(n,)``: under ``condition`` (a class, class
        indices or one-hot rows; ``x`` may also be the pair ``(x, condition)``), else under the predicted class."""
        features, y = self._split(x, condition)
        return self._posterior(features, y, training=training)

    def encode_mean(self, x, condition=None):
        """The posterior mean ``E_q[z|x, y]`` as a numpy array ``(n, latent_dim)`` (see :meth:`encode`)."""
        return keras.ops.convert_to_numpy(self.encode(x, condition).mean())

    def decode(self, z, condition=None, training=False):
        """``E[x|y, z]`` in data space (decoded through M1 for M1+M2), a tensor; ``condition``: a class, class
        indices or one-hot rows."""
        if condition is None:
            raise ValueError("M2.decode needs the class: an int, class indices or one-hot rows.")
        z = tf.cast(z, "float32")
        mean = self._likelihood(z, self.one_hot(condition, tf.shape(z)[0]), training=training).mean()
        if self.m1 is None:
            return mean
        return self.m1.decode(m2_parts.full_code(mean, self.m1_units, self.m1.latent_dim))

    def reconstruct(self, x, condition=None):
        """``E[x|y, z = E_q[z|x, y]]`` under ``condition``, else under the predicted class."""
        features, y = self._split(x, condition)
        return self.decode(self._posterior(features, y).mean(), y)

    def call(self, inputs, training=None):
        features, y = self._split(inputs, None)
        return self.decode(self._posterior(features, y, training=training).mean(), y, training=training)

    def generate(self, labels, z=None, seed=None):
        """Class-conditional generation: a chosen class with a chosen style.

        Args:
            labels: Class indices ``(n,)`` (or one class, an int, for ``n = len(z)``), or one-hot rows.
            z: Style codes ``(n, latent_dim)``, or one ``(latent_dim,)``/``(1, latent_dim)`` code for every label
                (e.g. ``encode_mean`` of an example); ``None`` draws ``z ~ N(0, I)``.
            seed: Optional int seed of those draws.

        Returns:
            A numpy array ``(n, *data_shape)`` of likelihood means.
        """
        if z is not None:
            z = np.asarray(z, "float32").reshape(-1, self._latent_dim)
        n = len(z) if z is not None and np.ndim(labels) == 0 else None
        y = self.one_hot(labels, n)
        count = int(y.shape[0])
        if z is None:
            seed = seed if seed is not None else self.seed_generator
            z = keras.ops.convert_to_numpy(keras.random.normal((count, self._latent_dim), seed=seed))
        elif len(z) == 1:
            z = np.repeat(z, count, axis=0)
        if len(z) != count:
            raise ValueError(f"Expected one style code per label, or one for all. Received {len(z)} codes for "
                             f"{count} labels.")
        return keras.ops.convert_to_numpy(self.decode(z, y))

    # ------------------------------------------------------------------ export
    def export_signatures(self):
        """``classify`` (``x -> probabilities``, ``(batch, K)``), then the conditional signatures of the
        :class:`~kerasae.models.cvae.CVAE` with ``condition`` the one-hot class ``(batch, K)``: ``encode(x,
        condition) -> mean, scale`` of ``q(z|x, y)``, ``decode(z, condition) -> reconstruction``,
        ``reconstruct(x, condition)``, and (SavedModels) ``sample(condition)``, one draw per row."""
        return m2_parts.export_signatures(self)

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        config.pop("reconstruction_loss", None)
        config.pop("output_activation", None)
        serialize = keras.saving.serialize_keras_object
        names = ("num_classes", "likelihood", "likelihood_scale", "alpha", "num_samples", "m1_samples", "min_scale",
                 "seed")
        m1 = None if self.m1 is None else {**serialize(self.m1), "compile_config": None}  # frozen: no optimizer
        config.update(classifier=serialize(self.classifier), m1=m1, m1_units=None if self.m1_units is None else
                      list(self.m1_units),
                      latent_dim=self._latent_dim, **{name: getattr(self, name) for name in names})
        return config

