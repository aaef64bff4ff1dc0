"""No silent wrong result: the version counter, index ranges, the dtype rule, BCE's range, detect_anomaly,
and PyTorch's errors for dim out of range and reductions of empty tensors (each held to torch where torch
defines the behaviour)."""
import math

import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.nn import functional as F


def _pair(shape=(3, 4), seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


# ------------------------------------------------------------------ version counter
@pytest.mark.parametrize("change", [
    lambda t: t.zero_(), lambda t: t.fill_(2.0), lambda t: t.add_(1.0), lambda t: t.mul_(2.0),
    lambda t: t.sub_(1.0), lambda t: t.div_(2.0), lambda t: t.clamp_(-0.1, 0.1), lambda t: t.copy_(t * 3),
    lambda t: t.__setitem__(0, 5.0),
])
def test_changing_a_saved_input_makes_backward_raise_as_torch(change):
    w, tw = _pair()
    x, tx = tg.tensor(np.ones((3, 4), np.float32)), torch.ones(3, 4)
    loss, tloss = (w * x).sum(), (tw * tx).sum()
    with tg.no_grad():
        change(x)
    with torch.no_grad():
        change(tx)
    assert x._version == tx._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()
    with pytest.raises(RuntimeError, match=r"MulBackward.*modified in place.*version 1.*other of shape \(3, 4\)"):
        loss.backward()


def test_a_view_shares_its_base_counter_and_the_output_of_exp_is_checked():
    w, tw = _pair()
    y, ty = w.exp(), tw.exp()
    loss, tloss = y.sum(), ty.sum()
    with tg.no_grad():
        y.reshape(12)[0:2].zero_()  # a view of a view of exp's saved output
    with torch.no_grad():
        ty.reshape(12)[0:2].zero_()
    assert y._version == ty._version == 1
    with pytest.raises(RuntimeError):
        tloss.backward()
    with pytest.raises(RuntimeError, match="ExpBackward.*its output"):
        loss.backward()


def test_an_op_that_saves_nothing_lets_its_input_change_as_torch():
    w, tw = _pair()
    x = tg.tensor(np.ones((3, 4), np.float32))
    loss = (w + x).sum()  # add saves neither operand
    with tg.no_grad():
        x.add_(1.0)
    loss.backward()
    tloss = (tw + torch.ones(3, 4)).sum()
    tloss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), tw.grad.numpy())


def test_an_optimizer_step_between_forward_and_backward_is_caught():
    lin = nn.Linear(4, 3)
    opt = tg.optim.SGD(lin.parameters(), lr=0.1)
    x = tg.tensor(np.ones((2, 4), np.float32), requires_grad=True)
    first = lin(x).sum()
    first.backward(retain_graph=True)
    opt.step()
    assert lin.weight._version == 1
    with pytest.raises(RuntimeError, match="LinearBackward.*weight"):
        first.backward()


def test_in_place_on_a_tensor_that_requires_grad_is_refused_outside_no_grad():
    w, _ = _pair()
    with pytest.raises(RuntimeError, match="add_: in-place"):
        w.add_(1.0)
    with pytest.raises(ValueError, match="cannot be written into a tensor of shape"):
        tg.zeros(3).add_(tg.ones(4))
    with pytest.raises(TypeError, match="float64"):
        tg.zeros(3).copy_(tg.ones(3).double())


# ------------------------------------------------------------------ indices
@pytest.mark.parametrize("bad", [-1, 5, 7])
def test_index_ops_refuse_what_torch_refuses(bad):
    x, tx = _pair((3, 5))
    idx = np.array([[0], [bad], [1]])
    calls = [
        (lambda: tx.gather(1, torch.tensor(idx)), lambda: x.gather(1, tg.tensor(idx)), "gather"),
        (lambda: tx.index_select(1, torch.tensor([0, bad])), lambda: x.index_select(1, tg.tensor([0, bad])),
         "index_select"),
        (lambda: torch.nn.functional.nll_loss(tx, torch.tensor([0, bad, 1])),
         lambda: F.nll_loss(x, tg.tensor([0, bad, 1])), "nll_loss"),
        (lambda: torch.nn.functional.cross_entropy(tx, torch.tensor([0, bad, 1])),
         lambda: F.cross_entropy(x, tg.tensor([0, bad, 1])), "cross_entropy"),
        (lambda: torch.nn.functional.embedding(torch.tensor([bad]), tx.T),
         lambda: F.embedding(tg.tensor([bad]), x.T), "embedding"),
    ]
    for theirs, ours, name in calls:
        with pytest.raises((IndexError, RuntimeError)):
            theirs()
        with pytest.raises(IndexError, match=rf"{name}: .*{bad} is out of range.*0 to"):
            ours()


