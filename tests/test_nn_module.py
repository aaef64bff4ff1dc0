"""nn.Module and containers against torch.nn: traversal, modes, state_dict names and shapes, loading
PyTorch weights, Linear's default init, nn.init, clip_grad_norm_."""
import math

import numpy as np
import pytest
import torch
from op_checks import torch_single_thread  # noqa: F401 (autouse fixture)

import tinygrad_lm as tg
from tinygrad_lm import nn


def _pair_models():
    """The same architecture in both frameworks: Sequential, nested ModuleList/ModuleDict, a bare
    Parameter, a buffer and a layer without bias."""

    def build(lib):
        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.body = lib.Sequential(lib.Linear(4, 8), lib.ReLU(), lib.Dropout(0.1), lib.Linear(8, 6))
                self.heads = lib.ModuleList([lib.Linear(6, 3), lib.Linear(6, 3, bias=False)])
                self.extra = lib.ModuleDict({"b": lib.Sequential(lib.Linear(3, 2), lib.Tanh()), "a": lib.Linear(3, 3)})
                self.scale = lib.Parameter(lib_tensor(lib, np.ones(3)))
                self.register_buffer("offset", lib_tensor(lib, np.zeros(2)))

            def forward(self, x):
                h = self.body(x)
                y = self.heads[0](h) * self.scale + self.heads[1](h)
                return self.extra["b"](self.extra["a"](y)) + self.offset

        return Net()

    def lib_tensor(lib, a):
        return torch.tensor(a, dtype=torch.float32) if lib is torch.nn else tg.tensor(a.astype(np.float32))

    return build(nn), build(torch.nn)


def test_state_dict_keys_and_shapes_equal_torch():
    ours, ref = _pair_models()
    sd, tsd = ours.state_dict(), ref.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert sd[k].shape == tuple(tsd[k].shape), k
        assert type(sd[k]) is tg.Tensor and sd[k].dtype == np.float32 and not sd[k].requires_grad
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in ref.named_children()]
    assert ours.num_parameters() == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("as_numpy", [False, True])
def test_load_torch_state_dict_gives_torch_outputs(as_numpy):
    ours, ref = _pair_models()
    tsd = ref.state_dict()
    with torch.no_grad():
        tsd["offset"] += 0.5
    ours.load_state_dict({k: v.numpy() for k, v in tsd.items()} if as_numpy else tsd)
    ref.load_state_dict(tsd)
    ours.eval(), ref.eval()
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v, tsd[k].numpy())
    assert all(p.dtype == np.float32 and p.requires_grad for p in ours.parameters())


def test_load_state_dict_strict_lists_missing_and_unexpected():
    ours, _ = _pair_models()
    sd = ours.state_dict()
    del sd["body.0.bias"]
    sd["body.9.weight"] = np.zeros(3)
    with pytest.raises(KeyError) as info:
        ours.load_state_dict(sd)
    msg = str(info.value)
    assert "missing keys ['body.0.bias']" in msg and "unexpected keys ['body.9.weight']" in msg
    missing, unexpected = ours.load_state_dict(sd, strict=False)
    assert missing == ["body.0.bias"] and unexpected == ["body.9.weight"]


def test_load_state_dict_shape_mismatch_names_both_shapes():
    ours, _ = _pair_models()
    sd = ours.state_dict()
    sd["heads.0.weight"] = np.zeros((3, 7))
    with pytest.raises(ValueError, match=r"heads\.0\.weight.*\(3, 7\).*\(3, 6\)"):
        ours.load_state_dict(sd)


def test_state_dict_shares_memory_as_torch():
    lin, twin = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    for sd in (lin.state_dict(), twin.state_dict()):
        sd["weight"][...] = 7.0  # detached tensors over the parameters' memory: the write shows in the model
    assert (lin.weight.numpy() == 7.0).all() and (twin.weight.detach().numpy() == 7.0).all()
    snapshot = {k: v.clone() for k, v in lin.state_dict().items()}  # the way to keep a copy
    with tg.no_grad():
        lin.weight[...] = 1.0
    assert (snapshot["weight"].numpy() == 7.0).all()


def test_parameters_children_modules():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 2)))
    params = list(model.parameters())
    assert len(params) == 4 and all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert [type(m).__name__ for m in model.children()] == ["Linear", "ReLU", "Sequential"]
    assert [type(m).__name__ for m in model.modules()] == ["Sequential", "Linear", "ReLU", "Sequential", "Linear"]
    assert len(list(model.parameters(recurse=False))) == 0
    assert len(model) == 3 and isinstance(model[2], nn.Sequential)


def test_shared_parameter_listed_once_like_torch():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    model = nn.ModuleList([a, b])
    ta, tb = torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)
    tb.weight = ta.weight
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in torch.nn.ModuleList([ta, tb]).named_parameters()]


