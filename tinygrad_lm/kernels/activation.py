"""The exact GELU, y = x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2: the forward in one pass that
also keeps Phi for the backward, and the backward dL/dx = g (Phi(x) + x phi(x)), phi(x) = e^{-x^2/2} / sqrt(2 pi),
in one pass: plain NumPy twins (SciPy's erf; CuPy's on the GPU) and Numba kernels.
And float32 e^x for x <= 0 in a form the compiler vectorises, shared with the attention kernels.

Why float32 gets its own erf and exp: Numba turns ``math.erf`` and ``math.exp`` into calls to the
C library, one number at a time (erf ~8 ms, exp ~3 ms per million); written as a few multiplies the
loop runs 8-16 numbers per instruction (~0.3-0.7 ms). float64 keeps the C library (exact).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from ..backend import register, xp

_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}  # no 'ninf'/'nnan': -inf must stay -inf


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE-754 bits are the int32 ``bits`` (a reinterpretation, no conversion)."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))
    return types.float32(types.int32), codegen


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def exp_nonpositive32(x):
    """e^x for float32 x <= 0 (relative error < 1e-7; 0 below -87, where float32 runs out; NaN gives NaN).

    x = k ln2 + r with k an integer and |r| <= ln2 / 2, so e^x = 2^k e^r: e^r by its Taylor series to r^7
    (the rest < 2e-8), 2^k by writing k + 127 into the float's exponent bits. ln2 is split in two parts
    (Cody-Waite) so k ln2 is exact.
    """
    xc = max(x, np.float32(-87.0))
    k = math.floor(xc * np.float32(1 / math.log(2)) + np.float32(0.5))
    r = xc - k * np.float32(0.693145751953125) - k * np.float32(1.428606765330187e-06)
    p = np.float32(1 / 5040)
    for c in (1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0):
        p = p * r + np.float32(c)
    two_k = _float32_from_bits((np.int32(k) + np.int32(127)) << np.int32(23))
    return p * two_k if x > np.float32(-87.0) else (np.float32(0) if x <= np.float32(-87.0) else x)  # NaN stays


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


@register("gelu_backward", "plain")
def gelu_backward_plain(x, cdf, g):
    m, t = xp(x), x.dtype.type
    d = m.multiply(x, x, out=m.empty(x.shape, x.dtype))  # one buffer, in place; an array even when x is 0-d
    d *= t(-0.5)
    m.exp(d, out=d)
    d *= x
    d *= t(1 / math.sqrt(2 * math.pi))
    d += cdf
    d *= g
    return d


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gelu_backward_numba(x, cdf, g, out, exact):
    t = x.dtype.type
    k, h = t(1 / math.sqrt(2 * math.pi)), t(-0.5)
    for i in range(x.size):
        v = x[i]
        e = np.exp(h * v * v) if exact else exp_nonpositive32(h * v * v)
        out[i] = g[i] * (cdf[i] + k * v * e)


@register("gelu_backward", "cpu")
def gelu_backward_cpu(x, cdf, g):
    if x.dtype not in (np.float32, np.float64) or g.dtype != x.dtype:
        return gelu_backward_plain(x, cdf, g)
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    _gelu_backward_numba(flat, np.ascontiguousarray(cdf).reshape(-1), np.ascontiguousarray(g).reshape(-1), out,
                         x.dtype != np.float32)
    return out.reshape(x.shape)
