"""The CUDA toolkit every kernel family uses: compile a CUDA C source once, launch a kernel over a grid.

CuPy is imported only when a GPU kernel first runs (a CPU-only install never needs it). Sources templated
on the element type T get ``typedef float T;`` or ``typedef double T;`` in front, one compiled module per
type; CuPy also caches the binaries on disk, so a new process does not run nvcc again.
"""
from __future__ import annotations

import functools

import numpy as np

_C_TYPE = {"float32": "float", "float64": "double"}


@functools.lru_cache(maxsize=None)
def module(source: str, dtype: str | None = None, options: tuple = ()):
    """``source`` compiled (once per process) with T = ``dtype``'s C type when ``dtype`` is given."""
    import cupy

    prefix = "" if dtype is None else f"typedef {_C_TYPE[dtype]} T;\n"
    return cupy.RawModule(code=prefix + source, options=options)


def run(fn, total: int, args: tuple, block: int = 256) -> None:
    """Run the compiled kernel ``fn`` on at least ``total`` threads, ``block`` a block; it skips the extra ones."""
    fn(((total + block - 1) // block,), (block,), args)


def launch(source: str, name: str, arrays, total: int, ints) -> None:
    """Kernel ``name`` of the T-templated ``source`` (T: the arrays' dtype) on one thread per element, called
    as (arrays..., total as a long long, ints... as ints)."""
    fn = module(source, arrays[0].dtype.name).get_function(name)
    run(fn, total, (*arrays, np.int64(total), *[np.int32(v) for v in ints]))
