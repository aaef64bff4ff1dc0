"""D1.T5 / D4.T1 / D3.T2 data-parallel training: every worker holds a full copy of the model, takes a
slice of each batch, and the gradients are averaged across workers (all-reduce) before every
worker takes the same optimizer step, so the copies never drift apart.

With a batch of N samples split into slices of n_r samples (sum_r n_r = N) and L_r the mean loss
on slice r, the full-batch mean loss and its gradient are

    L = sum_r (n_r / N) L_r,        grad L = sum_r (n_r / N) grad L_r        (the all-reduce)

so one data-parallel step is the same update as one process on the whole batch (equal up to the
order of floating-point additions). That is all "data-parallel" means: mini-batch SGD with the
batch spread over several workers; it changes the speed, not the mathematics.

Here ``SharedMemoryComm`` implements the all-reduce for worker processes on one machine
(``DataParallel`` starts them with ``multiprocessing``); ``mpi.MPIComm`` does it for processes started
by ``mpirun`` on several machines, and ``nccl.NCCLComm`` between GPUs (docs/architecture.md).

Faults end a run, they never hang it or leave processes behind. The parent talks to each worker
through a pipe and waits on the pipes *and* the workers' process sentinels, so a dead worker is
seen at once and reported with its exit code; a worker that lives but stops answering is given up
after ``timeout`` seconds. The all-reduce's barrier is kept by the parent too (no lock shared between
workers that a dying one could leave held). Each worker keeps a watchdog thread on its parent's sentinel and exits
the moment the parent is gone, even after a SIGKILL. Pipes have no feeder threads to block at exit,
and the gradients travel through one anonymous shared array (its file is unlinked when made), so
nothing is left in /dev/shm whoever dies.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import socket
import struct
import threading
import traceback
import weakref
from multiprocessing.connection import wait

import numpy as np

from ..tensor import Tensor
from .allreduce import allreduce_gradients, shard

TIMEOUT_S = 300.0  # default: seconds the parent waits without a word from a living worker before it gives up
GRACE_S = 2.0  # seconds close() gives the workers to leave by themselves before it kills them


class SharedMemoryComm:
    """All-reduce through one shared array with a slot per worker: write your slot, wait for all,
    add the slots up in rank order (the same order everywhere, so every worker gets the same bits).
    ``barrier`` is anything with ``wait()``; ``DataParallel``'s workers use one kept by their parent."""

    def __init__(self, rank: int, world_size: int, buffer, barrier, dtype):
        self.rank, self.world_size, self.barrier = rank, world_size, barrier
        self.slots = np.frombuffer(buffer, dtype=dtype).reshape(world_size, -1)

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        self.slots[self.rank, :array.size] = array
        self.barrier.wait()
        total = self.slots[0, :array.size].copy()
        for r in range(1, self.world_size):
            total += self.slots[r, :array.size]
        self.barrier.wait()  # nobody overwrites a slot before everyone has read it
        return total


def data_parallel_step(model, optimizer, loss_fn, x, y, weight: float, comm) -> float:
    """One step on this worker's slice: forward, backward, all-reduce the gradients weighted by
    ``weight`` = n_r / N (and the loss with them), then the optimizer step. Returns the full-batch loss."""
    optimizer.zero_grad()
    if len(y):
        loss = loss_fn(model(x), y)
        loss.backward()
        local = float(loss.item())
    else:  # an empty slice still takes part in the all-reduce
        local = 0.0
    (total,) = allreduce_gradients(model.parameters(), comm, weight, [local])
    optimizer.step()
    return total


class _ParentBarrier:
    """A barrier kept by the parent: say "sync" and wait for its "go", which it sends once every worker
    has said "sync". A worker never waits on another worker, so a dead one cannot block it."""

    def __init__(self, conn):
        self.conn = conn

    def wait(self) -> None:
        self.conn.send(("sync", None))
        if self.conn.recv() != "go":
            raise RuntimeError("DataParallel worker: the parent stopped the run during an all-reduce")


def _exit_with_parent() -> None:
    """A worker's watchdog thread: end the whole worker process as soon as its parent is gone."""
    wait([mp.parent_process().sentinel])
    os._exit(1)


