"""kerasae.utils.files: atomic writes (Staging for folders, replacing for one file, write_json)."""

import json
import os

import numpy as np
import pytest

from kerasae.utils import files
from kerasae.utils.files import Staging


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_commit_replaces_a_folder_and_cleans_up(tmp_path):
    final = tmp_path / "run"
    _write(str(final / "old.txt"), "old")
    with Staging(tmp_path) as staging:
        assert os.path.dirname(staging.dir) == str(tmp_path)
        _write(staging.path("run/new.txt"), "new")
        staging.commit([(staging.path("run"), str(final))])
    assert os.listdir(final) == ["new.txt"]
    assert os.listdir(tmp_path) == ["run"], "staging folder or the old folder left behind"


def test_two_stagings_in_one_parent_get_different_folders(tmp_path):
    with Staging(tmp_path) as a, Staging(tmp_path) as b:
        assert a.dir != b.dir and os.path.isdir(a.dir) and os.path.isdir(b.dir)
        assert os.path.basename(a.dir).startswith(".")  # hidden beside the destinations
    assert os.listdir(tmp_path) == []


def test_failed_rename_restores_the_old_destinations(tmp_path, monkeypatch):
    first, second = tmp_path / "a.txt", tmp_path / "b"
    _write(str(first), "old a")
    _write(str(second / "f.txt"), "old b")
    real_replace = os.replace

    with Staging(tmp_path) as staging:

        def replace(src, dst):  # the second destination's new content cannot be renamed into place
            if os.fspath(src) == staging.path("b"):
                raise OSError("disk full")
            return real_replace(src, dst)

        _write(staging.path("a.txt"), "new a")
        _write(staging.path("b/f.txt"), "new b")
        monkeypatch.setattr(files.os, "replace", replace)
        with pytest.raises(OSError, match="disk full"):
            staging.commit([(staging.path("a.txt"), str(first)), (staging.path("b"), str(second))])
        monkeypatch.setattr(files.os, "replace", real_replace)
        assert not staging.committed
    assert first.read_text() == "old a" and (second / "f.txt").read_text() == "old b"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b"]


def test_an_error_before_commit_leaves_everything_untouched(tmp_path):
    final = tmp_path / "run"
    _write(str(final / "keep.txt"), "mine")
    with pytest.raises(RuntimeError):
        with Staging(tmp_path) as staging:
            _write(staging.path("run/x.txt"), "partial")
            raise RuntimeError("interrupted")
    assert os.listdir(final) == ["keep.txt"] and os.listdir(tmp_path) == ["run"]


def test_a_parent_it_created_goes_again_when_nothing_was_committed(tmp_path):
    parent = tmp_path / "new" / "runs"
    with Staging(parent) as staging:
        _write(staging.path("x.txt"), "x")
    assert not parent.exists()
    with Staging(parent) as staging:
        _write(staging.path("x.txt"), "x")
        staging.commit([(staging.path("x.txt"), str(parent / "x.txt"))])
    assert os.listdir(parent) == ["x.txt"]


def test_replacing_and_write_json(tmp_path):
    path = tmp_path / "sub" / "m.json"
    files.write_json(path, {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert path.read_text().startswith('{\n  "a"')  # indented, sorted keys
    with pytest.raises(TypeError):  # not JSON: the old file stays, no temporary file is left
        files.write_json(path, {"x": np.float32(1)})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert os.listdir(path.parent) == ["m.json"]
    with files.replacing(tmp_path / "fig.png") as tmp:
        assert tmp.endswith(".png") and os.path.dirname(tmp) == str(tmp_path)
        _write(tmp, "png")
    assert (tmp_path / "fig.png").read_text() == "png"
    assert (tmp_path / "fig.png").stat().st_mode & 0o044, "readable by others as any file the user writes"


def test_remove_and_fsync_tree(tmp_path):
    _write(str(tmp_path / "d" / "e" / "f.txt"), "x")
    files.fsync_tree(str(tmp_path / "d"))
    files.remove(str(tmp_path / "d"))
    files.remove(str(tmp_path / "missing"))
    assert os.listdir(tmp_path) == []
