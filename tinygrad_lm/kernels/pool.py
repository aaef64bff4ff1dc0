"""2-D max and average pooling (D3.F2) in NCHW: the textbook twin, fused Numba and CuPy kernels.

With window (KH, KW), stride s, padding p, dilation d (max only), for every plane (b, c):

    max:  z[i, j] = max_{n < KH, m < KW} x[i s_h + n d_h - p_h, j s_w + m d_w - p_w]    (-inf outside x)
          dL/dx[a] = sum of g[i, j] over the windows whose maximum sits at a
    avg:  z[i, j] = (1 / |window|) sum_{n, m} x[i s_h + n - p_h, j s_w + m - p_w]       (0 outside x)
          dL/dx[a] = sum of g[i, j] / |window| over the windows that contain a

|window| counts the padding (count_include_pad, PyTorch's default) or only the cells inside x.
Max pooling saves, for each output, the flat index y W + x of its maximum in the plane (PyTorch's
``return_indices``); ties go to the first maximum in scan order. Signatures:

    max_pool2d_forward(x, geom, kernel, out_hw) -> (z, idx)      max_pool2d_backward(g, idx, x_shape) -> dx
    avg_pool2d_forward(x, geom, kernel, out_hw, include_pad) -> z
    avg_pool2d_backward(g, x_shape, geom, kernel, include_pad) -> dx
    adaptive_avg_pool2d_forward(x, out_hw) -> z           adaptive_avg_pool2d_backward(g, x_shape) -> dx

with geom = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w) and out_hw = (OH, OW). The fast average
kernels serve both average poolings: each takes the windows as spans of rows and columns inside x
with their divisors (``avg_windows``, ``adaptive_windows``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..backend import contract, register, xp
from . import checks
from .conv import valid_outputs
from .cuda import launch
from .threads import in_ranges


# ---------------------------------------------------------------- plain twins: D3.F2 read literally
def _window_taps(x_shape, geom, kernel, out_hw):
    """For each window offset (n, m): the input rows and columns it reads, (OH,) and (OW,) int arrays."""
    sh, sw, ph, pw, dh, dw = geom
    OH, OW = out_hw
    for n in range(kernel[0]):
        for m in range(kernel[1]):
            yield np.arange(OH) * sh + n * dh - ph, np.arange(OW) * sw + m * dw - pw


def _gather(x, rows, cols, fill):
    """x[..., rows, :][..., cols] with ``fill`` where a row or column falls outside x."""
    m_ = xp(x)
    H, W = x.shape[2], x.shape[3]
    r_ok, c_ok = (rows >= 0) & (rows < H), (cols >= 0) & (cols < W)
    v = x[:, :, m_.asarray(np.clip(rows, 0, H - 1))][:, :, :, m_.asarray(np.clip(cols, 0, W - 1))]
    ok = m_.asarray(r_ok[:, None] & c_ok[None, :])
    return m_.where(ok, v, v.dtype.type(fill)), ok


@register("max_pool2d_forward", "plain")
def max_forward_plain(x, geom, kernel, out_hw):
    m_ = xp(x)
    z = m_.full((*x.shape[:2], *out_hw), -np.inf, dtype=x.dtype)
    idx = m_.zeros(z.shape, dtype=np.int32)
    for rows, cols in _window_taps(x.shape, geom, kernel, out_hw):
        v, _ = _gather(x, rows, cols, -np.inf)
        better = (v > z) | (m_.isnan(v) & ~m_.isnan(z))
        z = m_.where(better, v, z)
        idx = m_.where(better, m_.asarray((rows[:, None] * x.shape[3] + cols[None, :]).astype(np.int32)), idx)
    return z, idx


@register("max_pool2d_backward", "plain")
def max_backward_plain(g, idx, x_shape):
    m_ = xp(g)
    N, C, H, W = x_shape
    dx = m_.zeros((N * C, H * W), dtype=g.dtype)
    planes = m_.arange(N * C)[:, None]
    m_.add.at(dx, (planes, idx.reshape(N * C, -1)), g.reshape(N * C, -1))
    return dx.reshape(x_shape)


def avg_windows(x_shape, geom, kernel, out_hw, include_pad):
    """Average pooling's windows as spans inside x: rows [ra[i], rb[i]), columns [ca[j], cb[j]), and
    |window| (OH, OW) as PyTorch counts it (windows clipped to the padded input)."""
    sh, sw, ph, pw = geom[:4]
    H, W = x_shape[2], x_shape[3]
    r0, c0 = np.arange(out_hw[0]) * sh - ph, np.arange(out_hw[1]) * sw - pw
    r1, c1 = np.minimum(r0 + kernel[0], H + ph), np.minimum(c0 + kernel[1], W + pw)
    ra, rb, ca, cb = np.maximum(r0, 0), np.minimum(r1, H), np.maximum(c0, 0), np.minimum(c1, W)
    area = (r1 - r0)[:, None] * (c1 - c0)[None, :] if include_pad else (rb - ra)[:, None] * (cb - ca)[None, :]
    return ra, rb, ca, cb, area.astype(np.float64)


def adaptive_windows(x_shape, out_hw):
    """Adaptive average pooling's windows, as avg_windows gives them: PyTorch's bins, where bin i of
    ``out`` over ``size`` covers [floor(i size / out), ceil((i + 1) size / out)) (bins may overlap)."""
    (ra, rb), (ca, cb) = ((np.arange(out) * size // out, -(-(np.arange(out) + 1) * size // out))
                          for size, out in zip(x_shape[2:], out_hw, strict=True))
    return ra, rb, ca, cb, ((rb - ra)[:, None] * (cb - ca)[None, :]).astype(np.float64)


@register("avg_pool2d_forward", "plain")
def avg_forward_plain(x, geom, kernel, out_hw, include_pad):
    m_ = xp(x)
    z = m_.zeros((*x.shape[:2], *out_hw), dtype=x.dtype)
    for rows, cols in _window_taps(x.shape, geom, kernel, out_hw):
        z += _gather(x, rows, cols, 0)[0]
    return z / m_.asarray(avg_windows(x.shape, geom, kernel, out_hw, include_pad)[4].astype(x.dtype))


@register("avg_pool2d_backward", "plain")
def avg_backward_plain(g, x_shape, geom, kernel, include_pad):
    m_ = xp(g)
    N, C, H, W = x_shape
    gd = g / m_.asarray(avg_windows(x_shape, geom, kernel, g.shape[2:], include_pad)[4].astype(g.dtype))
    dx = m_.zeros((N, C, H + 2 * geom[2] + kernel[0], W + 2 * geom[3] + kernel[1]), dtype=g.dtype)
    for rows, cols in _window_taps(x_shape, geom, kernel, g.shape[2:]):  # each tap hits distinct cells
        dx[:, :, m_.asarray(rows + geom[2])[:, None], m_.asarray(cols + geom[3])[None, :]] += gd
    return dx[:, :, geom[2]: geom[2] + H, geom[3]: geom[3] + W]


@register("adaptive_avg_pool2d_forward", "plain")
def adaptive_forward_plain(x, out_hw):
    """Each output cell the mean of its bin: a loop over the (few) output cells."""
    ra, rb, ca, cb, _ = adaptive_windows(x.shape, out_hw)
    z = xp(x).empty((*x.shape[:2], *out_hw), dtype=x.dtype)
    for i in range(out_hw[0]):
        for j in range(out_hw[1]):
            z[:, :, i, j] = x[:, :, ra[i]:rb[i], ca[j]:cb[j]].mean(axis=(2, 3))
    return z


@register("adaptive_avg_pool2d_backward", "plain")
def adaptive_backward_plain(g, x_shape):
    ra, rb, ca, cb, area = adaptive_windows(x_shape, g.shape[2:])
    dx = xp(g).zeros(x_shape, dtype=g.dtype)
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            dx[:, :, ra[i]:rb[i], ca[j]:cb[j]] += (g[:, :, i, j] / g.dtype.type(area[i, j]))[:, :, None, None]
    return dx


# ---------------------------------------------------------------- Numba: ranges of (sample, channel) planes
# Each kernel fills planes p0..p1-1 of the flattened (N C) planes, run over ranges on kernels/threads.py's
# sleeping Python threads (nogil) rather than as a Numba parallel loop: OpenMP's workers keep spinning
# after a loop and take a core from the next BLAS product (a 64x288x16384 SGEMM after a max-pool: ~9 ms
# against ~4.7 ms).
@njit(cache=True, nogil=True)
def _max_forward_numba(x, z, idx, p0, p1, KH, KW, sh, sw, ph, pw, dh, dw):
    """One output row at a time: for each window offset (n, m) in scan order, the row's outputs j compare
    with x[y, j sw + m dw - p] in one loop over row views (indexed by the loop counter alone, so it
    vectorises: ~4x faster than a loop over each window, 3x faster than one over flat offsets). Strict >
    keeps the first maximum; a NaN wins over a number."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = z.shape[2], z.shape[3]
    for bc in range(p0, p1):
        b, c = bc // C, bc % C
        for i in range(OH):
            zr, ir = z[b, c, i], idx[b, c, i]
            zr[:] = -np.inf
            ir[:] = -1
            for n in range(KH):
                y = i * sh + n * dh - ph
                if y < 0 or y >= H:
                    continue
                for m in range(KW):
                    j0 = m * dw - pw
                    jlo, jhi = valid_outputs(OW, j0, sw, W)
                    if jhi <= jlo:
                        continue
                    src = x[b, c, y, j0 + jlo * sw:j0 + (jhi - 1) * sw + 1:sw]
                    best, at = zr[jlo:jhi], ir[jlo:jhi]
                    first = y * W + j0 + jlo * sw
                    for k in range(jhi - jlo):
                        v = src[k]
                        if v > best[k] or (np.isnan(v) and not np.isnan(best[k])) or at[k] < 0:
                            best[k] = v
                            at[k] = first + k * sw


