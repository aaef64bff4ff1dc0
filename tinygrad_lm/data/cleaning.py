"""D0.T5 training-data cleaning: drop malformed or suspicious samples before training.

Four checks, each a boolean mask over the rows (True = drop), and ``clean`` that runs them in order:

1. non-finite features: any NaN or +-inf in the row;
2. bad labels: a label that is not a whole number in [0, num_classes) (NaN, 2.5, -1, 10 for 10 classes);
3. exact duplicates: a row whose features and label equal an earlier row's (the first is kept);
4. label-noise suspects (optional): split the data into k folds; a model trained on the other folds
   gives each held-out sample the probability p(y_i | x_i) of its own label; samples with
   p(y_i | x_i) < threshold that the model assigns to another class are suspects (a small
   form of "confident learning", Northcutt et al. 2021). The default model is softmax regression
   trained with this framework; pass ``fit_predict_proba(x_train, y_train, x_test) -> (n_test, C)``
   to use another.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _features(x):
    x = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    return x.reshape(len(x), int(np.prod(x.shape[1:])))  # not -1: that cannot be inferred with no rows


def non_finite_rows(x) -> np.ndarray:
    """Rows with any NaN or infinite feature."""
    return ~np.isfinite(_features(x).astype(np.float64)).all(axis=1)


def bad_label_rows(y, num_classes: int) -> np.ndarray:
    """Labels that are not whole numbers in [0, num_classes)."""
    y = np.asarray(y.numpy() if hasattr(y, "numpy") else y).astype(np.float64).reshape(-1)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(y) & (np.floor(y) == y)
        return ~(whole & (y >= 0) & (y < num_classes))


def duplicate_rows(x, y) -> np.ndarray:
    """Rows whose features and label repeat an earlier row exactly (the first copy is kept)."""
    rows = np.concatenate([_features(x).astype(np.float64), np.asarray(y, dtype=np.float64).reshape(-1, 1)], axis=1)
    rows = np.ascontiguousarray(np.where(rows == 0, 0.0, rows))  # -0.0 and 0.0 are the same value
    _, first = np.unique(rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel(),
                         return_index=True)
    dup = np.ones(len(rows), dtype=bool)
    dup[first] = False
    return dup


def softmax_regression_proba(x_train, y_train, x_test, num_classes: int, steps: int = 100, lr: float = 0.02,
                             seed: int = 0) -> np.ndarray:
    """Class probabilities of ``x_test`` from a softmax regression fitted on standardized features
    (full-batch Adam): the default held-out model of :func:`label_noise_rows`."""
    from .. import manual_seed, nn, no_grad, ops, optim
    from ..tensor import Tensor
    from .preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train.astype(np.float32))
    xt, xs = Tensor(scaler.transform(x_train.astype(np.float32))), Tensor(scaler.transform(x_test.astype(np.float32)))
    yt = Tensor(y_train.astype(np.int64))
    manual_seed(seed)
    model = nn.Linear(xt.shape[1], num_classes)
    opt = optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = ops.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with no_grad():
        return ops.softmax(model(xs), dim=-1).numpy()


def label_noise_rows(x, y, num_classes: int, folds: int = 3, threshold: float = 0.1, fit_predict_proba=None,
                     seed: int = 0) -> np.ndarray:
    """Samples whose own label gets held-out probability < ``threshold`` and is not the model's pick."""
    if folds < 2:
        raise ValueError(f"label_noise_rows: folds must be >= 2, got {folds}")
    if not 0 < threshold < 1:
        raise ValueError(f"label_noise_rows: threshold must be in (0, 1), got {threshold}")
    x, y = _features(x), np.asarray(y).reshape(-1).astype(np.int64)
    fit_predict_proba = fit_predict_proba or (lambda a, b, c: softmax_regression_proba(a, b, c, num_classes,
                                                                                    seed=seed))
    fold = np.random.default_rng(seed).permutation(len(y)) % folds
    p_own, pick = np.empty(len(y)), np.empty(len(y), dtype=np.int64)
    for k in range(folds):
        held = fold == k
        proba = np.asarray(fit_predict_proba(x[~held], y[~held], x[held]))
        p_own[held] = proba[np.arange(held.sum()), y[held]]
        pick[held] = proba.argmax(1)
    return (p_own < threshold) & (pick != y)


@dataclass
class CleaningReport:
    """How many rows each check dropped (a row is counted under the first check that drops it)."""

    total: int
    non_finite: int = 0
    bad_label: int = 0
    duplicate: int = 0
    label_noise: int = 0
    dropped: dict = field(default_factory=dict)  # reason -> original row indices

    @property
    def kept(self) -> int:
        return self.total - self.non_finite - self.bad_label - self.duplicate - self.label_noise

    def __str__(self) -> str:
        return (f"kept {self.kept} of {self.total} rows; dropped {self.non_finite} non-finite, {self.bad_label} "
                f"bad labels, {self.duplicate} duplicates, {self.label_noise} label-noise suspects")


def clean(x, y, num_classes: int, drop_duplicates: bool = True, label_noise: bool = False, **noise_options):
    """Run the checks in order and return (x, y, report) with the dropped rows removed; y comes back
    as int64. ``label_noise=True`` adds check 4 (options go to :func:`label_noise_rows`)."""
    x_arr = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    y_arr = np.asarray(y.numpy() if hasattr(y, "numpy") else y).reshape(-1)
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"clean: num_classes must be a positive int, got {num_classes!r}")
    if x_arr.ndim == 0:
        raise ValueError("clean: x must hold one row per sample, got a scalar")
    if len(x_arr) != len(y_arr):
        raise ValueError(f"clean: x has {len(x_arr)} rows of shape {x_arr.shape[1:]} but y has {len(y_arr)} labels")
    report = CleaningReport(total=len(y_arr))
    keep = np.arange(len(y_arr))
    checks = [("non_finite", lambda a, b: non_finite_rows(a)),
              ("bad_label", lambda a, b: bad_label_rows(b, num_classes))]
    if drop_duplicates:
        checks.append(("duplicate", duplicate_rows))
    if label_noise:
        checks.append(("label_noise", lambda a, b: label_noise_rows(a, b, num_classes, **noise_options)))
    for reason, check in checks:
        drop = check(x_arr[keep], y_arr[keep])
        setattr(report, reason, int(drop.sum()))
        report.dropped[reason] = keep[drop]
        keep = keep[~drop]
    return x_arr[keep], y_arr[keep].astype(np.int64), report
