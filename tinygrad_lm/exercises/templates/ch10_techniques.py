"""Chapter 10 exercises: metrics, data-parallel training, GANs, learning-rate schedules
(notebook 10_compress_and_techniques).

Plain Python and NumPy, float64. Check one exercise with ``tinygrad-lm exercises check 10.1 --dir DIR``.
"""
import math

import numpy as np


# ---- 10.1 precision, recall, F1 (D3.T1) ---------------------------------------------------------------------------------
def precision_recall_f1(y_true, y_pred, num_classes):
    """Per-class precision, recall and F1 for integer labels in 0..num_classes-1: three float arrays (num_classes,).
    precision_k = TP_k / (TP_k + FP_k) (over the samples PREDICTED k), recall_k = TP_k / (TP_k + FN_k) (over the
    samples that ARE k), F1_k = 2 P R / (P + R). Any 0/0 is 0.0 (scikit-learn's zero_division=0), never NaN."""
    ### BEGIN SOLUTION (10.1) hint: precision divides by how often k was predicted, recall by how often k is true; guard every 0/0
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.arange(num_classes)[:, None]
    tp = ((y_true == classes) & (y_pred == classes)).sum(axis=1).astype(np.float64)
    predicted = (y_pred == classes).sum(axis=1)
    actual = (y_true == classes).sum(axis=1)

    def divide(a, b):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)

    precision, recall = divide(tp, predicted), divide(tp, actual)
    return precision, recall, divide(2 * precision * recall, precision + recall)
    ### END SOLUTION


# ---- 10.2 the all-reduce of data-parallel training (D1.T5, D4.T1, D3.T2) -----------------------------------------------
def allreduce_gradients(grads, sizes):
    """Worker r computed ``grads[r]``, the MEAN gradient of the loss over its own n_r = sizes[r] samples (an array of
    zeros when n_r = 0). Return the gradient of the mean loss over the whole batch of N = sum n_r samples, the
    same array every worker steps with: sum_r (n_r / N) grads[r]."""
    ### BEGIN SOLUTION (10.2) hint: shards of unequal size: weight each worker's mean by its share n_r / N, not 1 / workers
    N = sum(sizes)
    return sum((n / N) * np.asarray(g, dtype=np.float64) for g, n in zip(grads, sizes, strict=True))
    ### END SOLUTION


# ---- 10.3 GAN losses (D1.T4, D4.T2) ---------------------------------------------------------------------------------------
def discriminator_loss(real_logits, fake_logits):
    """D's loss from its logits (before the sigmoid): -mean log sigma(real) - mean log(1 - sigma(fake)), each mean over
    its own batch. Must stay finite for logits as large as +-1000."""
    ### BEGIN SOLUTION (10.3) hint: -log sigma(x) = softplus(-x) and -log(1 - sigma(x)) = softplus(x); softplus(x) = logaddexp(0, x)
    return float(np.logaddexp(0.0, -real_logits).mean() + np.logaddexp(0.0, fake_logits).mean())
    ### END SOLUTION


def generator_loss(fake_logits):
    """G's non-saturating loss: -mean log sigma(D(G(z))) from D's logits on the fakes (not the minimax
    mean log(1 - sigma(.)), whose gradient vanishes while D easily rejects the fakes). Finite for logits up to +-1000."""
    ### BEGIN SOLUTION (10.3) hint: G wants D to say "real": the loss is D's real-label loss on the fakes
    return float(np.logaddexp(0.0, -fake_logits).mean())
    ### END SOLUTION


# ---- 10.4 warm-up then cosine learning rate (D2.T3) -----------------------------------------------------------------------
def warmup_cosine_lr(step, total_steps, warmup_steps, base_lr, min_lr):
    """The learning rate of step ``step`` (0-based): a linear warm-up base_lr * (step + 1) / warmup_steps for
    step < warmup_steps, then a cosine from base_lr (at step = warmup_steps) down to min_lr (at step = total_steps):
    min_lr + (base_lr - min_lr) (1 + cos(pi t)) / 2 with t = (step - warmup_steps) / (total_steps - warmup_steps);
    min_lr from total_steps on. warmup_steps may be 0; warmup_steps < total_steps."""
    ### BEGIN SOLUTION (10.4) hint: the first step already has a non-zero rate; the cosine's clock starts when the warm-up ends
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    t = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * t)) / 2
    ### END SOLUTION