@njit(cache=True, nogil=True)
def _max2x2_forward_numba(x, z, idx, p0, p1):
    """The common 2x2 window, stride 2, no padding, every window inside x: each output compares its four
    inputs in scan order in registers (selects, no stores in branches), so the loop over j vectorises
    (~3x faster than the general kernel). The same ties and NaN rule."""
    C, W = x.shape[1], x.shape[3]
    OH, OW = z.shape[2], z.shape[3]
    for bc in range(p0, p1):
        b, c = bc // C, bc % C
        for i in range(OH):
            r0, r1, zr, ir = x[b, c, 2 * i], x[b, c, 2 * i + 1], z[b, c, i], idx[b, c, i]
            top = 2 * i * W
            for j in range(OW):
                best, at = r0[2 * j], top + 2 * j
                for v, a in ((r0[2 * j + 1], top + 2 * j + 1), (r1[2 * j], top + W + 2 * j),
                             (r1[2 * j + 1], top + W + 2 * j + 1)):
                    if v > best or (np.isnan(v) and not np.isnan(best)):
                        best, at = v, a
                zr[j], ir[j] = best, at


@njit(cache=True, nogil=True)
def _max_backward_numba(g, idx, dx, p0, p1):
    """Adds g into the zeroed dx (N C, H W) at the saved argmax."""
    OHW = g.shape[2] * g.shape[3]
    gf, idf = g.ravel(), idx.ravel()
    for p in range(p0, p1):
        plane = dx[p]
        for t in range(p * OHW, (p + 1) * OHW):
            plane[idf[t]] += gf[t]


