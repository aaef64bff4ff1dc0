"""D0.T3 / D3.T2 / D4.T3 quantization: int8 weights, int32 accumulation, fake-quant for training.

An affine quantizer maps a real x to an integer q in [q_min, q_max] with a scale s > 0 and an
integer zero point z:

    q = clamp(round(x / s) + z, q_min, q_max),          x_hat = s (q - z)      (dequantize)

The parameters follow PyTorch's MinMaxObserver for qint8 (q_min = -128, q_max = 127), with the
range widened to hold 0 so that 0 is exact:

    asymmetric:  s = (max(x_max, 0) - min(x_min, 0)) / (q_max - q_min),   z = q_min - round(min(x_min, 0) / s)
    symmetric:   s = max(|x_min|, |x_max|) / ((q_max - q_min) / 2),        z = 0

computed once for the whole tensor (per-tensor) or once per slice along ``axis`` (per-channel,
axis 0 = a Linear's output rows). ``round`` is round-half-to-even and x / s is computed as
x * (1 / s) in float32, both as PyTorch, so the integers agree with torch.quantize_per_tensor.
"""
from __future__ import annotations

import copy

import numpy as np

from ..autograd import Function, no_grad
from ..backend import xp
from ..nn.layers import Linear
from ..nn.module import Module
from ..tensor import Tensor

QMIN, QMAX = -128, 127
EPS = float(np.finfo(np.float32).eps)  # smallest scale, as PyTorch's observers


def _array(x):
    return x.data if isinstance(x, Tensor) else x


def _along(v, axis, ndim):
    """A per-channel vector shaped to broadcast along ``axis`` of an ndim-array."""
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


def calculate_qparams(x, symmetric: bool = True, axis: int | None = None, qmin: int = QMIN, qmax: int = QMAX):
    """(scale, zero_point) for ``x``: float32 scale(s) and int64 zero point(s), per tensor or per
    channel along ``axis``."""
    a = _array(x)
    m = xp(a)
    if qmin >= qmax:
        raise ValueError(f"quantization range needs qmin < qmax, got [{qmin}, {qmax}]")
    dims = None if axis is None else tuple(d for d in range(a.ndim) if d != axis % a.ndim)
    lo = m.minimum(a.min(axis=dims), 0).astype(m.float32)
    hi = m.maximum(a.max(axis=dims), 0).astype(m.float32)
    if symmetric:
        scale = m.maximum(m.maximum(-lo, hi) / m.float32((qmax - qmin) / 2), m.float32(EPS))
        middle = 0 if qmin < 0 else (qmin + qmax + 1) // 2  # an unsigned range puts 0 in its middle
        return scale, m.full(scale.shape, middle, dtype=m.int64)
    scale = m.maximum((hi - lo) / m.float32(qmax - qmin), m.float32(EPS))
    zero_point = m.clip(qmin - m.round(lo / scale).astype(m.int64), qmin, qmax)
    return scale, zero_point


def quantize_tensor(x, scale, zero_point, axis: int | None = None, qmin: int = QMIN, qmax: int = QMAX,
                    dtype=np.int8):
    """q = clamp(round(x / s) + z, q_min, q_max) as ``dtype`` (int8 by default)."""
    a = _array(x)
    m = xp(a)
    inv, z = 1 / m.asarray(scale, dtype=m.float32), m.asarray(zero_point)
    if axis is not None:
        inv, z = _along(inv, axis, a.ndim), _along(z, axis, a.ndim)
    return m.clip(m.round(a * inv) + z, qmin, qmax).astype(dtype)


def dequantize_tensor(q, scale, zero_point, axis: int | None = None, dtype=np.float32):
    """x_hat = s (q - z) in ``dtype``."""
    m = xp(q)
    s, z = m.asarray(scale, dtype=dtype), m.asarray(zero_point)
    if axis is not None:
        s, z = _along(s, axis, q.ndim), _along(z, axis, q.ndim)
    return ((q.astype(m.int32) - z).astype(dtype) * s).astype(dtype)


class FakeQuantize(Function):
    """Fake quantization with the straight-through estimator (STE), for quantization-aware training.

    forward:   y = s (clamp(round(x / s) + z, q_min, q_max) - z)      (x rounded to the int8 grid, kept float)
    backward:  dL/dx = g * 1[q_min <= round(x / s) + z <= q_max]     (round taken as the identity inside
               the range; zero where the value was clipped), as torch.fake_quantize_per_*_affine.
    s and z are constants here (no gradient). ``axis`` None: per tensor; an int: per channel.
    """

    def forward(self, x, scale, zero_point, axis=None, qmin=QMIN, qmax=QMAX):
        m = xp(x)
        s32 = m.asarray(scale, dtype=m.float32)
        s, inv, z = s32.astype(x.dtype), (1 / s32).astype(x.dtype), m.asarray(zero_point).astype(x.dtype)
        if axis is not None:
            s, inv, z = (_along(v, axis, x.ndim) for v in (s, inv, z))
        q = m.round(x * inv) + z
        self.inside = (q >= qmin) & (q <= qmax)
        return ((m.clip(q, qmin, qmax) - z) * s).astype(x.dtype)

    def backward(self, g):
        return g * self.inside, None, None


