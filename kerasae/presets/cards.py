"""A preset's ``card.json``: its schema, the sha256 of every file, and the check of a folder against its card.

A preset folder holds (names are the constants below)::

    model.weights.h5        the weights only (``model.save_weights`` of an uncompiled copy: no optimizer state)
    config.json             the model's Keras config (``keras.saving.serialize_keras_object``), plain JSON
    README.md               one line: what the preset is and how to load it
    saved_model/            kerasae export's SavedModel (the signatures of ``kerasae export RUN --format saved_model``)
    saved_model.json        the export's metadata (signatures, parity errors, preprocessing, versions)
                            (these two only when the card's ``saved_model`` is ``"included"``, the default: a
                            preset whose weights would make the two copies too large for the built-in budget is
                            written with ``"on_demand"``, and :func:`kerasae.presets.saved_model` exports it once,
                            from the checked weights, into the Keras cache)
    card.json               what the preset is (below)
    .kerasae                kerasae's marker of a folder it wrote (optional; lets ``write(..., overwrite=True)``
                            replace it)

The card (see :data:`CARD_KEYS`)::

    {
      "format": "kerasae-preset", "format_version": 1,
      "name": "vae-mnist",                        the preset's name (a built-in's folder name)
      "description": "...",                       one line, also the README's
      "family": "VAE",                            the model class (kerasae.VAE)
      "registered_name": "kerasae>VAE",           its name in Keras' serialization registry
      "architecture": {...},                      input_shape, latent_dim, parameters, options (the model's
                                                  scalar config), encoder / decoder layers ("Dense(200, tanh)")
      "data": {"dataset": "mnist",                a kerasae.datasets.load name (or the path trained on)
               "load": {"flatten": true, ...},    kerasae.datasets.load's keyword arguments that rebuild the
                                                  splits (None when they cannot be rebuilt)
               "input_shape": [784], "scaling": "...",
               "preprocessing": "...; dynamic binarisation in training; test set: one fixed Bernoulli draw, seed 1"},
      "training": {"command": "kerasae train vae ...", "epochs": 100, "seconds": 812.5},
      "figures": [{"metric": "log_likelihood", "value": -97.1, "split": "test", "n_examples": 200,
                   "num_samples": 1000, "seed": 0, "command": "python -c ..."}, ...],
      "versions": {"kerasae": "0.1.0", "tensorflow": "...", "keras": "...", ...},
      "files": {"config.json": "<sha256>", "saved_model/saved_model.pb": "<sha256>", ...},
      "size_bytes": 123456,                       the total size of the files listed in "files"
      "saved_model": "included"                   or "on_demand" (optional; absent means "included")
      "weights_dtype": "float32"                  or "float16": how model.weights.h5 stores the weights (optional;
                                                  absent means "float32"); float16 halves the file, and loading
                                                  casts back to the model's float32 (the figures are the
                                                  float16-rounded model's, unless a figure's command says otherwise)
    }

``files`` lists every file of the folder but ``card.json`` itself and the marker, by its path relative to the
folder (``/``-separated). :func:`verify` recomputes every sha256 before anything is built from the folder: a
changed, missing or unlisted file is one ``ValueError`` naming it. Nothing here imports TensorFlow.
"""

import hashlib
import json
import os
import re

from kerasae.utils import files as file_utils
from kerasae.utils import validation

CARD = "card.json"
CONFIG = "config.json"
WEIGHTS = "model.weights.h5"
README = "README.md"
SAVED_MODEL = "saved_model"
SAVED_MODEL_METADATA = "saved_model.json"
#: Files every preset's card lists (the SavedModel's own files come with ``saved_model/saved_model.pb``).
REQUIRED_FILES = (CONFIG, WEIGHTS, README, f"{SAVED_MODEL}/saved_model.pb")
#: The card's ``saved_model``: the SavedModel is in the folder, or exported on first use.
SAVED_MODEL_INCLUDED = "included"
SAVED_MODEL_ON_DEMAND = "on_demand"
#: The card's ``weights_dtype``: how the weights file stores the weights.
WEIGHTS_DTYPES = ("float32", "float16")
#: Entries a preset folder may hold that its card does not list.
UNLISTED = (CARD, file_utils.MARKER)

FORMAT = "kerasae-preset"
FORMAT_VERSION = 1
#: The keys of a card, in the order they are described above.
CARD_KEYS = ("format", "format_version", "name", "description", "family", "registered_name", "architecture", "data",
             "training", "figures", "versions", "files", "size_bytes")
