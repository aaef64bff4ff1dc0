"""D1.T5 / D4.T1 / D3.T2: a data-parallel step on N=2 worker processes is the same update as one
process on the whole batch."""
import functools
import gc
import os
import signal
import time

import numpy as np
import pytest

import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.distributed import DataParallel, data_parallel_step, mpi_available, shard
from tinygrad_lm.models.mlp import MLP


class _NoComm:
    """The all-reduce of a world of one."""

    def allreduce_sum(self, array):
        return array


def _batches(steps, n, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, 6)), rng.integers(0, 3, n)) for _ in range(steps)]


@pytest.mark.parametrize("optimizer_fn", [functools.partial(tg.optim.SGD, lr=0.1, momentum=0.9),
                                          functools.partial(tg.optim.Adam, lr=0.01)], ids=["sgd", "adam"])
def test_two_workers_give_the_same_updates_as_one_process(optimizer_fn):
    tg.manual_seed(0)
    model = MLP(6, (8,), 3).double()
    reference = MLP(6, (8,), 3).double()
    reference.load_state_dict(model.state_dict())
    opt = optimizer_fn(reference.parameters())
    batches = _batches(4, 33)  # 33 samples: slices of 17 and 16, so the weighting n_r / N matters
    with DataParallel(model, nn.functional.cross_entropy, optimizer_fn, world_size=2) as dp:
        for x, y in batches:
            loss = data_parallel_step(reference, opt, nn.functional.cross_entropy, tg.tensor(x), tg.tensor(y),
                                      1.0, _NoComm())
            assert dp.step(x, y) == pytest.approx(loss, rel=1e-12, abs=1e-12)
        state = dp.state_dict()
    for name, value in reference.state_dict().items():
        np.testing.assert_allclose(state[name], value, rtol=1e-12, atol=1e-12, err_msg=name)
        assert not np.array_equal(value, MLP(6, (8,), 3).double().state_dict()[name])


def test_single_process_step_equals_plain_training():
    tg.manual_seed(0)
    a = MLP(6, (8,), 3).double()
    b = MLP(6, (8,), 3).double()
    b.load_state_dict(a.state_dict())
    oa, ob = tg.optim.SGD(a.parameters(), lr=0.1), tg.optim.SGD(b.parameters(), lr=0.1)
    for x, y in _batches(3, 10):
        data_parallel_step(a, oa, nn.functional.cross_entropy, tg.tensor(x), tg.tensor(y), 1.0, _NoComm())
        loss = nn.functional.cross_entropy(b(tg.tensor(x)), tg.tensor(y))
        ob.zero_grad()
        loss.backward()
        ob.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_shards_cover_the_batch_evenly():
    for n, world in ((33, 2), (10, 3), (2, 4), (0, 2)):
        parts = [shard(n, r, world) for r in range(world)]
        sizes = [p.stop - p.start for p in parts]
        assert sum(sizes) == n and max(sizes) - min(sizes) <= 1
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:], strict=False))


def _failing_loss(out, y):
    raise ValueError("boom in a worker")


def _failing_optimizer(params):
    raise ValueError("boom in a worker")


def test_a_failing_worker_is_reported_not_hung():
    model = MLP(6, (4,), 3).double()
    with pytest.raises(RuntimeError, match="boom in a worker"):
        with DataParallel(model, _failing_loss, functools.partial(tg.optim.SGD, lr=0.1), world_size=2) as dp:
            dp.step(*_batches(1, 4)[0])
    with pytest.raises(RuntimeError, match=r"worker 0 failed during start-up:(.|\n)*boom in a worker"):
        DataParallel(model, nn.functional.cross_entropy, _failing_optimizer, world_size=1)
    with pytest.raises(ValueError, match="world_size"):
        DataParallel(model, nn.functional.cross_entropy, functools.partial(tg.optim.SGD, lr=0.1), world_size=0)


def _sgd(params):
    return tg.optim.SGD(params, lr=0.1)


def _all_exited(workers, seconds=10.0):
    deadline = time.monotonic() + seconds
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(w.is_alive() for w in workers)


def test_a_worker_killed_between_steps_stops_the_run_with_its_name_and_exit_code():
    x, y = _batches(1, 8)[0]
    dp = DataParallel(MLP(6, (4,), 3).double(), nn.functional.cross_entropy, _sgd, world_size=2)
    dp.step(x, y)
    victim = dp.workers[1]
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(10)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=rf"worker 1 \(pid {victim.pid}\) died \(exit code -9, killed by SIGKILL\)"):
        dp.step(x, y)
    assert time.monotonic() - start < 10 and _all_exited(dp.workers)
    with pytest.raises(RuntimeError, match="closed"):
        dp.step(x, y)
    dp.close()  # a second close is harmless


def test_a_stopped_worker_times_out_and_is_killed():
    x, y = _batches(1, 8)[0]
    with DataParallel(MLP(6, (4,), 3).double(), nn.functional.cross_entropy, _sgd, world_size=2) as dp:
        dp.step(x, y)
        dp.timeout = 1.0
        os.kill(dp.workers[0].pid, signal.SIGSTOP)
        with pytest.raises(RuntimeError, match=r"no word from worker\(s\) \[0\] for 1.0 s during step 1"):
            dp.step(x, y)
    assert _all_exited(dp.workers)


def test_workers_end_with_their_data_parallel_object():
    dp = DataParallel(MLP(6, (4,), 3), nn.functional.cross_entropy, _sgd, world_size=1)
    workers = dp.workers
    del dp
    gc.collect()
    assert _all_exited(workers)


def test_bad_arguments_are_refused_before_any_worker_starts():
    model = MLP(6, (4,), 3)
    with pytest.raises(TypeError, match="picklable"):
        DataParallel(model, lambda out, y: out.sum(), _sgd, world_size=2)
    with pytest.raises(ValueError, match="timeout"):
        DataParallel(model, nn.functional.cross_entropy, _sgd, timeout=0)
    with pytest.raises(ValueError, match="no parameters"):
        DataParallel(nn.ReLU(), nn.functional.cross_entropy, _sgd)
    with DataParallel(model, nn.functional.cross_entropy, _sgd, world_size=1) as dp:
        with pytest.raises(ValueError, match=r"shapes \(0, 6\) and \(0,\)"):
            dp.step(np.zeros((0, 6), np.float32), np.zeros(0, np.int64))
        with pytest.raises(ValueError, match=r"shapes \(3, 6\) and \(2,\)"):
            dp.step(np.zeros((3, 6), np.float32), np.zeros(2, np.int64))


@pytest.mark.skipif(not mpi_available(), reason="mpi4py is not installed")
def test_mpi_allreduce_in_a_world_of_one_equals_plain_step():
    from tinygrad_lm.distributed import MPIComm

    comm = MPIComm()
    tg.manual_seed(0)
    a = MLP(6, (8,), 3).double()
    b = MLP(6, (8,), 3).double()
    b.load_state_dict(a.state_dict())
    oa, ob = tg.optim.SGD(a.parameters(), lr=0.1), tg.optim.SGD(b.parameters(), lr=0.1)
    x, y = _batches(1, 12)[0]
    part = shard(len(x), comm.rank, comm.world_size)
    w = (part.stop - part.start) / len(x)
    data_parallel_step(a, oa, nn.functional.cross_entropy, tg.tensor(x[part]), tg.tensor(y[part]), w, comm)
    data_parallel_step(b, ob, nn.functional.cross_entropy, tg.tensor(x), tg.tensor(y), 1.0, _NoComm())
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12)
