"""Losses with hand-written backward passes: fused softmax cross-entropy (D1.F2), NLL, MSE (D0.F2),
binary cross-entropy (with and without logits)."""
from __future__ import annotations

from ..autograd import Function
from ..backend import device_of, kernel, xp
from .activation import sigmoid_array

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _rows(x, target):
    """(N, C, d1, ...) logits and (N, d1, ...) targets as (M, C) rows and (M,) targets."""
    if x.ndim == 1:
        return x[None, :], target.reshape(1)
    if x.ndim > 2:
        x = xp(x).moveaxis(x, 1, -1)
    return x.reshape(-1, x.shape[-1]), target.reshape(-1)


def _check_target(x, target, name, weight=None):
    if x.ndim == 0:
        raise ValueError(f"{name}: input must be (C,) or (N, C, ...) scores, got a 0-d tensor")
    C = x.shape[1] if x.ndim > 1 else x.shape[0]
    if C == 0:
        raise ValueError(f"{name}: input of shape {tuple(x.shape)} has no classes (C = 0)")
    if weight is not None and tuple(weight.shape) != (C,):
        raise ValueError(f"{name}: weight must have shape ({C},), one per class, got {tuple(weight.shape)}")
    expected = (x.shape[0],) + x.shape[2:] if x.ndim > 1 else ()
    if tuple(target.shape) != tuple(expected):
        raise ValueError(f"{name}: input of shape {tuple(x.shape)} needs class-index targets of shape "
                         f"{expected}, got {tuple(target.shape)}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: class-index targets must be integers, got dtype {target.dtype}")


def check_targets(t, C, ignore_index, name):
    """Class indices must lie in [0, C) (ignore_index aside): a negative one would wrap to the last class."""
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    if bad.any():
        raise IndexError(f"{name}: target {int(t[bad][0])} is out of range for {C} classes (valid: 0 to {C - 1}, "
                         f"or ignore_index={ignore_index})")


class CrossEntropy(Function):
    """D1.F2  loss_i = -sum_k y_ik log softmax(x_i)_k with one-hot (or smoothed) y, fused with
    its backward  dloss_i/dx_i = softmax(x_i) - y_i  (see kernels/cross_entropy.py for weights).
    """

    saves_inputs = (0,)

    def forward(self, x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        _check_target(x, target, "cross_entropy", weight)
        m = xp(x)
        C = x.shape[1] if x.ndim > 1 else x.shape[0]
        self.shape, self.reduction = x.shape, reduction
        rows, t = _rows(x, target)
        t = t.astype(m.int64, copy=False)
        check_targets(t, C, ignore_index, "cross_entropy")
        w = m.ones(C, dtype=x.dtype) if weight is None else weight.astype(x.dtype, copy=False)
        device = device_of(x)
        loss, lse = kernel("cross_entropy_forward", device)(rows, t, w, ignore_index, label_smoothing)
        self.saved = rows, lse, t, w, ignore_index, label_smoothing, device
        valid = t != ignore_index
        self.denom = w[m.where(valid, t, 0)][valid].sum() if reduction == "mean" else None
        if reduction == "none":
            return loss.reshape((self.shape[0],) + self.shape[2:] if x.ndim > 1 else ())
        total = loss.sum()
        return (total / self.denom if reduction == "mean" else total).astype(x.dtype)

    def backward(self, g):
        rows, lse, t, w, ignore_index, eps, device = self.saved
        m = xp(rows)
        if self.reduction == "none":
            g_rows = g.reshape(-1)
        else:
            scale = g / self.denom if self.reduction == "mean" else g
            g_rows = m.full(rows.shape[0], scale, dtype=rows.dtype)
        grad = kernel("cross_entropy_backward", device)(rows, lse, t, w, ignore_index, eps, g_rows)
        if len(self.shape) == 1:
            return grad[0], None, None
        if len(self.shape) > 2:
            moved = (self.shape[0],) + self.shape[2:] + (self.shape[1],)
            grad = m.moveaxis(grad.reshape(moved), -1, 1)
        return grad, None, None


def reduce_loss(loss, reduction):
    """Composite helper: apply ``reduction`` to a per-element loss tensor."""
    check_reduction(reduction)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class NLLLoss(Function):
    """loss_i = -w_{y_i} x_{i, y_i} (x holds log-probabilities);  dloss_i/dx_{i,y_i} = -w_{y_i}."""

    saves_inputs = ()

    def forward(self, x, target, weight=None, ignore_index=-100, reduction="mean"):
        _check_target(x, target, "nll_loss", weight)
        m = xp(x)
        C = x.shape[1] if x.ndim > 1 else x.shape[0]
        rows, t = _rows(x, target)
        t = t.astype(m.int64, copy=False)
        check_targets(t, C, ignore_index, "nll_loss")
        valid = t != ignore_index
        safe = m.where(valid, t, 0)
        w = m.ones(C, dtype=x.dtype) if weight is None else weight.astype(x.dtype, copy=False)
        wy = m.where(valid, w[safe], 0).astype(x.dtype)
        self.shape, self.reduction, self.safe, self.wy = x.shape, reduction, safe, wy
        loss = -wy * m.take_along_axis(rows, safe[:, None], axis=1)[:, 0]
        if reduction == "none":
            return loss.reshape((x.shape[0],) + x.shape[2:] if x.ndim > 1 else ())
        self.denom = wy.sum() if reduction == "mean" else 1
        return (loss.sum() / self.denom).astype(x.dtype)

    def backward(self, g):
        m = xp(g)
        M = self.safe.shape[0]
        C = self.shape[1] if len(self.shape) > 1 else self.shape[0]
        gr = g.reshape(-1) if self.reduction == "none" else g / self.denom
        grad = m.zeros((M, C), dtype=g.dtype)
        grad[m.arange(M), self.safe] = -self.wy * gr
        if len(self.shape) == 1:
            return grad[0], None, None
        if len(self.shape) > 2:
            grad = m.moveaxis(grad.reshape((self.shape[0],) + self.shape[2:] + (C,)), -1, 1)
        return grad, None, None


class BCEWithLogits(Function):
    """loss = -[y log sigma(x) + (1-y) log(1 - sigma(x))], computed as max(x,0) - x y + log(1 + e^{-|x|});
    dloss/dx = sigma(x) - y  (D1.F3's a3 - y)."""

    saves_inputs = (0,)

    def forward(self, x, y, pos_weight=None):
        if x.shape != y.shape:
            raise ValueError(f"binary_cross_entropy_with_logits: input shape {tuple(x.shape)} and target shape "
                             f"{tuple(y.shape)} must be equal")
        m = xp(x)
        self.x, self.y, self.pw = x, y, pos_weight
        log1p = m.log1p(m.exp(-m.abs(x)))
        if pos_weight is None:
            return m.maximum(x, 0) - x * y + log1p
        # -[pw y log s + (1-y) log(1-s)] with log s = -softplus(-x), log(1-s) = -softplus(x)
        sp_neg = m.maximum(-x, 0) + log1p
        return pos_weight * y * sp_neg + (1 - y) * (x + sp_neg)

    def backward(self, g):
        s = sigmoid_array(self.x)
        if self.pw is None:
            return g * (s - self.y), None
        return g * ((1 - self.y) * s - self.pw * self.y * (1 - s)), None
