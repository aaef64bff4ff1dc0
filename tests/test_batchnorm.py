"""batch_norm / nn.BatchNorm1d / nn.BatchNorm2d and dropout2d / nn.Dropout2d against PyTorch: forward, backward and
running statistics, gradcheck, the Numba kernel against its plain twin, a CNN trained in lockstep, the errors."""
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import backend, nn, optim

from helpers import assert_close

EPS32 = float(np.finfo(np.float32).eps)


def _np(v):
    return v.detach().numpy() if isinstance(v, torch.Tensor) else v.numpy() if isinstance(v, tg.Tensor) else v


def _run(lib, x, w, b, running, g, training, momentum=0.1, eps=1e-5, dtype=np.float64):
    """batch_norm in ``lib`` (tg or torch): [output, dx, dw, db] and the running estimates after the call."""
    xs = [None if a is None else lib.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b)]
    stats = [None if a is None else lib.tensor(a.astype(dtype)) for a in running]
    fn = F.batch_norm if lib is tg else torch.nn.functional.batch_norm
    y = fn(xs[0], *stats, *xs[1:], training=training, momentum=momentum, eps=eps)
    (y * lib.tensor(g.astype(dtype))).sum().backward()
    return [_np(y)] + [_np(t.grad) for t in xs if t is not None], [_np(s) for s in stats if s is not None]


@st.composite
def cases(draw):
    """An input of BatchNorm1d (N, C) or (N, C, L) or BatchNorm2d (N, C, H, W), with a batch of 1 and odd sizes."""
    kind = draw(st.sampled_from(["1d", "1d-length", "2d"]))
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    rest = {"1d": (), "1d-length": (draw(st.integers(1, 7)),),
            "2d": (draw(st.integers(1, 5)), draw(st.integers(1, 5)))}[kind]
    return (n, c, *rest)


@pytest.mark.parametrize("impl", ["plain", "cpu"])
@settings(max_examples=15, deadline=None)
@given(shape=cases(), training=st.booleans(), affine=st.sampled_from(["both", "weight", "none"]),
       with_running=st.booleans(), momentum=st.sampled_from([0.1, 0.5, 1.0]))
def test_batch_norm_matches_torch(impl, shape, training, affine, with_running, momentum):
    m = shape[0] * int(np.prod(shape[2:]))
    assume(not training or m > 1)
    assume(with_running or training)
    rng = np.random.default_rng(sum(shape) * 7 + m)
    x, g = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape)
    w, b = (rng.standard_normal(shape[1]) if affine != "none" else None,
            rng.standard_normal(shape[1]) if affine == "both" else None)
    running = (rng.standard_normal(shape[1]), rng.random(shape[1]) + 0.5) if with_running else (None, None)
    backend.PLAIN = impl == "plain"
    try:
        ours, ours_stats = _run(tg, x, w, b, running, g, training, momentum)
    finally:
        backend.PLAIN = False
    theirs, their_stats = _run(torch, x, w, b, running, g, training, momentum)
    names = ["output", "dx", "dweight", "dbias"][:len(ours)] + ["running_mean", "running_var"][:len(ours_stats)]
    for what, a, c in zip(names, ours + ours_stats, theirs + their_stats, strict=True):
        assert_close(a, c, what=what)


