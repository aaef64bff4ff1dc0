"""One line on stderr when Numba starts compiling this library's kernels.

A kernel compiles on its first call, for seconds, and a progress bar shows an absurd ETA meanwhile; the
machine code is then cached on disk (``cache=True``: in NUMBA_CACHE_DIR, or __pycache__ beside the
source) and later runs load it without compiling. Numba's ``numba:compile`` event fires only when
it compiles (after a cache miss), so listening to it says exactly when: once a process, before the
first compile, never on a warm cache.
"""
from __future__ import annotations

import sys

from numba.core import event

# the first step's compile, measured from an empty cache (docs/benchmarks.md, Start-up): 0.3 s (MLP) to 9 s (LSTM)
NOTICE = "compiling kernels (first run only, up to about 10 s)..."


class _CompileNotice(event.Listener):
    shown = False

    def on_start(self, ev):
        func = getattr(ev.data.get("dispatcher"), "py_func", None)
        if self.shown or not getattr(func, "__module__", "").startswith("tinygrad_lm."):
            return  # shown already, or a user's own @njit function
        type(self).shown = True
        from tqdm import tqdm  # its write() moves a progress bar below the line instead of splitting it

        tqdm.write(NOTICE, file=sys.stderr)

    def on_end(self, ev):
        pass


event.register("numba:compile", _CompileNotice())