@njit(cache=True, nogil=True)
def _mean_forward_numba(x, z, ra, rb, ca, cb, area, p0, p1):
    """z[b, c, i, j] = the sum of x[b, c] over rows [ra[i], rb[i]) and columns [ca[j], cb[j]), / area[i, j],
    in two passes (the spans are separable): each row span's sums of whole rows (W wide, in vectors), then
    the sums of those over the column spans; x is read once even where windows overlap."""
    C, W = x.shape[1], x.shape[3]
    OH, OW = z.shape[2], z.shape[3]
    spans = np.empty((OH, W))
    for bc in range(p0, p1):
        b, c = bc // C, bc % C
        plane = x[b, c]
        for i in range(OH):
            acc = spans[i]
            acc[:] = 0.0
            for y in range(ra[i], rb[i]):
                xr = plane[y]
                for xx in range(W):
                    acc[xx] += xr[xx]
        for i in range(OH):
            for j in range(OW):
                s = 0.0
                for xx in range(ca[j], cb[j]):
                    s += spans[i, xx]
                z[b, c, i, j] = s / area[i, j]


@njit(cache=True, nogil=True)
def _mean_backward_numba(g, dx, ra, rb, ca, cb, area, p0, p1):
    """dx (N, C, H, W) = each window's share g / area summed over the windows holding the cell, in two
    separable passes: the shares spread over the column spans of each row span (OH x W), then those rows
    written, in vectors, into the image rows they cover (added where row spans overlap)."""
    C, OH, OW = g.shape[1], g.shape[2], g.shape[3]
    H, W = dx.shape[2], dx.shape[3]
    spans = np.empty((OH, W))
    for bc in range(p0, p1):
        b, c = bc // C, bc % C
        spans[:] = 0.0
        for i in range(OH):
            for j in range(OW):
                share = g[b, c, i, j] / area[i, j]
                for xx in range(ca[j], cb[j]):
                    spans[i, xx] += share
        done = 0  # dx's rows [0, done) are written (the row spans start in increasing order)
        for i in range(OH + 1):
            for y in range(done, ra[i] if i < OH else H):  # rows no window covers
                dx[b, c, y, :] = 0
            if i == OH:
                break
            si = spans[i]
            for y in range(ra[i], rb[i]):
                dr = dx[b, c, y]
                if y >= done:
                    for xx in range(W):
                        dr[xx] = si[xx]
                else:
                    for xx in range(W):
                        dr[xx] += si[xx]
            done = max(done, rb[i])


