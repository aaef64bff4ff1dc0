"""Layer normalization (D2.M1's LayerNorm) as one fused Function with a hand-written backward."""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Function
from ..backend import xp


class LayerNorm(Function):
    """y = (x - mu) / sqrt(var + eps) * w + b over the trailing ``normalized_shape`` axes
    (biased variance); backward: see tinygrad_lm/kernels/norm.py (``layer_norm_backward``).
    ``weight`` / ``bias`` may be None (no affine part)."""

    saves_inputs = (0, 1)
    operands = ("input", "weight", "bias")

    def forward(self, x, weight=None, bias=None, normalized_shape=(), eps=1e-5):
        m = xp(x)
        k = len(normalized_shape)
        if tuple(x.shape[x.ndim - k:]) != tuple(normalized_shape) or x.ndim < k:
            raise ValueError(f"layer_norm: input of shape {tuple(x.shape)} does not end with normalized_shape "
                             f"{tuple(normalized_shape)}")
        for name, p in (("weight", weight), ("bias", bias)):
            if p is not None and tuple(p.shape) != tuple(normalized_shape):
                raise ValueError(f"layer_norm: {name} has shape {tuple(p.shape)}, expected {tuple(normalized_shape)}")
        D = math.prod(normalized_shape)
        self.shape, self.pshape = x.shape, tuple(normalized_shape)
        self.has = weight is not None, bias is not None
        self.x = x.reshape(-1, D)
        self.w = m.ones(D, x.dtype) if weight is None else weight.reshape(D)
        b = m.zeros(D, x.dtype) if bias is None else bias.reshape(D)
        y, self.mu, self.rstd = backend.kernel("layer_norm_forward", backend.device_of(x))(self.x, self.w, b, eps)
        return y.reshape(x.shape)

    def backward(self, g):
        gx, gw, gb = backend.kernel("layer_norm_backward", backend.device_of(g))(
            self.x, self.w, self.mu, self.rstd, g.reshape(self.x.shape))
        return (_shaped(gx, self.shape),
                _shaped(gw, self.pshape) if self.has[0] else None,
                _shaped(gb, self.pshape) if self.has[1] else None)


def _shaped(a, shape):
    """``a`` itself when it has ``shape`` already: a reshaped view is copied again when it becomes a
    leaf's ``.grad``."""
    return a if a.shape == tuple(shape) else a.reshape(shape)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002 - torch's name
    """torch.nn.functional.layer_norm: normalise over the trailing ``normalized_shape`` axes."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    return LayerNorm.apply(input, weight, bias, normalized_shape=tuple(normalized_shape), eps=float(eps))


def normalize(input, p=2.0, dim=1, eps=1e-12):  # noqa: A002 - torch's names
    """D2.F1 L2 (or L^p) normalisation, composite: v / max(||v||_p, eps) along ``dim``.

    The norm is taken as clip(sum |v|^p, eps^p)^(1/p): the same value as max(||v||_p, eps), and a
    finite gradient (zero through the norm) for an all-zero v, as PyTorch's."""
    s = (input.abs() ** float(p)).sum(dim=dim, keepdim=True)
    return input / s.clip(min=float(eps) ** p) ** (1.0 / p)
