"""Reductions: sum, mean, max/min, var. ``dim`` may be None (all), an int, or a tuple."""
from __future__ import annotations

import builtins

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor
from .elementwise import Identity, check_float


def check_dim(dim, ndim, op):
    """``dim`` as a non-negative axis of an ``ndim``-dimensional tensor, with PyTorch's error (a 0-d tensor
    takes dim -1 or 0)."""
    n = builtins.max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def normalize_dims(dim, ndim, op="reduction"):
    """``dim`` (None, an int or a tuple of ints) as a sorted tuple of non-negative axes (all when None)."""
    if dim is None:
        return tuple(range(ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    out = [check_dim(d, ndim, op) for d in dims]
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: dim {dims} names a dimension more than once")
    return tuple(sorted(out)) if ndim else ()


def check_nonempty(x, dims, op, all_dims, error=RuntimeError):
    """max/min/argmax of nothing has no value: PyTorch's errors (``all_dims``: no dim was given)."""
    if x.size:
        return
    if all_dims:
        raise error(f"{op}(): Expected reduction dim to be specified for input.numel() == 0 (shape "
                           f"{tuple(x.shape)}); specify the reduction dim with the 'dim' argument")
    for d in dims:
        if x.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size (shape {tuple(x.shape)})")


def expand_back(g, shape, dims, keepdim):
    """Re-insert the reduced axes of ``g`` (size 1) so it broadcasts against ``shape``."""
    if not keepdim:
        g = g.reshape([1 if i in dims else n for i, n in enumerate(shape)])
    return g


class Sum(Function):
    """y = sum_i x_i over ``dim``;  dL/dx_i = g."""

    saves_inputs = ()

    def forward(self, x, dim=None, keepdim=False):
        self.shape, self.dims, self.keepdim = x.shape, normalize_dims(dim, x.ndim, "sum"), keepdim
        return x.sum(axis=self.dims, keepdims=keepdim)

    def backward(self, g):
        return xp(g).broadcast_to(expand_back(g, self.shape, self.dims, self.keepdim), self.shape).copy()


class Mean(Function):
    """y = (1/n) sum_i x_i over ``dim``;  dL/dx_i = g / n."""

    saves_inputs = ()

    def forward(self, x, dim=None, keepdim=False):
        self.shape, self.dims, self.keepdim = x.shape, normalize_dims(dim, x.ndim, "mean"), keepdim
        self.n = 1
        for d in self.dims:
            self.n *= x.shape[d] if x.ndim else 1
        if self.n == 0:  # the mean of nothing is nan, as PyTorch (NumPy would warn)
            return x.sum(axis=self.dims, keepdims=keepdim) * x.dtype.type(np.nan)
        return x.mean(axis=self.dims, keepdims=keepdim)

    def backward(self, g):
        g = expand_back(g, self.shape, self.dims, self.keepdim) / self.n
        return xp(g).broadcast_to(g, self.shape).copy()


class Max(Function):
    """y = max_i x_i over ``dim`` (``mode='min'`` for the minimum).

    dL/dx_i = g at the maximum; ties share g equally, as torch.amax does.
    """

    saves_inputs = ()

    def forward(self, x, dim=None, keepdim=False, mode="max", name=None):
        name = name or ("amax" if mode == "max" else "amin")  # the name in errors: torch.max(x) or amax
        self.shape, self.dims, self.keepdim = x.shape, normalize_dims(dim, x.ndim, name), keepdim
        check_nonempty(x, self.dims, name, dim is None)
        y = (x.max if mode == "max" else x.min)(axis=self.dims, keepdims=True)
        self.mask = x == y
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in self.dims])

    def backward(self, g):
        g = expand_back(g, self.shape, self.dims, self.keepdim)
        count = self.mask.sum(axis=self.dims, keepdims=True)
        return self.mask * (g / count).astype(g.dtype, copy=False)


class MaxAlong(Function):
    """values = x at ``idx`` (the argmax or argmin along ``dim``), as torch.max(x, dim):
    dL/dx = g at the returned index, 0 elsewhere."""

    saves_inputs = ()

    def forward(self, x, dim, idx, keepdim=False):
        m = xp(x)
        self.shape, self.dim, self.keepdim = x.shape, dim % x.ndim, keepdim
        self.idx = m.expand_dims(idx, self.dim)
        y = m.take_along_axis(x, self.idx, axis=self.dim)
        return y if keepdim else y.squeeze(self.dim)

    def backward(self, g):
        m = xp(g)
        if not self.keepdim:
            g = m.expand_dims(g, self.dim)
        out = m.zeros(self.shape, dtype=g.dtype)
        m.put_along_axis(out, self.idx, g, axis=self.dim)
        return out, None, None


