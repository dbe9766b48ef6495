"""The signature table of an export: what each artifact holds, as the model declares it.

A kerasae model declares its exported functions with :meth:`kerasae.Autoencoder.export_signatures` (name ->
:class:`~kerasae.models.autoencoder.ExportSignature`); export reads that table and never inspects the model
otherwise. Inputs: ``x``, a batch ``(batch, *input_shape)``, float32; ``z``, codes ``(batch, code_size)``;
``condition``, one-hot rows ``(batch, num_classes)``, float32, for conditional models only; the batch dimension
is polymorphic.

=================== ===================== =====================================================================
signature           inputs                outputs
=================== ===================== =====================================================================
``encode``          ``x``                 ``code``; for a probabilistic encoder (a VAE's posterior): ``mean``
                                          and ``scale`` (the posterior's standard deviation), plus
                                          ``scale_tril`` for a full-covariance posterior; for a flow posterior
                                          (``posterior="iaf"``, whose mean has no closed form): ``code`` (the
                                          flow's image of the base mean, what ``reconstruct`` decodes: pass it
                                          to ``decode``), ``base_mean``, ``base_scale`` and the flow's
                                          ``context``
``decode``          ``z``                 ``reconstruction`` (the likelihood's mean for a probabilistic decoder)
``reconstruct``     ``x``                 ``reconstruction``; also exported as ``serving_default``
``sample``          ``n`` (int32 scalar)  ``samples``, ``(n, *input_shape)``; generative models (VAEs) in
                                          SavedModels only
=================== ===================== =====================================================================

Conditional models (:func:`condition_size` is not None, e.g. :class:`kerasae.CVAE`) take ``condition`` as a
second input in every signature: ``encode(x, condition)``, ``decode(z, condition)``, ``reconstruct(x,
condition)``, and in SavedModels ``sample(condition)``, which draws one sample per condition row (``(n,
num_classes)`` rows give ``(n, *input_shape)`` samples: to draw 16 sevens, pass 16 one-hot rows of class 7).

``part="full"`` exports every declared signature (the first is also ``serving_default``); ``part="encoder"``
exports ``encode`` alone (also as ``serving_default``); ``part="decoder"`` exports ``decode`` (also as
``serving_default``) and, for generative models, ``sample``.
"""

import warnings

import keras
import numpy as np
import tensorflow as tf

from kerasae.export.options import CONDITION

#: The signatures of a part of the model (``"full"``: every declared signature, in the model's order).
PART_SIGNATURES = {"encoder": ("encode",), "decoder": ("decode", "sample")}


def signature_table(model):
    """``model.export_signatures()``, checked: a dict ``name -> ExportSignature`` with ``encode`` and ``decode``.

    Raises:
        ValueError: for a model that does not declare its signatures (not a kerasae model).
    """
    declare = getattr(model, "export_signatures", None)
    if not callable(declare):
        raise ValueError(
            f"kerasae exports kerasae models (Autoencoder and its subclasses); received {type(model).__name__}, "
            f"which does not declare its signatures (export_signatures()). The kerasae models: "
            f"{', '.join(exportable())}. Fix: wrap the networks in a kerasae model, e.g. "
            "kerasae.Autoencoder(encoder, decoder), or export a plain Keras model with keras.export."
        )
    table = dict(declare())
    missing = [name for name in ("encode", "decode") if name not in table]
    if missing:
        raise ValueError(
            f"Expected {type(model).__name__}.export_signatures() to declare 'encode' and 'decode'. "
            f"Received {sorted(table)}."
        )
    return table


def exportable():
    """The names of the kerasae model classes that export declares signatures for."""
    import kerasae.models as zoo

    return [name for name in zoo.__all__ if issubclass(getattr(zoo, name), zoo.Autoencoder)]


def output_names(signature):
    """The output names of a deterministic signature, from one call on a row of zeros (no data needed)."""
    zeros = [tf.zeros((1, *spec.shape[1:]), spec.dtype) for spec in signature.specs]
    return sorted(signature.fn(*zeros))


def select(table, part):
    """The ``(name, ExportSignature)`` pairs of one exported part, in order (the first is also ``serving_default``)."""
    if part == "full":
        return list(table.items())
    return [(name, table[name]) for name in PART_SIGNATURES[part] if name in table]


def _spec(table, signature, name):
    return next((spec for spec in table[signature].specs if spec.name == name), None)


def input_shape(table):
    """Shape of one example (without the batch axis): the ``x`` input of the ``encode`` signature."""
    spec = _spec(table, "encode", "x")
    shape = None if spec is None else tuple(spec.shape[1:])
    if not shape or any(d is None or d < 1 for d in shape):
        raise ValueError(f"Expected a model with a fully defined input shape. Received input shape {shape}.")
    return tuple(int(d) for d in shape)


def code_size(table):
    """Width of the codes: the ``z`` input of the ``decode`` signature."""
    return int(_spec(table, "decode", "z").shape[-1])


def condition_width(table):
    """Width of the ``condition`` input of the ``encode`` signature, or None (an unconditional model)."""
    spec = _spec(table, "encode", CONDITION)
    return None if spec is None else int(spec.shape[-1])


def input_shape_of(model):
    """Shape of one example (without the batch axis) that the model's ``encode`` signature takes as ``x``."""
    return input_shape(signature_table(model))


def condition_size(model):
    """Width ``K`` of a conditional model's one-hot condition, or None for an unconditional model.

    A model is conditional when its ``encode`` signature (:meth:`~kerasae.Autoencoder.export_signatures`)
    takes the input ``condition``; every signature then takes it, one-hot rows ``(batch, K)``, float32.

    Example:
        >>> kerasae.export.condition_size(kerasae.CVAE.create((64,), 8, num_classes=10))
        10
    """
    return condition_width(signature_table(model))


def feed(signature, inputs):
    """A signature's inputs by name, from a dict holding (at least) all of them."""
    return {name: inputs[name] for name in signature.input_names}


def keras_outputs(signatures, inputs):
    """``{name: {output: numpy array}}``: each deterministic signature run eagerly, in Keras, on ``inputs``."""
    return {
        name: {key: np.asarray(value) for key, value in sig.fn(*feed(sig, inputs).values()).items()}
        for name, sig in signatures
        if not sig.random
    }


def write_saved_model(signatures, path):
    """Writes the ``(name, ExportSignature)`` pairs as a SavedModel at ``path``; the first is also ``serving_default``.

    A random signature that cannot be traced (a sampler written for eager mode) is left out with a warning.
    """
    archive = keras.export.ExportArchive()
    for name, sig in signatures:
        try:
            if sig.random:  # trace it first: a sampler written for eager mode is left out, not fatal
                tf.function(sig.fn, input_signature=list(sig.specs)).get_concrete_function()
        except Exception as err:  # noqa: BLE001 - a model method that cannot be traced
            warnings.warn(
                f"The model's sampler could not be traced with symbolic inputs {list(sig.input_names)} "
                f"({type(err).__name__}: {err}); the SavedModel has no {name!r} signature. Draw codes on the "
                "host and call 'decode' instead.",
                stacklevel=3,
            )
            continue
        archive.add_endpoint(name, sig.fn, input_signature=list(sig.specs))
    archive.write_out(path, verbose=False)
