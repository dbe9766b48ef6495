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


# ------------------------------------------------------------------------------------------ markers
def test_marker_lists_the_folder_and_names_its_writer(tmp_path):
    folder = tmp_path / "export"
    _write(str(folder / "model.tflite"), "x")
    path = files.write_marker(folder, "export", part="full")
    assert os.path.basename(path) == files.MARKER
    marker = files.read_marker(folder)
    assert marker["kind"] == "export" and marker["written_by"] == "kerasae" and marker["part"] == "full"
    assert marker["files"] == sorted(["model.tflite", files.MARKER])
    assert files.is_kerasae_folder(folder) and files.is_kerasae_folder(folder, "export")
    assert files.is_kerasae_folder(folder, ("run", "export")) and not files.is_kerasae_folder(folder, "run")
    assert files.foreign_entries(folder) == []
    _write(str(folder / "notes.txt"), "mine")
    assert files.foreign_entries(folder) == ["notes.txt"]


@pytest.mark.parametrize("content", ["", "{not json", "[]", '{"kind": "run"}', '{"written_by": "kerasae"}'])
def test_a_folder_without_a_valid_marker_is_not_kerasae_s(tmp_path, content):
    _write(str(tmp_path / files.MARKER), content)
    assert files.read_marker(tmp_path) is None and not files.is_kerasae_folder(tmp_path)
    assert not files.is_kerasae_folder(tmp_path / "missing")


def test_check_replaceable(tmp_path, monkeypatch):
    run, user = tmp_path / "run", tmp_path / "user"
    _write(str(run / "model.keras"), "m")
    files.write_marker(run, "run")
    _write(str(run / "export" / "a.tflite"), "a")
    files.write_marker(run / "export", "export")  # an export inside a run goes with it
    _write(str(user / "data.npy"), "mine")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(user)
    files.check_replaceable(run, "run", overwrite=True)
    files.check_replaceable(tmp_path / "new" / "run", "run")  # missing parents are fine
    files.check_replaceable(tmp_path / "empty", "run")  # an empty folder holds nothing to lose
    for folder, overwrite, message in [
        (run, False, "already exists and is not empty"),
        (user, True, "is the working directory"),
        (tmp_path, True, "is a parent of the working directory"),
        ("/", True, "is a filesystem root"),
        (user / "data.npy", True, "exists and is not a folder"),
    ]:
        with pytest.raises(ValueError, match=message):
            files.check_replaceable(folder, "run", overwrite=overwrite)
    monkeypatch.chdir(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"replaces only run folders written by kerasae.*no \.kerasae marker; it holds data\.npy"):
        files.check_replaceable(user, "run", overwrite=True)
    with pytest.raises(ValueError, match="replaces only export folders"):
        files.check_replaceable(run, "export", overwrite=True)
    _write(str(run / "export" / "notes.txt"), "mine")
    with pytest.raises(ValueError, match="would delete export/notes.txt"):  # the export holds a file of the user's
        files.check_replaceable(run, "run", overwrite=True)
    monkeypatch.setenv("HOME", str(run))
    with pytest.raises(ValueError, match="is the home folder"):
        files.check_replaceable(run, "run", overwrite=True)


def test_check_replaceable_refuses_what_could_not_be_removed(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _write(str(run / "sub" / "f.txt"), "x")
    files.write_marker(run, "run")
    sub = str(run / "sub")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.path.abspath(p) == sub else real(p, mode, **kw))
    with pytest.raises(ValueError, match=r"cannot be replaced: .*sub is read-only.*chmod -R u\+w"):
        files.check_replaceable(run, "run", overwrite=True)
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.path.abspath(p) == str(tmp_path) else real(p, mode, **kw))
    with pytest.raises(ValueError, match="Cannot write into"):
        files.check_replaceable(run, "run", overwrite=True)


# ------------------------------------------------------------------------------------------ locks
def test_a_second_lock_of_one_destination_fails_at_once(tmp_path):
    out = tmp_path / "runs" / "run"  # "runs" does not exist yet
    with files.locked(out) as lock:
        assert lock == str(tmp_path / "runs" / ".run.lock") and os.path.isfile(lock)
        with pytest.raises(files.FolderBusyError, match=r"Another kerasae process is writing .*run.*Fix: wait"):
            with files.locked(out):
                pass
        with files.locked(tmp_path / "runs" / "other"):  # another destination is free
            pass
        assert os.path.isfile(lock), "a refused writer must not remove the holder's lock"
    assert not (tmp_path / "runs").exists(), "the lock file and the parent it created are removed"


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    _write(str(tmp_path / ".run.lock"), "")  # the file stays when its holder is killed; its lock does not
    with files.locked(tmp_path / "run"):
        pass
    assert os.listdir(tmp_path) == []


def _commit_export(folder, names):
    """Writes ``names`` into ``folder`` as export() does: staged files, then the marker move."""
    with Staging(os.path.dirname(folder)) as staging:
        moves = []
        for name in names:
            staged = staging.path(name)
            with open(staged, "w") as f:
                f.write(name)
            moves.append((staged, os.path.join(folder, name)))
        marker = files.marker_move(staging, folder, "export", names)
        staging.commit(moves + ([marker] if marker else []))
    return marker


def test_an_export_marks_its_folder_and_a_run_holding_it_can_be_overwritten(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_text("m")
    files.write_marker(run, "run")
    export = str(run / "export")
    assert _commit_export(export, ["model.tflite", "model.json"]) is not None
    assert _commit_export(export, ["model_int8.tflite", "model_int8.json"]) is not None  # a second export adds
    marker = files.read_marker(export)
    assert marker["kind"] == "export"
    assert set(marker["files"]) == {"model.tflite", "model.json", "model_int8.tflite", "model_int8.json", files.MARKER}
    assert files.foreign_entries(run) == []
    files.check_replaceable(run, "run", overwrite=True)  # the run and its export: all kerasae's
    (tmp_path / "run" / "export" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="would delete export/notes.txt"):
        files.check_replaceable(run, "run", overwrite=True)


def test_an_export_into_a_user_folder_does_not_claim_it(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert _commit_export(str(folder), ["model.tflite"]) is None
    assert files.read_marker(folder) is None and (folder / "model.tflite").is_file()
