"""Optimizers and schedules against torch.optim: the same parameters after 100 steps (float64),
float32 state kept, lr sequences equal, bad hyper-parameters refused, state_dict round trip."""
import copy
import math

import numpy as np
import pytest
import torch
from op_checks import torch_single_thread  # noqa: F401 (autouse fixture)

import tinygrad_lm as tg
from tinygrad_lm import nn

STEPS = 100


def _models(dtype=np.float64):
    tg.manual_seed(0)
    ours = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype=dtype)
    ref = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).to(
        getattr(torch, np.dtype(dtype).name))
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return ours, ref


def _batches(n=STEPS, dtype=np.float64):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((6, 5)).astype(dtype), rng.integers(0, 3, 6)) for _ in range(n)]


def _train(ours, ref, opt, topt, batches, sched=None, tsched=None):
    for x, y in batches:
        opt.zero_grad()
        tg.nn.functional.cross_entropy(ours(tg.tensor(x)), tg.tensor(y)).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y)).backward()
        topt.step()
        if sched is not None:
            sched.step()
            tsched.step()


def _assert_same_params(ours, ref, tol=1e-10):
    sd = ref.state_dict()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, sd[k].numpy(), rtol=tol, atol=tol, err_msg=k)


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_optimizer_matches_torch_over_100_steps(name, kwargs):
    ours, ref = _models()
    opt = getattr(tg.optim, name)(ours.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(ref.parameters(), **kwargs)
    _train(ours, ref, opt, topt, _batches())
    _assert_same_params(ours, ref)
    start = _models()[0].state_dict()
    assert any(np.abs(v - start[k]).max() > 1e-3 for k, v in ours.state_dict().items())  # it did move


def test_param_groups_and_skipped_params_match_torch():
    ours, ref = _models()
    opt = tg.optim.SGD([{"params": ours[0].parameters(), "lr": 0.2}, {"params": ours[2].parameters()}],
                       lr=0.01, momentum=0.5)
    topt = torch.optim.SGD([{"params": ref[0].parameters(), "lr": 0.2}, {"params": ref[2].parameters()}],
                           lr=0.01, momentum=0.5)
    _train(ours, ref, opt, topt, _batches(20))
    _assert_same_params(ours, ref)
    assert opt.param_groups[0]["lr"] == 0.2 and opt.param_groups[1]["lr"] == 0.01


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("AdamW", dict(lr=0.01))])
def test_float32_state_and_params_kept(name, kwargs):
    ours, _ = _models(np.float32)
    opt = getattr(tg.optim, name)(ours.parameters(), **kwargs)
    for x, y in _batches(5, np.float32):
        opt.zero_grad()
        tg.nn.functional.cross_entropy(ours(tg.tensor(x)), tg.tensor(y)).backward()
        opt.step()
    for p in ours.parameters():
        assert p.dtype == np.float32
        arrays = [v for v in opt.state[id(p)].values() if hasattr(v, "dtype")]
        assert arrays and all(a.dtype == np.float32 for a in arrays)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)), ("AdamW", dict(lr=0.01))])
def test_optimizer_state_dict_round_trip(name, kwargs):
    ours, ref = _models()
    batches = _batches(20)
    opt = getattr(tg.optim, name)(ours.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(ref.parameters(), **kwargs)
    _train(ours, ref, opt, topt, batches[:10])
    saved_model = ours.state_dict()
    saved_opt = copy.deepcopy(opt.state_dict())
    assert all(isinstance(v, (np.ndarray, int, float)) for s in saved_opt["state"].values() for v in s.values())

    resumed, _ = _models()
    resumed.load_state_dict(saved_model)
    opt2 = getattr(tg.optim, name)(resumed.parameters(), **kwargs)
    opt2.load_state_dict(saved_opt)
    _train(ours, ref, opt, topt, batches[10:])
    for x, y in batches[10:]:
        opt2.zero_grad()
        tg.nn.functional.cross_entropy(resumed(tg.tensor(x)), tg.tensor(y)).backward()
        opt2.step()
    _assert_same_params(resumed, ref)


def test_no_params_or_negative_lr_refused_at_construction():
    p = nn.Parameter(np.zeros(2))
    for cls in (tg.optim.SGD, tg.optim.Adam, tg.optim.AdamW):
        with pytest.raises(ValueError, match="empty parameter list"):
            cls([], lr=0.1)
        with pytest.raises(ValueError, match="learning rate"):
            cls([p], lr=-0.1)


@pytest.mark.parametrize("make", [
    lambda p: tg.optim.SGD([p], lr=0.1, momentum=-0.5),
    lambda p: tg.optim.SGD([p], lr=0.1, nesterov=True),
    lambda p: tg.optim.SGD([p], lr=0.1, weight_decay=-1.0),
    lambda p: tg.optim.Adam([p], betas=(1.0, 0.999)),
    lambda p: tg.optim.Adam([p], betas=(0.9, -0.1)),
    lambda p: tg.optim.Adam([p], eps=-1e-8),
    lambda p: tg.optim.AdamW([p], weight_decay=-0.01),
    lambda p: tg.optim.SGD([tg.tensor([1.0])], lr=0.1),  # a tensor that needs no gradient
])
def test_bad_hyper_parameters_refused(make):
    with pytest.raises(ValueError):
        make(nn.Parameter(np.zeros(2)))


# ------------------------------------------------------------------ schedules
def _lr_sequences(make_ours, make_ref, steps=25, lr=0.1):
    p = nn.Parameter(np.zeros(1))
    q = torch.zeros(1, requires_grad=True)
    opt, topt = tg.optim.SGD([p], lr=lr), torch.optim.SGD([q], lr=lr)
    sched, tsched = make_ours(opt), make_ref(topt)
    ours, ref = [], []
    for _ in range(steps):
        ours.append(sched.get_last_lr()[0])
        ref.append(tsched.get_last_lr()[0])
        opt.step(), topt.step()
        sched.step(), tsched.step()
    return np.array(ours), np.array(ref)


@pytest.mark.parametrize("name,kwargs", [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.5, total_iters=8)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.9 ** e + 0.1 * (e % 3))),
])
def test_schedule_lr_sequence_equals_torch(name, kwargs):
    ours, ref = _lr_sequences(lambda o: getattr(tg.optim.lr_scheduler, name)(o, **kwargs),
                              lambda o: getattr(torch.optim.lr_scheduler, name)(o, **kwargs))
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    assert len(set(np.round(ours, 12))) > 1


