"""Packaging: a plain (non-editable) ``pip install .`` ships the built-in presets inside the package.

pyproject.toml maps the top-level presets/ folder onto the package ``kerasae._builtin_presets`` with globs for a
preset's files. The cheap checks read that configuration (the package list matches kerasae/, the globs cover
every file of a real preset); the wheel test builds a wheel of a copy of the project holding a preset, and
finds and checks that preset from the unpacked wheel in a fresh interpreter, as an installed kerasae would.
"""

import glob
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

from kerasae.presets import builtin, cards

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _setuptools_config():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def _package_data_files(root):
    """The files below ``root`` that the package-data globs of kerasae._builtin_presets select."""
    patterns = _setuptools_config()["package-data"][builtin.PACKAGE]
    found = set()
    for pattern in patterns:
        found |= {os.path.relpath(p, root).replace(os.sep, "/") for p in glob.glob(os.path.join(root, pattern),
                                                                                    recursive=True) if os.path.isfile(p)}
    return found


def _preset_files(folder):
    return {rel for rel in cards.folder_files(folder) if rel != ".kerasae"}


def test_packages_cover_kerasae_and_the_presets():
    config = _setuptools_config()
    on_disk = {
        os.path.relpath(here, ROOT).replace(os.sep, ".")
        for here, dirs, names in os.walk(os.path.join(ROOT, "kerasae")) if "__init__.py" in names
    }
    assert set(config["packages"]) == on_disk | {builtin.PACKAGE}, "update [tool.setuptools] packages in pyproject.toml"
    assert config["package-dir"] == {builtin.PACKAGE: "presets"}


def test_package_data_globs_cover_every_preset_file(tiny_preset, tmp_path):
    root = tmp_path / "presets"
    shutil.copytree(tiny_preset.folder, root / tiny_preset.name)
    shutil.copy(os.path.join(ROOT, "presets", "README.md"), root)
    selected = _package_data_files(str(root))
    expected = {f"{tiny_preset.name}/{rel}" for rel in _preset_files(tiny_preset.folder)} | {"README.md"}
    assert expected - selected == set(), "pyproject.toml's package-data globs miss these preset files"
    for name in builtin.names():  # the repository's own presets too
        folder = os.path.join(ROOT, "presets", name)
        missing = {f"{name}/{rel}" for rel in _preset_files(folder)} - _package_data_files(os.path.join(ROOT, "presets"))
        assert not missing, f"pyproject.toml's package-data globs miss {sorted(missing)}"


def _copy_project(destination, tiny_preset):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".kerasae-staging-*")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), destination)
    shutil.copytree(os.path.join(ROOT, "kerasae"), destination / "kerasae", ignore=ignore)
    shutil.copytree(os.path.join(ROOT, "presets"), destination / "presets", ignore=ignore)
    shutil.copytree(tiny_preset.folder, destination / "presets" / tiny_preset.name, ignore=ignore)


def _build_wheel(source, out):
    """Builds the wheel with pip; build isolation brings the setuptools pyproject.toml asks for (from the
    package registry or pip's cache), unless the installed one is recent enough to build without."""
    import setuptools

    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(out)]
    if int(setuptools.__version__.split(".")[0]) >= 77:
        command.append("--no-build-isolation")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=source)
    if result.returncode != 0 and any(s in result.stdout + result.stderr for s in (
            "No matching distribution", "Could not find a version", "Failed to establish", "Network is unreachable")):
        pytest.skip("the build backend (setuptools) could not be fetched: " + result.stderr.strip()[-300:])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (wheel,) = glob.glob(os.path.join(out, "kerasae-*.whl"))
    return wheel


def test_a_built_wheel_ships_the_presets(tiny_preset, tmp_path):
    source = tmp_path / "project"
    source.mkdir()
    _copy_project(source, tiny_preset)
    wheel = _build_wheel(source, tmp_path / "wheels")
    names = set(zipfile.ZipFile(wheel).namelist())
    prefix = "kerasae/_builtin_presets/"
    expected = {f"{prefix}{tiny_preset.name}/{rel}" for rel in _preset_files(tiny_preset.folder)}
    assert expected <= names, sorted(expected - names)
    assert {f"{prefix}README.md", f"{prefix}__init__.py", "kerasae/presets/loading.py"} <= names
    # Installed (a pure wheel unpacks as is): a fresh interpreter without site-packages finds and checks it.
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import kerasae.presets as p; "
        "print(p.list()); print(p.folder(sys.argv[2])); print(p.verify(p.folder(sys.argv[2]))['name'])"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script, str(installed), tiny_preset.name],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    listed, folder, name = result.stdout.splitlines()
    assert listed == repr(sorted(set(builtin.names()) | {tiny_preset.name})) and name == tiny_preset.name
    assert folder == str(installed / "kerasae" / "_builtin_presets" / tiny_preset.name)
