"""Convolution and pooling layers with PyTorch's names, parameter shapes and default init."""
from __future__ import annotations

import math

import numpy as np

from ..ops.conv import conv2d, conv_geometry, pair
from ..ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from ..tensor import get_default_dtype
from . import init
from .layers import check_input
from .module import Module, Parameter


class Conv2d(Module):
    """D3.F1 as a layer: weight (out_channels, in_channels/groups, kH, kW), bias (out_channels,);
    both ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels/groups * kH * kW, as PyTorch."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros"):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"Conv2d: {name} must be a positive int, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: only padding_mode='zeros' is supported, got {padding_mode!r}")
        geom = conv_geometry(stride, padding, dilation, "Conv2d")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride, self.padding, self.dilation = geom[0:2], geom[2:4], geom[4:6]
        self.weight = Parameter(np.zeros((out_channels, in_channels // groups, *self.kernel_size),
                                         dtype=get_default_dtype()))
        self.register_parameter("bias", Parameter(np.zeros(out_channels, dtype=get_default_dtype())) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x, activation=None):
        """``activation="relu"`` (not torch's): relu(self(x)) as one fused op (ops.conv.Conv2dReLU)."""
        check_input("Conv2d", x, self.weight)
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                      activation=activation)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


def _check_pool(layer, kernel_size, stride, padding, dilation=1):
    """A pooling layer's geometry, refused when built: PyTorch's limits (padding at most half the window)."""
    kernel = pair(kernel_size, "kernel_size", layer, 1)
    if stride is not None:
        pair(stride, "stride", layer, 1)
    dil = pair(dilation, "dilation", layer, 1)
    pad = pair(padding, "padding", layer, 0)
    if any(p > (d * (k - 1) + 1) // 2 for p, k, d in zip(pad, kernel, dil, strict=True)):
        raise ValueError(f"{layer}: padding {padding} should be at most half of the kernel size {kernel_size}")


class MaxPool2d(Module):
    """D3.F2: the maximum of each kernel_size window, moved by stride (default: kernel_size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        _check_pool("MaxPool2d", kernel_size, stride, padding, dilation)  # now, not at the first batch
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """D3.F2 (average): the mean of each window; the padding counts in the divisor unless count_include_pad=False."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        _check_pool("AvgPool2d", kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output_size whatever the input size."""

    def __init__(self, output_size):
        super().__init__()
        pair(tuple(1 if s is None else s for s in output_size) if isinstance(output_size, (tuple, list)) else output_size,
             "output_size", "AdaptiveAvgPool2d", 1)  # (None keeps the input's size)
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
