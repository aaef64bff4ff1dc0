"""Tensor: an array, its gradient, and the Function that made it."""
from __future__ import annotations

import numpy as np

from . import backend
from . import autograd
from .autograd import increment_version, is_grad_enabled

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
float16 = np.dtype(np.float16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)
long = int64

_default_dtype = float32


def set_default_dtype(dtype) -> None:
    """Float dtype for tensors made from Python floats (float32 unless changed)."""
    global _default_dtype
    _default_dtype = np.dtype(dtype)


def get_default_dtype():
    return _default_dtype


def _to_array(data, dtype=None, device=None):
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)) or backend.is_cupy(data):  # arrays and NumPy scalars keep their dtype
        arr = np.asarray(data) if isinstance(data, np.generic) else data
        arr = arr if dtype is None else arr.astype(dtype, copy=False)
    else:
        arr = np.asarray(data)
        if dtype is not None:
            arr = arr.astype(dtype)
        elif arr.dtype.kind == "f":  # Python floats become the default float dtype
            arr = arr.astype(_default_dtype)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
    if arr.dtype.kind not in "biuf":  # None, strings, objects: no op could compute on them
        raise TypeError(f"tensor: data must be numbers or booleans, got {type(data).__name__} of dtype {arr.dtype}")
    if device is not None:
        arr = backend.to_device(arr, device)
    return arr


