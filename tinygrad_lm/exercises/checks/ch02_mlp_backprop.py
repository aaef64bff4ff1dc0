"""Checks of chapter 2 (MLP and backpropagation): against the library's ops and its D1.F3 by hand."""
import numpy as np

from ... import ops
from ...data.preprocessing import StandardScaler
from ...models.mlp import two_layer_backprop_by_hand
from ..core import CheckFailure, assert_close, cases, close, exercise, reference_grads, tensor64

# (N, in, hidden, out): batch 1, square weights (a missing transpose still runs), single units, odd sizes
_SIZES = [(1, 2, 3, 2), (4, 3, 3, 3), (5, 1, 1, 1), (3, 7, 5, 4), (2, 4, 4, 4)]


@exercise("2.1", "the two-layer network's forward", ids=("D1.F1", "D0.F1"), kind="build", file="ch02_mlp_backprop",
          entry=("two_layer_forward",))
def _(two_layer_forward):
    for rng, (n, d, h, o) in zip(cases(len(_SIZES), 1), _SIZES, strict=True):
        x, W1, b1 = rng.standard_normal((n, d)), rng.standard_normal((h, d)), rng.standard_normal(h)
        W2, b2 = rng.standard_normal((o, h)), rng.standard_normal(o)
        z2 = ops.linear(tensor64(x, False), tensor64(W1, False), tensor64(b1, False))
        a2 = ops.sigmoid(z2)
        z3 = ops.linear(a2, tensor64(W2, False), tensor64(b2, False))
        got = two_layer_forward(x, W1, b1, W2, b2)
        if not isinstance(got, (tuple, list)) or len(got) != 4:
            raise CheckFailure("outputs", f"expected (z2, a2, z3, a3), got {type(got).__name__}")
        for name, g, w in zip(("z2", "a2", "z3", "a3"), got, (z2, a2, z3, ops.sigmoid(z3)), strict=True):
            assert_close(g, w, f"{name}, N={n} in={d} hidden={h} out={o}",
                         hint="z = x @ W.T + b with W of shape (out, in)")


@exercise("2.2", "softmax cross-entropy with label smoothing, and its gradient", ids=("D1.F2", "D0.F4"), kind="op",
          file="ch02_mlp_backprop", entry=("softmax_cross_entropy",))
def _(softmax_cross_entropy):
    sizes = [(1, 3, 0.0), (4, 5, 0.1), (3, 2, 0.3), (6, 7, 0.0), (2, 4, 1.0)]
    for rng, (n, c, eps) in zip(cases(len(sizes), 2), sizes, strict=True):
        logits = rng.standard_normal((n, c)) * 3
        logits[0, 0] += 500.0  # a large logit: a naive exp overflows
        target = rng.integers(0, c, n)
        want, (want_grad,) = reference_grads(lambda z, t=target, e=eps: ops.cross_entropy(z, t, label_smoothing=e),
                                             [logits], np.ones(()))
        result = softmax_cross_entropy(logits, target, eps)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise CheckFailure("outputs", f"expected (loss, grad), got {type(result).__name__}")
        loss, grad = result
        where = f"N={n}, C={c}, label_smoothing={eps}"
        assert_close(loss, want, f"loss, {where}", hint="q = (1 - eps) onehot + eps / C; stabilise by the row max")
        assert_close(grad, want_grad, f"gradient, {where}", hint="(softmax - q) / N")


_NET = dict(x=np.array([[1.0, -2.0]]), y=np.array([[1.0, 0.0]]),
            W1=np.array([[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]]), b1=np.array([0.1, -0.2, 0.05]),
            W2=np.array([[0.7, -0.4, 0.3], [-0.2, 0.5, 0.9]]), b2=np.array([0.0, 0.1]))
_D1F3 = "D1.F3: dJ/dz3 divided by sigma' and averaged over the outputs (it is a3 - y)"


def _source_output_error(a3, y):
    return np.mean((y - a3) / (a3 * (1 - a3)), axis=1, keepdims=True)


def _is_source(got, a3, y):
    """Whether ``got`` is the source's dJ/dz3 (per sample, or broadcast over the outputs, or over N)."""
    src = _source_output_error(a3, y)
    return any(close(got, s) for s in (src, np.broadcast_to(src, a3.shape), src[:, 0], src / len(a3),
                                       np.broadcast_to(src / len(a3), a3.shape)))


