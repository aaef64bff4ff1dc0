"""The functional surface of every op: plain functions over tensors, shared by ``Tensor`` methods,
``tinygrad_lm.*`` and ``tinygrad_lm.nn.functional``. Functions marked *composite* are built from
other ops and differentiated by the engine; the rest are one hand-written Function each."""
from __future__ import annotations

import builtins

import numpy as np

from .. import backend
from ..tensor import Tensor, _to_array, get_default_dtype
from . import activation as _act
from . import elementwise as _ew
from . import loss as _loss
from . import matmul as _mm
from . import reduce as _red
from . import shape as _shape
from .embedding import Embedding


_NUMBER = (int, float, bool, np.number, np.bool_)


def _scalar_array(value, like: Tensor):
    """A Python (or NumPy) number as a 0-d array of ``like``'s dtype (float for a float into an int tensor)."""
    dtype = like.dtype
    if isinstance(value, (float, np.floating)) and dtype.kind not in "fc":
        dtype = get_default_dtype()
    return backend.xp(like.data).asarray(value, dtype=dtype)


def _pair(a, b):
    """Both operands as tensors; numbers take the tensor's dtype, so float32 stays float32."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("expected at least one tensor")
    if not isinstance(a, Tensor):
        a = Tensor._wrap(_scalar_array(a, b) if isinstance(a, _NUMBER) else _operand_array(a, b))
    if not isinstance(b, Tensor):
        b = Tensor._wrap(_scalar_array(b, a) if isinstance(b, _NUMBER) else _operand_array(b, a))
    if type(a.data) is not type(b.data) and a.device != b.device:
        raise RuntimeError(f"operands are on different devices: {a.device} (shape {a.shape}) and "
                           f"{b.device} (shape {b.shape}); move one with .to(...)")
    # PyTorch's promotion: an integer or bool operand takes the float operand's dtype (NumPy would
    # turn int64 with float32 into float64)
    if a.dtype.kind in "biu" and b.dtype.kind == "f":
        a = Tensor._wrap(a.data.astype(b.dtype))
    elif b.dtype.kind in "biu" and a.dtype.kind == "f":
        b = Tensor._wrap(b.data.astype(a.dtype))
    return a, b


def _operand_array(value, like: Tensor):
    """A list or array operand as an array on ``like``'s device: a list of Python floats takes the default
    float dtype (as torch.tensor), an array keeps its own (so the dtype rule sees a float64 array)."""
    if isinstance(value, (list, tuple)):
        value = _to_array(value)
    return backend.xp(like.data).asarray(value)


# ------------------------------------------------------------------ arithmetic
def add(a, b): return _ew.Add.apply(*_pair(a, b))
def sub(a, b): return _ew.Sub.apply(*_pair(a, b))
def mul(a, b): return _ew.Mul.apply(*_pair(a, b))
def pow(a, b): return _ew.Pow.apply(*_pair(a, b))  # noqa: A001 - torch's name
def neg(x): return _ew.Neg.apply(x)
def exp(x): return _ew.Exp.apply(x)
def log(x): return _ew.Log.apply(x)
def sqrt(x): return _ew.Sqrt.apply(x)
def abs(x): return _ew.Abs.apply(x)  # noqa: A001
def matmul(a, b): return _mm.MatMul.apply(*_pair(a, b))


def div(a, b):
    a, b = _pair(a, b)
    if a.dtype.kind != "f" and b.dtype.kind != "f":  # integer true division gives the default float, as PyTorch
        a, b = (Tensor._wrap(t.data.astype(get_default_dtype())) for t in (a, b))
    return _ew.Div.apply(a, b)


def clip(x, min=None, max=None):  # noqa: A002 - torch's names
    return _ew.Clip.apply(x, lo=min, hi=max)


clamp = clip


def where(condition, a, b):
    """a where condition else b (condition is not differentiated)."""
    a, b = _pair(a, b)
    cond = condition.data if isinstance(condition, Tensor) else backend.xp(a.data).asarray(condition)
    return _ew.Where.apply(Tensor._wrap(cond), a, b)


def masked_fill(x, mask, value):
    """x with ``value`` wherever ``mask`` is True (mask broadcasts against x)."""
    return where(mask, _scalar_array(value, x) if not isinstance(value, Tensor) else value, x)


def compare(a, b, op: str):
    """Element-wise comparison (no gradient): op is a numpy ufunc name, e.g. 'less'."""
    a, b = _pair(a, b)
    _ew.check_broadcast(a.data, b.data, op)
    return Tensor._wrap(getattr(backend.xp(a.data), op)(a.data, b.data))


def eq(a, b): return compare(a, b, "equal")


# ------------------------------------------------------------------ activations
def tanh(x): return _act.Tanh.apply(x)
def sigmoid(x): return _act.Sigmoid.apply(x)
def relu(x): return _act.ReLU.apply(x)
def leaky_relu(x, negative_slope=0.01): return _act.LeakyReLU.apply(x, negative_slope=negative_slope)
def gelu(x, approximate="none"): return _act.GELU.apply(x, approximate=approximate)
def _check_float(op, *tensors):
    """Ops defined on real numbers only (softmax, the losses) refuse integer and bool tensors, as PyTorch."""
    for t in tensors:
        if isinstance(t, Tensor) and t.data.dtype.kind != "f":
            raise TypeError(f"{op}: expected a floating-point tensor, got dtype {t.dtype} (shape {t.shape}); "
                            "convert it with .float()")


def softmax(x, dim=-1):
    _check_float("softmax", x)
    return _act.Softmax.apply(x, dim=_red.check_dim(dim, x.ndim, "softmax"))


def log_softmax(x, dim=-1):
    _check_float("log_softmax", x)
    return _act.LogSoftmax.apply(x, dim=_red.check_dim(dim, x.ndim, "log_softmax"))


# ------------------------------------------------------------------ reductions
def _dim_args(op, dim, keepdim, axis, keepdims):
    """NumPy's ``axis`` / ``keepdims`` as aliases of ``dim`` / ``keepdim``, as PyTorch accepts them."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: give dim or its alias axis, not both")
        dim = axis
    return dim, bool(keepdim if keepdims is None else keepdims)


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    dim, keepdim = _dim_args("sum", dim, keepdim, axis, keepdims)
    return _red.Sum.apply(x, dim=dim, keepdim=keepdim)


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    dim, keepdim = _dim_args("mean", dim, keepdim, axis, keepdims)
    _check_float("mean", x)  # as torch: the mean of integers has no integer dtype
    return _red.Mean.apply(x, dim=dim, keepdim=keepdim)