@pytest.mark.parametrize("impl", ["plain", "cpu"])
@pytest.mark.parametrize("shape", [(7, 3), (2, 3, 9), (4, 2, 5, 3)])
def test_float32_as_close_to_the_float64_truth_as_torch(impl, shape):
    """In float32 both frameworks are held to the float64 result: our worst error within twice torch's own, plus
    float32 rounding of the values the sums add: m of them each up to max |dx| terms (a sum of m float32 terms
    is off by at most m eps times their largest)."""
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape)
    w, b, running = rng.standard_normal(shape[1]), rng.standard_normal(shape[1]), (np.zeros(shape[1]),
                                                                                  np.ones(shape[1]))
    m = shape[0] * int(np.prod(shape[2:]))
    truth, truth_stats = _run(torch, x, w, b, running, g, True)
    backend.PLAIN = impl == "plain"
    try:
        ours, ours_stats = _run(tg, x, w, b, running, g, True, dtype=np.float32)
    finally:
        backend.PLAIN = False
    theirs, their_stats = _run(torch, x, w, b, running, g, True, dtype=np.float32)
    for what, a, c, t in zip(("output", "dx", "dweight", "dbias", "running_mean", "running_var"), ours + ours_stats,
                             theirs + their_stats, truth + truth_stats, strict=True):
        assert a.dtype == np.float32, what
        worst, theirs_worst = np.abs(a - t).max(), np.abs(c - t).max()
        assert worst <= 2 * theirs_worst + m * EPS32 * (1 + np.abs(t).max()), \
            f"{what}: float32 error {worst:.3g}, torch's {theirs_worst:.3g}"


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (1, 3, 4), (2, 3, 2, 3)])
def test_gradcheck(training, shape):
    rng = np.random.default_rng(4)
    x, w, b = (tg.tensor(a, requires_grad=True) for a in (rng.standard_normal(shape), rng.standard_normal(shape[1]),
                                                          rng.standard_normal(shape[1])))
    rm, rv = tg.tensor(rng.standard_normal(shape[1])), tg.tensor(rng.random(shape[1]) + 0.5)
    # momentum 0: the running estimates stay put while gradcheck calls the function again and again
    assert tg.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training, 0.0), [x, w, b])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(37, 5, 1), (3, 4, 29), (1, 2, 2)])
def test_fused_kernel_equals_plain(dtype, shape):
    """The Numba kernel and its twin on the same arrays, both held to the twin in float64: float32 results within
    m eps of it relative to the largest value (sums of m terms), float64 ones within m eps64."""
    rng = np.random.default_rng(5)
    x, g = (rng.standard_normal(shape) * 2 + 1 for _ in range(2))
    w, b = (rng.standard_normal(shape[1]) for _ in range(2))
    eps = np.finfo(dtype).eps
    m = shape[0] * shape[2]
    exact_fw = backend.kernel("batch_norm_forward", impl="plain")(x, w, b, 1e-5)
    fw = [backend.kernel("batch_norm_forward", impl=i)(*(a.astype(dtype) for a in (x, w, b)), 1e-5)
          for i in ("plain", "cpu")]
    for out in fw:
        for a, t in zip(out, exact_fw, strict=True):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, t, rtol=0, atol=4 * m * eps * (1 + np.abs(t).max()))
    for training in (True, False):
        mean, invstd = exact_fw[1], exact_fw[3]
        exact = backend.kernel("batch_norm_backward", impl="plain")(x, w, mean, invstd, g, training)
        for i in ("plain", "cpu"):
            out = backend.kernel("batch_norm_backward", impl=i)(*(a.astype(dtype) for a in (x, w, mean, invstd, g)),
                                                                 training)
            for a, t in zip(out, exact, strict=True):
                assert a.dtype == dtype
                np.testing.assert_allclose(a, t, rtol=0, atol=4 * m * eps * (1 + np.abs(t).max()))


