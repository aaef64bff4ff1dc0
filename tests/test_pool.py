"""Pooling (D3.F2): max, average and adaptive average against PyTorch over drawn configurations,
gradcheck away from ties, the Numba and CuPy kernels held to the textbook twin, nn layers."""
import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import backend, nn
from tinygrad_lm.kernels import threads
from tinygrad_lm.ops.pool import pool_geometry
from helpers import assert_close, compare_with_torch


def distinct(shape, seed):
    """Values 0.01 apart in random order: no ties, so max pooling has one answer and no kinks nearby."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))) * 0.01 - 1.0).reshape(shape)


@st.composite
def pool_configs(draw, dilation=True):
    """Stride 1-3 unlike the kernel, padding up to half the kernel, dilation, ceil mode, batch 1, odd sizes."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    pad = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    h = dil[0] * (kh - 1) + 1 + draw(st.integers(0, 6))
    w = dil[1] * (kw - 1) + 1 + draw(st.integers(0, 6))
    return dict(shape=(draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w), kernel_size=(kh, kw), stride=stride,
                padding=pad, dilation=dil, ceil_mode=draw(st.booleans()), seed=draw(st.integers(0, 99)))


def _max_opts(c):
    return dict(kernel_size=c["kernel_size"], stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                ceil_mode=c["ceil_mode"])


def _avg_opts(c, include_pad):
    return dict(kernel_size=c["kernel_size"], stride=c["stride"], padding=c["padding"], ceil_mode=c["ceil_mode"],
                count_include_pad=include_pad)


@pytest.mark.parametrize("impl", [False, True], ids=["numba", "textbook"])
@settings(max_examples=25, deadline=None)
@given(c=pool_configs())
def test_max_pool2d_matches_torch(impl, c):
    old, backend.PLAIN = backend.PLAIN, impl
    try:
        compare_with_torch(lambda x: F.max_pool2d(x, **_max_opts(c)),
                           lambda x: torch.nn.functional.max_pool2d(x, **_max_opts(c)), [distinct(c["shape"], c["seed"])])
    finally:
        backend.PLAIN = old


@pytest.mark.parametrize("impl", [False, True], ids=["numba", "textbook"])
@settings(max_examples=25, deadline=None)
@given(c=pool_configs(dilation=False), include_pad=st.booleans())
@example(c=dict(shape=(1, 2, 7, 8), kernel_size=(1, 2), stride=(3, 3), padding=(0, 1), dilation=(1, 1),
                ceil_mode=False, seed=0), include_pad=True)  # stride past the kernel: rows no window covers
def test_avg_pool2d_matches_torch(impl, c, include_pad):
    old, backend.PLAIN = backend.PLAIN, impl
    try:
        x = np.random.default_rng(c["seed"]).standard_normal(c["shape"])
        compare_with_torch(lambda x: F.avg_pool2d(x, **_avg_opts(c, include_pad)),
                           lambda x: torch.nn.functional.avg_pool2d(x, **_avg_opts(c, include_pad)), [x])
    finally:
        backend.PLAIN = old


def kernel_outputs(impl, c, include_pad, dtype):
    """Every pooling kernel's outputs on the drawn configuration, from implementation ``impl``: max (value,
    argmax, gradient), average and adaptive average (value, gradient)."""
    x = distinct(c["shape"], c["seed"]).astype(dtype)
    kernel, geom, out = pool_geometry("max_pool2d", x.shape, c["kernel_size"], c["stride"], c["padding"],
                                      c["dilation"], c["ceil_mode"])
    g = np.random.default_rng(1).standard_normal((*x.shape[:2], *out)).astype(dtype)
    z, idx = backend.kernel("max_pool2d_forward", impl=impl)(x, geom, kernel, out)
    dx = backend.kernel("max_pool2d_backward", impl=impl)(g, idx, x.shape)
    kernel_a, geom_a, out_a = pool_geometry("avg_pool2d", x.shape, c["kernel_size"], c["stride"], c["padding"], 1,
                                            c["ceil_mode"])
    za = backend.kernel("avg_pool2d_forward", impl=impl)(x, geom_a, kernel_a, out_a, include_pad)
    ga = np.random.default_rng(2).standard_normal(za.shape).astype(dtype)
    dxa = backend.kernel("avg_pool2d_backward", impl=impl)(ga, x.shape, geom_a, kernel_a, include_pad)
    zd = backend.kernel("adaptive_avg_pool2d_forward", impl=impl)(x, out)
    dxd = backend.kernel("adaptive_avg_pool2d_backward", impl=impl)(g, x.shape)
    return dict(max=z, argmax=idx, max_grad=dx, avg=za, avg_grad=dxa, adaptive=zd, adaptive_grad=dxd)


