"""Softmax cross-entropy over the last axis of a (M, C) array: plain NumPy twin and Numba kernel.

Per row i with target y, class weights w, smoothing eps, W = sum_c w_c and p = softmax(x_i):

    loss_i = -(1 - eps) w_y log p_y - (eps / C) sum_c w_c log p_c          (0 when y == ignore_index)
    dloss_i/dx_ij = p_j ((1 - eps) w_y + eps W / C) - (1 - eps) w_y [j == y] - (eps / C) w_j

The forward keeps only the row's log-sum-exp, so the backward rebuilds p in one pass.
"""
from __future__ import annotations

import numpy as np

from ..backend import contract, register, xp
from . import checks
from .threads import in_ranges
from numba import njit


@register("cross_entropy_forward", "plain")
def forward_plain(x, target, weight, ignore_index, eps):
    m = xp(x)
    mx = x.max(axis=1, keepdims=True)
    lse = (mx + m.log(m.exp(x - mx).sum(axis=1, keepdims=True)))[:, 0]
    valid = target != ignore_index
    safe = m.where(valid, target, 0)
    logp_y = m.take_along_axis(x, safe[:, None], axis=1)[:, 0] - lse
    C = x.shape[1]
    loss = -(1 - eps) * weight[safe] * logp_y
    if eps:
        loss = loss - (eps / C) * ((x * weight).sum(axis=1) - weight.sum() * lse)
    return m.where(valid, loss, 0).astype(x.dtype), lse


@register("cross_entropy_backward", "plain")
def backward_plain(x, lse, target, weight, ignore_index, eps, g):
    m = xp(x)
    C = x.shape[1]
    valid = target != ignore_index
    safe = m.where(valid, target, 0)
    wy = weight[safe]
    p = m.exp(x - lse[:, None])
    grad = p * ((1 - eps) * wy + eps * weight.sum() / C)[:, None]
    grad[m.arange(x.shape[0]), safe] -= (1 - eps) * wy
    if eps:
        grad -= (eps / C) * weight
    return (grad * m.where(valid, g, 0)[:, None]).astype(x.dtype)


# Each kernel fills rows r0..r1-1 of its outputs, and kernels/threads.py runs ranges of rows on its sleeping
# threads (the kernels release the GIL): Numba's parallel loops kept their workers spinning after the loss
# and took the cores from the next BLAS product.
@njit(nogil=True, cache=True)
def _forward_numba(x, target, weight, ignore_index, eps, loss, lse, r0, r1):
    C = x.shape[1]
    wsum = weight.sum()
    for i in range(r0, r1):
        row = x[i]
        mx = -np.inf
        for j in range(C):
            if row[j] > mx:
                mx = row[j]
        s = 0.0
        ws = 0.0
        for j in range(C):
            s += np.exp(row[j] - mx)
            ws += weight[j] * row[j]
        lse[i] = mx + np.log(s)
        y = target[i]
        if y != ignore_index:
            loss[i] = -(1 - eps) * weight[y] * (row[y] - lse[i]) - (eps / C) * (ws - wsum * lse[i])


@njit(nogil=True, cache=True)
def _backward_numba(x, lse, target, weight, ignore_index, eps, g, grad, r0, r1):
    C = x.shape[1]
    wsum = weight.sum()
    for i in range(r0, r1):
        y = target[i]
        if y == ignore_index:
            grad[i] = 0
            continue
        gi = g[i]
        wy = weight[y]
        scale = ((1 - eps) * wy + eps * wsum / C) * gi
        for j in range(C):
            grad[i, j] = np.exp(x[i, j] - lse[i]) * scale - (eps / C) * weight[j] * gi
        grad[i, y] -= (1 - eps) * wy * gi


# ---------------------------------------------------------------- float32: a vectorized exp
# Without Intel's SVML, Numba calls libm's scalar exp for every logit, which made this kernel 3x
# slower than PyTorch's. In float32 we compute exp ourselves with plain arithmetic the compiler
# turns into SIMD code: e^x = 2^n e^r, n = round(x log2 e), |r| <= ln2/2, e^r by a degree-7
# polynomial (Cephes' expf coefficients, relative error < 2e-7), 2^n by writing n + 127 into a
# float's exponent bits. float64 keeps np.exp above (this polynomial is float32-accurate only).
FAST = {"reassoc", "contract", "nsz", "arcp"}  # not nnan/ninf: NaN and inf inputs must still show
_LOG2E, _LN2_HI, _LN2_LO = np.float32(1.4426950408889634), np.float32(0.693359375), np.float32(-2.12194440e-4)
_EXP_POLY = tuple(np.float32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                                          1.6666665459e-1, 5.0000001201e-1))


