"""Layer normalization (D2.M1's LayerNorm) and batch normalization, each one fused Function with a
hand-written backward."""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Function, increment_version
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


class BatchNorm(Function):
    """Batch normalization (outside the inventory: PyTorch's BatchNorm1d / BatchNorm2d). Per channel c of an
    (N, C, *) input, over its m = N * (spatial size) values:

        training: mu, var = mean and biased variance of the batch,  y = (x - mu) / sqrt(var + eps) * w + b;
                  running_mean <- (1 - momentum) running_mean + momentum mu,
                  running_var  <- (1 - momentum) running_var + momentum var m / (m - 1)   (unbiased, as torch)
        eval:     the same y with mu, var = running_mean, running_var

    backward (tinygrad_lm/kernels/batchnorm.py), xhat = (x - mu) invstd, invstd = 1 / sqrt(var + eps):
        dw = sum dy xhat,  db = sum dy,  dx = (1/m) invstd w (m dy - db - xhat dw)   (eval: dx = invstd w dy)
    """

    saves_inputs = (0, 1)
    operands = ("input", "weight", "bias")

    def forward(self, x, weight=None, bias=None, running_mean=None, running_var=None, training=False,
                momentum=0.1, eps=1e-5):
        m = xp(x)
        C = _check_batch_norm(x, weight, bias, running_mean, running_var, training)
        self.shape, self.has, self.training = x.shape, (weight is not None, bias is not None), training
        self.x = x.reshape(x.shape[0], C, math.prod(x.shape[2:]))  # (-1 fails on an empty batch)
        self.w = m.ones(C, x.dtype) if weight is None else weight
        b = m.zeros(C, x.dtype) if bias is None else bias
        n = self.x.shape[0] * self.x.shape[2]
        if not training:
            self.mean, self.invstd = running_mean.copy(), 1 / m.sqrt(running_var + eps)
            y = (self.x - self.mean[:, None]) * (self.invstd * self.w)[:, None] + b[:, None]
        elif n == 0:  # an empty batch: an empty output, running estimates untouched (as torch)
            self.mean, self.invstd, y = m.zeros(C, x.dtype), m.ones(C, x.dtype), self.x.copy()
        else:
            y, self.mean, var, self.invstd = backend.kernel("batch_norm_forward", backend.device_of(x))(
                self.x, self.w, b, eps)
            if running_mean is not None:
                running_mean[...] = momentum * self.mean + (1 - momentum) * running_mean
                running_var[...] = momentum * var * (n / (n - 1)) + (1 - momentum) * running_var
        return y.reshape(x.shape)

    def backward(self, g):
        gx, gw, gb = backend.kernel("batch_norm_backward", backend.device_of(g))(
            self.x, self.w, self.mean, self.invstd, g.reshape(self.x.shape), self.training)
        return gx.reshape(self.shape), gw if self.has[0] else None, gb if self.has[1] else None


def _check_batch_norm(x, weight, bias, running_mean, running_var, training) -> int:
    """The number of channels C of an (N, C, *) input, after checking every per-channel array against it."""
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C, *), got shape {tuple(x.shape)}")
    C = x.shape[1]
    for name, a in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if a is not None and tuple(a.shape) != (C,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(a.shape)}, but the input of shape "
                             f"{tuple(x.shape)} has {C} channels")
        if a is not None and name.startswith("running") and a.dtype != x.dtype:
            raise TypeError(f"batch_norm: {name} is {a.dtype} but the input is {x.dtype}")
    if (running_mean is None) != (running_var is None) or (not training and running_mean is None):
        raise ValueError("batch_norm: running_mean and running_var go together, and evaluation "
                         "(training=False) needs both")
    if training and x.size == C:  # (an empty batch passes: an empty output, as torch)
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of shape "
                         f"{tuple(x.shape)}")
    return C


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002 - torch's name
    """torch.nn.functional.layer_norm: normalise over the trailing ``normalized_shape`` axes."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    return LayerNorm.apply(input, weight, bias, normalized_shape=tuple(normalized_shape), eps=float(eps))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    """torch.nn.functional.batch_norm: normalise each channel of an (N, C, *) input by the batch's statistics
    (``training``, updating the running estimates given in place) or by ``running_mean`` / ``running_var``."""
    out = BatchNorm.apply(input, weight, bias, running_mean=None if running_mean is None else running_mean.data,
                          running_var=None if running_var is None else running_var.data, training=bool(training),
                          momentum=float(momentum), eps=float(eps))
    if training and running_mean is not None:
        for t in (running_mean, running_var):
            increment_version(t)
    return out


def normalize(input, p=2.0, dim=1, eps=1e-12):  # noqa: A002 - torch's names
    """D2.F1 L2 (or L^p) normalisation, composite: v / max(||v||_p, eps) along ``dim``.

    The norm is taken as clip(sum |v|^p, eps^p)^(1/p): the same value as max(||v||_p, eps), and a
    finite gradient (zero through the norm) for an all-zero v, as PyTorch's."""
    s = (input.abs() ** float(p)).sum(dim=dim, keepdim=True)
    return input / s.clip(min=float(eps) ** p) ** (1.0 / p)
