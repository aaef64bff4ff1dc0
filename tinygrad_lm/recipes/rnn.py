"""``tinygrad-lm train rnn-classifier``: D3.M2 (``models.rnn.RNNClassifier``) on the digit-mean task, SGD
(the document's lr 0.01) on the training loop (``train.loop.Trainer``), the test accuracy, a checkpoint
and the curves (validation: the test sequences).

The task: ten digits 0-9, one-hot (so input 10). The label of step t is 1 when the mean of the digits so
far is at least 4.5; the many-to-one label is that of the last step (is the digit sum >= 45?). An RNN
must keep a running sum to solve it.
"""
from __future__ import annotations


import numpy as np

from .. import manual_seed, optim
from ..autograd import no_grad
from ..data import DataLoader, TensorDataset
from ..models.rnn import RNNClassifier
from ..tensor import Tensor
from ..train.loop import Trainer
from ..train.cli_options import add_common_arguments, count
from ..train.run_dir import Run


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


def fit(model, x, y, epochs, batch_size=32, lr=0.01, momentum=0.0, seed=0, log=True, validation=None,
        **trainer_options):
    """SGD over shuffled batches (the document's optimizer) on the training loop, the training accuracy
    (and with ``validation=(x, y)`` the validation loss and accuracy) after every epoch; returns the history.
    ``trainer_options`` go to the Trainer (run, curves, progress...)."""
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed)
    trainer = Trainer(model, optimizer, lambda model, batch: model.loss(batch[0], batch[1].data)[0], log=bool(log),
                      **{"progress": False, **trainer_options})

    def scores():
        logs = {"accuracy": accuracy(model, x, y)}
        if validation is not None:
            logs["val_loss"] = model.loss(Tensor(validation[0]), validation[1])[0].item()
            logs["val_accuracy"] = accuracy(model, *validation)
        return logs
    return trainer.fit(loader, epochs, evaluate=scores)


def add_arguments(parser, command, model):
    add_common_arguments(parser, model, epochs=30, batch_size=32, lr=0.01, lr_help="SGD learning rate (the document's)")
    parser.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    parser.add_argument("--per-step", action="store_true", help="classify every step (default: the last one)")
    parser.add_argument("--samples", type=count, default=4000, help="training sequences")


def train(args):
    """``tinygrad-lm train rnn-classifier``: the digit-mean task, SGD, test accuracy, checkpoint, curves."""
    run = Run(args, fixed=("per_step", "samples", "seed"))
    manual_seed(args.seed)
    x, y = digit_mean_task(args.samples, seed=args.seed)
    x_test, y_test = digit_mean_task(1000, seed=args.seed + 1)
    model = RNNClassifier(per_step=args.per_step)
    fit(model, x, y, args.epochs, args.batch_size, args.lr, args.momentum, args.seed, validation=(x_test, y_test),
        run=run, meta={"per_step": args.per_step}, curves=run.curves,
        title="D3.M2 RNN classifier (validation = test sequences)", progress=not args.no_progress,
        desc="rnn-classifier", device=args.device)
    acc = accuracy(model, x_test, y_test)
    base = float((y_test if args.per_step else y_test[:, -1]).mean())
    result = {"test_accuracy": acc, "majority_class": max(base, 1 - base)}
    run.write_result(result)
    print(f"test accuracy {acc:.4f}  (majority class {result['majority_class']:.4f})")
    return result
