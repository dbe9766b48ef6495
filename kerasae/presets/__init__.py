"""Presets: trained kerasae models, loadable by name, from a folder, or from an archive URL.

A preset is a folder: the model's weights (no optimizer state), its Keras config, a SavedModel with the
signatures of ``kerasae export`` (``encode``, ``decode``, ``reconstruct``, ``sample``; exported on first use by
:func:`saved_model` for a preset too large to ship its weights twice), and a ``card.json``
saying what it is (family, architecture, data and preprocessing, the training command, the measured figures
with the commands that measure them again, versions, and the sha256 of every file; see
:mod:`kerasae.presets.cards`). Built-in presets live in the repository's ``presets/`` folder and ship inside the
package (:mod:`kerasae.presets.builtin`).

Every way in checks the preset's files against its card before anything is built: a changed byte, a missing
or extra file, an archive whose sha256 differs or that is truncated is one ``ValueError``, never a partial load.

Example:
    >>> kerasae.presets.list()
    ['vae-mnist', ...]
    >>> model = kerasae.presets.load("vae-mnist")              # the Keras model, uncompiled
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-4))   # fine-tune: its train_step is the VAE's
    >>> model.fit(x_train, epochs=1)
    >>> path = kerasae.presets.saved_model("vae-mnist")        # TF-Hub style
    >>> encoder = keras.layers.TFSMLayer(path, call_endpoint="encode")
    >>> kerasae.presets.card("vae-mnist")["figures"]
    >>> model = kerasae.presets.load("https://example.org/vae-mnist.tar.gz", sha256="<64 hex digits>")

Public names (each loads its module on first use):

* :func:`list` (``builtin.names``), :func:`load`, :func:`card`, :func:`saved_model`, :func:`folder`
  (:mod:`~kerasae.presets.loading`);
* :func:`verify` (:mod:`~kerasae.presets.cards`): check a folder against its card;
* :func:`write` (:mod:`~kerasae.presets.writing`), :func:`write_archive` (:mod:`~kerasae.presets.archives`);
* :func:`log_likelihood`, :func:`log_likelihood_figure`, :func:`measure`, :func:`figure`, :func:`test_inputs`
  (:mod:`~kerasae.presets.evaluation`).
"""

import importlib

#: ``public name -> (module, attribute)``.
_NAMES = {
    "list": ("kerasae.presets.builtin", "names"),
    "load": ("kerasae.presets.loading", "load"),
    "card": ("kerasae.presets.loading", "card"),
    "saved_model": ("kerasae.presets.saved_models", "saved_model"),
    "folder": ("kerasae.presets.loading", "folder"),
    "verify": ("kerasae.presets.cards", "verify"),
    "write": ("kerasae.presets.writing", "write"),
    "write_archive": ("kerasae.presets.archives", "write_archive"),
    "log_likelihood": ("kerasae.presets.evaluation", "log_likelihood"),
    "log_likelihood_figure": ("kerasae.presets.evaluation", "log_likelihood_figure"),
    "measure": ("kerasae.presets.evaluation", "measure"),
    "figure": ("kerasae.presets.evaluation", "figure"),
    "test_inputs": ("kerasae.presets.evaluation", "test_inputs"),
}
__all__ = sorted(_NAMES)


def __getattr__(name):
    if name not in _NAMES:
        raise AttributeError(f"module 'kerasae.presets' has no attribute {name!r}")
    module, attribute = _NAMES[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
