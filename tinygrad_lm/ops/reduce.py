"""Reductions: sum, mean, max/min, var. ``dim`` may be None (all), an int, or a tuple."""
from __future__ import annotations

from ..autograd import Function
import numpy as np

from ..backend import xp


def check_dim(dim, ndim, op):
    """``dim`` as a non-negative axis of an ``ndim``-dimensional tensor, with PyTorch's error (a 0-d tensor
    takes dim -1 or 0)."""
    n = max(ndim, 1)
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
        self.denom = max(n - correction, 0)
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
