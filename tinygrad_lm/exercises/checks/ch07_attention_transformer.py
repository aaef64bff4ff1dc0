"""Checks of chapter 07 (attention and the Transformer): the student's NumPy code against the library's fused
attention (forward and hand-written backward), its MultiheadAttention, and small references written here."""
from __future__ import annotations

import numpy as np

from ..core import CheckFailure, assert_close, cases, close, exercise, expect_equal, tensor64

FILE = "ch07_attention_transformer"


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _library_attention(q, k, v, mask=None, grad_out=None):
    """The library's fused op: the output, and with ``grad_out`` the gradients (dq, dk, dv) too."""
    from ...nn import functional as F
    from ...tensor import Tensor

    ts = [tensor64(a, requires_grad=grad_out is not None) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ts, attn_mask=mask)
    if grad_out is None:
        return out.numpy()
    out.backward(Tensor(np.array(grad_out, dtype=np.float64)))
    return out.numpy(), tuple(t.grad.numpy() for t in ts)


def draw_attention(g, masked):
    """q, k, v and a boolean mask (or None) of awkward shapes: batch axes (), (1,), (2, 3); L != S; d_k = 1."""
    batch = [(), (1,), (2,), (2, 3)][g.integers(4)]
    L, S, d_k, d_v = (int(n) for n in g.integers(1, 6, size=4))
    q, k, v = (g.standard_normal(batch + s) for s in ((L, d_k), (S, d_k), (S, d_v)))
    if not masked:
        return q, k, v, None
    mask = g.random(batch + (L, S)) < 0.6
    rows = np.indices(mask.shape[:-1])
    mask[(*rows, g.integers(S, size=mask.shape[:-1]))] = True  # every query sees at least one key
    return q, k, v, mask


def _case(q, k, v, mask):
    return f"q {q.shape}, k {k.shape}, v {v.shape}" + ("" if mask is None else ", with a mask")


@exercise("7.1", "scaled dot-product attention and self-attention", ids=("D2.F3", "D4.F2", "D0.F3", "D2.F2"),
          kind="op", file=FILE, entry=("scaled_dot_product_attention", "self_attention"))
def _(scaled_dot_product_attention, self_attention):
    from ...ops.attention import self_attention as library_self_attention

    for i, g in enumerate(cases(14, seed=61)):
        q, k, v, mask = draw_attention(g, masked=i >= 6)
        if i < 3:  # d_k > 1, so that a missing or misplaced scale shows
            q, k = (np.concatenate([a, a[..., :1] * 0.5], axis=-1) for a in (q, k))
        out = scaled_dot_product_attention(q.copy(), k.copy(), v.copy(), None if mask is None else mask.copy())
        expected = _library_attention(q, k, v, mask)
        if mask is None and not close(out, expected):
            s, d_k = q @ np.swapaxes(k, -1, -2), q.shape[-1]
            if close(out, np.exp(_softmax(s)) / np.sqrt(d_k) @ v) or close(out, _softmax(s) / np.sqrt(d_k) @ v):
                raise CheckFailure(f"forward, {_case(q, k, v, mask)}", "your output is the source's formula",
                                   "the scale divides the scores inside the softmax; no exp on top of it",
                                   erratum="D2.F3: exp(softmax(Q K^T)) / sqrt(d_k) V, the scale after the softmax")
            if close(out, _softmax(s) @ v):
                raise CheckFailure(f"forward, {_case(q, k, v, mask)}", "the output is softmax(Q K^T) V",
                                   "divide the scores by sqrt(d_k) before the softmax")
        assert_close(out, expected, f"forward, {_case(q, k, v, mask)}",
                     hint="softmax over the keys' axis (the last), masked keys at -inf")
    for i, g in enumerate(cases(6, seed=62)):
        batch = [(), (2,)][i % 2]
        n, d, d_k, d_v = (int(x) for x in g.integers(1, 6, size=4))
        X = g.standard_normal(batch + (n, d))
        W = [g.standard_normal((d, m)) for m in (d_k, d_k, d_v)]
        mask = np.tril(np.ones((n, n), dtype=bool)) if i >= 3 else None
        expected = library_self_attention(*(tensor64(a, False) for a in (X, *W)), mask=mask).numpy()
        assert_close(self_attention(X.copy(), *(w.copy() for w in W), mask), expected,
                     f"self-attention, X {X.shape}, W_Q {W[0].shape}, W_V {W[2].shape}",
                     hint="Q = X W_Q, K = X W_K, V = X W_V (rows are tokens)")


@exercise("7.2", "scaled dot-product attention backward", ids=("D2.F3",), kind="op", file=FILE,
          entry=("scaled_dot_product_attention_backward",))
