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

The products (two forward, four backward) go to the BLAS (``xp.matmul``: batched GEMM); the fast kernels fuse
everything between them in one pass over the scores: scale, mask, causal cut, max, exp, sum and
normalise forward, and the softmax backward with the scale. The forward saves P, which is exactly
0 where masked, so the backward needs no mask. ``mask`` is an (Nm, L, S) array with Nm in {1, N}
(or None) and ``keep`` an (N, L, S) array (or None).

The products go by blocks: the queries in blocks of ``BLOCK`` rows, and for dV and dK the keys in
blocks of ``BLOCK``. Causal attention skips the blocks above the diagonal: a query block multiplies
only the keys up to its last row, a key block only the queries from its first row on (at length 128,
10/16 of the products). The scores of the skipped blocks are never written; the softmax kernels write
P = 0 and dS = 0 there. Blocks also keep each product small enough that OpenBLAS runs it on the calling
thread, so the CPU kernels can run ranges of batch-heads on several threads without the BLAS threads
fighting them (below).
"""
from __future__ import annotations

import math
import threading

import numpy as np
from numba import njit

from ..backend import contract, register, xp
from . import checks, cuda
from .activation import _FAST, exp_nonpositive32
from .threads import in_ranges

BLOCK = 32  # query rows (and keys) per block of the products


def _mT(a):
    """The transpose of each matrix, made contiguous. NumPy's batched matmul hands a transposed *first*
    operand to the BLAS as it is (a transpose flag), but falls off the BLAS for a transposed *second*
    one (float32 (64, 32, 128) keys: 115 ms instead of 0.7 ms): so K^T and V^T, both small, are copied,
    and P^T, dS^T (the big ones) are only ever first operands."""
    return xp(a).ascontiguousarray(a.swapaxes(-1, -2))


def _row_blocks(L, S, causal, block):
    """(r0, r1, c): query rows r0..r1-1 and the keys 0..c-1 they see (all S unless causal)."""
    return tuple((r0, min(r0 + block, L), min(r0 + block, L, S) if causal else S) for r0 in range(0, L, block))


def _key_blocks(L, S, causal, block):
    """(c0, c1, r): keys c0..c1-1 and the first query row r that sees any of them (0 unless causal)."""
    return tuple((c0, min(c0 + block, S), min(c0, L) if causal else 0) for c0 in range(0, S, block))


def _forward(q, k, v, causal, keep, softmax, out, p, block=BLOCK):
    """O into ``out`` and P into ``p``: the scores Q K^T go into ``p``, and ``softmax(p)`` turns them
    into P in place (under ``causal`` reading only the scores on and below the diagonal)."""
    m = xp(q)
    L, S = q.shape[1], k.shape[1]
    rows, kT = _row_blocks(L, S, causal, block), _mT(k)
    for r0, r1, c in rows:
        m.matmul(q[:, r0:r1], kT[:, :, :c], out=p[:, r0:r1, :c])
    softmax(p)
    pd = p if keep is None else p * keep
    for r0, r1, c in rows:
        m.matmul(pd[:, r0:r1, :c], v[:, :c], out=out[:, r0:r1])


def _backward(q, k, v, p, keep, scale, g, causal, mask_grad, softmax_backward, dq, dk, dv, dp, block=BLOCK):
    """dQ, dK, dV into ``dq``, ``dk``, ``dv``, and dP, then dS, into ``dp`` (an (N, L, S) output when
    ``mask_grad``, else scratch). ``softmax_backward(p, dp, c)`` turns dP into c dS in place (under
    ``causal`` reading dP only on and below the diagonal, and writing 0 above it): the scale is folded
    into it unless dS itself is wanted, then it goes on dQ and dK."""
    m = xp(q)
    L, S = q.shape[1], k.shape[1]
    rows, keys = _row_blocks(L, S, causal, block), _key_blocks(L, S, causal, block)
    pd = p if keep is None else m.multiply(p, keep, out=dp)  # dp is free until dV is done
    for c0, c1, r in keys:
        m.matmul(pd[:, r:, c0:c1].swapaxes(-1, -2), g[:, r:], out=dv[:, c0:c1])
    vT = _mT(v)
    for r0, r1, c in rows:
        m.matmul(g[:, r0:r1], vT[:, :, :c], out=dp[:, r0:r1, :c])
        if keep is not None:
            dp[:, r0:r1, :c] *= keep[:, r0:r1, :c]
    softmax_backward(p, dp, 1.0 if mask_grad else scale)
    for r0, r1, c in rows:
        m.matmul(dp[:, r0:r1, :c], k[:, :c], out=dq[:, r0:r1])
    for c0, c1, r in keys:
        m.matmul(dp[:, r:, c0:c1].swapaxes(-1, -2), q[:, r:], out=dk[:, c0:c1])
    if mask_grad:
        dq *= scale
        dk *= scale


def _empty(q, k, v, backward=False, mask_grad=False):
    """The forward's O and P, or the backward's dQ, dK, dV and dS (None unless ``mask_grad``), empty."""
    m = xp(q)
    (N, L, _), S = q.shape, k.shape[1]
    if not backward:
        return m.empty((N, L, v.shape[2]), q.dtype), m.empty((N, L, S), q.dtype)
    return (m.empty(q.shape, q.dtype), m.empty(k.shape, q.dtype), m.empty(v.shape, q.dtype),
            m.empty((N, L, S), q.dtype) if mask_grad else None)


@register("attention_forward", "plain")
def forward_plain(q, k, v, mask, scale, causal, keep):
    m = xp(q)

    def softmax(s):
        if causal:  # the skipped blocks above the diagonal hold no scores: cut them before any arithmetic
            above = ~m.tri(*s.shape[1:], dtype=bool)
            s[:, above] = 0
        s *= scale
        if mask is not None:
            s += mask
        if causal:
            s[:, above] = -math.inf
        mx = s.max(axis=-1, keepdims=True)
        mx[~m.isfinite(mx)] = 0  # fully masked row: exp(-inf) = 0 everywhere
        m.exp(s - mx, out=s)
        total = s.sum(axis=-1, keepdims=True)
        total[total == 0] = 1
        s /= total

    out, p = _empty(q, k, v)
    _forward(q, k, v, causal, keep, softmax, out, p)
    return out, p


@register("attention_backward", "plain")
def backward_plain(q, k, v, p, keep, scale, g, causal, mask_grad):
    def softmax_backward(p, dp, c):
        if causal:  # the skipped blocks: no dP there (and P = 0)
            dp[:, ~xp(p).tri(*p.shape[1:], dtype=bool)] = 0
        dp -= (dp * p).sum(axis=-1, keepdims=True)
        dp *= p
        dp *= c

    grads = _empty(q, k, v, backward=True, mask_grad=mask_grad)
    _backward(q, k, v, p, keep, scale, g, causal, mask_grad, softmax_backward, *grads[:3],
              grads[3] if mask_grad else xp(p).empty(p.shape, p.dtype))
    return grads


# ---------------------------------------------------------------- Numba: row by row, on one thread.
# One compiled version per dtype: the mask is always passed (a (1, 1, 1) dummy when absent). Serial: the
# kernels run between batched matrix products, and a parallel loop fights the BLAS threads for the cores.
# error_model='numpy' (no ZeroDivisionError checks) and float32 accumulators let the loops vectorise;
# float32 takes the vectorised exp (exp_nonpositive32: every exponent here is s - max(s) <= 0).
@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _row_max(row, stop):
    """max(row[:stop]) by eight running maxima: a single one is a chain of dependent compares that does
    not vectorise (0.57 ms per million float32 numbers, 0.14 ms with eight)."""
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = row.dtype.type(-np.inf)
    i = 0
    while i + 8 <= stop:
        m0, m1, m2, m3 = max(m0, row[i]), max(m1, row[i + 1]), max(m2, row[i + 2]), max(m3, row[i + 3])
        m4, m5, m6, m7 = max(m4, row[i + 4]), max(m5, row[i + 5]), max(m6, row[i + 6]), max(m7, row[i + 7])
        i += 8
    mx = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    while i < stop:
        mx = max(mx, row[i])
        i += 1
    return mx


@njit(cache=True, fastmath=_FAST, error_model="numpy", nogil=True)
def _softmax_numba(s, mask, has_mask, scale, causal, exact):
    """In place: s = softmax(scale s + mask), rows cut at the diagonal when causal (the scores above it
    are not read); ``exact``: np.exp."""
    N, L, S = s.shape
    t = s.dtype.type
    one_mask = mask.shape[0] == 1
    for n in range(N):
        mn = mask[0] if one_mask else mask[n]
        for i in range(L):
            stop = min(i + 1, S) if causal else S
            row = s[n, i]
            for j in range(stop):
                row[j] = row[j] * scale + mn[i, j] if has_mask else row[j] * scale
            row[stop:] = 0
            mx = _row_max(row, stop)
            if mx == -np.inf:  # every key masked: the row stays 0
                row[:stop] = 0
                continue
            total = t(0)
            if exact:  # two loops, not the branch inside one: that can stop the float32 loop vectorising
                for j in range(stop):
                    row[j] = np.exp(row[j] - mx)
                    total += row[j]
            else:
                for j in range(stop):
                    row[j] = exp_nonpositive32(row[j] - mx)
                    total += row[j]
            inv = t(1) / total
            for j in range(stop):
                row[j] *= inv
    return s


@njit(cache=True, fastmath=_FAST, error_model="numpy", nogil=True)
def _softmax_backward_numba(p, dp, scale, causal):
    """In place: dp = scale p (dp - rowsum(dp p)), rows cut at the diagonal when causal (0 above it)."""
    N, L, S = p.shape
    for n in range(N):
        for i in range(L):
            stop = min(i + 1, S) if causal else S
            pr, dr = p[n, i], dp[n, i]
            dot = p.dtype.type(0)
            for j in range(stop):
                dot += dr[j] * pr[j]
            for j in range(stop):
                dr[j] = pr[j] * (dr[j] - dot) * scale
            dr[stop:] = 0
    return dp


# All cores: the batch-heads go in ranges, one per Numba thread (NUMBA_NUM_THREADS), each range on a
# Python thread: the products release the GIL, and so do the softmax kernels (nogil). A block's products
# are (mostly) below the size at which OpenBLAS threads a product itself, so without the ranges they ran
# on one core; whole-matrix products on two threads fought OpenBLAS's own. Forward and backward on
# 2 cores: B=16 H=4 T=128 d=32 causal ~5.3 -> ~3.5 ms, not causal ~6.4 -> ~4.2 ms; B=8 H=4 T=256 d=64
# causal ~15 -> ~7.7 ms, not causal ~19 -> ~11 ms. (kernels/threads.py runs the ranges.)
def _part(a, lo, hi):
    return None if a is None else a[lo:hi]


_scratch_space = threading.local()


def _scratch(shape, dtype):
    """An array of ``shape`` that this thread keeps and reuses from call to call (the backward's dP and
    dS). A fresh one of a few MB costs a page fault per 4 KiB at every call (glibc maps an array that
    large anew each time and unmaps it when freed): the (64, 128, 128) float32 dP of the benchmark,
    4 MB, took ~2 ms of faults in a ~5 ms backward."""
    n = math.prod(shape) * np.dtype(dtype).itemsize
    space = getattr(_scratch_space, "bytes", None)
    if space is None or space.size < n:
        space = _scratch_space.bytes = np.empty(n, np.uint8)
    return space[:n].view(dtype).reshape(shape)


@register("attention_forward", "cpu")
def forward_cpu(q, k, v, mask, scale, causal, keep):
    has_mask = mask is not None
    mask = np.ascontiguousarray(mask, dtype=q.dtype) if has_mask else np.zeros((1, 1, 1), q.dtype)
    args = has_mask, q.dtype.type(scale), bool(causal), q.dtype != np.float32
    out, p = _empty(q, k, v)

    def run(a, b):
        mask_ab = mask if mask.shape[0] == 1 else mask[a:b]
        _forward(q[a:b], k[a:b], v[a:b], causal, _part(keep, a, b), lambda s: _softmax_numba(s, mask_ab, *args),
                 out[a:b], p[a:b])

    in_ranges(run, p.shape[0], p.size)
    return out, p


@register("attention_backward", "cpu")
def backward_cpu(q, k, v, p, keep, scale, g, causal, mask_grad):
    grads = _empty(q, k, v, backward=True, mask_grad=mask_grad)
    t = q.dtype.type

    def run(a, b):
        _backward(q[a:b], k[a:b], v[a:b], p[a:b], _part(keep, a, b), scale, g[a:b], causal, mask_grad,
                  lambda p, dp, c: _softmax_backward_numba(p, dp, t(c), bool(causal)),
                  *(d[a:b] for d in grads[:3]), grads[3][a:b] if mask_grad else _scratch((b - a,) + p.shape[1:], t))

    in_ranges(run, p.shape[0], p.size)
    return grads


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
__device__ void softmax_back_row(const T* p, T* dp, int L, int S, T scale, int causal, long row) {
    int i = row % L;
    const T* pr = p + row * S; T* dr = dp + row * S;
    int stop = causal ? min(i + 1, S) : S;
    T dot = 0;
    for (int j = 0; j < stop; ++j) dot += dr[j] * pr[j];
    for (int j = 0; j < stop; ++j) dr[j] = pr[j] * (dr[j] - dot) * scale;
    for (int j = stop; j < S; ++j) dr[j] = 0;
}
extern "C" {
__global__ void softmax_f(float* s, const float* m, int mn, int L, int S, float sc, int c, long rows) {
    long row = blockIdx.x * (long)blockDim.x + threadIdx.x; if (row < rows) softmax_row(s, m, mn, L, S, sc, c, row); }
__global__ void softmax_d(double* s, const double* m, int mn, int L, int S, double sc, int c, long rows) {
    long row = blockIdx.x * (long)blockDim.x + threadIdx.x; if (row < rows) softmax_row(s, m, mn, L, S, sc, c, row); }
__global__ void softmax_back_f(const float* p, float* dp, int L, int S, float sc, int c, long rows) {
    long row = blockIdx.x * (long)blockDim.x + threadIdx.x; if (row < rows) softmax_back_row(p, dp, L, S, sc, c, row); }
__global__ void softmax_back_d(const double* p, double* dp, int L, int S, double sc, int c, long rows) {
    long row = blockIdx.x * (long)blockDim.x + threadIdx.x; if (row < rows) softmax_back_row(p, dp, L, S, sc, c, row); }
}
"""


