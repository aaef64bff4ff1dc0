"""``tinygrad_lm.cuda``: torch.cuda's questions about the GPU (CuPy and an NVIDIA GPU behind ``device("cuda")``)."""
from . import backend


def is_available() -> bool:
    """True when CuPy is installed and sees a GPU, so ``device="cuda"`` works."""
    return backend.gpu_available()


def device_count() -> int:
    """How many GPUs CuPy sees (0 without CuPy or a GPU)."""
    return backend.cupy().cuda.runtime.getDeviceCount() if is_available() else 0
