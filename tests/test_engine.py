"""The backward engine: order, accumulation, graph freeing, memory, grad mode, dtypes, tg.tensor."""
import gc
import tracemalloc
import sys
import weakref

import numpy as np
import pytest
import torch
from op_checks import torch_single_thread  # noqa: F401 (autouse fixture)

import tinygrad_lm as tg
from tinygrad_lm.autograd import Function


def test_reverse_topological_order_diamond():
    # x -> a -> c, x -> b -> c, a -> b: b must run after a has sent its gradient to it
    calls = []

    class Spy(Function):
        def forward(self, x, name):
            self.name = name
            return x.copy()

        def backward(self, g):
            calls.append(self.name)
            return g

    x = tg.tensor([1.0, 2.0], requires_grad=True, dtype=tg.float64)
    a = Spy.apply(x, name="a")
    b = Spy.apply(a * 2 + x, name="b")
    c = Spy.apply(a + b, name="c")
    c.sum().backward()
    assert calls == ["c", "b", "a"]
    # dc/dx = da + db = 1 + (2 * 1 + 1) = 4 per element
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


def test_deep_graph_is_iterative():
    x = tg.tensor(0.5, requires_grad=True, dtype=tg.float64)
    y = x
    depth = 10_000
    assert depth > sys.getrecursionlimit()
    for _ in range(depth):
        y = y * 1.0001 + 0.0
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** depth, rel=1e-9)


def test_reused_node_gradients_add():
    x = tg.tensor([3.0, -2.0], requires_grad=True, dtype=tg.float64)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, -4.0])

    x.grad = None
    y = x.exp()
    (y * 3.0 + y.log()).sum().backward()  # y used in two branches
    np.testing.assert_allclose(x.grad.numpy(), 3.0 * np.exp([3.0, -2.0]) + 1.0)


def test_leaf_grads_accumulate_until_zeroed():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    for k in range(1, 4):
        (w * 2.0).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), [2.0 * k, 2.0 * k])
    w.grad = None
    (w * 5.0).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [5.0, 5.0])


def test_leaf_grad_is_not_aliased_to_upstream():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([1.0, 1.0], dtype=np.float32)
    w.backward(gradient=g)
    w.backward(gradient=g)
    np.testing.assert_allclose(g, [1.0, 1.0])
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 2.0])


def test_leaf_grads_sharing_one_upstream_array_are_independent():
    # Add hands the same upstream array to both inputs; the engine stores the first without a copy,
    # so the second (and a retained non-leaf grad) must get copies, or an in-place update leaks across.
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([3.0, 4.0], requires_grad=True)
    h = a * 1.0
    h.retain_grad()
    (h + b).backward(gradient=np.array([1.0, 1.0], dtype=np.float32))
    a.grad.data *= 10
    b.grad.data += 1
    np.testing.assert_allclose(a.grad.numpy(), [10.0, 10.0])
    np.testing.assert_allclose(b.grad.numpy(), [2.0, 2.0])
    np.testing.assert_allclose(h.grad.numpy(), [1.0, 1.0])


def test_leaf_grad_owns_its_memory_when_the_backward_returns_a_view():
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = tg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    (x.reshape(4) * y).sum().backward()
    assert x.grad.data.base is None and y.grad.data.base is None
    assert not np.shares_memory(x.grad.data, y.grad.data)


def test_second_backward_through_freed_graph_raises():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_graph_is_freed_after_backward():
    x = tg.tensor(np.ones(4), requires_grad=True)
    h = x * 2.0
    ctx = weakref.ref(h._ctx)
    loss = (h * h).sum()
    loss.backward()
    assert h._ctx.freed and h._ctx.inputs == ()
    del h, loss
    gc.collect()
    assert ctx() is None


def _live_counts():
    """(Function nodes, tensors, all objects) the garbage collector tracks."""
    objs = gc.get_objects()
    return (sum(1 for o in objs if issubclass(type(o), Function)),
            sum(1 for o in objs if issubclass(type(o), tg.Tensor)), len(objs))


def test_memory_flat_over_1000_training_steps():
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(8, 16), tg.nn.ReLU(), tg.nn.Linear(16, 3))
    opt = tg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = tg.randn(4, 8)
    y = tg.tensor([0, 1, 2, 1])

    def step():
        opt.zero_grad()
        loss = tg.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(20):
        step()
    gc.collect()
    before = _live_counts()
    nbytes = sum(p.data.nbytes for p in model.parameters())
    tracemalloc.start()
    for _ in range(1000):
        step()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    after = _live_counts()
    assert grown < 64_000, f"{grown} bytes still allocated after 1000 steps"
    assert after[0] <= before[0], "Function nodes outlived their step"
    assert after[1] <= before[1], "tensors outlived their step"
    assert after[2] - before[2] < 50, f"{after[2] - before[2]} more live objects after 1000 steps"
    assert sum(p.data.nbytes for p in model.parameters()) == nbytes


def test_no_grad_records_nothing():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.no_grad():
        y = x * 2.0 + 1.0
    assert not y.requires_grad and y._ctx is None and y.is_leaf
    assert tg.is_grad_enabled()

    @tg.no_grad()
    def f(t):
        return t * 3.0

    z = f(x)
    assert not z.requires_grad and z._ctx is None
    with tg.no_grad():
        with tg.enable_grad():
            assert (x * 2.0).requires_grad


