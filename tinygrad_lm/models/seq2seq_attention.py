"""D1.T3  Attention-based translation: a GRU encoder-decoder with Luong attention (Luong et al. 2015).

Encoder: source embeddings -> GRU -> hidden states hbar_s (B, S, H). Decoder: target embeddings
(teacher forcing: the gold previous word) -> GRU started from the encoder's last state -> h_t.
Every decoder state attends over the source (global attention, no input feeding, so the decoder
GRU runs over the whole target at once in training):

    a_t = softmax_s(score(h_t, hbar_s))      (padded source positions masked to -inf)
    c_t = sum_s a_ts hbar_s
    htilde_t = tanh(W_c [c_t; h_t])
    p(y_t | y_<t, x) = softmax(W_s htilde_t)

Its training on a generated task is ``tinygrad_lm.recipes.seq2seq_attention``.
"""
from __future__ import annotations

import numpy as np

from .. import nn, ops
from ..autograd import no_grad
from ..data.translation import BOS, EOS, PAD


# ---------------------------------------------------------------- the three score functions
class DotScore(nn.Module):
    """score(h_t, hbar_s) = h_t^T hbar_s.  h_t (B, T, H), hbar_s (B, S, H) -> (B, T, S)."""

    def __init__(self, hidden_size: int):
        super().__init__()

    def forward(self, h_t, h_s):
        return ops.matmul(h_t, ops.transpose(h_s, 1, 2))


class GeneralScore(nn.Module):
    """score(h_t, hbar_s) = h_t^T W_a hbar_s, W_a (H, H) stored as ``W_a.weight`` (no bias)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.W_a = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, h_t, h_s):
        return ops.matmul(h_t, ops.transpose(self.W_a(h_s), 1, 2))


class ConcatScore(nn.Module):
    """score(h_t, hbar_s) = v_a^T tanh(W_a [h_t; hbar_s]), W_a (H, 2H), v_a (H,) as ``v_a.weight`` (1, H).

    W_a [h_t; hbar_s] = W_a[:, :H] h_t + W_a[:, H:] hbar_s, so the two halves are applied once per
    state and broadcast to (B, T, S, H) instead of concatenating T * S pairs (same numbers)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.W_a = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        self.v_a = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, h_t, h_s):
        H, W = self.hidden_size, self.W_a.weight
        q = ops.unsqueeze(ops.linear(h_t, W[:, :H]), 2)   # (B, T, 1, H)
        k = ops.unsqueeze(ops.linear(h_s, W[:, H:]), 1)   # (B, 1, S, H)
        return ops.squeeze(self.v_a(ops.tanh(q + k)), -1)


SCORES = {"dot": DotScore, "general": GeneralScore, "concat": ConcatScore}


def luong_attention(scores, h_s, src_mask):
    """a_t = softmax(score) over source positions where ``src_mask`` (B, S) is True; c_t = sum_s a_ts hbar_s.
    Returns (context (B, T, H), weights (B, T, S)). Composite."""
    keep = np.asarray(src_mask, dtype=bool)[:, None, :]
    weights = ops.softmax(ops.masked_fill(scores, ~keep, float("-inf")), dim=-1)
    return ops.matmul(weights, h_s), weights


# ---------------------------------------------------------------- the model
class Seq2SeqAttention(nn.Module):
    """Embedding + GRU encoder, Embedding + GRU decoder, Luong attention with ``score`` in
    {'dot', 'general', 'concat'}, W_c (H, 2H) without bias, W_s (V, H) with bias."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embedding_dim: int = 32, hidden_size: int = 64,
                 score: str = "general"):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"Seq2SeqAttention: score must be one of {tuple(SCORES)}, got {score!r}")
        self.score_name = score
        self.src_embedding = nn.Embedding(src_vocab_size, embedding_dim, padding_idx=PAD)
        self.encoder = nn.GRU(embedding_dim, hidden_size, batch_first=True)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embedding_dim, padding_idx=PAD)
        self.decoder = nn.GRU(embedding_dim, hidden_size, batch_first=True)
        self.score = SCORES[score](hidden_size)
        self.W_c = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        self.W_s = nn.Linear(hidden_size, tgt_vocab_size)

    def encode(self, src, src_lengths):
        """hbar (B, S, H) and the last real encoder state (1, B, H), which starts the decoder."""
        return self.encoder(self.src_embedding(src), lengths=np.asarray(src_lengths))

    def attend(self, h_t, h_s, src_mask):
        """Logits W_s htilde_t (B, T, V) and the attention weights (B, T, S)."""
        context, weights = luong_attention(self.score(h_t, h_s), h_s, src_mask)
        h_tilde = ops.tanh(self.W_c(ops.cat([context, h_t], dim=-1)))
        return self.W_s(h_tilde), weights

    def forward(self, src, src_lengths, tgt_in):
        """Teacher forcing: logits (B, T, V) for tgt_out given the gold tgt_in, and the attention maps."""
        h_s, h = self.encode(src, src_lengths)
        h_t, _ = self.decoder(self.tgt_embedding(tgt_in), h)
        return self.attend(h_t, h_s, src_mask(src_lengths, h_s.shape[1]))

    def greedy_decode(self, src, src_lengths, max_len: int):
        """Feed back the arg-max word from <bos> for ``max_len`` steps (or until every row has <eos>).
        Returns ids (B, <=max_len) and attention maps (B, <=max_len, S) as arrays."""
        with no_grad():
            h_s, h = self.encode(src, src_lengths)
            mask = src_mask(src_lengths, h_s.shape[1])
            word = np.full((len(mask), 1), BOS, np.int64)
            ids, maps = [], []
            for _ in range(max_len):
                h_t, h = self.decoder(self.tgt_embedding(word), h)
                logits, weights = self.attend(h_t, h_s, mask)
                word = np.asarray(ops.argmax(logits, dim=-1).numpy(), np.int64)
                ids.append(word[:, 0])
                maps.append(weights.numpy()[:, 0])
                if (np.stack(ids, 1) == EOS).any(1).all():
                    break
        return np.stack(ids, 1), np.stack(maps, 1)


def src_mask(src_lengths, S):
    """(B, S) True on real source words."""
    return np.arange(S)[None, :] < np.asarray(src_lengths).reshape(-1, 1)

