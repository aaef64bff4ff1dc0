"""D1.T5 / D4.T1 / D3.T2 data-parallel training: every worker holds a full copy of the model, takes a
slice of each batch, and the gradients are averaged across workers (all-reduce) before every
worker takes the same optimizer step, so the copies never drift apart.

With a batch of N samples split into slices of n_r samples (sum_r n_r = N) and L_r the mean loss
on slice r, the full-batch mean loss and its gradient are

    L = sum_r (n_r / N) L_r,        grad L = sum_r (n_r / N) grad L_r        (the all-reduce)

so one data-parallel step is the same update as one process on the whole batch (equal up to the
order of floating-point additions). That is all "data-parallel" means: mini-batch SGD with the
batch spread over several workers; it changes the speed, not the mathematics.

Two communicators implement the all-reduce: ``SharedMemoryComm`` for worker processes on one
machine (``DataParallel`` starts them with ``multiprocessing``), and ``MPIComm`` over mpi4py for
processes started by ``mpirun`` across machines (used only when mpi4py is importable).
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback

import numpy as np

from ..tensor import Tensor

TIMEOUT_S = 120.0  # a worker that waits longer than this for the others gives up (no silent hang)


def mpi_available() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


class SharedMemoryComm:
    """All-reduce through one shared array with a slot per worker: write your slot, wait for all,
    add the slots up in rank order (the same order everywhere, so every worker gets the same bits)."""

    def __init__(self, rank: int, world_size: int, buffer, barrier, dtype):
        self.rank, self.world_size, self.barrier = rank, world_size, barrier
        self.slots = np.frombuffer(buffer, dtype=dtype).reshape(world_size, -1)

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        self.slots[self.rank, :array.size] = array
        self.barrier.wait(TIMEOUT_S)
        total = self.slots[0, :array.size].copy()
        for r in range(1, self.world_size):
            total += self.slots[r, :array.size]
        self.barrier.wait(TIMEOUT_S)  # nobody overwrites a slot before everyone has read it
        return total


class MPIComm:
    """All-reduce with MPI (mpi4py's COMM_WORLD unless given): ``mpirun -n 4 python train.py``."""

    def __init__(self, comm=None):
        from mpi4py import MPI

        self.mpi = MPI
        self.comm = comm or MPI.COMM_WORLD
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        out = np.empty_like(array)
        self.comm.Allreduce(np.ascontiguousarray(array), out, op=self.mpi.SUM)
        return out


def shard(n: int, rank: int, world_size: int) -> slice:
    """The contiguous slice of a batch of n samples that ``rank`` takes (sizes differ by at most 1)."""
    bounds = np.linspace(0, n, world_size + 1).round().astype(int)
    return slice(int(bounds[rank]), int(bounds[rank + 1]))


def data_parallel_step(model, optimizer, loss_fn, x, y, weight: float, comm) -> float:
    """One step on this worker's slice: forward, backward, all-reduce the gradients weighted by
    ``weight`` = n_r / N (and the loss with them), then the optimizer step. Returns the full-batch loss."""
    params = list(model.parameters())
    dtype = params[0].dtype
    optimizer.zero_grad()
    if len(y):
        loss = loss_fn(model(x), y)
        loss.backward()
        local = float(loss.item())
    else:  # an empty slice still takes part in the all-reduce
        local = 0.0
    flat = np.concatenate([(p.grad.numpy() if p.grad is not None else np.zeros(p.shape, dtype)).reshape(-1)
                           for p in params] + [np.array([local], dtype=dtype)]) * dtype.type(weight)
    total = comm.allreduce_sum(flat)
    start = 0
    for p in params:
        p.grad = Tensor._wrap(total[start:start + p.numel()].reshape(p.shape).astype(p.dtype))
        start += p.numel()
    optimizer.step()
    return float(total[-1])


def _worker(rank, world_size, model, loss_fn, optimizer_fn, buffer, barrier, dtype, inbox, outbox):
    try:
        comm = SharedMemoryComm(rank, world_size, buffer, barrier, dtype)
        optimizer = optimizer_fn(model.parameters())
        while True:
            job = inbox.get()
            if job is None:
                return
            kind, payload = job
            if kind == "step":
                x, y, weight = payload
                loss = data_parallel_step(model, optimizer, loss_fn, Tensor(x), Tensor(y), weight, comm)
                outbox.put((rank, "loss", loss))
            elif kind == "state_dict":
                outbox.put((rank, "state_dict", dict(model.state_dict())))
    except BaseException:  # report, and break the barrier so the other workers stop waiting
        barrier.abort()
        outbox.put((rank, "error", traceback.format_exc()))


class DataParallel:
    """Train ``model`` on ``world_size`` worker processes. Each ``step(x, y)`` splits the batch into
    contiguous slices, one per worker; the workers all-reduce their gradients and step their own
    optimizer (built by ``optimizer_fn(parameters)``), so their copies stay identical. ``loss_fn``
    must return the mean loss over a slice. Picklable arguments only (top-level functions,
    functools.partial), since the workers are separate processes ('spawn' by default: safe with
    Numba's threads)."""

    def __init__(self, model, loss_fn, optimizer_fn, world_size: int = 2, start_method: str = "spawn"):
        if not isinstance(world_size, int) or world_size < 1:
            raise ValueError(f"DataParallel: world_size must be an int >= 1, got {world_size!r}")
        ctx = mp.get_context(start_method)
        self.world_size = world_size
        dtype = next(iter(model.parameters())).dtype
        size = sum(p.numel() for p in model.parameters()) + 1
        # kept on self: the shared buffer and the barrier must outlive the workers' start-up
        self.buffer = ctx.RawArray("d" if dtype == np.float64 else "f", world_size * size)
        self.barrier = ctx.Barrier(world_size)
        self.inboxes = [ctx.Queue() for _ in range(world_size)]
        self.outbox = ctx.Queue()
        self.workers = [ctx.Process(target=_worker, daemon=True,
                                    args=(r, world_size, model, loss_fn, optimizer_fn, self.buffer, self.barrier,
                                          dtype, self.inboxes[r], self.outbox)) for r in range(world_size)]
        for w in self.workers:
            w.start()

    def _receive(self):
        """The next worker message; raises if a worker reported an error or died without one."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                rank, got, value = self.outbox.get(timeout=0.5)
                break
            except queue.Empty:
                dead = [r for r, w in enumerate(self.workers) if not w.is_alive()]
                if dead or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"DataParallel: worker(s) {dead} exited (exit codes "
                                       f"{[self.workers[r].exitcode for r in dead]}) or timed out") from None
        if got == "error":
            self.close()
            raise RuntimeError(f"DataParallel worker {rank} failed:\n{value}")
        return rank, value

    def step(self, x, y) -> float:
        """One synchronous data-parallel step on the batch (x, y); returns the full-batch mean loss."""
        x = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        y = y.numpy() if isinstance(y, Tensor) else np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"DataParallel.step: x has {len(x)} samples (shape {x.shape}), y has {len(y)}")
        for r, inbox in enumerate(self.inboxes):
            part = shard(len(x), r, self.world_size)
            inbox.put(("step", (x[part], y[part], (part.stop - part.start) / len(x))))
        losses = dict(self._receive() for _ in range(self.world_size))
        return losses[0]

    def state_dict(self):
        """The model's weights (worker 0's copy; all copies are the same)."""
        self.inboxes[0].put(("state_dict", None))
        return self._receive()[1]

    def close(self) -> None:
        for inbox, w in zip(self.inboxes, self.workers):
            if w.is_alive():
                inbox.put(None)
        for w in self.workers:
            w.join(timeout=10)
            if w.is_alive():
                w.terminate()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
