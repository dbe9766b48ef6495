"""Atomic writes: everything is written to a private staging folder beside its destination, flushed to
disk, then renamed into place, so a failed or interrupted writer leaves what was there untouched and a
reader never sees half-written files. :class:`Staging` does it for folders and groups of files,
:func:`replacing` for one file (:func:`write_json` uses it).

Folders kerasae writes (run folders, export folders, resume backups) hold a marker file, :data:`MARKER`
(:func:`write_marker`), so that kerasae replaces or removes only folders it wrote itself
(:func:`check_replaceable`). :func:`locked` keeps two writers of one destination apart.

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

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: an exclusive create stands in for the lock
    fcntl = None

#: The marker file in every folder kerasae writes: JSON with ``written_by``, ``kind`` (``"run"``,
#: ``"export"``, ``"backup"``...), ``kerasae_version``, ``files`` (the folder's entries as written) and any
#: extra information of the writer.
MARKER = ".kerasae"


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


# ------------------------------------------------------------------------------------------ markers
def _version():
    try:
        from kerasae import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return "unknown"


def write_marker(folder, kind, **info):
    """Marks ``folder`` as written by kerasae: writes :data:`MARKER` (atomically) listing the folder's
    entries as they are now, so call it when everything else is written. ``info`` is recorded too (plain
    JSON values). Returns the marker's path.

    Example:
        >>> write_marker(staging.path("export"), "export")
    """
    folder = os.fspath(folder)
    entries = sorted(set(os.listdir(folder)) | {MARKER})
    path = os.path.join(folder, MARKER)
    write_json(path, {**info, "written_by": "kerasae", "kind": kind, "kerasae_version": _version(), "files": entries})
    return path


def marker_move(staging, folder, kind, names):
    """The ``(staged, final)`` move that marks ``folder`` as kerasae's after ``names`` are written into it,
    for writers that add entries to a folder rather than replace it (exports), or ``None``.

    The marker lists ``names`` plus what an earlier marker of ``kind`` listed. A folder that already holds
    entries but no marker of ``kind`` belongs to the user: it is not marked (so ``--overwrite`` never
    replaces it)."""
    folder = os.path.abspath(os.fspath(folder))
    marker = read_marker(folder) if os.path.isdir(folder) else None
    if marker is not None and marker["kind"] != kind:
        return None
    if marker is None and os.path.isdir(folder) and os.listdir(folder):
        return None
    listed = set(marker.get("files", ())) if marker is not None and isinstance(marker.get("files"), list) else set()
    staged = staging.path(f".marker-{uuid.uuid4().hex}")
    write_json(staged, {"written_by": "kerasae", "kind": kind, "kerasae_version": _version(),
                        "files": sorted(listed | set(names) | {MARKER})})
    return staged, os.path.join(folder, MARKER)


def read_marker(folder):
    """The marker of a folder kerasae wrote, as a dict; ``None`` if ``folder`` holds no valid marker."""
    path = os.path.join(os.fspath(folder), MARKER)
    try:
        with open(path) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("written_by") != "kerasae" or not isinstance(marker.get("kind"), str):
        return None
    return marker


def is_kerasae_folder(folder, kind=None):
    """Whether ``folder`` is a folder kerasae wrote (holds a valid :data:`MARKER`), of ``kind`` if given
    (a string or a tuple of them)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return False
    marker = read_marker(folder)
    if marker is None:
        return False
    return kind is None or marker["kind"] in ((kind,) if isinstance(kind, str) else tuple(kind))


def foreign_entries(folder):
    """Entries of a kerasae folder that kerasae did not write (paths relative to ``folder``): neither listed
    in its marker nor inside a folder with a marker of its own (an export inside a run), whose entries are
    checked the same way. Everything when there is no marker."""
    folder = os.fspath(folder)
    marker = read_marker(folder)
    listed = set(marker.get("files", ())) if marker is not None and isinstance(marker.get("files"), list) else set()
    foreign = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if marker is not None and name in listed:
            continue
        if marker is not None and os.path.isdir(path) and not os.path.islink(path) and is_kerasae_folder(path):
            foreign += [f"{name}/{inner}" for inner in foreign_entries(path)]
            continue
        foreign.append(name)
    return foreign


def _listing(names, limit=4):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def protected_reason(folder):
    """Why kerasae must never replace ``folder``, or ``None``: it is the working directory or one of its
    parents, the home folder, or a filesystem root."""
    real = os.path.realpath(os.fspath(folder))
    cwd = os.path.realpath(os.getcwd())
    if real == os.path.dirname(real):
        return "a filesystem root"
    if real == cwd:
        return "the working directory"
    if os.path.commonpath([real, cwd]) == real:
        return "a parent of the working directory"
    home = os.path.expanduser("~")
    if home != "~" and real == os.path.realpath(home):
        return "the home folder"
    return None