def _planes(run, shape, work):
    """run(p0, p1) over ranges of the N C planes of an array of ``shape``, on the threads of kernels/threads.py."""
    in_ranges(run, shape[0] * shape[1], work)


def _mean_forward_cpu(x, windows):
    x = np.ascontiguousarray(x)
    z = np.empty((*x.shape[:2], len(windows[0]), len(windows[2])), dtype=x.dtype)
    _planes(lambda p0, p1: _mean_forward_numba(x, z, *windows, p0, p1), x.shape, x.size)
    return z


def _mean_backward_cpu(g, x_shape, windows):
    g, dx = np.ascontiguousarray(g), np.empty(x_shape, dtype=g.dtype)
    _planes(lambda p0, p1: _mean_backward_numba(g, dx, *windows, p0, p1), x_shape, dx.size)
    return dx


@register("max_pool2d_forward", "cpu")
def max_forward_cpu(x, geom, kernel, out_hw):
    x, shape = np.ascontiguousarray(x), (*x.shape[:2], *out_hw)
    z, idx = np.empty(shape, dtype=x.dtype), np.empty(shape, dtype=np.int32)
    if tuple(kernel) == (2, 2) and tuple(geom) == (2, 2, 0, 0, 1, 1) and 2 * out_hw[0] <= x.shape[2] \
            and 2 * out_hw[1] <= x.shape[3]:
        _planes(lambda p0, p1: _max2x2_forward_numba(x, z, idx, p0, p1), x.shape, x.size)
    else:
        _planes(lambda p0, p1: _max_forward_numba(x, z, idx, p0, p1, *kernel, *geom), x.shape, x.size)
    return z, idx


@register("max_pool2d_backward", "cpu")
def max_backward_cpu(g, idx, x_shape):
    g, dx = np.ascontiguousarray(g), np.zeros((x_shape[0] * x_shape[1], x_shape[2] * x_shape[3]), dtype=g.dtype)
    idx = np.ascontiguousarray(idx)
    _planes(lambda p0, p1: _max_backward_numba(g, idx, dx, p0, p1), x_shape, dx.size)
    return dx.reshape(x_shape)


