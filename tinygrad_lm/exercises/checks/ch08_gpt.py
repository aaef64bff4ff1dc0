"""Checks of chapter 08 (GPT): one BPE merge against the library's trainer, top-k / top-p against
``models.gpt``'s filters, a cached attention step against full causal attention, LayerNorm against the fused op."""
from __future__ import annotations

import numpy as np

from ..core import CheckFailure, assert_close, cases, exercise, expect_equal, tensor64

FILE = "ch08_gpt"


def _reference_merge_step(word_freqs, new_id):
    from ...data.bpe import _merge, _pairs

    counts = {}
    for word, f in word_freqs.items():
        for p in _pairs(word):
            counts[p] = counts.get(p, 0) + f
    if not counts:
        return None, dict(word_freqs)
    pair = min(counts, key=lambda p: (-counts[p], p))
    merged = {}
    for word, f in word_freqs.items():
        w = tuple(_merge(word, pair, new_id))
        merged[w] = merged.get(w, 0) + f
    return pair, merged


def _normalised(result):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailure("returns", f"expected (pair, new_word_freqs), got {type(result).__name__}")
    pair, words = result
    return (None if pair is None else tuple(int(i) for i in pair)), {tuple(int(i) for i in w): f
                                                                       for w, f in dict(words).items()}


@exercise("8.1", "one byte-pair-encoding merge", ids=("D4.M2",), kind="build", file=FILE, entry=("bpe_merge_step",))
def _(bpe_merge_step):
    from ...data.bpe import PATTERN, ByteLevelBPETokenizer
    import re

    hints = {"overlap": "(7, 7, 7) holds the pair (7, 7) twice, and merges left to right into (new, 7)",
             "ties": "equally frequent pairs: the smallest tuple wins",
             "frequency": "each occurrence counts as often as its word occurs",
             "no pair": "with no word of two tokens there is nothing to merge: (None, word_freqs)"}
    fixed = [("overlap", {(7, 7, 7): 1, (7, 7, 7, 7): 1, (3, 7): 2}, 300),
             ("ties", {(2, 0): 1, (1, 5): 1, (9, 9, 1): 1}, 256),
             ("frequency", {(1, 2): 1, (3, 4): 5, (1, 2, 1, 2): 1}, 260),
             ("no pair", {(5,): 3, (6,): 1}, 256)]
    drawn = []
    for i, g in enumerate(cases(6, seed=71)):
        words = {tuple(int(t) for t in g.integers(0, 4, size=int(g.integers(1, 7)))): int(g.integers(1, 5))
                 for _ in range(int(g.integers(1, 8)))}
        drawn.append((f"drawn case {i}", words, 256 + i))
    for name, words, new_id in fixed + drawn:
        got = _normalised(bpe_merge_step(dict(words), new_id))
        expected = _reference_merge_step(words, new_id)
        expect_equal(got[0], expected[0], f"{name}: the pair chosen from {words}", hint=hints.get(name))
        expect_equal(got[1], expected[1], f"{name}: the words after merging {expected[0]} into {new_id}",
                     hint=hints.get(name, "replace the pair left to right, without overlap"))
    # the first merge of the library's trainer on real text
    text = "the cat sat on the mat; the hat is that cat's hat"
    words = {}
    for piece in re.findall(PATTERN, text):
        w = tuple(piece.encode("utf-8"))
        words[w] = words.get(w, 0) + 1
    first = ByteLevelBPETokenizer.train(text, 257, special_tokens=(), min_frequency=1).merges[0]
    expect_equal(_normalised(bpe_merge_step(words, 256))[0], tuple(first),
                 "the first merge on a sentence, against ByteLevelBPETokenizer.train")


def _assert_filtered(got, expected, check, hint):
    a = np.asarray(got, dtype=np.float64)
    if a.shape != expected.shape:
        raise CheckFailure(check, f"shape {a.shape}, expected {expected.shape}")
    kept, want = ~np.isneginf(a), ~np.isneginf(expected)
    if not np.array_equal(kept, want):
        r, j = (int(i) for i in np.argwhere(kept != want)[0])
        raise CheckFailure(check, f"row {r}, token {j}: {'kept' if kept[r, j] else 'dropped'}, expected "
                                  f"{'kept' if want[r, j] else 'dropped'} ({int(kept[r].sum())} kept, expected "
                                  f"{int(want[r].sum())})", hint)
    assert_close(a[kept], expected[want], check + " (the kept logits)", hint="kept logits stay unchanged")


@exercise("8.2", "top-k and top-p (nucleus) filtering", ids=("D4.M2", "D2.F7"), kind="build", file=FILE,
          entry=("top_k_filter", "top_p_filter"))
