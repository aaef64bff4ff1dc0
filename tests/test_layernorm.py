"""layer_norm / nn.LayerNorm: PyTorch equality forward and backward, gradcheck, Numba kernel vs plain twin."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import backend, nn

from helpers import compare_with_torch


def _run(framework, arrays, norm, dtype, g):
    """layer_norm's output and input gradients under the upstream gradient ``g``, in ``dtype``."""
    lib, fn = (torch, torch.nn.functional.layer_norm) if framework == "torch" else (tg, F.layer_norm)
    xs = [lib.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    y = fn(xs[0], norm, *xs[1:], eps=1e-5)
    (y * lib.tensor(g.astype(dtype))).sum().backward()
    return [y.detach().numpy()] + [x.grad.numpy() for x in xs]


@pytest.mark.parametrize("impl", ["plain", "cpu"])
@settings(max_examples=10, deadline=None)
@given(lead=st.lists(st.integers(1, 4), min_size=0, max_size=2), norm=st.lists(st.integers(1, 6), min_size=1, max_size=2),
       affine=st.sampled_from(["both", "weight", "none"]), dtype=st.sampled_from([np.float64, np.float32]))
def test_layer_norm_matches_torch(impl, lead, norm, affine, dtype):
    backend.PLAIN = impl == "plain"
    try:
        rng = np.random.default_rng(len(lead) * 10 + sum(norm))
        arrays = [rng.standard_normal(tuple(lead) + tuple(norm)) * 3 + 1]
        if affine != "none":
            arrays.append(rng.standard_normal(norm))
        if affine == "both":
            arrays.append(rng.standard_normal(norm))
        if dtype == np.float64:
            compare_with_torch(lambda x, *wb: F.layer_norm(x, norm, *wb, eps=1e-5),
                               lambda x, *wb: torch.nn.functional.layer_norm(x, norm, *wb, eps=1e-5), arrays)
            return
        # float32: a short row of close values is ill-conditioned (a row 3.490, 3.483 has variance ~eps), and
        # two float32 computations then differ by ~1e-4 relative. So both are held to the float64 truth: our
        # worst error must be within twice PyTorch's own float32 worst error, plus float32 rounding of the
        # largest term the gradient sums, |g| |w| / sqrt(var + eps) <= |g| |w| / sqrt(eps).
        g = np.random.default_rng(1).standard_normal(arrays[0].shape)
        truth = _run("torch", arrays, norm, np.float64, g)
        term = np.abs(g).max() * (np.abs(arrays[1]).max() if affine != "none" else 1.0) / np.sqrt(1e-5)
        for ours, theirs, exact, what in zip(_run("tg", arrays, norm, np.float32, g),
                                             _run("torch", arrays, norm, np.float32, g), truth,
                                             ("output", "dx", "dweight", "dbias")[:len(truth)], strict=True):
            assert ours.dtype == np.float32
            worst, theirs_worst = np.abs(ours - exact).max(), np.abs(theirs - exact).max()
            assert worst <= 2 * theirs_worst + 1e-6 * (1 + np.abs(exact).max() + term), \
                f"{what}: float32 error {worst:.3g}, torch's {theirs_worst:.3g}"
    finally:
        backend.PLAIN = False


def test_gradcheck():
    rng = np.random.default_rng(0)
    x, w, b = (tg.tensor(a, requires_grad=True) for a in (rng.standard_normal((3, 5)), rng.standard_normal(5),
                                                          rng.standard_normal(5)))
    assert tg.gradcheck(lambda x, w, b: F.layer_norm(x, 5, w, b), [x, w, b])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernel_equals_plain(dtype):
    rng = np.random.default_rng(1)
    x, g = (rng.standard_normal((37, 19)).astype(dtype) for _ in range(2))
    w, b = (rng.standard_normal(19).astype(dtype) for _ in range(2))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    fw = [backend.kernel("layer_norm_forward", impl=i)(x, w, b, 1e-5) for i in ("plain", "cpu")]
    for a, c in zip(*fw, strict=True):
        assert a.dtype == c.dtype == dtype
        np.testing.assert_allclose(a, c, **tol)
    bw = [backend.kernel("layer_norm_backward", impl=i)(x, w, fw[0][1], fw[0][2], g) for i in ("plain", "cpu")]
    for a, c in zip(*bw, strict=True):
        assert a.dtype == c.dtype == dtype
        np.testing.assert_allclose(a, c, **tol)


def test_module_loads_torch_state_dict_and_matches():
    ref = torch.nn.LayerNorm((4, 6), eps=1e-6).double()
    with torch.no_grad():
        ref.weight.normal_()
        ref.bias.normal_()
    ours = nn.LayerNorm((4, 6), eps=1e-6).double()
    ours.load_state_dict(ref.state_dict())
    x = np.random.default_rng(2).standard_normal((3, 4, 6))
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(), atol=1e-12)
    assert set(nn.LayerNorm(3, bias=False).state_dict()) == {"weight"}
    assert nn.LayerNorm(3, elementwise_affine=False).state_dict() == {}


def test_refuses_bad_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        F.layer_norm(tg.randn(2, 3), 4)
    with pytest.raises(ValueError, match="positive"):
        nn.LayerNorm(0)
