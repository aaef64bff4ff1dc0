"""2-D convolution (D3.F1 / D4.F1) in NCHW: the textbook twin, Numba im2col + BLAS, CuPy im2col + cuBLAS.

With x: (N, C, H, W), w: (K, C/G, KH, KW), G groups, stride s, padding p, dilation d:

    y[b, k, i, j] = sum_c sum_n sum_m  xpad[b, c, i s_h + n d_h, j s_w + m d_w] w[k, c, n, m]
    dL/dw[k, c, n, m] = sum_b sum_i sum_j  g[b, k, i, j] xpad[b, c, i s_h + n d_h, j s_w + m d_w]
    dL/dxpad[b, c, i s_h + n d_h, j s_w + m d_w] += sum_k g[b, k, i, j] w[k, c, n, m]

(c runs over the input channels of k's group). Every implementation has the signature

    forward(x, w, geom, groups, bias=None, relu=False) -> (y, saved)
    backward(g, x, w, saved, geom, groups, need_x, need_w, need_b=False, y=None) -> (dx, dw, db)

with geom = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w); y includes bias[k] when given, and
db[k] = sum_{b,i,j} g[b, k, i, j] (None unless need_b). With relu the forward returns max(y, 0), and
the backward given that output y first takes g through the ReLU (g [y > 0]), so a conv followed by a
ReLU costs no passes of its own. The fast ones unfold x once into
cols[(c, n, m), (b, i, j)] (im2col, the batch inside the columns), so the forward pass, the weight
gradient and the column gradient are each a single matrix product per group over the whole batch
(one large BLAS call rather than one per sample); they keep cols for the weight gradient and fold
the column gradient back into the image (col2im). The product gives y as (K, N, OH OW); on Numba one
pass over the samples turns it into (N, K, OH, OW) and adds the bias (and applies the ReLU), and one
pass masks g, turns it the other way and sums it for db.
"""
from __future__ import annotations

import numpy as np
from numba import njit, uint64

from ..arraymath import out_size
from ..backend import contract, register, xp
from . import checks, gemm
from .cuda import launch
from .gemm import NR
from .threads import in_ranges



def _out_hw(x, w, geom):
    sh, sw, ph, pw, dh, dw = geom
    return out_size(x.shape[2], w.shape[2], sh, ph, dh), out_size(x.shape[3], w.shape[3], sw, pw, dw)


# ---------------------------------------------------------------- plain twin: D3.F1 read literally
def _tap(a, n, m, geom, OH, OW):
    """The (N, C, OH, OW) view of padded ``a`` that kernel offset (n, m) multiplies."""
    sh, sw, _, _, dh, dw = geom
    return a[:, :, n * dh: n * dh + sh * (OH - 1) + 1: sh, m * dw: m * dw + sw * (OW - 1) + 1: sw]


def _pad(x, geom):
    ph, pw = geom[2], geom[3]
    return xp(x).pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x


