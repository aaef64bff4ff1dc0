"""Raw-array helpers that both the ops and the kernels need, so neither imports the other for them.

It sits just above ``backend`` (it imports nothing else of tinygrad_lm): ops/ and kernels/ import from
here, and kernels/ never import ops/ (an import-linter contract in pyproject.toml).
"""
from __future__ import annotations

from .backend import xp


def sigmoid_array(x):
    """sigma(x) = 1 / (1 + e^-x), written as 0.5 tanh(x/2) + 0.5 so it never overflows."""
    return 0.5 * xp(x).tanh(0.5 * x) + 0.5


def out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Output length of a convolution along one axis (PyTorch's formula; floor division)."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
