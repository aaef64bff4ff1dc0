"""Activations, softmax family, linear, embedding, dropout, normalize and every loss with each reduction:
gradcheck (float64, random upstream) and PyTorch parity (float64 1e-10, float32 1e-5); the fused
cross-entropy kernel against its plain twin."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from op_checks import FAST, away_from, check_op, randn, seeds, shapes, torch_single_thread  # noqa: F401

import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import backend

ACTIVATIONS = {
    "tanh": (tg.tanh, torch.tanh, None),
    "sigmoid": (tg.sigmoid, torch.sigmoid, None),
    "relu": (F.relu, TF.relu, "kink"),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), "kink"),
    "leaky_relu_default": (F.leaky_relu, TF.leaky_relu, "kink"),
    "gelu": (F.gelu, TF.gelu, None),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), None),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@settings(**FAST)
@given(shape=shapes(min_dims=0), seed=seeds, transpose=st.booleans())
def test_activations(name, shape, seed, transpose):
    tg_fn, th_fn, domain = ACTIVATIONS[name]
    (x,) = randn(seed, shape)
    x = 3 * x
    if domain == "kink":
        x = away_from(x)
    if transpose and x.ndim >= 2:
        check_op(lambda t: tg_fn(t.mT), lambda t: th_fn(t.mT), [x])
    else:
        check_op(tg_fn, th_fn, [x])


def test_activation_modules():
    x = randn(0, (3, 4))[0]
    pairs = [(tg.nn.ReLU(), torch.nn.ReLU()), (tg.nn.Sigmoid(), torch.nn.Sigmoid()), (tg.nn.Tanh(), torch.nn.Tanh()),
             (tg.nn.GELU("tanh"), torch.nn.GELU("tanh")), (tg.nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)),
             (tg.nn.Softmax(0), torch.nn.Softmax(0)), (tg.nn.LogSoftmax(1), torch.nn.LogSoftmax(1)),
             (tg.nn.Flatten(0), torch.nn.Flatten(0)), (tg.nn.Identity(), torch.nn.Identity())]
    for ours, ref in pairs:
        check_op(ours, ref, [away_from(x)], gradcheck=False)
    with pytest.raises(ValueError, match="approximate"):
        tg.nn.GELU("fast")


def test_sigmoid_extreme_inputs_finite():
    x = tg.tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    y = tg.sigmoid(x)
    np.testing.assert_allclose(y.numpy(), [0.0, 0.5, 1.0])
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@settings(**FAST)
@given(shape=shapes(min_dims=1), seed=seeds, data=st.data())
def test_softmax_family(name, shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    (x,) = randn(seed, shape)
    check_op(lambda t: getattr(F, name)(t, dim), lambda t: getattr(TF, name)(t, dim), [x])
    check_op(lambda t: getattr(t, name)(dim), lambda t: getattr(t, name)(dim), [x])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_stable_for_huge_logits(name):
    x = np.array([[1e4, -1e4, 0.0, 1e4 - 3], [800.0, 801.0, 799.0, -800.0]])
    out = check_op(lambda t: getattr(tg, name)(t, 1), lambda t: getattr(torch, name)(t, 1), [x], gradcheck=False)
    assert np.isfinite(out.numpy()).all()
    tg.gradcheck(lambda t: getattr(tg, name)(t, 1), [tg.tensor(x, requires_grad=True)])


@st.composite
def linear_case(draw):
    batch = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    fin, fout = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return batch, fin, fout, draw(st.booleans())


@settings(**FAST)
@given(case=linear_case(), seed=seeds)
def test_linear(case, seed):
    batch, fin, fout, bias = case
    x, w, b = randn(seed, batch + (fin,), (fout, fin), (fout,))
    if bias:
        check_op(F.linear, TF.linear, [x, w, b])
    else:
        check_op(lambda a, c: F.linear(a, c), lambda a, c: TF.linear(a, c), [x, w])
    # a transposed (non-contiguous) weight, as a tied output layer would pass
    check_op(lambda a, c: F.linear(a, c.T.T * 1.0), lambda a, c: TF.linear(a, c), [x, np.ascontiguousarray(w)])
    check_op(lambda a, c: F.linear(a, c.T), lambda a, c: TF.linear(a, c.T), [x, np.ascontiguousarray(w.T)])


@settings(**FAST)
@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, pad=st.booleans())
def test_embedding_scatter_adds_repeats(shape, seed, pad):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 5, shape)  # few rows: repeats are likely
    (w,) = randn(seed, (5, 3))
    padding_idx = 2 if pad else None
    # padding_idx's row gets no gradient by design, so only PyTorch (not finite differences) can judge it
    check_op(lambda t, i: F.embedding(i, t, padding_idx), lambda t, i: TF.embedding(i, t, padding_idx), [w, idx],
             gradcheck=not pad)


def test_embedding_module_init_and_padding():
    tg.manual_seed(0)
    emb = tg.nn.Embedding(1000, 8, padding_idx=3)
    w = emb.weight.numpy()
    assert w.shape == (1000, 8) and w.dtype == np.float32
    np.testing.assert_array_equal(w[3], 0.0)
    assert abs(w.std() - 1.0) < 0.05 and abs(w.mean()) < 0.05  # N(0, 1) as PyTorch
    out = emb(tg.tensor([[3, 1, 3]]))
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[3], 0.0)
    np.testing.assert_array_equal(emb.weight.grad.numpy()[1], 1.0)


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9])
def test_dropout_statistics(p):
    tg.manual_seed(1)
    n = 200_000
    x = tg.ones(n, requires_grad=True)
    y = F.dropout(x, p, training=True)
    v = y.numpy()
    kept = v != 0
    assert abs(kept.mean() - (1 - p)) < 4 * np.sqrt(p * (1 - p) / n) + 1e-12
    np.testing.assert_allclose(v[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(v.mean() - 1.0) < 0.02  # expectation preserved
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), v, rtol=1e-6)  # gradient goes through the same mask
    assert y.dtype == np.float32


def test_dropout_eval_p1_and_module():
    x = tg.randn(5, 6)
    assert F.dropout(x, 0.5, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0.0)
    drop = tg.nn.Dropout(0.5)
    assert (drop(x).numpy() == 0).any()
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout"):
            F.dropout(x, bad)
        with pytest.raises(ValueError, match="p must be"):
            tg.nn.Dropout(bad)


def test_dropout_seeded():
    tg.manual_seed(3)
    a = F.dropout(tg.ones(50), 0.5).numpy()
    tg.manual_seed(3)
    np.testing.assert_array_equal(a, F.dropout(tg.ones(50), 0.5).numpy())


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
@settings(**FAST)
@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, data=st.data())
def test_normalize(p, shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    (x,) = randn(seed, shape)
    x = away_from(x)
    check_op(lambda t: F.normalize(t, p, dim), lambda t: TF.normalize(t, p, dim), [x])


def test_normalize_default_and_zero_vector():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    out = check_op(F.normalize, TF.normalize, [x], gradcheck=False)
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(np.linalg.norm(F.normalize(tg.randn(4, 7)).numpy(), axis=1), 1.0, rtol=1e-6)


# ------------------------------------------------------------------ losses
REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(**FAST)
@given(shape=shapes(min_dims=0), seed=seeds)
def test_mse_loss(reduction, shape, seed):
    x, y = randn(seed, shape, shape)
    check_op(lambda a, b: F.mse_loss(a, b, reduction), lambda a, b: TF.mse_loss(a, b, reduction=reduction), [x, y])
    check_op(lambda a, b: tg.nn.MSELoss(reduction)(a, b), lambda a, b: TF.mse_loss(a, b, reduction=reduction),
             [x, y], requires_grad=[True, False])


@st.composite
def ce_case(draw):
    ignore = draw(st.sampled_from([None, -100, 0]))
    n, c = draw(st.integers(1, 4)), draw(st.integers(2 if ignore == 0 else 1, 5))
    extra = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))  # K-dim inputs (N, C, d1, ...)
    return dict(n=n, c=c, extra=extra, weight=draw(st.booleans()), ignore=ignore,
                smoothing=draw(st.sampled_from([0.0, 0.1, 1.0])), reduction=draw(st.sampled_from(REDUCTIONS)),
                seed=draw(seeds))


def _ce_arrays(case, flat_target=False):
    rng = np.random.default_rng(case["seed"])
    x = 2 * rng.standard_normal((case["n"], case["c"]) + case["extra"])
    t = rng.integers(0, case["c"], (case["n"],) + case["extra"])
    if case["ignore"] is not None:
        ignore = case["ignore"]
        t.reshape(-1)[rng.random(t.size) < 0.3] = ignore
        t.reshape(-1)[0] = 0 if ignore != 0 else case["c"] - 1  # at least one counted target
    w = rng.random(case["c"]) + 0.5
    return x, t, w


@settings(max_examples=40, deadline=None)
@given(case=ce_case())
def test_cross_entropy_class_indices(case):
    x, t, w = _ce_arrays(case)
    kw = dict(ignore_index=-100 if case["ignore"] is None else case["ignore"], reduction=case["reduction"],
              label_smoothing=case["smoothing"])
    arrays, rg = ([x, t, w], [True, False, False]) if case["weight"] else ([x, t], [True, False])
    if case["weight"]:
        ours = lambda a, b, c: F.cross_entropy(a, b, weight=c, **kw)  # noqa: E731
        ref = lambda a, b, c: TF.cross_entropy(a, b, weight=c, **kw)  # noqa: E731
    else:
        ours = lambda a, b: F.cross_entropy(a, b, **kw)  # noqa: E731
        ref = lambda a, b: TF.cross_entropy(a, b, **kw)  # noqa: E731
    check_op(ours, ref, arrays, requires_grad=rg)


def test_cross_entropy_single_sample_1d():
    x = randn(0, (5,))[0]
    for red in REDUCTIONS:
        check_op(lambda a, b, red=red: F.cross_entropy(a, b, reduction=red, label_smoothing=0.2),
                 lambda a, b, red=red: TF.cross_entropy(a, b, reduction=red, label_smoothing=0.2), [x, np.array(3)],
                 requires_grad=[True, False])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(**FAST)
@given(n=st.integers(1, 4), c=st.integers(1, 5), extra=st.sampled_from([(), (2,)]), seed=seeds,
       smoothing=st.sampled_from([0.0, 0.2]), weight=st.booleans())
def test_cross_entropy_probability_targets(reduction, n, c, extra, seed, smoothing, weight):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c) + extra)
    prob = rng.random((n, c) + extra)
    prob /= prob.sum(axis=1, keepdims=True)
    w = rng.random(c) + 0.5
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if weight:
        check_op(lambda a, b, v: F.cross_entropy(a, b, weight=v, **kw),
                 lambda a, b, v: TF.cross_entropy(a, b, weight=v, **kw), [x, prob, w], [True, False, False])
    else:
        check_op(lambda a, b: F.cross_entropy(a, b, **kw), lambda a, b: TF.cross_entropy(a, b, **kw),
                 [x, prob], [True, False])


def test_cross_entropy_huge_logits_and_module():
    x = np.array([[1e4, -1e4, 0.0], [-5e3, 5e3, 5e3]])
    t = np.array([0, 2])
    out = check_op(lambda a, b: tg.nn.CrossEntropyLoss(label_smoothing=0.1)(a, b),
                   lambda a, b: torch.nn.CrossEntropyLoss(label_smoothing=0.1)(a, b), [x, t], [True, False],
                   gradcheck=False)
    assert np.isfinite(out.item())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(**FAST)
@given(case=ce_case())
def test_nll_loss(reduction, case):
    x, t, w = _ce_arrays(case)
    ignore = -100 if case["ignore"] is None else case["ignore"]
    if case["weight"]:
        check_op(lambda a, b, v: F.nll_loss(a, b, v, ignore, reduction),
                 lambda a, b, v: TF.nll_loss(a, b, v, ignore_index=ignore, reduction=reduction), [x, t, w],
                 [True, False, False])
    else:
        check_op(lambda a, b: tg.nn.NLLLoss(ignore_index=ignore, reduction=reduction)(a, b),
                 lambda a, b: TF.nll_loss(a, b, ignore_index=ignore, reduction=reduction), [x, t], [True, False])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(**FAST)
@given(shape=shapes(min_dims=0), seed=seeds, weighted=st.booleans(), hard=st.booleans())
def test_binary_cross_entropy(reduction, shape, seed, weighted, hard):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, shape)
    y = (rng.random(shape) > 0.5).astype(np.float64) if hard else rng.random(shape)
    w = rng.random(shape) + 0.5
    if weighted:
        check_op(lambda a, b, c: F.binary_cross_entropy(a, b, c, reduction),
                 lambda a, b, c: TF.binary_cross_entropy(a, b, c, reduction=reduction), [p, y, w], [True, False, False])
    else:
        check_op(lambda a, b: tg.nn.BCELoss(reduction)(a, b),
                 lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction), [p, y], [True, False])


def test_binary_cross_entropy_clamps_log_like_torch():
    p, y = np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 1.0])
    out = check_op(F.binary_cross_entropy, TF.binary_cross_entropy, [p, y], [False, False], gradcheck=False)
    assert np.isfinite(out.item())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(**FAST)
@given(shape=shapes(min_dims=1), seed=seeds, weighted=st.booleans(), pos=st.booleans())
def test_binary_cross_entropy_with_logits(reduction, shape, seed, weighted, pos):
    rng = np.random.default_rng(seed)
    x = 3 * rng.standard_normal(shape)
    y = rng.random(shape)
    w = rng.random(shape) + 0.5
    pw = rng.random(shape[-1:]) + 0.5
    arrays = [x, y, w if weighted else None, pw if pos else None]
    keep = [a is not None for a in arrays]

    def call(fn):
        def f(*ts):
            it = iter(ts)
            a, b = next(it), next(it)
            c = next(it) if keep[2] else None
            d = next(it) if keep[3] else None
            return fn(a, b, weight=c, reduction=reduction, pos_weight=d)
        return f

    check_op(call(F.binary_cross_entropy_with_logits), call(TF.binary_cross_entropy_with_logits),
             [a for a in arrays if a is not None], [True] + [False] * (sum(keep) - 1))


def test_bce_with_logits_module_extreme():
    x, y = np.array([-1e4, 1e4, 0.0]), np.array([1.0, 0.0, 0.5])
    out = check_op(lambda a, b: tg.nn.BCEWithLogitsLoss()(a, b), lambda a, b: torch.nn.BCEWithLogitsLoss()(a, b),
                   [x, y], [True, False], gradcheck=False)
    assert np.isfinite(out.item())


@pytest.mark.parametrize("bad", ["avg", None, "Mean"])
def test_unknown_reduction_refused(bad):
    x = tg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, tg.tensor([0, 1]), reduction=bad)
    with pytest.raises(ValueError, match="reduction"):
        tg.nn.MSELoss(bad)


# ------------------------------------------------------------------ fused kernel vs its plain twin
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=10, deadline=None)
@given(seed=seeds, smoothing=st.sampled_from([0.0, 0.1]), ignore=st.sampled_from([-100, 3]), weighted=st.booleans())
def test_cross_entropy_kernel_numba_equals_plain(dtype, seed, smoothing, ignore, weighted):
    from tinygrad_lm.kernels.cross_entropy import KERNEL_MIN_SIZE

    rng = np.random.default_rng(seed)
    M, C = 64, KERNEL_MIN_SIZE // 64 + 7  # large enough for the Numba path
    x = (5 * rng.standard_normal((M, C))).astype(dtype)
    t = rng.integers(0, C, M)
    t[rng.random(M) < 0.2] = ignore
    w = (rng.random(C) + 0.5 if weighted else np.ones(C)).astype(dtype)
    g = rng.standard_normal(M).astype(dtype)
    # Tolerances from the arithmetic: lse = max + log(sum of C terms), whose rounding is at most C eps
    # (the sum, worst case) plus eps |lse| (the final add); the loss w (lse - x_t) (smoothing adds a mean of
    # such terms) takes that error twice, times w; a gradient g w (p - [j = t]) with p = e^{x - lse} takes
    # it as a relative error of p. Written for both dtypes; float64's bound is ~1e-13.
    eps = float(np.finfo(dtype).eps)
    lse_err = C * eps + 2 * eps * float(np.abs(x).max() + np.log(C))
    scale = float(w.max())
    tol_loss = dict(rtol=2 * lse_err, atol=2 * lse_err * scale)
    tol_grad = dict(rtol=2 * lse_err, atol=2 * lse_err * scale * float(np.abs(g).max()))
    outs = {}
    for impl in ("plain", "cpu"):
        loss, lse = backend.kernel("cross_entropy_forward", impl=impl)(x, t, w, ignore, smoothing)
        grad = backend.kernel("cross_entropy_backward", impl=impl)(x, lse, t, w, ignore, smoothing, g)
        assert loss.dtype == dtype and grad.dtype == dtype
        outs[impl] = loss, lse, grad
    for a, b, tol in zip(outs["plain"], outs["cpu"], (tol_loss, tol_loss, tol_grad), strict=True):
        np.testing.assert_allclose(a, b, **tol)
    ref = TF.cross_entropy(torch.tensor(x.astype(np.float64)), torch.tensor(t), torch.tensor(w.astype(np.float64)),
                           ignore_index=ignore, reduction="none", label_smoothing=smoothing)
    np.testing.assert_allclose(outs["cpu"][0], ref.numpy(), **tol_loss)


def test_cross_entropy_large_uses_kernel_and_matches_torch():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((40, 1000)), rng.integers(0, 1000, 40)
    check_op(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.05),
             lambda a, b: TF.cross_entropy(a, b, label_smoothing=0.05), [x, t], [True, False], gradcheck=False)
    tg.gradcheck(lambda a: F.cross_entropy(a, tg.tensor(t)), [tg.tensor(x, requires_grad=True)], mode="directional")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gelu_kernel_numba_equals_plain(dtype):
    """Forward and backward of both implementations against the float64 truth (SciPy's ndtr), in relative
    terms over the whole range: the far negative tail, where Phi is tiny, included.

    Tolerances from the arithmetic. float64: the C library's erfc and exp, a few roundings (rtol 1e-13).
    float32: the plain twin is ndtr rounded once, then x * Phi rounded once (2 ulp = 1.2e-7); the kernel's
    erfc fit is good to 1.2e-7, its exponent is formed in float64, e^r to 2e-8, plus ~4 float32 roundings:
    < 6e-7, so rtol 1e-6 for Phi and y; the backward adds x phi(x) (same budget) and one more rounding of
    g (Phi + x phi), a sum whose terms have opposite signs for x < 0 but never cancel by more than a
    factor 1 + 1/x^2 <= 2 away from its zero near x = -0.75; so rtol 2e-6 there, plus an absolute
    2 ulp of the largest term near that zero. Below float32's smallest normal (1.2e-38) only absolutely.
    """
    from scipy.special import ndtr
    x = np.concatenate([np.linspace(-14, 12, 5200), [-np.inf, -1e30, 0.0, 1e30, np.inf]]).astype(dtype).reshape(5, -1)
    x64 = x.astype(np.float64)
    cdf_true = ndtr(x64)
    with np.errstate(invalid="ignore"):
        y_true = x64 * cdf_true
    eps = np.finfo(dtype).eps
    rtol, tiny = (1e-13, 0.0) if dtype == np.float64 else (1e-6, float(np.finfo(np.float32).tiny))
    finite = np.isfinite(x)
    for impl in ("cpu", "plain"):
        with np.errstate(invalid="ignore"):  # y = -inf * 0 at x = -inf
            y, cdf = backend.kernel("gelu_forward", impl=impl)(x)
        assert y.dtype == cdf.dtype == dtype and y.shape == cdf.shape == x.shape
        np.testing.assert_allclose(cdf, cdf_true, rtol=rtol, atol=tiny, err_msg=impl)
        np.testing.assert_allclose(y[finite], y_true[finite], rtol=rtol, atol=tiny, err_msg=impl)
        assert np.all(cdf[x == -np.inf] == 0) and np.all(cdf[x == np.inf] == 1)
        assert np.all(cdf[finite & (x < 0)] <= 0.5) and np.all(cdf[(x < 0) & (cdf_true > tiny)] > 0), impl
    g = np.random.default_rng(0).standard_normal(x.shape).astype(dtype)
    xf, gf, cf = x[finite], g[finite], cdf_true[finite].astype(dtype)
    xphi = x64[finite] * np.exp(-0.5 * x64[finite] ** 2) / np.sqrt(2 * np.pi)
    dx_true = g[finite] * (cdf_true[finite] + xphi)
    scale = np.abs(gf) * np.maximum(cdf_true[finite], np.abs(xphi))  # the largest term of the sum
    for impl in ("cpu", "plain"):
        dx = backend.kernel("gelu_backward", impl=impl)(xf, cf, gf)
        assert dx.dtype == dtype
        err = np.abs(dx - dx_true)
        bound = 2 * rtol * np.abs(dx_true) + 2 * eps * scale + tiny
        assert np.all(err <= bound), (impl, xf[np.argmax(err / bound)], float(np.max(err / bound)))


def test_gelu_float32_tail_is_relative():
    """The issue's case: near x = -4.4, 1 + erf(x / sqrt 2) keeps two digits in float32; erfc keeps all."""
    from scipy.special import ndtr
    x = np.linspace(-6, -4, 101).astype(np.float32)
    for impl in ("cpu", "plain"):
        _, cdf = backend.kernel("gelu_forward", impl=impl)(x)
        np.testing.assert_allclose(cdf, ndtr(x.astype(np.float64)), rtol=1e-6, err_msg=impl)