@njit(fastmath=FAST, cache=True, inline="always")
def _scaled_exp(v, shift, mult, out, bits):
    """out[j] = mult * exp(v[j] - shift) for v[j] <= shift (exactly 0 below e^-87); returns sum(out) in float64."""
    c5, c4, c3, c2, c1, c0 = _EXP_POLY
    for j in range(v.shape[0]):
        x = v[j] - shift
        x = np.float32(-88.0) if x < np.float32(-88.0) else x  # -inf (a masked logit) gives 0; NaN stays
        n = np.floor(x * _LOG2E + np.float32(0.5))
        r = x - n * _LN2_HI - n * _LN2_LO
        p = ((((c5 * r + c4) * r + c3) * r + c2) * r + c1) * r + c0
        out[j] = mult * (p * r * r + r + np.float32(1.0))
        bits[j] = ((np.int32(n) + 127) << 23) if x > np.float32(-87.0) else 0
    two_n = bits.view(np.float32)
    total = 0.0
    for j in range(v.shape[0]):
        out[j] *= two_n[j]
        total += out[j]
    return total


@njit(nogil=True, fastmath=FAST, cache=True)
def _forward_f32(x, mx, target, weight, ignore_index, eps, loss, lse, r0, r1):
    """As _forward_numba, given each row's maximum ``mx`` (NumPy's SIMD max; NaN if the row has one)."""
    C = x.shape[1]
    wsum = 0.0
    for j in range(C):
        wsum += weight[j]
    for i in range(r0, r1):
        row = x[i]
        s = _scaled_exp(row, mx[i], np.float32(1.0), np.empty(C, np.float32), np.empty(C, np.int32))
        li = mx[i] + np.log(s)
        lse[i] = li
        y = target[i]
        if y != ignore_index:
            value = -(1 - eps) * weight[y] * (row[y] - li)
            if eps:
                ws = 0.0
                for j in range(C):
                    ws += weight[j] * row[j]
                value -= (eps / C) * (ws - wsum * li)
            loss[i] = value


@njit(nogil=True, fastmath=FAST, cache=True)
def _backward_f32(x, lse, target, weight, ignore_index, eps, g, grad, r0, r1):
    """As _backward_numba (``grad`` allocated by NumPy, which asks the OS for huge pages: a fresh 20 MB
    gradient then costs ten page faults, not five thousand)."""
    C = x.shape[1]
    wsum = 0.0
    for j in range(C):
        wsum += weight[j]
    for i in range(r0, r1):
        out = grad[i]
        y = target[i]
        if y == ignore_index:
            out[:] = 0
            continue
        gi, wy = g[i], weight[y]
        scale = np.float32(((1 - eps) * wy + eps * wsum / C) * gi)
        _scaled_exp(x[i], lse[i], scale, out, np.empty(C, np.int32))
        if eps:
            smooth = np.float32(eps / C * gi)
            for j in range(C):
                out[j] -= smooth * weight[j]
        out[y] -= (1 - eps) * wy * gi


# Below this many logits the plain twin's few NumPy passes cost less than a kernel call and its ranges.
KERNEL_MIN_SIZE = 1 << 15


@register("cross_entropy_forward", "cpu")
def forward_cpu(x, target, weight, ignore_index, eps):
    if x.size < KERNEL_MIN_SIZE:
        return forward_plain(x, target, weight, ignore_index, eps)
    x, M = np.ascontiguousarray(x), x.shape[0]
    loss = np.zeros(M, dtype=x.dtype)
    if x.dtype == np.float32:
        lse, mx = np.empty(M, np.float32), x.max(axis=1)
        in_ranges(lambda a, b: _forward_f32(x, mx, target, weight, ignore_index, float(eps), loss, lse, a, b),
                  M, x.size)
    else:
        lse = np.empty(M, np.float64)
        in_ranges(lambda a, b: _forward_numba(x, target, weight, ignore_index, float(eps), loss, lse, a, b),
                  M, x.size)
    return loss, lse


@register("cross_entropy_backward", "cpu")
def backward_cpu(x, lse, target, weight, ignore_index, eps, g):
    if x.size < KERNEL_MIN_SIZE:
        return backward_plain(x, lse, target, weight, ignore_index, eps, g)
    x, g = np.ascontiguousarray(x), np.ascontiguousarray(g)
    grad = np.empty_like(x)
    kernel = _backward_f32 if x.dtype == np.float32 else _backward_numba
    in_ranges(lambda a, b: kernel(x, lse, target, weight, ignore_index, float(eps), g, grad, a, b), x.shape[0],
              x.size)
    return grad


# ---------------------------------------------------------------- contracts (backend.contract)
def _ce_contract(kernel, x, target, weight, ignore_index):
    checks.ndim(kernel, 2, x=x)
    checks.floating(kernel, x=x, weight=weight)
    N, C = x.shape
    checks.shape(kernel, "target", target, (N,))
    checks.shape(kernel, "weight", weight, (C,))
    checks.indices(kernel, "target", target, C, ignore=ignore_index)
    return N


@contract("cross_entropy_forward")
def _forward_contract(x, target, weight, ignore_index, eps):
    _ce_contract("cross_entropy_forward", x, target, weight, ignore_index)


@contract("cross_entropy_backward")
def _backward_contract(x, lse, target, weight, ignore_index, eps, g):
    N = _ce_contract("cross_entropy_backward", x, target, weight, ignore_index)
    checks.floating("cross_entropy_backward", x=x, lse=lse, g=g)
    checks.shape("cross_entropy_backward", "lse", lse, (N,))
    checks.shape("cross_entropy_backward", "g", g, (N,))
