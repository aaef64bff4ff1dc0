"""D1.T1 / D2.T4 / D2.T5: L1 and L2 penalties, early stopping, and the op profiler."""
import numpy as np
import pytest

import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.autograd import Function
from tinygrad_lm.train import profiler, regularization as reg
from helpers import compare_with_torch


def test_penalties_equal_torch_forward_and_backward():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)) + 0.05, rng.standard_normal(5) + 0.05  # away from |w| = 0 kinks
    compare_with_torch(lambda x, y: reg.l1_penalty([x, y], 0.3),
                       lambda x, y: 0.3 * (x.abs().sum() + y.abs().sum()), [a, b])
    compare_with_torch(lambda x, y: reg.l2_penalty([x, y], 0.3),
                       lambda x, y: 0.15 * ((x * x).sum() + (y * y).sum()), [a, b])
    x = tg.tensor(a, requires_grad=True)
    assert tg.gradcheck(lambda w: reg.l1_penalty([w], 0.7) + reg.l2_penalty([w], 0.2), [x])


def test_l2_penalty_gives_the_same_steps_as_sgd_weight_decay():
    tg.manual_seed(0)
    x, y = tg.randn(16, 5).double(), tg.randint(0, 3, (16,))
    models = [nn.Linear(5, 3).double() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opt_pen = tg.optim.SGD(models[0].parameters(), lr=0.1, momentum=0.9)
    opt_wd = tg.optim.SGD(models[1].parameters(), lr=0.1, momentum=0.9, weight_decay=0.05)
    for _ in range(10):
        for m, opt, pen in ((models[0], opt_pen, True), (models[1], opt_wd, False)):
            loss = nn.functional.cross_entropy(m(x), y)
            if pen:
                loss = loss + reg.l2_penalty(m.parameters(), 0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p, q in zip(models[0].parameters(), models[1].parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12, atol=1e-12)


def test_l1_penalty_drives_weights_to_zero():
    tg.manual_seed(0)
    x = tg.randn(20, 10)
    y = x[:, 0] * 2.0 + tg.randn(20) * 0.5  # only the first feature matters; noise fools least squares
    small = {}
    for weight in (0.0, 0.2):
        tg.manual_seed(1)
        m = nn.Linear(10, 1)
        opt = tg.optim.SGD(m.parameters(), lr=0.05)
        for _ in range(400):
            loss = nn.functional.mse_loss(m(x)[:, 0], y) + reg.l1_penalty([m.weight], weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
        small[weight] = int((np.abs(m.weight.numpy()[0, 1:]) < 0.025).sum())
    assert small[0.0] <= 3 and small[0.2] == 9, small  # L1 zeroes (to within its step) all nine useless weights


def test_early_stopping_follows_keras_and_restores_best_weights():
    m = nn.Linear(2, 1)
    stopper = reg.EarlyStopping(patience=2, min_delta=0.01)
    values = [1.0, 0.8, 0.795, 0.7, 0.75, 0.71, 0.72]
    best_weights, stopped = None, None
    for epoch, v in enumerate(values):
        m.weight.data[...] = epoch
        if epoch == 3:
            best_weights = m.weight.numpy().copy()
        if stopper.step(v, m):
            stopped = epoch
            break
    # 0.795 is not an improvement of 0.01 over 0.8; 0.7 is; then two epochs without one
    assert stopped == 5 and stopper.best_epoch == 3 and stopper.best == 0.7
    np.testing.assert_array_equal(m.weight.numpy(), best_weights)
    up = reg.EarlyStopping(patience=0, mode="max", restore_best_weights=False)
    assert [up.step(v) for v in (0.5, 0.6, 0.6)] == [False, False, True]


def test_early_stopping_refuses_bad_arguments():
    with pytest.raises(ValueError, match="patience"):
        reg.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        reg.EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="weight_decay"):
        reg.l2_penalty([tg.randn(2, requires_grad=True)], -1.0)


def test_profiler_counts_every_forward_and_backward_and_restores_the_ops():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x, y = tg.randn(32, 8), tg.randint(0, 4, (32,))
    apply_before = Function.__dict__["apply"]
    with profiler.profile() as prof:
        for _ in range(3):
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
    s = prof.stats
    assert s["Linear"]["forward_calls"] == 6 and s["Linear"]["backward_calls"] == 6
    assert s["ReLU"]["forward_calls"] == 3 and s["ReLU"]["backward_calls"] == 3
    assert s["CrossEntropy"]["backward_calls"] == 3
    assert all(v["forward_s"] >= 0 and v["backward_s"] >= 0 for v in s.values())
    table = prof.table()
    assert table.splitlines()[0].split()[0] == "op" and "Linear" in table and "CrossEntropy" in table
    assert Function.__dict__["apply"] is apply_before
    with profiler.profile() as other:
        pass
    nn.functional.cross_entropy(model(x), y).backward()  # after the block nothing is recorded
    assert not other.stats and s["Linear"]["forward_calls"] == 6
