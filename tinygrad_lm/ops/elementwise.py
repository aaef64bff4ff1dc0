"""Element-wise arithmetic with broadcasting; each backward sums back to its input's shape."""
from __future__ import annotations

from ..autograd import Function
from ..backend import to_device, xp


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
