"""float32 matrix products C = A B on packed operands, for the conv and LSTM kernels: a register-blocked
micro-kernel (the GotoBLAS design) that Numba compiles from a few lines of LLVM IR, and its plain twin
``a @ b``.

Why not NumPy's BLAS: the conv and LSTM products are skinny (64 x 288 by 288 x 16384; 32 x 512 by
512 x 2048 once per time step), and OpenBLAS repacks both operands on every call; it reaches 105-130
GFLOP/s on them against 185 on a large square product (2 AVX-512 cores). Here the caller keeps its
operands packed (the weights once per step or sequence; im2col writes its columns packed in the first
place), and the micro-kernel reaches ~185 on the conv shapes.

Layouts (MR rows of A by NR columns of B, the register tile; VW floats a vector register):

    A packed  ap[mb, k, r] = A[mb MR + r, k]     (ceil(M / MR), K, MR), zero rows past M
    B packed  bp[nb, k, l] = B[k, nb NR + l]     (ceil(N / NR), K, NR), zero columns past N

The micro-kernel computes one MR x NR tile of C = A B over all K with MR x NR / VW vector accumulators
held in registers: per k, NR / VW vector loads of B, MR broadcasts of A, MR NR / VW fused multiply-adds.
Numba's loops do not reach this (LLVM keeps such accumulators in memory or does not vectorise them: 10-19
GFLOP/s measured), so the loop is written in LLVM IR with vector types; LLVM then picks the instructions
of the CPU it runs on (AVX-512, AVX2 or SSE). The tile is 6 x 32 on AVX-512 (12 of its 32 vector
registers accumulate) and 6 x 16 on other CPUs (12 of 16).
"""
from __future__ import annotations

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .threads import in_ranges

VW = 16 if "+avx512f" in llvm.get_host_cpu_features().flatten() else 8  # floats in a vector register
MR, NR = 6, 2 * VW  # the register tile: MR rows of A by NR columns of B
PANELS = 8  # B's panels a block of the loop over tiles keeps in cache (8 x 288 x 32 floats: 288 KB)