def _worker(rank, world_size, model, loss_fn, optimizer_fn, buffer, dtype, conn):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it closes the workers
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    try:
        comm = SharedMemoryComm(rank, world_size, buffer, _ParentBarrier(conn), dtype)
        optimizer = optimizer_fn(model.parameters())
        conn.send(("ready", None))
        while (job := conn.recv()) is not None:
            kind, payload = job
            if kind == "step":
                x, y, weight = payload
                conn.send(("loss", data_parallel_step(model, optimizer, loss_fn, Tensor(x), Tensor(y), weight, comm)))
            elif kind == "state_dict":
                conn.send(("state_dict", dict(model.state_dict())))
    except BaseException:  # report it; if the parent has closed the pipe it is stopping the run anyway
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))


def _send_timeout(conn, seconds: float | None) -> None:
    """Make a send on ``conn`` (a socket pair end) fail after ``seconds`` (None: never) instead of
    blocking forever on a worker that stopped reading (SIGSTOP) while its buffer is full."""
    seconds = seconds or 0.0  # SO_SNDTIMEO's 0 is "no limit"
    sock = socket.socket(fileno=os.dup(conn.fileno()))  # a duplicate: closing it leaves conn open
    with contextlib.suppress(OSError), sock:
        sock.setblocking(True)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(seconds), int(seconds % 1 * 1e6)))


def _shutdown(workers, conns) -> None:
    """Ask every worker to leave, give them ``GRACE_S`` seconds, kill the rest, close the pipes."""
    for conn in conns:
        with contextlib.suppress(OSError):
            conn.send(None)
    for w in workers:
        w.join(GRACE_S)  # the grace is per worker; they leave together, so it is spent once
    for w in workers:
        if w.is_alive():
            w.kill()  # SIGKILL also ends a stopped process
            w.join()
    for conn in conns:
        conn.close()


