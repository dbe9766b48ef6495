"""The package's layout holds (README, "Architecture"; the same rules as ``../shared/tools/check_layout.py``).

- every kerasae module imports (a module that fails to import fails here, it is never skipped);
- the one rule of direction: ``models/`` and ``layers/`` import nothing from ``cli/``, ``export/`` or
  ``argparse``; ``export/`` imports nothing from ``cli/``;
- no import cycle between kerasae modules;
- no module over 500 lines;
- no measured figure in a docstring (figures belong in ``benchmarks/RESULTS.md``);
- every public model and layer class is registered with Keras' serialization, and every model the CLI
  builds is one of them.

Imports are read from the source with :mod:`ast`, anywhere in a file (inside functions too), so that a
late import cannot hide a dependency.
"""

import ast
import importlib
import inspect
import os
import pathlib
import pkgutil
import re
import subprocess
import sys

import keras
import pytest

import kerasae

PACKAGE_DIR = pathlib.Path(kerasae.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
MAX_LINES = 500


def _module_files():
    """``module name -> path`` of every ``.py`` file under kerasae/ (a package by its ``__init__``)."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = _module_files()
#: ``python -m`` entry points: importing them runs the command, so they are run with ``--help`` instead.
MAIN_MODULES = sorted(m for m in MODULES if m.endswith(".__main__"))


def _imported_names(node):
    """Constant module names given to ``importlib.import_module(...)`` or ``__import__(...)`` in ``node``."""
    if not isinstance(node, ast.Call) or not node.args:
        return []
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    first = node.args[0]
    if called in ("import_module", "__import__") and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return [first.value]
    return []


def imports_of(name, path, dynamic=False):
    """Module names ``name`` (at ``path``) imports anywhere in its file, relative imports resolved.

    ``from X import a`` counts as an import of ``X.a`` when that is a kerasae module, else of ``X``
    (check_layout's rule). With ``dynamic``, constant strings passed to ``importlib.import_module`` count too.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in MODULES else base)
        elif dynamic:
            found.update(_imported_names(node))
    return found


# ============================================================================================ (a) imports
@pytest.mark.parametrize("name", [m for m in MODULES if m not in MAIN_MODULES])
def test_module_imports(name):
    importlib.import_module(name)


def test_pkgutil_finds_every_module():
    """Walking the package with pkgutil (importing each package) finds exactly the files on disk."""

    def fail(name):
        raise AssertionError(f"importing {name} failed while walking kerasae") from sys.exc_info()[1]

    walked = {"kerasae"} | {
        info.name for info in pkgutil.walk_packages(kerasae.__path__, prefix="kerasae.", onerror=fail)
    }
    assert walked == set(MODULES), (
        f"only on disk: {sorted(set(MODULES) - walked)}; only walked: {sorted(walked - set(MODULES))}"
    )


@pytest.mark.parametrize("name", MAIN_MODULES)
def test_main_module_runs(name):
    """``python -m kerasae --help`` (and each other ``__main__``) answers, exit status 0."""
    package = name.removesuffix(".__main__")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-m", package, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage" in result.stdout.lower()


# ==================================================================================== (b) direction
#: Which packages may not import what (prefixes of module names).
FORBIDDEN = {
    "kerasae.models": ("kerasae.cli", "kerasae.export", "argparse"),
    "kerasae.layers": ("kerasae.cli", "kerasae.export", "argparse"),
    "kerasae.export": ("kerasae.cli",),
}


def _within(name, prefix):
    return name == prefix or name.startswith(prefix + ".")


def direction_violations():
    """``"module imports X"`` for every import against the rule of direction."""
    bad = []
    for name, path in MODULES.items():
        for owner, forbidden in FORBIDDEN.items():
            if not _within(name, owner):
                continue
            for imported in sorted(imports_of(name, path, dynamic=True)):
                if any(_within(imported, f) for f in forbidden):
                    bad.append(f"{name} imports {imported}")
    return bad


def test_rule_of_direction():
    bad = direction_violations()
    assert not bad, "against the rule of direction (README, 'Architecture'):\n" + "\n".join(bad)


def test_direction_check_sees_late_and_relative_imports(tmp_path):
    """The check reads imports inside functions, relative ones, and ``importlib.import_module("...")``."""
    source = tmp_path / "m.py"
    source.write_text(
        "def f():\n    import argparse\n    from ..cli import registry\n"
        "    importlib.import_module('kerasae.export.api')\n"
    )
    found = imports_of("kerasae.models.m", source, dynamic=True)
    assert {"argparse", "kerasae.cli.registry", "kerasae.export.api"} <= found


# ======================================================================================= (c) cycles
def import_graph():
    """``module -> kerasae modules it imports`` (check_layout's graph: no dynamic imports)."""
    return {m: {i for i in imports_of(m, p) if i in MODULES and i != m} for m, p in MODULES.items()}


def strongly_connected(graph):
    """Tarjan's strongly connected components of more than one module, each sorted."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10000))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return components


def import_cycles(graph):
    """Cycles that count: a package ``__init__`` with one of its own modules (re-exporting it) does not."""
    cycles = []
    for component in strongly_connected(graph):
        package = min(component, key=len)
        if len(component) == 2 and all(_within(m, package) for m in component):
            continue
        cycles.append(component)
    return cycles


def test_no_import_cycle():
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_check_finds_a_cycle():
    graph = {"kerasae.a": {"kerasae.b"}, "kerasae.b": {"kerasae.c"}, "kerasae.c": {"kerasae.a"},
             "kerasae.p": {"kerasae.p.x"}, "kerasae.p.x": {"kerasae.p"}}
    assert import_cycles(graph) == [["kerasae.a", "kerasae.b", "kerasae.c"]]


# ================================================================================== (d) module size
def test_no_module_over_500_lines():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    long = sorted(((n, m) for m, n in sizes.items() if n > MAX_LINES), reverse=True)
    assert not long, f"modules over {MAX_LINES} lines: " + ", ".join(f"{m} ({n})" for n, m in long)


# ====================================================================== (e) no figures in docstrings
#: Measured figures: speed ratios (``1.7x``, ``1.05x-1.36x``, ``5.5-7.2x``; not ``8x8`` or ``100x784``),
#: times (``0.15 ms``, ``~5 s``), shares (``2-4%``, ``~18%``, ``within 0.5% of``), sizes (``7 KiB``, ``3 MB``)
#: and rates (``examples/s``). A percentage that defines something (``a 1% false-positive rate``), a
#: dimension (``2 d``), a version (``2.16``) or a byte count of a type (``4 bytes``) is not one.
FIGURE = re.compile(
    r"""
      \b\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?x\b(?![\d(])
    | \b\d+(?:\.\d+)?\s?(?:ms|µs|us|ns|seconds)\b
    | ~\s?\d+(?:\.\d+)?\s?s\b
    | ~\s?\d+(?:\.\d+)?\s?%
    | \b\d+(?:\.\d+)?\s?-\s?\d+(?:\.\d+)?\s?%
    | \b\d+(?:\.\d+)?\s?%\s+of\b
    | \b\d+(?:\.\d+)?\s?(?:[KMGT]iB|[kKMGT]B)\b
    | \b(?:examples|samples|steps|images|batches|it)/s\b
    """,
    re.X,
)


def docstring_figures(path):
    """``"path:line: figure"`` for each figure in the file's docstrings (any string statement)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            text = node.value.value
            for match in FIGURE.finditer(text):
                line = node.value.lineno + text.count("\n", 0, match.start())
                found.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)!r}")
    return found


@pytest.mark.parametrize(
    "text, figure",
    [
        ("measured 1.05x-1.36x faster", True), ("1.7-2.1x a plain step", True), ("about 1.5x", True),
        ("a draw in ~0.15 ms", True), ("answers in ~5 s", True), ("spends 2-4% of its time", True),
        ("within 0.5% of float32's", True), ("~18% of the file", True), ("the file is 7 KiB", True),
        ("3 MB", True), ("1200 examples/s", True),
        ("8x8 digits", False), ("a 100x784 draw", False), ("a 1% false-positive rate", False),
        ("2 d parameters", False), ("TensorFlow 2.16", False), ("biases stay 4 bytes", False),
        ("shape (n, 2)", False), ("x_2 = 2x(1 - x)", False),
    ],
)
def test_figure_pattern(text, figure):
    assert bool(FIGURE.search(text)) is figure


def test_no_measured_figure_in_docstrings():
    found = [hit for path in MODULES.values() for hit in docstring_figures(path)]
    assert not found, (
        "docstrings hold measured figures (move them to benchmarks/RESULTS.md and point there):\n"
        + "\n".join(found)
    )


# ================================================================================ (f) registration
#: Public base classes that are never instantiated themselves (each must have a registered subclass).
ABSTRACT_BASES = {"kerasae.layers.distributions.DistributionLayer", "kerasae.layers.priors.Prior"}


def public_keras_classes():
    """Public ``keras.layers.Layer`` subclasses (models are layers) defined in kerasae.models and kerasae.layers."""
    classes = []
    for name in sorted(MODULES):
        if not (_within(name, "kerasae.models") or _within(name, "kerasae.layers")):
            continue
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and value.__module__ == name
                and not attr.startswith("_")
                and issubclass(value, keras.layers.Layer)
            ):
                classes.append(value)
    return classes


