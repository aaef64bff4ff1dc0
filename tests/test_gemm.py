"""The packed micro-kernel product (kernels/gemm.py) held to its plain twin, a @ b: drawn shapes with the
awkward cases (one row, one column, depth 0 and 1, sizes that are not multiples of the tile), strided
operands, accumulation, and no write outside the output."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tinygrad_lm.kernels import gemm


def _operands(m, k, n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)


def _assert_product(c, a, b, scale=1.0):
    """c equals scale * a @ b to float32's rounding of a k-term sum: |error| <= k eps sum_k |a||b|."""
    exact = a.astype(np.float64) @ b.astype(np.float64) * scale
    bound = (a.shape[1] + 2) * np.finfo(np.float32).eps * (np.abs(a).astype(np.float64) @ np.abs(b)) * abs(scale)
    assert np.all(np.abs(c - exact) <= bound + 1e-30), np.abs(c - exact).max()


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 40), k=st.integers(0, 70), n=st.integers(1, 150), seed=st.integers(0, 99))
@example(m=1, k=1, n=1, seed=0)
@example(m=gemm.MR, k=3, n=gemm.NR, seed=0)  # exactly one tile
@example(m=gemm.MR + 1, k=5, n=gemm.NR * gemm.PANELS + 1, seed=1)  # a row and a column past whole tiles
def test_matmul_equals_the_plain_product(m, k, n, seed):
    a, b = _operands(m, k, n, seed)
    _assert_product(gemm.matmul(a, b), a, b)


@settings(max_examples=20, deadline=None)
@given(m=st.integers(1, 20), k=st.integers(1, 40), n=st.integers(1, 100), seed=st.integers(0, 99))
def test_accumulate_adds_to_the_output(m, k, n, seed):
    a, b = _operands(m, k, n, seed)
    out = gemm.matmul(a, b)
    gemm.matmul(a, b, out=out, accumulate=True)
    _assert_product(out, a, b, scale=2.0)


def test_strided_operands_and_no_write_outside_the_output():
    a, b = _operands(gemm.MR + 1, 37, 2 * gemm.NR + 5, 3)
    m, n = a.shape[0], b.shape[1]
    buffer = np.full(m * n + gemm.NR * gemm.MR, 7.0, dtype=np.float32)
    out = buffer[: m * n].reshape(m, n)  # the partial last tile must not spill past the last row
    gemm.matmul(np.asfortranarray(a), np.ascontiguousarray(b.T).T, out=out)
    _assert_product(out, a, b)
    assert np.all(buffer[m * n:] == 7.0)
    with pytest.raises(ValueError, match="C-contiguous"):
        gemm.matmul(a, b, out=np.empty((n, m), dtype=np.float32).T)


def test_packed_layouts():
    a, b = _operands(gemm.MR + 2, 3, gemm.NR + 1, 0)
    ap, bp = gemm.pack(a, gemm.MR), gemm.pack(b, gemm.NR)
    assert ap.shape == (2, 3, gemm.MR) and bp.shape == (2, 3, gemm.NR)
    assert ap[1, 2, 1] == a[gemm.MR + 1, 2] and np.all(ap[1, :, 2:] == 0)  # rows past M are zero
    assert bp[1, 2, 0] == b[2, gemm.NR] and np.all(bp[1, :, 1:] == 0)  # columns past N are zero
