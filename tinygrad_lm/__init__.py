"""tinygrad_lm: a small deep-learning framework for teaching, with hand-written backward passes."""
from .runtime import apply_process_settings

apply_process_settings()  # process-wide: OpenBLAS threads and glibc's allocator (tinygrad_lm/runtime.py)
# NumPy only after the settings: OpenBLAS reads its thread timeout when NumPy first loads it
import contextlib as _contextlib

import numpy as _np
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
from . import cuda, utils  # noqa: F401,E402  (torch.cuda.is_available(), torch.utils.data)
from .backend import device  # noqa: F401,E402
from .serialization import load, save  # noqa: F401,E402

__version__ = "0.1.0"


def manual_seed(seed: int) -> None:
    """Seed every random generator tinygrad_lm uses (init, dropout, shuffling)."""
    backend.manual_seed(seed)


def cuda_is_available() -> bool:
    return backend.gpu_available()


def from_numpy(ndarray) -> Tensor:
    """A tensor sharing ``ndarray``'s memory (a change to one shows in the other), dtype kept: torch.from_numpy."""
    if not isinstance(ndarray, _np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: can't convert np.ndarray of type {ndarray.dtype}; the supported types are "
                        "floating, integer and bool")
    return Tensor._wrap(ndarray)


class inference_mode(_contextlib.ContextDecorator):  # noqa: N801 - torch's name
    """``with tg.inference_mode():`` or ``@tg.inference_mode()`` (or bare ``@tg.inference_mode``): no graph is
    recorded and what ops make does not require grad, as ``torch.inference_mode``; ``mode=False`` does nothing."""

    def __new__(cls, mode=True):
        if callable(mode):  # used bare as a decorator
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self.mode, self._previous = bool(mode), []

    def __enter__(self):
        self._previous.append(is_grad_enabled())
        if self.mode:
            set_grad_enabled(False)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._previous.pop())
        return False
