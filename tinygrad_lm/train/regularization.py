"""D1.T1 / D2.T4 regularization: L1 and L2 penalties and early stopping (dropout is nn.Dropout).

    L2:  R(w) = (lambda / 2) sum_j w_j^2,   dR/dw = lambda w       (the same step as SGD's weight_decay=lambda)
    L1:  R(w) = lambda sum_j |w_j|,         dR/dw = lambda sign(w)  (pushes weights to exactly 0: sparsity)

Add the penalty to the loss before ``backward()``. Early stopping watches a validation metric and
stops when it has not improved by ``min_delta`` for ``patience`` checks, putting back the weights of
the best check (Keras's EarlyStopping); as a callback of ``train.loop.Trainer`` it checks ``monitor``
in each new row of the history.
"""
from __future__ import annotations

import math

from .. import ops
from .loop import Callback


def _weights(parameters):
    params = list(parameters)
    if not params:
        raise ValueError("penalty: got no parameters")
    return params


def l2_penalty(parameters, weight_decay: float):
    """Composite: (weight_decay / 2) * sum of squares of every parameter."""
    if weight_decay < 0:
        raise ValueError(f"l2_penalty: weight_decay must be >= 0, got {weight_decay}")
    return sum((p * p).sum() for p in _weights(parameters)) * (0.5 * float(weight_decay))


def l1_penalty(parameters, weight: float):
    """Composite: weight * sum of absolute values of every parameter."""
    if weight < 0:
        raise ValueError(f"l1_penalty: weight must be >= 0, got {weight}")
    return sum(ops.abs(p).sum() for p in _weights(parameters)) * float(weight)


class EarlyStopping(Callback):
    """Call ``step(value, model)`` once per epoch with the validation metric; it returns True when
    training should stop. ``mode='min'`` for losses, 'max' for accuracies. With
    ``restore_best_weights`` the model gets the best epoch's weights back when it stops (and on
    ``restore(model)``). A Trainer's callback reads ``monitor`` from each row of the history."""

    def __init__(self, patience: int = 5, min_delta: float = 0.0, mode: str = "min",
                 restore_best_weights: bool = True, monitor: str = "val_loss"):
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode, self.monitor = patience, min_delta, mode, monitor
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch, self.epoch, self.wait = -1, -1, 0
        self.best_state, self.stopped_epoch = None, None

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float, model=None) -> bool:
        self.epoch += 1
        value = float(value)
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, self.epoch, 0
            if model is not None and self.restore_best_weights:
                self.best_state = {k: v.clone() for k, v in model.state_dict().items()}  # a snapshot, not views
            return False
        self.wait += 1
        if self.wait >= self.patience:  # as Keras: stop after `patience` checks without improvement
            self.stopped_epoch = self.epoch
            if model is not None:
                self.restore(model)
            return True
        return False

    def on_epoch_end(self, trainer, logs: dict) -> bool:
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: monitor {self.monitor!r} is not in the history's row {sorted(logs)}")
        return self.step(logs[self.monitor], trainer.model)

    def restore(self, model) -> None:
        if self.restore_best_weights and self.best_state is not None:
            model.load_state_dict(self.best_state)
