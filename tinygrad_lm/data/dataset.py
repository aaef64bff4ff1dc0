"""Dataset, TensorDataset and DataLoader with PyTorch's semantics, yielding tinygrad_lm tensors.

A ``Dataset`` answers ``len(ds)`` and ``ds[i]``; a ``DataLoader`` cuts an epoch into batches
of indices (shuffled or in order), fetches the samples and stacks them with ``collate_fn``.
Shuffling is reproducible: with ``seed`` the order of epoch ``e`` depends only on (seed, e),
so a resumed run calls ``set_epoch(e)`` and sees the same batches as an unbroken one; without
``seed`` the order is drawn from the framework's generator (``tg.manual_seed``), whose state
checkpoints save.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..tensor import Tensor, get_default_dtype


class Dataset:
    """Base class: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class TensorDataset(Dataset):
    """Samples are rows of the given tensors (or arrays): ``ds[i] == (t0[i], t1[i], ...)``."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in self.tensors]
        if None in sizes or len(set(sizes)) != 1:
            shapes = ", ".join(str(t.shape) for t in self.tensors)
            raise ValueError(f"TensorDataset: every tensor needs the same first dimension, got shapes {shapes}")

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)) and not -len(self) <= index < len(self):
            raise IndexError(f"TensorDataset: index {index} out of range for {len(self)} samples")
        return tuple(Tensor._wrap(t.data[index]) for t in self.tensors)

    def get_batch(self, indices):
        """A whole batch at once: the tensors indexed by ``indices``, which is what ``default_collate``
        of those rows gives, without a Python loop over the rows."""
        return tuple(Tensor._wrap(t.data[indices]) for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


def default_collate(samples):
    """Stack a list of samples into a batch, keeping their structure (tuple, list or dict).

    Tensors and arrays are stacked along a new first axis; Python ints become int64 and Python
    floats the default float dtype (float32, unlike PyTorch's float64: no silent promotion).
    """
    if not samples:
        raise ValueError("default_collate: no samples to batch")
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(list(group)) for group in zip(*samples, strict=True))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, Tensor):
        return Tensor._wrap(_stack([s.data for s in samples]))
    if isinstance(first, (np.ndarray, np.generic)) or backend.is_cupy(first):
        return Tensor._wrap(_stack(samples))
    if isinstance(first, bool):
        return Tensor._wrap(np.asarray(samples, dtype=np.bool_))
    if isinstance(first, int):
        return Tensor._wrap(np.asarray(samples, dtype=np.int64))
    if isinstance(first, float):
        return Tensor._wrap(np.asarray(samples, dtype=get_default_dtype()))
    if isinstance(first, str):
        return list(samples)
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}; pass collate_fn")


def _stack(arrays):
    shapes = {getattr(a, "shape", None) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"default_collate: samples of different shapes {sorted(map(str, shapes))} cannot be stacked "
                         "into a batch; pad them to one shape or pass collate_fn")
    return backend.xp(arrays[0]).stack(arrays)


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` (torch.utils.data.DataLoader's defaults).

    shuffle: a new order each epoch; drop_last: drop a final batch smaller than ``batch_size``;
    seed: makes the order of every epoch reproducible (see the module docstring);
    collate_fn: turns a list of samples into a batch (``default_collate`` by default).
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 collate_fn=None, seed: int | None = None):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        try:
            n = len(dataset)
        except (TypeError, NotImplementedError):
            raise TypeError(f"DataLoader: the dataset must define __len__ and __getitem__ (a map-style Dataset), "
                            f"got {type(dataset).__name__}") from None
        if not callable(getattr(dataset, "__getitem__", None)):
            raise TypeError(f"DataLoader: the dataset must define __getitem__, got {type(dataset).__name__}")
        if n == 0:
            raise ValueError(f"DataLoader: the dataset ({type(dataset).__name__}) is empty: there is nothing to load")
        if drop_last and n < batch_size:
            raise ValueError(f"DataLoader: drop_last with batch_size={batch_size} larger than the dataset ({n} "
                             "samples) would give no batch at all")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative int or None, got {seed!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.collate_fn, self.seed = collate_fn, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The next iteration is epoch ``epoch`` (for a seeded loader resumed mid-training)."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self):
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = backend.rng() if self.seed is None else np.random.default_rng([self.seed, self.epoch])
        return rng.permutation(n)

    def __iter__(self):
        order = self._order()
        self.epoch += 1
        fetch_batch = getattr(self.dataset, "get_batch", None) if self.collate_fn is None else None
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start:start + self.batch_size]
            if fetch_batch is not None:
                yield fetch_batch(idx)
            else:
                yield (self.collate_fn or default_collate)([self.dataset[int(i)] for i in idx])
