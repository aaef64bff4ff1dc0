"""``tinygrad-lm train rnn-classifier``: D3.M2 (``models.rnn.RNNClassifier``) on the digit-mean task, SGD
(the document's lr 0.01) on the training loop (``train.loop.Trainer``), the test accuracy, a checkpoint
and the curves.

The task: ten digits 0-9, one-hot (so input 10). The label of step t is 1 when the mean of the digits so
far is at least 4.5; the many-to-one label is that of the last step (is the digit sum >= 45?). An RNN
must keep a running sum to solve it.
"""
from __future__ import annotations

import os

import numpy as np

from .. import manual_seed, optim
from ..autograd import no_grad
from ..data import DataLoader, TensorDataset
from ..models.rnn import RNNClassifier
from ..tensor import Tensor
from ..train.loop import Trainer
from ..train.run_dir import Run, add_run_arguments


def digit_mean_task(n, length=10, seed=0):
    """x (n, length, 10) one-hot digits (float32), per-step labels y (n, length) int64."""
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 10, (n, length))
    x = np.eye(10, dtype=np.float32)[digits]
    running_mean = np.cumsum(digits, axis=1) / np.arange(1, length + 1)
    return x, (running_mean >= 4.5).astype(np.int64)


def accuracy(model, x, y):
    """The share of right labels (every step, or the last one) on arrays x, y."""
    with no_grad():
        logits, _ = model(Tensor(x))
    pred = logits.numpy().argmax(-1)
    return float((pred == (y if model.per_step else y[:, -1])).mean())


def fit(model, x, y, epochs, batch_size=32, lr=0.01, momentum=0.0, seed=0, log=True, **trainer_options):
    """SGD over shuffled batches (the document's optimizer) on the training loop, the training accuracy
    after every epoch; returns the history. ``trainer_options`` go to the Trainer (run, curves...)."""
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed)
    trainer = Trainer(model, optimizer, lambda model, batch: model.loss(batch[0], batch[1].data)[0], log=bool(log),
                      progress=False, **trainer_options)
    return trainer.fit(loader, epochs, evaluate=lambda: {"accuracy": accuracy(model, x, y)})


def add_arguments(parser, command, model):
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
    if args.epochs < 1 or args.batch_size < 1 or args.lr <= 0 or args.samples < 1:
        raise SystemExit("train rnn-classifier: --epochs, --batch-size, --samples >= 1 and --lr > 0")
    run = Run(args, os.path.join(args.out, "checkpoint.npz"))
    manual_seed(args.seed)
    x, y = digit_mean_task(args.samples, seed=args.seed)
    x_test, y_test = digit_mean_task(1000, seed=args.seed + 1)
    model = RNNClassifier(per_step=args.per_step)
    fit(model, x, y, args.epochs, args.batch_size, args.lr, args.momentum, args.seed, run=run,
        meta={"per_step": args.per_step}, curves=os.path.join(args.out, "history.png"), title="D3.M2 RNN classifier")
    acc = accuracy(model, x_test, y_test)
    base = (y_test if args.per_step else y_test[:, -1]).mean()
    print(f"test accuracy {acc:.4f}  (majority class {max(base, 1 - base):.4f})")
    return acc
