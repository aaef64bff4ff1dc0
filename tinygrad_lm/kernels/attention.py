"""Fused scaled dot-product attention over (N, L, E) queries, (N, S, E) keys, (N, S, Ev) values:
plain NumPy twin, Numba kernel and CuPy path.

Forward, per batch-head n (D2.F3 / D4.F2):

    S = scale Q K^T + M        M: additive mask (0 / -inf from a boolean one), -inf above the
                               diagonal when causal
    P = softmax(S) row-wise    stable: shift by the row max; a row with every key masked gives P = 0
    O = (P * D) V              D: dropout keep-mask already divided by (1 - p), or 1

Backward, from G = dL/dO:

    dV = (P * D)^T G
    dP = (G V^T) * D
    dS = P * (dP - rowsum(dP * P))          the softmax backward
    dQ = scale dS K,   dK = scale dS^T Q

The forward saves P (exactly 0 where masked, so the backward needs no mask: ``causal`` only
lets a kernel skip the upper triangle); ``mask`` is an (Nm, L, S) array with Nm in {1, N} (or None) and ``keep`` an
(N, L, S) array (or None).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..backend import register, xp


def _masked_scores(q, k, mask, scale, causal):
    m = xp(q)
    s = m.matmul(q, k.swapaxes(-1, -2))
    s *= scale
    if mask is not None:
        s += mask
    if causal:
        L, S = s.shape[-2:]
        s[..., ~m.tri(L, S, dtype=bool)] = -m.inf
    return s


@register("attention_forward", "plain")
def forward_plain(q, k, v, mask, scale, causal, keep):
    m = xp(q)
    s = _masked_scores(q, k, mask, scale, causal)
    mx = s.max(axis=-1, keepdims=True)
    mx[~m.isfinite(mx)] = 0  # fully masked row: exp(-inf) = 0 everywhere
    p = m.exp(s - mx, out=s)
    total = p.sum(axis=-1, keepdims=True)
    total[total == 0] = 1
    p /= total
    out = m.matmul(p if keep is None else p * keep, v)
    return out, p


@register("attention_backward", "plain")
def backward_plain(q, k, v, p, keep, scale, causal, g):
    m = xp(q)
    pd = p if keep is None else p * keep
    dv = m.matmul(pd.swapaxes(-1, -2), g)
    dp = m.matmul(g, v.swapaxes(-1, -2))
    if keep is not None:
        dp *= keep
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    ds *= scale
    return m.matmul(ds, k), m.matmul(ds.swapaxes(-1, -2), q), dv


# ---------------------------------------------------------------- Numba: one batch-head per task.
# Inner loops run over contiguous rows (axpy form), so they vectorise; the causal kernel never
# touches the masked upper triangle. One compiled version per dtype: the mask and keep arrays are
# always passed (a (1, 1, 1) dummy when absent). fastmath without 'ninf'/'nnan': masks are -inf.
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
@njit(parallel=True, cache=True, fastmath=_FAST)
def _forward_numba(q, k, v, mask, has_mask, scale, causal, keep, has_keep):
    N, L, E = q.shape
    S, Ev = k.shape[1], v.shape[2]
    out = np.zeros((N, L, Ev), dtype=q.dtype)
    P = np.zeros((N, L, S), dtype=q.dtype)
    one_mask = mask.shape[0] == 1
    for n in prange(N):
        kt = np.ascontiguousarray(k[n].T)  # (E, S): scores row i = sum_e q[i, e] kt[e, :]
        mn = mask[0] if one_mask else mask[n]
        for i in range(L):
            stop = min(i + 1, S) if causal else S
            row = P[n, i]
            for e in range(E):
                qe = q[n, i, e] * scale
                for j in range(stop):
                    row[j] += qe * kt[e, j]
            mx = -np.inf
            for j in range(stop):
                if has_mask:
                    row[j] += mn[i, j]
                if row[j] > mx:
                    mx = row[j]
            if mx == -np.inf:  # every key masked: the row stays 0
                for j in range(stop):
                    row[j] = 0.0
                continue
            total = 0.0
            for j in range(stop):
                row[j] = np.exp(row[j] - mx)
                total += row[j]
            inv = 1.0 / total
            o = out[n, i]
            for j in range(stop):
                row[j] *= inv
                w = row[j] * keep[n, i, j] if has_keep else row[j]
                for e in range(Ev):
                    o[e] += w * v[n, j, e]
    return out, P


@njit(parallel=True, cache=True, fastmath=_FAST)
def _backward_numba(q, k, v, P, keep, has_keep, scale, causal, g):
    N, L, E = q.shape
    S, Ev = k.shape[1], v.shape[2]
    dq = np.zeros_like(q)
    dk = np.zeros_like(k)
    dv = np.zeros_like(v)
    for n in prange(N):
        vt = np.ascontiguousarray(v[n].T)  # (Ev, S)
        dp = np.empty(S, dtype=q.dtype)
        for i in range(L):
            stop = min(i + 1, S) if causal else S
            p = P[n, i]
            gi = g[n, i]
            for j in range(stop):
                dp[j] = 0.0
            for e in range(Ev):
                ge = gi[e]
                for j in range(stop):
                    dp[j] += ge * vt[e, j]
            dot = 0.0
            for j in range(stop):
                if has_keep:
                    dp[j] *= keep[n, i, j]
                dot += dp[j] * p[j]
            qi = q[n, i]
            dqi = dq[n, i]
            for j in range(stop):
                w = p[j] * keep[n, i, j] if has_keep else p[j]
                dvj = dv[n, j]
                for e in range(Ev):
                    dvj[e] += w * gi[e]
                ds = p[j] * (dp[j] - dot) * scale
                if ds != 0.0:
                    kj = k[n, j]
                    dkj = dk[n, j]
                    for e in range(E):
                        dqi[e] += ds * kj[e]
                        dkj[e] += ds * qi[e]
    return dq, dk, dv


def _dummy(dtype):
    return np.zeros((1, 1, 1), dtype=dtype)


@register("attention_forward", "cpu")
def forward_cpu(q, k, v, mask, scale, causal, keep):
    c = np.ascontiguousarray
    return _forward_numba(c(q), c(k), c(v), _dummy(q.dtype) if mask is None else c(mask, dtype=q.dtype),
                          mask is not None, q.dtype.type(scale), bool(causal),
                          _dummy(q.dtype) if keep is None else c(keep), keep is not None)


@register("attention_backward", "cpu")
def backward_cpu(q, k, v, p, keep, scale, causal, g):
    c = np.ascontiguousarray
    return _backward_numba(c(q), c(k), c(v), c(p), _dummy(q.dtype) if keep is None else c(keep),
                           keep is not None, q.dtype.type(scale), causal, c(g))
