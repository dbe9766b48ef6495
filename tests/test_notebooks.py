"""The notebooks in notebooks/: each runs top to bottom with its quick parameters and shows figures.

Each notebook has one code cell tagged ``parameters``; the test adds a cell after it that overrides them
(``EPOCHS = 2; QUICK = True``: a small subset, few epochs and few samples), runs the notebook with nbclient
in a temporary folder, and checks that no cell failed and that figures were displayed. The kernel runs
the interpreter that runs the tests (a kernel spec written for it), so the notebooks see the same
environment as the test suite.
"""

import copy
import json
import os
import pathlib
import sys
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: Overrides of the parameters cell that make a notebook run in seconds on digits.
QUICK_PARAMETERS = "EPOCHS = 2\nQUICK = True"
#: Seconds one cell may run before the test fails.
CELL_TIMEOUT = 300
KERNEL_NAME = "kerasae-tests"


def parameters_cell_index(nb):
    """Index of the notebook's single code cell tagged ``parameters``."""
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    assert nb.cells[tagged[0]].cell_type == "code"
    return tagged[0]


def with_parameters(nb, source):
    """A copy of ``nb`` with a code cell holding ``source`` inserted after its parameters cell."""
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    cell.id = "injected-parameters"
    nb.cells.insert(parameters_cell_index(nb) + 1, cell)
    return nb


def kernel_manager(folder):
    """A kernel manager that starts ``sys.executable -m ipykernel_launcher`` (this environment's Python).

    The installed ``python3`` kernel spec may name another interpreter (a system Jupyter), so the test
    writes its own spec into ``folder`` instead of relying on it.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = pathlib.Path(folder) / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "kerasae tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(folder)])
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def execute(path, parameters=QUICK_PARAMETERS, workdir=".", timeout=CELL_TIMEOUT):
    """Runs a notebook with ``parameters`` injected after its parameters cell; returns the executed notebook."""
    nb = with_parameters(nbformat.read(str(path), as_version=4), parameters)
    workdir = pathlib.Path(workdir)
    km = kernel_manager(workdir / ".kernels")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("MPLBACKEND", None)  # the notebooks choose the inline backend themselves
    client = nbclient.NotebookClient(
        nb, km=km, timeout=timeout, kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(workdir)}}
    )
    client.execute(cwd=str(workdir), env=env)
    return nb


def image_outputs(nb):
    """The PNG images the notebook displayed."""
    return [
        out["data"]["image/png"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") in ("display_data", "execute_result") and "image/png" in out.get("data", {})
    ]


def test_notebooks_exist():
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01_autoencoders_and_pca.ipynb",
        "02_regularised_autoencoders.ipynb",
        "03_stacked_autoencoder.ipynb",
        "04_vae.ipynb",
        "05_semi_supervised.ipynb",
        "06_export.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path):
    """Outputs stripped, one parameters cell near the top with EPOCHS and QUICK, inline plots, model.fit."""
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks without outputs"
    index = parameters_cell_index(nb)
    assert index <= 3, "the parameters cell belongs near the top"
    params = nb.cells[index].source
    assert "EPOCHS" in params and "QUICK = False" in params and "DATASET" in params
    source = "\n".join(c.source for c in code)
    assert "%matplotlib inline" in source
    assert ".fit(" in source
    assert "tempfile.mkdtemp" in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_quickly_and_shows_figures(path, tmp_path):
    start = time.perf_counter()
    nb = execute(path, workdir=tmp_path)
    elapsed = time.perf_counter() - start
    errors = [
        out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"
    ]
    assert not errors
    assert len(image_outputs(nb)) >= 1, "the notebook displayed no figure"
    assert sorted(os.listdir(tmp_path)) == [".kernels"], "the notebook wrote into its working folder"
    print(f"{path.name}: {elapsed:.1f} s")
