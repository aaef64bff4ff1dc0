"""``tinygrad-lm train cnn-mnist`` trains D4.M1 (``models.cnn.MnistCNN``) on scikit-learn's digits resized
to 28x28 (or MNIST with ``--data mnist``); ``tinygrad-lm train cnn-cifar`` trains D3.M1
(``models.cnn.CifarCNN``) on the generated shapes task (or CIFAR-10 with ``--data cifar10``). Both run
on the training loop (``train.loop.Trainer``): a progress bar, accuracy after every epoch, the curves
and a checkpoint after every epoch (``--resume`` continues from it).
"""
from __future__ import annotations

import argparse

import numpy as np

from .. import manual_seed, optim
from ..autograd import no_grad
from ..data import DataLoader, TensorDataset, transforms, vision
from ..models.cnn import CifarCNN, MnistCNN, cifar_loss, mnist_loss
from ..tensor import Tensor
from ..train.loop import Trainer
from ..train.cli_options import add_common_arguments, count
from ..train.run_dir import Run

# name -> model, loss, data choices, image size, augmentation (D2.T2) and the default training recipe.
# D3.M1 keeps the inventory's SGD(lr 1e-3, momentum 0.9) at a constant rate; at that small rate it needs
# small batches (many steps): batch 64 stays near 25% after 10 epochs on the shapes, batch 8 reaches ~97%.
# D4.M1's inventory SGD(lr 0.01) stays near 97% on digits, short of the 98% the issue asks for; SGD with
# momentum 0.9, weight decay 5e-4, a cosine schedule from lr 0.03 to 0 and random crops reaches >= 99%.
SPECS = {
    "cnn-mnist": dict(model=MnistCNN, loss=mnist_loss, data=("digits", "mnist"), size=28, flip=False, crop_pad=2,
                      lr=0.03, momentum=0.9, weight_decay=5e-4, schedule="cosine", epochs=20, batch_size=32,
                      augment=True),
    "cnn-cifar": dict(model=CifarCNN, loss=cifar_loss, data=("shapes", "cifar10"), size=32, flip=True, crop_pad=4,
                      lr=1e-3, momentum=0.9, weight_decay=0.0, schedule="constant", epochs=10, batch_size=8,
                      augment=False),
}


def load_data(name: str, data: str, root=None, download: bool = False, n_train=None, seed: int = 0):
    """(split normalized with the training images' per-channel mean and std, a description of the data)."""
    if n_train is not None and n_train < 1:  # [:-1] would quietly train on all images but the last
        raise ValueError(f"{name}: the training size (--train-size) must be >= 1, got {n_train}")
    if data == "digits":
        split, what = vision.digits28(seed=seed), "scikit-learn digits resized to 28x28"
    elif data == "mnist":
        split, what = vision.mnist(root or "~/.tinygrad_lm/mnist", download), "MNIST"
    elif data == "shapes":
        split, what = vision.shapes(n_train or 5000, 1000, seed=seed), "GENERATED shapes (not CIFAR-10)"
    elif data == "cifar10":
        split, what = vision.cifar10(root or "~/.tinygrad_lm/cifar10", download), "CIFAR-10"
    else:
        raise ValueError(f"{name}: unknown data {data!r}; choose one of {SPECS[name]['data']}")
    if n_train:
        split = split._replace(x_train=split.x_train[:n_train], y_train=split.y_train[:n_train])
    norm = transforms.Normalize(split.x_train.mean(axis=(0, 2, 3)), split.x_train.std(axis=(0, 2, 3)))
    return split._replace(x_train=norm(split.x_train), x_test=norm(split.x_test)), what


def augmentation(name: str):
    """D2.T2 for this model's images: a random crop of the zero-padded image, and a mirror where that keeps the label."""
    spec = SPECS[name]
    steps = [transforms.RandomCrop(spec["size"], padding=spec["crop_pad"])]
    if spec["flip"]:
        steps.append(transforms.RandomHorizontalFlip())
    return transforms.Compose(steps)