def _qualname(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def test_public_classes_are_registered():
    classes = public_keras_classes()
    names = {c.__name__ for c in classes}
    # kerasae's public API (kerasae.__init__) lists models and layers; each must be among those found.
    assert set(kerasae._MODELS) - {"LatentPredictor", "LatentLabelSpreading"} <= names
    assert set(kerasae._LAYERS) <= names
    unregistered = [
        _qualname(c)
        for c in classes
        if _qualname(c) not in ABSTRACT_BASES and not keras.saving.get_registered_name(c).startswith("kerasae>")
    ]
    assert not unregistered, f"public classes not registered with keras.saving: {unregistered}"
    for base in ABSTRACT_BASES:
        assert any(_qualname(c) != base and _qualname(c) in {_qualname(b) for b in c.__mro__} for c in classes), base


def test_registered_names_resolve():
    """Each registered name gives back its class (what ``keras.models.load_model`` relies on)."""
    for cls in public_keras_classes():
        if _qualname(cls) in ABSTRACT_BASES:
            continue
        assert keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls


def test_cli_models_are_public_registered_classes():
    """Each registered CLI model builds an instance of its ``ModelEntry.model_class`` (what ``evaluate`` checks a
    run's model against), a public class registered with Keras, with every layer built."""
    from helpers import build_registered
    from kerasae.cli import registry
    from kerasae.utils.xla import sublayers

    classes = set(public_keras_classes())
    wrong, unbuilt = {}, {}
    for name in registry.models():
        model, *_ = build_registered(name)
        cls = type(model)
        assert cls.__name__ == registry.models()[name].model_class, name
        if cls not in classes or not keras.saving.get_registered_name(cls).startswith("kerasae>"):
            wrong[name] = _qualname(cls)
        # Every layer built on construction, so that fit can build the optimizer before tracing the step once.
        unbuilt[name] = [layer.name for layer in sublayers(model) if not layer.built]
        keras.backend.clear_session(free_memory=False)
    assert not wrong, f"CLI models whose class is not a public, registered kerasae class: {wrong}"
    assert not any(unbuilt.values()), f"CLI models with unbuilt layers: {unbuilt}"
