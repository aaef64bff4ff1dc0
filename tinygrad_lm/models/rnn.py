"""D3.M2: the two-layer RNN classifier, RNN(input 10, hidden 8, 2 layers, batch_first) -> Linear(8 -> 2),
cross-entropy, SGD(lr=0.01); and the D3.F3 cells run over a sequence.

The document applies the linear layer at every step and scores all ten outputs against one label (a
shape error in PyTorch). Here ``per_step=False`` is the many-to-one model (the last step's output is
classified) and ``per_step=True`` the per-step model, which gets one label per step.

Its training on the digit-mean task (``tinygrad-lm train rnn-classifier``) is ``tinygrad_lm.recipes.rnn``.
"""
from __future__ import annotations

from .. import nn, ops
from ..nn.module import Module


class RNNClassifier(Module):
    """RNN(input_size, hidden_size, num_layers, batch_first=True) -> Linear(hidden_size, num_classes), applied to
    the last step (many-to-one) or to every step (``per_step``). forward(x, hidden=None) -> (logits, h_n)."""

    def __init__(self, input_size=10, hidden_size=8, num_layers=2, num_classes=2, per_step=False):
        super().__init__()
        self.hidden_size, self.num_layers, self.per_step = hidden_size, num_layers, per_step
        self.rnn = nn.RNN(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x, hidden=None):
        out, hidden = self.rnn(x, hidden)
        return self.fc(out if self.per_step else out[:, -1]), hidden

    def loss(self, x, y):
        """Cross-entropy against per-step labels y (B, T): all steps, or the last one (many-to-one)."""
        logits, _ = self(x)
        if self.per_step:
            return ops.cross_entropy(ops.reshape(logits, (-1, logits.shape[-1])), y.reshape(-1)), logits
        return ops.cross_entropy(logits, y[:, -1]), logits


def run_cell(cell, xs, h=None):
    """D3.F3 over a sequence: xs (T, B, D) -> outputs y (T, B, D_out) and the states (T, B, H), one step at a time."""
    ys, hs = [], []
    for t in range(xs.shape[0]):
        y, h = cell(xs[t], h)
        ys.append(y)
        hs.append(h)
    return ops.stack(ys), ops.stack(hs)
