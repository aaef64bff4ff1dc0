"""D0.T4 / D4.T3 knowledge distillation (Hinton, Vinyals & Dean 2015): a small student learns from a
large teacher's softened output distribution as well as from the hard labels.

    p^T = softmax(z_t / T),   log q^T = log_softmax(z_s / T)
    L = alpha T^2 KL(p^T || q^T) + (1 - alpha) CE(z_s, y)

The T^2 keeps the soft term's weight independent of T: the gradient of KL(p^T || q^T) with respect
to z_s is (q^T - p^T) / T, and for large T (zero-mean logits over N classes) q^T - p^T is about
(z_s - z_t) / (N T), so the gradient falls as 1/T^2 unless multiplied back by T^2.
"""
from __future__ import annotations

from .. import ops
from ..ops.loss import check_reduction, reduce_loss
from ..tensor import Tensor

KL_REDUCTIONS = ("batchmean", "mean", "sum", "none")


def kl_div(input, target, reduction: str = "mean", log_target: bool = False):  # noqa: A002 - torch's names
    """Composite, torch.nn.functional.kl_div: ``input`` holds log-probabilities log q, ``target`` the
    probabilities p (or log p with ``log_target``); pointwise p (log p - log q), with 0 log 0 = 0.
    'batchmean' divides the sum by the batch size (the true KL per sample); 'mean' (PyTorch's default)
    by the element count."""
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"kl_div: reduction must be one of {KL_REDUCTIONS}, got {reduction!r}")
    if input.shape != target.shape:
        raise ValueError(f"kl_div: input of shape {input.shape} and target of shape {target.shape} differ")
    if log_target:
        pointwise = ops.exp(target) * (target - input)
    else:
        positive = target.data > 0
        log_p = ops.log(ops.where(positive, target, 1.0))  # log 1 = 0 where p = 0, so 0 * log 0 = 0
        pointwise = target * (log_p - input)
    if reduction == "batchmean":
        return pointwise.sum() / float(input.shape[0] if input.ndim > 0 else 1)
    check_reduction(reduction)
    return reduce_loss(pointwise, reduction)


def distillation_loss(student_logits, teacher_logits, target, T: float = 4.0, alpha: float = 0.5):
    """Composite: alpha T^2 KL(softmax(z_t/T) || softmax(z_s/T)) + (1 - alpha) CE(z_s, y), both per-sample
    means. The teacher's logits are a constant (detached)."""
    if T <= 0:
        raise ValueError(f"distillation_loss: temperature T must be positive, got {T}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"distillation_loss: alpha must be in [0, 1], got {alpha}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"distillation_loss: student logits {student_logits.shape} and teacher logits "
                         f"{teacher_logits.shape} differ")
    teacher = teacher_logits.detach() if isinstance(teacher_logits, Tensor) else Tensor(teacher_logits)
    t = float(T)
    soft = kl_div(ops.log_softmax(student_logits / t, dim=-1), ops.softmax(teacher / t, dim=-1), "batchmean")
    hard = ops.cross_entropy(student_logits, target)
    return soft * (alpha * t * t) + hard * (1.0 - alpha)
