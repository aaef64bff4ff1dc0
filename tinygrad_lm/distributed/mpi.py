"""MPI for processes started by ``mpiexec``/``mpirun`` (MPICH's launcher from the ``mpich`` wheel, or any
MPI that mpi4py finds), on one machine or several: ``mpirun -n 4 tinygrad-lm train gpt --distributed mpi``.

Faults end the job, they never hang it. A rank killed by a signal or leaving by ``os._exit`` is seen by
the launcher, which kills the others (MPICH's mpiexec prints "BAD TERMINATION ..."). A rank that raises
must not simply exit: mpi4py's MPI_Finalize at exit would wait for its peers, and they for its next
all-reduce, forever; ``abort_on_exit`` calls MPI_Abort instead, which takes the whole job down. A rank
that lives but stops (stuck, SIGSTOP) is caught by the all-reduce itself: it is nonblocking and polled,
and after ``timeout`` seconds the waiting ranks abort the job, naming the collective and the rank.
"""
from __future__ import annotations

import contextlib
import socket
import sys
import time
import traceback

import numpy as np

from .. import backend

TIMEOUT_S = 300.0  # default: seconds an all-reduce may wait for the slowest rank before the job is aborted


def mpi_available() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def wait_or_abort(done, seconds: float | None, abort, what: str) -> None:
    """Poll ``done()`` until it is True (sleeping a little between polls, so a waiting rank leaves the
    CPU to the others); after ``seconds`` (None: never) call ``abort(message)``."""
    start, pause = time.monotonic(), 0.0
    while not done():
        if seconds is not None and time.monotonic() - start > seconds:
            abort(f"{what} waited {seconds} s for the other ranks (one is stuck or stopped)")
        time.sleep(pause)
        pause = min(1e-3, pause + 1e-5)


class MPIComm:
    """All-reduce over MPI (mpi4py's COMM_WORLD unless given). NumPy arrays travel through MPI; CuPy
    arrays through NCCL when every rank has a GPU of its own, else through host memory (the PyPI
    MPICH is not CUDA-aware), chosen at the first CuPy all-reduce: ``gpu_transport`` says which.
    Each rank uses GPU number (its rank on its machine) modulo the machine's GPUs."""

    def __init__(self, comm=None, timeout: float | None = TIMEOUT_S):
        from mpi4py import MPI

        self.mpi, self.comm, self.timeout = MPI, comm or MPI.COMM_WORLD, timeout
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()
        self.steps, self.gpu_transport, self._gpu = 0, None, None
        if backend.gpu_available():
            cp = backend.cupy()
            local = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
            cp.cuda.Device(local % cp.cuda.runtime.getDeviceCount()).use()

    def allreduce_sum(self, array):
        """The sum of ``array`` over the ranks, on every rank (a new array on the same device)."""
        self.steps += 1
        if backend.is_cupy(array):
            return self._gpu_allreduce()(array)
        send = np.ascontiguousarray(array)
        out = np.empty_like(send)
        request = self.comm.Iallreduce(send, out, op=self.mpi.SUM)
        wait_or_abort(request.Test, self.timeout, self.abort, f"MPI all-reduce {self.steps} on rank {self.rank}")
        return out

    def _gpu_allreduce(self):
        if self._gpu is None:
            from .nccl import NCCLComm, nccl_available

            cp = backend.cupy()
            where = self.comm.allgather((socket.gethostname(), cp.cuda.Device().pci_bus_id))
            if len(set(where)) == self.world_size and self.comm.allreduce(int(nccl_available()), op=self.mpi.MIN):
                self.gpu_transport, self._gpu = "nccl", NCCLComm.from_mpi(self).allreduce_sum
            else:  # ranks share a GPU (NCCL refuses that) or a rank lacks NCCL: through host memory
                self.gpu_transport = "host"
                self._gpu = lambda a: cp.asarray(self.allreduce_sum(cp.asnumpy(a)))
        return self._gpu

    def bcast(self, obj, root: int = 0):
        """``obj`` of rank ``root`` on every rank (pickled)."""
        return self.comm.bcast(obj, root=root)

    def abort(self, message: str | None = None, status: int = 1):
        """End every rank of the job now (MPI_Abort), after ``message`` on stderr."""
        if message:
            print(f"tinygrad-lm: error: {message}; aborting the MPI job (rank {self.rank} of {self.world_size})",
                  file=sys.stderr, flush=True)
        sys.stdout.flush()
        self.comm.Abort(status)


@contextlib.contextmanager
def abort_on_exit(comm):
    """Turn a rank's early exit (an exception, or SystemExit with a non-zero status) into MPI_Abort, so
    the other ranks stop too instead of waiting for it; a clean exit passes through."""
    try:
        yield
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if status:
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr, flush=True)
            comm.abort(status=status)
        raise
    except BaseException as e:
        traceback.print_exc()
        comm.abort(f"rank {comm.rank} failed with {type(e).__name__}")


_WORLD: list = [None]  # the communicator this process was started with (init), None on its own


def init(kind: str = "none"):
    """The process's communicator for ``--distributed kind``: None for 'none', the one MPIComm for 'mpi'
    (made once; every Trainer of the process all-reduces through it)."""
    if kind == "none":
        return None
    if kind != "mpi":
        raise ValueError(f"--distributed: unknown kind {kind!r}; use 'none' or 'mpi'")
    if _WORLD[0] is None:
        if not mpi_available():
            raise RuntimeError("--distributed mpi needs mpi4py and an MPI library: pip install 'tinygrad-lm[mpi]' "
                               "(mpi4py and MPICH's wheels), then start the command with mpirun -n N")
        _WORLD[0] = MPIComm()
    return _WORLD[0]


def world():
    """The communicator given by ``init``, or None."""
    return _WORLD[0]


def is_main() -> bool:
    """True on the rank that prints and writes files (rank 0), and in a process on its own."""
    return _WORLD[0] is None or _WORLD[0].rank == 0