# ---------------------------------------------------------------- CuPy: one thread per output (forward) or input
_CUDA_SOURCE = r"""
extern "C" __global__ void max_forward(const T* x, T* z, int* idx, long long total, int H, int W, int KH, int KW,
                                       int sh, int sw, int ph, int pw, int dh, int dw, int OH, int OW) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= total) return;
    int j = t % OW, i = (t / OW) % OH;
    const T* plane = x + (t / ((long long)OH * OW)) * H * W;
    T best = 0; int at = -1;
    for (int n = 0; n < KH; n++) {
        int y = i * sh + n * dh - ph;
        if (y < 0 || y >= H) continue;
        for (int m = 0; m < KW; m++) {
            int xx = j * sw + m * dw - pw;
            if (xx < 0 || xx >= W) continue;
            T v = plane[y * W + xx];
            if (at < 0 || v > best || (isnan(v) && !isnan(best))) { best = v; at = y * W + xx; }
        }
    }
    z[t] = best; idx[t] = at;
}
extern "C" __global__ void max_backward(const T* g, const int* idx, T* dx, long long total, int HW, int OHW) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;   /* one thread per output; windows may overlap */
    if (t >= total) return;
    atomicAdd(dx + (t / OHW) * HW + idx[t], g[t]);
}
extern "C" __global__ void mean_forward(const T* x, T* z, const long long* ra, const long long* rb,
                                        const long long* ca, const long long* cb, const double* area,
                                        long long total, int H, int W, int OH, int OW) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;   /* one thread per output */
    if (t >= total) return;
    int j = t % OW, i = (t / OW) % OH;
    const T* plane = x + (t / ((long long)OH * OW)) * H * W;
    T s = 0;
    for (long long y = ra[i]; y < rb[i]; y++) for (long long xx = ca[j]; xx < cb[j]; xx++) s += plane[y * W + xx];
    z[t] = s / (T)area[i * OW + j];
}
extern "C" __global__ void mean_backward(const T* g, T* dx, const long long* ra, const long long* rb,
                                         const long long* ca, const long long* cb, const double* area,
                                         long long total, int H, int W, int OH, int OW) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;   /* one thread per input element */
    if (t >= total) return;
    int xx = t % W, y = (t / W) % H;
    const T* gp = g + (t / ((long long)H * W)) * OH * OW;
    T acc = 0;
    for (int i = 0; i < OH; i++) {
        if (y < ra[i] || y >= rb[i]) continue;
        for (int j = 0; j < OW; j++)
            if (xx >= ca[j] && xx < cb[j]) acc += gp[i * OW + j] / (T)area[i * OW + j];
    }
    dx[t] = acc;
}
"""


@register("max_pool2d_forward", "gpu")
def max_forward_gpu(x, geom, kernel, out_hw):
    cp = xp(x)
    x = cp.ascontiguousarray(x)
    z = cp.empty((*x.shape[:2], *out_hw), dtype=x.dtype)
    idx = cp.empty(z.shape, dtype=np.int32)
    launch(_CUDA_SOURCE, "max_forward", (x, z, idx), z.size, (*x.shape[2:], *kernel, *geom, *out_hw))
    return z, idx


@register("max_pool2d_backward", "gpu")
def max_backward_gpu(g, idx, x_shape):
    cp = xp(g)
    dx = cp.zeros(x_shape, dtype=g.dtype)
    launch(_CUDA_SOURCE, "max_backward", (cp.ascontiguousarray(g), idx, dx), g.size,
           (x_shape[2] * x_shape[3], g.shape[2] * g.shape[3]))
    return dx


def _mean_forward_gpu(x, windows):
    cp = xp(x)
    x = cp.ascontiguousarray(x)
    z = cp.empty((*x.shape[:2], len(windows[0]), len(windows[2])), dtype=x.dtype)
    launch(_CUDA_SOURCE, "mean_forward", (x, z, *map(cp.asarray, windows)), z.size, (*x.shape[2:], *z.shape[2:]))
    return z


def _mean_backward_gpu(g, x_shape, windows):
    cp = xp(g)
    dx = cp.empty(x_shape, dtype=g.dtype)
    launch(_CUDA_SOURCE, "mean_backward", (cp.ascontiguousarray(g), dx, *map(cp.asarray, windows)), dx.size,
           (*x_shape[2:], *g.shape[2:]))
    return dx


