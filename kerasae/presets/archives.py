"""Presets as archives: :func:`fetch` brings one from an ``https://`` or ``file://`` URL into the Keras cache,
:func:`write_archive` packs a preset folder for publishing.

Fetching uses Keras' own :func:`keras.utils.get_file`, twice: first to download the archive and check it
against the expected sha256 (``file_hash=``), then with ``extract=True`` to unpack the checked archive (Keras
filters unsafe paths). Both land in ``KERAS_HOME/kerasae_presets/`` (``~/.keras`` without ``KERAS_HOME``), the
archive as ``preset-<sha256>.<ext>`` and its contents in ``preset-<sha256>_extracted/``, so that two archives
never share a folder. The unpacked preset is checked against its card (:func:`kerasae.presets.cards.verify`).
A download that fails, a sha256 that does not match, an archive that is truncated, corrupt or holds no valid
preset: each is one ``ValueError``, and the archive and whatever was unpacked are removed again, so that no
half-extracted preset is left for a later call to accept. Nothing here imports TensorFlow until a fetch runs.
"""

import os
import tarfile
import tempfile
import urllib.parse
import warnings
import zipfile

from kerasae.presets import cards
from kerasae.utils import files as file_utils

#: URL schemes :func:`fetch` accepts.
SCHEMES = ("https", "file")
#: Archive extensions :func:`fetch` accepts (what ``keras.utils.get_file(extract=True)`` unpacks).
EXTENSIONS = (".tar.gz", ".tgz", ".tar", ".zip")
#: The cache sub-folder of ``KERAS_HOME``.
CACHE_SUBDIR = "kerasae_presets"


def is_url(text):
    """Whether ``text`` looks like a URL (``scheme://...``) rather than a name or a path."""
    return isinstance(text, str) and "://" in text


