"""Shape ops (reshape, permute, expand, cat, stack) and indexing (getitem, gather)."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import xp


class Reshape(Function):
    """y = x viewed with a new shape (one size may be -1);  dL/dx = g reshaped back."""

    saves_inputs = ()

    def forward(self, x, shape):
        self.shape = x.shape
        try:
            y = x.reshape(shape)
        except (ValueError, TypeError):
            raise ValueError(f"reshape: cannot view shape {tuple(x.shape)} ({x.size} elements) "
                             f"as {tuple(shape)}") from None
        self.view_of_input = y.base is (x if x.base is None else x.base)  # reshape copies when it must
        return y

    def backward(self, g):
        return g.reshape(self.shape)


class Permute(Function):
    """y = x with its axes reordered by ``dims``;  dL/dx = g with the inverse order."""

    saves_inputs, view_of_input = (), True

    def forward(self, x, dims):
        if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
            raise ValueError(f"permute: dims {tuple(dims)} is not a permutation of the {x.ndim} axes of "
                             f"shape {tuple(x.shape)}")
        self.dims = tuple(d % x.ndim for d in dims)
        return x.transpose(self.dims)

    def backward(self, g):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return g.transpose(inverse)


class Expand(Function):
    """y = x broadcast to ``shape`` (-1 keeps a size);  dL/dx = g summed over the stretched axes."""

    saves_inputs, view_of_input = (), True

    def forward(self, x, shape):
        from .elementwise import unbroadcast

        self.unbroadcast, self.shape = unbroadcast, x.shape
        lead = len(shape) - x.ndim
        if lead < 0:
            raise ValueError(f"expand: target {tuple(shape)} has fewer dimensions than shape {tuple(x.shape)}")
        if any(n == -1 for n in shape[:lead]) or any(not isinstance(n, (int, np.integer)) or n < -1 for n in shape):
            raise ValueError(f"expand: cannot expand shape {tuple(x.shape)} to {tuple(shape)} (-1 keeps an existing "
                             "size; new leading sizes must be given)")
        target = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
        try:
            return xp(x).broadcast_to(x, target)
        except ValueError:
            raise ValueError(f"expand: cannot expand shape {tuple(x.shape)} to {tuple(shape)} "
                             "(only size-1 axes can grow)") from None

    def backward(self, g):
        return self.unbroadcast(g, self.shape)


class Cat(Function):
    """y = [x_1; x_2; ...] along ``dim``;  dL/dx_k = the slice of g that came from x_k."""

    saves_inputs = ()

    def forward(self, *xs, dim=0):
        ref = xs[0]
        d = dim % ref.ndim
        for i, x in enumerate(xs):
            if x.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(x.shape, ref.shape)) if j != d):
                raise ValueError(f"cat along dim {dim}: tensor 0 has shape {tuple(ref.shape)} but tensor {i} "
                                 f"has shape {tuple(x.shape)}; all sizes but dim {dim} must match")
        self.dim = d
        self.bounds = xp(*xs).cumsum([0] + [x.shape[d] for x in xs]).tolist()
        return xp(*xs).concatenate(xs, axis=d)

    def backward(self, g):
        index = [slice(None)] * g.ndim
        grads = []
        for lo, hi in zip(self.bounds[:-1], self.bounds[1:]):
            index[self.dim] = slice(lo, hi)
            grads.append(g[tuple(index)])
        return tuple(grads)


class Stack(Function):
    """y = the x_k stacked along a new axis ``dim``;  dL/dx_k = g taken at k on that axis."""

    saves_inputs = ()

    def forward(self, *xs, dim=0):
        for i, x in enumerate(xs):
            if x.shape != xs[0].shape:
                raise ValueError(f"stack: tensor 0 has shape {tuple(xs[0].shape)} but tensor {i} has shape "
                                 f"{tuple(x.shape)}; all must be equal")
        self.dim = dim % (xs[0].ndim + 1)
        return xp(*xs).stack(xs, axis=self.dim)

    def backward(self, g):
        return tuple(xp(g).moveaxis(g, self.dim, 0))


def _is_advanced(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(not (p is None or p is Ellipsis or isinstance(p, (int, slice))) for p in parts)


class GetItem(Function):
    """y = x[index], basic or advanced (integer/boolean arrays);  dL/dx = g scattered back, adding
    where an element was picked more than once."""

    saves_inputs = ()

    def forward(self, x, index):
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        self.advanced = _is_advanced(index)
        self.view_of_input = not self.advanced  # advanced indexing copies, as in PyTorch
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"index {index!r} is out of range for shape {tuple(x.shape)}: {e}") from None

    def backward(self, g):
        m = xp(g)
        out = m.zeros(self.shape, dtype=self.dtype)
        if self.advanced:
            m.add.at(out, self.index, g)
        else:
            out[self.index] = g
        return out


class Gather(Function):
    """y[i][j] = x[i][index[i][j]] along ``dim`` (torch.gather);  dL/dx scatter-adds g at index."""

    saves_inputs = ()

    def forward(self, x, dim, index):
        m = xp(x)
        self.shape, self.dim, self.index = x.shape, dim % x.ndim, index
        if index.ndim != x.ndim:
            raise ValueError(f"gather: index has {index.ndim} dimensions (shape {tuple(index.shape)}) but input "
                             f"has {x.ndim} (shape {tuple(x.shape)}); they must match")
        return m.take_along_axis(x[tuple(slice(0, n) for n in index.shape[:self.dim]) + (slice(None),) +
                                   tuple(slice(0, n) for n in index.shape[self.dim + 1:])], index, axis=self.dim)

    def backward(self, g):
        m = xp(g)
        out = m.zeros(self.shape, dtype=g.dtype)
        grid = list(m.indices(self.index.shape, sparse=True))
        grid[self.dim] = self.index
        m.add.at(out, tuple(grid), g)
        return out, None, None
