"""The exact GELU's forward, y = x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2, in one pass that
also keeps Phi for the backward: plain NumPy twin (SciPy's erf; CuPy's on the GPU) and Numba kernel.

The Numba kernel takes erf from ``math.erf`` (the C library, exact) for float64. For float32 it uses
Eigen's rational approximation erf(v) ~ v P(v^2) / Q(v^2) on v clamped to [-4, 4] (also XLA's and
TVM's float32 erf; |error| < 5e-7, about PyTorch's own float32 GELU): ``math.erf`` is a call the
compiler cannot vectorise (~8 ms per million numbers), the rational form is a few multiplies that it
can (~0.3 ms).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..backend import register, xp


@register("gelu_forward", "plain")
def gelu_forward_plain(x):
    if xp(x).__name__ == "numpy":
        from scipy.special import erf
    else:  # pragma: no cover - GPU
        from cupyx.scipy.special import erf
    cdf = 0.5 * (1 + erf(x * (1 / math.sqrt(2))).astype(x.dtype, copy=False))
    return x * cdf, cdf


# error_model='numpy': no ZeroDivisionError check on p / q, which would stop the loop vectorising.
@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _erf_rational(v):
    t = type(v)
    v = min(max(v, t(-4)), t(4))
    v2 = v * v
    p = t(-2.72614225801306e-10)
    p = p * v2 + t(2.77068142495902e-08)
    p = p * v2 + t(-2.10102402082508e-06)
    p = p * v2 + t(-5.69250639462346e-05)
    p = p * v2 + t(-7.34990630326855e-04)
    p = p * v2 + t(-2.95459980854025e-03)
    p = p * v2 + t(-1.60960333262415e-02)
    q = t(-1.45660718464996e-05)
    q = q * v2 + t(-2.13374055278905e-04)
    q = q * v2 + t(-1.68282697438203e-03)
    q = q * v2 + t(-7.37332916720468e-03)
    q = q * v2 + t(-1.42647390514189e-02)
    return v * p / q


# Serial: it runs between matrix products, whose BLAS threads would fight a parallel loop for the cores.
@njit(cache=True, fastmath=True, error_model="numpy")
def _gelu_forward_numba(x, y, cdf, exact):
    t = x.dtype.type
    half, r = t(0.5), t(1 / math.sqrt(2))
    for i in range(x.size):
        v = x[i]
        c = half + half * (math.erf(v * r) if exact else _erf_rational(v * r))
        cdf[i] = c
        y[i] = v * c


@register("gelu_forward", "cpu")
def gelu_forward_cpu(x):
    if x.dtype not in (np.float32, np.float64):  # float16: the plain twin
        return gelu_forward_plain(x)
    flat = np.ascontiguousarray(x).reshape(-1)
    y, cdf = np.empty_like(flat), np.empty_like(flat)
    _gelu_forward_numba(flat, y, cdf, x.dtype != np.float32)
    return y.reshape(x.shape), cdf.reshape(x.shape)
