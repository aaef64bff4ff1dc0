"""Tensor factories as PyTorch names them; random ones draw from the seeded generator of ``backend``."""
from __future__ import annotations

import math

import numpy as np

from . import backend
from .tensor import Tensor, get_default_dtype


def _shape(op: str, size) -> tuple:
    """``size`` as ints ``(2, 3)`` or one sequence ``((2, 3),)``: each a non-negative integer, as torch asks."""
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
    for n in shape:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"{op}: size must be a tuple of ints, got {shape!r} ({type(n).__name__} {n!r})")
        if n < 0:
            raise ValueError(f"{op}: size must be non-negative, got {shape}")
    if math.prod(shape) > np.iinfo(np.intp).max:
        raise MemoryError(f"{op}: a tensor of size {shape} has more elements than memory can address")
    return shape


def _allocate(op: str, make, shape):
    """``make(shape)``, a size NumPy cannot allocate reported by the op (NumPy's own message names no op)."""
    try:
        return make(shape)
    except MemoryError as e:
        raise MemoryError(f"{op}: cannot allocate a tensor of size {shape} ({e})") from None


def _make(array, dtype, device, requires_grad):
    t = Tensor(array, dtype=dtype or (get_default_dtype() if array.dtype.kind == "f" else None), device=device)
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _make(_allocate("zeros", np.zeros, _shape("zeros", size)), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _make(_allocate("ones", np.ones, _shape("ones", size)), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    shape = _shape("full", (size,))
    return _make(_allocate("full", lambda s: np.full(s, fill_value), shape), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    a = _allocate("arange", lambda _: np.arange(start, end, step) if end is not None else np.arange(start), None)
    return _make(a, dtype, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    return _make(_allocate("randn", backend.rng().standard_normal, _shape("randn", size)), dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    return _make(_allocate("rand", backend.rng().random, _shape("rand", size)), dtype, device, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None):
    if isinstance(high, (tuple, list)):  # torch's randint(high, size)
        high, size = None, high
    if high is None:
        low, high = 0, low
    if not low < high:
        raise ValueError(f"randint: low must be less than high, got low={low}, high={high}")
    shape = _shape("randint", (size,))
    return _make(_allocate("randint", lambda s: backend.rng().integers(low, high, size=s), shape), dtype, device, False)