def amax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    dim, keepdim = _dim_args("amax", dim, keepdim, axis, keepdims)
    return _red.Max.apply(x, dim=dim, keepdim=keepdim, mode="max")


def amin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    dim, keepdim = _dim_args("amin", dim, keepdim, axis, keepdims)
    return _red.Max.apply(x, dim=dim, keepdim=keepdim, mode="min")


class MaxResult(tuple):
    """(values, indices), as torch.return_types.max."""

    @property
    def values(self): return self[0]

    @property
    def indices(self): return self[1]


def _max_min(x, dim, keepdim, mode):
    if dim is None:
        return _red.Max.apply(x, mode=mode, name=mode)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{mode}(dim=...) takes one int dimension; use amax/amin for several")
    dim = _red.check_dim(dim, x.ndim, mode)
    if x.ndim == 0:  # the value itself, at index 0, as torch.max(scalar, 0)
        return MaxResult((_ew.Identity.apply(x), Tensor._wrap(backend.xp(x.data).asarray(0))))
    _red.check_nonempty(x.data, (dim,), mode, False)
    m = backend.xp(x.data)
    idx = (m.argmax if mode == "max" else m.argmin)(x.data, axis=dim)
    values = _red.MaxAlong.apply(x, dim, idx, keepdim=keepdim)
    return MaxResult((values, Tensor._wrap(m.expand_dims(idx, dim) if keepdim else idx)))


