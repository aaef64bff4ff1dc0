"""D3.T1 evaluation metrics with scikit-learn's names and conventions.

For class k, counted over all samples (C is the confusion matrix, rows true, columns predicted):

    TP_k = C_kk,   FP_k = sum_i C_ik - C_kk,   FN_k = sum_j C_kj - C_kk
    precision_k = TP_k / (TP_k + FP_k),   recall_k = TP_k / (TP_k + FN_k),
    F1_k = 2 precision_k recall_k / (precision_k + recall_k)

``average``: None gives the per-class values; 'macro' their plain mean; 'weighted' their mean
weighted by support (TP_k + FN_k); 'micro' pools TP, FP, FN over classes first (for single-label
classification micro precision = micro recall = micro F1 = accuracy). A 0/0 is ``zero_division``
(0.0 by default), as scikit-learn. Inputs are arrays, lists or tensors of class indices.

``evaluate(model, x, y)`` runs a classifier on tensors: its mean cross-entropy and accuracy.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..autograd import no_grad
from ..tensor import Tensor

AVERAGES = (None, "micro", "macro", "weighted")


def _labels_of(y):
    y = y.numpy() if isinstance(y, Tensor) else np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"metrics take 1-D arrays of class labels, got shape {y.shape}")
    return y


def _pair(y_true, y_pred):
    y_true, y_pred = _labels_of(y_true), _labels_of(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    return y_true, y_pred


def accuracy_score(y_true, y_pred) -> float:
    """Fraction of predictions equal to the true label."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float((y_true == y_pred).mean())


def confusion_matrix(y_true, y_pred, labels=None) -> np.ndarray:
    """C[i, j] = number of samples of true class labels[i] predicted as labels[j] (int64).
    ``labels`` defaults to the sorted union of the labels seen in y_true and y_pred."""
    y_true, y_pred = _pair(y_true, y_pred)
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    ranked = labels[order]

    def position(y):  # index of each y in ``labels``, and whether it is there at all
        pos = np.clip(np.searchsorted(ranked, y), 0, len(ranked) - 1)
        return order[pos], ranked[pos] == y

    t, t_ok = position(y_true)
    p, p_ok = position(y_pred)
    keep = t_ok & p_ok
    t, p = t[keep], p[keep]
    C = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(C, (t, p), 1)
    return C


def _divide(num, den, zero_division):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    safe = np.where(den == 0, 1.0, den)
    return np.where(den == 0, float(zero_division), num / safe)


def precision_recall_fscore_support(y_true, y_pred, labels=None, average=None, beta: float = 1.0,
                                    zero_division: float = 0.0):
    """(precision, recall, F-beta, support) per class, or averaged (support None) as scikit-learn."""
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    y_true, y_pred = _pair(y_true, y_pred)
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    is_true, is_pred = labels[:, None] == y_true[None, :], labels[:, None] == y_pred[None, :]
    # per class: TP, predicted count (TP + FP) and support (TP + FN), counted over every sample
    tp, pred, support = (is_true & is_pred).sum(axis=1), is_pred.sum(axis=1), is_true.sum(axis=1)
    if average == "micro":
        tp, pred, support_used = tp.sum(keepdims=True), pred.sum(keepdims=True), support.sum(keepdims=True)
    else:
        support_used = support
    precision = _divide(tp, pred, zero_division)
    recall = _divide(tp, support_used, zero_division)
    b2 = beta * beta
    # F = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP), scikit-learn's form (0/0 -> zero_division)
    f = _divide((1 + b2) * tp, b2 * support_used + pred, zero_division)
    if average is None:
        return precision, recall, f, support
    if average == "weighted":
        w = support / support.sum() if support.sum() > 0 else np.zeros_like(support, dtype=np.float64)
        return float((precision * w).sum()), float((recall * w).sum()), float((f * w).sum()), None
    return float(precision.mean()), float(recall.mean()), float(f.mean()), None


def precision_score(y_true, y_pred, labels=None, average="macro", zero_division: float = 0.0):
    return precision_recall_fscore_support(y_true, y_pred, labels, average, zero_division=zero_division)[0]


def recall_score(y_true, y_pred, labels=None, average="macro", zero_division: float = 0.0):
    return precision_recall_fscore_support(y_true, y_pred, labels, average, zero_division=zero_division)[1]


def f1_score(y_true, y_pred, labels=None, average="macro", zero_division: float = 0.0):
    return precision_recall_fscore_support(y_true, y_pred, labels, average, zero_division=zero_division)[2]


def classification_report(y_true, y_pred, labels=None, digits: int = 3) -> str:
    """A small text table: per-class precision, recall, F1, support, then the three averages."""
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels)
    names = np.unique(np.concatenate([_labels_of(y_true), _labels_of(y_pred)])) if labels is None else labels
    lines = [f"{'':>12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    lines += [f"{str(n):>12} {a:9.{digits}f} {b:9.{digits}f} {c:9.{digits}f} {d:8d}"
              for n, a, b, c, d in zip(names, p, r, f, s, strict=True)]
    for avg in ("micro", "macro", "weighted"):
        a, b, c, _ = precision_recall_fscore_support(y_true, y_pred, labels, avg)
        lines.append(f"{avg + ' avg':>12} {a:9.{digits}f} {b:9.{digits}f} {c:9.{digits}f} {int(s.sum()):8d}")
    return "\n".join(lines)


def evaluate(model, x, y):
    """(mean cross-entropy, accuracy) of the classifier ``model`` (logits out) on tensors x, y, without grad."""
    with no_grad():
        logits = model(x)
        loss = ops.cross_entropy(logits, y).item()
        return loss, float((ops.argmax(logits, dim=1).numpy() == y.numpy()).mean())
