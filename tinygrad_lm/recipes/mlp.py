"""``tinygrad-lm train mlp``: the digits MLP (``models.mlp.MLP``) on scikit-learn's handwritten digits,
standardised with the training split's statistics (D1.F6), Adam, cross-entropy, on the training loop
(``train.loop.Trainer``): a checkpoint after every epoch, the curves and the test accuracy."""
from __future__ import annotations


from .. import data, manual_seed, ops, optim
from ..models.mlp import MLP
from ..tensor import Tensor
from ..train.loop import Trainer
from ..train.metrics import evaluate
from ..train.cli_options import add_common_arguments, count
from ..train.run_dir import Run


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
    add_common_arguments(parser, model, epochs=30, batch_size=32, lr=1e-3, lr_help="Adam's learning rate")
    parser.add_argument("--hidden", type=count, default=128, help="hidden units")


def train(args):
    """``tinygrad-lm train mlp``: digits, a checkpoint after every epoch, the curves, test accuracy."""
    run = Run(args, fixed=("hidden", "seed"))
    model, optimizer, loader, (x_train, y_train, x_test, y_test) = digits_setup(
        args.batch_size, args.seed, args.hidden, args.lr)

    def evaluate_both():  # the whole training split, then the test split
        (loss, acc), (val_loss, val_acc) = evaluate(model, x_train, y_train), evaluate(model, x_test, y_test)
        return {"loss": loss, "accuracy": acc, "val_loss": val_loss, "val_accuracy": val_acc}
    history = Trainer(model, optimizer, classify, run=run, curves=run.curves, desc="mlp", device=args.device,
                      progress=not args.no_progress, title="MLP on digits (validation = test split)").fit(
        loader, args.epochs, evaluate=evaluate_both)
    result = {"test_accuracy": history["val_accuracy"][-1], "test_loss": history["val_loss"][-1]}
    run.write_result(result)
    print(f"test accuracy {result['test_accuracy']:.4f}  test loss {result['test_loss']:.4f}  "
          f"(checkpoint {run.path}, curves {run.curves})")
    return result
