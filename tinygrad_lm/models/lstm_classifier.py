"""D1.M1: the Keras-style LSTM text classifier, rebuilt on tinygrad_lm.

    Embedding(1000, 16) -> LSTM(32) -> Dense(1, sigmoid)

The dense layer reads the LSTM's last output, which with Keras's 'pre' padding is the last real word.
Its data, compile / fit and training (``tinygrad-lm train lstm-classifier``) are
``tinygrad_lm.recipes.lstm_classifier``.
"""
from __future__ import annotations

from .. import nn, ops
from ..nn.module import Module


class LSTMClassifier(Module):
    """Embedding(vocab, 16) -> LSTM(16 -> 32, batch_first) -> Linear(32 -> 1) -> sigmoid: P(label 1)."""

    def __init__(self, vocab_size=1000, embedding_dim=16, hidden_size=32):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(self.embedding(x))
        return ops.sigmoid(self.fc(h[-1]))
