"""Element-wise arithmetic, @, comparisons, where/masked_fill/clip and the unary maths ops:
gradcheck (float64, random upstream) and PyTorch parity (float64 1e-10, float32 1e-5)."""
import operator

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from op_checks import FAST, away_from, broadcast_pair, check_op, randn, seeds, shapes, torch_single_thread  # noqa: F401

import tinygrad_lm as tg

BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,
}


def _binary_inputs(name, seed, sa, sb):
    a, b = randn(seed, sa, sb)
    if name == "div":
        b = away_from(b, gap=0.5)
    if name == "pow":
        a = np.abs(a) + 0.5  # positive base: both gradients are defined
    return a, b


@pytest.mark.parametrize("name", list(BINARY))
@settings(**FAST)
@given(pair=broadcast_pair(), seed=seeds)
def test_binary_broadcasting(name, pair, seed):
    op = BINARY[name]
    check_op(op, op, _binary_inputs(name, seed, *pair))


@pytest.mark.parametrize("name", list(BINARY))
@settings(**FAST)
@given(n=st.integers(1, 4), m=st.integers(1, 4), seed=seeds)
def test_binary_noncontiguous(name, n, m, seed):
    """The left operand is a transposed (non-contiguous) view; the right one broadcasts over rows."""
    op = BINARY[name]
    a, b = _binary_inputs(name, seed, (m, n), (m,))
    check_op(lambda x, y: op(x.T, y[:, None].T), lambda x, y: op(x.T, y[:, None].T), [a, b])


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("side", ["left", "right"])
def test_binary_with_python_number(name, side):
    x = randn(1, (3, 2))[0]
    x = np.abs(x) + 0.5 if name in ("pow", "div") else x
    c = 1.5
    fn = (lambda t: BINARY[name](t, c)) if side == "right" else (lambda t: BINARY[name](c, t))
    out = check_op(fn, fn, [x])
    assert out.dtype == np.float64


def test_pow_zero_base_exponent_gradient_is_finite():
    a = tg.tensor([0.0, 2.0], requires_grad=True, dtype=tg.float64)
    b = tg.tensor([2.0, 3.0], requires_grad=True, dtype=tg.float64)
    (a ** b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 12.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 8 * np.log(2.0)])


UNARY = {
    "neg": (operator.neg, operator.neg, None),
    "exp": (tg.exp, torch.exp, None),
    "log": (tg.log, torch.log, "positive"),
    "sqrt": (tg.sqrt, torch.sqrt, "positive"),
    "abs": (lambda x: x.abs(), torch.abs, "kink"),
}


@pytest.mark.parametrize("name", list(UNARY))
@settings(**FAST)
@given(shape=shapes(min_dims=0), seed=seeds, transpose=st.booleans())
def test_unary(name, shape, seed, transpose):
    tg_fn, th_fn, domain = UNARY[name]
    (x,) = randn(seed, shape)
    if domain == "positive":
        x = np.abs(x) + 0.2
    elif domain == "kink":
        x = away_from(x)
    if transpose and x.ndim >= 2:
        check_op(lambda t: tg_fn(t.mT), lambda t: th_fn(t.mT), [x])
    else:
        check_op(tg_fn, th_fn, [x])


def test_abs_gradient_at_zero_is_zero_like_torch():
    x = tg.tensor([0.0, -1.0], requires_grad=True)
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, -1.0])


@st.composite
def matmul_shapes(draw):
    kind = draw(st.sampled_from(["nd", "vec-vec", "vec-nd", "nd-vec"]))
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = draw(broadcast_pair(max_dims=2, max_side=3))
    a = batch_a + (n, k)
    b = batch_b + (k, m)
    if kind in ("vec-vec", "vec-nd"):
        a = (k,)
    if kind in ("vec-vec", "nd-vec"):
        b = (k,)
    return a, b


@settings(**FAST)
@given(sh=matmul_shapes(), seed=seeds)
def test_matmul_batched_broadcasting(sh, seed):
    check_op(operator.matmul, operator.matmul, randn(seed, *sh))


@settings(**FAST)
@given(n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), seed=seeds)
def test_matmul_transposed_operands(n, k, m, seed):
    check_op(lambda a, b: a.T @ b.T, lambda a, b: a.T @ b.T, randn(seed, (k, n), (m, k)))


def test_matmul_only_one_side_needs_grad():
    a, b = randn(0, (2, 3), (3, 4))
    check_op(operator.matmul, operator.matmul, [a, b], requires_grad=[False, True])
    check_op(operator.matmul, operator.matmul, [a, b], requires_grad=[True, False])


@pytest.mark.parametrize("op", ["lt", "le", "gt", "ge", "eq", "ne"])
@settings(**FAST)
@given(pair=broadcast_pair(), seed=seeds)
def test_comparisons_have_no_gradient(op, pair, seed):
    a, b = randn(seed, *pair)
    a = np.round(a)  # some ties, so eq/le/ge see equal elements
    b = np.round(b)
    ta = tg.tensor(a, requires_grad=True)
    out = getattr(operator, op)(ta, tg.tensor(b))
    assert out.dtype == np.bool_ and not out.requires_grad and out._ctx is None
    np.testing.assert_array_equal(out.numpy(), getattr(operator, op)(torch.tensor(a), torch.tensor(b)).numpy())


@settings(**FAST)
@given(shapes3=st.tuples(broadcast_pair(), shapes(min_dims=0, max_dims=1, max_side=1)), seed=seeds)
def test_where_broadcasting(shapes3, seed):
    (sa, sb), sc = shapes3
    a, b, c = randn(seed, sa, sb, sc)
    cond = c > 0
    check_op(lambda x, y, m: tg.where(m, x, y), lambda x, y, m: torch.where(m, x, y), [a, b, cond])


@settings(**FAST)
@given(shape=shapes(min_dims=1), seed=seeds)
def test_masked_fill(shape, seed):
    x, m = randn(seed, shape, shape[-1:])
    mask = m > 0
    check_op(lambda t, k: t.masked_fill(k, -2.5), lambda t, k: t.masked_fill(k, -2.5), [x, mask])


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.7), (None, 0.3), (-0.2, None)])
@settings(**FAST)
@given(shape=shapes(min_dims=0), seed=seeds)
def test_clip(lo, hi, shape, seed):
    (x,) = randn(seed, shape)
    x = away_from(x, [v for v in (lo, hi) if v is not None], gap=0.05)
    check_op(lambda t: t.clip(lo, hi), lambda t: t.clip(lo, hi), [x])
    check_op(lambda t: tg.clamp(t, lo, hi), lambda t: torch.clamp(t, lo, hi), [x])
