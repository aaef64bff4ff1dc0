"""Data-parallel training across processes (D1.T5, D4.T1, D3.T2)."""
from .data_parallel import (DataParallel, MPIComm, SharedMemoryComm, data_parallel_step, mpi_available,  # noqa: F401
                            shard)