def test_train_eval_propagate():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.2)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_and_requires_grad_():
    model = nn.Sequential(nn.Linear(3, 2))
    model(tg.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert not model(tg.randn(4, 3)).requires_grad


def test_module_to_dtype_and_double():
    lin = nn.Linear(3, 2).double()
    assert all(p.dtype == np.float64 for p in lin.parameters())
    assert lin(tg.tensor(np.ones((1, 3)))).dtype == np.float64
    lin.float()
    assert all(p.dtype == np.float32 for p in lin.parameters())


def test_setattr_before_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_containers():
    ml = nn.ModuleList([nn.Linear(1, 1)]).append(nn.ReLU()).extend([nn.Tanh()])
    assert len(ml) == 3 and isinstance(ml[1], nn.ReLU) and len(ml[1:]) == 2
    md = nn.ModuleDict({"x": nn.ReLU()})
    md["y"] = nn.Tanh()
    assert list(md.keys()) == ["x", "y"] and "y" in md and len(md) == 2
    from collections import OrderedDict

    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias"]
    assert "Linear(in_features=2, out_features=2, bias=True)" in repr(seq)


def test_linear_default_init_bounds():
    tg.manual_seed(0)
    fan_in = 50
    lin = nn.Linear(fan_in, 400)
    bound = 1 / math.sqrt(fan_in)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert w.dtype == np.float32 and w.shape == (400, fan_in) and b.shape == (400,)
    for a in (w, b):
        assert np.abs(a).max() <= bound
        assert np.abs(a).max() > 0.97 * bound  # fills the interval
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # uniform's standard deviation
    assert abs(w.mean()) < 0.02 * bound
    ref = torch.nn.Linear(fan_in, 400).weight.detach().numpy()
    assert abs(w.std() - ref.std()) < 0.02 * bound


def test_linear_refuses_bad_sizes():
    for bad in ((0, 3), (3, -1), (2.5, 3)):
        with pytest.raises(ValueError, match="positive int"):
            nn.Linear(*bad)


@pytest.mark.parametrize("name,kwargs,expected_std", [
    ("xavier_uniform_", {}, lambda fi, fo: math.sqrt(2.0 / (fi + fo))),
    ("xavier_normal_", {"gain": 2.0}, lambda fi, fo: 2.0 * math.sqrt(2.0 / (fi + fo))),
    ("kaiming_uniform_", {"nonlinearity": "relu"}, lambda fi, fo: math.sqrt(2.0 / fi)),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, lambda fi, fo: math.sqrt(2.0 / fo)),
    ("normal_", {"std": 0.3}, lambda fi, fo: 0.3),
    ("uniform_", {"a": -0.5, "b": 0.5}, lambda fi, fo: 1 / math.sqrt(12)),
])
def test_init_distributions(name, kwargs, expected_std):
    t = nn.Parameter(np.zeros((300, 200), dtype=np.float32))
    getattr(nn.init, name)(t, **kwargs)
    ref = torch.empty(300, 200)
    getattr(torch.nn.init, name)(ref, **kwargs)
    std = expected_std(200, 300)
    assert t.dtype == np.float32
    assert abs(t.numpy().std() - std) < 0.02 * std
    assert abs(ref.numpy().std() - std) < 0.02 * std  # our formula is torch's
    assert abs(t.numpy().mean()) < 0.02 * std


def test_init_constants_and_gain():
    t = nn.Parameter(np.zeros((2, 3), dtype=np.float32))
    np.testing.assert_array_equal(nn.init.ones_(t).numpy(), 1.0)
    np.testing.assert_array_equal(nn.init.constant_(t, 0.25).numpy(), 0.25)
    np.testing.assert_array_equal(nn.init.zeros_(t).numpy(), 0.0)
    assert t.dtype == np.float32
    for args in (("linear",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",), ("leaky_relu", 0.2), ("selu",)):
        assert nn.init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args))
    with pytest.raises(ValueError):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="2 dimensions"):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(3)))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_equals_torch(norm_type, max_norm):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s) for s in ((3, 4), (4,), (2, 2))]
    ours = [nn.Parameter(np.zeros(g.shape)) for g in grads]
    ref = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, ref, grads, strict=True):
        p.grad = tg.tensor(g)
        q.grad = torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    ref_total = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type)
    assert float(total) == pytest.approx(float(ref_total), rel=1e-12)
    for p, q in zip(ours, ref, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_keeps_float32_and_single_tensor():
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    p.grad = tg.tensor(np.array([3.0, 4.0, 0.0], dtype=np.float32))
    assert nn.utils.clip_grad_norm_(p, 1.0) == pytest.approx(5.0)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p.grad.numpy()), 1.0, rtol=1e-5)
