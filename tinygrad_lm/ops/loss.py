"""Losses with hand-written backward passes: fused softmax cross-entropy (D1.F2), NLL, MSE (D0.F2),
binary cross-entropy (with and without logits)."""
from __future__ import annotations

from ..autograd import Function
from ..backend import device_of, kernel, xp
from ..tensor import Tensor
from .activation import log_softmax, sigmoid_array
from .elementwise import check_float, clip, log, neg

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


# ------------------------------------------------------------------ functional wrappers
def _target_array(target):
    return target.data if isinstance(target, Tensor) else xp(target).asarray(target)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):  # noqa: A002
    """Softmax cross-entropy from logits (D1.F2). Class-index targets use the fused kernel; a float
    target of the input's shape is read as class probabilities (composite)."""
    check_reduction(reduction)
    check_float("cross_entropy", input)
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    t = _target_array(target)
    if input.ndim == 0 or input.shape[1 if input.ndim > 1 else 0] == 0:
        raise ValueError(f"cross_entropy: input must be (C,) or (N, C, ...) scores with C > 0 classes, got shape "
                         f"{input.shape}")
    if t.dtype.kind == "f":
        if t.shape != input.shape:
            raise ValueError(f"cross_entropy: probability targets need the input's shape {input.shape}, "
                             f"got {tuple(t.shape)}")
        C = input.shape[1] if input.ndim > 1 else input.shape[0]
        probs = Tensor._wrap(t * (1 - label_smoothing) + label_smoothing / C)
        logp = log_softmax(input, dim=1 if input.ndim > 1 else 0)
        if weight is not None:
            shape = [1] * input.ndim
            shape[1 if input.ndim > 1 else 0] = C
            logp = logp * weight.reshape(shape)
        per = -(logp * probs).sum(dim=1 if input.ndim > 1 else 0)
        return per.mean() if reduction == "mean" else reduce_loss(per, reduction)
    w = weight.data if isinstance(weight, Tensor) else weight
    return CrossEntropy.apply(input, t, weight=w, ignore_index=ignore_index, reduction=reduction,
                                    label_smoothing=label_smoothing)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    check_reduction(reduction)
    check_float("nll_loss", input)
    w = weight.data if isinstance(weight, Tensor) else weight
    return NLLLoss.apply(input, _target_array(target), weight=w, ignore_index=ignore_index,
                               reduction=reduction)


def _check_same_shape(input, target, name):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{name}: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} "
                         "must be equal")
    check_float(name, input, target)
    if input.dtype != target.dtype:
        raise TypeError(f"{name}: input has dtype {input.dtype} but target has dtype {target.dtype}; convert one "
                        "with .float() or .double()")


def mse_loss(input, target, reduction="mean"):  # noqa: A002
    """Composite: (input - target)^2, reduced (D0.F2 is half its sum)."""
    target = target if isinstance(target, Tensor) else Tensor._wrap(_target_array(target))
    _check_same_shape(input, target, "mse_loss")
    d = input - target
    return reduce_loss(d * d, reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):  # noqa: A002
    """Composite: -[y log p + (1-y) log(1-p)], each log clamped at -100 as PyTorch does."""
    target = target if isinstance(target, Tensor) else Tensor._wrap(_target_array(target))
    _check_same_shape(input, target, "binary_cross_entropy")
    check_reduction(reduction)
    for name, t in (("input", input), ("target", target)):  # log(p) of p outside [0, 1] is nan: refuse
        m = xp(t.data)
        if t.data.size and not bool(m.all((t.data >= 0) & (t.data <= 1))):
            raise RuntimeError(f"binary_cross_entropy: all elements of {name} should be between 0 and 1, got "
                               f"values in [{float(m.nanmin(t.data))}, {float(m.nanmax(t.data))}]"
                               + (" (nan present)" if bool(m.isnan(t.data).any()) else "")
                               + ("; pass probabilities (sigmoid of the logits) or use binary_cross_entropy_with_logits"
                                  if name == "input" else ""))
    loss = neg(target * clip(log(input), min=-100) + (1 - target) * clip(log(1 - input), min=-100))
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):  # noqa: A002
    check_reduction(reduction)
    check_float("binary_cross_entropy_with_logits", input)
    y = _target_array(target).astype(input.dtype, copy=False)
    pw = pos_weight.data if isinstance(pos_weight, Tensor) else pos_weight
    loss = BCEWithLogits.apply(input, y, pos_weight=pw)
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction)
