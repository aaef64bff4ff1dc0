"""Recurrences of RNN (tanh/relu), LSTM and GRU over a whole sequence, and their backward through
time: a plain NumPy twin (one step a loop iteration, array ops only), a Numba kernel that fuses each
step's gate arithmetic into one loop around one matrix product (BLAS, or for a float32 LSTM past a size
gemm.py's packed micro-kernel), and CuPy drivers that run each step as one cuBLAS product and one CUDA
kernel for the gates.

Shared conventions (T steps, B sequences, H hidden units, G = k H gate rows):

    xw      (T, B, G)  the input projections x_t W_ih^T + b_ih of every step (made by one matmul)
    w_hh    (G, H), b_hh (G,)
    mask    (T, B) bool: step t of sequence b is real; on a padded step the state is held and
            the output is 0 (so padded tails and heads both work, and the final state is the
            state after the last real step)
    hmask   (B, H) the variational dropout mask on h_{t-1} (D1.T2; ones when off), one per sequence
    reverse walk t = T-1 .. 0 (the backward direction of a bidirectional layer)

A forward returns ``packed`` of shape (T + 1, B, H) — outputs, then the final h — (LSTM: (T + 2, B, H),
the final c last) and the arrays its backward needs, ``hprev`` (the state entering each step) first.
A backward takes the gradient of ``packed`` and returns (dxw, dhh, dh0[, dc0]), where dhh is the
gradient of the recurrent pre-activations h_{t-1} W_hh^T + b_hh (equal to dxw except for the GRU);
the op turns it into dW_hh and db_hh with one matmul.

Gate rows follow PyTorch: LSTM i, f, g, o; GRU r, z, n.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types, uint64
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ..arraymath import sigmoid_array
from ..backend import contract, register, xp
from . import checks, gemm
from .activation import _FAST, exp_nonpositive32
from .cuda import launch
from .threads import in_ranges


def _order(T, reverse, backward=False):
    forward_order = range(T - 1, -1, -1) if reverse else range(T)
    return forward_order if not backward else (range(T) if reverse else range(T - 1, -1, -1))


def _dact(mode, y):
    """d act / d pre-activation, from the activation's output y."""
    return 1 - y * y if mode == "tanh" else (y > 0).astype(y.dtype)


# ---------------------------------------------------------------- plain twins
@register("rnn_forward", "plain")
def rnn_forward_plain(xw, w_hh, b_hh, h0, mask, hmask, reverse, mode):
    """h_t = act(xw_t + (h_{t-1} * m) W_hh^T + b_hh), act = tanh or relu."""
    m = xp(xw)
    T, B, H = xw.shape
    packed = m.zeros((T + 1, B, H), dtype=xw.dtype)
    hprev, hnew = m.empty_like(xw), m.empty_like(xw)
    h = h0
    for t in _order(T, reverse):
        keep = mask[t][:, None]
        a = xw[t] + (h * hmask) @ w_hh.T + b_hh
        y = m.tanh(a) if mode == "tanh" else m.maximum(a, 0)
        hprev[t], hnew[t] = h, y
        packed[t] = m.where(keep, y, 0)
        h = m.where(keep, y, h)
    packed[T] = h
    return packed, (hprev, hnew)


@register("rnn_backward", "plain")
def rnn_backward_plain(g, saved, w_hh, mask, hmask, reverse, mode):
    m = xp(g)
    hprev, hnew = saved
    T = hprev.shape[0]
    da = m.zeros_like(hprev)
    dh = g[T].copy()
    for t in _order(T, reverse, backward=True):
        keep = mask[t][:, None]
        da[t] = m.where(keep, (dh + g[t]) * _dact(mode, hnew[t]), 0)
        dh = m.where(keep, (da[t] @ w_hh) * hmask, dh)
    return da, da, dh


@register("lstm_forward", "plain")
def lstm_forward_plain(xw, w_hh, b_hh, h0, c0, mask, hmask, reverse):
    """a = xw_t + (h_{t-1} * m) W_hh^T + b_hh = [a_i a_f a_g a_o];  i, f, o = sigma(.), g = tanh(a_g);
    c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)."""
    m = xp(xw)
    T, B, G = xw.shape
    H = G // 4
    packed = m.zeros((T + 2, B, H), dtype=xw.dtype)
    gates = m.empty_like(xw)
    hprev, cprev, tanh_c = (m.empty((T, B, H), dtype=xw.dtype) for _ in range(3))
    h, c = h0, c0
    for t in _order(T, reverse):
        keep = mask[t][:, None]
        a = xw[t] + (h * hmask) @ w_hh.T + b_hh
        s = sigmoid_array(a)
        gt = m.concatenate([s[:, :2 * H], m.tanh(a[:, 2 * H:3 * H]), s[:, 3 * H:]], axis=1)
        i, f, gg, o = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
        c_new = f * c + i * gg
        tc = m.tanh(c_new)
        h_new = o * tc
        hprev[t], cprev[t], gates[t], tanh_c[t] = h, c, gt, tc
        packed[t] = m.where(keep, h_new, 0)
        h, c = m.where(keep, h_new, h), m.where(keep, c_new, c)
    packed[T], packed[T + 1] = h, c
    return packed, (hprev, cprev, gates, tanh_c)


