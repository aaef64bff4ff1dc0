"""tinygrad_lm: a small deep-learning framework for teaching, with hand-written backward passes."""
import os

# OpenBLAS's worker threads otherwise spin for about 0.1 s after every matrix product and take the cores
# that the next Numba kernel needs (a GPT step: 387 ms -> 220 ms on 2 cores). It is read when NumPy first
# loads OpenBLAS, so it only helps when tinygrad_lm is imported before NumPy.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for the next allocation instead of returning it to the OS.

    By default glibc hands every large block (over its adaptive mmap threshold) straight back to the OS,
    so each training step maps its multi-megabyte activations and gradients afresh and pays a page
    fault per 4 KB page touched (expensive, most of all in a VM): a GPT step 142 -> 111 ms, a
    Transformer step 99 -> 81 ms on 2 cores. Blocks below 64 MB now come from the heap and up to 256 MB
    of free heap is kept, as PyTorch's allocator caches blocks. Skipped off glibc, or if the user set
    MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ (glibc's own variables) themselves.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux") or any(v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_",
                                                                            "MALLOC_TRIM_THRESHOLD_")):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present only in glibc
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_trim_threshold, 256 << 20)
    libc.mallopt(m_mmap_threshold, 64 << 20)


_keep_freed_memory()
from . import backend
from .autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import (Tensor, bool_, float16, float32, float64, get_default_dtype, int32, int64, long,
                     set_default_dtype, tensor)
from .ops import (abs, amax, amin, argmax, argmin, cat, chunk, clamp, clip, concat, exp, flatten, gather, log,
                  log_softmax, matmul, max, mean, min, permute, reshape, sigmoid, softmax, split, sqrt, squeeze,
                  stack, std, sum, tanh, transpose, unsqueeze, var, where)
from .factories import arange, empty, full, ones, ones_like, rand, randint, randn, zeros, zeros_like
from .gradcheck import GradcheckError, gradcheck
from . import kernels  # noqa: F401  (registers the kernels with backend)
from . import data, nn, optim  # noqa: F401

__version__ = "0.1.0"


def manual_seed(seed: int) -> None:
    """Seed every random generator tinygrad_lm uses (init, dropout, shuffling)."""
    backend.manual_seed(seed)


def cuda_is_available() -> bool:
    return backend.gpu_available()
