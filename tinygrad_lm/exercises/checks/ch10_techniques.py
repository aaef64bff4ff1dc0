"""Checks of chapter 10 (techniques): metrics against ``train.metrics``, the all-reduce against the full batch's
gradient, GAN losses against ``models.gan``, the schedule against its closed form."""
from __future__ import annotations

import math

import numpy as np

from ..core import CheckFailure, assert_close, cases, close, exercise, tensor64

FILE = "ch10_techniques"


@exercise("10.1", "precision, recall and F1 per class, with 0/0", ids=("D3.T1",), kind="technique", file=FILE,
          entry=("precision_recall_f1",))
def _(precision_recall_f1):
    from ...train.metrics import precision_recall_fscore_support

    fixed = [([0, 0, 1, 1], [0, 1, 1, 1], 3),    # class 2 neither true nor predicted: 0/0 everywhere
             ([0, 1, 2, 2], [0, 0, 0, 0], 3),    # classes 1, 2 never predicted
             ([1], [1], 2), ([2, 2], [0, 1], 4)]
    drawn = []
    for g in cases(6, seed=101):
        C, n = int(g.integers(2, 6)), int(g.integers(1, 15))
        drawn.append((g.integers(C, size=n).tolist(), g.integers(C, size=n).tolist(), C))
    for y_true, y_pred, C in fixed + drawn:
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=np.arange(C), zero_division=0.0)
        got = precision_recall_f1(np.array(y_true), np.array(y_pred), C)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailure("returns", f"expected (precision, recall, f1), got {type(got).__name__}")
        case = f"y_true {y_true}, y_pred {y_pred}, {C} classes"
        if not close(got[0], p) and close(got[0], r) and close(got[1], p):
            raise CheckFailure(case, "precision and recall are swapped",
                               "precision counts over the predictions of k, recall over the true members of k")
        for name, a, e in zip(("precision", "recall", "F1"), got, (p, r, f), strict=True):
            assert_close(a, e, f"{name}, {case}", hint="a 0/0 is 0.0 (no NaN); F1 = 2PR / (P + R) per class")


def _mean_grad(X, y, w):
    """The gradient of 1/2 (x w - y)^2 averaged over the rows of X (zeros for no rows)."""
    return X.T @ (X @ w - y) / len(X) if len(X) else np.zeros_like(w)


@exercise("10.2", "data-parallel all-reduce with unequal shards", ids=("D1.T5", "D4.T1", "D3.T2"), kind="technique",
          file=FILE, entry=("allreduce_gradients",))
def _(allreduce_gradients):
    for sizes in ([4, 4], [3, 1], [5, 0, 2], [1, 6, 2, 3], [7]):
        g = cases(1, seed=102 + len(sizes) + sum(sizes))[0]
        N, d = sum(sizes), int(g.integers(1, 4))
        X, y, w = g.standard_normal((N, d)), g.standard_normal(N), g.standard_normal(d)
        bounds = np.cumsum([0] + sizes)
        grads = [_mean_grad(X[a:b], y[a:b], w) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        got = allreduce_gradients([a.copy() for a in grads], list(sizes))
        full = _mean_grad(X, y, w)
        case = f"shards of {sizes} samples"
        if len(set(sizes)) > 1 and close(got, sum(grads) / len(grads)):
            raise CheckFailure(case, "your result is the plain mean of the workers' gradients",
                               "with unequal shards each worker's mean counts n_r / N, not 1 / world_size")
        assert_close(got, full, f"{case}: vs the gradient of the whole batch's mean loss",
                     hint="sum_r (n_r / N) grads[r]")


@exercise("10.3", "GAN losses: discriminator and non-saturating generator", ids=("D1.T4", "D4.T2"), kind="technique",
          file=FILE, entry=("discriminator_loss", "generator_loss"))
def _(discriminator_loss, generator_loss):
    from ...models.gan import discriminator_loss as ref_d, generator_loss as ref_g

    for i, g in enumerate(cases(6, seed=103)):
        real = g.standard_normal(int(g.integers(1, 5))) * 3
        fake = g.standard_normal(int(g.integers(1, 6))) * 3
        if i >= 4:  # a confident discriminator: naive log(sigmoid) gives -inf here
            real, fake = real * 400, fake * 400
        case = f"{len(real)} real logits, {len(fake)} fake logits" + (", |logits| in the hundreds" if i >= 4 else "")
        assert_close(discriminator_loss(real.copy(), fake.copy()), ref_d(tensor64(real, False), tensor64(fake, False)).item(),
                     f"discriminator_loss, {case}", hint="mean over each batch separately; use softplus, not log(sigmoid)")
        got = generator_loss(fake.copy())
        expected = ref_g(tensor64(fake, False)).item()
        if close(got, -np.logaddexp(0.0, fake).mean()):
            raise CheckFailure(f"generator_loss, {case}", "the minimax loss log(1 - sigma(D(G(z)))): it saturates",
                               "G minimises -log sigma(D(G(z))), the non-saturating loss")
        assert_close(got, expected, f"generator_loss, {case}", hint="-mean log sigma(fake logits), computed stably")


@exercise("10.4", "warm-up then cosine learning-rate schedule", ids=("D2.T3",), kind="technique", file=FILE,
          entry=("warmup_cosine_lr",))
def _(warmup_cosine_lr):
    for total, warmup, base, low in ((10, 3, 0.1, 0.001), (8, 0, 1.0, 0.0), (5, 1, 3e-4, 3e-5), (20, 19, 0.5, 0.1)):
        for step in range(total + 3):
            if step < warmup:
                expected = base * (step + 1) / warmup
            else:
                t = min(1.0, (step - warmup) / (total - warmup))
                expected = low + (base - low) * (1 + math.cos(math.pi * t)) / 2
            assert_close(warmup_cosine_lr(step, total, warmup, base, low), expected,
                         f"step {step} of {total}, warm-up {warmup}, lr {base} -> {low}", rtol=1e-9, atol=1e-15,
                         hint="warm-up (step + 1) / warmup_steps; the cosine's t counts from the end of the warm-up; "
                              "min_lr after total_steps" if step >= warmup else "warm-up: base_lr (step + 1) / warmup_steps")
