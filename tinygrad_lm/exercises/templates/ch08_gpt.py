"""Chapter 08 exercises: GPT, byte-pair encoding, sampling and the key-value cache (notebook 09_gpt).

Plain Python and NumPy (float64 arrays). Check one exercise with ``tinygrad-lm exercises check 8.1 --dir DIR``.
"""
import numpy as np


# ---- 8.1 one BPE merge (D4.M2) -------------------------------------------------------------------------------
def bpe_merge_step(word_freqs, new_id):
    """One step of byte-pair-encoding training.

    ``word_freqs``: dict mapping a word (a tuple of token ids) to how often it occurs in the corpus.
    Count every adjacent pair (a, b) over all words, each occurrence weighted by its word's frequency (in
    (7, 7, 7) the pair (7, 7) occurs twice). The most frequent pair wins; among equally frequent pairs the
    smallest tuple wins ((1, 5) before (2, 0)). Replace it in every word, left to right and without overlap
    ((7, 7, 7) -> (new_id, 7)), by ``new_id``.
    Returns (pair, new_word_freqs), or (None, word_freqs) when no word has two tokens.
    """
    ### BEGIN SOLUTION (8.1) hint: count pairs weighted by frequency, pick max by (count, then smallest pair), merge scanning left to right
    counts = {}
    for word, f in word_freqs.items():
        for pair in zip(word, word[1:], strict=False):
            counts[pair] = counts.get(pair, 0) + f
    if not counts:
        return None, word_freqs
    pair = min(counts, key=lambda p: (-counts[p], p))
    merged = {}
    for word, f in word_freqs.items():
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                out.append(new_id)
                i += 2
            else:
                out.append(word[i])
                i += 1
        merged[tuple(out)] = merged.get(tuple(out), 0) + f
    return pair, merged
    ### END SOLUTION


# ---- 8.2 top-k and top-p (nucleus) filtering (D4.M2, D2.F7) -------------------------------------------------------
def top_k_filter(logits, k):
    """logits (B, V) -> the same with every entry below the row's k-th largest set to -inf (ties with the k-th
    value all stay, so a row may keep more than k). k >= V keeps everything."""
    ### BEGIN SOLUTION (8.2) hint: find each row's k-th largest value and drop only what is strictly smaller
    k = min(k, logits.shape[-1])
    kth = np.sort(logits, axis=-1)[:, -k][:, None]
    return np.where(logits < kth, -np.inf, logits)
    ### END SOLUTION


def top_p_filter(logits, p):
    """Nucleus filtering, logits (B, V), 0 < p < 1: with probabilities softmax(logits) sorted in decreasing
    order, keep the fewest most likely tokens whose probabilities sum to >= p (the token that crosses p stays,
    so the most likely token always does); the others become -inf."""
    ### BEGIN SOLUTION (8.2) hint: a token stays when the probability mass ranked strictly above it is still below p
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs = e / e.sum(axis=-1, keepdims=True)
    order = np.argsort(-probs, axis=-1)
    ranked = np.take_along_axis(probs, order, axis=-1)
    before = np.cumsum(ranked, axis=-1) - ranked
    drop = np.zeros(logits.shape, dtype=bool)
    np.put_along_axis(drop, order, before >= p, axis=-1)
    return np.where(drop, -np.inf, logits)
    ### END SOLUTION


# ---- 8.3 one step with a key-value cache (D4.M2, D2.F3) -------------------------------------------------------------
def attend_with_cache(q, k, v, past_k, past_v):
    """Causal attention for n new tokens given the keys and values of the P tokens before them.

    q, k, v (B, H, n, D) for the new tokens, which sit at positions P .. P+n-1; past_k, past_v (B, H, P, D)
    (P may be 0). New token i attends to every cached key and to the new keys 0..i, with softmax(q k^T / sqrt(D)).
    Returns (out (B, H, n, D), keys (B, H, P+n, D), values (B, H, P+n, D)): the output equals the last n rows of
    causal attention over all P+n tokens, and keys / values are the cache for the next step.
    """
    ### BEGIN SOLUTION (8.3) hint: append the new keys and values first; new token i sits at position P+i, so its mask row is j <= P+i
    keys = np.concatenate([past_k, k], axis=2)
    values = np.concatenate([past_v, v], axis=2)
    n, S = q.shape[2], keys.shape[2]
    scores = q @ np.swapaxes(keys, -1, -2) / np.sqrt(q.shape[-1])
    scores = np.where(np.tril(np.ones((n, S), dtype=bool), k=S - n), scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)) @ values, keys, values
    ### END SOLUTION


# ---- 8.4 LayerNorm forward and backward (D2.M1; GPT's ln_1, ln_2, ln_f) -----------------------------------------------
def layer_norm(x, weight, bias, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis, with the biased variance (divide by E).
    x (..., E), weight and bias (E,)."""
    ### BEGIN SOLUTION (8.4) hint: the variance divides by E, not E - 1 (as PyTorch)
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * weight + bias
    ### END SOLUTION


def layer_norm_backward(x, weight, grad_out, eps=1e-5):
    """The gradients (dx, dweight, dbias) of sum(grad_out * layer_norm(x, weight, bias, eps)).
    dweight and dbias (E,) sum over every leading axis."""
    ### BEGIN SOLUTION (8.4) hint: x_hat depends on x through the mean AND the variance: dx = (g - mean(g) - x_hat mean(g x_hat)) / std, with g = grad_out * weight
    mu = x.mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    x_hat = (x - mu) * rstd
    g = grad_out * weight
    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    lead = tuple(range(x.ndim - 1))
    return dx, (grad_out * x_hat).sum(axis=lead), grad_out.sum(axis=lead)
    ### END SOLUTION
