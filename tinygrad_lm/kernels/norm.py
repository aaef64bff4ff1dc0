"""Layer normalization over the last axis of an (M, D) array: plain NumPy twin and Numba kernel.

Per row x with mean mu and rstd = 1 / sqrt(var + eps) (biased variance):

    xhat = (x - mu) rstd,   y = xhat w + b
    dL/dx = rstd (gw - mean(gw) - xhat mean(gw xhat)),   gw = g w
    dL/dw = sum over rows of g xhat,   dL/db = sum over rows of g

The forward keeps mu and rstd per row, so the backward rebuilds xhat in the same pass.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..backend import contract, register, xp
from . import checks


@register("layer_norm_forward", "plain")
def forward_plain(x, w, b, eps):
    m = xp(x)
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    rstd = 1 / m.sqrt((xc * xc).mean(axis=1, keepdims=True) + eps)
    return (xc * rstd) * w + b, mu[:, 0], rstd[:, 0]


@register("layer_norm_backward", "plain")
def backward_plain(x, w, mu, rstd, g):
    xhat = (x - mu[:, None]) * rstd[:, None]
    gw = g * w
    gx = rstd[:, None] * (gw - gw.mean(axis=1, keepdims=True) - xhat * (gw * xhat).mean(axis=1, keepdims=True))
    return gx, (g * xhat).sum(axis=0), g.sum(axis=0)


# Serial: layer norms sit between matrix products, and a parallel loop fights the BLAS threads for the
# 2 cores (a GPT step's backward layer norm: 7.7 ms parallel next to BLAS, 0.2 ms alone).
# error_model='numpy' (no ZeroDivisionError checks) and row sums in the input's dtype: the row loops vectorise.
# Each kernel walks the rows twice, first for the row statistics, then for the outputs: one walk doing
# both vectorises worse (float32 (2048, 128): forward 0.12 -> 0.077 ms, backward 0.14 -> 0.087 ms).
@njit(cache=True, fastmath=True, error_model="numpy")
def _forward_numba(x, w, b, eps):
    M, D = x.shape
    y = np.empty_like(x)
    mu = np.empty(M, dtype=x.dtype)
    rstd = np.empty(M, dtype=x.dtype)
    t = x.dtype.type
    for i in range(M):
        s = t(0)
        for j in range(D):
            s += x[i, j]
        mean = s / D
        ss = t(0)
        for j in range(D):
            d = x[i, j] - mean
            ss += d * d
        mu[i] = mean
        rstd[i] = t(1) / np.sqrt(ss / D + eps)
    for i in range(M):
        mean, r = mu[i], rstd[i]
        for j in range(D):
            y[i, j] = (x[i, j] - mean) * r * w[j] + b[j]
    return y, mu, rstd


@njit(cache=True, fastmath=True, error_model="numpy")
def _backward_numba(x, w, mu, rstd, g):
    M, D = x.shape
    t = x.dtype.type
    s1 = np.empty(M, dtype=x.dtype)  # per row: mean(gw) and mean(gw xhat)
    s2 = np.empty(M, dtype=x.dtype)
    for i in range(M):
        m, r = mu[i], rstd[i]
        a = t(0)
        c = t(0)
        for j in range(D):
            gwj = g[i, j] * w[j]
            a += gwj
            c += gwj * ((x[i, j] - m) * r)
        s1[i] = a / D
        s2[i] = c / D
    gx = np.empty_like(x)
    gw = np.zeros(D, dtype=np.float64)  # sums over all rows: float64, fed every 32 rows from sums in x's dtype
    gb = np.zeros(D, dtype=np.float64)
    pw = np.zeros(D, dtype=x.dtype)
    pb = np.zeros(D, dtype=x.dtype)
    for i in range(M):
        m, r, a, c = mu[i], rstd[i], s1[i], s2[i]
        for j in range(D):
            xh = (x[i, j] - m) * r
            gx[i, j] = r * (g[i, j] * w[j] - a - xh * c)
            pw[j] += g[i, j] * xh
            pb[j] += g[i, j]
        if i % 32 == 31 or i == M - 1:
            for j in range(D):
                gw[j] += pw[j]
                gb[j] += pb[j]
                pw[j] = 0
                pb[j] = 0
    return gx, gw.astype(x.dtype), gb.astype(x.dtype)


@register("layer_norm_forward", "cpu")
def forward_cpu(x, w, b, eps):
    return _forward_numba(np.ascontiguousarray(x), w, b, x.dtype.type(eps))


@register("layer_norm_backward", "cpu")
def backward_cpu(x, w, mu, rstd, g):
    return _backward_numba(np.ascontiguousarray(x), w, mu, rstd, np.ascontiguousarray(g))


# ---------------------------------------------------------------- contracts (backend.contract)
@contract("layer_norm_forward")
def _forward_contract(x, w, b, eps):
    checks.ndim("layer_norm_forward", 2, x=x)
    checks.floating("layer_norm_forward", x=x, weight=w, bias=b)
    for name, a in (("weight", w), ("bias", b)):
        checks.shape("layer_norm_forward", name, a, x.shape[1:])


@contract("layer_norm_backward")
def _backward_contract(x, w, mu, rstd, g):
    checks.ndim("layer_norm_backward", 2, x=x)
    checks.floating("layer_norm_backward", x=x, weight=w, g=g)
    checks.shape("layer_norm_backward", "weight", w, x.shape[1:])
    checks.shape("layer_norm_backward", "g", g, x.shape)
    for name, a in (("mean", mu), ("rstd", rstd)):
        checks.require("layer_norm_backward", a.size == x.shape[0],
                       f"{name} holds {a.size} values for {x.shape[0]} rows")
