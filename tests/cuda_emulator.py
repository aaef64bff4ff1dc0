"""Run the CuPy kernels' CUDA C on the CPU, so their logic is tested on machines without a GPU.

``FakeCupy`` stands in for the ``cupy`` module: array functions are NumPy's, and ``RawModule`` compiles
the CUDA source with g++ after a prelude that turns it into plain C++ (``__global__`` functions become
host functions, ``blockIdx`` / ``blockDim`` / ``threadIdx`` globals, ``atomicAdd`` a plain add). Each
kernel gets a host wrapper that runs it for every (block, thread) of the launch, one after another, so
the kernel drivers in tinygrad_lm/kernels run unchanged on NumPy arrays. What this cannot catch:
races between GPU threads and CUDA-only syntax (tests/test_cuda_sources.py compiles with nvcc for that).
"""
from __future__ import annotations

import ctypes
import hashlib
import re
import shutil
import subprocess
import tempfile
import types
from pathlib import Path

import numpy as np

CXX = shutil.which("g++")

PRELUDE = r"""
#include <cmath>
#include <cstdint>
#include <type_traits>
using std::isnan;
struct emu_dim3 { unsigned int x = 0, y = 0, z = 0; };
static emu_dim3 blockIdx, blockDim, threadIdx;
#define __global__
#define __device__ static inline
#define __forceinline__
template <class A, class B> static inline typename std::common_type<A, B>::type min(A a, B b) { return a < b ? a : b; }
template <class A, class B> static inline typename std::common_type<A, B>::type max(A a, B b) { return a < b ? b : a; }
template <class T> static inline T atomicAdd(T* at, T value) { T old = *at; *at += value; return old; }
"""

_CTYPES = {"int": ctypes.c_int, "long": ctypes.c_long, "long long": ctypes.c_longlong, "float": ctypes.c_float,
           "double": ctypes.c_double, "unsigned int": ctypes.c_uint}
_KERNEL = re.compile(r"__global__\s+void\s+(\w+)\s*\(([^)]*)\)")


def _params(text):
    """[(type, name)] of a C parameter list."""
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name = re.findall(r"\w+", part)[-1]
        out.append((part[: part.rfind(name)].replace("const", "").strip(), name))
    return out


class _Kernel:
    def __init__(self, fn, params, typedef):
        self.fn, self.params, self.typedef = fn, params, typedef

    def __call__(self, grid, block, args):
        if len(args) != len(self.params):
            raise TypeError(f"kernel takes {len(self.params)} arguments, got {len(args)}")
        c_args = []
        for (ctype, name), value in zip(self.params, args, strict=True):
            if "*" in ctype:
                if not (isinstance(value, np.ndarray) and value.flags.c_contiguous):
                    raise TypeError(f"argument {name} must be a C-contiguous array")
                c_args.append(ctypes.c_void_p(value.ctypes.data))
            else:
                c_args.append(_CTYPES[self.typedef if ctype == "T" else ctype](value.item() if hasattr(value, "item")
                                                                                 else value))
        self.fn(ctypes.c_longlong(int(np.prod(grid))), ctypes.c_longlong(int(np.prod(block))), *c_args)


class RawModule:
    """cupy.RawModule compiled for the CPU (see the module docstring)."""

    _built: dict[str, ctypes.CDLL] = {}

    def __init__(self, code: str, options=()):
        kernels = {name: _params(params) for name, params in _KERNEL.findall(code)}
        typedef = re.search(r"typedef\s+(\w+)\s+T\s*;", code)
        self.typedef = typedef.group(1) if typedef else None
        wrappers = []
        for name, params in kernels.items():
            decl = ", ".join(f"{t} {n}" for t, n in params)
            wrappers.append(f'extern "C" void emu_{name}(long long grid, long long block{", " if decl else ""}{decl}) '
                            "{ blockDim.x = block; for (long long b = 0; b < grid; ++b) { blockIdx.x = b; "
                            "for (long long t = 0; t < block; ++t) { threadIdx.x = t; "
                            f"{name}({', '.join(n for _, n in params)}); }} }} }}")
        source = PRELUDE + code + "\n" + "\n".join(wrappers) + "\n"
        key = hashlib.sha256(source.encode()).hexdigest()[:16]
        if key not in self._built:
            folder = Path(tempfile.mkdtemp(prefix="cuda_emulator_"))
            (folder / "k.cpp").write_text(source)
            done = subprocess.run([CXX, "-O1", "-std=c++14", "-shared", "-fPIC", "-w", "-o", str(folder / "k.so"),
                                   str(folder / "k.cpp")], capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"g++ could not build the emulated kernels:\n{done.stderr}")
            self._built[key] = ctypes.CDLL(str(folder / "k.so"))
        self.lib, self.kernels = self._built[key], kernels

    def get_function(self, name):
        return _Kernel(getattr(self.lib, f"emu_{name}"), self.kernels[name], self.typedef)


def fake_cupy():
    """A stand-in ``cupy`` module: NumPy's functions, the emulated RawModule, asnumpy."""
    module = types.ModuleType("cupy")
    module.__getattr__ = lambda name: getattr(np, name)
    module.RawModule = RawModule
    module.asnumpy = np.asarray
    return module