#: The keys of each entry of ``figures``.
FIGURE_KEYS = ("metric", "value", "split", "n_examples", "num_samples", "seed", "command")
#: The keys of ``data`` and ``training``.
DATA_KEYS = ("dataset", "load", "input_shape", "scaling", "preprocessing")
TRAINING_KEYS = ("command", "epochs", "seconds")

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_FIX = ("Fix: restore the preset (reinstall kerasae, fetch the archive again) or write it again with "
        "kerasae.presets.write.")


def sha256_file(path, chunk_size=1 << 20):
    """The sha256 of a file, as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_files(folder):
    """``[relative path]`` of every file below ``folder`` (``/``-separated, sorted), links included as files."""
    found = []
    for here, dirs, names in os.walk(folder):
        dirs.sort()
        for name in names + [d for d in dirs if os.path.islink(os.path.join(here, d))]:
            found.append(os.path.relpath(os.path.join(here, name), folder).replace(os.sep, "/"))
    return sorted(found)


def hash_files(folder):
    """``{relative path: sha256}`` of every file of a preset folder but the card and the marker."""
    return {rel: sha256_file(os.path.join(folder, rel)) for rel in folder_files(folder) if rel not in UNLISTED}


def total_size(folder, listed):
    """The total size in bytes of the files ``listed`` (relative paths) of ``folder``."""
    return sum(os.path.getsize(os.path.join(folder, rel)) for rel in listed)


def check_name(name):
    """``name`` if it is a valid preset name (lowercase letters, digits, ``.``, ``_``, ``-``; it names a folder)."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(
            f"Expected a preset name of lowercase letters, digits, '.', '_' and '-' (at most 64, starting with a "
            f"letter or digit; it names the preset's folder). Received: name={name!r}. Fix: e.g. name='vae-mnist'."
        )
    return name


def check_sha256(sha256, what="sha256"):
    """``sha256`` in lowercase if it is 64 hex digits."""
    if not isinstance(sha256, str) or not SHA256_PATTERN.match(sha256.strip().lower()):
        raise ValueError(
            f"Expected {what} to be a sha256 of 64 hex digits. Received: {what}={sha256!r}. Fix: pass the sha256 "
            "published with the archive (sha256sum FILE prints it)."
        )
    return sha256.strip().lower()


def check_figure(figure, where="a figure"):
    """A figure entry (a dict with :data:`FIGURE_KEYS`), checked; returns a plain-JSON copy."""
    if not isinstance(figure, dict):
        raise ValueError(f"Expected {where} to be a dict with keys {list(FIGURE_KEYS)}. Received: {figure!r}")
    missing = [key for key in FIGURE_KEYS if key not in figure]
    if missing:
        raise ValueError(
            f"Expected {where} to have the keys {list(FIGURE_KEYS)}; it lacks {missing}. Received: {figure!r}. Fix: "
            "give each figure what reproduces it (num_samples and seed may be None where they do not apply)."
        )
    for key in ("metric", "split", "command"):
        if not isinstance(figure[key], str) or not figure[key]:
            raise ValueError(f"Expected {where}'s {key} to be a non-empty string. Received: {key}={figure[key]!r}")
    out = dict(figure)
    out["value"] = validation.check_number(f"{where}'s value", figure["value"])
    out["n_examples"] = validation.check_positive_int(f"{where}'s n_examples", figure["n_examples"])
    out["num_samples"] = validation.check_positive_int(f"{where}'s num_samples", figure["num_samples"]) \
        if figure["num_samples"] is not None else None
    out["seed"] = validation.check_int(f"{where}'s seed", figure["seed"], minimum=0, optional=True)
    return out


def _check_relative(rel, path):
    parts = rel.split("/")
    if not rel or rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{path} lists the file {rel!r}, which is not a plain path inside the preset folder. {_FIX}")


def saved_model_on_demand(card):
    """Whether the preset's SavedModel is exported on first use (``True``) or shipped in its folder."""
    return card.get("saved_model", SAVED_MODEL_INCLUDED) == SAVED_MODEL_ON_DEMAND


def required_files(card):
    """The files a card must list: :data:`REQUIRED_FILES`, without the SavedModel's when it is exported on demand."""
    saved_model = f"{SAVED_MODEL}/saved_model.pb"
    return tuple(rel for rel in REQUIRED_FILES if not (saved_model_on_demand(card) and rel == saved_model))