def _(scaled_dot_product_attention_backward):
    hints = {"dq": "dQ = dS K / sqrt(d_k) with dS = A * (dA - rowsum(dA * A))",
             "dk": "dK = dS^T Q / sqrt(d_k): the transpose of dS, times Q",
             "dv": "dV = A^T G"}
    for i, g in enumerate(cases(12, seed=63)):
        q, k, v, mask = draw_attention(g, masked=i % 2 == 1)
        grad_out = g.standard_normal(q.shape[:-1] + v.shape[-1:])
        _, expected = _library_attention(q, k, v, mask, grad_out)
        got = scaled_dot_product_attention_backward(q.copy(), k.copy(), v.copy(), grad_out.copy(),
                                                    None if mask is None else mask.copy())
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailure("returns", f"expected a tuple (dq, dk, dv), got {type(got).__name__}")
        for name, a, e in zip(("dq", "dk", "dv"), got, expected, strict=True):
            assert_close(a, e, f"{name}, {_case(q, k, v, mask)}", hint=hints[name])


@exercise("7.3", "the causal mask and a masked softmax", ids=("D2.M2", "D2.F3"), kind="build", file=FILE,
          entry=("causal_mask", "masked_softmax"))
def _(causal_mask, masked_softmax):
    for n in range(1, 7):
        got = np.asarray(causal_mask(n))
        if got.shape == (n, n) and n > 1 and np.array_equal(got.astype(bool), np.triu(np.ones((n, n), bool))):
            raise CheckFailure(f"causal_mask({n})", "True above the diagonal: query i would see the keys j > i",
                               "mask on the wrong side: the future is hidden, the past is visible (j <= i)")
        expect_equal(got.shape, (n, n), f"causal_mask({n}) shape")
        expect_equal(got.astype(bool), np.tril(np.ones((n, n), bool)), f"causal_mask({n})",
                     hint="True where key j <= query i, the diagonal included")
    for i, g in enumerate(cases(8, seed=64)):
        shape = ((2, 3, 4), (1, 5, 5), (3, 1, 2), (2, 4, 6))[i % 4]
        scores = g.standard_normal(shape) * (300.0 if i >= 4 else 2.0)  # large scores: exp must not overflow
        mask = g.random(shape) < 0.6
        mask[..., 0, :] = False  # a padded query: nothing to attend to
        if i % 2:
            mask = mask[:1]  # a mask that broadcasts over the batch
        full = np.broadcast_to(mask, shape)
        s = np.where(full, scores, -np.inf)
        top = np.max(np.where(full, scores, -1e300), axis=-1, keepdims=True)
        e = np.where(full, np.exp(s - top), 0.0)
        total = e.sum(axis=-1, keepdims=True)
        expected = e / np.where(total > 0, total, 1.0)
        got = masked_softmax(scores.copy(), mask.copy())
        check = f"masked_softmax, scores {shape}, mask {mask.shape}" + (", scores up to 1e3" if i >= 4 else "")
        a = np.asarray(got, dtype=np.float64)
        if a.shape == shape and not np.isfinite(a[..., 0, :]).all():
            raise CheckFailure(check, "a fully masked row came out NaN",
                               "with -inf everywhere the softmax is 0/0: give such a row zero weights")
        if a.shape == shape and np.allclose(a[..., 0, :], 1.0 / shape[-1]):
            raise CheckFailure(check, "a fully masked row came out uniform (1/S each)",
                               "a large negative fill keeps a fully masked row uniform: it must be all zeros")
        assert_close(got, expected, check, hint="masked entries exactly 0, each row's kept entries sum to 1")


