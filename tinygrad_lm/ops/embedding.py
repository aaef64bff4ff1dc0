"""Embedding lookup (D3.F6): rows of a table picked by integer indices."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor


class Embedding(Function):
    """y[...] = W[idx[...]];  dL/dW[r] = sum of g over the positions where idx == r
    (none for ``padding_idx``), a scatter-add."""

    saves_inputs = ()
    operands = ("weight",)

    def forward(self, weight, idx, padding_idx=None):
        if idx.dtype.kind not in "iu":
            raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
        if weight.ndim != 2:
            raise ValueError(f"embedding: weight must be a 2-D table (num_embeddings, embedding_dim), got shape "
                             f"{tuple(weight.shape)}")
        if idx.size and (idx.min() < 0 or idx.max() >= weight.shape[0]):
            bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
            raise IndexError(f"embedding: index {bad} is out of range for a table of {weight.shape[0]} rows "
                             f"(valid indices: 0 to {weight.shape[0] - 1})")
        self.shape, self.idx, self.padding_idx = weight.shape, idx, padding_idx
        return weight[idx]

    def backward(self, g):
        m = xp(g)
        flat = self.idx.reshape(-1)
        g2 = g.reshape(-1, self.shape[1])
        grad = m.zeros(self.shape, dtype=g.dtype)
        # sort once, then sum each run of equal indices: far faster than add.at
        order = m.argsort(flat, kind="stable")
        sorted_idx = flat[order]
        starts = m.flatnonzero(m.concatenate([m.ones(1, bool), sorted_idx[1:] != sorted_idx[:-1]])) if flat.size else flat
        if flat.size:
            grad[sorted_idx[starts]] = m.add.reduceat(g2[order], starts, axis=0)
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        return grad, None


# ------------------------------------------------------------------ functional wrappers
def embedding(input, weight, padding_idx=None):  # noqa: A002 - torch's name
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    return Embedding.apply(weight, idx, padding_idx=padding_idx)