def test_detach():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    (x * d).sum().backward()  # d is a constant: dL/dx = d
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_requires_grad_on_int_tensor_errors():
    with pytest.raises(RuntimeError, match="floating-point"):
        tg.tensor([1, 2, 3]).requires_grad_()
    with pytest.raises(RuntimeError, match="int64"):
        tg.tensor([1, 2], requires_grad=True)


def test_backward_on_non_scalar_without_gradient_errors():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"scalar.*\(2,\)"):
        y.backward()
    y.backward(gradient=tg.tensor([1.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -2.0])


def test_backward_gradient_shape_checked():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2,\)"):
        (x * 2.0).backward(gradient=np.ones(3))


def test_backward_without_grad_errors():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.tensor([1.0]).sum().backward()


def test_retain_grad_on_non_leaf():
    x = tg.tensor([1.0, 2.0], requires_grad=True, dtype=tg.float64)
    h = x * 3.0
    h.retain_grad()
    k = x * 3.0  # not retained
    (h * h + k).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    assert k.grad is None
    np.testing.assert_allclose(x.grad.numpy(), 18 * x.numpy() + 3)


def test_to_cpu_and_cast_are_differentiable():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    assert x.to("cpu") is x and x.device == "cpu"
    y = x.to(dtype=tg.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    with pytest.raises(ValueError, match="unknown device"):
        x.to("tpu")


def test_float32_kept_through_forward_backward_and_optimizer():
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(5, 4), tg.nn.GELU(), tg.nn.Linear(4, 3))
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    x = tg.randn(6, 5)
    assert x.dtype == np.float32
    out = model(x)
    assert out.dtype == np.float32
    loss = tg.nn.functional.cross_entropy(out * 0.5 + 1.0 - 2 / (out.abs() + 1.0), tg.tensor([0, 1, 2, 0, 1, 2]))
    assert loss.dtype == np.float32
    loss.backward()
    opt.step()
    for p in model.parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[id(p)].values() if hasattr(v, "dtype"))


def test_float64_kept():
    model = tg.nn.Linear(3, 2).double()
    x = tg.tensor(np.ones((2, 3)))
    assert x.dtype == np.float64
    out = tg.nn.functional.mse_loss(model(x).tanh(), tg.tensor(np.zeros((2, 2))))
    assert out.dtype == np.float64
    out.backward()
    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.step()
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())


def test_python_numbers_do_not_promote_float32():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    for y in (x + 1.5, 2.5 * x, x / 3.0, 1.0 - x, x ** 2.0, 2.0 ** x, x.clip(-1.0, 1.5), tg.where(x > 1.0, x, 0.5)):
        assert y.dtype == np.float32


def test_tensor_semantics_like_torch():
    assert tg.tensor([1.0, 2.0]).dtype == np.float32 == np.dtype(str(torch.tensor([1.0]).dtype)[6:])
    assert tg.tensor([1, 2]).dtype == np.int64
    assert tg.tensor(3).dtype == np.int64 and tg.tensor(3).shape == ()
    assert tg.tensor(np.zeros(2, dtype=np.float64)).dtype == np.float64
    assert tg.tensor(np.zeros(2, dtype=np.int32)).dtype == np.int32
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == np.float64
    assert tg.tensor([True, False]).dtype == np.bool_
    a = np.arange(3.0)
    t = tg.tensor(a)
    a[0] = 100.0
    assert t.numpy()[0] == 0.0  # copied
    t2 = tg.tensor(t)
    t.data[1] = 50.0
    assert t2.numpy()[1] == 1.0


def test_tensor_basic_api():
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.shape == (2, 2) and x.ndim == 2 and x.numel() == 4 and len(x) == 2
    assert x.sum().item() == 10.0
    with pytest.raises(ValueError, match="one element"):
        x.item()
    assert isinstance(x.numpy(), np.ndarray)
    assert "tensor(" in repr(x)
    c = x.clone()
    c.data[0, 0] = 9.0
    assert x.numpy()[0, 0] == 1.0


def test_manual_seed_reproducible():
    tg.manual_seed(7)
    a = tg.randn(3)
    tg.manual_seed(7)
    np.testing.assert_array_equal(a.numpy(), tg.randn(3).numpy())


def test_setitem_on_tensor_requiring_grad_refused():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 3.0
    with tg.no_grad():
        x[0] = 3.0
    assert x.numpy()[0] == 3.0


def test_integer_operands_promote_like_torch():
    i, f = tg.tensor([1, 2]), tg.tensor([0.5, 1.5])
    ti, tf = torch.tensor([1, 2]), torch.tensor([0.5, 1.5])
    cases = [(i / 2, ti / 2), (i * 0.5, ti * 0.5), (i + f, ti + tf), (f * i, tf * ti), (i / i, ti / ti),
             (i ** 0.5, ti ** 0.5), (i + 1, ti + 1), (f.double() - i, tf.double() - ti), ((f > 1) * f, (tf > 1) * tf)]
    for ours, ref in cases:
        assert ours.dtype == np.dtype(str(ref.dtype)[6:])
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)
