"""Softmax cross-entropy over the last axis of a (M, C) array: plain NumPy twin and Numba kernel.

Per row i with target y, class weights w, smoothing eps, W = sum_c w_c and p = softmax(x_i):

    loss_i = -(1 - eps) w_y log p_y - (eps / C) sum_c w_c log p_c          (0 when y == ignore_index)
    dloss_i/dx_ij = p_j ((1 - eps) w_y + eps W / C) - (1 - eps) w_y [j == y] - (eps / C) w_j

The forward keeps only the row's log-sum-exp, so the backward rebuilds p in one pass.
"""
from __future__ import annotations

import numpy as np

from ..backend import register, xp
from numba import njit, prange


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


@njit(parallel=True, cache=True)
def _forward_numba(x, target, weight, ignore_index, eps):
    M, C = x.shape
    loss = np.zeros(M, dtype=x.dtype)
    lse = np.empty(M, dtype=np.float64)
    wsum = weight.sum()
    for i in prange(M):
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
    return loss, lse


@njit(parallel=True, cache=True)
def _backward_numba(x, lse, target, weight, ignore_index, eps, g):
    M, C = x.shape
    grad = np.zeros_like(x)
    wsum = weight.sum()
    for i in prange(M):
        y = target[i]
        if y == ignore_index:
            continue
        gi = g[i]
        wy = weight[y]
        scale = ((1 - eps) * wy + eps * wsum / C) * gi
        for j in range(C):
            grad[i, j] = np.exp(x[i, j] - lse[i]) * scale - (eps / C) * weight[j] * gi
        grad[i, y] -= (1 - eps) * wy * gi
    return grad


# Below this many logits the parallel kernel's thread start-up (up to milliseconds on a busy
# machine) costs more than the whole computation, so the plain twin runs instead.
PARALLEL_MIN_SIZE = 1 << 15


@register("cross_entropy_forward", "cpu")
def forward_cpu(x, target, weight, ignore_index, eps):
    if x.size < PARALLEL_MIN_SIZE:
        return forward_plain(x, target, weight, ignore_index, eps)
    return _forward_numba(np.ascontiguousarray(x), target, weight, ignore_index, float(eps))


@register("cross_entropy_backward", "cpu")
def backward_cpu(x, lse, target, weight, ignore_index, eps, g):
    if x.size < PARALLEL_MIN_SIZE:
        return backward_plain(x, lse, target, weight, ignore_index, eps, g)
    return _backward_numba(np.ascontiguousarray(x), lse, target, weight, ignore_index, float(eps),
                           np.ascontiguousarray(g))
