"""conv2d (D3.F1, D4.F1): PyTorch's forward and gradients over drawn configurations, gradcheck,
the Numba and CuPy kernels held to the textbook twin, dtypes, errors, nn.Conv2d."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import autograd, backend, nn, ops
from tinygrad_lm.kernels import threads
from helpers import assert_close, compare_with_torch


@st.composite
def conv_configs(draw):
    """Awkward cases: batch 1, one input channel, odd and non-square sizes and kernels, stride 1-3,
    padding 0-2, dilation 1-2, groups."""
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]) + draw(st.integers(0, 6))
    w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]) + draw(st.integers(0, 6))
    return dict(n=draw(st.integers(1, 3)), cin=cin, cout=cout, h=h, w=w, k=(kh, kw), stride=stride,
                padding=padding, dilation=dilation, groups=groups, bias=draw(st.booleans()), seed=draw(st.integers(0, 99)))


def _arrays(c, dtype=np.float64):
    rng = np.random.default_rng(c["seed"])
    arrays = [rng.standard_normal((c["n"], c["cin"], c["h"], c["w"])),
              rng.standard_normal((c["cout"], c["cin"] // c["groups"], *c["k"]))]
    if c["bias"]:
        arrays.append(rng.standard_normal(c["cout"]))
    return [a.astype(dtype) for a in arrays]


def _opts(c):
    return dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])


@pytest.mark.parametrize("plain", [False, True], ids=["numba", "textbook"])
@settings(max_examples=25, deadline=None)
@given(c=conv_configs())
def test_conv2d_matches_torch(plain, c):
    old = backend.PLAIN
    backend.PLAIN = plain
    try:
        compare_with_torch(lambda *a: F.conv2d(*a, **_opts(c)), lambda *a: torch.nn.functional.conv2d(*a, **_opts(c)),
                           _arrays(c))
    finally:
        backend.PLAIN = old


def assert_kernels_equal(impl, c, dtype, relu=False):
    """``impl``'s conv kernels (output with the bias if drawn, and the ReLU if ``relu``; input, weight and
    bias gradients) equal the textbook twin's, in the input's dtype."""
    x, w, *b = _arrays(c, dtype)
    bias = b[0] if b else None
    geom = (*c["stride"], *c["padding"], *c["dilation"])
    outs = {}
    for name in (impl, "plain"):
        y, saved = backend.kernel("conv2d_forward", impl=name)(x, w, geom, c["groups"], bias, relu)
        g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        outs[name] = (y, *backend.kernel("conv2d_backward", impl=name)(g, x, w, saved, geom, c["groups"], True, True,
                                                                       bias is not None, y if relu else None))
    for a, b, what in zip(outs[impl], outs["plain"], ("y", "dx", "dw", "db"), strict=True):
        if bias is None and what == "db":
            assert a is None and b is None
            continue
        assert a.dtype == dtype, what
        assert_close(a, b, dtype, what)


@settings(max_examples=25, deadline=None)
@given(c=conv_configs(), dtype=st.sampled_from([np.float32, np.float64]), parts=st.integers(1, 3),
       relu=st.booleans())
def test_numba_kernels_equal_textbook_twin(c, dtype, parts, relu):
    """``parts``: im2col / col2im over the samples in that many ranges, as on that many threads."""
    old, threads.parts = threads.parts, lambda n, work: parts
    try:
        assert_kernels_equal("cpu", c, dtype, relu)
    finally:
        threads.parts = old


@pytest.mark.parametrize("k, padding, dilation", [((3, 3), (1, 1), (1, 1)), ((5, 3), (2, 1), (1, 1)),
                                                  ((3, 3), (2, 2), (2, 2)), ((1, 3), (0, 1), (1, 1)),
                                                  ((3, 2), (1, 1), (1, 2)), ((4, 4), (2, 2), (1, 1))])
@pytest.mark.parametrize("parts", [1, 2])
def test_same_size_stride_1_kernels_equal_textbook_twin(k, padding, dilation, parts):
    """Stride 1 with the output as wide as the input takes im2col / col2im's flat path (one shifted run per
    plane, wrapped columns zeroed), with the image 1 to 5 rows high (kernel taller than the image too)."""
    old, threads.parts = threads.parts, lambda n, work: parts
    try:
        for h in range(1, 6):
            c = dict(n=3, cin=4, cout=6, h=h, w=5, k=k, stride=(1, 1), padding=padding, dilation=dilation, groups=2,
                     bias=True, seed=h)
            if h + 2 * padding[0] - dilation[0] * (k[0] - 1) >= 1:
                assert_kernels_equal("cpu", c, np.float64)
    finally:
        threads.parts = old


@pytest.mark.parametrize("n, cin, cout, hw, k, stride, padding, dilation", [
    (3, 8, 13, (7, 9), (3, 3), (1, 1), (1, 1), (1, 1)),   # 13 output channels: two row tiles and a partial one
    (2, 32, 64, (6, 6), (3, 3), (1, 1), (0, 0), (1, 1)),  # 288 rows of cols: nine panels of 32 (AVX-512)
    (1, 3, 32, (11, 10), (5, 5), (2, 2), (2, 2), (1, 1)),  # stride 2: the batch-wide path
    (2, 40, 7, (5, 5), (1, 1), (1, 1), (0, 0), (1, 1)),   # 25 positions: one partial panel
    (2, 5, 8, (6, 7), (1, 2), (1, 1), (2, 2), (1, 1)),    # padding past the kernel's reach: output wider
    (2, 6, 9, (9, 8), (3, 3), (1, 1), (2, 2), (2, 2)),    # dilation on the wide grid
])
@pytest.mark.parametrize("parts", [1, 2])
def test_per_sample_float32_kernels_equal_textbook_twin(n, cin, cout, hw, k, stride, padding, dilation, parts):
    """float32 with one group and stride 1 runs one sample at a time on gemm's micro-kernel, on the wide grid:
    channels past its tile (MR x NR), positions that are not a multiple of NR,
    with and without the fused ReLU."""
    old, threads.parts = threads.parts, lambda n, work: parts
    try:
        c = dict(n=n, cin=cin, cout=cout, h=hw[0], w=hw[1], k=k, stride=stride, padding=padding, dilation=dilation,
                 groups=1, bias=True, seed=n + cin)
        for relu in (False, True):
            assert_kernels_equal("cpu", c, np.float32, relu)
    finally:
        threads.parts = old


@pytest.mark.parametrize("need_x, need_w, need_b", [(False, True, True), (True, False, False), (False, False, True)])
def test_backward_computes_only_the_gradients_asked_for(need_x, need_w, need_b):
    """A first layer needs no dx; a frozen one no dw: what is not asked for is None, the rest equal the twin."""
    c = dict(n=2, cin=8, cout=9, h=6, w=7, k=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1,
             bias=True, seed=0)
    x, w, bias = _arrays(c, np.float32)
    geom = (1, 1, 1, 1, 1, 1)
    grads = {}
    for name in ("cpu", "plain"):
        y, saved = backend.kernel("conv2d_forward", impl=name)(x, w, geom, 1, bias)
        g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        grads[name] = backend.kernel("conv2d_backward", impl=name)(g, x, w, saved, geom, 1, need_x, need_w, need_b)
    for ours, twin, needed, what in zip(grads["cpu"], grads["plain"], (need_x, need_w, need_b), ("dx", "dw", "db"),
                                        strict=True):
        if needed:
            assert_close(ours, twin, np.float32, what)
        else:
            assert ours is None, what


def test_gradcheck_conv2d():
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((2, 4, 6, 5)), requires_grad=True)
    w = tg.tensor(rng.standard_normal((6, 2, 3, 2)), requires_grad=True)
    b = tg.tensor(rng.standard_normal(6), requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
                        [x, w, b])


@pytest.mark.parametrize("plain", [False, True], ids=["numba", "textbook"])
@settings(max_examples=15, deadline=None)
@given(c=conv_configs())
def test_conv2d_relu_matches_torch(plain, c):
    """The fused op equals torch's relu(conv2d(...)), forward and every gradient."""
    old = backend.PLAIN
    backend.PLAIN = plain
    try:
        compare_with_torch(lambda *a: F.conv2d(*a, **_opts(c), activation="relu"),
                           lambda *a: torch.relu(torch.nn.functional.conv2d(*a, **_opts(c))), _arrays(c))
    finally:
        backend.PLAIN = old


