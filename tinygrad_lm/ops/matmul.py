"""Matrix product (D2.F1), batched and broadcasting like ``torch.matmul``."""
from __future__ import annotations

from ..autograd import Function
from .elementwise import promote, unbroadcast


def _swap(a):
    return a.swapaxes(-1, -2)


class MatMul(Function):
    """D2.F1  C_ij = sum_k A_ik B_kj;  dL/dA = G B^T,  dL/dB = A^T G (summed over broadcast batch axes).

    1-D operands are promoted as in torch.matmul: a vector on the left becomes a row, on the
    right a column, and the added axis is removed from the result.
    """

    operands = ("input", "other")

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {tuple(a.shape)} "
                             f"and {tuple(b.shape)}")
        self.a_shape, self.b_shape = a.shape, b.shape
        self.a = a[None, :] if a.ndim == 1 else a
        self.b = b[:, None] if b.ndim == 1 else b
        if self.a.shape[-1] != self.b.shape[-2]:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not fit "
                             f"({self.a.shape[-1]} != {self.b.shape[-2]} in the contracted dimension)")
        try:
            out = self.a @ self.b
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                             "broadcast together") from None
        if b.ndim == 1:
            out = out[..., 0]
        if a.ndim == 1:
            out = out[..., 0, :] if b.ndim > 1 else out[..., 0]
        return out

    def backward(self, g):
        if len(self.b_shape) == 1:
            g = g[..., None]
        if len(self.a_shape) == 1:
            g = g[..., None, :]
        ga = unbroadcast(g @ _swap(self.b), self.a.shape).reshape(self.a_shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(_swap(self.a) @ g, self.b.shape).reshape(self.b_shape) if self.needs_input_grad[1] else None
        return ga, gb


class Linear(Function):
    """y = x W^T + b (x: (..., in), W: (out, in), b: (out,));
    dL/dx = G W,  dL/dW = G^T x,  dL/db = sum of G over all but the last axis."""

    operands = ("input", "weight", "bias")

    def forward(self, x, weight, bias=None):
        if x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: input of shape {tuple(x.shape)} has {x.shape[-1]} features but the weight "
                             f"of shape {tuple(weight.shape)} expects {weight.shape[1]}")
        self.x, self.weight, self.has_bias = x, weight, bias is not None
        # one 2-D GEMM: NumPy's batched matmul against a transposed view is many times slower
        y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
        if bias is not None:
            y += bias
        return y

    def backward(self, g):
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g2 @ self.weight).reshape(self.x.shape) if self.needs_input_grad[0] else None
        gw = g2.T @ self.x.reshape(-1, self.x.shape[-1]) if self.needs_input_grad[1] else None
        gb = g2.sum(axis=0) if self.has_bias and self.needs_input_grad[2] else None
        return gx, gw, gb


# ------------------------------------------------------------------ functional wrappers
def matmul(a, b): return MatMul.apply(*promote(a, b))


def linear(x, weight, bias=None):
    xd, wd = x.data, weight.data
    if xd.ndim == 0 or wd.ndim != 2 or (bias is not None and bias.data.shape != wd.shape[:1]):
        raise ValueError(f"linear: needs input (..., in_features) with at least 1 dimension, weight (out_features, "
                         f"in_features) and bias (out_features,); got input {x.shape}, weight {weight.shape}"
                         + (f", bias {bias.shape}" if bias is not None else ""))
    if xd.dtype is not wd.dtype and xd.dtype != wd.dtype:  # an integer input would otherwise come out float64
        raise TypeError(f"linear: input is {x.dtype} (shape {x.shape}) but weight is {weight.dtype} (shape "
                        f"{weight.shape}); convert the input with .float() or .double()")
    return Linear.apply(x, weight, bias)
