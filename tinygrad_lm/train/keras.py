"""Keras-style training on a tinygrad_lm module: ``compile(optimizer, loss, metrics)``, ``fit`` returning
a ``History``, ``evaluate`` and ``predict`` (as D1.M1 uses them).

    model = KerasModel(my_module)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2)   # on train.loop.Trainer
    model.predict(x_new)                      # NumPy array of the module's outputs

Keras's defaults: 'adam' is Adam(lr=1e-3, eps=1e-7), 'sgd' is SGD(lr=0.01); ``validation_split`` takes
the *last* fraction of the samples (before any shuffling); the epoch's loss is the mean over its samples;
'accuracy' means binary accuracy (threshold 0.5) for binary cross-entropy and argmax accuracy for the
categorical losses.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from .. import ops, optim
from ..autograd import no_grad
from ..data.dataset import DataLoader, TensorDataset
from ..tensor import Tensor
from .loop import Callback, Trainer

LOSSES = ("binary_crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy", "mse",
          "mean_squared_error")


def _loss_fn(name):
    def binary(p, y):
        return ops.binary_cross_entropy(p, ops.reshape(y, p.shape).to(dtype=p.dtype))

    def sparse(logits_or_p, y):  # Keras's default is probabilities in; ours takes logits (from_logits=True)
        return ops.cross_entropy(logits_or_p, y.long())

    def categorical(logits, y):
        return ops.cross_entropy(logits, y.to(dtype=logits.dtype))

    def mse(p, y):
        return ops.mse_loss(p, ops.reshape(y, p.shape).to(dtype=p.dtype))

    return {"binary_crossentropy": binary, "sparse_categorical_crossentropy": sparse,
            "categorical_crossentropy": categorical, "mse": mse, "mean_squared_error": mse}[name]


def _accuracy(loss_name):
    def acc(out, y):
        if loss_name == "binary_crossentropy" or (out.ndim == 2 and out.shape[1] == 1) or out.ndim == 1:
            return (out.reshape(-1) > 0.5) == (y.reshape(-1) > 0.5)
        pred = out.argmax(axis=-1)
        return pred == (y.argmax(axis=-1) if y.ndim == out.ndim else y)
    return acc


class History:
    """What ``fit`` returns: ``history`` {'loss': [...], 'accuracy': [...], 'val_loss': [...], ...} and ``epoch``."""

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def plot(self, path=None, title=""):
        from .history import plot_history

        return plot_history(self.history, path, title)


class _Progress(Callback):
    """Keras's display on stderr: 'Epoch i/N', then a one-line bar per epoch (verbose=1) or a summary line
    (verbose=2)."""

    def __init__(self, epochs, total, verbose, width=28):
        self.epochs, self.total, self.verbose, self.width = epochs, total, verbose, width

    def on_epoch_begin(self, trainer):
        if self.verbose:
            sys.stderr.write(f"Epoch {trainer.epoch + 1}/{self.epochs}\n")
        self.done, self.start = 0, time.perf_counter()

    def on_step_end(self, trainer, logs):
        self.done += 1
        if self.verbose != 1:
            return
        filled = int(self.width * self.done / self.total)
        bar = "=" * max(filled - 1, 0) + (">" if self.done < self.total else "=") + "." * (self.width - filled)
        sys.stderr.write(f"\r{self.done}/{self.total} [{bar}] - {_fmt(logs)}")
        sys.stderr.flush()

    def on_epoch_end(self, trainer, logs):
        if self.verbose == 0:
            return
        took = time.perf_counter() - self.start
        if self.verbose == 1:
            filled = "=" * self.width
            sys.stderr.write(f"\r{self.total}/{self.total} [{filled}] - {took:.1f}s - {_fmt(logs)}\n")
        else:
            sys.stderr.write(f"{self.total}/{self.total} - {took:.1f}s - {_fmt(logs)}\n")
        sys.stderr.flush()


def _fmt(logs):
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class KerasModel:
    """Wrap a tinygrad_lm ``Module`` with Keras's compile / fit / evaluate / predict."""

    def __init__(self, module):
        self.module = module
        self.optimizer = self.loss = None
        self.metrics: list[str] = []

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def compile(self, optimizer="adam", loss="binary_crossentropy", metrics=None):
        params = list(self.module.parameters())
        if isinstance(optimizer, str):
            makers = {"adam": lambda: optim.Adam(params, lr=1e-3, eps=1e-7),
                      "adamw": lambda: optim.AdamW(params, lr=1e-3, eps=1e-7),
                      "sgd": lambda: optim.SGD(params, lr=0.01)}
            if optimizer.lower() not in makers:
                raise ValueError(f"compile: unknown optimizer {optimizer!r}; use one of {sorted(makers)} "
                                 "or pass an optimizer object")
            optimizer = makers[optimizer.lower()]()
        elif not isinstance(optimizer, optim.Optimizer):
            optimizer = optimizer(params)  # a class or factory taking the parameters
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise ValueError(f"compile: unknown loss {loss!r}; use one of {LOSSES} or a callable")
            self.loss_name, loss = loss, _loss_fn(loss)
        else:
            self.loss_name = getattr(loss, "__name__", "loss")
        metrics = list(metrics or [])
        for m in metrics:
            if m not in ("accuracy", "acc"):
                raise ValueError(f"compile: unknown metric {m!r}; 'accuracy' is supported")
        self.optimizer, self.loss, self.metrics = optimizer, loss, ["accuracy" for _ in metrics]
        return self

    def _check_compiled(self):
        if self.optimizer is None:
            raise RuntimeError("call compile(optimizer, loss, metrics) before fit/evaluate")

    def _step_loss(self, module, batch):
        """The training loop's loss of a batch, with its accuracy when compiled with metrics."""
        xb, yb = batch
        out = module(xb)
        loss = self.loss(out, yb)
        return (loss, {"accuracy": self._correct(out, yb) / len(xb)}) if self.metrics else loss

    def _trainer(self, callbacks=(), **options):
        return Trainer(self.module, self.optimizer, self._step_loss, callbacks=callbacks,
                       **{"progress": False, **options})

    def train_step(self, xb, yb):
        """One optimizer step on a batch (the training loop's step); returns (loss, correct predictions or None)."""
        loss, metrics = self._trainer().train_step((xb, yb))
        return loss, (metrics["accuracy"] * len(xb) if self.metrics else None)

    def _correct(self, out, yb):
        return float(_accuracy(self.loss_name)(out.numpy(), yb.numpy()).sum())

    def fit(self, x, y, epochs=1, batch_size=32, validation_data=None, validation_split=0.0, shuffle=True,
            verbose=1, initial_epoch=0, callbacks=(), **trainer_options):
        """Train on (x, y) on the training loop (``train.loop.Trainer``); ``callbacks`` are its callbacks
        (``train.EarlyStopping(monitor='val_loss')``...), ``trainer_options`` its other options (a run folder,
        curves, a progress bar: what the CLI adds). Returns a ``History``."""
        self._check_compiled()
        x, y = np.asarray(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"fit: x has {len(x)} samples but y has {len(y)} (shapes {x.shape} and {y.shape})")
        if not 0 <= validation_split < 1:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if validation_data is None and validation_split:
            cut = int(len(x) * (1 - validation_split))
            x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)

        def validate():
            values = self.evaluate(*validation_data, batch_size=batch_size, verbose=0)
            # no val_accuracy without metrics: evaluate gives the loss alone
            return dict(zip(["val_loss", "val_accuracy"], values if isinstance(values, list) else [values],
                            strict=False))
        trainer = self._trainer([_Progress(epochs, len(loader), verbose), *callbacks], **trainer_options)
        rows = trainer.fit(loader, epochs, evaluate=None if validation_data is None else validate,
                           initial_epoch=initial_epoch)
        history = History()
        for epoch in range(initial_epoch, trainer.epoch):
            history.append(epoch, {k: v[epoch - initial_epoch] for k, v in rows.items()})
        return history

    def evaluate(self, x, y, batch_size=32, verbose=0):
        """The mean loss (and accuracy) over (x, y): a float, or [loss, accuracy] with metrics."""
        self._check_compiled()
        self.module.eval()
        total = correct = 0.0
        loader = DataLoader(TensorDataset(np.asarray(x), np.asarray(y)), batch_size=batch_size)
        with no_grad():
            for xb, yb in loader:
                out = self.module(xb)
                total += float(self.loss(out, yb).item()) * len(xb)
                if self.metrics:
                    correct += self._correct(out, yb)
        n = len(x)
        result = [total / n] + ([correct / n] if self.metrics else [])
        if verbose:
            # result is [loss] alone without metrics
            sys.stderr.write(_fmt(dict(zip(["loss", "accuracy"], result, strict=False))) + "\n")
        return result if self.metrics else result[0]

    def predict(self, x, batch_size=32):
        """The module's outputs on x (eval mode, no graph), as one NumPy array."""
        self.module.eval()
        x = np.asarray(x)
        outs = []
        with no_grad():
            for start in range(0, len(x), batch_size):
                outs.append(self.module(Tensor(x[start:start + batch_size])).numpy())
        return np.concatenate(outs) if outs else np.zeros((0,))
