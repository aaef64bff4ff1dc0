"""Sphinx configuration of the documentation site. Build (warnings are errors):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The pages per source document, the learning path, the API pages, the notebooks and the plots are generated
at every build by docs/site/sitegen.py into docs/_generated/ (ignored by git); the notebooks are executed
with TINYGRAD_LM_FAST=1, their outputs cached next to the output folder (jupyter-cache).
"""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "site"))
os.environ["TINYGRAD_LM_FAST"] = "1"  # the notebooks' small settings; their kernels inherit it
os.environ.pop("MPLBACKEND", None)  # so ipykernel's inline backend shows the notebooks' figures

project = "tinygrad_lm"
author = "tinygrad_lm contributors"
copyright = "tinygrad_lm contributors, MIT licence"

extensions = [
    "myst_nb",  # MyST Markdown pages and executed notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 from the wheel, copied into _static: no CDN
    "sitegen",
]

exclude_patterns = ["_build", "**/.ipynb_checkpoints", "jupyter_execute"]
root_doc = "index"

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

nb_execution_mode = "cache"
nb_execution_timeout = 900
nb_execution_raise_on_error = True  # a notebook that fails fails the build
nb_execution_in_temp = True  # files a notebook writes land in a temporary folder
nb_merge_streams = True

autodoc_typehints = "none"  # signatures as written; no unresolvable type references
autodoc_member_order = "bysource"
autodoc_mock_imports = ["cupy"]
# every reference to the package must resolve; outside names (numpy, builtins) are not documented here
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!tinygrad_lm\b).*"), (r"py:class", r".*\._\w+")]  # and private bases

html_theme = "sphinx_book_theme"
html_title = "tinygrad_lm"
html_static_path = []
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
}
html_last_updated_fmt = None


def _cache_next_to_output(app, config):
    # one execution cache per output folder (docs/_build/.jupyter_cache for README's command)
    config.nb_execution_cache_path = str(Path(app.outdir).parent / ".jupyter_cache")


def setup(app):
    app.connect("config-inited", _cache_next_to_output)
