"""Activations (D1.F5) and the numerically stable softmax family (D0.F4)."""
from __future__ import annotations

import math

from .. import backend
from ..arraymath import sigmoid_array  # below ops and kernels: both use it
from ..autograd import Function
from ..backend import xp
from .elementwise import check_float
from .reduce import check_dim


class Tanh(Function):
    """D1.F5  y = tanh x;  dy/dx = 1 - y^2."""

    saves_inputs, saves_output = (), True

    def forward(self, x):
        self.y = xp(x).tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y * self.y)


class Sigmoid(Function):
    """D0.F1, D1.F5  y = 1 / (1 + e^{-x});  dy/dx = y (1 - y)."""

    saves_inputs, saves_output = (), True

    def forward(self, x):
        self.y = sigmoid_array(x)
        return self.y

    def backward(self, g):
        return g * self.y * (1 - self.y)


class ReLU(Function):
    """D1.F5  y = max(x, 0);  dy/dx = [x > 0]."""

    saves_inputs = ()

    def forward(self, x):
        self.mask = x > 0
        return xp(x).maximum(x, 0)

    def backward(self, g):
        return g * self.mask


class LeakyReLU(Function):
    """y = x if x > 0 else a x;  dy/dx = 1 or a."""

    saves_inputs = ()

    def forward(self, x, negative_slope=0.01):
        self.scale = xp(x).where(x > 0, x.dtype.type(1), x.dtype.type(negative_slope))
        return x * self.scale

    def backward(self, g):
        return g * self.scale


class GELU(Function):
    """y = x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2;  dy/dx = Phi(x) + x phi(x),
    phi(x) = e^{-x^2/2} / sqrt(2 pi). The kernels ``gelu_forward`` (y and Phi in one pass) and
    ``gelu_backward`` (see tinygrad_lm/kernels/activation.py).

    ``approximate='tanh'``: y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
    """

    saves_inputs = (0,)

    def forward(self, x, approximate="none"):
        m = xp(x)
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            self.t = m.tanh(k * (x + 0.044715 * x ** 3))
            return 0.5 * x * (1 + self.t)
        if approximate != "none":
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        y, self.cdf = backend.kernel("gelu_forward", backend.device_of(x))(x)
        return y

    def backward(self, g):
        x = self.x
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            du = k * (1 + 3 * 0.044715 * x * x)
            return g * (0.5 * (1 + self.t) + 0.5 * x * (1 - self.t * self.t) * du)
        return backend.kernel("gelu_backward", backend.device_of(g))(x, self.cdf, g)


def softmax_array(x, axis):
    """softmax(x)_i = e^{x_i - max x} / sum_j e^{x_j - max x} (shifting by the max avoids overflow)."""
    m = xp(x)
    if x.size == 0:  # nothing to normalise (and max of nothing has no value)
        return x.copy()
    e = m.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax_array(x, axis):
    """log softmax(x)_i = (x_i - max x) - log sum_j e^{x_j - max x}."""
    m = xp(x)
    if x.size == 0:
        return x.copy()
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - m.log(m.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    """D0.F4  y = softmax(x) along ``dim``;  dL/dx = y (g - sum(g y))."""

    saves_inputs, saves_output = (), True

    def forward(self, x, dim=-1):
        self.dim = dim
        self.y = softmax_array(x, dim)
        return self.y

    def backward(self, g):
        gy = g * self.y
        return gy - self.y * gy.sum(axis=self.dim, keepdims=True)


class LogSoftmax(Function):
    """y = log softmax(x) along ``dim``;  dL/dx = g - softmax(x) sum(g)."""

    saves_inputs, saves_output = (), True

    def forward(self, x, dim=-1):
        self.dim = dim
        self.y = log_softmax_array(x, dim)
        return self.y

    def backward(self, g):
        return g - xp(g).exp(self.y) * g.sum(axis=self.dim, keepdims=True)


# ------------------------------------------------------------------ functional wrappers
def tanh(x): return Tanh.apply(x)
def sigmoid(x): return Sigmoid.apply(x)
def relu(x): return ReLU.apply(x)
def leaky_relu(x, negative_slope=0.01): return LeakyReLU.apply(x, negative_slope=negative_slope)
def gelu(x, approximate="none"): return GELU.apply(x, approximate=approximate)


def softmax(x, dim=-1):
    check_float("softmax", x)
    return Softmax.apply(x, dim=check_dim(dim, x.ndim, "softmax"))


def log_softmax(x, dim=-1):
    check_float("log_softmax", x)
    return LogSoftmax.apply(x, dim=check_dim(dim, x.ndim, "log_softmax"))
