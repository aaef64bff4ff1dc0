"""Checks of chapter 09 (compression): pruning masks against ``compress.prune.magnitude_prune`` and an exact
tie-breaking reference, int8 parameters against a float64 reference of ``compress.quantize``'s formulas,
distillation against ``compress.distill.distillation_loss``, the footprint erratum."""
from __future__ import annotations

import numpy as np

from ..core import CheckFailure, assert_close, cases, close, exercise, expect_equal, tensor64

FILE = "ch09_compress"


def _reference_mask(w, amount):
    k = int(round(amount * w.size))
    mask = np.ones(w.size)
    mask[np.argsort(np.abs(w).reshape(-1), kind="stable")[:k]] = 0.0
    return mask.reshape(w.shape)


def _expect_mask(got, w, amount, check):
    expected = _reference_mask(w, amount)
    a = np.asarray(got, dtype=np.float64)
    k = int(round(amount * w.size))
    if a.shape == w.shape and int((a == 0).sum()) != k:
        raise CheckFailure(check, f"{int((a == 0).sum())} zeros, expected k = round({amount} * {w.size}) = {k}",
                           "exactly k zeros: Python's round, and ties at the threshold must not all go" if
                           len(np.unique(np.abs(w))) < w.size else "k = round(amount * size), halves to even")
    assert_close(a, expected, check, hint="the k smallest |w|; among equal |w| the smaller flat index goes first")


@exercise("9.1", "magnitude-pruning masks, per tensor and global", ids=("D0.T2", "D4.T3"), kind="technique",
          file=FILE, entry=("magnitude_prune_mask", "global_prune_masks"))
def _(magnitude_prune_mask, global_prune_masks):
    from ... import nn
    from ...compress.prune import magnitude_prune

    ties = np.array([[0.5, -0.25, 0.0, 1.0], [-0.5, 0.25, 0.5, -1.0], [0.0, 2.0, -0.25, 0.5]])
    for amount in (0.0, 0.125, 0.375, 0.5, 0.75, 1.0):  # 12 * 0.125 = 1.5 -> 2, 12 * 0.375 = 4.5 -> 4
        _expect_mask(magnitude_prune_mask(ties.copy(), amount), ties, amount, f"ties {ties.tolist()}, amount {amount}")
    for g in cases(4, seed=91):
        w = g.standard_normal(tuple(int(n) for n in g.integers(1, 6, size=int(g.integers(1, 4)))))
        amount = float(g.choice([0.1, 0.3, 0.5, 0.9]))
        _expect_mask(magnitude_prune_mask(w.copy(), amount), w, amount, f"w {w.shape}, amount {amount}")
    for scope, amount in (("layer", 0.4), ("global", 0.4), ("global", 0.7)):
        g = cases(1, seed=92)[0]
        model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)).double()
        model[0].weight.data = g.standard_normal((4, 5))
        model[2].weight.data = g.standard_normal((3, 4)) * 0.3  # smaller: global pruning takes more of them
        weights = [model[0].weight.numpy().copy(), model[2].weight.numpy().copy()]
        if scope == "layer":
            got = [magnitude_prune_mask(w.copy(), amount) for w in weights]
        else:
            got = global_prune_masks([w.copy() for w in weights], amount)
            flat = np.concatenate([w.reshape(-1) for w in weights])
            if not isinstance(got, (list, tuple)) or len(got) != 2:
                raise CheckFailure("global_prune_masks returns", f"expected a list of 2 masks, got {type(got).__name__}")
            ref = _reference_mask(flat, amount)
            assert_close(np.concatenate([np.asarray(m, dtype=np.float64).reshape(-1) for m in got]), ref,
                         f"global masks, amount {amount}", hint="one ranking over all the arrays together")
        pruning = magnitude_prune(model, amount, scope=scope, names=["0.weight", "2.weight"])
        for m, name in zip(got, ("0.weight", "2.weight"), strict=True):
            assert_close(m, pruning.masks[name], f"{scope} pruning of {name} vs compress.prune.magnitude_prune, "
                                                  f"amount {amount}")


def _reference_qparams(x, qmin=-128, qmax=127):
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = max((hi - lo) / (qmax - qmin), float(np.finfo(np.float32).eps))
    return scale, int(np.clip(qmin - np.round(lo / scale), qmin, qmax))


@exercise("9.2", "int8 affine quantisation: scale, zero point, round trip", ids=("D0.T3", "D3.T2", "D4.T3"),
          kind="technique", file=FILE, entry=("int8_qparams", "quantize", "dequantize"))