def max(x, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    """max of all elements, or (values, indices) along ``dim`` as torch.max."""
    return _max_min(x, *_dim_args("max", dim, keepdim, axis, keepdims), "max")


def min(x, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    return _max_min(x, *_dim_args("min", dim, keepdim, axis, keepdims), "min")


def _arg_extreme(x, dim, keepdim, which):
    """Index of the max or min (``which``) over all elements, or along ``dim``; no gradient."""
    m = backend.xp(x.data)
    find = getattr(m, which)
    if dim is None:
        _red.check_nonempty(x.data, (), which, True, IndexError)
        return Tensor._wrap(m.asarray(find(x.data)))
    dim = _red.check_dim(dim, x.ndim, which)
    _red.check_nonempty(x.data, (dim,) if x.ndim else (), which, False)
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
    _check_float("var", x)
    correction = (1 if unbiased else 0) if correction is None else correction
    return _red.Var.apply(x, dim=dim, correction=correction, keepdim=keepdim)


def std(x, dim=None, unbiased=True, keepdim=False, correction=None, *, axis=None, keepdims=None):
    dim, keepdim = _dim_args("std", dim, keepdim, axis, keepdims)
    _check_float("std", x)
    correction = (1 if unbiased else 0) if correction is None else correction
    return _red.Std.apply(x, dim=dim, correction=correction, keepdim=keepdim)


# ------------------------------------------------------------------ shapes
def _shape_arg(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def reshape(x, *shape): return _shape.Reshape.apply(x, shape=_shape_arg(shape))


view = reshape


def permute(x, *dims):
    dims = _shape_arg(dims)
    return _shape.Permute.apply(x, dims=tuple(_red.check_dim(d, x.ndim, "permute") for d in dims))


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    d0, d1 = (_red.check_dim(d, x.ndim, "transpose") for d in (dim0, dim1))
    if x.ndim < 2:  # transpose of a 0-d or 1-d tensor is itself, as PyTorch
        return permute(x, dims)
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(x, dims)


def expand(x, *shape): return _shape.Expand.apply(x, shape=_shape_arg(shape))


def squeeze(x, dim=None):
    if dim is None:
        return reshape(x, [n for n in x.shape if n != 1])
    dims = _red.normalize_dims(dim, x.ndim, "squeeze")
    return reshape(x, [n for i, n in enumerate(x.shape) if not (i in dims and n == 1)])


def unsqueeze(x, dim):
    dim = _red.check_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def flatten(x, start_dim=0, end_dim=-1):
    s, e = (_red.check_dim(d, x.ndim, "flatten") for d in (start_dim, end_dim))
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
    return _shape.Cat.apply(*tensors, dim=_red.check_dim(dim, tensors[0].ndim, "cat"))


concat = cat


def stack(tensors, dim=0):
    tensors = _tensor_list(tensors, "stack")
    return _shape.Stack.apply(*tensors, dim=_red.check_dim(dim, tensors[0].ndim + 1, "stack"))


def split(x, split_size_or_sections, dim=0):
    """Pieces of ``x`` along ``dim``: of equal size (the last may be smaller) or of the given sizes."""
    dim = _red.check_dim(dim, x.ndim, "split")
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
    if builtins.sum(sizes) != n:
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
    n = x.shape[_red.check_dim(dim, x.ndim, "chunk")]
    return split(x, builtins.max(-(-n // chunks), 1), dim)


def _index_arrays(index):
    """Tensors inside an index become their arrays."""
    if isinstance(index, tuple):
        return tuple(_index_arrays(i) for i in index)
    if isinstance(index, (Tensor, list)):
        index = index.data if isinstance(index, Tensor) else np.asarray(index)
        if index.dtype.kind not in "biu":
            if index.size:
                raise IndexError(f"tensors used as indices must be long, int or bool tensors, got dtype {index.dtype}")
            index = index.astype(np.int64)  # [] selects nothing
    return index


def getitem(x, index): return _shape.GetItem.apply(x, index=_index_arrays(index))


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
    dim = _red.check_dim(dim, x.ndim, "gather")
    idx = _index_tensor(index, "gather", x.shape[dim] if x.ndim else 1, f"dimension {dim}")
    if idx.ndim != builtins.max(x.ndim, 1) or any(i != dim and a > b for i, (a, b) in
                                                  enumerate(zip(idx.shape, x.shape))):
        raise ValueError(f"gather: index of shape {tuple(idx.shape)} does not fit input of shape {x.shape} along "
                         f"dim {dim} (same number of dimensions, sizes no larger except along dim)")
    return _shape.Gather.apply(x, dim, idx)


def index_select(x, dim, index):
    """The slices of ``x`` at the positions ``index`` (1-D, in [0, x.shape[dim])) along ``dim``."""
    dim = _red.check_dim(dim, x.ndim, "index_select")
    idx = _index_tensor(index, "index_select", x.shape[dim] if x.ndim else 1, f"dimension {dim}")
    if idx.ndim > 1:
        raise IndexError(f"index_select: index must be 1-D, got shape {tuple(idx.shape)}")
    if x.ndim == 0:
        raise ValueError("index_select: input must have at least 1 dimension, got a 0-d tensor")
    return getitem(x, (slice(None),) * dim + (idx.reshape(-1),))


# ------------------------------------------------------------------ layers and losses
def linear(x, weight, bias=None):
    xd, wd = x.data, weight.data
    if xd.ndim == 0 or wd.ndim != 2 or (bias is not None and bias.data.shape != wd.shape[:1]):
        raise ValueError(f"linear: needs input (..., in_features) with at least 1 dimension, weight (out_features, "
                         f"in_features) and bias (out_features,); got input {x.shape}, weight {weight.shape}"
                         + (f", bias {bias.shape}" if bias is not None else ""))
    if xd.dtype is not wd.dtype and xd.dtype != wd.dtype:  # an integer input would otherwise come out float64
        raise TypeError(f"linear: input is {x.dtype} (shape {x.shape}) but weight is {weight.dtype} (shape "
                        f"{weight.shape}); convert the input with .float() or .double()")
    return _mm.Linear.apply(x, weight, bias)


def normalize(input, p=2.0, dim=1, eps=1e-12):  # noqa: A002 - torch's names
    """D2.F1 L2 (or L^p) normalisation, composite: v / max(||v||_p, eps) along ``dim``.

    The norm is taken as clip(sum |v|^p, eps^p)^(1/p): the same value as max(||v||_p, eps), and a
    finite gradient (zero through the norm) for an all-zero v, as PyTorch's."""
    s = sum(abs(input) ** float(p), dim=dim, keepdim=True)
    return input / clip(s, min=float(eps) ** p) ** (1.0 / p)


def embedding(input, weight, padding_idx=None):  # noqa: A002 - torch's name
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    return Embedding.apply(weight, idx, padding_idx=padding_idx)


def dropout(x, p=0.5, training=True):
    """Composite: x * mask / (1 - p), mask ~ Bernoulli(1 - p) (inverted dropout)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    keep = backend.random(x.shape, x.dtype, x.device) >= p
    return x * Tensor._wrap((keep / (1 - p)).astype(x.dtype))


def _target_array(target):
    return target.data if isinstance(target, Tensor) else backend.xp(target).asarray(target)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):  # noqa: A002
    """Softmax cross-entropy from logits (D1.F2). Class-index targets use the fused kernel; a float
    target of the input's shape is read as class probabilities (composite)."""
    _loss.check_reduction(reduction)
    _check_float("cross_entropy", input)
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    t = _target_array(target)
    if input.ndim == 0 or input.shape[1 if input.ndim > 1 else 0] == 0:
        raise ValueError(f"cross_entropy: input must be (C,) or (N, C, ...) scores with C > 0 classes, got shape "
                         f"{input.shape}")
    if t.dtype.kind == "f":
        if t.shape != input.shape:
            raise ValueError(f"cross_entropy: probability targets need the input's shape {input.shape}, "
                             f"got {tuple(t.shape)}")
        C = input.shape[1] if input.ndim > 1 else input.shape[0]
        probs = Tensor._wrap(t * (1 - label_smoothing) + label_smoothing / C)
        logp = log_softmax(input, dim=1 if input.ndim > 1 else 0)
        if weight is not None:
            shape = [1] * input.ndim
            shape[1 if input.ndim > 1 else 0] = C
            logp = logp * reshape(weight, shape)
        per = neg(sum(logp * probs, dim=1 if input.ndim > 1 else 0))
        return per.mean() if reduction == "mean" else _loss.reduce_loss(per, reduction)
    w = weight.data if isinstance(weight, Tensor) else weight
    return _loss.CrossEntropy.apply(input, t, weight=w, ignore_index=ignore_index, reduction=reduction,
                                    label_smoothing=label_smoothing)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    _loss.check_reduction(reduction)
    _check_float("nll_loss", input)
    w = weight.data if isinstance(weight, Tensor) else weight
    return _loss.NLLLoss.apply(input, _target_array(target), weight=w, ignore_index=ignore_index,
                               reduction=reduction)


def _check_same_shape(input, target, name):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{name}: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} "
                         "must be equal")
    _check_float(name, input, target)
    if input.dtype != target.dtype:
        raise TypeError(f"{name}: input has dtype {input.dtype} but target has dtype {target.dtype}; convert one "
                        "with .float() or .double()")


def mse_loss(input, target, reduction="mean"):  # noqa: A002
    """Composite: (input - target)^2, reduced (D0.F2 is half its sum)."""
    target = target if isinstance(target, Tensor) else Tensor._wrap(_target_array(target))
    _check_same_shape(input, target, "mse_loss")
    d = input - target
    return _loss.reduce_loss(d * d, reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):  # noqa: A002
    """Composite: -[y log p + (1-y) log(1-p)], each log clamped at -100 as PyTorch does."""
    target = target if isinstance(target, Tensor) else Tensor._wrap(_target_array(target))
    _check_same_shape(input, target, "binary_cross_entropy")
    _loss.check_reduction(reduction)
    for name, t in (("input", input), ("target", target)):  # log(p) of p outside [0, 1] is nan: refuse
        m = backend.xp(t.data)
        if t.data.size and not bool(m.all((t.data >= 0) & (t.data <= 1))):
            raise RuntimeError(f"binary_cross_entropy: all elements of {name} should be between 0 and 1, got "
                               f"values in [{float(m.nanmin(t.data))}, {float(m.nanmax(t.data))}]"
                               + (" (nan present)" if bool(m.isnan(t.data).any()) else "")
                               + ("; pass probabilities (sigmoid of the logits) or use binary_cross_entropy_with_logits"
                                  if name == "input" else ""))
    loss = neg(target * clip(log(input), min=-100) + (1 - target) * clip(log(1 - input), min=-100))
    if weight is not None:
        loss = loss * weight
    return _loss.reduce_loss(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):  # noqa: A002
    _loss.check_reduction(reduction)
    _check_float("binary_cross_entropy_with_logits", input)
    y = _target_array(target).astype(input.dtype, copy=False)
    pw = pos_weight.data if isinstance(pos_weight, Tensor) else pos_weight
    loss = _loss.BCEWithLogits.apply(input, y, pos_weight=pw)
    if weight is not None:
        loss = loss * weight
    return _loss.reduce_loss(loss, reduction)


# ------------------------------------------------------------------ Tensor methods
_METHODS = ("add sub mul div pow neg exp log sqrt abs clip clamp masked_fill tanh sigmoid relu softmax "
            "log_softmax sum mean amax amin max min argmax argmin var std reshape view permute transpose "
            "expand squeeze unsqueeze flatten split chunk gather index_select matmul eq").split()
for _name in _METHODS:
    setattr(Tensor, _name, globals()[_name])
Tensor.T = property(lambda self: permute(self, tuple(range(self.ndim - 1, -1, -1))))
Tensor.mT = property(lambda self: transpose(self, -2, -1))
Tensor.expand_as = lambda self, other: expand(self, other.shape)
Tensor.view_as = lambda self, other: reshape(self, other.shape)