def _reference_split(x, h):
    B, T, E = x.shape
    return x.reshape(B, T, h, E // h).transpose(0, 2, 1, 3)


@exercise("7.4", "multi-head attention: split and merge the heads", ids=("D2.F4",), kind="build", file=FILE,
          entry=("split_heads", "merge_heads"))
def _(split_heads, merge_heads):
    from ... import nn

    for g in cases(6, seed=65):
        B, T, h, D = (int(n) for n in g.integers(1, 5, size=4))
        x = g.standard_normal((B, T, h * D))
        split = split_heads(x.copy(), h)
        assert_close(split, _reference_split(x, h), f"split_heads of {x.shape} into {h} heads",
                     hint="head i holds features i*D .. (i+1)*D - 1 of EVERY token; a plain reshape mixes tokens")
        y = g.standard_normal((B, h, T, D))
        assert_close(merge_heads(y.copy()), y.transpose(0, 2, 1, 3).reshape(B, T, h * D),
                     f"merge_heads of {y.shape}", hint="token t gets [head_1[t], ..., head_H[t]]")
    # the whole of D2.F4 with the student's split and merge, against nn.MultiheadAttention
    g = cases(1, seed=66)[0]
    B, T, S, E, h = 2, 3, 4, 6, 3
    mha = nn.MultiheadAttention(E, h, batch_first=True).double()
    for p in mha.parameters():
        p.data = g.standard_normal(p.shape) * 0.5
    query, memory = g.standard_normal((B, T, E)), g.standard_normal((B, S, E))
    expected = mha(tensor64(query, False), tensor64(memory, False), tensor64(memory, False))[0].numpy()
    W, b = mha.in_proj_weight.numpy(), mha.in_proj_bias.numpy()
    q, k, v = (a @ W[i * E:(i + 1) * E].T + b[i * E:(i + 1) * E] for i, a in enumerate((query, memory, memory)))
    heads = [split_heads(a, h) for a in (q, k, v)]
    o = _softmax(heads[0] @ np.swapaxes(heads[1], -1, -2) / np.sqrt(E // h)) @ heads[2]
    out = merge_heads(o) @ mha.out_proj.weight.numpy().T + mha.out_proj.bias.numpy()
    assert_close(out, expected, "multi-head cross-attention built from your split/merge vs nn.MultiheadAttention")


# ---- 7.5: the decoder layer, from sublayers the check builds --------------------------------------------------

def _layer_norm(w, b):
    def norm(x):
        mu = x.mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * w + b
    return norm


def _ffn_reference(x, W1, b1, W2, b2):
    return np.maximum(x @ W1 + b1, 0.0) @ W2 + b2


def _sublayers(g, E):
    W = [g.standard_normal((E, E)) / np.sqrt(E) for _ in range(6)]
    F = [g.standard_normal((E, 2 * E)) / np.sqrt(E), g.standard_normal(2 * E),
         g.standard_normal((2 * E, E)) / np.sqrt(2 * E), g.standard_normal(E)]

    def attend(h, m, mask=None):
        s = (h @ W[0]) @ np.swapaxes(m @ W[1], -1, -2) / np.sqrt(E)
        return _softmax(np.where(mask, s, -np.inf) if mask is not None else s) @ (m @ W[2])

    def self_attn(h):
        return attend(h, h, np.tril(np.ones((h.shape[-2],) * 2, bool)))

    def cross_attn(h, m):
        s = (h @ W[3]) @ np.swapaxes(m @ W[4], -1, -2) / np.sqrt(E)
        return _softmax(s) @ (m @ W[5])

    norms = [_layer_norm(1 + 0.5 * g.standard_normal(E), 0.5 * g.standard_normal(E)) for _ in range(3)]
    return self_attn, cross_attn, (lambda h: _ffn_reference(h, *F)), norms


@exercise("7.5", "erratum hunt: the decoder layer's order and residuals, the feed-forward block",
          ids=("D2.M2", "D2.F5", "D2.F6"), kind="erratum", file=FILE, entry=("feed_forward", "decoder_layer"))
def _(feed_forward, decoder_layer):
    for g in cases(4, seed=67):
        E, F = int(g.integers(2, 6)), int(g.integers(2, 7))
        x = g.standard_normal((int(g.integers(1, 3)), int(g.integers(1, 5)), E))
        W1, b1, W2, b2 = g.standard_normal((E, F)), g.standard_normal(F), g.standard_normal((F, E)), g.standard_normal(E)
        got = feed_forward(x.copy(), W1, b1, W2, b2)
        expected = _ffn_reference(x, W1, b1, W2, b2)
        inner = np.maximum(x @ W1 + b1, 0.0) @ W2
        if not close(got, expected) and (close(got, np.maximum(inner, 0.0) + b2) or
                                         close(got, np.maximum(inner + b2, 0.0))):
            raise CheckFailure(f"feed_forward, x {x.shape}", "a ReLU around the output",
                               "the FFN has one activation, between the two linear maps",
                               erratum="D2.F6: a second ReLU wrapped around the feed-forward output")
        assert_close(got, expected, f"feed_forward, x {x.shape}, W1 {W1.shape}", hint="W2 ReLU(W1 x + b1) + b2")
    for g in cases(4, seed=68):
        B, T, S, E = 2, int(g.integers(2, 5)), int(g.integers(1, 5)), 4
        sa, ca, ffn, (n1, n2, n3) = _sublayers(g, E)
        x, memory = g.standard_normal((B, T, E)), g.standard_normal((B, S, E))
        got = decoder_layer(x.copy(), memory.copy(), sa, ca, ffn, n1, n2, n3)
        h = n1(x + sa(x))
        h = n2(h + ca(h, memory))
        expected = n3(h + ffn(h))
        check = f"decoder_layer, x {x.shape}, memory {memory.shape}"
        if not close(got, expected):
            a = sa(n1(x + ca(x, memory)))
            h = n2(a + a)
            source = n3(h + ffn(h))
            h = n2(n1(x + ca(x, memory)) + sa(n1(x + ca(x, memory))))
            swapped = n3(h + ffn(h))
            a = sa(x)
            h = n2(n1(a + a) + ca(n1(a + a), memory))
            doubled = n3(h + ffn(h))
            for wrong, what in ((source, "cross-attention before self-attention, and a residual adding the "
                                         "self-attention output to itself, LN(2 SA(h))"),
                                (swapped, "cross-attention before self-attention"),
                                (doubled, "a residual adding the self-attention output to itself, LN(2 SA(x))")):
                if close(got, wrong, rtol=1e-4, atol=1e-6):
                    raise CheckFailure(check, "your layer is the source's", "self-attention, then cross-attention, "
                                       "then the FFN, each as norm(h + sublayer(h))", erratum=f"D2.M2: {what}")
        assert_close(got, expected, check, hint="norm1(x + self_attn(x)), then norm2(h + cross_attn(h, memory)), "
                                                "then norm3(h + ffn(h))")
