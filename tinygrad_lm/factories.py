"""Tensor factories as PyTorch names them; random ones draw from the seeded generator of ``backend``."""
from __future__ import annotations

import numpy as np

from . import backend
from .tensor import Tensor, get_default_dtype


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def _make(array, dtype, device, requires_grad):
    t = Tensor(array, dtype=dtype or (get_default_dtype() if array.dtype.kind == "f" else None), device=device)
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.zeros(_shape(size)), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.ones(_shape(size)), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    return _make(np.full(tuple(size), fill_value), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    a = np.arange(start, end, step) if end is not None else np.arange(start)
    return _make(a, dtype, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    return _make(backend.rng().standard_normal(_shape(size)), dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    return _make(backend.rng().random(_shape(size)), dtype, device, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None):
    if high is None:
        low, high = 0, low
    return _make(backend.rng().integers(low, high, size=tuple(size)), dtype, device, False)