def _gpu_kernel(name, dtype):
    return cuda.module(_GPU_SOURCE, options=("-std=c++14",)).get_function(name + ("_f" if dtype == np.float32 else "_d"))


def _launch(kernel, rows, *args):
    """One thread per score row; the row count comes last."""
    cuda.run(kernel, rows, args + (np.int64(rows),), block=128)


# One block: on the GPU skipping the causal blocks saves nothing (cuBLAS would copy each block's views).
@register("attention_forward", "gpu")
def forward_gpu(q, k, v, mask, scale, causal, keep):
    import cupy as cp

    m = cp.ascontiguousarray(mask, dtype=q.dtype) if mask is not None else cp.zeros(1, q.dtype)
    (N, L, _), S = q.shape, k.shape[1]

    def softmax(s):
        _launch(_gpu_kernel("softmax", q.dtype), N * L, s, m, np.int32(0 if mask is None else m.shape[0]),
                np.int32(L), np.int32(S), q.dtype.type(scale), np.int32(bool(causal)))

    out, p = _empty(q, k, v)
    _forward(q, k, v, causal, keep, softmax, out, p, block=max(L, S))
    return out, p


@register("attention_backward", "gpu")
def backward_gpu(q, k, v, p, keep, scale, g, causal, mask_grad):
    import cupy as cp

    N, L, S = p.shape

    def softmax_backward(p, dp, c):
        _launch(_gpu_kernel("softmax_back", q.dtype), N * L, p, dp, np.int32(L), np.int32(S), q.dtype.type(c),
                np.int32(bool(causal)))

    grads = _empty(q, k, v, backward=True, mask_grad=mask_grad)
    _backward(q, k, v, p, keep, scale, g, causal, mask_grad, softmax_backward, *grads[:3],
              grads[3] if mask_grad else cp.empty(p.shape, p.dtype), block=max(L, S))
    return grads


