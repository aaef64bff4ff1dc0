"""The exact GELU, y = x Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2: the forward in one pass that
also keeps Phi for the backward, and the backward dL/dx = g (Phi(x) + x phi(x)), phi(x) = e^{-x^2/2} / sqrt(2 pi),
in one pass: plain NumPy twins (SciPy's ndtr; CuPy's on the GPU) and Numba kernels.
And float32 e^x for x <= 0 in a form the compiler vectorises, shared with the attention kernels.

Why erfc and not 1 + erf: for x < 0, Phi(x) is 1/2 (1 - erf(|x| / sqrt 2)), a difference of two numbers
near 1 whose leading digits cancel: at x = -4.4 it keeps ~2 correct digits in float32, and below x = -5.7
(float32) or -8.3 (float64) it is 0 instead of a tiny positive number. erfc(z) is computed directly, so
Phi keeps its relative accuracy over the whole range.

Why float32 gets its own erfc and exp: Numba turns ``math.erfc`` and ``math.exp`` into calls to the
C library, one number at a time (~8 ms per million); written as a few multiplies the loop vectorises.
float64 keeps the C library (exact).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload

from ..backend import contract, register, xp
from . import checks

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


@intrinsic
def _float64_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bits are the int64 ``bits``."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))
    return types.float64(types.int64), codegen


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def exp32_of64(a):
    """e^a rounded to float32, for a float64 a <= 0 that float32 could not hold exactly (relative error
    < 2e-7 down to float32's smallest normal, 1.2e-38; denormals and 0 below).

    The range reduction a = k ln2 + r runs in float64, so a large exponent such as -x^2/2 at x = -13
    loses nothing to rounding (in float32, x^2 alone would be off by ~85 * 6e-8 = 5e-6 in relative
    terms); e^r, |r| <= ln2 / 2, by its Taylor series to r^7 in float32; 2^k through float64's exponent
    bits, so the final rounding to float32 produces denormals correctly.
    """
    ac = max(a, -104.0)  # e^-104 < half of float32's smallest denormal
    k = math.floor(ac * (1 / math.log(2)) + 0.5)
    r = np.float32(ac - k * math.log(2))
    p = np.float32(1 / 5040)
    for c in (1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0):
        p = p * r + np.float32(c)
    return np.float32(p * _float64_from_bits((np.int64(k) + np.int64(1023)) << np.int64(52)))


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _half_erfc32(x):
    """erfc(|x| / sqrt 2) / 2 = Phi(-|x|) as float32 for a float32 x, relative error < 1e-6.

    erfc(z) = t e^{-z^2 + P(t)}, t = 1 / (1 + z / 2), with Chebyshev's fit P of degree 9 (Press et al.,
    Numerical Recipes, "erfcc": relative error < 1.2e-7 for every z >= 0), t and the exponent in float64.
    """
    z = abs(np.float64(x)) * (1 / math.sqrt(2))
    t = 1.0 / (1.0 + 0.5 * z)
    p = 0.17087277
    for c in (-0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196,
              1.00002368, -1.26551223):
        p = p * t + c
    return np.float32(0.5 * t) * exp32_of64(p - z * z)


@register("gelu_forward", "plain")
def gelu_forward_plain(x):
    if xp(x).__name__ == "numpy":
        from scipy.special import ndtr
    else:  # pragma: no cover - GPU
        from cupyx.scipy.special import ndtr
    cdf = ndtr(x).astype(x.dtype, copy=False)
    return x * cdf, cdf


def _phi_tail(v):
    """Phi(-|v|) = erfc(|v| / sqrt 2) / 2, chosen by dtype when a kernel compiles (a run-time choice
    inside the loop would stop it vectorising): float32 _half_erfc32, float64 the C library's erfc."""


@overload(_phi_tail, jit_options={"fastmath": _FAST, "error_model": "numpy"})
def _phi_tail_impl(v):
    if v == types.float32:
        return lambda v: _half_erfc32(v)
    return lambda v: 0.5 * math.erfc(abs(v) * (1 / math.sqrt(2)))


def _gauss(v):
    """e^{-v^2/2}, chosen by dtype as _phi_tail: float32 exp32_of64, float64 np.exp."""


@overload(_gauss, jit_options={"fastmath": _FAST, "error_model": "numpy"})
def _gauss_impl(v):
    if v == types.float32:
        return lambda v: exp32_of64(-0.5 * np.float64(v) * np.float64(v))
    return lambda v: np.exp(-0.5 * v * v)


# Serial: it runs between matrix products, whose BLAS threads would fight a parallel loop for the cores.
@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gelu_forward_numba(x, y, cdf):
    one = x.dtype.type(1)
    for i in range(x.size):
        v = x[i]
        tail = _phi_tail(v)
        c = tail if v < 0 else (one - tail if v >= 0 else v)  # NaN stays NaN
        cdf[i] = c
        y[i] = v * c


@register("gelu_forward", "cpu")
def gelu_forward_cpu(x):
    if x.dtype not in (np.float32, np.float64):  # float16: the plain twin
        return gelu_forward_plain(x)
    flat = np.ascontiguousarray(x).reshape(-1)
    y, cdf = np.empty_like(flat), np.empty_like(flat)
    _gelu_forward_numba(flat, y, cdf)
    return y.reshape(x.shape), cdf.reshape(x.shape)


@register("gelu_backward", "plain")
def gelu_backward_plain(x, cdf, g):
    m = xp(x)
    wide = x.astype(m.float64, copy=False)  # e^{-x^2/2} from a float64 exponent (see exp32_of64)
    d = wide * wide  # one buffer, then in place
    d *= -0.5
    m.exp(d, out=d)
    d *= wide
    d *= 1 / math.sqrt(2 * math.pi)
    d += cdf
    d *= g
    return d.astype(x.dtype, copy=False)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gelu_backward_numba(x, cdf, g, out):
    k = x.dtype.type(1 / math.sqrt(2 * math.pi))
    for i in range(x.size):
        v = x[i]
        out[i] = g[i] * (cdf[i] + k * v * _gauss(v))


@register("gelu_backward", "cpu")
def gelu_backward_cpu(x, cdf, g):
    if x.dtype not in (np.float32, np.float64) or g.dtype != x.dtype:
        return gelu_backward_plain(x, cdf, g)
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    _gelu_backward_numba(flat, np.ascontiguousarray(cdf).reshape(-1), np.ascontiguousarray(g).reshape(-1), out)
    return out.reshape(x.shape)


# ---------------------------------------------------------------- contracts (backend.contract)
@contract("gelu_forward")
def _gelu_forward_contract(x):
    checks.floating("gelu_forward", x=x)


@contract("gelu_backward")
def _gelu_backward_contract(x, cdf, g):
    checks.floating("gelu_backward", x=x, cdf=cdf)
    checks.floating("gelu_backward", g=g)
    for name, a in (("cdf", cdf), ("g", g)):
        checks.shape("gelu_backward", name, a, x.shape)
