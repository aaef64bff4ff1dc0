"""Checks of chapter 3 (convolution and pooling): against the library's conv2d and max_pool2d."""
import numpy as np

from ...nn import functional as F
from ...ops.pool import pool_out_size
from ..core import CheckFailure, assert_close, cases, close, exercise, expect_equal, reference_grads, tensor64

# (B, C, H, W, K, kh, kw, stride, padding, dilation): batch 1, odd sizes, stride > 1, padding, dilation
_CONV = [(1, 1, 5, 5, 1, 3, 3, 1, 0, 1), (2, 3, 7, 6, 4, 3, 2, 2, 1, 1), (1, 2, 9, 8, 3, 3, 3, 1, 2, 2),
         (3, 2, 6, 7, 2, 1, 1, 3, 0, 1), (2, 1, 8, 9, 2, 2, 3, 2, 1, 2)]


def _conv_cases(seed):
    for rng, (B, C, H, W, K, kh, kw, s, p, d) in zip(cases(len(_CONV), seed), _CONV, strict=True):
        x, w, b = rng.standard_normal((B, C, H, W)), rng.standard_normal((K, C, kh, kw)), rng.standard_normal(K)
        want = F.conv2d(tensor64(x, False), tensor64(w, False), tensor64(b, False), s, p, d).numpy()
        yield x, w, b, s, p, d, want, f"x {x.shape}, weight {w.shape}, stride {s}, padding {p}, dilation {d}"


@exercise("3.1", "conv2d by loops (stride, padding, dilation)", ids=("D3.F1", "D4.F1"), kind="op", file="ch03_cnn",
          entry=("conv2d_loops",))
def _(conv2d_loops):
    for x, w, b, s, p, d, want, where in _conv_cases(1):
        got = conv2d_loops(x, w, b, s, p, d)
        flipped = F.conv2d(tensor64(x, False), tensor64(w[:, :, ::-1, ::-1].copy(), False), tensor64(b, False),
                             s, p, d).numpy()
        if w.shape[2] * w.shape[3] > 1 and close(got, flipped):
            raise CheckFailure(f"forward, {where}", "you flipped the kernel (the convolution of signal processing)",
                               "deep-learning 'convolution' is cross-correlation: D3.F1 and D4.F1 index the kernel "
                               "by the window offset, unflipped")
        assert_close(got, want, f"forward, {where}", hint="input index i*stride + n*dilation in the padded x")
    x, w = cases(1, 2)[0].standard_normal((1, 2, 4, 5)), np.ones((1, 2, 2, 2))
    assert_close(conv2d_loops(x, w, None), F.conv2d(tensor64(x, False), tensor64(w, False)).numpy(),
                 "forward without a bias")


@exercise("3.2", "max-pool forward, and backward with ties", ids=("D3.F2",), kind="op", file="ch03_cnn",
          entry=("maxpool2d", "maxpool2d_backward"))
def _(maxpool2d, maxpool2d_backward):
    configs = [((1, 1, 4, 4), 2, 2), ((2, 3, 7, 5), 2, 2), ((1, 2, 7, 7), 3, 2), ((2, 1, 6, 9), 3, 3),
               ((1, 1, 5, 5), 2, 1)]
    for rng, (shape, k, s) in zip(cases(len(configs), 3), configs, strict=True):
        for ties in (False, True):
            # with ties: few distinct values, so most windows hold several maxima
            x = rng.integers(0, 3, shape).astype(float) if ties else rng.standard_normal(shape)
            where = f"x {shape}, kernel {k}, stride {s}" + (", with ties" if ties else "")
            want = F.max_pool2d(tensor64(x, False), k, s).numpy()
            got = np.asarray(maxpool2d(x, k, s))
            if s > 1 and got.shape[2:] == (shape[2] - k + 1, shape[3] - k + 1):
                raise CheckFailure(f"forward, {where}", f"output {got.shape}: the stride was dropped",
                                   "the window of (i, j) starts at (i*s, j*s)", "D3.F2: window at i + n, not i*s + n")
            assert_close(got, want, f"forward, {where}")
            upstream = rng.standard_normal(want.shape)
            _, (grad,) = reference_grads(lambda t, k=k, s=s: F.max_pool2d(t, k, s), [x], upstream)
            assert_close(maxpool2d_backward(x, upstream, k, s), grad, f"backward, {where}",
                         hint="ties: only the first maximum in scan order; overlapping windows add up")


