"""torch.nn.utils: gradient clipping here, packed sequences in ``rnn``."""
from __future__ import annotations

import math

from ...backend import xp
from . import rnn  # noqa: F401 - nn.utils.rnn without its own import, as torch


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients together so their joint norm is at most ``max_norm``; returns the norm before."""
    grads = [p.grad for p in ([parameters] if hasattr(parameters, "grad") else parameters) if p.grad is not None]
    if not grads:
        return 0.0
    if norm_type == math.inf:
        total = max(float(xp(g.data).abs(g.data).max()) for g in grads)
    else:
        total = sum(float((xp(g.data).abs(g.data) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type)
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in grads:
            g.data = g.data * g.data.dtype.type(scale)
    return total