@intrinsic
def _tile(typingctx, a_addr, a_offs, a_ks, b_addr, b_offs, c_addr, c_offs, depth, rows, accumulate):
    """C[:rows, :NR] (+)= A B over ``depth`` k, float32 at raw addresses, offsets in floats read from int64
    arrays (at a_offs, b_offs, c_offs): A[r, k] at a_addr + a_offs[r] + k a_ks, B's row k (NR contiguous
    floats) at b_addr + b_offs[k], C's row r at c_addr + c_offs[r]; rows <= MR, a_offs and c_offs hold MR.
    Offsets rather than strides let a convolution read its input and write its input's gradient in place."""
    f32 = ir.FloatType()
    vec, i64 = ir.VectorType(f32, VW), ir.IntType(64)
    sig = types.void(*[types.intp] * 9, types.boolean)

    def const(v):
        return ir.Constant(i64, v)

    def codegen(context, builder, signature, args):
        a_addr, a_offs, a_ks, b_addr, b_offs, c_addr, c_offs, depth, rows, accumulate = args
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{VW}f32")
        ap, bp, cp = (builder.inttoptr(p, f32.as_pointer()) for p in (a_addr, b_addr, c_addr))
        aoff, boff, coff = (builder.inttoptr(p, i64.as_pointer()) for p in (a_offs, b_offs, c_offs))
        arows = [builder.gep(ap, [builder.load(builder.gep(aoff, [const(r)]))]) for r in range(MR)]
        zero, lane0 = ir.Constant(vec, [0.0] * VW), ir.Constant(ir.VectorType(ir.IntType(32), VW), [0] * VW)
        entry = builder.block
        loop, done = builder.append_basic_block("tile.loop"), builder.append_basic_block("tile.done")
        builder.cbranch(builder.icmp_signed(">", depth, const(0)), loop, done)

        builder.position_at_end(loop)  # for k in range(depth): acc[r][v] += A[r, k] * B[k, v VW : (v+1) VW]
        k = builder.phi(i64)
        acc = [builder.phi(vec) for _ in range(MR * 2)]
        brow, ak = builder.gep(bp, [builder.load(builder.gep(boff, [k]))]), builder.mul(k, a_ks)
        b = [builder.load(builder.bitcast(builder.gep(brow, [const(v * VW)]), vec.as_pointer()), align=4)
             for v in range(2)]
        new = []
        for r in range(MR):
            a = builder.insert_element(ir.Constant(vec, ir.Undefined), builder.load(builder.gep(arows[r], [ak])),
                                       ir.Constant(ir.IntType(32), 0))
            a = builder.shuffle_vector(a, a, lane0)  # A[r, k] in every lane
            new += [builder.call(fma, [a, b[v], acc[2 * r + v]]) for v in range(2)]
        k_next = builder.add(k, const(1))
        k.add_incoming(const(0), entry)
        k.add_incoming(k_next, loop)
        for phi, value in zip(acc, new, strict=True):
            phi.add_incoming(zero, entry)
            phi.add_incoming(value, loop)
        builder.cbranch(builder.icmp_signed("<", k_next, depth), loop, done)

        builder.position_at_end(done)  # then store (or add) the rows asked for, one after the other
        totals = []
        for value in new:
            total = builder.phi(vec)
            total.add_incoming(zero, entry)
            total.add_incoming(value, loop)
            totals.append(total)
        for r in range(MR):
            with builder.if_then(builder.icmp_signed(">", rows, const(r))):
                crow = builder.gep(cp, [builder.load(builder.gep(coff, [const(r)]))])
                for v in range(2):
                    ptr = builder.bitcast(builder.gep(crow, [const(v * VW)]), vec.as_pointer())
                    with builder.if_else(accumulate) as (add, store):
                        with add:
                            builder.store(builder.fadd(builder.load(ptr, align=4), totals[2 * r + v]), ptr, align=4)
                        with store:
                            builder.store(totals[2 * r + v], ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _peek(typingctx, addr):
    """The float32 at a raw address."""
    def codegen(context, builder, signature, args):
        return builder.load(builder.inttoptr(args[0], ir.FloatType().as_pointer()))
    return types.float32(types.intp), codegen


@intrinsic
def _poke(typingctx, addr, value, accumulate):
    """Stores (or adds) a float32 at a raw address."""
    def codegen(context, builder, signature, args):
        ptr = builder.inttoptr(args[0], ir.FloatType().as_pointer())
        builder.store(builder.select(args[2], builder.fadd(builder.load(ptr), args[1]), args[1]), ptr)
        return context.get_dummy_value()
    return types.void(types.intp, types.float32, types.boolean), codegen


# ---------------------------------------------------------------- packing and the loops over tiles
@njit(cache=True, nogil=True)
def pack_a(a, out):
    """out[mb, k, r] = a[mb MR + r, k] (0 past the last row): ``a`` (M, K) any strides, out (ceil(M/MR), K, MR)."""
    M, K = a.shape
    for mb in range(out.shape[0]):
        for k in range(K):
            for r in range(MR):
                m = mb * MR + r
                out[mb, k, r] = a[m, k] if m < M else 0


@njit(cache=True, nogil=True)
def pack_b(b, out):
    """out[nb, k, l] = b[k, nb NR + l] (0 past the last column): ``b`` (K, N) any strides, out (ceil(N/NR), K, NR)."""
    K, N = b.shape
    for nb in range(out.shape[0]):
        for k in range(K):
            for l in range(NR):
                n = nb * NR + l
                out[nb, k, l] = b[k, n] if n < N else 0


@njit(cache=True, nogil=True)  # callers pass np.int64 and np.bool_, not literals: one compiled copy
def gemm_at(a0, a_offs, a_ks, b0, b_offs, b_ps, c0, c_offs, n, p0, p1, accumulate):
    """C[m, j] = (or +=) sum_k A[m, k] B[k, j] for the columns j of C's panels p0..p1-1 (NR columns each, of n),
    float32 at raw addresses with offsets in floats: A[m, k] at a0 + a_offs[m] + k a_ks, B[k, j] at b0 +
    (j // NR) b_ps + b_offs[k] + j % NR, C[m, j] at c0 + c_offs[m] + j; m < len(a_offs) = len(c_offs),
    k < len(b_offs). A partial last panel of B is copied into a zero-padded one, and its tile goes through
    a scratch tile, so nothing is read or written past column n."""
    M, depth = a_offs.shape[0], b_offs.shape[0]
    blocks = (M + MR - 1) // MR
    a_pad, c_pad = np.empty(blocks * MR, np.int64), np.empty(blocks * MR, np.int64)
    for m in range(blocks * MR):  # the rows of a last partial block read row M-1 again (and are not stored)
        a_pad[m], c_pad[m] = a_offs[min(m, M - 1)], c_offs[min(m, M - 1)]
    lanes, last, scratch = np.arange(MR, dtype=np.int64) * NR, np.zeros((depth, NR), np.float32), np.zeros((MR, NR), np.float32)
    last_offs = np.arange(depth, dtype=np.int64) * NR
    for q0 in range(p0, p1, PANELS):  # a block of B's panels stays in cache while every row block uses it,
        for mb in range(blocks):  # and each row of C is written in runs of PANELS NR floats
            rows = min(MR, M - mb * MR)
            a_rows, c_rows = a_pad[mb * MR:].ctypes.data, c_pad[mb * MR:].ctypes.data
            for nb in range(q0, min(q0 + PANELS, p1)):
                width = min(NR, n - nb * NR)
                if width == NR:
                    _tile(a0, a_rows, a_ks, b0 + nb * b_ps * 4, b_offs.ctypes.data, c0 + nb * NR * 4, c_rows, depth,
                          rows, accumulate)
                    continue
                if mb == 0:
                    for k in range(depth):
                        for lane in range(width):
                            last[k, lane] = _peek(b0 + (nb * b_ps + b_offs[k] + lane) * 4)
                _tile(a0, a_rows, a_ks, last.ctypes.data, last_offs.ctypes.data, scratch.ctypes.data, lanes.ctypes.data,
                      depth, rows, False)
                for r in range(rows):
                    for lane in range(width):
                        _poke(c0 + (c_pad[mb * MR + r] + nb * NR + lane) * 4, scratch[r, lane], accumulate)


def _check_out(c):
    if not (c.flags.c_contiguous and c.dtype == np.float32):
        raise ValueError(f"gemm: the output must be a C-contiguous float32 array, got {c.dtype} with strides "
                         f"{c.strides}")


@njit(cache=True, nogil=True)
def gemm_packed(ap, bp, c, p0, p1, accumulate):
    """c[:, panels p0..p1-1] = (or +=) A B from packed A (ap) and packed B (bp); c (M, N) C-contiguous."""
    M, N = c.shape
    depth = ap.shape[1]
    m = np.arange(M)
    gemm_at(ap.ctypes.data, (m // MR) * depth * MR + m % MR, np.int64(MR), bp.ctypes.data, np.arange(depth) * NR,
            np.int64(depth * NR), c.ctypes.data, m * N, np.int64(N), np.int64(p0), np.int64(p1), np.bool_(accumulate))


@njit(cache=True, nogil=True)
def gemm_strided(a, bp, c, p0, p1, accumulate):
    """As gemm_packed, with A any float32 2-D array (M, K) read where it lies (its strides: a transposed
    view is as good), unpacked."""
    M, N = c.shape
    depth = a.shape[1]
    gemm_at(a.ctypes.data, np.arange(M) * (a.strides[0] // 4), np.int64(a.strides[1] // 4), bp.ctypes.data,
            np.arange(depth) * NR, np.int64(depth * NR), c.ctypes.data, np.arange(M) * N, np.int64(N), np.int64(p0),
            np.int64(p1), np.bool_(accumulate))


@njit(cache=True, nogil=True)
def gemm_rows(a, b, c, accumulate):
    """c = (or +=) A B with A any float32 2-D array (as gemm_strided) and B (K, N) C-contiguous, unpacked: its
    rows are read in place, NR columns at a time (fast while B is in cache, as a sample's columns are)."""
    M, N = c.shape
    depth = a.shape[1]
    gemm_at(a.ctypes.data, np.arange(M) * (a.strides[0] // 4), np.int64(a.strides[1] // 4), b.ctypes.data,
            np.arange(depth) * b.shape[1], np.int64(NR), c.ctypes.data, np.arange(M) * N, np.int64(N), np.int64(0),
            np.int64((N + NR - 1) // NR), np.bool_(accumulate))


def packed_shape(rows: int, depth: int, tile: int) -> tuple[int, int, int]:
    """The shape of a packed operand: ``rows`` rows of A (tile=MR) or columns of B (tile=NR) over ``depth``."""
    return -(-rows // tile), depth, tile


def matmul_packed(ap, bp, out, accumulate=False):
    """out (M, N) = (or +=) A B from packed A and B, the panels of B split over the cores."""
    _check_out(out)
    in_ranges(lambda p0, p1: gemm_packed(ap, bp, out, p0, p1, accumulate), bp.shape[0],
              out.shape[0] * out.shape[1] * ap.shape[1] // 16)
    return out


def pack(a, tile):
    """A (tile=MR) or B (tile=NR) packed: a fresh array (float32)."""
    if tile == MR:
        out = np.empty(packed_shape(a.shape[0], a.shape[1], MR), dtype=np.float32)
        pack_a(a, out)
    else:
        out = np.empty(packed_shape(a.shape[1], a.shape[0], NR), dtype=np.float32)
        pack_b(a, out)
    return out


def matmul(a, b, out=None, accumulate=False):
    """a @ b for float32 2-D arrays through the micro-kernel (both packed here): the 'cpu' kernel 'gemm'."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32) if out is None else out
    return matmul_packed(pack(a, MR), pack(b, NR), out, accumulate)
