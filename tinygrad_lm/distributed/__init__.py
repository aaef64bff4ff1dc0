"""Data-parallel training across processes (D1.T5, D4.T1, D3.T2): worker processes on one machine
(shared memory), ranks started by mpirun (MPI), GPUs (NCCL); docs/architecture.md says how to launch each."""
from .allreduce import allreduce_gradients, shard  # noqa: F401
from .data_parallel import DataParallel, SharedMemoryComm, data_parallel_step  # noqa: F401
from .mpi import MPIComm, abort_on_exit, init, is_main, mpi_available, world  # noqa: F401
from .nccl import NCCLComm, nccl_available  # noqa: F401
