"""The GPU side of data-parallel training (run by ``python -m benchmarks.gpu_check`` with the other GPU tests):
two MPI ranks with their parameters on the GPU all-reduce over NCCL (a GPU each) or host memory (one GPU
shared) and train as one process; NCCL's all-reduce on its own. Without a GPU they skip, and
``python -m benchmarks.gpu_check`` fails with one clear message, a non-zero exit and no report."""
import os
import subprocess
import sys

import numpy as np
import pytest
from test_mpi import _mpirun, _why_not, train

from tinygrad_lm import backend

MPI_JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_mpi.py")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is present: run python -m benchmarks.gpu_check itself")
def test_gpu_check_without_a_gpu_fails_with_one_clear_message(tmp_path):
    report = tmp_path / "report.md"
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--out", str(report)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gpu_check: no GPU: it needs CuPy and an NVIDIA GPU (pip install 'tinygrad-lm[gpu]' on a machine with one); "
        "nothing was run"]
    assert done.stdout == "" and not report.exists()


@pytest.mark.gpu
def test_two_ranks_on_the_gpu_train_as_one_process(tmp_path):
    if _why_not():
        pytest.skip(_why_not())
    rc, _, err, _ = _mpirun(sys.executable, MPI_JOB, str(tmp_path), "--device", "cuda", timeout=120)
    assert rc == 0, err
    from tinygrad_lm import backend

    for kind in ("mlp", "gpt"):
        ranks = np.load(tmp_path / f"{kind}.npz")
        gpus = backend.cupy().cuda.runtime.getDeviceCount()
        assert str(ranks["transport"]) == ("nccl" if gpus >= 2 else "host")  # NCCL needs a GPU per rank
        alone, _ = train(kind, "cuda")
        for name, value in alone.items():
            np.testing.assert_allclose(ranks[name], value, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.gpu
def test_nccl_allreduce_in_a_world_of_one_returns_the_array_on_the_gpu():
    from tinygrad_lm import backend
    from tinygrad_lm.distributed import NCCLComm, nccl_available

    if not nccl_available():
        pytest.skip("CuPy was built without NCCL")
    from cupy.cuda import nccl

    cp = backend.cupy()
    comm = NCCLComm(0, 1, nccl.get_unique_id())
    a = cp.arange(6, dtype=cp.float64).reshape(2, 3)
    out = comm.allreduce_sum(a)
    assert backend.is_cupy(out) and out.dtype == a.dtype
    np.testing.assert_array_equal(cp.asnumpy(out), cp.asnumpy(a))
    with pytest.raises(TypeError, match=r"NCCLComm.allreduce_sum: dtype int8 \(shape \(2,\)\)"):
        comm.allreduce_sum(cp.zeros(2, cp.int8))