def _pair(cls, *args, **kwargs):
    ours = getattr(nn, cls)(*args, **kwargs).double()
    theirs = getattr(torch.nn, cls)(*args, **kwargs).double()
    if ours.weight is not None:
        with torch.no_grad():
            theirs.weight.normal_()
            if theirs.bias is not None:
                theirs.bias.normal_()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _assert_state_equal(ours, theirs):
    a, c = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(c)
    for k in a:
        assert np.asarray(_np(a[k])).dtype == _np(c[k]).dtype, k
        assert_close(np.asarray(_np(a[k])), _np(c[k]), what=k)


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (2, 3, 5)),
                                       ("BatchNorm2d", (3, 3, 4, 2))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_module_running_statistics_and_eval_match_torch(cls, shape, momentum):
    """Several training steps move running_mean / running_var (unbiased) / num_batches_tracked as torch's do;
    eval mode then normalises by them, and its backward matches too."""
    ours, theirs = _pair(cls, 3, momentum=momentum)
    rng = np.random.default_rng(6)
    for _ in range(4):
        x = rng.standard_normal(shape) * 2 + rng.standard_normal(3).reshape((1, 3) + (1,) * (len(shape) - 2))
        assert_close(ours(tg.tensor(x)), theirs(torch.tensor(x)), what="training output")
    _assert_state_equal(ours, theirs)
    assert int(_np(ours.state_dict()["num_batches_tracked"])) == 4
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    xs, xt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ys, yt = ours(xs), theirs(xt)
    assert_close(ys, yt, what="eval output")
    g = rng.standard_normal(shape)
    (ys * tg.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    assert_close(xs.grad, xt.grad, what="eval dx")
    assert_close(ours.weight.grad, theirs.weight.grad, what="eval dweight")
    _assert_state_equal(ours, theirs)  # eval leaves the estimates alone


@pytest.mark.parametrize("kwargs", [dict(affine=False), dict(track_running_stats=False), dict(bias=False),
                                    dict(eps=1e-3, momentum=0.7)])
def test_module_options_match_torch(kwargs):
    ours, theirs = _pair("BatchNorm2d", 2, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(7)
    for mode in ("train", "eval", "train"):
        ours.train(mode == "train")
        theirs.train(mode == "train")
        x = rng.standard_normal((3, 2, 2, 3))
        assert_close(ours(tg.tensor(x)), theirs(torch.tensor(x)), what=f"{mode} output")
    _assert_state_equal(ours, theirs)


def test_cnn_trained_in_lockstep_with_torch():
    """conv -> BatchNorm2d -> relu -> max-pool -> linear, 5 SGD steps (momentum) from the same weights on the same
    batches: the parameters and running estimates stay equal to torch's in float64, and so do eval outputs."""
    def build(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(2, 4, 3, padding=1), lib.nn.BatchNorm2d(4, momentum=0.3),
                                 lib.nn.ReLU(), lib.nn.MaxPool2d(2), lib.nn.Flatten(), lib.nn.Linear(4 * 3 * 3, 3))

    theirs = build(torch).double()
    ours = build(tg).double()
    ours.load_state_dict(theirs.state_dict())
    opt_ours = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(8)
    for _ in range(5):
        x, y = rng.standard_normal((6, 2, 6, 6)), rng.integers(0, 3, 6)
        for model, opt, lib, loss_fn in ((ours, opt_ours, tg, F.cross_entropy),
                                         (theirs, opt_theirs, torch, torch.nn.functional.cross_entropy)):
            opt.zero_grad()
            loss_fn(model(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()
    _assert_state_equal(ours, theirs)
    x = rng.standard_normal((4, 2, 6, 6))
    assert_close(ours.eval()(tg.tensor(x)), theirs.eval()(torch.tensor(x)), what="eval output")


def test_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected a 2-D \(N, C\) or 3-D .*\(2, 3, 4, 5\)"):
        nn.BatchNorm1d(3)(tg.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4-D .*\(2, 3, 4\)"):
        nn.BatchNorm2d(3)(tg.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(2, 4, 5, 5\) has 4 channels.*num_features=3.*\(3,\)"):
        nn.BatchNorm2d(3)(tg.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"running_mean has shape \(4,\).*\(2, 3\)"):
        F.batch_norm(tg.randn(2, 3), tg.zeros(4), tg.ones(4), training=True)
    with pytest.raises(ValueError, match="needs both"):
        F.batch_norm(tg.randn(2, 3), None, None, training=False)
    with pytest.raises(TypeError, match="float64"):
        nn.BatchNorm1d(3)(tg.randn(2, 3, dtype=np.float64))
    layer = nn.BatchNorm1d(3)
    for shape in ((1, 3), (1, 3, 1)):
        with pytest.raises(ValueError, match=r"more than 1 value per channel when training.*\(1, 3"):
            layer(tg.randn(*shape))
    assert int(_np(layer.num_batches_tracked)) == 0  # a refused batch is not counted
    layer.eval()
    assert layer(tg.randn(1, 3)).shape == (1, 3)  # eval normalises a single example by the estimates


@pytest.mark.parametrize("kwargs,argument", [(dict(num_features=0), "num_features"),
                                             (dict(num_features=3.0), "num_features"),
                                             (dict(num_features=3, eps=0), "eps"),
                                             (dict(num_features=3, eps=float("nan")), "eps"),
                                             (dict(num_features=3, momentum=1.5), "momentum"),
                                             (dict(num_features=3, momentum=-0.1), "momentum"),
                                             (dict(num_features=3, momentum=True), "momentum")])
def test_bad_hyper_parameters_refused_at_construction(kwargs, argument):
    for cls in (nn.BatchNorm1d, nn.BatchNorm2d):
        with pytest.raises(ValueError, match=f"{cls.__name__}: {argument}"):
            cls(**kwargs)


def test_empty_batch_gives_an_empty_output_and_keeps_the_estimates():
    ours, theirs = _pair("BatchNorm1d", 3)
    assert ours(tg.zeros(0, 3, dtype=np.float64)).shape == theirs(torch.zeros(0, 3, dtype=torch.float64)).shape
    _assert_state_equal(ours, theirs)


# ---------------------------------------------------------------- Dropout2d
def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    tg.manual_seed(0)
    x = tg.tensor(np.random.default_rng(9).standard_normal((8, 6, 3, 4)) + 5, requires_grad=True)
    y = nn.Dropout2d(0.25)(x)
    kept = (y.numpy() != 0).reshape(8, 6, -1)
    assert (kept.all(axis=2) | ~kept.any(axis=2)).all()  # a channel is kept or dropped whole
    keep = kept.all(axis=2)[:, :, None, None]
    assert 0 < keep.sum() < keep.size
    np.testing.assert_allclose(y.numpy(), np.where(keep, x.numpy() / 0.75, 0), rtol=1e-15)
    g = np.random.default_rng(10).standard_normal(y.shape)
    (y * tg.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(keep, g / 0.75, 0), rtol=1e-15)  # only kept channels


def test_dropout2d_eval_and_extreme_p():
    x = tg.randn(2, 3, 4, 4)
    layer = nn.Dropout2d(0.5).eval()
    assert layer(x) is x
    assert nn.Dropout2d(0.0)(x) is x
    assert (nn.Dropout2d(1.0)(x).numpy() == 0).all()
    for p in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="Dropout2d: p"):
            nn.Dropout2d(p)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.dropout2d(x, 2.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dropout2d_drops_a_fraction_p_of_channels(seed):
    """n = 4000 channels each dropped with probability p: the dropped count is Binomial(n, p), so the fraction
    lies within 5 standard deviations sqrt(p (1 - p) / n) of p (a false alarm about once in 1.7 million)."""
    p, n = 0.3, 4000
    tg.manual_seed(seed)
    y = F.dropout2d(tg.ones(40, 100, 2, 2), p)
    fraction = (y.numpy()[:, :, 0, 0] == 0).mean()
    assert abs(fraction - p) <= 5 * np.sqrt(p * (1 - p) / n), fraction


def test_dropout2d_input_ranks_as_torch():
    """A 3-D input is read as (N, C, L), as torch 2.x does, with a warning saying so; other ranks are refused (torch
    warns that they will be, and treats them as dropout over the first two axes meanwhile)."""
    tg.manual_seed(1)
    with pytest.warns(UserWarning, match=r"\(N, C, L\)"):
        y = F.dropout2d(tg.ones(20, 30, 5), 0.5)
    rows = y.numpy()
    assert ((rows == 0).all(axis=2) | (rows == 2).all(axis=2)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(tg.ones(2, 3, 4, 4), 0.5)  # 4-D: no warning
    for shape in ((3,), (4, 3), (2, 3, 4, 4, 4)):
        with pytest.raises(ValueError, match="dropout2d: expected a 4-D.*" + re.escape(str(shape))):
            nn.Dropout2d()(tg.ones(*shape))
