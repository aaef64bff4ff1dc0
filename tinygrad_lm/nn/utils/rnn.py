"""Packed sequences (torch.nn.utils.rnn): a batch of variable-length sequences as one (N, *) tensor of
their real steps only, time-major and longest first, so a recurrent layer never reads padding.

    lengths l_b, s = sorted_indices (the batch by decreasing length), unsorted_indices = s^-1
    batch_sizes[t] = #{b : l_b > t}                      t = 0 .. max(l) - 1
    data = x[0, s_0], ..., x[0, s_{batch_sizes[0]-1}], x[1, s_0], ...   (N = sum of l_b rows)

Packing and unpacking are each one gather by integer index (``ops.getitem``, whose backward scatter-adds
g back), so gradients flow through them like through any indexing.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ... import backend, ops
from ...tensor import Tensor

NOT_SORTED = ("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
              "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
              "if you do not need ONNX exportability.")


def _cpu(x):
    return None if x is None else np.asarray(backend.to_device(x.data if isinstance(x, Tensor) else x, "cpu"))


def _long(a):
    return Tensor._wrap(np.asarray(a, dtype=np.int64))


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """torch's PackedSequence: ``data`` (N, *) the real steps (see the module's docstring), ``batch_sizes``
    (T,) int64 on the CPU, ``sorted_indices`` / ``unsorted_indices`` (B,) int64, or None when the batch
    was packed already sorted. Build it with :func:`pack_padded_sequence` or :func:`pack_sequence`."""

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _long(np.argsort(_cpu(sorted_indices)))
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, device=None, dtype=None):
        """The same sequence with ``data`` moved and/or cast (the index fields stay on the CPU)."""
        return self._replace(data=self.data.to(device, dtype))

    def double(self):
        return self.to(dtype=np.float64)

    def float(self):
        return self.to(dtype=np.float32)

    @property
    def is_cuda(self):
        return self.data.device == "cuda"


def _pack_rows(x, batch_sizes, sorted_indices, batch_first):
    """The rows of ``data``: x[t, s_k] for k < batch_sizes[t], t = 0, 1, ... (one gather)."""
    t = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    k = np.arange(len(t)) - np.repeat(np.cumsum(batch_sizes) - batch_sizes, batch_sizes)
    b = k if sorted_indices is None else sorted_indices[k]
    index = (b, t) if batch_first else (t, b)
    return ops.getitem(x, tuple(backend.to_device(i, x.device) for i in index))


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):  # noqa: A002 - torch's name
    """Pack a padded batch ``input`` (T, B, *) (or (B, T, *) with batch_first) whose sequence b is its
    first ``lengths[b]`` steps. With enforce_sorted the lengths must be decreasing; otherwise the batch is
    sorted here (equal lengths keep their order) and ``sorted_indices`` records how."""
    if not isinstance(input, Tensor) or input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must be a tensor (T, B, *) or (B, T, *), got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    T, B = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    if T * B == 0:
        raise ValueError(f"pack_padded_sequence: cannot pack empty tensors (input of shape {input.shape})")
    lens = _cpu(lengths)
    if lens.ndim != 1 or (lens.size and lens.dtype.kind not in "iu" and not np.all(lens == np.floor(lens))):
        raise ValueError(f"pack_padded_sequence: lengths must be a 1-D list or tensor of integers, got {lens!r}")
    lens = lens.astype(np.int64)
    if lens.shape[0] != B:
        raise ValueError(f"Expected `len(lengths)` to be equal to batch_size, but got {lens.shape[0]} "
                         f"(batch_size={B}, input of shape {input.shape}, batch_first={batch_first})")
    if lens.min() <= 0:
        raise ValueError(f"Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                         f"is <= 0 (lengths {lens.tolist()})")
    if lens.max() > T:
        raise ValueError(f"pack_padded_sequence: a length of {lens.max()} exceeds the {T} time steps of input of "
                         f"shape {input.shape} (batch_first={batch_first})")
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise ValueError(NOT_SORTED + f" (lengths {lens.tolist()})")
        order = None
    else:
        order = np.argsort(-lens, kind="stable")
    batch_sizes = (lens[None, :] > np.arange(lens.max())[:, None]).sum(axis=1)
    data = _pack_rows(input, batch_sizes, order, batch_first)
    return PackedSequence(data, _long(batch_sizes), None if order is None else _long(order))


def packed_lengths(sequence):
    """The length of every sequence of a PackedSequence, in the original batch order (a NumPy array)."""
    bs = _cpu(sequence.batch_sizes)
    lens = (bs[None, :] > np.arange(bs[0])[:, None]).sum(axis=1)
    unsorted = _cpu(sequence.unsorted_indices)
    return lens if unsorted is None else lens[unsorted]


def pack_as(x, sequence):
    """Pack the time-major padded ``x`` (T, B, *) like ``sequence``: the same lengths and order."""
    return sequence._replace(data=_pack_rows(x, _cpu(sequence.batch_sizes), _cpu(sequence.sorted_indices), False))


def _from_rows(rows, data, padding_value):
    """Gather ``data``'s rows by the integer array ``rows``; entries equal to len(data) are padding."""
    pad = Tensor._wrap(backend.xp(data.data).full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype))
    return ops.getitem(ops.cat([data, pad], 0), backend.to_device(rows, data.device))


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo :func:`pack_padded_sequence`: (padded (T, B, *) or (B, T, *), lengths (B,) int64), both in the
    original batch order; T = ``total_length`` if given (at least the longest length)."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    bs = _cpu(sequence.batch_sizes)
    T, B, N = len(bs), int(bs[0]), sequence.data.shape[0]
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {T}")
        T = total_length
    k = np.arange(B)
    offsets = np.cumsum(bs) - bs
    rows = np.full((T, B), N)
    rows[:len(bs)] = np.where(k[None, :] < bs[:, None], offsets[:, None] + k[None, :], N)
    unsorted = _cpu(sequence.unsorted_indices)
    if unsorted is not None:
        rows = rows[:, unsorted]
    padded = _from_rows(rows.T if batch_first else rows, sequence.data, padding_value)
    return padded, _long(packed_lengths(sequence))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors (L_b, *) into (T, B, *) (or (B, T, *)), T = max L_b, padding after each sequence
    (``padding_side='right'``) or before it ('left')."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got {padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor) or s.ndim < 1 or s.shape[1:] != sequences[0].shape[1:]:
            raise ValueError(f"pad_sequence: sequence {i} has shape {getattr(s, 'shape', type(s).__name__)}, but "
                             f"every sequence must be (L, *rest) with the rest of sequence 0, {sequences[0].shape[1:]}")
    lens = np.array([s.shape[0] for s in sequences])
    T, starts = int(lens.max()), np.cumsum(lens) - lens
    t = np.arange(T)[:, None]
    step = t if padding_side == "right" else t - (T - lens[None, :])  # the step of sequence b at row t
    rows = np.where((step >= 0) & (step < lens[None, :]), starts[None, :] + step, int(lens.sum()))
    return _from_rows(rows.T if batch_first else rows, ops.cat(sequences, 0), padding_value)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_b, *): ``pack_padded_sequence(pad_sequence(sequences), lengths)``."""
    sequences = list(sequences)
    return pack_padded_sequence(pad_sequence(sequences), [s.shape[0] for s in sequences],
                                enforce_sorted=enforce_sorted)
