"""Checks of chapter 06 (Luong attention): the scores against ``models.seq2seq_attention``'s modules, the context
and attentional state against the model's ``attend``, teacher forcing against the generated translation task, the
loss against the library's cross-entropy with ``ignore_index``."""
from __future__ import annotations

import numpy as np

from ..core import CheckFailure, assert_close, cases, close, exercise, expect_equal, tensor64

FILE = "ch06_seq2seq_attention"


def _states(g):
    B, T, S, H = (int(n) for n in g.integers(1, 5, size=4))
    return g.standard_normal((B, T, H)), g.standard_normal((B, S, H)), H


def _module(cls, H, g):
    m = cls(H).double()
    for p in m.parameters():
        p.data = g.standard_normal(p.shape)
    return m


@exercise("6.1", "Luong's three scores: dot, general, concat", ids=("D1.T3",), kind="build", file=FILE,
          entry=("dot_score", "general_score", "concat_score"))
def _(dot_score, general_score, concat_score):
    from ...models.seq2seq_attention import ConcatScore, DotScore, GeneralScore

    for g in cases(6, seed=81):
        h_t, h_s, H = _states(g)
        t, s = tensor64(h_t, False), tensor64(h_s, False)
        case = f"h_t {h_t.shape}, hbar_s {h_s.shape}"
        assert_close(dot_score(h_t.copy(), h_s.copy()), DotScore(H)(t, s).numpy(), f"dot, {case}",
                     hint="(B, T, H) @ (B, H, S): no scale in Luong's dot score")
        general = _module(GeneralScore, H, g)
        W_a = general.W_a.weight.numpy()
        got = general_score(h_t.copy(), h_s.copy(), W_a.copy())
        expected = general(t, s).numpy()
        if H > 1 and not close(got, expected) and close(got, h_t @ W_a.T @ np.swapaxes(h_s, 1, 2)):
            raise CheckFailure(f"general, {case}", "you computed h_t^T W_a^T hbar_s", "a missing transpose: "
                               "W_a multiplies the source state, h_t . (W_a hbar_s)")
        assert_close(got, expected, f"general, {case}", hint="h_t^T W_a hbar_s")
        concat = _module(ConcatScore, H, g)
        W_a, v_a = concat.W_a.weight.numpy(), concat.v_a.weight.numpy()[0]
        assert_close(concat_score(h_t.copy(), h_s.copy(), W_a.copy(), v_a.copy()), concat(t, s).numpy(),
                     f"concat, {case}", hint="[h_t; hbar_s]: the decoder state's half of W_a is W_a[:, :H]")


@exercise("6.2", "attention weights over the source, context, attentional state", ids=("D1.T3",), kind="build",
          file=FILE, entry=("luong_attention", "attentional_hidden"))
def _(luong_attention, attentional_hidden):
    from ...models.seq2seq_attention import luong_attention as reference

    for g in cases(6, seed=82):
        h_t, h_s, H = _states(g)
        B, T, S = h_t.shape[0], h_t.shape[1], h_s.shape[1]
        lengths = g.integers(1, S + 1, size=B)
        lengths[0] = S if S > 1 else 1
        mask = np.arange(S)[None, :] < lengths[:, None]
        scores = g.standard_normal((B, T, S)) * 2
        context, weights = (r.numpy() for r in reference(tensor64(scores, False), tensor64(h_s, False), mask))
        got = luong_attention(scores.copy(), h_s.copy(), mask.copy())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailure("returns", f"expected (context, weights), got {type(got).__name__}")
        case = f"scores {scores.shape}, source lengths {lengths.tolist()} of {S}"
        assert_close(got[1], weights, f"weights, {case}",
                     hint="softmax over the source positions (last axis); padded positions get exactly 0")
        assert_close(got[0], context, f"context, {case}", hint="c_t = sum_s a_ts hbar_s")
        W_c = g.standard_normal((H, 2 * H))
        expected = np.tanh(np.concatenate([context, h_t], -1) @ W_c.T)
        assert_close(attentional_hidden(context.copy(), h_t.copy(), W_c.copy()), expected,
                     f"attentional_hidden, context {context.shape}, W_c {W_c.shape}",
                     hint="tanh(W_c [c_t; h_t]): the context comes first")


@exercise("6.3", "teacher forcing: decoder inputs and targets", ids=("D1.T3", "D2.M3"), kind="build", file=FILE,
          entry=("teacher_forcing",))
def _(teacher_forcing):
    from ...data.translation import BOS, EOS, PAD, ReverseDictionaryTask

    hint = "tgt_in = [bos, y...], tgt_out = [y..., eos]: at each step the decoder reads a word and predicts the next"
    got = teacher_forcing([[5, 6, 7]], 1, 2, 0)
    expect_equal(np.asarray(got[0]).tolist(), [[1, 5, 6, 7]], "tgt_in of one sentence [5, 6, 7]", hint)
    expect_equal(np.asarray(got[1]).tolist(), [[5, 6, 7, 2]], "tgt_out of one sentence [5, 6, 7]", hint)
    for seed in range(3):
        task = ReverseDictionaryTask(12, 1, 5, seed=seed)
        batch = task.sample(int(3 + seed), seed=seed)
        ys = [row[:list(row).index(EOS)].tolist() for row in batch.tgt_out]
        T = max(len(y) for y in ys) + 1
        tgt_in, tgt_out = teacher_forcing(ys, BOS, EOS, PAD)
        expect_equal(np.asarray(tgt_in), batch.tgt_in[:, :T], f"tgt_in for sentences {ys}", hint)
        expect_equal(np.asarray(tgt_out), batch.tgt_out[:, :T], f"tgt_out for sentences {ys}", hint)


@exercise("6.4", "the sequence loss over real target words", ids=("D1.F2", "D1.T3"), kind="build", file=FILE,
          entry=("sequence_loss",))
def _(sequence_loss):
    from ... import ops

    for g in cases(6, seed=84):
        B, T, V = int(g.integers(1, 4)), int(g.integers(2, 6)), int(g.integers(3, 7))
        logits = g.standard_normal((B, T, V)) * 3
        pad = int(g.integers(V))
        tgt = g.integers(V, size=(B, T))
        lengths = g.integers(1, T + 1, size=B)
        tgt = np.where(np.arange(T)[None, :] < lengths[:, None], np.where(tgt == pad, (pad + 1) % V, tgt), pad)
        expected = ops.cross_entropy(tensor64(logits.reshape(-1, V), False), tgt.reshape(-1), ignore_index=pad).item()
        assert_close(sequence_loss(logits.copy(), tgt.copy(), pad), expected,
                     f"logits {logits.shape}, target lengths {lengths.tolist()} of {T}, pad id {pad}",
                     hint="sum the real words' -log p and divide by the number of real words (pad ignored)")