def test_ignore_index_and_python_negative_indexing_stay_legal():
    x, tx = _pair((3, 5))
    got = F.cross_entropy(x, tg.tensor([0, -100, 4])).item()
    want = torch.nn.functional.cross_entropy(tx, torch.tensor([0, -100, 4])).item()
    assert got == pytest.approx(want, rel=1e-6)
    np.testing.assert_array_equal(x[-1].numpy(), tx[-1].detach().numpy())
    np.testing.assert_array_equal(x[tg.tensor([-1, 0])].numpy(), tx[torch.tensor([-1, 0])].detach().numpy())


def test_float_index_tensors_are_refused():
    x, tx = _pair((3, 5))
    with pytest.raises(IndexError):
        tx[torch.tensor([0.0])]
    with pytest.raises(IndexError, match="must be long, int or bool"):
        x[tg.tensor([0.0])]
    with pytest.raises(TypeError, match="gather: index must be an integer"):
        x.gather(1, tg.tensor([[0.0]] * 3))
    with pytest.raises(TypeError, match="embedding: indices must be integers"):
        nn.Embedding(4, 2)(tg.tensor([1.0]))


# ------------------------------------------------------------------ dtype rule
def test_mixing_float32_and_float64_raises_naming_op_and_dtypes():
    a, b = tg.ones(2, 3), tg.ones(2, 3).double()
    for op, name in ((lambda: a + b, "add"), (lambda: a * b, "mul"), (lambda: a @ b.T, "mat_mul"),
                     (lambda: tg.cat([a, b]), "cat"), (lambda: tg.where(a > 0, a, b), "where")):
        with pytest.raises(TypeError, match=rf"{name}: .*float32.*float64"):
            op()
    assert (a * 2.5).dtype == tg.float32 and (b * np.float32(2)).dtype == tg.float64  # numbers take the dtype
    assert (tg.ones(3).long() * a[0]).dtype == tg.float32  # an integer operand takes the float one's


@pytest.mark.parametrize("layer,x", [
    (lambda: nn.Linear(3, 2), lambda: tg.ones(4, 3).double()),
    (lambda: nn.LSTM(3, 2), lambda: tg.ones(5, 4, 3).double()),
    (lambda: nn.GRUCell(3, 2), lambda: tg.ones(4, 3).double()),
    (lambda: nn.Conv2d(3, 2, 3), lambda: tg.ones(1, 3, 5, 5).double()),
    (lambda: nn.LayerNorm(3), lambda: tg.ones(4, 3).double()),
])
def test_a_float32_layer_refuses_float64_input_with_the_fix(layer, x):
    module = layer()
    name = type(module).__name__
    with pytest.raises(TypeError, match=rf"{name}: input float64 but weight float32; call .double\(\) on the "
                                        r"module or .float\(\) on the input"):
        module(x())
    assert module.double()(x()) is not None  # and the fix it names works


# ------------------------------------------------------------------ binary cross-entropy
@pytest.mark.parametrize("p,y,which", [(1.5, 1.0, "input"), (-0.1, 0.0, "input"), (0.5, 2.0, "target"),
                                       (float("nan"), 1.0, "input")])
def test_bce_refuses_values_outside_0_1_as_torch(p, y, which):
    with pytest.raises(RuntimeError, match=f"elements of {which} should be between 0 and 1"):
        torch.nn.functional.binary_cross_entropy(torch.tensor([p]), torch.tensor([y]))
    with pytest.raises(RuntimeError, match=f"binary_cross_entropy: all elements of {which} should be between"):
        F.binary_cross_entropy(tg.tensor([p]), tg.tensor([y]))


# ------------------------------------------------------------------ detect_anomaly
def test_detect_anomaly_names_the_forward_op_that_made_nan():
    x = tg.tensor([-1.0, 4.0], requires_grad=True)
    with tg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"detect_anomaly: sqrt \(SqrtBackward\) made nan values in its forward"):
            x.sqrt()
    assert np.isnan(x.sqrt().numpy()[0])  # outside it: the usual nan, no check


def test_detect_anomaly_names_the_backward_op_that_made_inf():
    x = tg.tensor([0.0, 4.0], requires_grad=True)
    with tg.autograd.detect_anomaly():
        y = x.sqrt().sum()  # finite forward; d sqrt / dx at 0 is inf
        with pytest.raises(RuntimeError, match=r"detect_anomaly: sqrt \(SqrtBackward\) made inf .*backward"):
            y.backward()
    assert tg.autograd.Function.apply.__func__.__name__ == "apply"  # restored on exit


