"""Checks of chapter 1 (autograd): each Function against the library's op, forward and backward."""
import numpy as np

from ... import ops
from ..core import (CheckFailure, assert_close, assert_grad, cases, exercise, reference_grads, run_function,
                    tensor64)

# (shape of a, shape of b): equal shapes, batch 1, broadcasting on either side, a scalar, odd sizes
_MUL_SHAPES = [((2, 3), (2, 3)), ((1, 5), (1, 5)), ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((2, 1, 3), (5, 1)),
               ((), (3, 2)), ((7, 3), (3,))]
# (shape, dim, keepdim)
_SUM_CASES = [((3, 4), None, False), ((3, 4), 0, False), ((2, 3, 5), -1, True), ((2, 3, 5), (0, 2), False),
              ((1, 4), 1, True), ((5,), 0, False), ((2, 1, 3), (1,), True)]


def _op_check(name, cls, ref, arrays, rng, hint, **options):
    """Forward and backward of the student's Function ``cls`` against ``ref`` on ``arrays``."""
    upstream = rng.standard_normal(ref(*[tensor64(a, False) for a in arrays], **options).shape)
    want, want_grads = reference_grads(lambda *t: ref(*t, **options), arrays, upstream)
    shapes = " and ".join(str(np.shape(a)) for a in arrays)
    out, grads = run_function(cls, arrays, upstream, **options)
    assert_close(out, want, f"{name} forward, inputs {shapes}", hint=hint)
    if len(grads) != len(arrays):
        raise CheckFailure(f"{name} backward", f"returned {len(grads)} gradient(s) for {len(arrays)} input(s)")
    for i, (g, w) in enumerate(zip(grads, want_grads, strict=True)):
        assert_close(g, w, f"{name} backward, gradient of input {i}, inputs {shapes}", hint=hint)


@exercise("1.1", "Mul, Exp and Sum: forward and backward, with broadcasting", ids=("D2.F1",), kind="op",
          file="ch01_autograd", entry=("Mul", "Exp", "Sum"))
def _(Mul, Exp, Sum):
    for rng, (sa, sb) in zip(cases(len(_MUL_SHAPES), 11), _MUL_SHAPES, strict=True):
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        _op_check("Mul", Mul, ops.mul, [a, b], rng, "each gradient is summed back to its own input's shape")
    for rng, shape in zip(cases(3, 12), [(3, 4), (1,), (2, 1, 5)], strict=True):
        _op_check("Exp", Exp, ops.exp, [rng.uniform(-3, 3, shape)], rng, "d exp(x)/dx = exp(x)")
    for rng, (shape, dim, keepdim) in zip(cases(len(_SUM_CASES), 13), _SUM_CASES, strict=True):
        _op_check(f"Sum(dim={dim}, keepdim={keepdim})", Sum, ops.sum, [rng.standard_normal(shape)], rng,
                  "the upstream gradient is copied to every summed element", dim=dim, keepdim=keepdim)
    assert_grad(lambda a, b: Sum.apply(Exp.apply(Mul.apply(a, b)), dim=1), [np.ones((2, 3)) * 0.3,
                np.linspace(-1, 1, 3)], "gradcheck of Sum(Exp(Mul(a, b)), dim=1)")


@exercise("1.2", "MatMul: forward and backward", ids=("D2.F1",), kind="op", file="ch01_autograd", entry=("MatMul",))
def _(MatMul):
    for rng, (n, k, m) in zip(cases(5, 21), [(2, 3, 4), (1, 5, 1), (4, 1, 3), (3, 3, 3), (7, 2, 5)], strict=True):
        _op_check("MatMul", MatMul, ops.matmul, [rng.standard_normal((n, k)), rng.standard_normal((k, m))], rng,
                  "dL/dA = G B^T (n, k), dL/dB = A^T G (k, m)")


@exercise("1.3", "Sigmoid, Tanh and ReLU with their derivatives", ids=("D1.F5",), kind="op", file="ch01_autograd",
          entry=("Sigmoid", "Tanh", "ReLU"))
def _(Sigmoid, Tanh, ReLU):
    rng = cases(1, 31)[0]
    x = np.concatenate([rng.standard_normal(9) * 3, [0.0, -800.0, 800.0, -40.0, 40.0]]).reshape(2, 7)
    for name, cls, ref in (("Sigmoid", Sigmoid, ops.sigmoid), ("Tanh", Tanh, ops.tanh), ("ReLU", ReLU, ops.relu)):
        _op_check(name, cls, ref, [x], rng, "large |x| and x = 0 included; sigma' = sigma (1 - sigma)")


def _source_normalize(x):
    return x / np.sqrt((x * x).sum(axis=-1, keepdims=True))


@exercise("1.4", "erratum hunt: L2 normalisation of a zero vector", ids=("D2.F1",), kind="erratum",
          file="ch01_autograd", entry=("Normalize",))
def _(Normalize):
    rng = cases(1, 41)[0]
    x = rng.standard_normal((4, 5))
    x[1] = 0.0
    x[3] = 1e-14 * rng.standard_normal(5)
    upstream = rng.standard_normal(x.shape)
    with np.errstate(all="ignore"):
        out, grads = run_function(Normalize, [x], upstream)
        if not np.all(np.isfinite(np.asarray(out, dtype=np.float64))) or _close_rows(out, _source_normalize(x)):
            raise CheckFailure("forward on a zero row", "your rows of zeros come out as NaN or are divided by |v| "
                               "itself", "divide by max(|v|, eps)", "D2.F1: v / |v| divides by zero")
    want, (want_grad,) = reference_grads(lambda t: ops.normalize(t, dim=-1), [x], upstream)
    assert_close(out, want, "forward, rows of zeros and of tiny norm included")
    assert_close(grads[0], want_grad, "backward, rows of zeros and of tiny norm included",
                 hint="where |v| <= eps the denominator is a constant")
    y = rng.standard_normal((3, 4))
    _op_check("Normalize", Normalize, lambda t: ops.normalize(t, dim=-1), [y], rng, "dL/dv = (g - y (g.y)) / |v|")


def _close_rows(a, b):
    """Whether the finite rows of ``a`` and the source's ``b`` agree on the tiny-norm row (its signature)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.allclose(a[3], b[3])


@exercise("1.5", "derive by hand: the chain rule with two paths", ids=("D2.F1",), kind="derive", file="ch01_autograd",
          entry=("chain_rule_numbers",))
def _(chain_rule_numbers):
    answer = chain_rule_numbers()
    if not isinstance(answer, (tuple, list)) or len(answer) != 3:
        raise CheckFailure("answer", f"expected three numbers (dL/da, dL/db, dL/dc), got {answer!r}")
    a, b, c = (tensor64(v) for v in (2.0, -1.0, 0.5))
    loss = ops.exp(a * b + c) * a + b * b
    loss.backward()
    want = [t.grad.numpy() for t in (a, b, c)]
    for name, got, w in zip(("dL/da", "dL/db", "dL/dc"), answer, want, strict=True):
        assert_close(got, w, name, hint="a reaches L by two paths: through u and directly" if name == "dL/da" else None)