def assert_kernels_equal(impl, c, include_pad, dtype):
    """``impl``'s pooling kernels equal the textbook twin's, in the input's dtype."""
    ours, twin = kernel_outputs(impl, c, include_pad, dtype), kernel_outputs("plain", c, include_pad, dtype)
    for what, a in ours.items():
        assert a.dtype == (np.int32 if what == "argmax" else dtype), what
        assert_close(a, twin[what], dtype, what)


@settings(max_examples=25, deadline=None)
@given(c=pool_configs(), include_pad=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       parts=st.integers(1, 3))
def test_numba_kernels_equal_textbook_twin(c, include_pad, dtype, parts):
    """``parts``: the kernels over the (sample, channel) planes in that many ranges, as on that many threads."""
    old, threads.parts = threads.parts, lambda n, work: min(parts, n)
    try:
        assert_kernels_equal("cpu", c, include_pad, dtype)
    finally:
        threads.parts = old


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 7), st.integers(2, 7)),
       seed=st.integers(0, 99), dtype=st.sampled_from([np.float32, np.float64]), parts=st.integers(1, 3))
def test_max_pool_2x2_path_equals_textbook_twin(shape, seed, dtype, parts):
    """The 2x2 stride-2 kernel (odd sizes drop the last row or column, as floor mode does): ties go to the
    first maximum in scan order and a NaN wins, as in the twin (values from {-1, 0, 1} with NaNs)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, shape).astype(dtype)
    x[rng.random(shape) < 0.1] = np.nan
    kernel, geom, out = pool_geometry("max_pool2d", shape, 2, None, 0, 1, False)
    g = rng.standard_normal((*shape[:2], *out)).astype(dtype)
    old, threads.parts = threads.parts, lambda n, work: min(parts, n)
    try:
        z, idx = backend.kernel("max_pool2d_forward", impl="cpu")(x, geom, kernel, out)
        dx = backend.kernel("max_pool2d_backward", impl="cpu")(g, idx, shape)
    finally:
        threads.parts = old
    zt, idxt = backend.kernel("max_pool2d_forward", impl="plain")(x, geom, kernel, out)
    np.testing.assert_array_equal(z, zt)  # (NaN equal to NaN)
    np.testing.assert_array_equal(idx, idxt)
    np.testing.assert_array_equal(dx, backend.kernel("max_pool2d_backward", impl="plain")(g, idxt, shape))


def test_gradcheck_pools():
    x = tg.tensor(distinct((2, 3, 7, 6), 0), requires_grad=True)
    assert tg.gradcheck(lambda x: F.max_pool2d(x, (3, 2), stride=(2, 1), padding=1), [x])
    assert tg.gradcheck(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), [x])
    assert tg.gradcheck(lambda x: F.adaptive_avg_pool2d(x, (3, 4)), [x])


@pytest.mark.parametrize("impl", [False, True], ids=["numba", "textbook"])
@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), oh=st.integers(1, 6), ow=st.one_of(st.none(), st.integers(1, 6)))
def test_adaptive_avg_pool2d_matches_torch(impl, h, w, oh, ow):
    old, backend.PLAIN = backend.PLAIN, impl
    try:
        x = np.random.default_rng(h * 13 + w).standard_normal((2, 3, h, w))
        compare_with_torch(lambda x: F.adaptive_avg_pool2d(x, (oh, ow)),
                           lambda x: torch.nn.functional.adaptive_avg_pool2d(x, (oh, ow)), [x])
    finally:
        backend.PLAIN = old


def test_float32_kept_indices_and_unbatched():
    x = distinct((2, 4, 9, 8), 1)
    out = compare_with_torch(lambda x: F.max_pool2d(x, 2), lambda x: torch.nn.functional.max_pool2d(x, 2), [x],
                             dtype=np.float32)
    assert out.dtype == np.float32
    z, idx = F.max_pool2d(tg.tensor(x), 3, 2, 1, return_indices=True)
    tz, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    assert_close(z, tz)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    compare_with_torch(lambda x: F.avg_pool2d(x, 2), lambda x: torch.nn.functional.avg_pool2d(x, 2), [x[0]])


def test_pool_errors_and_layers():
    with pytest.raises(ValueError, match="half"):
        F.max_pool2d(tg.randn(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.MaxPool2d(0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.avg_pool2d(tg.randn(8, 8), 2)
    x = distinct((2, 3, 10, 10), 2)
    for ours, theirs in ((nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
                         (nn.AvgPool2d(2, count_include_pad=False), torch.nn.AvgPool2d(2, count_include_pad=False)),
                         (nn.AdaptiveAvgPool2d((3, None)), torch.nn.AdaptiveAvgPool2d((3, None)))):
        assert_close(ours(tg.tensor(x)), theirs(torch.tensor(x)))


@pytest.mark.gpu
@settings(max_examples=10, deadline=None)
@given(c=pool_configs(), include_pad=st.booleans())
def test_cupy_kernels_equal_textbook_twin(c, include_pad):
    cp = backend.cupy()
    x = distinct(c["shape"], c["seed"])
    kernel, geom, out = pool_geometry("max_pool2d", x.shape, c["kernel_size"], c["stride"], c["padding"],
                                      c["dilation"], c["ceil_mode"])
    g = np.random.default_rng(1).standard_normal((*x.shape[:2], *out))
    z, idx = backend.kernel("max_pool2d_forward", impl="plain")(x, geom, kernel, out)
    zg, idxg = backend.kernel("max_pool2d_forward", "cuda")(cp.asarray(x), geom, kernel, out)
    assert_close(cp.asnumpy(zg), z)
    dx = backend.kernel("max_pool2d_backward", impl="plain")(g, idx, x.shape)
    assert_close(cp.asnumpy(backend.kernel("max_pool2d_backward", "cuda")(cp.asarray(g), idxg, x.shape)), dx)
    kernel, geom, out = pool_geometry("avg_pool2d", x.shape, c["kernel_size"], c["stride"], c["padding"], 1,
                                      c["ceil_mode"])
    za = backend.kernel("avg_pool2d_forward", impl="plain")(x, geom, kernel, out, include_pad)
    assert_close(cp.asnumpy(backend.kernel("avg_pool2d_forward", "cuda")(cp.asarray(x), geom, kernel, out,
                                                                           include_pad)), za)
    ga = np.ones(za.shape)
    dxa = backend.kernel("avg_pool2d_backward", impl="plain")(ga, x.shape, geom, kernel, include_pad)
    assert_close(cp.asnumpy(backend.kernel("avg_pool2d_backward", "cuda")(cp.asarray(ga), x.shape, geom, kernel,
                                                                           include_pad)), dxa)
    zd = backend.kernel("adaptive_avg_pool2d_forward", impl="plain")(x, out)
    assert_close(cp.asnumpy(backend.kernel("adaptive_avg_pool2d_forward", "cuda")(cp.asarray(x), out)), zd)
    gd = np.random.default_rng(3).standard_normal(zd.shape)
    dxd = backend.kernel("adaptive_avg_pool2d_backward", impl="plain")(gd, x.shape)
    assert_close(cp.asnumpy(backend.kernel("adaptive_avg_pool2d_backward", "cuda")(cp.asarray(gd), x.shape)), dxd)