@exercise("2.3", "derive by hand: D1.F3's gradients on a given network", ids=("D1.F3",), kind="derive",
          file="ch02_mlp_backprop", entry=("backprop_numbers",))
def _(backprop_numbers):
    _, want = two_layer_backprop_by_hand(**_NET, output="sigmoid")
    got = backprop_numbers()
    if not isinstance(got, dict):
        raise CheckFailure("answer", f"expected a dict of arrays, got {type(got).__name__}")
    a3 = 1 / (1 + np.exp(-(1 / (1 + np.exp(-(_NET["x"] @ _NET["W1"].T + _NET["b1"]))) @ _NET["W2"].T + _NET["b2"])))
    if "z3" in got and _is_source(got["z3"], a3, _NET["y"]):
        raise CheckFailure("dJ/dz3", "your dJ/dz3 is the source's formula", erratum=_D1F3)
    for key in ("z3", "W2", "b2", "a2", "z2", "W1", "b1"):
        if key not in got:
            raise CheckFailure("answer", f"no entry {key!r} (dJ/d{key})")
        assert_close(got[key], want[key], f"dJ/d{key}",
                     hint="dJ/dW = delta^T a (an outer product)" if key.startswith(("W", "b")) else None)


@exercise("2.4", "erratum hunt: the output and hidden errors", ids=("D1.F3",), kind="erratum",
          file="ch02_mlp_backprop", entry=("output_error", "hidden_error"))
def _(output_error, hidden_error):
    for rng, (n, h, o) in zip(cases(4, 4), [(1, 3, 2), (5, 4, 3), (3, 2, 1), (2, 3, 3)], strict=True):
        a3, y = rng.uniform(0.05, 0.95, (n, o)), rng.integers(0, 2, (n, o)).astype(float)
        got = output_error(a3, y)
        if _is_source(got, a3, y):
            raise CheckFailure("output error", "your dJ/dz3 is the source's formula", erratum=_D1F3)
        z3 = tensor64(np.log(a3 / (1 - a3)))
        (ops.binary_cross_entropy(ops.sigmoid(z3), tensor64(y, False), reduction="sum") / n).backward()
        assert_close(got, z3.grad, f"output error dJ/dz3, N={n}, outputs={o}", hint="a3 - y, over N")
        dz3, W2, z2 = rng.standard_normal((n, o)), rng.standard_normal((o, h)), rng.standard_normal((n, h))
        a2 = 1 / (1 + np.exp(-z2))
        _, (want,) = reference_grads(lambda t, w=W2: ops.linear(ops.sigmoid(t), tensor64(w, False)), [z2], dz3)
        assert_close(hidden_error(dz3, W2, a2), want, f"hidden error dJ/dz2, N={n}, hidden={h}, outputs={o}",
                     hint="dJ/da2 = dz3 @ W2 sums over every output unit, then times a2 (1 - a2)")


@exercise("2.5", "standardisation with training statistics; an SGD step with L2", ids=("D1.F6", "D1.F4", "D1.T1",
          "D2.T4"), kind="technique", file="ch02_mlp_backprop", entry=("standardize_split", "sgd_l2_step"))
def _(standardize_split, sgd_l2_step):
    rng = cases(1, 5)[0]
    x_train = rng.standard_normal((7, 4)) * [1.0, 10.0, 0.1, 1.0] + [0.0, 5.0, -3.0, 2.0]
    x_train[:, 3] = 2.0  # a constant feature
    x_test = rng.standard_normal((3, 4)) * 4
    scaler = StandardScaler().fit(x_train)
    z_train, z_test = standardize_split(x_train.copy(), x_test.copy())
    assert_close(z_train, scaler.transform(x_train), "training split", hint="population std (ddof=0); constant -> 1")
    assert_close(z_test, scaler.transform(x_test), "test split", hint="the statistics come from the training split")
    w, g = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    w0 = w.copy()
    param = tensor64(w)
    (0.5 * 0.1 * (param * param).sum() + (param * tensor64(g, False)).sum()).backward()
    new = sgd_l2_step(w, g, 0.3, 0.1)
    if not np.array_equal(w, w0):
        raise CheckFailure("SGD step", "it modified w in place")
    assert_close(new, w0 - 0.3 * param.grad.numpy(), "SGD step with weight_decay=0.1, lr=0.3",
                 hint="the L2 penalty's gradient is weight_decay * w, and the step goes against the gradient")
