"""Optional packages: importing them with a one-line error that names the fix."""

import importlib


class MissingPackageError(ImportError, ValueError):
    """An optional package an export needs is not installed.

    An ``ImportError``, and a ``ValueError`` too (a request this installation cannot serve), so that the
    ``kerasae`` command reports it on one line with exit status 2.
    """


def require(modules, what, install):
    """Imports each of ``modules`` (module names), which ``what`` (e.g. ``"ONNX export"``) needs.

    Raises:
        MissingPackageError: naming the first that is missing (or fails to import) and the fix ``install``.
    """
    listed = modules[0] if len(modules) == 1 else f"{', '.join(modules[:-1])} and {modules[-1]}"
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - missing, or broken by its dependencies
            reason = " ".join(f"{type(err).__name__}: {err}".split())[:300]
            raise MissingPackageError(
                f"{what} needs the optional package{'s' if len(modules) > 1 else ''} {listed}; {module} cannot be "
                f"imported ({reason}). Nothing was written. Fix: {install}", name=module,
            ) from err
