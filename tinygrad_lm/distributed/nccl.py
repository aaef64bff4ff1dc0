"""All-reduce of CuPy arrays over NCCL (``cupy.cuda.nccl``), one GPU per rank. The ranks meet through MPI
to share NCCL's id; ``MPIComm`` chooses this for CuPy arrays when every rank has a GPU of its own."""
from __future__ import annotations

from .. import backend
from .mpi import wait_or_abort


def nccl_available() -> bool:
    """CuPy with a GPU, and built with NCCL."""
    if not backend.gpu_available():
        return False
    try:
        from cupy.cuda import nccl  # noqa: F401
    except ImportError:
        return False
    return True


class NCCLComm:
    """``world_size`` ranks, one per GPU (the current CuPy device), that share ``unique_id``
    (``cupy.cuda.nccl.get_unique_id()`` of one of them). ``abort(message)`` is called if an
    all-reduce has not finished after ``timeout`` seconds (None: never)."""

    def __init__(self, rank: int, world_size: int, unique_id, timeout: float | None = None, abort=None):
        from cupy.cuda import nccl

        self.nccl, self.rank, self.world_size, self.timeout = nccl, rank, world_size, timeout
        self.comm = nccl.NcclCommunicator(world_size, unique_id, rank)
        self._abort, self.steps = abort, 0
        self.dtypes = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}

    @classmethod
    def from_mpi(cls, mpi):
        """The NCCL communicator of ``mpi``'s ranks (an MPIComm: it carries the id and aborts on a timeout)."""
        from cupy.cuda import nccl

        uid = mpi.bcast(nccl.get_unique_id() if mpi.rank == 0 else None)
        return cls(mpi.rank, mpi.world_size, uid, mpi.timeout, mpi.abort)

    def allreduce_sum(self, array):
        """The sum of the CuPy ``array`` over the ranks, on every rank."""
        cp = backend.cupy()
        if str(array.dtype) not in self.dtypes:
            raise TypeError(f"NCCLComm.allreduce_sum: dtype {array.dtype} (shape {array.shape}) is not one of "
                            f"{', '.join(self.dtypes)}")
        send = cp.ascontiguousarray(array)
        out = cp.empty_like(send)
        stream = cp.cuda.get_current_stream()
        self.steps += 1
        self.comm.allReduce(send.data.ptr, out.data.ptr, send.size, self.dtypes[str(send.dtype)],
                            self.nccl.NCCL_SUM, stream.ptr)
        wait_or_abort(lambda: stream.done, self.timeout, self._on_timeout, f"NCCL all-reduce {self.steps}")
        return out

    def _on_timeout(self, message: str):
        self.comm.abort()  # frees the GPU's kernels that wait on the missing rank
        if self._abort is None:
            raise RuntimeError(message)
        self._abort(message)
