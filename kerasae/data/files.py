"""Reading user files as arrays, never as pickles: ``.npy`` and ``.npz`` headers are checked against the
file's (or the archive member's) size before anything is allocated, and every failure is one ValueError of
one line that says what was wrong, what was expected and the fix."""

import math
import os
import warnings
import zipfile
import zlib

import numpy as np

from kerasae.utils.validation import check_int

FILE_SUFFIXES = (".npz", ".npy", ".csv")
#: Said wherever a file could hold pickled objects.
NO_PICKLES = "kerasae loads arrays only, never pickled objects"


def one_line(err):
    """An exception's message on one line."""
    return " ".join(str(err).split()) or type(err).__name__


def resolve(name):
    """``name`` as an absolute path, ``~`` expanded."""
    return os.path.abspath(os.path.expanduser(name))


def read_npy(fp, size, where, fix):
    """Reads one ``.npy`` array from an open binary file ``fp`` of ``size`` bytes, checking its header
    against the size before allocating anything, and never unpickling."""
    fmt = np.lib.format
    magic = fp.read(len(fmt.MAGIC_PREFIX))
    if not magic:
        raise ValueError(f"{where} is empty (0 bytes). Expected an array written by numpy.save. Fix: {fix}.")
    if magic != fmt.MAGIC_PREFIX:
        raise ValueError(
            f"{where} is not a .npy array: it does not start with NumPy's magic bytes. Expected an array "
            f"written by numpy.save ({NO_PICKLES}). Fix: {fix}."
        )
    fp.seek(0)
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    except Exception as err:  # NumPy parses the header with ast: ValueError, SyntaxError, TokenError...
        raise ValueError(
            f"{where} has a damaged .npy header ({one_line(err)}). Expected an array written by numpy.save. "
            f"Fix: {fix}."
        ) from err
    if dtype.hasobject:
        raise ValueError(
            f"{where} holds Python objects (dtype {dtype}), which only unpickling could read, and {NO_PICKLES}. "
            f"Expected a numeric array. Fix: convert it first, e.g. numpy.save(path, array.astype('float32'))."
        )
    claimed = math.prod(shape) * dtype.itemsize
    available = size - fp.tell()
    if claimed > available:
        raise ValueError(
            f"{where}'s header claims an array of shape {shape} and dtype {dtype} ({claimed:,} bytes), but only "
            f"{max(available, 0):,} bytes of data follow: it is truncated or corrupt. Expected a complete array "
            f"written by numpy.save. Fix: {fix}."
        )
    fp.seek(0)
    try:
        return fmt.read_array(fp, allow_pickle=False)
    except MemoryError as err:
        raise ValueError(
            f"Not enough memory to load {where}: its array of shape {shape} and dtype {dtype} takes "
            f"{claimed:,} bytes. Fix: free memory, or load a smaller file."
        ) from err
    except (ValueError, EOFError) as err:
        raise ValueError(f"Could not read {where} ({one_line(err)}). Fix: {fix}.") from err