@register("lstm_backward", "plain")
def lstm_backward_plain(g, saved, w_hh, mask, hmask, reverse):
    """dc_t += dh_t o (1 - tanh^2 c_t);  da_i = dc_t g i(1-i),  da_f = dc_t c_{t-1} f(1-f),
    da_g = dc_t i (1-g^2),  da_o = dh_t tanh(c_t) o(1-o);  dc_{t-1} = dc_t f,  dh_{t-1} = (da W_hh) * m."""
    m = xp(g)
    hprev, cprev, gates, tanh_c = saved
    T, B, H = hprev.shape
    da = m.zeros_like(gates)
    dh, dc = g[T].copy(), g[T + 1].copy()
    for t in _order(T, reverse, backward=True):
        keep = mask[t][:, None]
        gt = gates[t]
        i, f, gg, o = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
        tc = tanh_c[t]
        dht = dh + g[t]
        dct = dc + dht * o * (1 - tc * tc)
        dat = m.concatenate([dct * gg * i * (1 - i), dct * cprev[t] * f * (1 - f), dct * i * (1 - gg * gg),
                             dht * tc * o * (1 - o)], axis=1)
        da[t] = m.where(keep, dat, 0)
        dh = m.where(keep, (da[t] @ w_hh) * hmask, dh)
        dc = m.where(keep, dct * f, dc)
    return da, da, dh, dc


@register("gru_forward", "plain")
def gru_forward_plain(xw, w_hh, b_hh, h0, mask, hmask, reverse):
    """u = (h_{t-1} * m) W_hh^T + b_hh;  r = sigma(xw_r + u_r), z = sigma(xw_z + u_z),
    n = tanh(xw_n + r u_n);  h_t = (1 - z) n + z h_{t-1}."""
    m = xp(xw)
    T, B, G = xw.shape
    H = G // 3
    packed = m.zeros((T + 1, B, H), dtype=xw.dtype)
    gates = m.empty_like(xw)
    hprev, un = m.empty((T, B, H), dtype=xw.dtype), m.empty((T, B, H), dtype=xw.dtype)
    h = h0
    for t in _order(T, reverse):
        keep = mask[t][:, None]
        u = (h * hmask) @ w_hh.T + b_hh
        rz = sigmoid_array(xw[t, :, :2 * H] + u[:, :2 * H])
        r, z = rz[:, :H], rz[:, H:]
        n = m.tanh(xw[t, :, 2 * H:] + r * u[:, 2 * H:])
        h_new = (1 - z) * n + z * h
        hprev[t], un[t], gates[t] = h, u[:, 2 * H:], m.concatenate([rz, n], axis=1)
        packed[t] = m.where(keep, h_new, 0)
        h = m.where(keep, h_new, h)
    packed[T] = h
    return packed, (hprev, gates, un)


@register("gru_backward", "plain")
def gru_backward_plain(g, saved, w_hh, mask, hmask, reverse):
    """dn = dh (1-z), dz = dh (h_{t-1} - n);  da_n = dn (1-n^2), da_r = da_n u_n r(1-r), da_z = dz z(1-z);
    dxw = [da_r, da_z, da_n],  du = [da_r, da_z, da_n r];  dh_{t-1} = (du W_hh) * m + dh z."""
    m = xp(g)
    hprev, gates, un = saved
    T, B, H = hprev.shape
    dxw, du = m.zeros_like(gates), m.zeros_like(gates)
    dh = g[T].copy()
    for t in _order(T, reverse, backward=True):
        keep = mask[t][:, None]
        gt = gates[t]
        r, z, n = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:]
        dht = dh + g[t]
        dan = dht * (1 - z) * (1 - n * n)
        dar = dan * un[t] * r * (1 - r)
        daz = dht * (hprev[t] - n) * z * (1 - z)
        dxw[t] = m.where(keep, m.concatenate([dar, daz, dan], axis=1), 0)
        du[t] = m.where(keep, m.concatenate([dar, daz, dan * r], axis=1), 0)
        dh = m.where(keep, (du[t] @ w_hh) * hmask + dht * z, dh)
    return dxw, du, dh


# ---------------------------------------------------------------- Numba kernels
# Each step is one matrix product into a reused buffer (_product), then the gate arithmetic in loops the
# compiler vectorises: constants of the arrays' own dtype (``one``: a Python 1 would turn float32 math into
# float64), the mask tested once a row, and float32 e^x as a few multiplies (exp_nonpositive32; Numba's
# np.exp calls the C library one number at a time). float64 keeps np.exp.
# Serial: the loops run between BLAS products, whose threads would fight a parallel loop for the cores.
def _exp_le0(x):
    """e^x for x <= 0, chosen by dtype when a kernel compiles (a run-time choice inside the loops
    would stop them vectorising): float32 exp_nonpositive32, float64 np.exp (exact)."""


