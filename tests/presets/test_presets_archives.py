"""Presets from archive URLs (``file://`` here; ``https://`` takes the same path through keras.utils.get_file):
the right sha256 loads, a wrong one, a truncated or a tampered archive fails cleanly and leaves nothing behind."""

import hashlib
import io
import os
import tarfile

import numpy as np
import pytest

import kerasae
from kerasae.presets import archives


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """A private Keras cache, so that the real one is untouched."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def archive(tiny_preset, tmp_path):
    """``(path, sha256)`` of the tiny preset packed as a .tar.gz."""
    path = tmp_path / "tiny-vae.tar.gz"
    sha256 = kerasae.presets.write_archive(tiny_preset.folder, path)
    return path, sha256


def _url(path):
    return "file://" + os.path.abspath(path)


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _cache(keras_home):
    folder = keras_home / archives.CACHE_SUBDIR
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def _error(call, *needles):
    with pytest.raises(ValueError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text, text
    for needle in needles:
        assert needle in text, text
    return text


def test_archive_loads_with_its_sha256(tiny_preset, archive, keras_home):
    path, sha256 = archive
    assert sha256 == _sha256(path)
    model = kerasae.presets.load(_url(path), sha256=sha256)
    np.testing.assert_allclose(np.asarray(model(tiny_preset.x, training=False)), tiny_preset.reference["call"], atol=1e-6)
    folder = kerasae.presets.folder(_url(path), sha256=sha256.upper())  # again, from the cache
    assert folder.startswith(str(keras_home / archives.CACHE_SUBDIR)) and os.path.basename(folder) == "tiny-vae"
    assert kerasae.presets.card(_url(path), sha256=sha256) == tiny_preset.card
    assert os.path.isdir(kerasae.presets.saved_model(_url(path), sha256=sha256))
    assert _cache(keras_home) == [f"preset-{sha256}.tar.gz", f"preset-{sha256}_extracted"]


def test_a_wrong_sha256_fails_cleanly(archive, keras_home):
    path, sha256 = archive
    wrong = "0" * 64
    _error(lambda: kerasae.presets.load(_url(path), sha256=wrong), f"has sha256 {sha256}", f"not the expected {wrong}",
           "Nothing was loaded")
    assert _cache(keras_home) == []
    kerasae.presets.load(_url(path), sha256=sha256)  # the right one still loads


def test_a_truncated_archive_fails_cleanly(archive, tmp_path, keras_home):
    path, _ = archive
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    sha256 = _sha256(truncated)  # published as it is: the sha256 matches, the archive is still broken
    for _ in range(2):  # a second load finds nothing half-extracted to accept
        _error(lambda: kerasae.presets.load(_url(truncated), sha256=sha256), "truncated")
        assert _cache(keras_home) == []


def test_a_truncated_download_fails_cleanly(archive, tmp_path, keras_home):
    """The archive the URL serves is cut short: its sha256 is not the published one."""
    path, sha256 = archive
    path.write_bytes(path.read_bytes()[:1000])
    _error(lambda: kerasae.presets.load(_url(path), sha256=sha256), f"not the expected {sha256}", "truncated")
    assert _cache(keras_home) == []


def _repack(source, destination, change):
    """Copies a .tar.gz, passing each member's bytes through ``change(name, data)``."""
    with tarfile.open(source) as tar_in, tarfile.open(destination, "w:gz") as tar_out:
        for member in tar_in.getmembers():
            data = change(member.name, tar_in.extractfile(member).read())
            member.size = len(data)
            tar_out.addfile(member, io.BytesIO(data))
    return _sha256(destination)


def test_a_tampered_archive_fails_cleanly(archive, tmp_path, keras_home):
    """A republished archive (new sha256) whose weights changed but whose card did not."""
    path, _ = archive
    tampered = tmp_path / "tampered.tar.gz"

    def change(name, data):
        return data[:-1] + bytes([data[-1] ^ 1]) if name.endswith("model.weights.h5") else data

    sha256 = _repack(path, tampered, change)
    _error(lambda: kerasae.presets.load(_url(tampered), sha256=sha256), "model.weights.h5 has sha256",
           "does not match its card.json")
    assert _cache(keras_home) == []


def test_not_an_archive(tmp_path, keras_home):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive at all" * 10)
    _error(lambda: kerasae.presets.load(_url(junk), sha256=_sha256(junk)), "not a tar or zip archive")
    assert _cache(keras_home) == []
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz"):
        pass
    _error(lambda: kerasae.presets.load(_url(empty), sha256=_sha256(empty)), "holds no preset")
    assert _cache(keras_home) == []


def test_bad_urls_and_hashes(archive, tmp_path, keras_home):
    path, sha256 = archive
    _error(lambda: kerasae.presets.load(_url(path)), "needs its expected sha256", "Fix:")
    _error(lambda: kerasae.presets.load(_url(path), sha256="abc"), "64 hex digits")
    _error(lambda: kerasae.presets.load("ftp://example.org/x.tar.gz", sha256=sha256), "https:// or file://")
    _error(lambda: kerasae.presets.load(_url(tmp_path / "x.rar"), sha256=sha256), "ending in .tar.gz")
    _error(lambda: kerasae.presets.load(_url(tmp_path / "missing.tar.gz"), sha256=sha256), "Could not fetch")
    assert _cache(keras_home) == []