def read_npz(path):
    """The arrays of a ``.npz`` file as ``(x, y, x_test, y_test)`` (``None`` where absent)."""
    fix = "save it with numpy.savez(path, x=..., y=...)"
    if not zipfile.is_zipfile(path):
        empty = os.path.getsize(path) == 0
        raise ValueError(
            f"{path} is {'empty (0 bytes), not' if empty else 'not'} a valid .npz archive ({NO_PICKLES}). "
            f"Expected a zip archive of arrays written by numpy.savez. Fix: {fix}."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = {}
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    members.setdefault(info.filename[: -len(".npy")], info)
            keys = set(members)

            def get(key):
                if key not in keys:
                    return None
                info = members[key]
                with archive.open(info) as fp:
                    return read_npy(fp, info.file_size, f"{path}[{key!r}]", fix)

            if "x_train" in keys:
                return get("x_train"), get("y_train"), get("x_test"), get("y_test")
            if "x" in keys:
                return get("x"), get("y"), None, None
            if len(keys) == 1:
                return get(keys.pop()), None, None, None
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as err:
        raise ValueError(
            f"Could not read {path} as a .npz archive ({type(err).__name__}: {one_line(err)}). Expected a zip "
            f"archive of arrays written by numpy.savez. Fix: {fix}."
        ) from err
    found = f"arrays {sorted(keys)}" if keys else "no arrays"
    raise ValueError(
        f"{path} holds {found}. Expected 'x_train' (and optionally 'y_train', 'x_test', 'y_test'), or 'x' "
        "(and optionally 'y'), or a single array. Fix: save it with numpy.savez(path, x=..., y=...)."
    )


def read_csv(path, label_column):
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path} is not a text CSV file (not UTF-8 text). Expected one sample a row of comma-separated "
            "numbers, with an optional header row. Fix: export it as CSV text, or save the arrays with numpy.save."
        ) from err
    try:
        [float(v) for v in first.strip().split(",") if v.strip()]
        skip = 0
    except ValueError:
        skip = 1  # a header row
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": check_array says it in one line
            table = np.loadtxt(path, delimiter=",", skiprows=skip, dtype="float64", ndmin=2, encoding="utf-8")
    except ValueError as err:
        raise ValueError(
            f"Could not parse {path} as a numeric CSV file ({one_line(err)}). Expected one sample a row of "
            "comma-separated numbers, with an optional header row. Fix: remove or convert the non-numeric cells."
        ) from err
    if label_column is None:
        return table, None
    columns = table.shape[1]
    if columns < 2:
        raise ValueError(
            f"{path} has {columns} column, so label_column={label_column!r} would leave no features. Expected "
            "at least one feature column besides the labels. Fix: pass label_column=None for unlabelled data."
        )
    if label_column == "last":
        col = columns - 1
    else:
        col = check_int("label_column", label_column, minimum=-columns, maximum=columns - 1,
                        hint=f"{path} has {columns} columns")
    return np.delete(table, col, axis=1), table[:, col]


def load_file(path, label_column, given, names=()):
    """Reads a ``.npy``, ``.npz`` or ``.csv`` file as ``(x, y, x_test, y_test)`` (``None`` where absent).

    Args:
        path: The file's absolute path.
        label_column: For CSV files, the label's column index or ``"last"``, else ``None``.
        given: The path as the caller gave it (for the not-found message).
        names: The data set names the caller knows (for the not-found message).
    """
    suffix = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        where = "" if given == path else f" ({path})"
        raise ValueError(
            f"No data set named {given!r} and no such file{where}. Expected one of {list(names)} or a path to a "
            f"{', '.join(FILE_SUFFIXES)} file. Fix: check the name or the path."
        )
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder. Expected a {', '.join(FILE_SUFFIXES)} file. Fix: name the file in it.")
    if suffix not in FILE_SUFFIXES:
        raise ValueError(
            f"Unsupported file type {suffix!r} for {path}. Expected one of {list(FILE_SUFFIXES)}. Fix: save the "
            "data with numpy.save or numpy.savez."
        )
    if label_column is not None and suffix != ".csv":
        raise ValueError(
            f"label_column applies to .csv files only. Received: label_column={label_column!r} for {path}. "
            "Fix: drop label_column (a .npz file stores its labels as 'y' or 'y_train'/'y_test')."
        )
    try:
        if suffix == ".npy":
            with open(path, "rb") as fp:
                x = read_npy(fp, os.fstat(fp.fileno()).st_size, path, "save it with numpy.save(path, array)")
            return x, None, None, None
        if suffix == ".csv":
            x, y = read_csv(path, label_column)
            return x, y, None, None
        return read_npz(path)
    except OSError as err:
        raise ValueError(
            f"Could not read {path} ({err.strerror or one_line(err)}). Expected a readable file. "
            "Fix: check its permissions."
        ) from err
