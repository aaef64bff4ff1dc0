"""A generated translation-like task (GENERATED data, not a real language pair) for D1.T3.

The invented source language has words ``s3 .. s{V-1}``; its "translation" maps every word through
a fixed random dictionary onto target words ``t3 .. t{V-1}`` and writes the sentence in reverse
order, so the right alignment is an anti-diagonal that attention has to find. Sentences have
variable lengths; ids 0, 1, 2 are <pad>, <bos>, <eos> in both vocabularies.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")


@dataclass
class TranslationBatch:
    """src (N, S) padded source ids, src_lengths (N,), tgt_in = <bos> y (N, T) and
    tgt_out = y <eos> (N, T), both padded with <pad>."""

    src: np.ndarray
    src_lengths: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray

    def __len__(self):
        return len(self.src)

    def __getitem__(self, idx):
        return TranslationBatch(self.src[idx], self.src_lengths[idx], self.tgt_in[idx], self.tgt_out[idx])


class ReverseDictionaryTask:
    """The generated language pair: ``translate(words) = [dictionary[w] for w in reversed(words)]``."""

    def __init__(self, vocab_size: int = 20, min_len: int = 3, max_len: int = 8, seed: int = 0):
        if vocab_size <= len(SPECIALS) + 1 or not 1 <= min_len <= max_len:
            raise ValueError(f"ReverseDictionaryTask: need vocab_size > 4 and 1 <= min_len <= max_len, got "
                             f"vocab_size={vocab_size}, min_len={min_len}, max_len={max_len}")
        self.vocab_size, self.min_len, self.max_len = vocab_size, min_len, max_len
        rng = np.random.default_rng(seed)
        words = np.arange(len(SPECIALS), vocab_size)
        self.dictionary = dict(zip(words.tolist(), rng.permutation(words).tolist(), strict=True))
        self.src_vocab = list(SPECIALS) + [f"s{i}" for i in words]
        self.tgt_vocab = list(SPECIALS) + [f"t{i}" for i in words]

    def translate(self, words):
        return [self.dictionary[w] for w in reversed(list(words))]

    def sample(self, n: int, seed: int = 0) -> TranslationBatch:
        """``n`` sentence pairs drawn with ``seed``."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"ReverseDictionaryTask.sample: n must be a positive int, got {n!r}")
        rng = np.random.default_rng(seed)
        S, T = self.max_len, self.max_len + 1
        src = np.full((n, S), PAD, np.int64)
        tgt_in = np.full((n, T), PAD, np.int64)
        tgt_out = np.full((n, T), PAD, np.int64)
        lengths = rng.integers(self.min_len, self.max_len + 1, n)
        for i, L in enumerate(lengths):
            words = rng.integers(len(SPECIALS), self.vocab_size, L)
            y = self.translate(words)
            src[i, :L] = words
            tgt_in[i, :L + 1] = [BOS, *y]
            tgt_out[i, :L + 1] = [*y, EOS]
        return TranslationBatch(src, lengths.astype(np.int64), tgt_in, tgt_out)

    def decode(self, ids, vocab=None):
        """Words of ``ids`` up to the first <eos> (target vocabulary unless told)."""
        vocab = self.tgt_vocab if vocab is None else vocab
        out = []
        for i in np.asarray(ids).tolist():
            if i == EOS:
                break
            if i != PAD:
                out.append(vocab[i])
        return out

    def describe(self, src, out, reference=None) -> str:
        """One line of text for a source sentence and its decoded translation (ids up to <eos>), and the
        reference translation when given: ``"s5 s9 -> t4 t8  (reference: t4 t8)"``."""
        line = f"{' '.join(self.decode(src, self.src_vocab))} -> {' '.join(self.decode(out))}"
        return line if reference is None else f"{line}  (reference: {' '.join(self.decode(reference))})"
