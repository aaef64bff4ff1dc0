"""Every tutorial notebook runs top to bottom on small settings (TINYGRAD_LM_FAST=1), and its
plots render (at least one PNG among the outputs of a notebook that plots). Every notebook has its
source beside it, a jupytext percent script with the same cells (see docs/architecture.md)."""
import os
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def pair_mismatch(notebook):
    """Why notebook (.ipynb) and its percent script (.py) disagree, or None when their cells match."""
    import jupytext
    import nbformat

    script = notebook.with_suffix(".py")
    if not script.exists():
        return f"{notebook.name} has no source {script.name}"
    cells = [(c.cell_type, c.source) for c in nbformat.read(notebook, as_version=4).cells]
    from_script = [(c.cell_type, c.source) for c in jupytext.read(script).cells]
    if len(cells) != len(from_script):
        return f"{notebook.name} has {len(cells)} cells, {script.name} {len(from_script)}"
    for i, (a, b) in enumerate(zip(cells, from_script, strict=True)):
        if a != b:
            return f"cell {i} of {notebook.name} differs from {script.name}: {a[0]} {a[1][:60]!r} vs {b[0]} {b[1][:60]!r}"
    return None


FIX = "edit the .py, then run `jupytext --sync notebooks/*.py` (docs/architecture.md)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_matches_its_source(path):
    problem = pair_mismatch(path)
    assert problem is None, f"{problem}; {FIX}"


def test_every_source_has_its_notebook():
    orphans = [p.name for p in NOTEBOOK_DIR.glob("*.py") if not p.with_suffix(".ipynb").exists()]
    assert not orphans, f"scripts without a notebook: {orphans}; run `jupytext --sync` on them"


def test_pair_check_sees_an_edit_on_either_side(tmp_path):
    import nbformat

    notebook = tmp_path / NOTEBOOKS[0].name
    script = notebook.with_suffix(".py")
    source = NOTEBOOKS[0].with_suffix(".py").read_text()
    notebook.write_bytes(NOTEBOOKS[0].read_bytes())
    script.write_text(source)
    assert pair_mismatch(notebook) is None
    script.write_text(source.replace("import numpy as np", "import numpy as np  # edited", 1))
    assert "differs" in pair_mismatch(notebook)
    script.write_text(source + "\n# %%\nprint('a new cell')\n")
    assert "cells" in pair_mismatch(notebook)
    script.write_text(source)
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[0].source += " (edited in Jupyter)"
    nbformat.write(nb, notebook)
    assert "differs" in pair_mismatch(notebook)
    script.unlink()
    assert "no source" in pair_mismatch(notebook)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    os.environ["TINYGRAD_LM_FAST"] = "1"
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ["MPLBACKEND"] = "Agg"
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    if "plt." in source or "plot_" in source:
        images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if "image/png" in o.get("data", {})]
        assert images, f"{path.name} plots but no figure was rendered"
