"""``tinygrad-lm train mlp``: the digits MLP (``models.mlp.MLP``) on scikit-learn's handwritten digits,
standardised with the training split's statistics (D1.F6), Adam, cross-entropy, on the training loop
(``train.loop.Trainer``): a checkpoint after every epoch, a loss curve and the test accuracy."""
from __future__ import annotations

import os

from .. import data, manual_seed, ops, optim
from ..models.mlp import MLP
from ..tensor import Tensor
from ..train.loop import Trainer
from ..train.metrics import evaluate
from ..train.run_dir import Run, add_run_arguments


def classify(model, batch):
    """The training loss of a batch (x, labels): cross-entropy of the logits."""
    return ops.cross_entropy(model(batch[0]), batch[1])


def train_epoch(model, optimizer, loader):
    """One pass over ``loader`` (its next epoch) through the training loop; returns the mean training loss."""
    trainer = Trainer(model, optimizer, classify, progress=False)
    return trainer.fit(loader, epochs=loader.epoch + 1, initial_epoch=loader.epoch)["loss"][-1]


def digits_setup(batch_size=32, seed=0, hidden=128, lr=1e-3):
    """Data (standardized with the training split's statistics, D1.F6), model, Adam and a seeded
    loader for the digits task. Everything comes from ``seed``, so two calls give the same run."""
    split = data.datasets.digits(seed=seed)
    scaler = data.StandardScaler().fit(split.x_train)
    x_train, x_test = Tensor(scaler.transform(split.x_train)), Tensor(scaler.transform(split.x_test))
    y_train, y_test = Tensor(split.y_train), Tensor(split.y_test)
    manual_seed(seed)
    model = MLP(64, (hidden,), 10)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loader = data.DataLoader(data.TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True, seed=seed)
    return model, optimizer, loader, (x_train, y_train, x_test, y_test)


# ---------------------------------------------------------------- the command line
def add_arguments(parser, command, model):
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training split (default 30)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, the init and the shuffling")
    parser.add_argument("--out", default="runs/mlp", help="folder for the checkpoint and the loss curve")
    add_run_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def train(args):
    """``tinygrad-lm train mlp``: digits, a checkpoint after every epoch, a loss curve, test accuracy."""
    if args.epochs < 1 or args.batch_size < 1 or args.lr <= 0:
        raise SystemExit("tinygrad-lm train mlp: --epochs and --batch-size must be >= 1 and --lr > 0")
    run = Run(args, os.path.join(args.out, "checkpoint.npz"), fixed=("hidden", "seed"))
    model, optimizer, loader, (x_train, y_train, x_test, y_test) = digits_setup(
        args.batch_size, args.seed, args.hidden, args.lr)

    def evaluate_both():  # the whole training split, then the test split
        (loss, acc), (val_loss, val_acc) = evaluate(model, x_train, y_train), evaluate(model, x_test, y_test)
        return {"loss": loss, "accuracy": acc, "val_loss": val_loss, "val_accuracy": val_acc}
    curves = os.path.join(args.out, "loss.png")
    history = Trainer(model, optimizer, classify, run=run, curves=curves, desc="mlp", progress=not args.no_progress,
                      title="MLP on digits (validation = test split)").fit(loader, args.epochs, evaluate=evaluate_both)
    result = {"test_accuracy": history["val_accuracy"][-1], "test_loss": history["val_loss"][-1]}
    run.write_result(result)
    print(f"test accuracy {result['test_accuracy']:.4f}  test loss {result['test_loss']:.4f}  "
          f"(checkpoint {run.path}, curve {curves})")
    return result
