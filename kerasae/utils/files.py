"""Atomic writes: everything is written to a private staging folder beside its destination, flushed to
disk, then renamed into place, so a failed or interrupted writer leaves what was there untouched and a
reader never sees half-written files. :class:`Staging` does it for folders and groups of files,
:func:`replacing` for one file (:func:`write_json` uses it).

Example:
    >>> with Staging("runs") as staging:
    ...     write_everything(staging.path("run"))             # files of the new run folder
    ...     staging.commit([(staging.path("run"), "runs/autoencoder")])
"""

import contextlib
import json
import os
import shutil
import tempfile
import uuid


def fsync_tree(path):
    """Flushes every file below ``path`` (or the file itself) and the folders holding them to disk."""
    if os.path.isdir(path) and not os.path.islink(path):
        for folder, _, files in os.walk(path):
            for name in files:
                _fsync(os.path.join(folder, name))
            _fsync_dir(folder)
    elif os.path.isfile(path):
        _fsync(path)


def _fsync(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def remove(path):
    """Removes a file, link or folder tree if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def replacing(path):
    """Writes one file atomically: yields a temporary path beside ``path`` (same extension, so that writers
    that go by it still do); when the block succeeds, flushes that file to disk and renames it to ``path``,
    replacing what was there. On an error the temporary file is removed and ``path`` left untouched.

    Example:
        >>> with replacing("runs/loss.png") as tmp:
        ...     figure.savefig(tmp)
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    root, ext = os.path.splitext(name)
    tmp = os.path.join(folder, f".{root}.{uuid.uuid4().hex[:12]}.tmp{ext}")
    try:
        yield tmp
        fsync_tree(tmp)
        os.replace(tmp, path)
        _fsync_dir(folder)
    finally:
        if os.path.lexists(tmp):
            remove(tmp)


def write_json(path, payload):
    """Writes ``payload`` as indented, key-sorted JSON, atomically (see :func:`replacing`)."""
    with replacing(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True)


class Staging:
    """A private temporary folder beside the destinations; :meth:`commit` renames staged paths into place.

    Each instance gets its own folder (``.kerasae-staging-*``), so concurrent writers never share one. Use
    it as a context manager: on exit the folder is removed (with anything not committed), and a parent
    folder it created is removed again when nothing was committed.

    Args:
        parent: The folder the destinations live in (created if missing).
    """

    def __init__(self, parent):
        self.parent = os.path.abspath(parent)
        self.created_parent = not os.path.isdir(self.parent)
        os.makedirs(self.parent, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=".kerasae-staging-", dir=self.parent)
        self.committed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def path(self, name):
        """A path inside the staging folder."""
        return os.path.join(self.dir, name)

    def commit(self, moves):
        """Renames ``(staged, final)`` pairs into place, after flushing them to disk.

        An existing destination is moved aside first and restored if any rename fails, so either every
        destination holds its new content or every one holds what it held before.
        """
        moves = list(moves)
        for staged, _ in moves:
            fsync_tree(staged)
        done, backups, created = [], [], []
        try:
            for staged, final in moves:
                parent = os.path.dirname(os.path.abspath(final))
                if not os.path.isdir(parent):
                    os.makedirs(parent)
                    created.append(parent)
                if os.path.lexists(final):
                    backup = self.path(f".old-{uuid.uuid4().hex}")
                    os.replace(final, backup)
                    backups.append((backup, final))
                os.replace(staged, final)
                done.append(final)
                _fsync_dir(parent)
            self.committed = True
        except BaseException:
            for final in done:
                remove(final)
            for backup, final in backups:
                os.replace(backup, final)
            for parent in reversed(created):
                if os.path.isdir(parent) and not os.listdir(parent):
                    os.rmdir(parent)
            raise

    def cleanup(self):
        """Removes the staging folder (and a parent it created, if nothing was committed and it is empty)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.created_parent and not self.committed and os.path.isdir(self.parent) and not os.listdir(self.parent):
            os.rmdir(self.parent)
