"""Chapter 06 exercises: the RNN encoder-decoder with Luong attention (notebook 07_seq2seq_attention).

Plain NumPy, float64. Decoder states h_t (B, T, H), encoder states hbar_s (B, S, H), batch first.
Check one exercise with ``tinygrad-lm exercises check 6.1 --dir DIR``.
"""
import numpy as np


# ---- 6.1 Luong's three scores (D1.T3) ----------------------------------------------------------------------------
def dot_score(h_t, h_s):
    """score(h_t, hbar_s) = h_t^T hbar_s for every decoder step t and source position s: (B, T, S)."""
    ### BEGIN SOLUTION (6.1) hint: one batched product of h_t with the transposed source states
    return h_t @ np.swapaxes(h_s, 1, 2)
    ### END SOLUTION


def general_score(h_t, h_s, W_a):
    """score(h_t, hbar_s) = h_t^T W_a hbar_s with W_a (H, H): (B, T, S)."""
    ### BEGIN SOLUTION (6.1) hint: W_a acts on the SOURCE state: h_t . (W_a hbar_s)
    return h_t @ np.swapaxes(h_s @ W_a.T, 1, 2)
    ### END SOLUTION


def concat_score(h_t, h_s, W_a, v_a):
    """score(h_t, hbar_s) = v_a^T tanh(W_a [h_t; hbar_s]) with W_a (H, 2H) acting on the concatenation (decoder
    state first), v_a (H,): (B, T, S)."""
    ### BEGIN SOLUTION (6.1) hint: W_a [h_t; hbar_s] = W_a[:, :H] h_t + W_a[:, H:] hbar_s; broadcast over (t, s)
    H = h_t.shape[-1]
    q = (h_t @ W_a[:, :H].T)[:, :, None, :]
    k = (h_s @ W_a[:, H:].T)[:, None, :, :]
    return np.tanh(q + k) @ v_a
    ### END SOLUTION


# ---- 6.2 the attention weights, the context and the attentional state (D1.T3) ---------------------------------------
def luong_attention(scores, h_s, src_mask):
    """a_t = softmax over the source positions of the scores (B, T, S), where the boolean ``src_mask`` (B, S) is
    True on real source words (padding gets weight 0); c_t = sum_s a_ts hbar_s. Returns (context (B, T, H),
    weights (B, T, S)). Every sentence has at least one real word."""
    ### BEGIN SOLUTION (6.2) hint: mask the padded SOURCE positions (the last axis) to -inf, softmax over that axis
    s = np.where(src_mask[:, None, :], scores, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    weights = e / e.sum(axis=-1, keepdims=True)
    return weights @ h_s, weights
    ### END SOLUTION


def attentional_hidden(context, h_t, W_c):
    """htilde_t = tanh(W_c [c_t; h_t]) with W_c (H, 2H), the context first: (B, T, H)."""
    ### BEGIN SOLUTION (6.2) hint: concatenate along the features, context first
    return np.tanh(np.concatenate([context, h_t], axis=-1) @ W_c.T)
    ### END SOLUTION


# ---- 6.3 teacher forcing: the decoder's inputs and targets (D1.T3, D2.M3) --------------------------------------------
def teacher_forcing(targets, bos, eos, pad):
    """``targets``: a list of target sentences (lists of word ids, without bos / eos). Returns (tgt_in, tgt_out),
    int64 arrays (N, L + 1) with L the longest sentence: row i of tgt_in is [bos, y_1 .. y_n], of tgt_out
    [y_1 .. y_n, eos] (the word to predict after each input word), both padded on the right with ``pad``."""
    ### BEGIN SOLUTION (6.3) hint: the decoder reads the gold previous word; the target at each step is the next word
    T = max(len(y) for y in targets) + 1
    tgt_in = np.full((len(targets), T), pad, dtype=np.int64)
    tgt_out = np.full((len(targets), T), pad, dtype=np.int64)
    for i, y in enumerate(targets):
        tgt_in[i, :len(y) + 1] = [bos, *y]
        tgt_out[i, :len(y) + 1] = [*y, eos]
    return tgt_in, tgt_out
    ### END SOLUTION


# ---- 6.4 the sequence loss over real words (D1.F2, D1.T3) ------------------------------------------------------------
def sequence_loss(logits, tgt_out, pad):
    """Mean cross-entropy -log softmax(logits)[target] over the real target words: logits (B, T, V), tgt_out (B, T)
    int; positions where tgt_out == pad take no part (neither in the sum nor in the count)."""
    ### BEGIN SOLUTION (6.4) hint: average over the real words of the whole batch, not over every position
    z = logits - logits.max(axis=-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, tgt_out[..., None], axis=-1)[..., 0]
    real = tgt_out != pad
    return float(nll[real].sum() / real.sum())
    ### END SOLUTION