class DataParallel:
    """Train ``model`` on ``world_size`` worker processes. Each ``step(x, y)`` splits the batch into
    contiguous slices, one per worker; the workers all-reduce their gradients and step their own
    optimizer (built by ``optimizer_fn(parameters)``), so their copies stay identical. ``loss_fn``
    must return the mean loss over a slice. Picklable arguments only (top-level functions,
    functools.partial), since the workers are separate processes ('spawn' by default: safe with
    Numba's threads).

    The constructor returns once every worker has started (imports included). From then on a
    worker that fails, dies or stays silent for ``timeout`` seconds (None: wait as long as it lives;
    the attribute may be changed between steps) stops the run: the workers are closed and the call
    raises a RuntimeError naming the worker and its exit code; the object is closed from then on.
    Use it in a ``with`` block or call ``close()``; the workers also end if this object is
    garbage-collected or the parent dies."""

    def __init__(self, model, loss_fn, optimizer_fn, world_size: int = 2, start_method: str = "spawn",
                 timeout: float | None = TIMEOUT_S):
        if not isinstance(world_size, int) or isinstance(world_size, bool) or world_size < 1:
            raise ValueError(f"DataParallel: world_size must be an int >= 1, got {world_size!r}")
        self.conns, self.workers = [], []
        self.timeout = timeout
        params = list(model.parameters())
        if not params:
            raise ValueError(f"DataParallel: {type(model).__name__} has no parameters to train")
        ctx = mp.get_context(start_method)
        self.world_size, self.steps = world_size, 0
        dtype = params[0].dtype
        size = sum(p.numel() for p in params) + 1 + len(params)  # allreduce_gradients: grads, loss, a flag each
        self.buffer = ctx.RawArray("d" if dtype == np.float64 else "f", world_size * size)
        self._finalizer = weakref.finalize(self, _shutdown, self.workers, self.conns)
        try:
            for r in range(world_size):
                mine, theirs = ctx.Pipe()
                _send_timeout(mine, timeout)
                self.conns.append(mine)
                worker = ctx.Process(target=_worker, name=f"DataParallel-worker-{r}", daemon=True,
                                     args=(r, world_size, model, loss_fn, optimizer_fn, self.buffer, dtype, theirs))
                worker.start()
                self.workers.append(worker)
                theirs.close()  # only the worker holds its end now, so its death reads as end-of-file here
        except (pickle.PicklingError, AttributeError, TypeError) as e:
            self.close()
            raise TypeError("DataParallel: the model, loss_fn and optimizer_fn go to the worker processes, so "
                            f"they must be picklable (top-level functions, functools.partial): {e}") from e
        except BaseException:
            self.close()
            raise
        with self._closing_on_interrupt():
            self._collect(range(world_size), "start-up")

    @property
    def timeout(self) -> float | None:
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: float | None) -> None:
        if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
            raise ValueError(f"DataParallel: timeout must be a positive number of seconds or None, got {seconds!r}")
        self._timeout = seconds
        for conn in self.conns:
            _send_timeout(conn, seconds)

    def _dead(self, r: int) -> str:
        """What became of worker ``r``, whose pipe is closed: its exit code, or that it hung up alive."""
        w = self.workers[r]
        w.join(GRACE_S)  # reap it, so that its exit code is known
        code = w.exitcode
        if code is None:
            return f"worker {r} (pid {w.pid}) closed its pipe"
        how = f"exit code {code}"
        if code < 0 and -code in signal.valid_signals():
            how += f", killed by {signal.Signals(-code).name}"
        elif code > 0:
            how += ", its traceback if any is on stderr"
        return f"worker {r} (pid {w.pid}) died ({how})"

    def _fail(self, message: str):
        self.close()
        raise RuntimeError(f"DataParallel: {message}; the run is stopped and its workers closed") from None

    def _send(self, r: int, message, what: str) -> None:
        try:
            self.conns[r].send(message)
        except OSError:  # a closed pipe (the worker is dead) or a send timeout (it stopped reading)
            self._fail((self._dead(r) if not self.workers[r].is_alive() else
                        f"worker {r} (pid {self.workers[r].pid}) stopped reading for {self.timeout} s") + f" at {what}")

    def _collect(self, ranks, what: str) -> dict:
        """One answer from each worker in ``ranks``, by rank, serving the workers' barrier meanwhile
        ("go" to all once all said "sync"). Stops the run if a worker reports an error, dies, or
        says nothing for ``timeout`` seconds."""
        answers, syncing = {}, set()
        owner = {c: r for r, c in enumerate(self.conns)} | {w.sentinel: r for r, w in enumerate(self.workers)}
        while len(answers) < len(ranks):
            ready = wait(list(owner), self.timeout)
            if not ready:
                silent = sorted(set(ranks) - set(answers) - syncing)  # not those waiting at the barrier
                self._fail(f"no word from worker(s) {silent} for {self.timeout} s during {what} "
                           "(alive but stuck or stopped)")
            for r in sorted({owner[h] for h in ready}):
                try:
                    while self.conns[r].poll():  # everything it said before it died, its error first
                        kind, value = self.conns[r].recv()
                        if kind == "error":
                            self._fail(f"worker {r} failed during {what}:\n{value}")
                        if kind == "sync":
                            syncing.add(r)
                        else:
                            answers[r] = value
                except (EOFError, OSError):
                    self._fail(f"{self._dead(r)} during {what}")
                if not self.workers[r].is_alive():
                    self._fail(f"{self._dead(r)} during {what}")
            if len(syncing) == self.world_size:
                for r in range(self.world_size):
                    self._send(r, "go", what)
                syncing.clear()
        return answers

    @contextlib.contextmanager
    def _closing_on_interrupt(self):
        """An exchange cut short (Ctrl-C) leaves the workers mid-protocol: close the run rather than resume it."""
        try:
            yield
        except BaseException:
            self.close()
            raise

    def _check_open(self) -> None:
        if not self._finalizer.alive:
            raise RuntimeError("DataParallel: this run is closed (by close() or after a worker failed); "
                               "start a new DataParallel")

    def step(self, x, y) -> float:
        """One synchronous data-parallel step on the batch (x, y); returns the full-batch mean loss."""
        self._check_open()
        x = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        y = y.numpy() if isinstance(y, Tensor) else np.asarray(y)
        if x.ndim == 0 or y.ndim == 0 or len(x) != len(y) or len(x) == 0:
            raise ValueError(f"DataParallel.step: x and y need the same number (>= 1) of samples along their first "
                             f"dimension, got shapes {x.shape} and {y.shape}")
        what = f"step {self.steps}"
        with self._closing_on_interrupt():
            for r in range(self.world_size):
                part = shard(len(x), r, self.world_size)
                self._send(r, ("step", (x[part], y[part], (part.stop - part.start) / len(x))), what)
            losses = self._collect(range(self.world_size), what)
        self.steps += 1
        return losses[0]

    def state_dict(self):
        """The model's weights (worker 0's copy; all copies are the same)."""
        self._check_open()
        with self._closing_on_interrupt():
            self._send(0, ("state_dict", None), "state_dict")
            return self._collect([0], "state_dict")[0]

    def close(self) -> None:
        """Stop the workers and release the pipes (idempotent)."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