def test_linear_warmup():
    p = nn.Parameter(np.zeros(1))
    opt = tg.optim.SGD([p], lr=1.0)
    sched = tg.optim.lr_scheduler.linear_warmup(opt, warmup_steps=4, total_steps=10)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [1 / 5, 2 / 5, 3 / 5, 4 / 5] + [(10 - s) / 6 for s in range(4, 10)] + [0.0, 0.0]
    np.testing.assert_allclose(lrs, expected, atol=1e-12)
    opt2 = tg.optim.SGD([p], lr=0.5)
    s2 = tg.optim.lr_scheduler.linear_warmup(opt2, warmup_steps=2)
    for _ in range(5):
        s2.step()
    assert opt2.param_groups[0]["lr"] == 0.5  # constant after warm-up
    with pytest.raises(ValueError, match="warmup_steps"):
        tg.optim.lr_scheduler.linear_warmup(opt, -1)


def test_schedule_bad_arguments_refused():
    opt = tg.optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="step_size"):
        tg.optim.lr_scheduler.StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max"):
        tg.optim.lr_scheduler.CosineAnnealingLR(opt, 0)
    with pytest.raises(ValueError, match="factors"):
        tg.optim.lr_scheduler.LinearLR(opt, start_factor=0.0)


def test_scheduler_state_dict_round_trip():
    opt = tg.optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    s = tg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(3):
        s.step()
    state = s.state_dict()
    opt2 = tg.optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    s2 = tg.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    s2.load_state_dict(state)
    s.step(), s2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
    assert math.isclose(opt.param_groups[0]["lr"], 0.05 * (1 + math.cos(math.pi * 4 / 10)), rel_tol=1e-12)


def test_zero_grad_set_to_none_false_keeps_zeros_like_torch():
    ours, ref = _models()
    opt = tg.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    topt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    _train(ours, ref, opt, topt, _batches(3))
    opt.zero_grad(set_to_none=False)
    topt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in ours.parameters())
    opt.step(), topt.step()  # zero gradients: decay and momentum still move the weights
    _assert_same_params(ours, ref)
    ours.zero_grad(set_to_none=False)
    assert all(p.grad is not None for p in ours.parameters())
    ours.zero_grad()
    assert all(p.grad is None for p in ours.parameters())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decoupled, wd, amsgrad", [(False, 0.0, False), (False, 0.05, True), (True, 0.1, False),
                                                    (True, 0.1, True)])
def test_fused_adam_kernel_equals_plain_twin(dtype, decoupled, wd, amsgrad):
    """The Numba Adam step does the twin's arithmetic in the same order: equal to the last bit over 20
    steps, on a parameter big enough to run in several ranges, with NaN-free and large gradients."""
    from tinygrad_lm import backend
    from tinygrad_lm.kernels.optim import constants

    rng = np.random.default_rng(0)
    shape = (300, 257)
    states = {impl: [rng.standard_normal(shape).astype(dtype)] for impl in ("plain", "cpu")}
    states["cpu"] = [states["plain"][0].copy()]
    for s in states.values():
        s += [np.zeros(shape, dtype), np.zeros(shape, dtype), np.zeros(shape, dtype) if amsgrad else None]
    for t in range(1, 21):
        g = (rng.standard_normal(shape) * 10 ** rng.uniform(-3, 3, shape)).astype(dtype)
        consts = constants(np.dtype(dtype), t, 0.01, 0.9, 0.999, 1e-8, wd, decoupled)
        for impl, (p, m, v, vmax) in states.items():
            backend.kernel("adam_step", impl=impl)(p, g, m, v, vmax, consts)
    for a, b in zip(states["cpu"], states["plain"], strict=True):
        if a is not None:
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)