def fake_quantize(x, symmetric: bool = True, axis: int | None = None, qmin: int = QMIN, qmax: int = QMAX):
    """Composite: fake-quantize ``x`` with parameters computed from its own current range."""
    scale, zero_point = calculate_qparams(x.data, symmetric, axis, qmin, qmax)
    return FakeQuantize.apply(x, scale, zero_point, axis=axis, qmin=qmin, qmax=qmax)


class QATLinear(Linear):
    """Linear whose weight is fake-quantized (int8, symmetric, per output channel) in every forward,
    so training sees the rounding error it will meet after conversion (weight-only QAT)."""

    def forward(self, x):
        from .. import ops

        return ops.linear(x, fake_quantize(self.weight, symmetric=True, axis=0), self.bias)

    @classmethod
    def from_linear(cls, linear: Linear) -> "QATLinear":
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        new.load_state_dict(linear.state_dict())
        return new


class QuantizedLinear(Module):
    """Inference-only Linear with int8 weights (symmetric, per output channel) and dynamically
    quantized int8 inputs (asymmetric, per tensor), multiplied in integers with int32 accumulation:

        acc_{no} = sum_i (q^x_{ni} - z_x) q^W_{oi}       (int32)
        y_{no}   = s_x s^W_o acc_{no} + b_o               (float)

    which is x_hat W_hat^T + b with x_hat, W_hat the dequantized input and weight.
    """

    def __init__(self, linear: Linear):
        super().__init__()
        w = linear.weight.data
        self.in_features, self.out_features = linear.in_features, linear.out_features
        scale, _ = calculate_qparams(w, symmetric=True, axis=0)
        self.register_buffer("weight_int8", Tensor._wrap(quantize_tensor(w, scale, 0, axis=0)))
        self.register_buffer("scale", Tensor._wrap(scale))
        self.register_buffer("bias", None if linear.bias is None else Tensor._wrap(linear.bias.data.copy()))
        self.dtype = w.dtype

    def forward(self, x):
        a = _array(x)
        if a.shape[-1] != self.in_features:
            raise ValueError(f"QuantizedLinear: input of shape {tuple(a.shape)} does not end in "
                             f"in_features={self.in_features}")
        m = xp(a)
        sx, zx = calculate_qparams(a, symmetric=False)
        qx = quantize_tensor(a, sx, zx).astype(m.int32) - m.int32(zx)
        acc = qx @ self.weight_int8.data.astype(m.int32).T  # int32 accumulation
        y = acc.astype(self.dtype) * (sx * self.scale.data).astype(self.dtype)
        if self.bias is not None:
            y = y + self.bias.data
        return Tensor._wrap(y.astype(self.dtype))

    def dequantized_weight(self):
        return dequantize_tensor(self.weight_int8.data, self.scale.data, 0, axis=0, dtype=self.dtype)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights"


def _replace_linears(model: Module, make) -> Module:
    for name, child in list(model._modules.items()):
        if isinstance(child, Linear):
            setattr(model, name, make(child))
        elif child is not None:
            _replace_linears(child, make)
    return model


def quantize_dynamic(model: Module) -> Module:
    """A copy of ``model`` for inference, each Linear (or QATLinear) child replaced by a QuantizedLinear."""
    return _replace_linears(copy.deepcopy(model).eval(), QuantizedLinear)


def prepare_qat(model: Module) -> Module:
    """A copy of ``model`` for quantization-aware training, each Linear child replaced by a QATLinear
    with the same weights."""
    return _replace_linears(copy.deepcopy(model), QATLinear.from_linear)


def model_size_bytes(model: Module) -> int:
    """Bytes of the parameters and buffers: what a checkpoint of the model holds."""
    return sum(p.data.nbytes for p in model.parameters()) + sum(b.data.nbytes for _, b in model.named_buffers())


@no_grad()
def weight_quantization_error(w, symmetric: bool = True, axis: int | None = None) -> float:
    """max |w - dequantize(quantize(w))|: at most s/2 (half a step) for values inside the range."""
    a = _array(w)
    s, z = calculate_qparams(a, symmetric, axis)
    return float(xp(a).abs(a - dequantize_tensor(quantize_tensor(a, s, z, axis), s, z, axis, a.dtype)).max())
