"""Element-wise arithmetic with broadcasting; each backward sums back to its input's shape."""
from __future__ import annotations

import warnings

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import to_device, xp
from ..tensor import Tensor, _to_array, get_default_dtype


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes broadcasting added or stretched, so it has ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad.reshape(shape)


def check_broadcast(a, b, op: str):
    """Raise a clear error naming both shapes when ``a`` and ``b`` cannot broadcast."""
    if a.shape == b.shape:  # the common case, without broadcast_shapes' few microseconds
        return a.shape
    try:
        return xp(a, b).broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together "
                         "(trailing sizes must be equal or 1)") from None


class Identity(Function):
    """y = x (a copy); dy/dx = 1."""

    saves_inputs = ()

    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


class Cast(Function):
    """y = x as ``dtype``; the gradient is cast back to x's dtype."""

    saves_inputs = ()

    def forward(self, x, dtype):
        self.src = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return g.astype(self.src)


class ToDevice(Function):
    """y = x on ``device``; the gradient moves back."""

    saves_inputs = ()

    def forward(self, x, device):
        self.src = "cuda" if type(x).__module__.startswith("cupy") else "cpu"
        return to_device(x, device)

    def backward(self, g):
        return to_device(g, self.src)


class Add(Function):
    """y = a + b;  dL/da = g,  dL/db = g (each summed to its shape)."""

    saves_inputs = ()
    operands = ("input", "other")

    def forward(self, a, b):
        check_broadcast(a, b, "add")
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    """y = a - b;  dL/da = g,  dL/db = -g."""

    saves_inputs = ()
    operands = ("input", "other")

    def forward(self, a, b):
        check_broadcast(a, b, "sub")
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class Mul(Function):
    """y = a * b;  dL/da = g b,  dL/db = g a."""

    operands = ("input", "other")

    def forward(self, a, b):
        check_broadcast(a, b, "mul")
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        ga = unbroadcast(g * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b;  dL/da = g / b,  dL/db = -g a / b^2."""

    operands = ("input", "other")

    def forward(self, a, b):
        check_broadcast(a, b, "div")
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        ga = unbroadcast(g / self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * self.a / (self.b * self.b), self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    """y = a ** b;  dL/da = g b a^(b-1),  dL/db = g y ln(a) (taken as 0 where a = 0)."""

    saves_output = True
    operands = ("input", "other")

    def forward(self, a, b):
        check_broadcast(a, b, "pow")
        self.a, self.b = a, b
        self.y = a ** b
        return self.y

    def backward(self, g):
        m = xp(self.a)
        ga = unbroadcast(g * self.b * self.a ** (self.b - 1), self.a.shape) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            log_a = m.log(m.where(self.a > 0, self.a, 1))
            gb = unbroadcast(g * self.y * log_a, self.b.shape)
        return ga, gb


class Neg(Function):
    """y = -x;  dL/dx = -g."""

    saves_inputs = ()

    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Exp(Function):
    """y = e^x;  dL/dx = g y."""

    saves_inputs, saves_output = (), True

    def forward(self, x):
        self.y = xp(x).exp(x)
        return self.y

    def backward(self, g):
        return g * self.y


class Log(Function):
    """y = ln x;  dL/dx = g / x."""

    saves_inputs = (0,)

    def forward(self, x):
        self.x = x
        return xp(x).log(x)

    def backward(self, g):
        return g / self.x


class Sqrt(Function):
    """y = sqrt(x);  dL/dx = g / (2 y)."""

    saves_inputs, saves_output = (), True

    def forward(self, x):
        self.y = xp(x).sqrt(x)
        return self.y

    def backward(self, g):
        return g / (2 * self.y)


class Abs(Function):
    """y = |x|;  dL/dx = g sign(x) (0 at x = 0, as PyTorch)."""

    saves_inputs = (0,)

    def forward(self, x):
        self.x = x
        return xp(x).abs(x)

    def backward(self, g):
        return g * xp(self.x).sign(self.x)


class Clip(Function):
    """y = min(max(x, lo), hi);  dL/dx = g where lo <= x <= hi, else 0."""

    saves_inputs = ()

    def forward(self, x, lo=None, hi=None):
        m = xp(x)
        self.mask = m.ones(x.shape, dtype=bool)
        if lo is not None:
            self.mask &= x >= lo
        if hi is not None:
            self.mask &= x <= hi
        return m.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.mask


class Where(Function):
    """y = a where cond else b;  dL/da = g [cond],  dL/db = g [not cond]."""

    saves_inputs = ()
    operands = ("condition", "input", "other")

    def forward(self, cond, a, b):
        try:
            xp(a, b).broadcast_shapes(cond.shape, a.shape, b.shape)
        except ValueError:
            raise ValueError(f"where: condition {tuple(cond.shape)}, input {tuple(a.shape)} and other "
                             f"{tuple(b.shape)} cannot be broadcast together") from None
        self.cond, self.shapes = cond.astype(bool), (a.shape, b.shape)
        return xp(a, b).where(self.cond, a, b)

    def backward(self, g):
        zero = g.dtype.type(0)
        m = xp(g)
        ga = unbroadcast(m.where(self.cond, g, zero), self.shapes[0]) if self.needs_input_grad[1] else None
        gb = unbroadcast(m.where(self.cond, zero, g), self.shapes[1]) if self.needs_input_grad[2] else None
        return None, ga, gb


# ------------------------------------------------------------------ functional wrappers
_NUMBER = (int, float, bool, np.number, np.bool_)


def _scalar_array(value, like: Tensor):
    """A Python (or NumPy) number as a 0-d array of ``like``'s dtype (float for a float into an int tensor)."""
    dtype = like.dtype
    if isinstance(value, (float, np.floating)) and dtype.kind not in "fc":
        dtype = get_default_dtype()
    return backend.xp(like.data).asarray(value, dtype=dtype)


def promote(a, b):
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


def add(a, b): return Add.apply(*promote(a, b))
def sub(a, b): return Sub.apply(*promote(a, b))
def mul(a, b): return Mul.apply(*promote(a, b))
def pow(a, b): return Pow.apply(*promote(a, b))  # noqa: A001 - torch's name
def neg(x): return Neg.apply(x)
def exp(x): return Exp.apply(x)
def log(x): return Log.apply(x)
def sqrt(x): return Sqrt.apply(x)
def abs(x): return Abs.apply(x)  # noqa: A001


def div(a, b):
    a, b = promote(a, b)
    if a.dtype.kind != "f" and b.dtype.kind != "f":  # integer true division gives the default float, as PyTorch
        a, b = (Tensor._wrap(t.data.astype(get_default_dtype())) for t in (a, b))
    return Div.apply(a, b)


def clip(x, min=None, max=None):  # noqa: A002 - torch's names
    return Clip.apply(x, lo=min, hi=max)


clamp = clip


def where(condition, a, b):
    """a where condition else b (condition is not differentiated)."""
    a, b = promote(a, b)
    cond = condition.data if isinstance(condition, Tensor) else backend.xp(a.data).asarray(condition)
    return Where.apply(Tensor._wrap(cond), a, b)


def masked_fill(x, mask, value):
    """x with ``value`` wherever ``mask`` is True (mask broadcasts against x)."""
    if getattr(mask, "dtype", None) != np.bool_:  # torch's rule: 0.5 or 2 as a mask says nothing clear
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
    return where(mask, _scalar_array(value, x) if not isinstance(value, Tensor) else value, x)


def compare(a, b, op: str):
    """Element-wise comparison (no gradient): op is a numpy ufunc name, e.g. 'less'."""
    a, b = promote(a, b)
    check_broadcast(a.data, b.data, op)
    return Tensor._wrap(getattr(backend.xp(a.data), op)(a.data, b.data))


def eq(a, b): return compare(a, b, "equal")


def check_float(op, *tensors):
    """Ops defined on real numbers only (softmax, the losses) refuse integer and bool tensors, as PyTorch."""
    for t in tensors:
        if isinstance(t, Tensor) and t.data.dtype.kind != "f":
            raise TypeError(f"{op}: expected a floating-point tensor, got dtype {t.dtype} (shape {t.shape}); "
                            "convert it with .float()")


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


def dropout2d(x, p=0.5, training=True):
    """Composite: each channel x[n, c] of an (N, C, H, W) input zeroed whole with probability p, the others
    scaled by 1/(1 - p) (torch's feature dropout). A 3-D input is taken as (N, C, L), as torch 2.x does (with a
    warning): it is not read as one unbatched (C, H, W) image."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout2d probability must be in [0, 1], got {p}")
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D (N, C, H, W) input (or a 3-D (N, C, L) one), got shape "
                         f"{tuple(x.shape)}; dropout drops single values of any shape")
    if x.ndim == 3:
        warnings.warn("dropout2d: a 3-D input is taken as (N, C, L), dropping whole rows x[n, c], as torch does; "
                      "for one unbatched (C, H, W) image pass x.unsqueeze(0)", UserWarning, stacklevel=2)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    keep = backend.random(x.shape[:2] + (1,) * (x.ndim - 2), x.dtype, x.device) >= p
    return x * Tensor._wrap((keep / (1 - p)).astype(x.dtype))


def clone(x): return Identity.apply(x)


def to(x, device=None, dtype=None):
    """``x`` moved to ``device`` and/or cast to ``dtype``; differentiable (gradients flow back)."""
    out = x
    if dtype is not None and np.dtype(dtype) != x.dtype:
        out = Cast.apply(out, dtype=np.dtype(dtype))
    if device is not None and backend.check_device(device) != x.device:
        out = ToDevice.apply(out, device=backend.check_device(device))
    return out