class Tensor:
    """A multi-dimensional array that remembers how it was made, so gradients can flow back.

    ``data`` is the raw ``numpy`` (or ``cupy``) array; ``grad`` is a Tensor or None;
    ``_ctx`` is the Function node that produced it (None for a leaf). ``_version_counter`` counts the
    in-place changes of its memory (see autograd.increment_version), shared with its views, so backward
    can refuse a saved tensor changed since its forward (PyTorch's version counter).
    """

    __array_priority__ = 1000  # so ndarray + Tensor defers to Tensor.__radd__
    _version_counter = None  # made on the first in-place change or view: most tensors never need one
    _backward_hooks = None  # {handle id: hook} once register_hook is called: the engine skips tensors without

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        self.data = _to_array(data, dtype, device)
        self.grad: Tensor | None = None
        self._ctx = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        t = cls.__new__(cls)
        t.data, t.grad, t._ctx, t._retains_grad, t.requires_grad = array, None, None, False, requires_grad
        return t

    # ------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (as torch.Tensor._version)."""
        return self.version_counter()[0]

    def version_counter(self) -> list:
        """[version, clock of the last change] (see autograd.increment_version), shared with the tensor's views."""
        if self._version_counter is None:
            self._version_counter = [0, 0]
        return self._version_counter

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self._ctx is not None:
            extra = f", grad_fn={self._ctx!r}"
        dev = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{extra})"

    # ------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        return backend.to_device(self.data, "cpu")

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``: the NumPy array (the same memory on the CPU, as torch's ``__array__``)."""
        a = self.numpy() if dtype is None else self.numpy().astype(dtype, copy=False)
        return a.copy() if copy and a is self.data else a

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        t = Tensor._wrap(self.data)
        t._version_counter = self.version_counter()  # the same memory, as PyTorch's detach
        return t

    def clone(self) -> "Tensor": return ops.clone(self)

    def to(self, device=None, dtype=None) -> "Tensor":
        """Move to ``device`` and/or cast to ``dtype``; differentiable (gradients flow back)."""
        return ops.to(self, device, dtype)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=float32)

    def double(self):
        return self.to(dtype=float64)

    def long(self):
        return Tensor._wrap(self.data.astype(np.int64))

    def int(self):
        return Tensor._wrap(self.data.astype(np.int32))

    def bool(self):
        return Tensor._wrap(self.data.astype(np.bool_))

    def type_as(self, other):
        return self.to(dtype=other.dtype)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.dtype.kind not in "fc":
            raise RuntimeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}; "
                               "convert with .float() or .double() first")
        self.requires_grad = requires_grad
        return self

    def register_hook(self, hook):
        """Call ``hook(grad)`` each time the gradient of this tensor is computed in backward, as torch's: it
        may return a new gradient (same shape) that replaces it. Returns a handle whose ``remove()`` undoes it."""
        if not self.requires_grad:
            raise RuntimeError(f"register_hook: the tensor of shape {self.shape} does not require grad, so no "
                               "gradient will reach the hook")
        if self._backward_hooks is None:
            self._backward_hooks = {}
        return autograd.RemovableHandle(self._backward_hooks, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (e.g. to watch gradients vanish)."""
        self._retains_grad = True

    # ------------------------------------------------------------ in-place
    def _mark_dirty(self, op: str) -> None:
        """Refuse an in-place change that would corrupt a graph, else bump the version counter."""
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(f"{op}: in-place change of a tensor that requires grad (shape {self.shape}) would "
                               "corrupt its graph; do it under tg.no_grad() or build a new tensor")
        increment_version(self)

    def _operand(self, other, op: str):
        """``other`` as an array that can be written into this tensor: same float dtype, broadcastable."""
        if isinstance(other, Tensor):
            if other.dtype != self.dtype and other.dtype.kind == "f" and self.dtype.kind == "f":
                raise TypeError(f"{op}: the tensor is {self.dtype} (shape {self.shape}) but the operand is "
                                f"{other.dtype} (shape {other.shape}); convert one with .float() or .double()")
            other = other.data
        elif not isinstance(other, (int, float, bool)):
            other = _to_array(other, self.dtype)
        shape = getattr(other, "shape", ())
        if tuple(shape) != self.shape:
            try:
                target = np.broadcast_shapes(self.shape, tuple(shape))
            except ValueError:
                target = None
            if target != self.shape:
                raise ValueError(f"{op}: an operand of shape {tuple(shape)} cannot be written into a tensor of "
                                 f"shape {self.shape}")
        return other

    def zero_(self):
        self._mark_dirty("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value):
        value = self._operand(value, "fill_")
        self._mark_dirty("fill_")
        self.data[...] = value
        return self

    def copy_(self, src):
        src = self._operand(src, "copy_")
        self._mark_dirty("copy_")
        self.data[...] = src
        return self

    def add_(self, other, alpha=1):
        other = self._operand(other, "add_")
        self._mark_dirty("add_")
        self.data += other if alpha == 1 else alpha * other
        return self

    def sub_(self, other, alpha=1):
        other = self._operand(other, "sub_")
        self._mark_dirty("sub_")
        self.data -= other if alpha == 1 else alpha * other
        return self

    def mul_(self, other):
        other = self._operand(other, "mul_")
        self._mark_dirty("mul_")
        self.data *= other
        return self

    def div_(self, other):
        other = self._operand(other, "div_")
        self._mark_dirty("div_")
        self.data /= other
        return self

    def clamp_(self, min=None, max=None):  # noqa: A002 - torch's names
        self._mark_dirty("clamp_")
        backend.xp(self.data).clip(self.data, min, max, out=self.data)
        return self

    clip_ = clamp_

    # ------------------------------------------------------------ the engine (autograd.py)
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        autograd.backward(self, gradient, retain_graph)

    # ------------------------------------------------------------ operators
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __neg__(self): return ops.neg(self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __lt__(self, other): return ops.compare(self, other, "less")
    def __le__(self, other): return ops.compare(self, other, "less_equal")
    def __gt__(self, other): return ops.compare(self, other, "greater")
    def __ge__(self, other): return ops.compare(self, other, "greater_equal")
    def __eq__(self, other): return ops.compare(self, other, "equal")
    def __ne__(self, other): return ops.compare(self, other, "not_equal")
    def __invert__(self): return Tensor._wrap(~self.data)
    def __and__(self, other): return Tensor._wrap(self.data & _raw(other))
    def __or__(self, other): return Tensor._wrap(self.data | _raw(other))
    __hash__ = object.__hash__

    # ------------------------------------------------------------ ops (tinygrad_lm.ops), one line each
    def add(self, other): return ops.add(self, other)
    def sub(self, other): return ops.sub(self, other)
    def mul(self, other): return ops.mul(self, other)
    def div(self, other): return ops.div(self, other)
    def pow(self, exponent): return ops.pow(self, exponent)
    def matmul(self, other): return ops.matmul(self, other)
    def eq(self, other): return ops.eq(self, other)
    def neg(self): return ops.neg(self)
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def clip(self, min=None, max=None): return ops.clip(self, min, max)  # noqa: A002 - torch's names
    def clamp(self, min=None, max=None): return ops.clamp(self, min, max)  # noqa: A002
    def masked_fill(self, mask, value): return ops.masked_fill(self, mask, value)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def relu(self): return ops.relu(self)
    def softmax(self, dim=-1): return ops.softmax(self, dim)
    def log_softmax(self, dim=-1): return ops.log_softmax(self, dim)

    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.sum(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.mean(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.amax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.amin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.argmax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.argmin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def var(self, dim=None, unbiased=True, keepdim=False, correction=None, *, axis=None, keepdims=None):
        return ops.var(self, dim, unbiased, keepdim, correction, axis=axis, keepdims=keepdims)

    def std(self, dim=None, unbiased=True, keepdim=False, correction=None, *, axis=None, keepdims=None):
        return ops.std(self, dim, unbiased, keepdim, correction, axis=axis, keepdims=keepdims)

    def reshape(self, *shape): return ops.reshape(self, *shape)
    def view(self, *shape): return ops.view(self, *shape)
    def view_as(self, other): return ops.reshape(self, other.shape)
    def expand(self, *shape): return ops.expand(self, *shape)
    def expand_as(self, other): return ops.expand(self, other.shape)
    def permute(self, *dims): return ops.permute(self, *dims)
    def transpose(self, dim0, dim1): return ops.transpose(self, dim0, dim1)
    def squeeze(self, dim=None): return ops.squeeze(self, dim)
    def unsqueeze(self, dim): return ops.unsqueeze(self, dim)
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def split(self, split_size_or_sections, dim=0): return ops.split(self, split_size_or_sections, dim)
    def chunk(self, chunks, dim=0): return ops.chunk(self, chunks, dim)
    def gather(self, dim, index): return ops.gather(self, dim, index)
    def index_select(self, dim, index): return ops.index_select(self, dim, index)

    @property
    def T(self): return ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self): return ops.transpose(self, -2, -1)

    def __setitem__(self, index, value):
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError("in-place assignment into a tensor that requires grad would corrupt its graph; "
                               "do it under tg.no_grad() or build a new tensor (tg.where, masked_fill)")
        if isinstance(value, Tensor) and value.dtype != self.dtype and value.dtype.kind == self.dtype.kind == "f":
            raise TypeError(f"__setitem__: cannot write a {value.dtype} tensor into a {self.dtype} tensor; "
                            "convert it with .float() or .double()")
        index = ops.index_arrays(index)
        try:
            self.data[index] = _raw(value)
        except IndexError as e:
            raise IndexError(f"__setitem__: index {index!r} is out of range for shape {self.shape}: {e}") from None
        except ValueError as e:
            raise ValueError(f"__setitem__: cannot write a value of shape {getattr(value, 'shape', ())} into "
                             f"index {index!r} of a tensor of shape {self.shape}: {e}") from None
        increment_version(self)

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        return int(self.item())


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def tensor(data, requires_grad: bool = False, dtype=None, device=None) -> Tensor:
    """Make a tensor as ``torch.tensor``: float32 from Python floats, int64 from ints, dtype kept from arrays."""
    t = Tensor(data, dtype=dtype, device=device)
    if t.data is _raw(data):  # like torch.tensor, never alias the caller's array
        t.data = t.data.copy()
    return t.requires_grad_(requires_grad) if requires_grad else t


# last: the ops build Tensors (they import this module), and the methods above call them
from . import ops  # noqa: E402