def test_gradcheck_conv2d_relu():
    rng = np.random.default_rng(1)
    x = tg.tensor(rng.standard_normal((2, 4, 6, 5)), requires_grad=True)
    w = tg.tensor(rng.standard_normal((6, 2, 3, 2)), requires_grad=True)
    b = tg.tensor(rng.standard_normal(6), requires_grad=True)
    out = F.conv2d(x, w, b, padding=1, groups=2, activation="relu")
    assert (out.numpy() == 0).any() and (out.numpy() > 0).any()
    assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2, activation="relu"), [x, w, b])


def test_fused_relu_equals_unfused_and_refuses_changed_output():
    """nn.Conv2d(x, activation="relu") gives relu(conv(x))'s values and gradients; its backward reads its
    output, so an in-place change of it is refused as for any op that saves its output."""
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((3, 2, 7, 6)).astype(np.float32), requires_grad=True)
    conv = nn.Conv2d(2, 5, 3, padding=1)
    g = rng.standard_normal((3, 5, 7, 6)).astype(np.float32)
    results = []
    for fused in (True, False):
        x.grad = conv.weight.grad = conv.bias.grad = None
        y = conv(x, activation="relu") if fused else ops.relu(conv(x))
        (y * tg.tensor(g)).sum().backward()
        results.append([y.numpy(), x.grad.numpy(), conv.weight.grad.numpy(), conv.bias.grad.numpy()])
    for a, b, what in zip(*results, ("y", "dx", "dw", "db"), strict=True):
        assert_close(a, b, np.float32, what)
    y = conv(x, activation="relu")
    y.data += 1
    autograd.increment_version(y)
    with pytest.raises(RuntimeError, match="output"):
        y.sum().backward()
    with pytest.raises(ValueError, match="activation"):
        conv(x, activation="tanh")