# ---------------------------------------------------------------- contracts (backend.contract)
def _qkv_contract(kernel, q, k, v):
    checks.ndim(kernel, 3, q=q, k=k, v=v)
    checks.floating(kernel, q=q, k=k, v=v)
    (N, L, D), S = q.shape, k.shape[1]
    checks.shape(kernel, "k", k, (N, S, D))
    checks.shape(kernel, "v", v, (N, S, None))
    return N, L, S


@contract("attention_forward")
def _forward_contract(q, k, v, mask, scale, causal, keep):
    N, L, S = _qkv_contract("attention_forward", q, k, v)
    if mask is not None:
        checks.shape("attention_forward", "mask", mask, (mask.shape[0] if mask.ndim and mask.shape[0] == 1 else N, L, S))
    checks.shape("attention_forward", "keep", keep, (N, L, S))


@contract("attention_backward")
def _backward_contract(q, k, v, p, keep, scale, g, causal, mask_grad):
    N, L, S = _qkv_contract("attention_backward", q, k, v)
    checks.floating("attention_backward", q=q, p=p, g=g)
    checks.shape("attention_backward", "p", p, (N, L, S))
    checks.shape("attention_backward", "keep", keep, (N, L, S))
    checks.shape("attention_backward", "g", g, (N, L, v.shape[2]))