def _nearest_existing(path):
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def check_replaceable(folder, kind, option="--out", overwrite=False, fix="choose another"):
    """Checks, before anything is written, that ``folder`` may be (re)placed by a writer of ``kind``.

    Raises ``ValueError`` naming what is wrong and the fix when ``folder`` is a file; the working
    directory, one of its parents, the home folder or a filesystem root; a non-empty folder when not
    ``overwrite``; with ``overwrite``, a non-empty folder without kerasae's marker of ``kind``, or one
    holding entries kerasae did not write; or when the folder (or the one it goes into) cannot be written,
    so that the final rename or the removal of the old folder would fail.
    """
    folder = os.path.abspath(os.fspath(folder))
    redo = f"Fix: {fix} {option}"
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{option} {folder} exists and is not a folder. {redo}.")
    reason = protected_reason(folder)
    if reason is not None:
        raise ValueError(f"{option} {folder} is {reason}; kerasae never replaces it. {redo}, e.g. a new subfolder.")
    exists = os.path.isdir(folder)
    entries = sorted(os.listdir(folder)) if exists else []
    if entries and not overwrite:
        raise ValueError(
            f"The {kind} folder {folder} already exists and is not empty. Fix: pass --overwrite to replace it, "
            f"or {fix} {option}."
        )
    if entries:
        if not is_kerasae_folder(folder, kind):
            raise ValueError(
                f"--overwrite replaces only {kind} folders written by kerasae, and {folder} is not one (no "
                f"{MARKER} marker; it holds {_listing(entries)}). {redo}, or remove the folder yourself."
            )
        foreign = foreign_entries(folder)
        if foreign:
            raise ValueError(
                f"--overwrite would delete {_listing(foreign)} in {folder}, which kerasae did not write. "
                f"Fix: move them out of the folder, or {fix} {option}."
            )
    parent = _nearest_existing(os.path.dirname(folder))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"Cannot write into {parent}: permission denied. {redo} in a folder you can write.")
    if exists:
        for here, dirs, _ in os.walk(folder):
            if not os.access(here, os.W_OK | os.X_OK):
                raise ValueError(
                    f"{option} {folder} cannot be replaced: {here} is read-only, so the old files could not be "
                    f"removed. Fix: make it writable (chmod -R u+w {folder}), or {fix} {option}."
                )


# ------------------------------------------------------------------------------------------ locks
class FolderBusyError(OSError):
    """Another process holds the lock of a destination (see :func:`locked`)."""


def lock_path(destination):
    """The lock file of ``destination``: ``.NAME.lock`` beside it."""
    parent, name = os.path.split(os.path.abspath(os.fspath(destination)))
    return os.path.join(parent, f".{name}.lock")


def _try_lock(path):
    """An open descriptor holding an exclusive lock of ``path``; raises :class:`FolderBusyError` if held."""
    while True:
        if fcntl is None:  # pragma: no cover
            try:
                return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise FolderBusyError(path) from None
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise FolderBusyError(path) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed the file while we opened it: lock the new one


@contextlib.contextmanager
def locked(destination, what=None, fix="choose another destination"):
    """Holds an exclusive lock of ``destination`` (the file :func:`lock_path`) while the block runs, so that
    a second writer of the same destination fails at once (:class:`FolderBusyError`) instead of mixing its
    files with the first's. The lock file is removed on exit; so is a parent folder the lock created, if
    it is empty by then. A lock left by a killed process does not block: the kernel released it.
    """
    path = lock_path(destination)
    parent = os.path.dirname(path)
    created = not os.path.isdir(parent)
    os.makedirs(parent, exist_ok=True)
    try:
        fd = _try_lock(path)
    except FolderBusyError:
        raise FolderBusyError(
            f"Another kerasae process is writing {what or os.path.abspath(os.fspath(destination))} (it holds "
            f"{path}). Fix: wait for it to finish, or {fix}."
        ) from None
    except BaseException:
        if created and not os.listdir(parent):
            os.rmdir(parent)
        raise
    try:
        yield path
    finally:
        try:
            os.remove(path)  # while still holding the lock: a waiting writer then re-checks the file
        except OSError:
            pass
        os.close(fd)
        if created and os.path.isdir(parent) and not os.listdir(parent):
            try:
                os.rmdir(parent)
            except OSError:  # pragma: no cover - filled meanwhile
                pass