def test_float32_stays_float32_and_matches_torch():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((4, 3, 11, 9)), rng.standard_normal((8, 3, 3, 3)), rng.standard_normal(8)]
    out = compare_with_torch(lambda *a: F.conv2d(*a, padding=1), lambda *a: torch.nn.functional.conv2d(*a, padding=1),
                             arrays, dtype=np.float32)
    assert out.dtype == np.float32


def test_non_contiguous_and_unbatched_inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # same values, strided
    assert not xt.flags.c_contiguous
    compare_with_torch(lambda a, b: F.conv2d(a, b, stride=2), lambda a, b: torch.nn.functional.conv2d(a, b, stride=2),
                       [xt, w])
    compare_with_torch(lambda a, b: F.conv2d(a, b, padding=1), lambda a, b: torch.nn.functional.conv2d(a, b, padding=1),
                       [x[0], w])


def test_only_the_gradients_asked_for():
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((2, 3, 6, 6)))
    conv = nn.Conv2d(3, 4, 3).double()
    conv(x).sum().backward()
    assert x.grad is None and conv.weight.grad is not None and conv.bias.grad is not None


def test_errors_name_the_shapes():
    x = tg.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 8\).*\(4, 2, 3, 3\)"):
        F.conv2d(x, tg.randn(4, 2, 3, 3))
    with pytest.raises(ValueError, match="does not fit"):
        F.conv2d(x, tg.randn(4, 3, 9, 9))
    with pytest.raises(ValueError, match="stride"):
        nn.Conv2d(3, 4, 3, stride=0)
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(TypeError, match="dtype"):
        F.conv2d(x, tg.randn(4, 3, 3, 3).double())


def test_nn_conv2d_names_shapes_init_and_torch_state_dict():
    tg.manual_seed(0)
    conv = nn.Conv2d(6, 12, (3, 5), stride=2, padding=(1, 2), groups=3)
    assert [k for k, _ in conv.named_parameters()] == ["weight", "bias"]
    assert conv.weight.shape == (12, 2, 3, 5) and conv.bias.shape == (12,) and conv.weight.dtype == np.float32
    bound = 1 / np.sqrt(2 * 3 * 5)  # kaiming_uniform(a=sqrt(5)) and the bias share this bound
    for p in (conv.weight, conv.bias):
        assert np.abs(p.numpy()).max() <= bound and np.abs(p.numpy()).max() > 0.8 * bound
    ref = torch.nn.Conv2d(6, 12, (3, 5), stride=2, padding=(1, 2), groups=3)
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in conv.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 6, 9, 10)).astype(np.float32)
    assert_close(conv(tg.tensor(x)), ref(torch.tensor(x)), np.float32)
    assert nn.Conv2d(1, 2, 3, bias=False).bias is None


@pytest.mark.gpu
@settings(max_examples=10, deadline=None)
@given(c=conv_configs(), relu=st.booleans())
def test_cupy_kernels_equal_textbook_twin(c, relu):
    cp = backend.cupy()
    x, w = _arrays(c)[:2]
    geom = (*c["stride"], *c["padding"], *c["dilation"])
    y, saved = backend.kernel("conv2d_forward", impl="plain")(x, w, geom, c["groups"], None, relu)
    g = np.random.default_rng(1).standard_normal(y.shape)
    dx, dw, _ = backend.kernel("conv2d_backward", impl="plain")(g, x, w, saved, geom, c["groups"], True, True, False,
                                                                y if relu else None)
    yg, sg = backend.kernel("conv2d_forward", "cuda")(cp.asarray(x), cp.asarray(w), geom, c["groups"], None, relu)
    dxg, dwg, _ = backend.kernel("conv2d_backward", "cuda")(cp.asarray(g), cp.asarray(x), cp.asarray(w), sg, geom,
                                                            c["groups"], True, True, False, yg if relu else None)
    for a, b in ((yg, y), (dxg, dx), (dwg, dw)):
        assert_close(cp.asnumpy(a), b)
