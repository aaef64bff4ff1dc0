"""Generated sequence-to-sequence tasks (copy, reverse, sort, addition) for the Transformer (D2.M3).

These are generated data, not the document's data set: every sample is drawn from a seeded generator.
Token ids: 0 = PAD, 1 = BOS, 2 = EOS, 3.. = the symbols 0..num_symbols-1, then '+' for addition.
A target is BOS, the answer, EOS; ``decode`` writes ids as text.
"""
from __future__ import annotations

import numpy as np

PAD, BOS, EOS, OFFSET = 0, 1, 2, 3
TASKS = ("copy", "reverse", "sort", "addition")
SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"  # how symbol s is written: digits, then letters


def vocab_size(num_symbols: int = 10) -> int:
    return OFFSET + num_symbols + 1  # + the '+' sign


def generate_task(task: str, num_samples: int, length: int = 6, num_symbols: int = 10, seed: int = 0):
    """(src, tgt) int64 arrays: src (n, length) — for addition two ``length``-digit numbers joined by '+'
    (base ``num_symbols``) — and tgt (n, answer + 2) framed by BOS and EOS."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    if num_samples <= 0 or length <= 0 or num_symbols < 2:
        raise ValueError(f"generate_task: need num_samples > 0, length > 0, num_symbols >= 2; got "
                         f"{num_samples}, {length}, {num_symbols}")
    rng = np.random.default_rng(seed)
    x = rng.integers(0, num_symbols, (num_samples, length))
    if task == "copy":
        src, ans = x, x
    elif task == "reverse":
        src, ans = x, x[:, ::-1]
    elif task == "sort":
        src, ans = x, np.sort(x, axis=1)
    else:
        y = rng.integers(0, num_symbols, (num_samples, length))
        place = num_symbols ** np.arange(length - 1, -1, -1)
        total = (x * place).sum(1) + (y * place).sum(1)
        ans = (total[:, None] // (num_symbols ** np.arange(length, -1, -1))) % num_symbols
        src = np.concatenate([x, np.full((num_samples, 1), num_symbols), y], axis=1)
    n = num_samples
    tgt = np.concatenate([np.full((n, 1), BOS), ans + OFFSET, np.full((n, 1), EOS)], axis=1)
    return (src + OFFSET).astype(np.int64), tgt.astype(np.int64)


def decode(ids, num_symbols: int = 10) -> str:
    """The text of token ids: each symbol as one character (0-9, then a-z), '+' and the named specials
    <pad>, <bos>, <eos>; ``decode([1, 3, 12, 2]) == "<bos>09<eos>"``. An id outside the vocabulary
    shows as ``<id 17>``, never as a bare number."""
    names = {PAD: "<pad>", BOS: "<bos>", EOS: "<eos>", OFFSET + num_symbols: "+"}
    out = []
    for i in np.asarray(ids).reshape(-1).tolist():
        s = i - OFFSET
        out.append(names[i] if i in names else SYMBOLS[s] if 0 <= s < min(num_symbols, len(SYMBOLS)) else f"<id {i}>")
    return "".join(out)
