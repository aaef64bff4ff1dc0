"""tinygrad_lm: a small deep-learning framework for teaching, with hand-written backward passes."""
from .runtime import apply_process_settings

apply_process_settings()  # process-wide: OpenBLAS threads and glibc's allocator (tinygrad_lm/runtime.py)
from . import backend
from .autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import (Tensor, bool_, float16, float32, float64, get_default_dtype, int32, int64, long,
                     set_default_dtype, tensor)
from .ops import (abs, amax, amin, argmax, argmin, cat, chunk, clamp, clip, concat, exp, flatten, gather, log,
                  log_softmax, matmul, max, mean, min, permute, reshape, sigmoid, softmax, split, sqrt, squeeze,
                  stack, std, sum, tanh, transpose, unsqueeze, var, where)
from .factories import arange, empty, full, ones, ones_like, rand, randint, randn, zeros, zeros_like
from .gradcheck import GradcheckError, gradcheck
from .summary import summary
from . import kernels  # noqa: F401  (registers the kernels with backend)
from . import data, nn, optim  # noqa: F401

__version__ = "0.1.0"


def manual_seed(seed: int) -> None:
    """Seed every random generator tinygrad_lm uses (init, dropout, shuffling)."""
    backend.manual_seed(seed)


def cuda_is_available() -> bool:
    return backend.gpu_available()
