"""``tinygrad_lm.utils``: PyTorch's ``torch.utils`` paths (``utils.data``) over the framework's own modules."""
from . import data  # noqa: F401