# ------------------------------------------------------------------ dims and empty reductions
@pytest.mark.parametrize("call", [
    lambda t, m: m.sum(t, 5), lambda t, m: m.mean(t, -3), lambda t, m: m.softmax(t, dim=2),
    lambda t, m: m.cat([t, t], dim=2), lambda t, m: m.stack([t, t], dim=4), lambda t, m: m.transpose(t, 0, 2),
    lambda t, m: m.squeeze(t, 3), lambda t, m: m.unsqueeze(t, 3), lambda t, m: m.argmax(t, 2),
    lambda t, m: m.max(t, 2), lambda t, m: m.amax(t, 2), lambda t, m: m.std(t, 2), lambda t, m: m.flatten(t, 0, 3),
    lambda t, m: m.permute(t, (0, 5)), lambda t, m: m.split(t, 1, 2), lambda t, m: m.gather(t, 2, t.long()),
])
def test_dim_out_of_range_is_torchs_index_error(call):
    with pytest.raises(IndexError) as theirs:
        call(torch.ones(2, 3), torch)
    with pytest.raises(IndexError) as ours:
        call(tg.ones(2, 3), tg)
    assert theirs.value.args[0].split("(")[0] in str(ours.value)  # "Dimension out of range "
    assert "Dimension out of range (expected to be in range of [" in str(ours.value)


@pytest.mark.parametrize("name", ["max", "min", "argmax", "argmin", "amax", "amin"])
def test_reductions_of_empty_raise_as_torch(name):
    for shape, kwargs in (((0,), {}), ((0, 3), {"dim": 0})):
        with pytest.raises((RuntimeError, IndexError)) as theirs:
            getattr(torch, name)(torch.ones(shape), **kwargs)
        with pytest.raises(type(theirs.value), match=name):
            getattr(tg, name)(tg.ones(*shape), **kwargs)
    t, tt = tg.ones(0, 3), torch.ones(0, 3)
    np.testing.assert_array_equal(tg.amax(t, 1).numpy(), torch.amax(tt, 1).numpy())  # nothing to reduce: fine


def test_sum_and_mean_of_empty_are_torchs():
    assert tg.ones(0).sum().item() == torch.ones(0).sum().item() == 0
    assert math.isnan(tg.ones(0).mean().item()) and math.isnan(torch.ones(0).mean().item())
    np.testing.assert_array_equal(tg.ones(0, 3).mean(0).numpy(), torch.ones(0, 3).mean(0).numpy())


def test_reductions_accept_numpy_axis_and_keepdims_as_torch():
    x, tx = _pair((2, 3, 4))
    for name in ("sum", "mean", "amax", "amin", "var", "std", "argmax", "argmin"):
        got = getattr(x, name)(axis=1, keepdims=True)
        want = getattr(tx, name)(axis=1, keepdims=True)
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-6)
    np.testing.assert_array_equal(x.max(axis=2).values.numpy(), tx.max(axis=2).values.detach().numpy())
    with pytest.raises(TypeError, match="sum: give dim or its alias axis"):
        x.sum(0, axis=1)


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)|mat_mul.*\(2, 3\).*\(4, 5\)"):
        tg.ones(2, 3) @ tg.ones(4, 5)
    with pytest.raises(ValueError, match=r"reshape: cannot view shape \(2, 3\).*as \(4, 2\)"):
        tg.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match="Linear: input must have at least 1 dimension"):
        nn.Linear(3, 2)(tg.tensor(1.0))


def test_an_error_from_inside_numpy_is_raised_again_naming_the_op():
    class BadShape(tg.autograd.Function):  # a forward whose NumPy call fails in a way no check foresaw
        def forward(self, x):
            return x.reshape(x.size + 1)

        def backward(self, g):
            return g.reshape(3)

    with pytest.raises(ValueError, match=r"^bad_shape \(forward\) failed on operands \[\(2,\) float32\]: ValueError"):
        BadShape.apply(tg.ones(2))


def test_detach_and_views_share_the_version_counter_as_torch():
    x, tx = tg.ones(2, 3), torch.ones(2, 3)
    d, td = x.detach(), tx.detach()
    with tg.no_grad():
        d.T[0].fill_(2.0)
    td.T[0].fill_(2.0)
    assert x._version == tx._version == 1
    assert x.numpy()[0, 0] == 2.0
    with pytest.raises(IndexError, match=r"__setitem__: index .* out of range for shape \(2, 3\)"):
        x[5] = 1.0
