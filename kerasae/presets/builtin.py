"""Where the built-in presets are: the repository's top-level ``presets/`` folder, one folder per preset.

``pyproject.toml`` maps that folder into the installed package as the data-only package
``kerasae._builtin_presets`` (``package-dir``, with ``package-data`` globs for its files), so that a plain
``pip install .`` ships the presets inside the package and an editable install points at the repository's
folder. Both are found with :mod:`importlib.resources`; a source checkout imported without installing (an
older editable install, ``PYTHONPATH``) falls back to the ``presets/`` folder beside the ``kerasae`` package when
that folder's parent holds kerasae's ``pyproject.toml``. Nothing here imports TensorFlow.
"""

import importlib.resources
import os

from kerasae.presets import cards

#: The package the built-in presets are installed as (see pyproject.toml).
PACKAGE = "kerasae._builtin_presets"


def _checkout_root():
    """``presets/`` of the source checkout kerasae is imported from, or None."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../kerasae
    parent = os.path.dirname(package_dir)
    folder = os.path.join(parent, "presets")
    if os.path.isfile(os.path.join(parent, "pyproject.toml")) and os.path.isdir(folder):
        return folder
    return None


def roots():
    """The folders that hold built-in presets (usually one): the installed package data, else the source
    checkout's ``presets/``; ``[]`` when there is neither."""
    found = []
    try:
        resources = importlib.resources.files(PACKAGE)
    except (ModuleNotFoundError, TypeError):  # not installed with the mapping (TypeError: no spec / location)
        resources = None
    if resources is not None:
        try:
            children = list(resources.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            children = []
        # The package's folders are real folders (kerasae is never installed zipped); a namespace package may
        # span several, each child tells its own.
        for child in children:
            parent = os.path.dirname(os.fspath(child))
            if parent not in found:
                found.append(parent)
    if not found:
        checkout = _checkout_root()
        if checkout is not None:
            found.append(checkout)
    return found


def folders():
    """``{name: folder}`` of every built-in preset: each sub-folder of :func:`roots` holding a ``card.json``."""
    presets = {}
    for root in roots():
        for name in sorted(os.listdir(root)):
            folder = os.path.join(root, name)
            if name not in presets and os.path.isfile(os.path.join(folder, cards.CARD)):
                presets[name] = folder
    return presets


def names():
    """The names of the built-in presets, sorted (``[]`` when there is none)."""
    return sorted(folders())


def folder(name):
    """The folder of the built-in preset ``name``, or None."""
    return folders().get(name)
