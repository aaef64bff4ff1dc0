"""tg.gradcheck itself: it passes right backwards, catches wrong ones (even those a sum upstream
misses), names the worst element, has a directional mode, and refuses float32."""
import re

import numpy as np
import pytest

import tinygrad_lm as tg
from tinygrad_lm.autograd import Function
from tinygrad_lm.ops.activation import softmax_array


class ZeroGradSoftmax(Function):
    """softmax with a backward that returns zeros: right for a sum upstream, wrong otherwise."""

    def forward(self, x):
        return softmax_array(x, -1)

    def backward(self, g):
        return g * 0


class OffByOne(Function):
    """y = x^2 with dy/dx wrong by +1 at one element only."""

    def forward(self, x, bad_index):
        self.x, self.bad = x, bad_index
        return x * x

    def backward(self, g):
        grad = 2 * self.x * g
        grad[self.bad] += 1.0
        return grad


def _x(shape=(3, 4), seed=0):
    return tg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_passes_a_right_backward():
    assert tg.gradcheck(lambda t: tg.softmax(t, -1), [_x()])
    assert tg.gradcheck(lambda a, b: (a @ b).tanh(), [_x((2, 3)), _x((3, 2), 1)])


def test_sum_upstream_misses_zero_softmax_backward_but_gradcheck_catches_it():
    x = _x()
    # the check a sum upstream would make: d sum(softmax(x)) / dx is 0, and so is the wrong backward
    ZeroGradSoftmax.apply(x).sum().backward()
    eps = 1e-6
    numeric = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        d = np.zeros(x.shape)
        d[idx] = eps
        numeric[idx] = (softmax_array(x.data + d, -1).sum() - softmax_array(x.data - d, -1).sum()) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), numeric, atol=1e-8)  # fooled
    with pytest.raises(tg.GradcheckError, match="gradient mismatch"):
        tg.gradcheck(ZeroGradSoftmax.apply, [_x()])
    assert tg.gradcheck(ZeroGradSoftmax.apply, [_x()], raise_exception=False) is False


def test_reports_worst_element_index_analytic_numeric():
    x = _x((3, 4))
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(lambda t: OffByOne.apply(t, bad_index=(2, 1)), [x])
    msg = str(info.value)
    assert "input 0" in msg and "index (2, 1)" in msg
    analytic, numeric = (float(v) for v in re.search(r"analytic (\S+), numeric (\S+)", msg).groups())
    assert analytic - numeric == pytest.approx(1.0, abs=1e-6)


def test_reports_which_input():
    a, b = _x((2, 2)), _x((2, 2), 1)
    with pytest.raises(tg.GradcheckError, match=r"input 1 at index \(0, 1\)"):
        tg.gradcheck(lambda p, q: p * 2.0 + OffByOne.apply(q, bad_index=(0, 1)), [a, b])


def test_inputs_without_grad_are_constants():
    a = _x((2, 3))
    b = tg.tensor(np.ones((2, 3)))
    assert tg.gradcheck(lambda p, q: p * q + q, [a, b])


def test_multiple_outputs():
    assert tg.gradcheck(lambda t: t.split(2, 1), [_x((2, 5))])
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(lambda t: (t * 1.0, OffByOne.apply(t, bad_index=(0, 0))), [_x((2, 2))])


def test_directional_mode_passes_and_catches():
    big = _x((40, 50))
    assert tg.gradcheck(lambda t: tg.log_softmax(t, 1), [big], mode="directional")
    with pytest.raises(tg.GradcheckError, match="directional derivative mismatch"):
        tg.gradcheck(ZeroGradSoftmax.apply, [big], mode="directional")
    with pytest.raises(tg.GradcheckError, match="directional"):
        tg.gradcheck(lambda t: OffByOne.apply(t, bad_index=(7, 3)), [big], mode="directional")


def test_float32_inputs_refused():
    x = tg.tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        tg.gradcheck(lambda t: t * 2.0, [x])


def test_bad_arguments_refused():
    with pytest.raises(ValueError, match="requires_grad"):
        tg.gradcheck(lambda t: t * 2.0, [tg.tensor(np.ones(2))])
    with pytest.raises(ValueError, match="mode"):
        tg.gradcheck(lambda t: t * 2.0, [_x()], mode="fast")
    with pytest.raises(tg.GradcheckError, match="does not depend"):
        tg.gradcheck(lambda t: tg.tensor(np.ones(2)), [_x()])


def test_inputs_restored_after_check():
    x = _x()
    before = x.numpy().copy()
    tg.gradcheck(lambda t: t.exp(), [x])
    tg.gradcheck(lambda t: t.exp(), [x], mode="directional")
    np.testing.assert_array_equal(x.numpy(), before)
