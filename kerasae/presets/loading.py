"""Loading presets: a built-in name, a local folder, or an archive URL, each checked against its card first.

:func:`folder` finds a preset and checks every file against its card's sha256 (:func:`kerasae.presets.cards.verify`)
before anything is built from it; :func:`load` then rebuilds the model from ``config.json`` in Keras safe mode
(no code from the file runs), builds it, and loads ``model.weights.h5``. A preset that fails a check is one
``ValueError`` and nothing is returned: never a model with some of its weights.
"""

import json
import os

from kerasae.presets import archives, builtin
from kerasae.presets import cards


def _unknown(text):
    names = builtin.names()
    known = ", ".join(repr(n) for n in names) if names else "none in this installation"
    return ValueError(
        f"Unknown preset {text!r}. Expected a built-in preset name (kerasae.presets.list(): {known}), a folder "
        "holding a preset (its card.json), or an https:// or file:// URL of a .tar.gz/.zip archive with sha256=. "
        "Fix: pick one of those."
    )


def folder(name_or_path, sha256=None):
    """The folder of a preset, checked against its card.

    Args:
        name_or_path: A built-in preset's name (:func:`kerasae.presets.list`), a local folder holding a preset,
            or an ``https://`` / ``file://`` URL of a ``.tar.gz`` / ``.zip`` archive of one (fetched into the
            Keras cache with ``keras.utils.get_file``, see :mod:`kerasae.presets.archives`).
        sha256: The archive's expected sha256, required with a URL (and only there).

    Returns:
        The preset's folder (a string).

    Raises:
        ValueError: for an unknown name, a missing folder, a URL without ``sha256``, or a preset whose files do
            not match its card (each on one line).
    """
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or not name_or_path:
        raise ValueError(
            f"Expected a preset name, folder or URL (a string). Received: name_or_path={name_or_path!r}. Fix: "
            "e.g. kerasae.presets.load(kerasae.presets.list()[0])."
        )
    if archives.is_url(name_or_path):
        return archives.fetch(name_or_path, sha256)  # checked against its card there
    if sha256 is not None:
        raise ValueError(
            f"sha256= checks an archive fetched from a URL; {name_or_path!r} is a name or a folder, whose files are "
            "checked against its card.json. Fix: drop sha256=, or pass the archive's URL."
        )
    looks_like_path = os.sep in name_or_path or name_or_path.startswith(".") or (os.altsep or os.sep) in name_or_path
    found = None if looks_like_path else builtin.folder(name_or_path)
    if found is None and os.path.isdir(name_or_path):
        found = name_or_path
    if found is None:
        if looks_like_path:
            raise ValueError(
                f"No preset folder at {os.path.abspath(name_or_path)}. Expected a folder holding a preset's "
                "card.json. Fix: check the path, or pass a built-in name (kerasae.presets.list())."
            )
        raise _unknown(name_or_path)
    cards.verify(found)
    return os.path.abspath(found)


def card(name_or_path, sha256=None):
    """A preset's card (``card.json``) as a dict, after checking every file against it (see :func:`folder`)."""
    return cards.read_card(folder(name_or_path, sha256))


def _error(preset, what, err):
    text = " ".join(str(err).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return ValueError(
        f"The preset {preset} could not be {what} ({type(err).__name__}: {text}). Its files match its card, so it "
        "was written by another kerasae or Keras version, or badly. Fix: use the versions its card.json records, "
        "or write the preset again."
    )


def rebuild(config):
    """A built, uncompiled model from a preset's ``config.json`` dict, in Keras safe mode (no pickled code)."""
    import keras
    import numpy as np

    import kerasae.models  # noqa: F401 - registers every kerasae model with Keras' serialization
    from kerasae.export import signatures

    config = {k: v for k, v in config.items() if k != "compile_config"}
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    # One call on zeros creates every variable (those of distribution layers too) before the weights load.
    table = signatures.signature_table(model)
    x = np.zeros((1, *signatures.input_shape(table)), "float32")
    k = signatures.condition_width(table)
    model(x if k is None else (x, np.zeros((1, k), "float32")), training=False)
    return model


def load_from_folder(preset):
    """``(model, card)`` of a preset folder already checked against its card (:func:`folder` checks it)."""
    card_ = cards.read_card(preset)
    try:
        with open(os.path.join(preset, cards.CONFIG), "rb") as f:
            config = json.loads(f.read().decode("utf-8"))
        model = rebuild(config)
    except Exception as err:  # noqa: BLE001 - one line, naming the preset
        raise _error(preset, "rebuilt from config.json", err) from err
    if type(model).__name__ != card_["family"]:
        raise ValueError(
            f"The preset {preset} rebuilds a {type(model).__name__}, but its card says family {card_['family']!r}. "
            "Fix: write the preset again."
        )
    try:
        model.load_weights(os.path.join(preset, cards.WEIGHTS))
    except Exception as err:  # noqa: BLE001
        raise _error(preset, "given its weights", err) from err
    return model, card_


def load(name_or_path, sha256=None):
    """Loads a preset: the Keras model with its trained weights, uncompiled.

    To fine-tune it, compile it and fit: its ``train_step`` is its family's (the VAE's objective for a VAE),
    e.g. ``model.compile(optimizer=keras.optimizers.Adam(1e-4)); model.fit(x, epochs=5)``. The optimizer starts
    afresh: presets hold no optimizer state.

    Args:
        name_or_path: A built-in name, a local preset folder, or an ``https://`` / ``file://`` archive URL (see
            :func:`folder`).
        sha256: The archive's expected sha256, required with a URL.

    Returns:
        The model (a kerasae model: ``encode``, ``decode``, ``log_likelihood`` for the VAE family, ...).

    Raises:
        ValueError: for an unknown preset, a file that does not match the card (a changed byte, a missing or
            extra file), a wrong archive sha256, or a truncated archive; nothing is returned then.

    Example:
        >>> model = kerasae.presets.load("vae-mnist")
        >>> model = kerasae.presets.load("file:///data/vae-mnist.tar.gz", sha256="<64 hex digits>")
    """
    return load_from_folder(folder(name_or_path, sha256))[0]