@overload(_exp_le0, jit_options={"fastmath": _FAST, "error_model": "numpy"})
def _exp_le0_impl(x):
    if x == types.float32:
        return lambda x: exp_nonpositive32(x)
    return lambda x: np.exp(x)


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _sig(x, one):
    """sigma(x) from e^{-|x|}, which never overflows."""
    e = _exp_le0(-abs(x))
    s = one / (one + e)
    return s if x >= 0 else e * s


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _tanh(x, one):
    """tanh(x) = sign(x) (1 - e^{-2|x|}) / (1 + e^{-2|x|})."""
    e = _exp_le0(-(abs(x) + abs(x)))
    t = (one - e) / (one + e)
    return t if x >= 0 else -t


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _recurrent_product(h, hmask, w_t, hm, out):
    """out = (h * hmask) @ W_hh^T, with w_t = W_hh^T made contiguous once per sequence (OpenBLAS runs
    the product ~30% slower on the transposed view of W_hh)."""
    np.multiply(h, hmask, hm)
    np.dot(hm, w_t, out)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _hold_rows(back, hmask, mask_t, dh):
    """dh_{t-1} = back * hmask on the real rows (back = da_t @ W_hh); padded rows hold dh."""
    B, H = dh.shape
    for bi in range(B):
        if mask_t[bi]:
            for j in range(H):
                dh[bi, j] = back[bi, j] * hmask[bi, j]


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _back_product(da, w_hh, hmask, mask_t, back, dh):
    """dh_{t-1} = (da_t @ W_hh) * hmask on the real rows."""
    np.dot(da, w_hh, back)
    _hold_rows(back, hmask, mask_t, dh)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _rnn_fwd(xw, w_t, b, h0, mask, hmask, reverse, relu, one):
    T, B, H = xw.shape
    packed = np.zeros((T + 1, B, H), dtype=xw.dtype)
    hprev, hnew = np.empty_like(xw), np.empty_like(xw)
    h, hm, a = h0.copy(), np.empty_like(h0), np.empty_like(h0)
    for s in range(T):
        t = T - 1 - s if reverse else s
        hprev[t] = h
        _recurrent_product(h, hmask, w_t, hm, a)
        for bi in range(B):
            for j in range(H):
                v = xw[t, bi, j] + a[bi, j] + b[j]
                hnew[t, bi, j] = max(v, one - one) if relu else _tanh(v, one)
            if mask[t, bi]:
                for j in range(H):
                    packed[t, bi, j] = h[bi, j] = hnew[t, bi, j]
    packed[T] = h
    return packed, hprev, hnew


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _rnn_bwd(g, hnew, w_hh, mask, hmask, reverse, relu):
    T, B, H = hnew.shape
    one, zero = hnew.dtype.type(1), hnew.dtype.type(0)
    da = np.zeros_like(hnew)
    dh, back = g[T].copy(), np.empty_like(hnew[0])
    for s in range(T):
        t = s if reverse else T - 1 - s
        for bi in range(B):
            if mask[t, bi]:
                for j in range(H):
                    y = hnew[t, bi, j]
                    slope = (one if y > zero else zero) if relu else one - y * y
                    da[t, bi, j] = (dh[bi, j] + g[t, bi, j]) * slope
        _back_product(da[t], w_hh, hmask, mask[t], back, dh)
    return da, dh


# ---- two threads walking one sequence: each step is a few short phases (~0.1-0.5 ms), and handing each
# to a pool thread cost 20-80 us (a wake-up each way); so both threads run the whole loop and meet at a
# barrier between phases: a store and a load of two counters, 64 bytes apart (no false sharing).
@intrinsic
def _load_acquire(typingctx, addr):
    """The int64 at ``addr``, read after every write the thread that stored it made before (acquire)."""
    def codegen(context, builder, signature, args):
        return builder.load_atomic(builder.inttoptr(args[0], ir.IntType(64).as_pointer()), "acquire", 8)
    return types.int64(types.intp), codegen


@intrinsic
def _store_release(typingctx, addr, value):
    """*addr = value (int64), after every write of this thread before it (release)."""
    def codegen(context, builder, signature, args):
        builder.store_atomic(args[1], builder.inttoptr(args[0], ir.IntType(64).as_pointer()), "release", 8)
        return context.get_dummy_value()
    return types.void(types.intp, types.int64), codegen


@intrinsic
def _sched_yield(typingctx):
    """The C library's sched_yield(): let another runnable thread have this core."""
    def codegen(context, builder, signature, args):
        builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                                    "sched_yield"), [])
        return context.get_dummy_value()
    return types.void(), codegen


@njit(cache=True, nogil=True)
def _barrier(sync, tid, n, k):
    """Barrier number k + 1 of threads 0 and 1 (none when n = 1); returns k + 1. sync: 16 int64 zeros.
    Spins briefly, then yields the core on each try (2 cores shared with other processes)."""
    k += 1
    if n > 1:
        base = sync.ctypes.data
        _store_release(base + tid * 64, k)
        tries = 0
        while _load_acquire(base + (1 - tid) * 64) < k:
            tries += 1
            if tries > 256:
                _sched_yield()
    return k


