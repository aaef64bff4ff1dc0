"""D1.M1: the Keras-style LSTM text classifier, rebuilt on tinygrad_lm.

    Embedding(1000, 16) -> LSTM(32) -> Dense(1, sigmoid)

The dense layer reads the LSTM's last state, which with Keras's 'pre' padding is after the last real word,
but the padding steps before the text still run through the LSTM and move its state. With ``packed=True``
each text is packed (nn.utils.rnn.pack_padded_sequence) to its own words, so the prediction for a text
is the same whatever length it is padded to, on either side.
Its data, compile / fit and training (``tinygrad-lm train lstm-classifier``) are
``tinygrad_lm.recipes.lstm_classifier``.
"""
from __future__ import annotations

from .. import backend, nn, ops
from ..nn.module import Module
from ..tensor import Tensor


def left_align(ids):
    """Keras's padded rows of word indices (0 = padding, on either side) as (ids (B, T'), lengths (B,)):
    each row's words first, in order, T' the longest text. An empty text keeps one padding step (length 1),
    so that it still gets a prediction (a packed sequence cannot be empty)."""
    m = backend.xp(ids)
    real = ids != 0
    lengths = real.sum(axis=1)
    col = m.cumsum(real, axis=1) - 1
    out = m.zeros((ids.shape[0], max(int(lengths.max()), 1)), dtype=ids.dtype)
    out[m.nonzero(real)[0], col[real]] = ids[real]
    return out, m.maximum(lengths, 1)


class LSTMClassifier(Module):
    """Embedding(vocab, 16) -> LSTM(16 -> 32, batch_first) -> Linear(32 -> 1) -> sigmoid: P(label 1).
    ``packed``: run each text over its own words only (index 0 is padding), see the module's docstring."""

    def __init__(self, vocab_size=1000, embedding_dim=16, hidden_size=32, packed=False):
        super().__init__()
        self.packed = packed
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, 1)

    def forward(self, x):
        if self.packed:
            ids, lengths = left_align(x.data if isinstance(x, Tensor) else x)
            x = nn.utils.rnn.pack_padded_sequence(self.embedding(Tensor._wrap(ids)), backend.to_device(lengths, "cpu"),
                                                  batch_first=True, enforce_sorted=False)
        else:
            x = self.embedding(x)
        _, (h, _) = self.lstm(x)
        return ops.sigmoid(self.fc(h[-1]))
