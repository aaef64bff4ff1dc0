"""One call that holds an op to everything the op tests ask: tg.gradcheck in float64 (random upstream),
and PyTorch's forward and backward in float64 (1e-10) and float32 (1e-5); plus hypothesis strategies
for the awkward shapes (batch 1, size-1 axes, broadcasting)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import compare_with_torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_lm as tg

FAST = dict(max_examples=15, deadline=None)


@pytest.fixture(autouse=True, scope="module")
def torch_single_thread():
    """Import into a test module: on tiny tensors PyTorch's thread pool only adds contention
    (10x slower steps on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def check_op(tg_fn, torch_fn, arrays, requires_grad=None, gradcheck=True, rtol32=None, atol32=None):
    """gradcheck + PyTorch parity in float64 and float32; returns the float64 output."""
    arrays = [np.asarray(a) for a in arrays]
    if requires_grad is None:
        requires_grad = [a.dtype.kind == "f" for a in arrays]
    out = compare_with_torch(tg_fn, torch_fn, arrays, requires_grad, dtype=np.float64)
    compare_with_torch(tg_fn, torch_fn, arrays, requires_grad, dtype=np.float32, rtol=rtol32, atol=atol32)
    if gradcheck and any(requires_grad):
        inputs = [tg.tensor(a.astype(np.float64) if a.dtype.kind == "f" else a, requires_grad=bool(r))
                  for a, r in zip(arrays, requires_grad, strict=True)]
        tg.gradcheck(tg_fn, inputs)
    return out


def away_from(x, points=(0.0,), gap=0.1):
    """``x`` moved at least ``gap`` away from each kink in ``points`` (finite differences need it)."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        d = x - p
        x = np.where(np.abs(d) < gap, p + np.where(d >= 0, gap, -gap) + d, x)
    return x


def broadcast_pair(max_dims=3, max_side=4):
    """Two shapes that broadcast together (0-d, size-1 axes and batch 1 included)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims, min_side=1,
                                             max_side=max_side).map(lambda r: r.input_shapes)


def shapes(min_dims=1, max_dims=3, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


seeds = st.integers(0, 2 ** 16)


def randn(seed, *shapes_):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes_]