def check_card(card, path):
    """Checks what loading relies on in a card read from ``path``: its format, name, family and ``files``
    (``{relative path: sha256}`` listing :data:`REQUIRED_FILES`). Raises ``ValueError`` naming ``path``."""
    if not isinstance(card, dict):
        raise ValueError(f"{path} is not a preset card: a JSON {type(card).__name__}, expected an object. {_FIX}")
    if card.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a kerasae preset card (format={card.get('format')!r}, expected {FORMAT!r}). {_FIX}")
    version = card.get("format_version")
    if not validation.is_int(version) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version={version!r}; this kerasae reads presets of format_version <= {FORMAT_VERSION}. "
            "Fix: upgrade kerasae, or use a preset written by this version."
        )
    for key in ("name", "family"):
        if not isinstance(card.get(key), str) or not card[key]:
            raise ValueError(f"{path} has no {key} (a string). {_FIX}")
    listed = card.get("files")
    if not isinstance(listed, dict) or not listed:
        raise ValueError(f"{path} has no 'files' (relative path -> sha256 of every file). {_FIX}")
    for rel, digest in listed.items():
        _check_relative(rel, path)
        if not isinstance(digest, str) or not SHA256_PATTERN.match(digest):
            raise ValueError(f"{path} lists {rel!r} with sha256 {digest!r}, not 64 hex digits. {_FIX}")
    if card.get("saved_model", SAVED_MODEL_INCLUDED) not in (SAVED_MODEL_INCLUDED, SAVED_MODEL_ON_DEMAND):
        raise ValueError(f"{path} has saved_model={card['saved_model']!r}; expected {SAVED_MODEL_INCLUDED!r} or "
                         f"{SAVED_MODEL_ON_DEMAND!r}. {_FIX}")
    if card.get("weights_dtype", WEIGHTS_DTYPES[0]) not in WEIGHTS_DTYPES:
        raise ValueError(f"{path} has weights_dtype={card['weights_dtype']!r}; expected one of "
                         f"{', '.join(map(repr, WEIGHTS_DTYPES))}. {_FIX}")
    missing = [rel for rel in required_files(card) if rel not in listed]
    if missing:
        raise ValueError(f"{path} does not list {', '.join(missing)}, which every preset holds. {_FIX}")
    if not isinstance(card.get("figures", []), list):
        raise ValueError(f"{path} has 'figures' that is not a list. {_FIX}")
    return card


def read_card(folder):
    """The card of a preset folder as a dict (checked by :func:`check_card`, files not hashed)."""
    folder = os.path.abspath(os.fspath(folder))
    path = os.path.join(folder, CARD)
    if not os.path.isdir(folder):
        raise ValueError(f"No preset folder at {folder}. Expected a folder holding {CARD}. Fix: check the path.")
    if not os.path.isfile(path):
        raise ValueError(
            f"{folder} holds no {CARD}, so it is not a preset. Expected a folder written by kerasae.presets.write "
            "(or benchmarks/make_preset.py). Fix: pass a preset folder, a built-in name (kerasae.presets.list()) or "
            "an archive URL with sha256=."
        )
    try:
        with open(path, "rb") as f:
            card = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise ValueError(f"{path} is not JSON ({reason}), so the preset cannot be checked. {_FIX}") from None
    return check_card(card, path)


def _short(digest):
    return digest[:12]


def verify(folder):
    """Checks a preset folder against its card: every listed file present, a regular file (no link) and of the
    listed sha256; no file that the card does not list (but the card and the marker).

    Returns:
        The card, a dict.

    Raises:
        ValueError: one line naming the files that differ, are missing or are not listed (and the fix).
    """
    folder = os.path.abspath(os.fspath(folder))
    card = read_card(folder)
    problems = []
    for rel, expected in sorted(card["files"].items()):
        path = os.path.join(folder, *rel.split("/"))
        if os.path.islink(path):
            problems.append(f"{rel} is a link")
        elif not os.path.isfile(path):
            problems.append(f"{rel} is missing")
        else:
            actual = sha256_file(path)
            if actual != expected:
                problems.append(f"{rel} has sha256 {_short(actual)}... where the card says {_short(expected)}...")
    on_disk = folder_files(folder)
    extra = [rel for rel in on_disk if rel not in card["files"] and rel not in UNLISTED]
    problems += [f"{rel} is not listed in the card" for rel in extra]
    problems += [f"{rel} is a link" for rel in on_disk if rel in UNLISTED and os.path.islink(os.path.join(folder, rel))]
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        raise ValueError(
            f"The preset {folder} does not match its {CARD} ({shown}), so it was not loaded: it is damaged, "
            f"truncated or was changed. {_FIX}"
        )
    return card