def _(int8_qparams, quantize, dequantize):
    g = cases(1, seed=93)[0]
    xs = [("mixed signs", g.standard_normal(20) * 3), ("all positive", g.uniform(0.5, 4.0, (3, 5))),
          ("all negative", -g.uniform(1.0, 2.0, 7)), ("all zero", np.zeros(4)), ("one element", np.array([2.5])),
          ("tiny", g.standard_normal(6) * 1e-3)]
    for name, x in xs:
        for qmin, qmax in ((-128, 127), (0, 255)):
            scale, zp = _reference_qparams(x, qmin, qmax)
            got = int8_qparams(x.copy(), qmin, qmax)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise CheckFailure("int8_qparams returns", f"expected (scale, zero_point), got {type(got).__name__}")
            case = f"{name} x, range [{qmin}, {qmax}]"
            assert_close(got[0], scale, f"scale, {case}", rtol=1e-7, atol=0.0,
                         hint="widen the range to hold 0 (lo = min(x_min, 0), hi = max(x_max, 0)), "
                              "then divide by qmax - qmin")
            expect_equal(int(got[1]), zp, f"zero point, {case}", hint="zero_point = qmin - round(lo / scale), "
                                                                      "so that 0.0 maps to an integer exactly")
            q = np.asarray(quantize(x.copy(), scale, zp, qmin, qmax))
            expect_equal(q, np.clip(np.round(x / scale) + zp, qmin, qmax), f"quantize, {case}",
                         hint="round(x / scale) + zero_point, clamped")
            back = dequantize(q.copy(), scale, zp)
            assert_close(back, scale * (q - zp), f"dequantize, {case}", hint="scale * (q - zero_point)")
            assert_close(dequantize(quantize(np.zeros(1), scale, zp, qmin, qmax), scale, zp), np.zeros(1),
                         f"round trip of 0.0, {case}", hint="0.0 must come back exactly")
    # halves round to even, values out of range clamp
    x = np.array([0.125, 0.375, -0.125, -0.375, 100.0, -100.0, 31.75])
    expect_equal(np.asarray(quantize(x.copy(), 0.25, 3)), np.array([3, 5, 3, 1, 127, -128, 127]),
                 "quantize halves (x / scale = 0.5, 1.5, ...) and out-of-range values, scale 0.25, zero point 3",
                 hint="np.round rounds halves to even; clamp to [qmin, qmax] after adding the zero point")


@exercise("9.3", "the distillation loss with temperature", ids=("D0.T4", "D4.T3"), kind="technique", file=FILE,
          entry=("distillation_loss",))
def _(distillation_loss):
    from ...compress.distill import distillation_loss as reference

    for i, g in enumerate(cases(8, seed=94)):
        N, C = int(g.integers(1, 5)), int(g.integers(2, 6))
        s, t = g.standard_normal((N, C)) * 2, g.standard_normal((N, C)) * 3
        labels = g.integers(C, size=N)
        T = (1.0, 2.0, 4.0, 7.5)[i % 4]
        alpha = (0.5, 1.0, 0.3, 0.0)[(i // 2) % 4]
        expected = reference(tensor64(s, False), tensor64(t, False), labels, T=T, alpha=alpha).item()
        got = distillation_loss(s.copy(), t.copy(), labels.copy(), T, alpha)
        case = f"logits {s.shape}, T = {T}, alpha = {alpha}"
        if T != 1.0 and alpha > 0 and not close(got, expected):
            soft, hard = (reference(tensor64(s, False), tensor64(t, False), labels, T=T, alpha=a).item() for a in (1.0, 0.0))
            if close(got, alpha * soft / (T * T) + (1 - alpha) * hard):
                raise CheckFailure(case, "the soft term lacks the T^2 factor",
                                   "multiply the KL term by T^2: its gradient falls as 1/T^2 otherwise")
        assert_close(got, expected, case, hint="alpha T^2 KL(softmax(t/T) || softmax(s/T)) (per-sample mean) + "
                                                "(1 - alpha) CE(s, labels)")


@exercise("9.4", "erratum hunt: what pruning and quantisation save", ids=("D4.T3", "D0.T2", "D0.T3"), kind="erratum",
          file=FILE, entry=("compressed_footprint",))
def _(compressed_footprint):
    for n, amount, bits in ((1000, 0.0, 8), (1000, 0.5, 8), (4096, 0.8, 4), (10, 0.25, 32), (7, 0.5, 16), (12, 0.375, 8)):
        got = compressed_footprint(n, amount, bits)
        k = int(round(amount * n))
        expected = (n, n - k, n * bits / 8)
        check = f"compressed_footprint({n}, {amount}, {bits})"
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailure(check, f"expected (stored, nonzero, bytes), got {got!r}")
        if bits < 32 and got[0] == n * bits / 32:
            raise CheckFailure(check, f"{got[0]} parameters stored, expected {n}",
                               "quantisation stores every parameter, in fewer bits each",
                               erratum="D4.T3: quantisation said to reduce the number of parameters")
        if amount > 0 and got[0] == n - k:
            raise CheckFailure(check, f"{got[0]} parameters stored, expected {n}",
                               "unstructured pruning stored densely keeps the zeros: only the non-zero count falls")
        for name, a, e in zip(("stored_parameters", "nonzero_parameters", "storage_bytes"), got, expected, strict=True):
            assert_close(a, e, f"{check}: {name}", rtol=1e-12, atol=0.0,
                         hint="k = round(amount * n) zeros; bytes = stored * bits / 8")