def cache_dir():
    """``KERAS_HOME/kerasae_presets`` (read when called; ``~/.keras`` without ``KERAS_HOME``, and
    ``/tmp/.keras`` when neither can be written, as Keras does)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(_existing(home), os.W_OK):
        home = os.path.join(tempfile.gettempdir(), ".keras")
    return os.path.join(os.path.abspath(home), CACHE_SUBDIR)


def _existing(path):
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _extension(url):
    path = urllib.parse.urlsplit(url).path.lower()
    for ext in EXTENSIONS:
        if path.endswith(ext):
            return ext
    raise ValueError(
        f"Expected the URL of a preset archive ending in {', '.join(EXTENSIONS)}. Received: {url!r}. Fix: pack the "
        "preset with kerasae.presets.write_archive(folder, 'NAME.tar.gz'), or pass the preset's folder."
    )


def _check_url(url, sha256):
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(
            f"Expected an https:// or file:// URL of a preset archive. Received: {url!r}. Fix: use https:// (or "
            "file:// for a local archive), or pass the preset's folder."
        )
    ext = _extension(url)
    if sha256 is None:
        raise ValueError(
            f"Loading a preset from a URL needs its expected sha256 (sha256=...), so that a changed or truncated "
            f"download is refused. Received: sha256=None for {url}. Fix: pass the sha256 published with the archive "
            "(sha256sum FILE prints it; kerasae.presets.write_archive returns it)."
        )
    return ext, cards.check_sha256(sha256)


def _short(err):
    text = " ".join(str(err).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _preset_root(extracted):
    """The folder of the extracted preset: the extraction folder itself, or its single sub-folder."""
    if os.path.isfile(os.path.join(extracted, cards.CARD)):
        return extracted
    entries = [e for e in os.listdir(extracted)]
    if len(entries) == 1 and os.path.isfile(os.path.join(extracted, entries[0], cards.CARD)):
        return os.path.join(extracted, entries[0])
    return None


def fetch(url, sha256):
    """Downloads (or finds in the Keras cache), checks and unpacks a preset archive; returns the preset folder.

    Args:
        url: ``https://...`` or ``file://...`` URL of a ``.tar.gz`` / ``.tgz`` / ``.tar`` / ``.zip`` archive
            holding one preset (its files at the top, or in one folder).
        sha256: The archive's expected sha256 (64 hex digits), required.

    Returns:
        The unpacked preset's folder, checked against its card.

    Raises:
        ValueError: for a bad URL or sha256, a failed download, an archive whose sha256 differs, a truncated or
            corrupt archive, or one that holds no valid preset. The cached archive and anything unpacked from it
            are removed first.
        kerasae.utils.files.FolderBusyError: while another process fetches the same archive.
    """
    ext, sha256 = _check_url(url, sha256)
    datadir = cache_dir()
    fname = f"preset-{sha256}{ext}"
    archive, extracted = os.path.join(datadir, fname), os.path.join(datadir, f"preset-{sha256}_extracted")
    # A second process fetching the same archive meanwhile fails at once (FolderBusyError) instead of unpacking
    # into the same folder.
    with file_utils.locked(extracted, what=f"the cached preset {extracted}", fix="load it again when that one is done"):
        return _fetch(url, sha256, fname, archive, extracted, datadir)


def _fetch(url, sha256, fname, archive, extracted, datadir):
    import keras

    file_utils.remove(extracted)  # ours (named by the sha256): a fresh unpacking of the checked archive
    try:
        keras.utils.get_file(fname, origin=url, file_hash=sha256, hash_algorithm="sha256", cache_subdir=datadir)
    except ValueError as err:
        actual = cards.sha256_file(archive) if os.path.isfile(archive) else None
        file_utils.remove(archive)
        if actual is None:
            raise ValueError(f"Could not fetch {url}: {_short(err)}. Fix: check the URL.") from None
        raise ValueError(
            f"The archive at {url} has sha256 {actual}, not the expected {sha256}: the download is truncated or "
            "corrupted, or the sha256 is wrong. Nothing was loaded. Fix: pass the sha256 published with the archive, "
            "or publish the archive again."
        ) from None
    except Exception as err:  # noqa: BLE001 - Keras raises a bare Exception for URL failures
        file_utils.remove(archive)
        raise ValueError(
            f"Could not fetch {url}: {_short(err)}. Fix: check the URL (for file://, the archive's absolute path) "
            "and the network."
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Could not extract archive": found below, as a missing folder
            keras.utils.get_file(fname, origin=url, file_hash=sha256, hash_algorithm="sha256", cache_subdir=datadir,
                                 extract=True)
        root = _preset_root(extracted) if os.path.isdir(extracted) else None
        if root is None:
            unpacked = os.path.isdir(extracted) or tarfile.is_tarfile(archive) or zipfile.is_zipfile(archive)
            what = "holds no preset (no card.json at its top or in its one folder)" if unpacked else \
                "could not be unpacked (not a tar or zip archive)"
            raise ValueError(
                f"The archive at {url} {what}. Nothing was loaded. Fix: pack a preset folder with "
                "kerasae.presets.write_archive."
            )
        cards.verify(root)
    except ValueError as err:
        file_utils.remove(extracted)
        file_utils.remove(archive)
        raise ValueError(" ".join(str(err).split())) from None
    except Exception as err:  # noqa: BLE001 - EOFError, tarfile/zipfile/zlib errors of a truncated archive
        file_utils.remove(extracted)
        file_utils.remove(archive)
        raise ValueError(
            f"The archive at {url} is truncated or corrupt ({type(err).__name__}: {_short(err)}); nothing was loaded "
            "and nothing of it was kept. Fix: publish the archive again (kerasae.presets.write_archive) with its new "
            "sha256."
        ) from None
    return root


def write_archive(folder, path):
    """Packs a preset folder (checked against its card first) into a ``.tar.gz`` file holding one folder named
    after the preset; returns the archive's sha256, the value :func:`kerasae.presets.load` then takes.

    Example:
        >>> sha = kerasae.presets.write_archive(kerasae.presets.folder("vae-mnist"), "vae-mnist.tar.gz")
        >>> model = kerasae.presets.load("https://example.org/vae-mnist.tar.gz", sha256=sha)
    """
    folder = os.path.abspath(os.fspath(folder))
    card = cards.verify(folder)
    path = os.path.abspath(os.fspath(path))
    if not path.endswith((".tar.gz", ".tgz")):
        raise ValueError(f"Expected an archive path ending in .tar.gz or .tgz. Received: {path!r}")
    members = sorted(card["files"]) + [cards.CARD]
    with file_utils.replacing(path) as tmp:
        with tarfile.open(tmp, "w:gz") as tar:
            for rel in members:
                tar.add(os.path.join(folder, *rel.split("/")), arcname=f"{card['name']}/{rel}", recursive=False)
    return cards.sha256_file(path)
