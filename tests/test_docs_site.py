"""The documentation site builds with warnings as errors (README's command: notebooks executed, API from the
docstrings), a page of a source document renders in headless Chromium with its math typeset by the MathJax
the site ships, an executed figure and a working link to the API, and no internal link of the site is broken.

The build takes a few minutes (it executes every notebook); it runs once per session, in a temporary folder.
"""
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--virtual-time-budget=5000"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    out = tmp_path_factory.mktemp("site") / "html"
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(out.parent / "numba"))}
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                          str(ROOT / "docs"), str(out)], capture_output=True, text=True, env=env, timeout=1500)
    assert run.returncode == 0, f"the site does not build:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    return out


class Links(HTMLParser):
    """Every href/src of a page, and every id it defines."""

    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and attrs.get("rel") == "preconnect"):
                self.links.append(attrs[key])


@functools.lru_cache(maxsize=None)
def parse(page: Path) -> Links:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def pages(root: Path):
    """The site's pages (_static holds the themes' Jinja macro files, not pages)."""
    return sorted(p for p in root.rglob("*.html") if "_static" not in p.relative_to(root).parts)


def broken_links(root: Path):
    """(page, link) for each internal link to a missing file or to a missing #anchor of a page."""
    broken = []
    for page in pages(root):
        for link in parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or root.resolve() not in target.parents:
                broken.append((page.relative_to(root), link))
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in parse(target).ids:
                broken.append((page.relative_to(root), link))
    return broken


def test_every_internal_link_resolves(site):
    built = pages(site)
    assert len(built) > 50, f"only {len(built)} pages were built"
    broken = broken_links(site)
    assert not broken, f"{len(broken)} broken internal links, e.g. {broken[:10]}"


def test_no_page_loads_anything_from_the_network(site):
    # MathJax and the theme's assets are served by the site itself; links to other sites are fine
    remote = [(p.relative_to(site), s) for p in pages(site)
              for s in re.findall(r'<(?:script|link|img)[^>]*?(?:src|href)="(https?://[^"]+)"',
                                  p.read_text(encoding="utf-8"))]
    assert not remote, f"pages load remote assets: {remote[:5]}"
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_link_check_sees_a_broken_link_and_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<p id="here"><a href="a.html#here">ok</a><a href="b.html">gone</a>'
                                     '<a href="a.html#nowhere">no anchor</a><img src="x.png"></p>')
    assert broken_links(tmp_path) == [(Path("a.html"), "b.html"), (Path("a.html"), "a.html#nowhere"),
                                      (Path("a.html"), "x.png")]


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    return exe


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def rendered_dom(url, tmp_path):
    run = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0 and "<html" in run.stdout, f"chromium failed on {url}: {run.stderr[-2000:]}"
    return run.stdout


class Text(HTMLParser):
    """The visible text of a DOM, without code, scripts, styles and MathJax's own output."""

    SKIP = {"script", "style", "pre", "code", "mjx-container", "template"}

    def __init__(self):
        super().__init__()
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def test_source_document_page_in_a_browser(site, server, tmp_path):
    page = "_generated/sources/d1.html"
    dom = rendered_dom(f"{server}/{page}", tmp_path)
    # MathJax ran: the formulas are typeset, and no TeX is left as text
    assert dom.count("<mjx-container") >= 20, "MathJax did not typeset the page's formulas"
    text = Text()
    text.feed(dom)
    visible = " ".join(text.parts)
    leftovers = re.findall(r"\$[^$\s][^$]*\$|\\frac|\\sigma|\\partial", visible)
    assert not leftovers, f"raw TeX left in the rendered text: {leftovers[:5]}"
    # the figure that opens the page was computed by executing it at build time
    images = re.findall(r'<div class="cell_output[^"]*".*?<img[^>]+src="([^"]+\.png)"', dom, flags=re.S)
    assert images, "no image from an executed cell on the page"
    assert all((site / "_generated" / "sources" / src).resolve().is_file() for src in images)
    # each item links to its code on an API page, and the link reaches a documented object
    api = re.findall(r'href="(\.\./api/tinygrad_lm\.[\w.]+\.html#(tinygrad_lm\.[\w.]+))"', dom)
    assert len(api) >= 10, "the items do not link to the API reference"
    href, anchor = api[0]
    target = (site / "_generated" / "sources" / href.split("#")[0]).resolve()
    assert anchor in parse(target).ids


def test_notebooks_were_executed_with_their_figures(site):
    executed = sorted((site / "_generated" / "notebooks").glob("*.html"))
    assert [p.stem for p in executed] == sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    for page in executed:
        html = page.read_text(encoding="utf-8")
        source = (ROOT / "notebooks" / f"{page.stem}.py").read_text(encoding="utf-8")
        assert 'class="cell_output' in html, f"{page.name}: no cell output (not executed?)"
        if "plt." in source or "plot_" in source:
            assert re.search(r'<img[^>]+src="[^"]+\.png"', html), f"{page.name} plots but shows no figure"
