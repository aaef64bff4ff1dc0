"""D3.M2: the two-layer RNN classifier, RNN(input 10, hidden 8, 2 layers, batch_first) -> Linear(8 -> 2),
cross-entropy, SGD(lr=0.01); and the D3.F3 cells run over a sequence.

The document applies the linear layer at every step and scores all ten outputs against one label (a
shape error in PyTorch). Here ``per_step=False`` is the many-to-one model (the last step's output is
classified) and ``per_step=True`` the per-step model, which gets one label per step.

The sequence task: ten digits 0-9, one-hot (so input 10). The label of step t is 1 when the mean of the
digits so far is at least 4.5; the many-to-one label is that of the last step (is the digit sum >= 45?).
An RNN must keep a running sum to solve it.
"""
from __future__ import annotations

import os

import numpy as np

from .. import nn, ops
from ..nn.module import Module


def digit_mean_task(n, length=10, seed=0):
    """x (n, length, 10) one-hot digits (float32), per-step labels y (n, length) int64."""
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 10, (n, length))
    x = np.eye(10, dtype=np.float32)[digits]
    running_mean = np.cumsum(digits, axis=1) / np.arange(1, length + 1)
    return x, (running_mean >= 4.5).astype(np.int64)


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


def accuracy(model, x, y):
    from ..autograd import no_grad
    from ..tensor import Tensor

    with no_grad():
        logits, _ = model(Tensor(x))
    pred = logits.numpy().argmax(-1)
    return float((pred == (y if model.per_step else y[:, -1])).mean())


def run_cell(cell, xs, h=None):
    """D3.F3 over a sequence: xs (T, B, D) -> outputs y (T, B, D_out) and the states (T, B, H), one step at a time."""
    ys, hs = [], []
    for t in range(xs.shape[0]):
        y, h = cell(xs[t], h)
        ys.append(y)
        hs.append(h)
    return ops.stack(ys), ops.stack(hs)


def fit(model, x, y, epochs, batch_size=32, lr=0.01, momentum=0.0, seed=0, log=print):
    """SGD over shuffled batches (the document's optimizer); returns the per-epoch history."""
    from .. import optim
    from ..data.dataset import DataLoader, TensorDataset

    opt = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed)
    history = {"loss": [], "accuracy": []}
    for epoch in range(epochs):
        total, n = 0.0, 0
        for xb, yb in loader:
            opt.zero_grad()
            loss, _ = model.loss(xb, yb.data)
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(xb), n + len(xb)
        history["loss"].append(total / n)
        history["accuracy"].append(accuracy(model, x, y))
        if log:
            log(f"epoch {epoch + 1}/{epochs}  loss {history['loss'][-1]:.4f}  accuracy {history['accuracy'][-1]:.4f}")
    return history


def add_arguments(parser, command, model):
    from ..train.run_dir import add_run_arguments

    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (the document's 0.01)")
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--per-step", action="store_true", help="classify every step (default: the last one)")
    parser.add_argument("--samples", type=int, default=4000, help="training sequences")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/rnn-classifier")
    add_run_arguments(parser, resume=False)


def train(args):
    """``tinygrad-lm train rnn-classifier``: the digit-mean task, SGD, test accuracy, checkpoint."""
    import tinygrad_lm as tg

    from ..train import plot_history
    from ..train.run_dir import Run

    if args.epochs < 1 or args.batch_size < 1 or args.lr <= 0 or args.samples < 1:
        raise SystemExit("train rnn-classifier: --epochs, --batch-size, --samples >= 1 and --lr > 0")
    run = Run(args, os.path.join(args.out, "checkpoint.npz"))
    tg.manual_seed(args.seed)
    x, y = digit_mean_task(args.samples, seed=args.seed)
    x_test, y_test = digit_mean_task(1000, seed=args.seed + 1)
    model = RNNClassifier(per_step=args.per_step)
    history = fit(model, x, y, args.epochs, args.batch_size, args.lr, args.momentum, args.seed)
    acc = accuracy(model, x_test, y_test)
    base = (y_test if args.per_step else y_test[:, -1]).mean()
    print(f"test accuracy {acc:.4f}  (majority class {max(base, 1 - base):.4f})")
    run.save(model, per_step=args.per_step, history=history)
    plot_history(history, os.path.join(args.out, "history.png"), "D3.M2 RNN classifier")
    return acc

