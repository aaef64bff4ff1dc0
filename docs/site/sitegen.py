"""Generates the site's pages from the project's own sources at every build (a Sphinx extension).

Read at build time, so the pages never go stale:

- ``docs/formulas.md``: each inventory ID's formula, code and tests;
- ``docs/errata.md``: its headings name the IDs they correct (linked by heading anchor);
- ``tinygrad_lm.exercises.EXERCISES``: each exercise's inventory IDs;
- ``notebooks/NN_*.py`` (the jupytext sources): copied as notebooks, with a target where each ID is first named;
- the package itself: one API page per public module (autodoc);
- ``docs/benchmarks.md``: its table, plotted.
- the instruments (``tinygrad_lm.viz``, summary, hooks): the pictures of ``docs/instruments.md``
  (``instrument_pictures.py``).

Written under ``docs/_generated/`` (ignored by git), only when a file's text changes, so Sphinx and the
notebook execution cache see unchanged pages as unchanged.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path

from sphinx.util import logging

from instrument_pictures import draw_all as draw_instrument_pictures
from sources import CHAPTERS, SOURCES, chapter_figure

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
OUT = DOCS / "_generated"
PACKAGE = "tinygrad_lm"
# student templates and hidden checks are exercise material, not API
PRIVATE_MODULES = ("tinygrad_lm.exercises.templates", "tinygrad_lm.exercises.checks")
ID_RE = re.compile(r"D[0-4]\.[FMT]\d")
log = logging.getLogger(__name__)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def label(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)


# ---------------------------------------------------------------- reading the sources

def read_formulas():
    """{doc number: title}, and one row per ID: {id: (doc, formula, code cell, test cell)}, in order."""
    titles, rows, doc = {}, {}, None
    for line in (DOCS / "formulas.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"## Document (\d{3}) — (.+)", line)
        if m:
            doc = int(m.group(1))
            titles[doc] = m.group(2).strip()
            continue
        cells = split_row(line)
        if cells and ID_RE.fullmatch(cells[0]):
            rows[cells[0]] = (doc, cells[1], cells[2], cells[3])
    return titles, rows


def split_row(line: str):
    """The cells of a Markdown table row (a `|` inside backticks or math stays in its cell)."""
    if not line.startswith("|"):
        return None
    cells, cur, code, math = [], "", False, False
    for ch in line.strip()[1:]:
        if ch == "`" and not math:
            code = not code
        elif ch == "$" and not code:
            math = not math
        if ch == "|" and not code and not math:
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return cells if len(cells) >= 4 else None


def read_errata():
    """{ID: [(heading text, anchor)]} from the level-3 headings of errata.md."""
    from myst_parser.slugs import github_slugify

    found, seen = {}, {}
    for line in (DOCS / "errata.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("### "):
            continue
        text = line[4:].strip()
        slug = github_slugify(re.sub(r"[`*]", "", text))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchor = slug if n == 0 else f"{slug}-{n}"
        for ident in expand_ids(text):
            found.setdefault(ident, []).append((text, anchor))
    return found


def expand_ids(text: str):
    """The IDs a heading names: 'D0.T1–T3' is D0.T1, D0.T2, D0.T3; 'D4.T1/T2' is D4.T1, D4.T2."""
    ids = []
    for m in re.finditer(r"(D[0-4])\.([FMT])(\d)(?:[–-]\2?(\d)|/(?:D[0-4]\.)?\2(\d))?", text):
        doc, kind, first = m.group(1), m.group(2), int(m.group(3))
        last = int(m.group(4) or m.group(5) or first)
        ids += [f"{doc}.{kind}{i}" for i in range(first, last + 1) if m.group(4) or i in (first, last)]
    return ids


def backticked(cell: str):
    return re.findall(r"`([^`]+)`", cell)


# ---------------------------------------------------------------- API reference

def public_modules():
    pkg = importlib.import_module(PACKAGE)
    names = [PACKAGE]
    for info in pkgutil.walk_packages(pkg.__path__, PACKAGE + "."):
        if any(part.startswith("_") for part in info.name.split(".")) or info.name.startswith(PRIVATE_MODULES):
            continue
        names.append(info.name)
    return sorted(names)


def resolve(name: str, context: str | None):
    """The documented target of a name in formulas.md's code column, as (role, dotted path, module), or None.

    Names are written relative to the package ('models.gpt.GPT.forward'), as file paths ('kernels/conv.py'),
    through the usual alias ('F.conv2d'), or bare after a qualified name in the same cell ('quantize_tensor')."""
    name = re.sub(r"\(.*", "", name).strip().removesuffix(".*")
    if not name or " " in name or name.startswith(("tinygrad-lm", "-")):
        return None
    if name.endswith(".py") or "/" in name:
        name = name.removesuffix(".py").removesuffix("/*").replace("/", ".")
    name = re.sub(r"^F\.", "nn.functional.", name)
    for cand in [name, f"{PACKAGE}.{name}"] + ([f"{context}.{name}"] if context else []):
        target = lookup(cand)
        if target:
            return target
    return None


def lookup(path: str):
    parts = path.split(".")
    if parts[0] != PACKAGE:
        return None
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
        if inspect.ismodule(obj):
            return ("py:mod", obj.__name__, obj.__name__)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            owner, qual = obj.__module__, obj.__qualname__
            if owner.startswith(PACKAGE) and "<" not in qual:
                return ("py:obj", f"{owner}.{qual}", owner)
        return None
    return None


def api_pages(modules):
    rows = []
    for mod in modules:
        module = importlib.import_module(mod)
        doc = (module.__doc__ or "").strip().splitlines()
        summary = doc[0] if doc else ""
        # a package's function named as one of its submodules (ops.matmul) would take the module's name
        shadowing = [m for m in modules if m.rpartition(".")[0] == mod
                     and not inspect.ismodule(getattr(module, m.rpartition(".")[2], importlib.import_module(m)))]
        exclude = f"   :exclude-members: {', '.join(m.rpartition('.')[2] for m in shadowing)}\n" if shadowing else ""
        # orphans, out of the sidebar: a 100-page navigation tree on every page triples the build time
        write(OUT / "api" / f"{mod}.md", f"---\norphan: true\n---\n# `{mod}`\n\n```{{eval-rst}}\n.. automodule:: {mod}\n   :members:\n"
                                         f"   :undoc-members:\n   :show-inheritance:\n{exclude}```\n")
        rows.append(f"| {{py:mod}}`{mod}` | {summary.replace('|', '/')} |")
    write(OUT / "api" / "index.md",
          "# API reference\n\nEvery public module of the package, from its docstrings (autodoc). The student "
          "templates and hidden checks of the exercises are left out: they are exercise material.\n\n"
          "| module | what it holds |\n|---|---|\n"
          + "\n".join(rows) + "\n")


# ---------------------------------------------------------------- tests

def test_pages(refs):
    """One page per test file named in formulas.md, a section (and its code) per test function named."""
    pages = {}
    for path, fn in refs:
        pages.setdefault(path, set())
        if fn:
            pages[path].add(fn)
    missing = []
    for path, fns in sorted(pages.items()):
        source = ROOT / path
        if not source.exists():
            missing.append(path)
            continue
        defined = {n.name for n in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        stem = Path(path).stem
        text = [f"---\norphan: true\n---\n({label('test', stem)})=\n# `{path}`\n",
                f"The tests of `{path}` that {{doc}}`the inventory <../../formulas>` names, with their code.\n"]
        for fn in sorted(fns):
            if fn not in defined:
                missing.append(f"{path}::{fn}")
                continue
            text.append(f"({label('test', stem, fn)})=\n## `{fn}`\n\n```{{literalinclude}} ../../../{path}\n"
                        f":language: python\n:pyobject: {fn}\n```\n")
        write(OUT / "tests" / f"{stem}.md", "\n".join(text))
    for m in missing:
        log.warning(f"docs/formulas.md names a test that does not exist: {m}")
    write(OUT / "tests" / "index.md", "# Tests named by the inventory\n\nEach page shows the code of the tests that "
          "{doc}`../../formulas` names for an item.\n\n" + "".join(
              f"- {{doc}}`{p} <{Path(p).stem}>`\n" for p in sorted(pages) if (ROOT / p).exists()))
    return {p for p in pages if (ROOT / p).exists()}


def test_refs(cell: str):
    refs, current = [], None
    for tok in backticked(cell):
        m = re.fullmatch(r"(tests/[\w/]+\.py)(?:::(\w+))?(?:\[.*\])?", tok)
        if m:
            current = m.group(1)
            refs.append((current, m.group(2)))
        elif current and re.fullmatch(r"test_\w+", tok):
            refs.append((current, tok))
    return refs


# ---------------------------------------------------------------- notebooks

def notebooks():
    """Each notebook from its jupytext source, a target before the cell where each ID is first named.

    Returns {stem: (title, {ID: label})}."""
    import jupytext
    import nbformat

    found = {}
    for script in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        nb = jupytext.read(script)
        stem = script.stem
        title = next((re.sub(r"^#\s*", "", c.source.splitlines()[0]) for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("# ")), stem)
        targets, cells = {}, []
        for cell in nb.cells:
            new = [i for i in dict.fromkeys(ID_RE.findall(cell.source)) if i not in targets]
            lines = []
            for ident in new:
                targets[ident] = label("nb", stem, ident)
                lines.append(f"({targets[ident]})=")
            if cell.cell_type == "markdown":  # links relative to notebooks/, made relative to the copy
                cell.source = re.sub(r"\]\((?!https?:|#)([^)\s]+)\)", lambda m: "](" + os.path.relpath(
                    (ROOT / "notebooks" / m.group(1)).resolve(), OUT / "notebooks") + ")", cell.source)
            if lines and cell.cell_type == "markdown":
                cell.source = "\n".join(lines) + "\n" + cell.source
            elif lines:
                cells.append(nbformat.v4.new_markdown_cell("\n".join(lines)))
            cells.append(cell)
        nb.cells = cells
        nb.metadata.pop("jupytext", None)
        write(OUT / "notebooks" / f"{stem}.ipynb", nbformat.writes(nb))
        found[stem] = (title, targets)
    return found


# ---------------------------------------------------------------- pages per source document

def id_link(ident: str) -> str:
    return f"{{ref}}`{ident} <{label('id', ident)}>`"


def chapter_pages(titles, rows, errata, exercises, nbs, test_files):
    by_id = {}
    for ex in exercises.values():
        for ident in ex.ids:
            by_id.setdefault(ident, []).append(ex)
    for doc, title in titles.items():
        ids = [i for i, r in rows.items() if r[0] == doc]
        missing = [i for i in SOURCES if i.startswith(f"D{doc}.") and i not in rows]
        for i in missing:
            log.warning(f"{i} is in the inventory but not in docs/formulas.md")
        lines = ["---", "file_format: mystnb", "kernelspec:", "  name: python3", "  display_name: Python 3",
                 "  language: python", "---",
                 f"({label('source', str(doc))})=", f"# Document {doc:03d}: {title}", "",
                 f"Every inventory item of source document {doc:03d} (`D{doc}.*`), with the formula as "
                 "implemented (corrected where the source is wrong), where it is in the source, the erratum, "
                 "the code, the tests, the notebook cell and the exercises. Sections (§) are those of the "
                 "source document. Generated from {doc}`../../formulas`, {doc}`../../errata`, the exercise "
                 "registry and the notebooks at every build.", "",
                 "```{code-cell} ipython3", ":tags: [hide-input]", "", chapter_figure(doc).strip(), "```", ""]
        for ident in ids:
            _, formula, code, tests = rows[ident]
            section, name = SOURCES.get(ident, ("", ""))
            if ident not in SOURCES:
                log.warning(f"{ident} has no source section in docs/site/sources.py")
            whole = re.fullmatch(r"\$([^$]+)\$", formula)  # one formula alone: displayed
            lines += [f"({label('id', ident)})=", f"## {ident}: {name}", "",
                      f"$$\n{whole.group(1)}\n$$" if whole else formula, ""]
            lines.append(f"- **Source:** document {doc:03d} {section}")
            errs = errata.get(ident, [])
            if errs:
                lines.append("- **Erratum:** " + "; ".join(f"[{t}](../../errata.md#{a})" for t, a in errs))
            else:
                lines.append("- **Erratum:** none known")
            lines.append("- **Code:** " + code_links(code))
            lines.append("- **Tests:** " + tests_links(tests, test_files))
            cells = [f"{{ref}}`{stem[:2]} <{targets[ident]}>`" for stem, (_, targets) in nbs.items()
                     if ident in targets]
            lines.append("- **Notebook:** " + (", ".join(cells) if cells else "none"))
            exs = by_id.get(ident, [])
            lines.append("- **Exercises:** " + ("; ".join(f"{{ref}}`{e.id} <{label('ex', e.id)}>` {e.title}"
                                                           for e in exs) if exs else "none"))
            lines.append("")
        write(OUT / "sources" / f"d{doc}.md", "\n".join(lines))


def code_links(cell: str) -> str:
    out, context = [], None
    for tok in backticked(cell):
        target = resolve(tok, context)
        if target is None:
            out.append(f"`{tok}`")
        else:
            role, path, context = target
            out.append(f"{{{role}}}`{tok} <{path}>`")
    return ", ".join(out) or cell


def tests_links(cell: str, test_files) -> str:
    out = []
    for path, fn in test_refs(cell):
        if path not in test_files:
            out.append(f"`{path}`")
        elif fn:
            out.append(f"{{ref}}`{fn} <{label('test', Path(path).stem, fn)}>`")
        else:
            out.append(f"{{ref}}`{path} <{label('test', Path(path).stem)}>`")
    return ", ".join(out) or "none"


# ---------------------------------------------------------------- learning path

def learning_path(nbs, exercises):
    by_file = {}
    for ex in sorted(exercises.values(), key=lambda e: e.key):
        by_file.setdefault(ex.file, []).append(ex)
    lines = ["# Learning path", "",
             "The chapters in order. Each has a notebook to read and run (rendered here, executed at build time on "
             "small settings), the inventory items it covers, and exercises: stubs to fill in and checks that say "
             "at once what is wrong (see {doc}`../exercises`). Start an exercise set with "
             "`tinygrad-lm exercises start my_exercises`, check one with "
             "`tinygrad-lm exercises check 3.2 --dir my_exercises`.", ""]
    for n, (stem, files) in enumerate(CHAPTERS, 1):
        title, targets = nbs[stem]
        lines += [f"## {n}. {re.sub(r'^[0-9]+ *[·.:—-] *', '', title)}", "",
                  f"- **Notebook:** {{doc}}`notebooks/{stem}`",
                  "- **Inventory:** " + (", ".join(id_link(i) for i in sorted(targets)) or "none")]
        for file in files:
            lines.append(f"- **Exercises** (`tinygrad_lm/exercises/templates/{file}.py`):")
            lines.append("")
            for ex in by_file.pop(file, []):
                ids = ", ".join(id_link(i) for i in ex.ids)
                lines += [f"  ({label('ex', ex.id)})=", f"  - **{ex.id}** {ex.title} [{ex.kind}]; {ids}"]
            lines.append("")
        lines.append("")
    for file in by_file:
        log.warning(f"exercise file {file} is in no chapter of docs/site/sources.py CHAPTERS")
    write(OUT / "learning_path.md", "\n".join(lines))


# ---------------------------------------------------------------- pictures

def benchmark_rows():
    """(case, low, high, median) of each row of docs/benchmarks.md's table that has a ratio range."""
    rows = []
    for line in (DOCS / "benchmarks.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5:
            continue
        rng = re.fullmatch(r"([\d.]+)[–-]([\d.]+)x", cells[3])
        med = re.fullmatch(r"([\d.]+)x", cells[4])
        if rng and med:
            rows.append((cells[0], float(rng.group(1)), float(rng.group(2)), float(med.group(1))))
    return rows


def benchmark_plot(path: Path):
    from matplotlib.figure import Figure

    rows = benchmark_rows()
    if not rows:
        log.warning("docs/benchmarks.md: no table row with a ratio range and a median was found")
        return
    fig = Figure(figsize=(8, 0.36 * len(rows) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    y = range(len(rows))[::-1]
    for yi, (_, lo, hi, med) in zip(y, rows, strict=True):
        color = "tab:green" if med <= 1.0 else "tab:orange"
        ax.plot([lo, hi], [yi, yi], color=color, lw=6, alpha=0.35, solid_capstyle="butt")
        ax.plot([med], [yi], "o", color=color)
    ax.axvline(1.0, color="k", lw=1, ls="--")
    ax.set_yticks(list(y), [r[0] for r in rows], fontsize=8)
    ax.set_xlabel("time ratio tinygrad_lm / PyTorch\n(bar: range over runs, dot: median; left of 1: tinygrad_lm faster)")
    fig.savefig(path, dpi=90)


def inventory_plot(path: Path, rows, nbs, exercises, test_files):
    from matplotlib.figure import Figure

    docs = sorted({r[0] for r in rows.values()})
    kinds = {"F": "formulas", "M": "models", "T": "techniques"}
    in_nb = {i for _, (_, t) in nbs.items() for i in t}
    in_ex = {i for e in exercises.values() for i in e.ids}
    fig = Figure(figsize=(8, 3), layout="constrained")
    ax = fig.add_subplot()
    bottom = [0] * len(docs)
    for k, name in kinds.items():
        counts = [sum(1 for i, r in rows.items() if r[0] == d and i[3] == k) for d in docs]
        ax.bar([f"D{d}" for d in docs], counts, bottom=bottom, label=name)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    for x, d in enumerate(docs):
        ids = [i for i, r in rows.items() if r[0] == d]
        ax.text(x, bottom[x] + 0.3, f"{sum(i in in_nb for i in ids)} in notebooks\n"
                f"{sum(i in in_ex for i in ids)} in exercises", ha="center", fontsize=8)
    ax.set_ylim(0, max(bottom) + 5)
    ax.set_ylabel("inventory items")
    ax.set_title(f"{len(rows)} items of the five source documents, each with its code and tests")
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(path, dpi=90)


# ---------------------------------------------------------------- Sphinx hooks

def generate(app):
    from tinygrad_lm.exercises import EXERCISES

    titles, rows = read_formulas()
    errata = read_errata()
    nbs = notebooks()
    refs = [r for row in rows.values() for r in test_refs(row[3])]
    test_files = test_pages(refs)
    api_pages(public_modules())
    chapter_pages(titles, rows, errata, EXERCISES, nbs, test_files)
    learning_path(nbs, EXERCISES)
    (OUT / "img").mkdir(parents=True, exist_ok=True)
    benchmark_plot(OUT / "img" / "benchmarks.png")
    inventory_plot(OUT / "img" / "inventory.png", rows, nbs, EXERCISES, test_files)
    draw_instrument_pictures(OUT / "instruments")  # docs/instruments.md's pictures and printed outputs


def add_benchmark_plot(app, docname, source):
    """The ratio plot, under the benchmarks page's first heading (docs/benchmarks.md stays as it is)."""
    if docname == "benchmarks":
        head, _, rest = source[0].partition("\n")
        source[0] = (f"{head}\n\n```{{figure}} _generated/img/benchmarks.png\n:alt: ratios to PyTorch\n\n"
                     f"The ratios of the table below, read from it at build time.\n```\n{rest}")


def plain_docstring(app, what, name, obj, options, lines):
    """A docstring that is not valid reStructuredText (most here are plain text: |x|, a_i*, indented formulas)
    is shown as written, in a literal block, instead of failing the build."""
    import io

    from docutils.core import publish_doctree

    if not lines:
        return
    text = "\n".join(lines)
    text = re.sub(r":(py:)?(class|func|meth|mod|obj|attr|data|exc):`", "`", text)  # Sphinx roles: fine in Sphinx
    complaints = io.StringIO()
    publish_doctree(text, settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": complaints})
    if complaints.getvalue():
        lines[:] = ["::", ""] + ["    " + line for line in lines] + [""]


def no_torch(app, exc):
    if exc is None and "torch" in sys.modules:
        log.warning("the documentation build imported torch (the library must not)")


def setup(app):
    app.connect("builder-inited", generate)
    app.connect("source-read", add_benchmark_plot)
    app.connect("autodoc-process-docstring", plain_docstring)
    app.connect("build-finished", no_torch)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