@njit(cache=True, nogil=True)
def _share(blocks, tid, n, size, limit):
    """Thread tid's share of ``blocks`` blocks of ``size`` items (``limit`` items in all): (first, end)."""
    return min(blocks * tid // n * size, limit), min(blocks * (tid + 1) // n * size, limit)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _lstm_fwd_step(t, r0, r1, xw, a, b, sc, h, c, cn, mask, packed, gates, tanh_c):
    """The gates and states of step t for rows r0..r1-1, from the product a = (h_{t-1} * m) W_hh^T."""
    G = a.shape[1]
    H = G // 4
    one = xw.dtype.type(1)
    for bi in range(r0, r1):
        for k in range(G):
            v = (xw[t, bi, k] + a[bi, k] + b[k]) * sc[k]
            gates[t, bi, k] = _sig(v, one) * sc[k] - (sc[k] - one)
        for j in range(H):
            cn[j] = gates[t, bi, H + j] * c[bi, j] + gates[t, bi, j] * gates[t, bi, 2 * H + j]
            tanh_c[t, bi, j] = _tanh(cn[j], one)
        if mask[t, bi]:
            for j in range(H):
                packed[t, bi, j] = h[bi, j] = gates[t, bi, 3 * H + j] * tanh_c[t, bi, j]
                c[bi, j] = cn[j]


def _lstm_fwd_loop(xw, w_t, b, sc, mask, hmask, reverse, h, c, hm, a, cn, packed, hprev, cprev, gates, tanh_c):
    # the products are written out, not _recurrent_product: run as Python this loop must reach NumPy's BLAS
    T, B = xw.shape[:2]
    for s in range(T):
        t = T - 1 - s if reverse else s
        hprev[t] = h
        cprev[t] = c
        np.multiply(h, hmask, hm)
        np.dot(hm, w_t, a)
        _lstm_fwd_step(t, 0, B, xw, a, b, sc, h, c, cn, mask, packed, gates, tanh_c)


@njit(cache=True, fastmath=_FAST, error_model="numpy", nogil=True)
def _lstm_fwd_team(tid, n, sync, xw, bp, b, sc, mask, hmask, reverse, h, c, hm, hp, a, packed, hprev, cprev, gates,
                   tanh_c):
    """Thread tid of n (1 or 2) walking the forward with the other: its share of each step's rows (whole
    blocks of gemm.MR) for the gates and the packing of h * m, its share of the product's panels."""
    T, B, G = xw.shape
    H = G // 4
    r0, r1 = _share(hp.shape[0], tid, n, gemm.MR, B)
    p0, p1 = _share(bp.shape[0], tid, n, 1, bp.shape[0])
    cn = np.empty(H, dtype=xw.dtype)
    k = 0
    for s in range(T):
        t = T - 1 - s if reverse else s
        for bi in range(r0, r1):
            for j in range(H):
                hprev[t, bi, j], cprev[t, bi, j] = h[bi, j], c[bi, j]
                hm[bi, j] = h[bi, j] * hmask[bi, j]
        gemm.pack_a(hm[r0:r1], hp[r0 // gemm.MR:(r1 + gemm.MR - 1) // gemm.MR])
        k = _barrier(sync, tid, n, k)
        gemm.gemm_packed(hp, bp, a, p0, p1, False)
        k = _barrier(sync, tid, n, k)
        _lstm_fwd_step(t, r0, r1, xw, a, b, sc, h, c, cn, mask, packed, gates, tanh_c)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _lstm_bwd_step(t, r0, r1, g, cprev, gates, tanh_c, mask, dh, dc, da):
    """da_t and dc_{t-1} for rows r0..r1-1."""
    H = dh.shape[1]
    one = g.dtype.type(1)
    for bi in range(r0, r1):
        if not mask[t, bi]:
            continue
        # one row's gates as views indexed by j alone: an index such as 2 * H + j keeps Numba's
        # negative-index check in the loop, which then does not vectorise (2.5x slower at H = 128)
        gr, dr = gates[t, bi], da[t, bi]
        ig, fg, gg, og = gr[:H], gr[H:2 * H], gr[2 * H:3 * H], gr[3 * H:]
        di, df, dg, do = dr[:H], dr[H:2 * H], dr[2 * H:3 * H], dr[3 * H:]
        tcr, cpr, gt, dhr, dcr = tanh_c[t, bi], cprev[t, bi], g[t, bi], dh[bi], dc[bi]
        for j in range(H):
            i, f, gv, o, tc = ig[j], fg[j], gg[j], og[j], tcr[j]
            dht = dhr[j] + gt[j]
            dct = dcr[j] + dht * o * (one - tc * tc)
            di[j] = dct * gv * i * (one - i)
            df[j] = dct * cpr[j] * f * (one - f)
            dg[j] = dct * i * (one - gv * gv)
            do[j] = dht * tc * o * (one - o)
            dcr[j] = dct * f


def _lstm_bwd_loop(g, cprev, gates, tanh_c, w_hh, mask, hmask, reverse, dh, dc, da, back):
    T, B = cprev.shape[:2]
    for s in range(T):
        t = s if reverse else T - 1 - s
        _lstm_bwd_step(t, 0, B, g, cprev, gates, tanh_c, mask, dh, dc, da)
        np.dot(da[t], w_hh, back)
        _hold_rows(back, hmask, mask[t], dh)


@njit(cache=True, fastmath=_FAST, error_model="numpy", nogil=True)
def _lstm_bwd_team(tid, n, sync, g, cprev, gates, tanh_c, bp, mask, hmask, reverse, dh, dc, da, dap, back):
    """Thread tid of n (1 or 2) walking the backward with the other, shared as in _lstm_fwd_team."""
    T, B, H = cprev.shape
    r0, r1 = _share(dap.shape[0], tid, n, gemm.MR, B)
    p0, p1 = _share(bp.shape[0], tid, n, 1, bp.shape[0])
    k = 0
    for s in range(T):
        t = s if reverse else T - 1 - s
        _lstm_bwd_step(t, r0, r1, g, cprev, gates, tanh_c, mask, dh, dc, da)
        gemm.pack_a(da[t, r0:r1], dap[r0 // gemm.MR:(r1 + gemm.MR - 1) // gemm.MR])
        k = _barrier(sync, tid, n, k)
        gemm.gemm_packed(dap, bp, back, p0, p1, False)
        k = _barrier(sync, tid, n, k)
        _hold_rows(back[r0:r1], hmask[r0:r1], mask[t, r0:r1], dh[r0:r1])


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gru_fwd(xw, w_t, b, h0, mask, hmask, reverse, one):
    T, B, G = xw.shape
    H = G // 3
    packed = np.zeros((T + 1, B, H), dtype=xw.dtype)
    gates = np.empty_like(xw)
    hprev = np.empty((T, B, H), dtype=xw.dtype)
    un = np.empty_like(hprev)
    h, hm, u = h0.copy(), np.empty_like(h0), np.empty((B, G), dtype=xw.dtype)
    hn = np.empty(H, dtype=xw.dtype)
    for s in range(T):
        t = T - 1 - s if reverse else s
        hprev[t] = h
        _recurrent_product(h, hmask, w_t, hm, u)
        for bi in range(B):
            gr, xr, ur = gates[t, bi], xw[t, bi], u[bi]  # row views, indexed by j alone (see _lstm_bwd_step)
            for k in range(2 * H):
                gr[k] = _sig(xr[k] + ur[k] + b[k], one)
            r, z, n, xn, un_, bn, hr = gr[:H], gr[H:2 * H], gr[2 * H:], xr[2 * H:], ur[2 * H:], b[2 * H:], h[bi]
            unr = un[t, bi]
            for j in range(H):
                uu = un_[j] + bn[j]
                n[j] = _tanh(xn[j] + r[j] * uu, one)
                unr[j] = uu
                hn[j] = (one - z[j]) * n[j] + z[j] * hr[j]
            if mask[t, bi]:
                pr = packed[t, bi]
                for j in range(H):
                    pr[j] = hr[j] = hn[j]
    packed[T] = h
    return packed, hprev, gates, un


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gru_bwd(g, hprev, gates, un, w_hh, mask, hmask, reverse):
    T, B, H = hprev.shape
    one = hprev.dtype.type(1)
    dxw, du = np.zeros_like(gates), np.zeros_like(gates)
    dh, back = g[T].copy(), np.empty_like(hprev[0])
    direct = np.zeros_like(dh)
    for s in range(T):
        t = s if reverse else T - 1 - s
        for bi in range(B):
            if not mask[t, bi]:
                continue
            gr, xr, ur = gates[t, bi], dxw[t, bi], du[t, bi]
            r, z, n = gr[:H], gr[H:2 * H], gr[2 * H:]
            dxr, dxz, dxn, dur, duz, dun = xr[:H], xr[H:2 * H], xr[2 * H:], ur[:H], ur[H:2 * H], ur[2 * H:]
            unr, hpr, gt, dhr, dr = un[t, bi], hprev[t, bi], g[t, bi], dh[bi], direct[bi]
            for j in range(H):
                dht = dhr[j] + gt[j]
                dan = dht * (one - z[j]) * (one - n[j] * n[j])
                dar = dan * unr[j] * r[j] * (one - r[j])
                daz = dht * (hpr[j] - n[j]) * z[j] * (one - z[j])
                dxr[j], dxz[j], dxn[j] = dar, daz, dan
                dur[j], duz[j], dun[j] = dar, daz, dan * r[j]
                dr[j] = dht * z[j]
        _back_product(du[t], w_hh, hmask, mask[t], back, dh)
        for bi in range(B):
            if mask[t, bi]:
                for j in range(H):
                    dh[bi, j] += direct[bi, j]
    return dxw, du, dh


def _c(a):
    return np.ascontiguousarray(a)


@njit(cache=True)
def _transpose_numba(a, out):
    """out = a^T in 16 x 16 tiles (both in cache), with uint64 offsets so the loops vectorise."""
    R, C = a.shape
    af, of = a.ravel(), out.ravel()
    for i0 in range(0, R, 16):
        for j0 in range(0, C, 16):
            for j in range(uint64(j0), uint64(min(j0 + 16, C))):
                for i in range(uint64(i0), uint64(min(i0 + 16, R))):
                    of[j * uint64(R) + i] = af[i * uint64(C) + j]


def transposed(a):
    """a^T as a new C-contiguous array; NumPy's ascontiguousarray(a.T) walks one side with a stride and
    took ~4 ms for an LSTM's (2048, 512) W_hh, about what the contiguous W^T saves its products."""
    out = np.empty(a.shape[::-1], dtype=a.dtype)
    _transpose_numba(np.ascontiguousarray(a), out)
    return out


@register("rnn_forward", "cpu")
def rnn_forward_cpu(xw, w_hh, b_hh, h0, mask, hmask, reverse, mode):
    packed, hprev, hnew = _rnn_fwd(_c(xw), transposed(w_hh), b_hh, _c(h0), mask, _c(hmask), reverse, mode == "relu",
                                   xw.dtype.type(1))
    return packed, (hprev, hnew)


@register("rnn_backward", "cpu")
def rnn_backward_cpu(g, saved, w_hh, mask, hmask, reverse, mode):
    da, dh = _rnn_bwd(_c(g), saved[1], _c(w_hh), mask, _c(hmask), reverse, mode == "relu")
    return da, da, dh


# How the LSTM walks its steps, by the multiply-adds B K N of a step's product (B, K) @ W (K, N):
# - below _SMALL the whole loop runs compiled around BLAS products (no per-step call overhead);
# - above it float64 (and float32 below _PACKED) walks in Python around NumPy's BLAS: compiled, Numba's
#   np.dot (SciPy's OpenBLAS, a second thread pool beside NumPy's) fought NumPy's BLAS threads (the D0.M1
#   step took ~4 s, not ~1 s);
# - float32 from _PACKED: two threads walk the whole loop compiled (_lstm_fwd_team), the products through
#   gemm.py's micro-kernel with W packed once a call (OpenBLAS repacks it every step). Below _PACKED the
#   per-step work is too short to share (B = 32, H = 64: 1.6 against 1.3 ms for 50 steps forward).
_SMALL, _PACKED = 1 << 18, 1 << 20


def _packed(B, w):
    """Whether the steps of a product (B, K) @ w walk as a team on the micro-kernel."""
    return w.dtype == np.float32 and B * w.shape[0] * w.shape[1] >= _PACKED


def _as_team(team, B, w, *args):
    """team(tid, n, sync, *args) on two threads (one if Numba is set to one)."""
    sync = np.zeros(16, dtype=np.int64)
    in_ranges(lambda t0, t1: team(t0, 2 // (t1 - t0), sync, *args), 2, B * w.shape[0] * w.shape[1])


_lstm_fwd_compiled = njit(cache=True, fastmath=_FAST, error_model="numpy")(_lstm_fwd_loop)
_lstm_bwd_compiled = njit(cache=True, fastmath=_FAST, error_model="numpy")(_lstm_bwd_loop)


@register("lstm_forward", "cpu")
def lstm_forward_cpu(xw, w_hh, b_hh, h0, c0, mask, hmask, reverse):
    xw = _c(xw)
    T, B, G = xw.shape
    H = G // 4
    packed = np.zeros((T + 2, B, H), dtype=xw.dtype)
    gates, hprev, cprev, tanh_c = np.empty_like(xw), *(np.empty((T, B, H), dtype=xw.dtype) for _ in range(3))
    # sc: 2 on g's rows (tanh(v) = 2 sigma(2 v) - 1), 1 elsewhere, so one uniform loop (it vectorises) does all gates
    sc = np.ones(G, dtype=xw.dtype)
    sc[2 * H:3 * H] = 2
    h, c = packed[T], packed[T + 1]
    h[...], c[...] = h0, c0
    w_t, hm, a = transposed(w_hh), np.empty_like(h), np.empty((B, G), dtype=xw.dtype)
    if _packed(B, w_t):
        _as_team(_lstm_fwd_team, B, w_t, xw, gemm.pack(w_t, gemm.NR), b_hh, sc, mask, _c(hmask), reverse, h, c, hm,
                 np.empty(gemm.packed_shape(B, H, gemm.MR), dtype=np.float32), a, packed, hprev, cprev, gates, tanh_c)
    else:
        run = _lstm_fwd_compiled if B * G * H < _SMALL else _lstm_fwd_loop
        run(xw, w_t, b_hh, sc, mask, _c(hmask), reverse, h, c, hm, a, np.empty(H, dtype=xw.dtype), packed, hprev,
            cprev, gates, tanh_c)
    return packed, (hprev, cprev, gates, tanh_c)


@register("lstm_backward", "cpu")
def lstm_backward_cpu(g, saved, w_hh, mask, hmask, reverse):
    _, cprev, gates, tanh_c = saved
    T, B, H = cprev.shape
    g = _c(g)
    da, dh, dc = np.zeros_like(gates), g[T].copy(), g[T + 1].copy()
    w_hh, hmask, back = _c(w_hh), _c(hmask), np.empty_like(dh)
    if _packed(B, w_hh):
        _as_team(_lstm_bwd_team, B, w_hh, g, cprev, gates, tanh_c, gemm.pack(w_hh, gemm.NR), mask, hmask, reverse, dh,
                 dc, da, np.empty(gemm.packed_shape(B, 4 * H, gemm.MR), dtype=np.float32), back)
    else:
        run = _lstm_bwd_compiled if B * 4 * H * H < _SMALL else _lstm_bwd_loop
        run(g, cprev, gates, tanh_c, w_hh, mask, hmask, reverse, dh, dc, da, back)
    return da, da, dh, dc


@register("gru_forward", "cpu")
def gru_forward_cpu(xw, w_hh, b_hh, h0, mask, hmask, reverse):
    packed, *saved = _gru_fwd(_c(xw), transposed(w_hh), b_hh, _c(h0), mask, _c(hmask), reverse, xw.dtype.type(1))
    return packed, tuple(saved)


@register("gru_backward", "cpu")
def gru_backward_cpu(g, saved, w_hh, mask, hmask, reverse):
    hprev, gates, un = saved
    return _gru_bwd(_c(g), hprev, gates, un, _c(w_hh), mask, _c(hmask), reverse)


# ---------------------------------------------------------------- CuPy: cuBLAS for each step's product,
# one CUDA kernel for each step's gates (a thread per hidden unit of a sequence), in place of the plain
# twin's dozen array operations a step. The drivers walk the steps like the plain twins.
_CUDA_SOURCE = r"""
__device__ T sig(T x) { T e = exp(-fabs(x)); T s = T(1) / (T(1) + e); return x >= 0 ? s : e * s; }

extern "C" __global__ void rnn_fwd_step(const T* xw, const T* a, const T* bias, const bool* keep, T* h, T* hnew,
                                        T* out, long long total, int H, int relu) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= total) return;
    int j = t % H; long long b = t / H;
    T v = xw[t] + a[t] + bias[j];
    T y = relu ? (v > 0 ? v : T(0)) : tanh(v);
    hnew[t] = y;
    out[t] = keep[b] ? y : T(0);
    if (keep[b]) h[t] = y;
}
extern "C" __global__ void rnn_bwd_step(const T* g, const T* hnew, const T* dh, const bool* keep, T* da,
                                        long long total, int H, int relu) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= total) return;
    T y = hnew[t];
    da[t] = keep[t / H] ? (dh[t] + g[t]) * (relu ? (y > 0 ? T(1) : T(0)) : T(1) - y * y) : T(0);
}
extern "C" __global__ void lstm_fwd_step(const T* xw, const T* a, const T* bias, const bool* keep, T* h, T* c,
                                         T* gates, T* tanh_c, T* out, long long total, int H) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= total) return;
    int j = t % H; long long b = t / H, row = b * 4 * H;
    T gi = sig(xw[row + j] + a[row + j] + bias[j]);
    T gf = sig(xw[row + H + j] + a[row + H + j] + bias[H + j]);
    T gg = tanh(xw[row + 2 * H + j] + a[row + 2 * H + j] + bias[2 * H + j]);
    T go = sig(xw[row + 3 * H + j] + a[row + 3 * H + j] + bias[3 * H + j]);
    gates[row + j] = gi; gates[row + H + j] = gf; gates[row + 2 * H + j] = gg; gates[row + 3 * H + j] = go;
    T cn = gf * c[t] + gi * gg, tc = tanh(cn);
    tanh_c[t] = tc;
    out[t] = keep[b] ? go * tc : T(0);
    if (keep[b]) { h[t] = go * tc; c[t] = cn; }
}
extern "C" __global__ void lstm_bwd_step(const T* g, const T* gates, const T* tanh_c, const T* cprev,
                                         const bool* keep, const T* dh, T* dc, T* da, long long total, int H) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= total) return;
    int j = t % H; long long b = t / H, row = b * 4 * H;
    if (!keep[b]) { da[row + j] = da[row + H + j] = da[row + 2 * H + j] = da[row + 3 * H + j] = 0; return; }
    T i = gates[row + j], f = gates[row + H + j], gg = gates[row + 2 * H + j], o = gates[row + 3 * H + j];
    T tc = tanh_c[t], dht = dh[t] + g[t];
    T dct = dc[t] + dht * o * (T(1) - tc * tc);
    da[row + j] = dct * gg * i * (T(1) - i);
    da[row + H + j] = dct * cprev[t] * f * (T(1) - f);
    da[row + 2 * H + j] = dct * i * (T(1) - gg * gg);
    da[row + 3 * H + j] = dht * tc * o * (T(1) - o);
    dc[t] = dct * f;
}
extern "C" __global__ void gru_fwd_step(const T* xw, const T* u, const bool* keep, T* h, T* gates, T* un,
                                        T* out, long long total, int H) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= total) return;
    int j = t % H; long long b = t / H, row = b * 3 * H;
    T r = sig(xw[row + j] + u[row + j]), z = sig(xw[row + H + j] + u[row + H + j]);
    T n = tanh(xw[row + 2 * H + j] + r * u[row + 2 * H + j]);
    gates[row + j] = r; gates[row + H + j] = z; gates[row + 2 * H + j] = n;
    un[t] = u[row + 2 * H + j];
    T hn = (T(1) - z) * n + z * h[t];
    out[t] = keep[b] ? hn : T(0);
    if (keep[b]) h[t] = hn;
}
extern "C" __global__ void gru_bwd_step(const T* g, const T* gates, const T* un, const T* hprev, const bool* keep,
                                        const T* dh, T* dxw, T* du, T* direct, long long total, int H) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= total) return;
    int j = t % H; long long b = t / H, row = b * 3 * H;
    if (!keep[b]) {
        dxw[row + j] = dxw[row + H + j] = dxw[row + 2 * H + j] = 0;
        du[row + j] = du[row + H + j] = du[row + 2 * H + j] = 0;
        return;
    }
    T r = gates[row + j], z = gates[row + H + j], n = gates[row + 2 * H + j];
    T dht = dh[t] + g[t];
    T dan = dht * (T(1) - z) * (T(1) - n * n);
    T dar = dan * un[t] * r * (T(1) - r);
    T daz = dht * (hprev[t] - n) * z * (T(1) - z);
    dxw[row + j] = dar; dxw[row + H + j] = daz; dxw[row + 2 * H + j] = dan;
    du[row + j] = dar; du[row + H + j] = daz; du[row + 2 * H + j] = dan * r;
    direct[t] = dht * z;
}
"""


def _step(name, arrays, B, H, *flags):
    launch(_CUDA_SOURCE, name, arrays, B * H, (H, *flags))


def _held(keep, new, old):
    """The new state on the real rows, the old one on padded rows (as the plain twins' where)."""
    return xp(new).where(keep[:, None], new, old)


@register("rnn_forward", "gpu")
def rnn_forward_gpu(xw, w_hh, b_hh, h0, mask, hmask, reverse, mode):
    m = xp(xw)
    xw, w_t = m.ascontiguousarray(xw), m.ascontiguousarray(w_hh.T)
    T, B, H = xw.shape
    packed, hprev, hnew = m.zeros((T + 1, B, H), xw.dtype), m.empty_like(xw), m.empty_like(xw)
    h, b = m.array(h0, dtype=xw.dtype, order="C"), m.ascontiguousarray(b_hh)
    for t in _order(T, reverse):
        hprev[t] = h
        a = m.matmul(h * hmask, w_t)
        _step("rnn_fwd_step", (xw[t], a, b, m.ascontiguousarray(mask[t]), h, hnew[t], packed[t]), B, H,
              int(mode == "relu"))
    packed[T] = h
    return packed, (hprev, hnew)


@register("rnn_backward", "gpu")
def rnn_backward_gpu(g, saved, w_hh, mask, hmask, reverse, mode):
    m = xp(g)
    g, hnew = m.ascontiguousarray(g), saved[1]
    T, B, H = hnew.shape
    da, dh = m.empty_like(hnew), g[T].copy()
    for t in _order(T, reverse, backward=True):
        keep = m.ascontiguousarray(mask[t])
        _step("rnn_bwd_step", (g[t], hnew[t], dh, keep, da[t]), B, H, int(mode == "relu"))
        dh = _held(keep, m.matmul(da[t], w_hh) * hmask, dh)
    return da, da, dh


@register("lstm_forward", "gpu")
def lstm_forward_gpu(xw, w_hh, b_hh, h0, c0, mask, hmask, reverse):
    m = xp(xw)
    xw, w_t = m.ascontiguousarray(xw), m.ascontiguousarray(w_hh.T)
    T, B, G = xw.shape
    H = G // 4
    packed, gates = m.zeros((T + 2, B, H), xw.dtype), m.empty_like(xw)
    hprev, cprev, tanh_c = (m.empty((T, B, H), xw.dtype) for _ in range(3))
    h, c, b = packed[T], packed[T + 1], m.ascontiguousarray(b_hh)
    h[...], c[...] = h0, c0
    for t in _order(T, reverse):
        hprev[t], cprev[t] = h, c
        a = m.matmul(h * hmask, w_t)
        _step("lstm_fwd_step", (xw[t], a, b, m.ascontiguousarray(mask[t]), h, c, gates[t], tanh_c[t], packed[t]),
              B, H)
    return packed, (hprev, cprev, gates, tanh_c)


@register("lstm_backward", "gpu")
def lstm_backward_gpu(g, saved, w_hh, mask, hmask, reverse):
    m = xp(g)
    _, cprev, gates, tanh_c = saved
    T, B, H = cprev.shape
    g = m.ascontiguousarray(g)
    da, dh, dc = m.empty_like(gates), g[T].copy(), g[T + 1].copy()
    for t in _order(T, reverse, backward=True):
        keep = m.ascontiguousarray(mask[t])
        _step("lstm_bwd_step", (g[t], gates[t], tanh_c[t], cprev[t], keep, dh, dc, da[t]), B, H)
        dh = _held(keep, m.matmul(da[t], w_hh) * hmask, dh)
    return da, da, dh, dc


@register("gru_forward", "gpu")
def gru_forward_gpu(xw, w_hh, b_hh, h0, mask, hmask, reverse):
    m = xp(xw)
    xw, w_t = m.ascontiguousarray(xw), m.ascontiguousarray(w_hh.T)
    T, B, G = xw.shape
    H = G // 3
    packed, gates = m.zeros((T + 1, B, H), xw.dtype), m.empty_like(xw)
    hprev, un = m.empty((T, B, H), xw.dtype), m.empty((T, B, H), xw.dtype)
    h = m.array(h0, dtype=xw.dtype, order="C")
    for t in _order(T, reverse):
        hprev[t] = h
        u = m.matmul(h * hmask, w_t) + b_hh
        _step("gru_fwd_step", (xw[t], u, m.ascontiguousarray(mask[t]), h, gates[t], un[t], packed[t]), B, H)
    packed[T] = h
    return packed, (hprev, gates, un)


@register("gru_backward", "gpu")
def gru_backward_gpu(g, saved, w_hh, mask, hmask, reverse):
    m = xp(g)
    hprev, gates, un = saved
    T, B, H = hprev.shape
    g = m.ascontiguousarray(g)
    dxw, du, dh, direct = m.empty_like(gates), m.empty_like(gates), g[T].copy(), m.empty((B, H), g.dtype)
    for t in _order(T, reverse, backward=True):
        keep = m.ascontiguousarray(mask[t])
        _step("gru_bwd_step", (g[t], gates[t], un[t], hprev[t], keep, dh, dxw[t], du[t], direct), B, H)
        dh = _held(keep, m.matmul(du[t], w_hh) * hmask + direct, dh)
    return dxw, du, dh


# ---------------------------------------------------------------- contracts (backend.contract)
def _recurrence_contract(kernel, gates, xw, w_hh, b_hh, states, mask, hmask):
    """xw (T, B, gates H), W_hh (gates H, H), b_hh (gates H,), each state (B, H), mask (T, B) of bools,
    hmask (B, H), one float dtype."""
    checks.ndim(kernel, 3, xw=xw)
    checks.ndim(kernel, 2, w_hh=w_hh)
    checks.floating(kernel, xw=xw, w_hh=w_hh, b_hh=b_hh, hmask=hmask, **states)
    (T, B, G), H = xw.shape, w_hh.shape[1]
    checks.require(kernel, G == gates * H, f"xw of shape {tuple(xw.shape)} does not hold {gates} gates of "
                                           f"the hidden size {H} of w_hh {tuple(w_hh.shape)}")
    checks.shape(kernel, "w_hh", w_hh, (G, H))
    checks.shape(kernel, "b_hh", b_hh, (G,))
    for name, a in states.items():
        checks.shape(kernel, name, a, (B, H))
    checks.shape(kernel, "mask", mask, (T, B))
    checks.require(kernel, mask.dtype == np.bool_, f"mask must hold bools, got {mask.dtype}")
    checks.shape(kernel, "hmask", hmask, (B, H))


def _backward_contract(kernel, gates, g, saved, w_hh, mask, hmask):
    checks.floating(kernel, g=g, w_hh=w_hh, **{f"saved[{i}]": a for i, a in enumerate(saved)})
    T, B = mask.shape
    H = w_hh.shape[1]
    checks.shape(kernel, "w_hh", w_hh, (gates * H, H))
    checks.shape(kernel, "g", g, (T + (2 if gates == 4 else 1), B, H))  # the outputs, h_T (and c_T)
    for i, a in enumerate(saved):
        checks.shape(kernel, f"saved[{i}]", a, (T, B, a.shape[-1] if a.ndim == 3 else None))
        checks.require(kernel, a.shape[-1] in (H, gates * H), f"saved[{i}] of shape {tuple(a.shape)} does not fit H={H}")
    checks.shape(kernel, "hmask", hmask, (B, H))


@contract("rnn_forward")
def _rnn_forward_contract(xw, w_hh, b_hh, h0, mask, hmask, reverse, mode):
    checks.require("rnn_forward", mode in ("tanh", "relu"), f"mode must be 'tanh' or 'relu', got {mode!r}")
    _recurrence_contract("rnn_forward", 1, xw, w_hh, b_hh, {"h0": h0}, mask, hmask)


@contract("lstm_forward")
def _lstm_forward_contract(xw, w_hh, b_hh, h0, c0, mask, hmask, reverse):
    _recurrence_contract("lstm_forward", 4, xw, w_hh, b_hh, {"h0": h0, "c0": c0}, mask, hmask)


@contract("gru_forward")
def _gru_forward_contract(xw, w_hh, b_hh, h0, mask, hmask, reverse):
    _recurrence_contract("gru_forward", 3, xw, w_hh, b_hh, {"h0": h0}, mask, hmask)


@contract("rnn_backward")
def _rnn_backward_contract(g, saved, w_hh, mask, hmask, reverse, mode):
    _backward_contract("rnn_backward", 1, g, saved, w_hh, mask, hmask)


@contract("lstm_backward")
def _lstm_backward_contract(g, saved, w_hh, mask, hmask, reverse):
    _backward_contract("lstm_backward", 4, g, saved, w_hh, mask, hmask)


@contract("gru_backward")
def _gru_backward_contract(g, saved, w_hh, mask, hmask, reverse):
    _backward_contract("gru_backward", 3, g, saved, w_hh, mask, hmask)