@exercise("3.3", "conv2d by im2col and one matrix product", ids=("D3.F1",), kind="op", file="ch03_cnn",
          entry=("im2col", "conv2d_im2col"))
def _(im2col, conv2d_im2col):
    for x, w, b, s, p, d, want, where in _conv_cases(4):
        C, (_, _, kh, kw) = x.shape[1], w.shape
        # F.unfold as a convolution with one-hot kernels: output channel c*kh*kw + n*kw + m picks Xp[c, n, m]
        eye = np.eye(C * kh * kw).reshape(C * kh * kw, C, kh, kw)
        cols = F.conv2d(tensor64(x, False), tensor64(eye, False), None, s, p, d).numpy()
        assert_close(im2col(x, kh, kw, s, p, d), cols.reshape(x.shape[0], C * kh * kw, -1), f"im2col, {where}",
                     hint="rows ordered (c, n, m), m fastest; columns row-major over output positions")
        assert_close(conv2d_im2col(x, w, b, s, p, d), want, f"conv2d_im2col, {where}")


@exercise("3.4", "derive: output size of a strided, padded, dilated window", ids=("D3.F1", "D3.F2"), kind="derive",
          file="ch03_cnn", entry=("conv_output_size",))
def _(conv_output_size):
    for size, k, s, p, d in [(28, 3, 1, 0, 1), (32, 3, 1, 1, 1), (7, 2, 2, 0, 1), (10, 3, 3, 1, 2), (5, 5, 1, 0, 1),
                             (9, 3, 2, 2, 3), (1, 1, 1, 0, 1), (224, 7, 2, 3, 1), (6, 2, 4, 1, 1)]:
        want = pool_out_size(size, k, s, p, d, False)
        got = conv_output_size(size, k, s, p, d)
        where = f"size {size}, kernel {k}, stride {s}, padding {p}, dilation {d}"
        if s > 1 and got == size + 2 * p - d * (k - 1) and got != want:
            raise CheckFailure(where, f"got {got}, expected {want}: the stride is ignored", None,
                               "D3.F2: window at i + n, not i*s + n")
        expect_equal(got, want, where, hint="floor((size + 2p - d(k-1) - 1) / s) + 1")


@exercise("3.5", "erratum hunt: the flatten sizes of D4.M1 and D3.M1", ids=("D4.M1", "D3.M1"), kind="erratum",
          file="ch03_cnn", entry=("mnist_flatten_size", "cifar_flatten_size"))
def _(mnist_flatten_size, cifar_flatten_size):
    for h, w in [(28, 28), (32, 32), (29, 31), (8, 5)]:
        x = tensor64(np.zeros((1, 1, h, w)), False)
        y = F.conv2d(F.conv2d(x, tensor64(np.zeros((32, 1, 3, 3)), False)), tensor64(np.zeros((64, 32, 3, 3)), False))
        got = mnist_flatten_size(h, w)
        if (h, w) == (28, 28) and got == 64 * 7 * 7:
            raise CheckFailure("MNIST network, 28x28", "64*7*7 = 3136, the source's number", "no pooling, no padding",
                               "D4.M1: flatten 64*7*7 after two unpadded 3x3 convolutions (it is 64*24*24)")
        expect_equal(got, int(np.prod(y.shape[1:])), f"MNIST network, {h}x{w}")
        x = tensor64(np.zeros((1, 3, h, w)), False)
        y = F.max_pool2d(F.conv2d(x, tensor64(np.zeros((32, 3, 3, 3)), False), padding=1), 2)
        y = F.max_pool2d(F.conv2d(y, tensor64(np.zeros((64, 32, 3, 3)), False), padding=1), 2)
        expect_equal(cifar_flatten_size(h, w), int(np.prod(y.shape[1:])), f"CIFAR network, {h}x{w}",
                     hint="each pool of 2 halves the size, rounding down, twice")