def _grouped(a, groups):
    """(N, C, ...) -> (N, G, C/G, ...)."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


@register("conv2d_forward", "plain")
def forward_plain(x, w, geom, groups, bias=None, relu=False):
    """The sums over the kernel offsets n, m are loops; the sum over channels c a contraction."""
    m_ = xp(x)
    N, K, KH, KW = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    OH, OW = _out_hw(x, w, geom)
    xpad, wg = _pad(x, geom), w.reshape(groups, K // groups, *w.shape[1:])
    y = m_.zeros((N, groups, K // groups, OH, OW), dtype=x.dtype)
    for n in range(KH):
        for m in range(KW):
            y += m_.einsum("bgcij,gkc->bgkij", _grouped(_tap(xpad, n, m, geom, OH, OW), groups), wg[..., n, m])
    y = y.reshape(N, K, OH, OW)
    y = y if bias is None else y + bias[:, None, None]
    return (m_.maximum(y, 0) if relu else y), None


@register("conv2d_backward", "plain")
def backward_plain(g, x, w, saved, geom, groups, need_x, need_w, need_b=False, y=None):
    m_ = xp(x)
    g = g if y is None else g * (y > 0)
    K, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    OH, OW = g.shape[2], g.shape[3]
    xpad, wg, gg = _pad(x, geom), w.reshape(groups, K // groups, *w.shape[1:]), _grouped(g, groups)
    dxpad = m_.zeros_like(xpad) if need_x else None
    dw = m_.zeros_like(wg) if need_w else None
    for n in range(KH):
        for m in range(KW):
            if need_w:
                dw[..., n, m] = m_.einsum("bgkij,bgcij->gkc", gg, _grouped(_tap(xpad, n, m, geom, OH, OW), groups))
            if need_x:
                tap = _tap(dxpad, n, m, geom, OH, OW)
                tap += m_.einsum("bgkij,gkc->bgcij", gg, wg[..., n, m]).reshape(tap.shape)
    dx = None
    if need_x:
        ph, pw = geom[2], geom[3]
        dx = dxpad[:, :, ph: ph + x.shape[2], pw: pw + x.shape[3]]
    db = g.sum(axis=(0, 2, 3)) if need_b else None
    return dx, None if dw is None else dw.reshape(w.shape), db


# ---------------------------------------------------------------- im2col + one matrix product per group
def _by_group(a, groups):
    """(R, Q) -> (G, R/G, Q); with one group the plain 2-D matrix, which BLAS takes directly."""
    return a if groups == 1 else a.reshape(groups, a.shape[0] // groups, a.shape[1])


def _forward_cols(x, w, bias, relu, geom, groups, im2col, to_nchw):
    N, K = x.shape[0], w.shape[0]
    OH, OW = _out_hw(x, w, geom)
    cols = im2col(x, w.shape[2], w.shape[3], geom, OH, OW)              # (C KH KW, N OH OW)
    y = xp(x).matmul(_by_group(w.reshape(K, -1), groups), _by_group(cols, groups))  # (G, K/G, N OH OW)
    return to_nchw(y.reshape(K, N, OH * OW), bias, relu).reshape(N, K, OH, OW), cols


def _backward_cols(g, x, w, cols, geom, groups, need_x, need_w, need_b, y, col2im, to_knhw):
    m_ = xp(x)
    K = w.shape[0]
    N, _, OH, OW = g.shape
    gk, db = to_knhw(g.reshape(N, K, OH * OW), need_b, None if y is None else y.reshape(N, K, OH * OW))
    gk = _by_group(gk.reshape(K, -1), groups)                           # (G, K/G, N OH OW)
    dx = dw = None
    if need_w:  # dW = G cols^T, the sum over the batch and positions inside the product; OpenBLAS runs
        # (cols G^T)^T ~25% faster where cols has more rows than G (conv2 of D3.M1, D4.M1), G cols^T
        # ~25-40% faster where it has fewer (a first conv: 9 or 27 rows against 32)
        cg = _by_group(cols, groups)
        dw = (m_.matmul(gk, cg.swapaxes(-1, -2)) if cg.shape[-2] < gk.shape[-2] else
              m_.matmul(cg, gk.swapaxes(-1, -2)).swapaxes(-1, -2)).reshape(w.shape)
    if need_x:  # dcols = W^T G, then each column entry added back where im2col took it from
        dcols = m_.matmul(_by_group(w.reshape(K, -1), groups).swapaxes(-1, -2), gk).reshape(cols.shape)
        dx = col2im(dcols, x.shape, w.shape[2], w.shape[3], geom, OH, OW)
    return dx, dw, db


# ---------------------------------------------------------------- Numba
# im2col / col2im sit between two BLAS products, so they are not Numba parallel loops (whose OpenMP
# workers, still spinning afterwards, took the cores the BLAS threads needed: twice as slow on two
# cores); kernels/threads.py runs them over ranges of samples on sleeping Python threads instead.
@njit(inline="always")
def valid_outputs(o_count, start, step, size):
    """[lo, hi): the output positions o with 0 <= start + o*step < size."""
    lo = 0
    while lo < o_count and start + lo * step < 0:
        lo += 1
    hi = o_count
    while hi > lo and start + (hi - 1) * step >= size:
        hi -= 1
    return lo, hi


# Flat offsets are uint64: Numba wraps a negative signed index around, and that check, which LLVM
# cannot drop for an index such as ``base + j``, stops the row copies vectorising (2-8x slower).
# (A negative start such as ``row + j0`` wraps modulo 2^64 and comes back once j >= jlo is added.)
@njit(inline="always")
def flat_span(OH, OW, W, i0, j0, H):
    """Where stride 1 keeps the row pitch (OW == W), output (i, j) of kernel offset (i0, j0) reads input
    i W + j + (i0 W + j0): the whole block is one shifted run [t_lo, t_hi) of the plane, long rather than
    OH short rows; the valid rows [ilo, ihi) and columns [jlo, jhi) mark the wrapped entries in it."""
    ilo, ihi = valid_outputs(OH, i0, 1, H)
    jlo, jhi = valid_outputs(OW, j0, 1, W)
    if ihi <= ilo or jhi <= jlo:
        return ilo, ilo, jlo, jhi, 0, 0
    return ilo, ihi, jlo, jhi, ilo * OW + jlo, (ihi - 1) * OW + jhi


@njit(inline="always")
def _im2col_run(xf, dst, b, c, n, m, C, H, W, sh, sw, ph, pw, dh, dw, OH, OW):
    """dst[(i, j)] = the input that kernel offset (n, m) of channel c meets at output (i, j) of sample b
    (0 in the padding): one sample's stretch of a row of cols, OH OW long."""
    i0, j0 = n * dh - ph, m * dw - pw
    if sh == 1 and sw == 1 and OW == W:  # one shifted run, zeros around it, then the wrapped columns zeroed
        filo, fihi, fjlo, fjhi, t_lo, t_hi = flat_span(OH, OW, W, i0, j0, H)
        src = uint64((b * C + c) * H * W + i0 * W + j0)
        for t in range(uint64(t_lo)):
            dst[t] = 0
        for t in range(uint64(t_lo), uint64(t_hi)):
            dst[t] = xf[src + t]
        for t in range(uint64(t_hi), uint64(OH * OW)):
            dst[t] = 0
        for i in range(filo, fihi):
            for j in range(fjlo):
                dst[uint64(i * OW + j)] = 0
            for j in range(fjhi, OW):
                dst[uint64(i * OW + j)] = 0
        return
    ilo, ihi = valid_outputs(OH, i0, sh, H)
    jlo, jhi = valid_outputs(OW, j0, sw, W)
    for i in range(OH):
        out = uint64(i * OW)
        if i < ilo or i >= ihi:
            jlo_i, jhi_i = OW, OW
        else:
            jlo_i, jhi_i = jlo, jhi
        for j in range(uint64(jlo_i)):
            dst[out + j] = 0
        for j in range(uint64(jhi_i), uint64(OW)):
            dst[out + j] = 0
        if jhi_i > jlo_i:
            row = uint64(((b * C + c) * H + i0 + i * sh) * W + j0)
            if sw == 1:
                for j in range(uint64(jlo), uint64(jhi)):
                    dst[out + j] = xf[row + j]
            else:
                for j in range(uint64(jlo), uint64(jhi)):
                    dst[out + j] = xf[row + j * uint64(sw)]


