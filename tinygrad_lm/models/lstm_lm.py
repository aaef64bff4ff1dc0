"""D0.M1: the LSTM language model (the document calls it "GPT-3").

    Embedding(vocab 10000, 256) -> Dropout(0.5) -> LSTM(256 -> 512, 2 layers, dropout 0.5, batch_first)
    -> Linear(512 -> vocab)

``sample`` draws a continuation (temperature and top-k, or greedy). Its training on CPython's documentation
(Adam, cross-entropy on the inputs shifted by one) is ``tinygrad_lm.recipes.lstm_lm``.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..data.text import detokenize, word_tokenize
from ..nn.module import Module
from ..tensor import Tensor
from .gpt import top_k_filter


class LSTMLanguageModel(Module):
    """forward(tokens (B, T), hidden=None) -> (logits (B, T, vocab), (h, c))."""

    def __init__(self, vocab_size=10000, embedding_dim=256, hidden_size=512, num_layers=2, dropout=0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, dropout=dropout, batch_first=True)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens, hidden=None):
        out, hidden = self.lstm(self.dropout(self.embedding(tokens)), hidden)
        return self.fc(out), hidden


def sample(model, vocab, prompt, length=30, temperature=1.0, top_k=None, seed=0):
    """Continue ``prompt`` by ``length`` words drawn from softmax(logits / temperature), among the ``top_k``
    most likely only if given (``models.gpt.top_k_filter``); ``temperature=0`` takes the most likely word
    every time (greedy, D2.F7). NumPy's generator seeded with ``seed`` draws: a seed gives one text."""
    if not temperature >= 0:
        raise ValueError(f"sample: temperature must be >= 0 (0 is greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"sample: top_k must be >= 1 (or None for every word), got {top_k}")
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    ids = list(vocab.encode(word_tokenize(prompt))) or [0]
    hidden, out = None, []
    with no_grad():
        logits, hidden = model(Tensor(np.array([ids])), hidden)
        for _ in range(length):
            z = logits.numpy()[0, -1].astype(np.float64)
            if temperature == 0:
                nxt = int(z.argmax())
            else:
                z = z / temperature if top_k is None else top_k_filter(z / temperature, top_k)
                p = np.exp(z - z.max())
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, hidden = model(Tensor(np.array([[nxt]])), hidden)
    model.train(was_training)
    return detokenize(word_tokenize(prompt) + vocab.decode(out))
