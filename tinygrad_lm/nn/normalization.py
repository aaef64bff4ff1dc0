"""BatchNorm1d and BatchNorm2d with PyTorch's names, buffers, defaults and modes (outside the inventory)."""
from __future__ import annotations

import numpy as np

from ..ops.norm import batch_norm
from ..tensor import Tensor, get_default_dtype
from . import init
from .layers import _empty, check_input, check_size
from .module import Module


class _BatchNorm(Module):
    """Normalise each channel by the batch's mean and (biased) variance while training, and by the running
    estimates in eval mode; the estimates move by ``momentum`` each training step (None: a cumulative
    average over ``num_batches_tracked`` steps), as torch.nn.BatchNorm*d. With
    ``track_running_stats=False`` there are no estimates and the batch's statistics serve in both modes."""

    ndims: tuple = ()  # the input ranks the layer takes, and their layout in words
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        check_size(name, "num_features", num_features)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:  # (a nan eps fails eps > 0)
            raise ValueError(f"{name}: eps must be positive, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"{name}: momentum must be in [0, 1] or None (a cumulative average), got {momentum!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.register_parameter("weight", _empty(num_features) if affine else None)
        self.register_parameter("bias", _empty(num_features) if affine and bias else None)
        if track_running_stats:
            dtype = get_default_dtype()
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            for stat in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(stat, None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            for stat, value in (("running_mean", 0), ("running_var", 1), ("num_batches_tracked", 0)):
                getattr(self, stat).data[...] = value

    def reset_parameters(self):
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        name = type(self).__name__
        ref = self.weight if self.weight is not None else self.running_mean
        if ref is not None:
            check_input(name, x, ref)
        if x.ndim not in self.ndims:
            raise ValueError(f"{name}: expected {self.layout} input, got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: input of shape {tuple(x.shape)} has {x.shape[1]} channels, but the layer "
                             f"has num_features={self.num_features} (weight and running estimates of shape "
                             f"({self.num_features},))")
        track = self.training and self.track_running_stats
        factor = 0.0 if not track else self.momentum
        if track and self.momentum is None:
            factor = 1.0 / (int(self.num_batches_tracked.data) + 1)
        use_running = not self.training or self.track_running_stats
        out = batch_norm(x, self.running_mean if use_running else None, self.running_var if use_running else None,
                         self.weight, self.bias, self.training or self.running_mean is None, factor, self.eps)
        if track:  # counted after the forward, so a refused batch is not counted
            self.num_batches_tracked.data += 1
        return out

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of an (N, C) or (N, C, L) input over N (and L) per channel."""

    ndims, layout = (2, 3), "a 2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of an (N, C, H, W) input over N, H and W per channel."""

    ndims, layout = (4,), "a 4-D (N, C, H, W)"
