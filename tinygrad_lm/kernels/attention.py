"""Fused scaled dot-product attention over (N, L, E) queries, (N, S, E) keys, (N, S, Ev) values:
plain NumPy twin, Numba kernel ('cpu') and CuPy kernel ('gpu').

Forward, per batch-head n (D2.F3 / D4.F2):

    S = scale Q K^T + M        M: additive mask (0 / -inf from a boolean one), -inf above the
                               diagonal when causal
    P = softmax(S) row-wise    stable: shift by the row max; a row with every key masked gives P = 0
    O = (P * D) V              D: dropout keep-mask already divided by (1 - p), or 1

Backward, from G = dL/dO:

    dV = (P * D)^T G
    dP = (G V^T) * D
    dS = P * (dP - rowsum(dP * P))          the softmax backward; also dL/dM, M added after the scale
    dQ = scale dS K,   dK = scale dS^T Q

The three products of each pass go to the BLAS (``xp.matmul``: batched GEMM); the fast kernels fuse
everything between them in one pass over the scores: scale, mask, causal cut, max, exp, sum and
normalise forward, and the softmax backward with the scale. The forward saves P, which is exactly
0 where masked, so the backward needs no mask. ``mask`` is an (Nm, L, S) array with Nm in {1, N}
(or None) and ``keep`` an (N, L, S) array (or None).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..backend import register, xp
from .activation import _FAST, exp_nonpositive32


def _mT(a):
    """The transpose of each matrix, made contiguous. NumPy's batched matmul hands a transposed *first*
    operand to the BLAS as it is (a transpose flag), but falls off the BLAS for a transposed *second*
    one (float32 (64, 32, 128) keys: 115 ms instead of 0.7 ms): so K^T and V^T, both small, are copied,
    and P^T, dS^T (the big ones) are only ever first operands."""
    return xp(a).ascontiguousarray(a.swapaxes(-1, -2))


def _weighted_sum(p, v, keep):
    return xp(p).matmul(p if keep is None else p * keep, v)


@register("attention_forward", "plain")
def forward_plain(q, k, v, mask, scale, causal, keep):
    m = xp(q)
    s = m.matmul(q, _mT(k))
    s *= scale
    if mask is not None:
        s += mask
    if causal:
        L, S = s.shape[-2:]
        s += m.where(m.tri(L, S, dtype=bool), q.dtype.type(0), q.dtype.type(-math.inf))
    mx = s.max(axis=-1, keepdims=True)
    mx[~m.isfinite(mx)] = 0  # fully masked row: exp(-inf) = 0 everywhere
    p = m.exp(s - mx, out=s)
    total = p.sum(axis=-1, keepdims=True)
    total[total == 0] = 1
    p /= total
    return _weighted_sum(p, v, keep), p


def _backward(q, k, v, p, keep, scale, g, mask_grad, softmax_backward):
    """dQ, dK, dV, and dS when ``mask_grad`` (else None). ``softmax_backward(p, dp, c)`` gives c dS:
    the scale is folded into it unless dS itself is wanted, then it goes on dQ and dK."""
    m = xp(q)
    dv = m.matmul((p if keep is None else p * keep).swapaxes(-1, -2), g)
    dp = m.matmul(g, _mT(v))
    if keep is not None:
        dp *= keep
    ds = softmax_backward(p, dp, 1.0 if mask_grad else scale)
    dq, dk = m.matmul(ds, k), m.matmul(ds.swapaxes(-1, -2), q)
    if not mask_grad:
        return dq, dk, dv, None
    dq *= scale
    dk *= scale
    return dq, dk, dv, ds


@register("attention_backward", "plain")
def backward_plain(q, k, v, p, keep, scale, g, mask_grad=False):
    def softmax_backward(p, dp, c):
        return p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * c

    return _backward(q, k, v, p, keep, scale, g, mask_grad, softmax_backward)


# ---------------------------------------------------------------- Numba: row by row, on one thread.
# One compiled version per dtype: the mask is always passed (a (1, 1, 1) dummy when absent). Serial: the
# kernels run between batched matrix products, and a parallel loop fights the BLAS threads for the cores.
# error_model='numpy' (no ZeroDivisionError checks) and float32 accumulators let the loops vectorise;
# float32 takes the vectorised exp (exp_nonpositive32: every exponent here is s - max(s) <= 0).
@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _softmax_numba(s, mask, has_mask, scale, causal, exact):
    """In place: s = softmax(scale s + mask), rows cut at the diagonal when causal; ``exact``: np.exp."""
    N, L, S = s.shape
    t = s.dtype.type
    one_mask = mask.shape[0] == 1
    for n in range(N):
        mn = mask[0] if one_mask else mask[n]
        for i in range(L):
            stop = min(i + 1, S) if causal else S
            row = s[n, i]
            mx = t(-np.inf)
            for j in range(stop):
                x = row[j] * scale
                if has_mask:
                    x += mn[i, j]
                row[j] = x
                mx = max(mx, x)
            row[stop:] = 0
            if mx == -np.inf:  # every key masked: the row stays 0
                row[:stop] = 0
                continue
            total = t(0)
            for j in range(stop):
                e = np.exp(row[j] - mx) if exact else exp_nonpositive32(row[j] - mx)
                row[j] = e
                total += e
            inv = t(1) / total
            for j in range(stop):
                row[j] *= inv
    return s


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _softmax_backward_numba(p, dp, scale):
    """In place: dp = scale p (dp - rowsum(dp p))."""
    N, L, S = p.shape
    for n in range(N):
        for i in range(L):
            dot = p.dtype.type(0)
            for j in range(S):
                dot += dp[n, i, j] * p[n, i, j]
            for j in range(S):
                dp[n, i, j] = p[n, i, j] * (dp[n, i, j] - dot) * scale
    return dp


@register("attention_forward", "cpu")
def forward_cpu(q, k, v, mask, scale, causal, keep):
    s = np.matmul(q, _mT(k))
    has_mask = mask is not None
    mask = np.ascontiguousarray(mask, dtype=q.dtype) if has_mask else np.zeros((1, 1, 1), q.dtype)
    p = _softmax_numba(s, mask, has_mask, q.dtype.type(scale), bool(causal), q.dtype != np.float32)
    return _weighted_sum(p, v, keep), p


@register("attention_backward", "cpu")
def backward_cpu(q, k, v, p, keep, scale, g, mask_grad=False):
    return _backward(q, k, v, p, keep, scale, g, mask_grad,
                     lambda p, dp, c: _softmax_backward_numba(p, np.ascontiguousarray(dp), q.dtype.type(c)))


# ---------------------------------------------------------------- CuPy: one thread per score row.
_GPU_SOURCE = r"""
template<typename T>
__device__ void softmax_row(T* s, const T* mask, int mask_n, int L, int S, T scale, int causal, long row) {
    long n = row / L; int i = row % L;
    T* r = s + row * S;
    const T* mr = mask_n ? mask + ((mask_n == 1 ? 0 : n) * L + i) * (long)S : 0;
    int stop = causal ? min(i + 1, S) : S;
    T mx = -INFINITY;
    for (int j = 0; j < stop; ++j) { T x = r[j] * scale + (mr ? mr[j] : T(0)); r[j] = x; mx = x > mx ? x : mx; }
    for (int j = stop; j < S; ++j) r[j] = 0;
    if (mx == -INFINITY) { for (int j = 0; j < stop; ++j) r[j] = 0; return; }
    T total = 0;
    for (int j = 0; j < stop; ++j) { r[j] = exp(r[j] - mx); total += r[j]; }
    for (int j = 0; j < stop; ++j) r[j] /= total;
}
template<typename T>
__device__ void softmax_back_row(const T* p, T* dp, int S, T scale, long row) {
    const T* pr = p + row * S; T* dr = dp + row * S;
    T dot = 0;
    for (int j = 0; j < S; ++j) dot += dr[j] * pr[j];
    for (int j = 0; j < S; ++j) dr[j] = pr[j] * (dr[j] - dot) * scale;
}
extern "C" {
__global__ void softmax_f(float* s, const float* m, int mn, int L, int S, float sc, int c, long rows) {
    long row = blockIdx.x * (long)blockDim.x + threadIdx.x; if (row < rows) softmax_row(s, m, mn, L, S, sc, c, row); }
__global__ void softmax_d(double* s, const double* m, int mn, int L, int S, double sc, int c, long rows) {
    long row = blockIdx.x * (long)blockDim.x + threadIdx.x; if (row < rows) softmax_row(s, m, mn, L, S, sc, c, row); }
__global__ void softmax_back_f(const float* p, float* dp, int S, float sc, long rows) {
    long row = blockIdx.x * (long)blockDim.x + threadIdx.x; if (row < rows) softmax_back_row(p, dp, S, sc, row); }
__global__ void softmax_back_d(const double* p, double* dp, int S, double sc, long rows) {
    long row = blockIdx.x * (long)blockDim.x + threadIdx.x; if (row < rows) softmax_back_row(p, dp, S, sc, row); }
}
"""
_gpu_module = None


def _gpu_kernel(name, dtype):
    global _gpu_module
    import cupy as cp

    if _gpu_module is None:
        _gpu_module = cp.RawModule(code=_GPU_SOURCE, options=("-std=c++14",))
    return _gpu_module.get_function(name + ("_f" if dtype == np.float32 else "_d"))


def _launch(kernel, rows, *args):
    threads = 128
    kernel(((rows + threads - 1) // threads,), (threads,), args + (np.int64(rows),))


@register("attention_forward", "gpu")
def forward_gpu(q, k, v, mask, scale, causal, keep):
    import cupy as cp

    s = cp.ascontiguousarray(cp.matmul(q, _mT(k)))
    N, L, S = s.shape
    t = q.dtype.type
    m = cp.ascontiguousarray(mask, dtype=q.dtype) if mask is not None else cp.zeros(1, q.dtype)
    _launch(_gpu_kernel("softmax", q.dtype), N * L, s, m, np.int32(0 if mask is None else m.shape[0]),
            np.int32(L), np.int32(S), t(scale), np.int32(bool(causal)))
    return _weighted_sum(s, v, keep), s


@register("attention_backward", "gpu")
def backward_gpu(q, k, v, p, keep, scale, g, mask_grad=False):
    import cupy as cp

    def softmax_backward(p, dp, c):
        dp = cp.ascontiguousarray(dp)
        _launch(_gpu_kernel("softmax_back", q.dtype), p.shape[0] * p.shape[1], p, dp, np.int32(p.shape[2]),
                q.dtype.type(c))
        return dp

    return _backward(q, k, v, p, keep, scale, g, mask_grad, softmax_backward)