def evaluate(model, loss_fn, x, y, batch_size: int = 500):
    """(mean loss, accuracy, predicted labels) on arrays x, y, in evaluation mode and without a graph."""
    model.eval()
    total, preds = 0.0, []
    with no_grad():
        for i in range(0, len(x), batch_size):
            out = model(Tensor(x[i:i + batch_size]))
            yb = y[i:i + batch_size]
            total += loss_fn(out, Tensor(yb)).item() * len(yb)
            preds.append(out.numpy().argmax(axis=1))
    model.train()
    preds = np.concatenate(preds)
    return total / len(x), float((preds == y).mean()), preds


def step_loss(loss_fn, augment=None):
    """The training loop's loss of a batch (images, labels), augmented first if asked, with its accuracy."""
    def loss(model, batch):
        xb, yb = batch
        out = model(Tensor(augment(xb.numpy())) if augment is not None else xb)
        return loss_fn(out, yb), {"accuracy": float((out.numpy().argmax(axis=1) == yb.numpy()).mean())}
    return loss


def batches(x, y, batch_size):
    """Shuffled batches of (x, y), each epoch in an order drawn from the framework's generator."""
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def train_epoch(model, loss_fn, optimizer, x, y, batch_size, augment=None):
    """One shuffled pass over (x, y) through the training loop; returns (mean training loss, training
    accuracy on the augmented batches)."""
    history = Trainer(model, optimizer, step_loss(loss_fn, augment), progress=False).fit(
        batches(x, y, batch_size), epochs=1)
    return history["loss"][-1], history["accuracy"][-1]


# ---------------------------------------------------------------- the command line
def add_arguments(parser, command, model):
    spec = SPECS[model]
    add_common_arguments(parser, model, epochs=spec["epochs"], batch_size=spec["batch_size"], lr=spec["lr"],
                         lr_help="SGD learning rate (with --schedule cosine, its peak)")
    parser.add_argument("--data", choices=spec["data"], default=spec["data"][0],
                        help=f"training data ({spec['data'][0]} works offline)")
    parser.add_argument("--root", default=None, metavar="DIR",
                        help=f"folder of the {spec['data'][1]} files (default: ~/.tinygrad_lm/{spec['data'][1]})")
    parser.add_argument("--download", action="store_true", help=f"download missing {spec['data'][1]} files")
    parser.add_argument("--momentum", type=float, default=spec["momentum"], help="SGD momentum")
    parser.add_argument("--weight-decay", type=float, default=spec["weight_decay"], help="SGD weight decay (L2)")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default=spec["schedule"],
                        help="constant lr, or CosineAnnealingLR from lr to 0 over all the steps")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=spec["augment"],
                        help="random crops (and flips) of the training images (D2.T2)")
    parser.add_argument("--train-size", type=count, default=None, help="use only this many training images")


def train(args):
    """``tinygrad-lm train cnn-mnist|cnn-cifar``: train, evaluate on the test split after every epoch,
    checkpoint, draw the curves, print and return the test accuracy."""
    name, spec = args.model, SPECS[args.model]
    if not 0 <= args.momentum < 1 or args.weight_decay < 0:
        raise SystemExit(f"tinygrad-lm train {name}: need 0 <= --momentum < 1, --weight-decay >= 0")
    run = Run(args, fixed=("data", "train_size", "seed"))
    split, what = load_data(name, args.data, args.root, args.download, args.train_size)
    manual_seed(args.seed)
    model = spec["model"]()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    loader = batches(split.x_train, split.y_train, args.batch_size)
    scheduler = (optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(loader))
                 if args.schedule == "cosine" else None)

    def test_split():
        loss, acc, _ = evaluate(model, spec["loss"], split.x_test, split.y_test)
        return {"val_loss": loss, "val_accuracy": acc}
    trainer = Trainer(model, optimizer, step_loss(spec["loss"], augmentation(name) if args.augment else None),
                      scheduler=scheduler, run=run, curves=run.curves, title=f"{name} on {what} (validation = test split)",
                      progress=not args.no_progress, desc=f"{name} on {what}", log=True, device=args.device)
    history = trainer.fit(loader, args.epochs, evaluate=test_split)
    result = {"data": what, "test_accuracy": history["val_accuracy"][-1], "test_loss": history["val_loss"][-1]}
    run.write_result(result)
    print(f"{name} on {what}: test accuracy {result['test_accuracy']:.4f}  test loss {result['test_loss']:.4f}  "
          f"(checkpoint {run.path}, curves {run.curves})")
    return result
