"""Shape ops (reshape, permute, expand, cat, stack) and indexing (getitem, gather)."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor
from .reduce import check_dim, normalize_dims


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
            if x.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(x.shape, ref.shape, strict=True))
                                         if j != d):
                raise ValueError(f"cat along dim {dim}: tensor 0 has shape {tuple(ref.shape)} but tensor {i} "
                                 f"has shape {tuple(x.shape)}; all sizes but dim {dim} must match")
        self.dim = d
        self.bounds = xp(*xs).cumsum([0] + [x.shape[d] for x in xs]).tolist()
        return xp(*xs).concatenate(xs, axis=d)

    def backward(self, g):
        index = [slice(None)] * g.ndim
        grads = []
        for lo, hi in zip(self.bounds[:-1], self.bounds[1:], strict=True):
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


# ------------------------------------------------------------------ functional wrappers
def _shape_arg(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def reshape(x, *shape): return Reshape.apply(x, shape=_shape_arg(shape))


view = reshape


def permute(x, *dims):
    dims = _shape_arg(dims)
    return Permute.apply(x, dims=tuple(check_dim(d, x.ndim, "permute") for d in dims))


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    d0, d1 = (check_dim(d, x.ndim, "transpose") for d in (dim0, dim1))
    if x.ndim < 2:  # transpose of a 0-d or 1-d tensor is itself, as PyTorch
        return permute(x, dims)
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(x, dims)


def expand(x, *shape): return Expand.apply(x, shape=_shape_arg(shape))


def squeeze(x, dim=None):
    if dim is None:
        return reshape(x, [n for n in x.shape if n != 1])
    dims = normalize_dims(dim, x.ndim, "squeeze")
    return reshape(x, [n for i, n in enumerate(x.shape) if not (i in dims and n == 1)])


def unsqueeze(x, dim):
    dim = check_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def flatten(x, start_dim=0, end_dim=-1):
    s, e = (check_dim(d, x.ndim, "flatten") for d in (start_dim, end_dim))
    if s > e:
        raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    if x.ndim == 0:
        return reshape(x, 1)
    size = 1
    for n in x.shape[s:e + 1]:
        size *= n
    return reshape(x, x.shape[:s] + (size,) + x.shape[e + 1:])


def _tensor_list(tensors, op):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a list of tensors, but item {i} is a {type(t).__name__}")
    return tensors


def cat(tensors, dim=0):
    tensors = _tensor_list(tensors, "cat")
    if tensors[0].ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    return Cat.apply(*tensors, dim=check_dim(dim, tensors[0].ndim, "cat"))


concat = cat


def stack(tensors, dim=0):
    tensors = _tensor_list(tensors, "stack")
    return Stack.apply(*tensors, dim=check_dim(dim, tensors[0].ndim + 1, "stack"))


def split(x, split_size_or_sections, dim=0):
    """Pieces of ``x`` along ``dim``: of equal size (the last may be smaller) or of the given sizes."""
    dim = check_dim(dim, x.ndim, "split")
    if x.ndim == 0:
        raise ValueError("split: a 0-d tensor cannot be split")
    n = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be a positive int, got {split_size_or_sections}")
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
    if sum(sizes) != n:
        raise ValueError(f"split: sizes {sizes} do not add up to {n}, the size of dim {dim} of shape {x.shape}")
    out, start = [], 0
    lead = (slice(None),) * (dim % x.ndim)
    for size in sizes:
        out.append(getitem(x, lead + (slice(start, start + size),)))
        start += size
    return tuple(out)


def chunk(x, chunks, dim=0):
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if x.ndim == 0:
        raise ValueError("chunk: expects at least a 1-dimensional tensor")
    n = x.shape[check_dim(dim, x.ndim, "chunk")]
    return split(x, max(-(-n // chunks), 1), dim)


def index_arrays(index):
    """Tensors inside an index become their arrays."""
    if isinstance(index, tuple):
        return tuple(index_arrays(i) for i in index)
    if isinstance(index, (Tensor, list)):
        index = index.data if isinstance(index, Tensor) else np.asarray(index)
        if index.dtype.kind not in "biu":
            if index.size:
                raise IndexError(f"tensors used as indices must be long, int or bool tensors, got dtype {index.dtype}")
            index = index.astype(np.int64)  # [] selects nothing
    return index


def getitem(x, index): return GetItem.apply(x, index=index_arrays(index))


def _index_tensor(index, op, n, what):
    """An integer index array with every value in [0, n); PyTorch's IndexError otherwise."""
    idx = index.data if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        if idx.size or idx.dtype.kind not in "f":
            raise TypeError(f"{op}: index must be an integer tensor, got dtype {idx.dtype}")
        idx = idx.astype(np.int64)
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= n:
            raise IndexError(f"{op}: index {lo if lo < 0 else hi} is out of range for {what} of size {n} "
                             f"(valid indices: 0 to {n - 1})")
    return idx


def gather(x, dim, index):
    """out[i][j] = x[i][index[i][j]] along ``dim`` (torch.gather); indices in [0, x.shape[dim])."""
    dim = check_dim(dim, x.ndim, "gather")
    if x.ndim == 0:  # as torch: a 0-d input gathers like its one-element 1-d view
        x = x.reshape(1)
    idx = _index_tensor(index, "gather", x.shape[dim], f"dimension {dim}")
    if idx.ndim != x.ndim or any(i != dim and a > b for i, (a, b) in enumerate(zip(idx.shape, x.shape, strict=True))):
        raise ValueError(f"gather: index of shape {tuple(idx.shape)} does not fit input of shape {x.shape} along "
                         f"dim {dim} (same number of dimensions, sizes no larger except along dim)")
    return Gather.apply(x, dim, idx)


def index_select(x, dim, index):
    """The slices of ``x`` at the positions ``index`` (1-D, in [0, x.shape[dim])) along ``dim``."""
    dim = check_dim(dim, x.ndim, "index_select")
    idx = _index_tensor(index, "index_select", x.shape[dim] if x.ndim else 1, f"dimension {dim}")
    if idx.ndim > 1:
        raise IndexError(f"index_select: index must be 1-D, got shape {tuple(idx.shape)}")
    if x.ndim == 0:
        raise ValueError("index_select: input must have at least 1 dimension, got a 0-d tensor")
    return getitem(x, (slice(None),) * dim + (idx.reshape(-1),))


def one_hot(tensor, num_classes: int = -1):
    """torch.nn.functional.one_hot: int64 of shape ``tensor.shape + (num_classes,)`` with a 1 at each class
    value; ``num_classes=-1`` takes the largest value + 1. Not differentiable (integers in, integers out)."""
    idx = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor (integers), got dtype "
                           f"{idx.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__}")
    m = xp(idx)
    if num_classes == -1 and not idx.size:
        raise RuntimeError(f"one_hot: can not infer total number of classes from empty tensor (shape "
                           f"{tuple(idx.shape)}); pass num_classes")
    if idx.size and int(idx.min()) < 0:
        raise RuntimeError(f"one_hot: class values must be non-negative, got {int(idx.min())}")
    n = int(idx.max()) + 1 if num_classes == -1 else int(num_classes)
    if idx.size and int(idx.max()) >= n or n < 0:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes ({num_classes}), got "
                           f"{int(idx.max()) if idx.size else 'an empty tensor'}")
    return Tensor._wrap((idx[..., None] == m.arange(n)).astype(np.int64))