@njit(cache=True, nogil=True)
def _im2col_numba(x, cols, b0, b1, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """Fills the columns of samples b0..b1-1 in ``cols`` (C KH KW, N OH OW), zeros where the window reads
    the padding."""
    N, C, H, W = x.shape
    P = OH * OW
    xf = x.ravel()
    for r in range(C * KH * KW):  # one row of cols: channel c, kernel offset (n, m)
        c, n, m = r // (KH * KW), (r // KW) % KH, r % KW
        for b in range(b0, b1):
            _im2col_run(xf, cols[r, b * P:(b + 1) * P], b, c, n, m, C, H, W, sh, sw, ph, pw, dh, dw, OH, OW)


@njit(cache=True, nogil=True)
def _col2im_numba(dcols, dx, b0, b1, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """Adds the columns' entries of samples b0..b1-1 into the zeroed ``dx`` (N, C, H, W). On the flat path
    (see flat_span) it zeroes the wrapped entries of ``dcols`` (scratch) and adds the whole run."""
    N, C, H, W = dx.shape
    df, xf = dcols.ravel(), dx.ravel()
    flat = sh == 1 and sw == 1 and OW == W
    for b in range(b0, b1):
        for c in range(C):  # one (sample, channel) plane, in cache while its KH KW rows add in
            for n in range(KH):
                i0 = n * dh - ph
                ilo, ihi = valid_outputs(OH, i0, sh, H)
                for m in range(KW):
                    j0 = m * dw - pw
                    r = (c * KH + n) * KW + m
                    if flat:
                        src = uint64((r * N + b) * OH * OW)
                        filo, fihi, fjlo, fjhi, t_lo, t_hi = flat_span(OH, OW, W, i0, j0, H)
                        for i in range(filo, fihi):
                            for j in range(fjlo):
                                df[src + uint64(i * OW + j)] = 0
                            for j in range(fjhi, OW):
                                df[src + uint64(i * OW + j)] = 0
                        dst = uint64((b * C + c) * H * W + i0 * W + j0)
                        for t in range(uint64(t_lo), uint64(t_hi)):
                            xf[dst + t] += df[src + t]
                        continue
                    jlo, jhi = valid_outputs(OW, j0, sw, W)
                    for i in range(ilo, ihi):
                        src = uint64(((r * N + b) * OH + i) * OW)
                        row = uint64(((b * C + c) * H + i0 + i * sh) * W + j0)
                        if sw == 1:
                            for j in range(uint64(jlo), uint64(jhi)):
                                xf[row + j] += df[src + j]
                        else:
                            for j in range(uint64(jlo), uint64(jhi)):
                                xf[row + j * uint64(sw)] += df[src + j]


@njit(cache=True, nogil=True)
def _to_nchw_numba(yk, bias, y, b0, b1, relu):
    """y[b, k] = yk[k, b] + bias[k], or its ReLU, for the samples b0..b1-1 (one pass instead of a
    transposing copy, a broadcast add and the ReLU's own passes)."""
    for b in range(b0, b1):
        for k in range(yk.shape[0]):
            src, dst, bk = yk[k, b], y[b, k], bias[k]
            if relu:
                for t in range(src.shape[0]):
                    v = src[t] + bk
                    dst[t] = 0 if v < 0 else v  # (NaN stays NaN, as np.maximum)
            else:
                for t in range(src.shape[0]):
                    dst[t] = src[t] + bk


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # the sums in any order: in vectors, not one by one
def _to_knhw_numba(g, y, gk, dbs, b0, b1, need_b, relu):
    """gk[k, b] = g[b, k] (times [y[b, k] > 0] if relu) for the samples b0..b1-1, and their sums dbs[b, k]
    if need_b (in the same pass)."""
    for b in range(b0, b1):
        for k in range(g.shape[1]):
            src, dst = g[b, k], gk[k, b]
            s = 0.0
            if relu:
                yk = y[b, k]
                for t in range(src.shape[0]):
                    v = src[t] if yk[t] > 0 else 0
                    dst[t] = v
                    s += v
            else:
                for t in range(src.shape[0]):
                    dst[t] = src[t]
                    s += src[t]
            if need_b:
                dbs[b, k] = s


def _to_nchw_cpu(yk, bias, relu):
    K, N, P = yk.shape
    y = np.empty((N, K, P), dtype=yk.dtype)
    bias = np.zeros(K, yk.dtype) if bias is None else np.ascontiguousarray(bias)
    in_ranges(lambda b0, b1: _to_nchw_numba(yk, bias, y, b0, b1, relu), N, y.size)
    return y


def _to_knhw_cpu(g, need_b, y):
    N, K, P = g.shape
    g, gk = np.ascontiguousarray(g), np.empty((K, N, P), dtype=g.dtype)
    relu, y = y is not None, g if y is None else np.ascontiguousarray(y)
    dbs = np.empty((N, K) if need_b else (0, 0), dtype=np.float64)
    in_ranges(lambda b0, b1: _to_knhw_numba(g, y, gk, dbs, b0, b1, need_b, relu), N, g.size)
    return gk, dbs.sum(axis=0).astype(g.dtype) if need_b else None


def _im2col_cpu(x, KH, KW, geom, OH, OW):
    cols = np.empty((x.shape[1] * KH * KW, x.shape[0] * OH * OW), dtype=x.dtype)
    x = np.ascontiguousarray(x)
    in_ranges(lambda b0, b1: _im2col_numba(x, cols, b0, b1, KH, KW, *geom, OH, OW), x.shape[0], cols.size)
    return cols


def _col2im_cpu(dcols, x_shape, KH, KW, geom, OH, OW):
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    in_ranges(lambda b0, b1: _col2im_numba(dcols, dx, b0, b1, KH, KW, *geom, OH, OW), x_shape[0], dcols.size)
    return dx


# ---------------------------------------------------------------- Numba, float32, stride 1: per sample, no columns
# A float32 convolution of stride 1 and one group runs one sample at a time on gemm's micro-kernel and
# makes no columns at all. The sample's planes are laid out flat with zeros around them and a row pitch L
# (the pw zeros before each row serve as the right padding of the row above too, so L = W + pw): the
# input that kernel offset (n, m) of channel c meets at output (i, j) then sits at
# c plane + n dh L + m dw + (i L + j), so row (c, n, m) of cols is that buffer read from its own offset,
# if the output is computed on the wide grid of OH rows of L positions: the L - OW positions past each
# row's end are computed and dropped (forward), or given a zero gradient (backward). That is a few
# percent more arithmetic (L / OW: 17/16 for a 16-wide "same" conv, 26/24 for a valid one) against
# writing the batch's columns (19-42 MB) to memory, reading them back in the backward, and folding dcols.
# gemm reads A and B and writes C through row offsets, so W cols, cols G^T and W^T G folded into the
# padded gradient are one product each, the last adding into it in place; the samples go in ranges over
# the cores, each range with its own dW^T. The rest (float64, groups, strides, and tiny images whose
# wide grid would waste more than a quarter) take the batch-wide path above.
def _per_sample(x, w, geom, groups):
    sh, sw, _, pw = geom[:4]
    OW = _out_hw(x, w, geom)[1]
    return (x.dtype == np.float32 and groups == 1 and sh == 1 and sw == 1 and x.shape[0] > 0
            and _pitch(x.shape[3], pw, OW) <= 1.25 * OW)


@njit(inline="always")
def _pitch(W, pw, OW):
    """The wide layout's row pitch: a row and its pw zeros, unless the output is wider (padding past
    the kernel's reach)."""
    return max(W + pw, OW)


@njit(cache=True, nogil=True)
def _sample_layout(C, H, W, KH, KW, ph, pw, dh, dw, OW):
    """(the flat buffer of a sample's padded planes, zeros, the offsets of cols' rows in it, the pitch L,
    the plane size)."""
    L = _pitch(W, pw, OW)
    plane = (H + 2 * ph) * L + pw
    offs = np.empty(C * KH * KW, np.int64)
    for r in range(C * KH * KW):
        c, n, m = r // (KH * KW), (r // KW) % KH, r % KW
        offs[r] = c * plane + n * dh * L + m * dw
    return np.zeros(C * plane + (KW - 1) * dw, np.float32), offs, L, plane  # the last rows read past C plane


@njit(cache=True, nogil=True)
def _forward_samples(x, w2, bias, y, b0, b1, KH, KW, ph, pw, dh, dw, OH, OW, relu):
    """y[b] (K, OH OW) = W cols_b + bias (then the ReLU) for the samples b0..b1-1; w2 = W as (K, C KH KW)."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    K, R = w2.shape
    planes, offs, L, plane = _sample_layout(C, H, W, KH, KW, ph, pw, dh, dw, OW)
    out = np.empty((K, OH * L), np.float32)
    for b in range(b0, b1):
        for c in range(C):
            for i in range(H):
                planes[c * plane + (i + ph) * L + pw:][:W] = x[b, c, i]
        gemm.gemm_at(w2.ctypes.data, np.arange(K) * R, np.int64(1), planes.ctypes.data, offs, np.int64(NR),
                     out.ctypes.data, np.arange(K) * (OH * L), np.int64(OH * L), np.int64(0),
                     np.int64((OH * L + NR - 1) // NR), np.bool_(False))
        for k in range(K):
            bk = bias[k]
            for i in range(OH):
                src, dst = out[k, i * L:], y[b, k, i * OW:]
                for j in range(OW):
                    v = src[j] + bk
                    dst[j] = (0 if v < 0 else v) if relu else v  # (NaN stays NaN, as np.maximum)


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # db's sums in any order: in vectors
def _backward_samples(g, x, w2, y, dx, dwt, dbs, b0, b1, KH, KW, ph, pw, dh, dw, OH, OW, need_x, need_w, relu):
    """For the samples b0..b1-1: dwt (C KH KW, K) += cols_b G_b^T, dx[b] = fold(W^T G_b), dbs[b] = G_b's
    row sums, with G_b = g[b] (K, OH OW), masked by [y[b] > 0] if relu."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    K, R = w2.shape
    planes, offs, L, plane = _sample_layout(C, H, W, KH, KW, ph, pw, dh, dw, OW)
    grad = np.zeros_like(planes)  # the padded planes' gradient
    P = OH * L
    gb = np.zeros((K, P), np.float32)  # G_b on the wide grid (0 past each row's OW)
    g_rows = np.zeros(((K + NR - 1) // NR, P, NR), dtype=np.float32)  # G_b^T packed, the B of cols G_b^T
    by_channel = (np.arange(R) % C) * (KH * KW) + np.arange(R) // C  # the rows (c, n, m) in (n, m, c) order
    for b in range(b0, b1):
        for k in range(K):
            s = 0.0
            for i in range(OH):
                src, mask, dst = g[b, k, i * OW:], y[b, k, i * OW:], gb[k, i * L:]
                for j in range(OW):
                    v = src[j] if not relu or mask[j] > 0 else 0
                    dst[j] = v
                    s += v
            dbs[b, k] = s
        if need_w:  # dW^T += cols_b G_b^T
            for t0 in range(0, P, 16):  # the transpose in 16-position blocks, read and written in cache lines
                for k in range(K):
                    dst = g_rows[k // NR]
                    for t in range(t0, min(t0 + 16, P)):
                        dst[t, k % NR] = gb[k, t]
            for c in range(C):
                for i in range(H):
                    planes[c * plane + (i + ph) * L + pw:][:W] = x[b, c, i]
            gemm.gemm_at(planes.ctypes.data, offs, np.int64(1), g_rows.ctypes.data, np.arange(P) * NR,
                         np.int64(P * NR), dwt.ctypes.data, np.arange(R) * K, np.int64(K), np.int64(0),
                         np.int64(g_rows.shape[0]), np.bool_(True))
        if need_x:  # W^T G_b added into the padded gradient, each row of cols at its offset; the rows in
            # channel-fastest order, so a tile's rows add into different planes, not into overlapping
            # stretches of one, where each row's load waits on the row before's store (one thread: 7.9 -> 7.4 ms)
            gemm.gemm_at(w2.ctypes.data, by_channel, np.int64(R), gb.ctypes.data, np.arange(K) * P, np.int64(NR),
                         grad.ctypes.data, offs[by_channel], np.int64(P), np.int64(0), np.int64((P + NR - 1) // NR),
                         np.bool_(True))
            for c in range(C):
                for i in range(H):
                    dx[b, c, i] = grad[c * plane + (i + ph) * L + pw:][:W]
            grad[:] = 0


def _forward_per_sample(x, w, bias, relu, geom):
    N, K = x.shape[0], w.shape[0]
    OH, OW = _out_hw(x, w, geom)
    x, y = np.ascontiguousarray(x), np.empty((N, K, OH * OW), dtype=np.float32)
    bias = np.zeros(K, np.float32) if bias is None else np.ascontiguousarray(bias)
    in_ranges(lambda b0, b1: _forward_samples(x, w.reshape(K, -1), bias, y, b0, b1, w.shape[2], w.shape[3], *geom[2:],
                                              OH, OW, relu), N, y.size * w[0].size // 64)
    return y.reshape(N, K, OH, OW), None


def _backward_per_sample(g, x, w, geom, need_x, need_w, need_b, y):
    N, K, OH, OW = g.shape
    g, x = np.ascontiguousarray(g).reshape(N, K, -1), np.ascontiguousarray(x)
    y = g if y is None else np.ascontiguousarray(y).reshape(N, K, -1)
    dx = np.empty(x.shape if need_x else (0,) + x.shape[1:], dtype=np.float32)
    dbs, partial = np.empty((N, K), dtype=np.float64), []

    def run(b0, b1):
        dwt = np.zeros((w[0].size, K), dtype=np.float32)
        _backward_samples(g, x, w.reshape(K, -1), y, dx, dwt, dbs, b0, b1, w.shape[2], w.shape[3], *geom[2:], OH, OW,
                          need_x, need_w, y is not g)
        partial.append(dwt)

    in_ranges(run, N, g.size * w[0].size // 32)
    dw = sum(partial[1:], partial[0]).T.reshape(w.shape) if need_w else None
    return (dx if need_x else None), dw, (dbs.sum(axis=0).astype(np.float32) if need_b else None)


@register("conv2d_forward", "cpu")
def forward_cpu(x, w, geom, groups, bias=None, relu=False):
    w = np.ascontiguousarray(w)
    if _per_sample(x, w, geom, groups):
        return _forward_per_sample(x, w, bias, relu, geom)
    return _forward_cols(x, w, bias, relu, geom, groups, _im2col_cpu, _to_nchw_cpu)


@register("conv2d_backward", "cpu")
def backward_cpu(g, x, w, cols, geom, groups, need_x, need_w, need_b=False, y=None):
    w = np.ascontiguousarray(w)
    if _per_sample(x, w, geom, groups):
        return _backward_per_sample(g, x, w, geom, need_x, need_w, need_b, y)
    return _backward_cols(g, x, w, cols, geom, groups, need_x, need_w, need_b, y, _col2im_cpu, _to_knhw_cpu)


# ---------------------------------------------------------------- CuPy: one thread per column entry
_CUDA_SOURCE = r"""
extern "C" __global__ void im2col(const T* x, T* cols, long long total, int N, int C, int H, int W, int KH,
                                  int KW, int sh, int sw, int ph, int pw, int dh, int dw, int OH, int OW) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;   /* cols[(c, n, m), (b, i, j)] */
    if (t >= total) return;
    int j = t % OW; long long r = t / OW;
    int i = r % OH; r /= OH;
    long long b = r % N; r /= N;
    int m = r % KW; r /= KW;
    int n = r % KH; int c = r / KH;
    int y = i * sh - ph + n * dh, xx = j * sw - pw + m * dw;
    cols[t] = (y >= 0 && y < H && xx >= 0 && xx < W) ? x[((b * C + c) * H + y) * W + xx] : (T)0;
}
extern "C" __global__ void col2im(const T* dcols, T* dx, long long total, int N, int C, int H, int W, int KH,
                                  int KW, int sh, int sw, int ph, int pw, int dh, int dw, int OH, int OW) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;   /* one thread per input element */
    if (t >= total) return;
    int xx = t % W; long long r = t / W;
    int y = r % H; r /= H;
    int c = r % C; long long b = r / C;
    T acc = 0;
    for (int n = 0; n < KH; n++) {
        int iy = y + ph - n * dh;
        if (iy < 0 || iy % sh) continue;
        int i = iy / sh; if (i >= OH) continue;
        for (int m = 0; m < KW; m++) {
            int jx = xx + pw - m * dw;
            if (jx < 0 || jx % sw) continue;
            int j = jx / sw; if (j >= OW) continue;
            acc += dcols[((((c * KH + n) * KW + m) * N + b) * OH + i) * OW + j];
        }
    }
    dx[t] = acc;
}
"""


def _im2col_gpu(x, KH, KW, geom, OH, OW):
    cp = xp(x)
    x = cp.ascontiguousarray(x)
    N, C, H, W = x.shape
    cols = cp.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    launch(_CUDA_SOURCE, "im2col", (x, cols), cols.size, (N, C, H, W, KH, KW, *geom, OH, OW))
    return cols


def _col2im_gpu(dcols, x_shape, KH, KW, geom, OH, OW):
    cp = xp(dcols)
    N, C, H, W = x_shape
    dx = cp.empty(x_shape, dtype=dcols.dtype)
    launch(_CUDA_SOURCE, "col2im", (cp.ascontiguousarray(dcols), dx), dx.size, (N, C, H, W, KH, KW, *geom, OH, OW))
    return dx


def _to_nchw_gpu(yk, bias, relu):
    y = xp(yk).ascontiguousarray(yk.transpose(1, 0, 2))
    if bias is not None:
        y += bias[:, None]
    return xp(y).maximum(y, 0, out=y) if relu else y


def _to_knhw_gpu(g, need_b, y):
    g = g if y is None else g * (y > 0)
    return xp(g).ascontiguousarray(g.transpose(1, 0, 2)), g.sum(axis=(0, 2)) if need_b else None


@register("conv2d_forward", "gpu")
def forward_gpu(x, w, geom, groups, bias=None, relu=False):
    return _forward_cols(x, xp(w).ascontiguousarray(w), bias, relu, geom, groups, _im2col_gpu, _to_nchw_gpu)


@register("conv2d_backward", "gpu")
def backward_gpu(g, x, w, cols, geom, groups, need_x, need_w, need_b=False, y=None):
    return _backward_cols(g, x, xp(w).ascontiguousarray(w), cols, geom, groups, need_x, need_w, need_b, y, _col2im_gpu,
                          _to_knhw_gpu)


# ---------------------------------------------------------------- contracts (backend.contract)
def _conv_contract(kernel, x, w, geom, groups):
    checks.ndim(kernel, 4, x=x, weight=w)
    checks.floating(kernel, x=x, weight=w)
    checks.require(kernel, len(geom) == 6 and min(geom[0], geom[1], geom[4], geom[5]) >= 1 and min(geom[2:4]) >= 0,
                   f"geometry (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w) = {tuple(geom)} is invalid")
    checks.require(kernel, groups >= 1 and x.shape[1] == w.shape[1] * groups and w.shape[0] % groups == 0,
                   f"x of shape {tuple(x.shape)} and weight of shape {tuple(w.shape)} do not fit groups={groups}")
    OH, OW = _out_hw(x, w, geom)
    checks.require(kernel, OH >= 1 and OW >= 1, f"kernel {tuple(w.shape[2:])} larger than the padded input "
                                                f"{tuple(x.shape[2:])}")
    return x.shape[0], w.shape[0], OH, OW


@contract("conv2d_forward")
def _forward_contract(x, w, geom, groups, bias=None, relu=False):
    _conv_contract("conv2d_forward", x, w, geom, groups)
    checks.floating("conv2d_forward", x=x, bias=bias)
    checks.shape("conv2d_forward", "bias", bias, (w.shape[0],))


@contract("conv2d_backward")
def _backward_contract(g, x, w, saved, geom, groups, need_x, need_w, need_b=False, y=None):
    out_shape = _conv_contract("conv2d_backward", x, w, geom, groups)
    checks.floating("conv2d_backward", g=g, x=x, y=y)
    checks.shape("conv2d_backward", "g", g, out_shape)
    checks.shape("conv2d_backward", "y", y, out_shape)
