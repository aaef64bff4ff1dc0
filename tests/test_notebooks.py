"""Every tutorial notebook runs top to bottom on small settings (TINYGRAD_LM_FAST=1), and its
plots render (at least one PNG among the outputs of a notebook that plots)."""
import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


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