class Var(Function):
    """y = sum_i (x_i - mean)^2 / (n - correction);  dL/dx_i = g 2 (x_i - mean) / (n - correction)."""

    saves_inputs = ()

    def forward(self, x, dim=None, correction=1, keepdim=False):
        self.shape, self.dims, self.keepdim = x.shape, normalize_dims(dim, x.ndim, type(self).__name__.lower()), keepdim
        n = 1
        for d in self.dims:
            n *= x.shape[d] if x.ndim else 1
        self.denom = builtins.max(n - correction, 0)
        self.centered = x - x.mean(axis=self.dims, keepdims=True)
        return (self.centered ** 2).sum(axis=self.dims, keepdims=keepdim) / self.denom

    def backward(self, g):
        g = expand_back(g, self.shape, self.dims, self.keepdim)
        return (2 / self.denom) * g * self.centered


class Std(Var):
    """y = sqrt(var);  dL/dx = var's gradient at g / (2 y), taken as 0 where y = 0 (as PyTorch)."""

    saves_output = True

    def forward(self, x, dim=None, correction=1, keepdim=False):
        self.y = xp(x).sqrt(super().forward(x, dim, correction, keepdim))
        return self.y

    def backward(self, g):
        m = xp(g)
        nonzero = self.y > 0
        return super().backward(m.where(nonzero, g / (2 * m.where(nonzero, self.y, 1)), 0).astype(g.dtype))


# ------------------------------------------------------------------ functional wrappers
def _dim_args(op, dim, keepdim, axis, keepdims):
    """NumPy's ``axis`` / ``keepdims`` as aliases of ``dim`` / ``keepdim``, as PyTorch accepts them."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: give dim or its alias axis, not both")
        dim = axis
    return dim, bool(keepdim if keepdims is None else keepdims)


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    dim, keepdim = _dim_args("sum", dim, keepdim, axis, keepdims)
    return Sum.apply(x, dim=dim, keepdim=keepdim)


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    dim, keepdim = _dim_args("mean", dim, keepdim, axis, keepdims)
    check_float("mean", x)  # as torch: the mean of integers has no integer dtype
    return Mean.apply(x, dim=dim, keepdim=keepdim)


def amax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    dim, keepdim = _dim_args("amax", dim, keepdim, axis, keepdims)
    return Max.apply(x, dim=dim, keepdim=keepdim, mode="max")


def amin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    dim, keepdim = _dim_args("amin", dim, keepdim, axis, keepdims)
    return Max.apply(x, dim=dim, keepdim=keepdim, mode="min")


class MaxResult(tuple):
    """(values, indices), as torch.return_types.max."""

    @property
    def values(self): return self[0]

    @property
    def indices(self): return self[1]


def _max_min(x, dim, keepdim, mode):
    if dim is None:
        return Max.apply(x, mode=mode, name=mode)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{mode}(dim=...) takes one int dimension; use amax/amin for several")
    dim = check_dim(dim, x.ndim, mode)
    if x.ndim == 0:  # the value itself, at index 0, as torch.max(scalar, 0)
        return MaxResult((Identity.apply(x), Tensor._wrap(xp(x.data).asarray(0))))
    check_nonempty(x.data, (dim,), mode, False)
    m = xp(x.data)
    idx = (m.argmax if mode == "max" else m.argmin)(x.data, axis=dim)
    values = MaxAlong.apply(x, dim, idx, keepdim=keepdim)
    return MaxResult((values, Tensor._wrap(m.expand_dims(idx, dim) if keepdim else idx)))


def max(x, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    """max of all elements, or (values, indices) along ``dim`` as torch.max."""
    return _max_min(x, *_dim_args("max", dim, keepdim, axis, keepdims), "max")


def min(x, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    return _max_min(x, *_dim_args("min", dim, keepdim, axis, keepdims), "min")


def _arg_extreme(x, dim, keepdim, which):
    """Index of the max or min (``which``) over all elements, or along ``dim``; no gradient."""
    m = xp(x.data)
    find = getattr(m, which)
    if dim is None:
        check_nonempty(x.data, (), which, True, IndexError)
        return Tensor._wrap(m.asarray(find(x.data)))
    dim = check_dim(dim, x.ndim, which)
    check_nonempty(x.data, (dim,) if x.ndim else (), which, False)
    if x.ndim == 0:
        return Tensor._wrap(m.asarray(0))
    idx = find(x.data, axis=dim)
    return Tensor._wrap(m.expand_dims(idx, dim) if keepdim else idx)


def argmax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    return _arg_extreme(x, *_dim_args("argmax", dim, keepdim, axis, keepdims), "argmax")


def argmin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    return _arg_extreme(x, *_dim_args("argmin", dim, keepdim, axis, keepdims), "argmin")


def var(x, dim=None, unbiased=True, keepdim=False, correction=None, *, axis=None, keepdims=None):
    dim, keepdim = _dim_args("var", dim, keepdim, axis, keepdims)
    check_float("var", x)
    correction = (1 if unbiased else 0) if correction is None else correction
    return Var.apply(x, dim=dim, correction=correction, keepdim=keepdim)


def std(x, dim=None, unbiased=True, keepdim=False, correction=None, *, axis=None, keepdims=None):
    dim, keepdim = _dim_args("std", dim, keepdim, axis, keepdims)
    check_float("std", x)
    correction = (1 if unbiased else 0) if correction is None else correction
    return Std.apply(x, dim=dim, correction=correction, keepdim=keepdim)