def _register_window_means(impl, forward, backward):
    """avg_pool2d and adaptive_avg_pool2d on ``impl``'s span-based average kernels: each pooling only
    says where its windows lie."""
    @register("avg_pool2d_forward", impl)
    def avg_forward(x, geom, kernel, out_hw, include_pad):
        return forward(x, avg_windows(x.shape, geom, kernel, out_hw, include_pad))

    @register("avg_pool2d_backward", impl)
    def avg_backward(g, x_shape, geom, kernel, include_pad):
        return backward(g, x_shape, avg_windows(x_shape, geom, kernel, g.shape[2:], include_pad))

    @register("adaptive_avg_pool2d_forward", impl)
    def adaptive_forward(x, out_hw):
        return forward(x, adaptive_windows(x.shape, out_hw))

    @register("adaptive_avg_pool2d_backward", impl)
    def adaptive_backward(g, x_shape):
        return backward(g, x_shape, adaptive_windows(x_shape, g.shape[2:]))


_register_window_means("cpu", _mean_forward_cpu, _mean_backward_cpu)
_register_window_means("gpu", _mean_forward_gpu, _mean_backward_gpu)


# ---------------------------------------------------------------- contracts (backend.contract)
def _pool_contract(kernel, x_shape, geom, window, out_hw):
    sh, sw, ph, pw, dh, dw = geom
    checks.require(kernel, min(*window, sh, sw, dh, dw) >= 1 and 0 <= ph <= window[0] // 2 and
                   0 <= pw <= window[1] // 2 and min(out_hw) >= 1,
                   f"window {tuple(window)} with geometry {tuple(geom)} and output {tuple(out_hw)} is invalid")
    for n, s, p, o in zip(x_shape[2:], (sh, sw), (ph, pw), out_hw, strict=True):
        # every window starts inside the input or its left padding (as ceil_mode's last window must)
        checks.require(kernel, (o - 1) * s < n + p, f"output {tuple(out_hw)} does not fit input {tuple(x_shape)}")


def _grad_contract(kernel, g, x_shape):
    checks.ndim(kernel, 4, g=g)
    checks.floating(kernel, g=g)
    checks.require(kernel, len(x_shape) == 4 and tuple(g.shape[:2]) == tuple(x_shape[:2]),
                   f"g of shape {tuple(g.shape)} does not belong to an input of shape {tuple(x_shape)}")


def _input_contract(kernel, x, geom, window, out_hw):
    checks.ndim(kernel, 4, x=x)
    checks.floating(kernel, x=x)
    _pool_contract(kernel, x.shape, geom, window, out_hw)


@contract("max_pool2d_forward")
def _max_forward_contract(x, geom, window, out_hw):
    _input_contract("max_pool2d_forward", x, geom, window, out_hw)


@contract("max_pool2d_backward")
def _max_backward_contract(g, idx, x_shape):
    _grad_contract("max_pool2d_backward", g, x_shape)
    checks.shape("max_pool2d_backward", "idx", idx, g.shape)
    checks.indices("max_pool2d_backward", "idx", idx, x_shape[2] * x_shape[3])


@contract("avg_pool2d_forward")
def _avg_forward_contract(x, geom, window, out_hw, include_pad):
    _input_contract("avg_pool2d_forward", x, geom, window, out_hw)


@contract("avg_pool2d_backward")
def _avg_backward_contract(g, x_shape, geom, window, include_pad):
    _grad_contract("avg_pool2d_backward", g, x_shape)
    _pool_contract("avg_pool2d_backward", x_shape, geom, window, g.shape[2:])


@contract("adaptive_avg_pool2d_forward")
def _adaptive_forward_contract(x, out_hw):
    checks.ndim("adaptive_avg_pool2d_forward", 4, x=x)
    checks.floating("adaptive_avg_pool2d_forward", x=x)
    checks.require("adaptive_avg_pool2d_forward", len(out_hw) == 2 and min(out_hw) >= 1,
                   f"output size {tuple(out_hw)} must be two sizes >= 1")


@contract("adaptive_avg_pool2d_backward")
def _adaptive_backward_contract(g, x_shape):
    _grad_contract("adaptive_avg_pool2d_backward", g, x_shape)