def _(top_k_filter, top_p_filter):
    from ...models.gpt import top_k_filter as ref_k, top_p_filter as ref_p

    for i, g in enumerate(cases(10, seed=72)):
        B, V = int(g.integers(1, 4)), int(g.integers(1, 9))
        ties = i % 2 == 1
        logits = g.integers(-2, 3, size=(B, V)).astype(np.float64) if ties else g.standard_normal((B, V)) * 2
        k = int(g.integers(1, V + 2))
        _assert_filtered(top_k_filter(logits.copy(), k), ref_k(logits, k),
                         f"top_k_filter, logits {logits.shape}, k = {k}" + (", with ties" if ties else ""),
                         "ties with the k-th largest value all stay" if ties else "keep the k largest of each row")
    for g in cases(10, seed=73):
        B, V = int(g.integers(1, 4)), int(g.integers(1, 9))
        logits = g.standard_normal((B, V)) * float(g.choice([0.5, 2.0, 6.0]))
        e = np.exp(logits - logits.max(-1, keepdims=True))
        mass = np.cumsum(-np.sort(-e / e.sum(-1, keepdims=True), axis=-1), axis=-1)
        p = float(g.uniform(0.05, 0.95))
        while np.abs(mass - p).min() < 1e-6:  # keep clear of a sum landing on p: no decision on rounding
            p = float(g.uniform(0.05, 0.95))
        _assert_filtered(top_p_filter(logits.copy(), p), ref_p(logits, p), f"top_p_filter, logits {logits.shape}, "
                         f"p = {p:.3f}", "keep the most likely tokens up to AND including the one whose cumulative "
                                         "probability reaches p")


@exercise("8.3", "one attention step with a key-value cache", ids=("D4.M2", "D2.F3"), kind="build", file=FILE,
          entry=("attend_with_cache",))
def _(attend_with_cache):
    from ...nn import functional as F

    for P, n in ((0, 1), (0, 3), (1, 1), (3, 1), (2, 2), (4, 3)):
        g = cases(1, seed=74 + 10 * P + n)[0]
        B, H, D = int(g.integers(1, 3)), int(g.integers(1, 3)), int(g.integers(1, 5))
        q, k, v = (g.standard_normal((B, H, P + n, D)) for _ in range(3))
        full = F.scaled_dot_product_attention(tensor64(q, False), tensor64(k, False), tensor64(v, False),
                                              is_causal=True).numpy()
        got = attend_with_cache(q[:, :, P:].copy(), k[:, :, P:].copy(), v[:, :, P:].copy(),
                                k[:, :, :P].copy(), v[:, :, :P].copy())
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailure("returns", f"expected (out, keys, values), got {type(got).__name__}")
        case = f"{P} cached and {n} new tokens, B={B}, H={H}, D={D}"
        assert_close(got[1], k, f"the keys for the next step, {case}", hint="cached keys, then the new ones")
        assert_close(got[2], v, f"the values for the next step, {case}", hint="cached values, then the new ones")
        assert_close(got[0], full[:, :, P:], f"output vs full causal attention over all {P + n} tokens, {case}",
                     hint="new token i sits at position P+i: it sees keys 0..P+i (a bottom-right triangle, "
                          "not the top-left one)")


@exercise("8.4", "LayerNorm forward and backward", ids=("D2.M1", "D4.M2"), kind="op", file=FILE,
          entry=("layer_norm", "layer_norm_backward"))
def _(layer_norm, layer_norm_backward):
    from ...nn import functional as F
    from ...tensor import Tensor

    for g in cases(8, seed=75):
        shape = [(5,), (1, 3), (2, 4), (2, 3, 6), (3, 1)][int(g.integers(5))]
        E = shape[-1]
        x = g.standard_normal(shape) * float(g.choice([0.1, 1.0, 5.0])) + float(g.choice([0.0, 3.0]))
        w, b, grad_out = g.standard_normal(E), g.standard_normal(E), g.standard_normal(shape)
        eps = float(g.choice([1e-5, 1e-2]))
        xt, wt, bt = tensor64(x), tensor64(w), tensor64(b)
        y = F.layer_norm(xt, (E,), wt, bt, eps)
        y.backward(Tensor(grad_out))
        case = f"x {shape}, eps {eps}"
        assert_close(layer_norm(x.copy(), w.copy(), b.copy(), eps), y.numpy(), f"forward, {case}",
                     hint="biased variance (divide by E) and eps inside the square root")
        got = layer_norm_backward(x.copy(), w.copy(), grad_out.copy(), eps)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailure("returns", f"expected (dx, dweight, dbias), got {type(got).__name__}")
        for name, a, e, hint in (("dx", got[0], xt.grad.numpy(), "dx has three terms: g, its mean, and "
                                                                 "x_hat times mean(g x_hat), all over std"),
                                 ("dweight", got[1], wt.grad.numpy(), "sum of grad_out * x_hat over leading axes"),
                                 ("dbias", got[2], bt.grad.numpy(), "sum of grad_out over leading axes")):
            assert_close(a, e, f"{name}, {case}", hint=hint)
