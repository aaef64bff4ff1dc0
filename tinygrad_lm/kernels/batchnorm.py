"""Batch normalization of an (N, C, S) array per channel c: plain NumPy twin and Numba kernel.

Over the m = N S values of a channel, with mean mu and invstd = 1 / sqrt(var + eps) (biased variance):

    xhat = (x - mu) invstd,   y = xhat w + b
    dL/dw = sum g xhat,   dL/db = sum g
    dL/dx = w invstd (g - dL/db / m - xhat dL/dw / m)     (training: mu and var are the batch's)
    dL/dx = w invstd g                                      (eval: mu and var are fixed running estimates)

The forward keeps mu and invstd per channel, so the backward rebuilds xhat in the same pass.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..backend import contract, register, xp
from . import checks


@register("batch_norm_forward", "plain")
def forward_plain(x, w, b, eps):
    m = xp(x)
    mean = x.mean(axis=(0, 2))
    xc = x - mean[:, None]
    var = (xc * xc).mean(axis=(0, 2))
    invstd = 1 / m.sqrt(var + eps)
    return xc * invstd[:, None] * w[:, None] + b[:, None], mean, var, invstd


@register("batch_norm_backward", "plain")
def backward_plain(x, w, mean, invstd, g, training):
    xhat = (x - mean[:, None]) * invstd[:, None]
    gw, gb = (g * xhat).sum(axis=(0, 2)), g.sum(axis=(0, 2))
    gx = g - (gb[:, None] + xhat * gw[:, None]) / (x.shape[0] * x.shape[2]) if training else g
    return (w * invstd)[:, None] * gx, gw, gb


# Serial, as layer norm: batch norms sit between convolutions' matrix products, and a parallel loop fights
# the BLAS threads for the cores. Each (n, c) row of S values is summed in x's dtype (the loop vectorises)
# and added into a float64 sum per channel: m = N S reaches 10^5 in a CNN, too many for a float32 sum.
@njit(cache=True, fastmath=True, error_model="numpy")
def _channel_sums(x, mean, times):
    """Per channel: sum of (x - mean) * (times or 1) over n and s, in float64."""
    N, C, S = x.shape
    acc = np.zeros(C, dtype=np.float64)
    t = x.dtype.type
    for n in range(N):
        for c in range(C):
            row, mu = x[n, c], mean[c]
            s = t(0)
            if times is None:
                for j in range(S):
                    s += row[j] - mu
            else:
                other = times[n, c]
                for j in range(S):
                    s += (row[j] - mu) * other[j]
            acc[c] += s
    return acc


@njit(cache=True, fastmath=True, error_model="numpy")
def _forward_numba(x, w, b, eps):
    N, C, S = x.shape
    zero = np.zeros(C, dtype=x.dtype)
    mean = (_channel_sums(x, zero, None) / (N * S)).astype(x.dtype)
    var = np.zeros(C, dtype=np.float64)
    t = x.dtype.type
    for n in range(N):
        for c in range(C):
            row, mu = x[n, c], mean[c]
            s = t(0)
            for j in range(S):
                d = row[j] - mu
                s += d * d
            var[c] += s
    var32 = (var / (N * S)).astype(x.dtype)
    invstd = t(1) / np.sqrt(var32 + eps)
    y = np.empty_like(x)
    for n in range(N):
        for c in range(C):
            row, out, mu, a, bc = x[n, c], y[n, c], mean[c], invstd[c] * w[c], b[c]
            for j in range(S):
                out[j] = (row[j] - mu) * a + bc
    return y, mean, var32, invstd


@njit(cache=True, fastmath=True, error_model="numpy")
def _backward_numba(x, w, mean, invstd, g, training):
    N, C, S = x.shape
    gb = _channel_sums(g, np.zeros(C, dtype=x.dtype), None)
    gw = _channel_sums(x, mean, g) * invstd  # sum g xhat = invstd sum g (x - mu)
    k = w * invstd
    cg = np.zeros(C, dtype=x.dtype)  # per channel: what dx subtracts, as mean(g) + (x - mu) invstd^2 mean(g xhat)
    cx = np.zeros(C, dtype=x.dtype)
    if training:
        cg[:] = gb / (N * S)
        cx[:] = gw * invstd / (N * S)
    gx = np.empty_like(x)
    for n in range(N):
        for c in range(C):
            row, gr, out, mu, kc, a, d = x[n, c], g[n, c], gx[n, c], mean[c], k[c], cg[c], cx[c]
            for j in range(S):
                out[j] = kc * (gr[j] - a - (row[j] - mu) * d)
    return gx, gw.astype(x.dtype), gb.astype(x.dtype)


@register("batch_norm_forward", "cpu")
def forward_cpu(x, w, b, eps):
    return _forward_numba(np.ascontiguousarray(x), np.ascontiguousarray(w), np.ascontiguousarray(b), x.dtype.type(eps))


@register("batch_norm_backward", "cpu")
def backward_cpu(x, w, mean, invstd, g, training):
    return _backward_numba(np.ascontiguousarray(x), np.ascontiguousarray(w), np.ascontiguousarray(mean),
                           np.ascontiguousarray(invstd), np.ascontiguousarray(g), bool(training))


# ---------------------------------------------------------------- contracts (backend.contract)
@contract("batch_norm_forward")
def _forward_contract(x, w, b, eps):
    checks.ndim("batch_norm_forward", 3, x=x)
    checks.floating("batch_norm_forward", x=x, weight=w, bias=b)
    for name, a in (("weight", w), ("bias", b)):
        checks.shape("batch_norm_forward", name, a, x.shape[1:2])


@contract("batch_norm_backward")
def _backward_contract(x, w, mean, invstd, g, training):
    checks.ndim("batch_norm_backward", 3, x=x)
    checks.floating("batch_norm_backward", x=x, weight=w, mean=mean, invstd=invstd, g=g)
    for name, a in (("weight", w), ("mean", mean), ("invstd", invstd)):
        checks.shape("batch_norm_backward", name, a, x.shape[1:2])
    checks.shape("batch_norm_backward", "g", g, x.shape)
