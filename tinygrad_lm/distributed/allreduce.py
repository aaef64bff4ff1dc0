"""The one gradient all-reduce of data-parallel training (D1.T5): every rank scales its gradients by
its share of the batch, weight = n_r / N, and the sum over ranks is the full batch's gradient
(see data_parallel's docstring). ``DataParallel``'s workers and the Trainer under MPI both call it."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor


def shard(n: int, rank: int, world_size: int) -> slice:
    """The contiguous slice of a batch of n samples that ``rank`` takes (sizes differ by at most 1)."""
    bounds = np.linspace(0, n, world_size + 1).round().astype(int)
    return slice(int(bounds[rank]), int(bounds[rank + 1]))


def allreduce_gradients(params, comm, weight: float, values=()) -> list[float]:
    """Replace each parameter's gradient by sum_r weight_r grad_r over ``comm``'s ranks (a rank without a
    gradient adds zeros; a parameter that has none anywhere keeps None) and return ``values`` (floats:
    the loss, batch metrics) reduced the same way, in one all-reduce."""
    params = list(params)
    dtype = params[0].dtype
    xp = backend.xp(*(p.data for p in params))
    grads = [p.grad.data.reshape(-1) if p.grad is not None else xp.zeros(p.numel(), dtype) for p in params]
    flat = xp.concatenate(grads + [xp.asarray(list(values), dtype=dtype)]) * dtype.type(weight)
    has = xp.asarray([p.grad is not None for p in params], dtype=dtype)
    total = comm.allreduce_sum(xp.concatenate([flat, has]))
    anywhere = backend.to_device(total[flat.size:], "cpu") > 0
    start = 0
    for p, used in zip(params, anywhere, strict=True):
        p.grad = Tensor._wrap(total[start:start + p.numel()].reshape(p.shape).astype(p.dtype)) if used else None
        start += p.numel()
    return [float(v) for v in backend.to_device(total[start:flat.size], "cpu")]
