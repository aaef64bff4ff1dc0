"""Reductions: sum, mean, max/min, var. ``dim`` may be None (all), an int, or a tuple."""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp


def normalize_dims(dim, ndim):
    """``dim`` as a sorted tuple of non-negative axes (all axes when None)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"dimension {d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % max(ndim, 1))
    return tuple(sorted(set(out)))


def expand_back(g, shape, dims, keepdim):
    """Re-insert the reduced axes of ``g`` (size 1) so it broadcasts against ``shape``."""
    if not keepdim:
        g = g.reshape([1 if i in dims else n for i, n in enumerate(shape)])
    return g


class Sum(Function):
    """y = sum_i x_i over ``dim``;  dL/dx_i = g."""

    saves_inputs = ()

    def forward(self, x, dim=None, keepdim=False):
        self.shape, self.dims, self.keepdim = x.shape, normalize_dims(dim, x.ndim), keepdim
        return x.sum(axis=self.dims, keepdims=keepdim)

    def backward(self, g):
        return xp(g).broadcast_to(expand_back(g, self.shape, self.dims, self.keepdim), self.shape).copy()


class Mean(Function):
    """y = (1/n) sum_i x_i over ``dim``;  dL/dx_i = g / n."""

    saves_inputs = ()

    def forward(self, x, dim=None, keepdim=False):
        self.shape, self.dims, self.keepdim = x.shape, normalize_dims(dim, x.ndim), keepdim
        self.n = 1
        for d in self.dims:
            self.n *= x.shape[d] if x.ndim else 1
        return x.mean(axis=self.dims, keepdims=keepdim)

    def backward(self, g):
        g = expand_back(g, self.shape, self.dims, self.keepdim) / self.n
        return xp(g).broadcast_to(g, self.shape).copy()


class Max(Function):
    """y = max_i x_i over ``dim`` (``mode='min'`` for the minimum).

    dL/dx_i = g at the maximum; ties share g equally, as torch.amax does.
    """

    saves_inputs = ()

    def forward(self, x, dim=None, keepdim=False, mode="max"):
        self.shape, self.dims, self.keepdim = x.shape, normalize_dims(dim, x.ndim), keepdim
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
        self.shape, self.dims, self.keepdim = x.shape, normalize_dims(dim, x.ndim), keepdim
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
