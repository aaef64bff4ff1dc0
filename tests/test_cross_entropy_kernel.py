"""The float32 cross-entropy kernel (its own vectorized exp) against the plain twin: accuracy over
the whole range of exp's argument, and the special values a training run meets (masked -inf
logits, NaN, +inf), which must come out as the plain twin gives them."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_lm import backend
from tinygrad_lm.kernels.cross_entropy import KERNEL_MIN_SIZE


def _both(x, t, w, eps=0.0, ignore=-100, g=None):
    g = np.ones(x.shape[0], x.dtype) if g is None else g
    out = {}
    for impl in ("plain", "cpu"):
        loss, lse = backend.kernel("cross_entropy_forward", impl=impl)(x, t, w, ignore, eps)
        grad = backend.kernel("cross_entropy_backward", impl=impl)(x, lse, t, w, ignore, eps, g)
        out[impl] = loss, lse, grad
    return out


@settings(max_examples=8, deadline=None)
@given(scale=st.sampled_from([0.01, 1.0, 30.0, 200.0]), seed=st.integers(0, 2**16), eps=st.sampled_from([0.0, 0.2]))
def test_float32_kernel_equals_plain_over_the_range_of_exp(scale, seed, eps):
    rng = np.random.default_rng(seed)
    M, C = 16, KERNEL_MIN_SIZE // 16 + 3
    x = (scale * rng.standard_normal((M, C))).astype(np.float32)  # scale 200: most exps underflow
    t, w = rng.integers(0, C, M), (rng.random(C) + 0.5).astype(np.float32)
    g = rng.standard_normal(M).astype(np.float32)
    out = _both(x, t, w, eps, g=g)
    for a, b, name in zip(out["plain"], out["cpu"], ("loss", "lse", "grad"), strict=True):
        assert b.dtype == np.float32, name
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6 * max(1.0, float(np.abs(a).max())), err_msg=name)


def test_float32_kernel_special_values_match_plain():
    rng = np.random.default_rng(0)
    M, C = 8, KERNEL_MIN_SIZE // 8 + 1
    x = rng.standard_normal((M, C)).astype(np.float32)
    x[1, 7] = np.nan
    x[2, 9] = np.inf
    x[3, 100:200] = -np.inf  # masked logits
    t = np.arange(M)
    with np.errstate(invalid="ignore"):
        out = _both(x, t, np.ones(C, np.float32))
    for a, b in zip(out["plain"], out["cpu"], strict=True):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(a)
        np.testing.assert_allclose(b[ok], a[ok], rtol=2e-5, atol=1e-6)
    grad = out["cpu"][2]
    assert np.all(grad[3, 100:200] == 0)  # a masked logit gets exactly no gradient
    assert np.isnan(grad[1]).all() and np.isnan(out["cpu"][0][1])


@pytest.mark.parametrize("ignore", [-100, 2])
def test_ignored_rows_get_zero_gradient(ignore):
    rng = np.random.default_rng(1)
    M, C = 6, KERNEL_MIN_SIZE // 6 + 5
    x = rng.standard_normal((M, C)).astype(np.float32)
    t = np.array([0, 2, ignore, 2, 5, 1])  # with ignore = 2, three ignored rows; any other value is a class
    out = _both(x, t, np.ones(C, np.float32), ignore=ignore)
    for row in np.flatnonzero(t == ignore):
        assert np.all(out["cpu"][2][row] == 0) and out["cpu"][0][row] == 0
    np.testing.assert_allclose(out["cpu"][2], out["plain"][2], rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_split_over_threads_equal_plain(dtype):
    """Above threads.MIN_WORK logits the rows go in ranges, one per thread: every row of every range (the
    ignored ones too, whose gradient rows are written as zeros) equals the plain twin."""
    from tinygrad_lm.kernels import threads

    rng = np.random.default_rng(2)
    M, C = 37, threads.MIN_WORK // 16 + 1  # ~ 2.3 MIN_WORK: ranges of uneven length
    x = rng.standard_normal((M, C)).astype(dtype)
    t = rng.integers(0, C, M)
    t[[0, 18, 36]] = 5  # ignored rows at the start, middle and end
    g = rng.standard_normal(M).astype(dtype)
    out = _both(x, t, (rng.random(C) + 0.5).astype(dtype), eps=0.1, ignore=5, g=g)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for a, b, name in zip(out["plain"], out["cpu"], ("loss", "lse", "grad"), strict=True):
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol * max(1.0, float(np.abs(a).max())), err_msg=name)
    assert np.all(out["cpu"][2][[0, 18, 36]] == 0)
