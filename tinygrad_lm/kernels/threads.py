"""A kernel over ranges of its batch on all cores, on Python threads.

Numba's parallel loops (OpenMP or its workqueue) keep their workers spinning after a loop and take the
cores that the next BLAS product needs, so the kernels that sit between products are serial. Where one
is worth splitting, its batch goes in ranges instead, one per Numba thread (NUMBA_NUM_THREADS), each on
a Python thread of a small pool: the kernels are compiled ``nogil`` (as BLAS products release the GIL),
and an idle pool thread sleeps rather than spins.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba

MIN_WORK = 1 << 16  # below this many elements: one thread (handing a range to a thread costs ~30 us)
_pool = None


def parts(n: int, work: int) -> int:
    """How many ranges ``n`` items go in, for a call touching ``work`` elements."""
    return 1 if work < MIN_WORK else min(numba.get_num_threads(), n)


def in_ranges(run, n: int, work: int) -> None:
    """run(a, b) for ranges a..b-1 of ``n`` items (as many as ``parts`` says), the first in this thread,
    the rest in the pool."""
    global _pool
    count = parts(n, work)
    if count <= 1:
        run(0, n)
        return
    cuts = [n * i // count for i in range(count + 1)]
    if _pool is None:
        _pool = ThreadPoolExecutor(max(numba.get_num_threads() - 1, 1), thread_name_prefix="tinygrad_lm")
    pending = [_pool.submit(run, a, b) for a, b in zip(cuts[1:-1], cuts[2:], strict=True)]
    run(cuts[0], cuts[1])
    for f in pending:
        f.result()


def _forget_pool():  # a forked child has none of the pool's threads
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)
