"""Chapter 07 exercises: attention and the Transformer (notebook 08_attention_transformer).

Plain NumPy, float64 arrays. Rows are tokens: a sequence is an (length, features) matrix, so the
projections are Q = X W_Q (the source's column form W_Q X, transposed). Leading axes are batch axes.
Check one exercise with ``tinygrad-lm exercises check 7.1 --dir DIR`` (or ``check --all``).
"""
import numpy as np


def softmax(x, axis=-1):
    """Given: a numerically stable softmax along ``axis``."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---- 7.1 scaled dot-product attention (D2.F3, D4.F2; self-attention D0.F3, D2.F2) --------------------------
def scaled_dot_product_attention(q, k, v, mask=None):
    """O = softmax(Q K^T / sqrt(d_k) + M) V over the last two axes.

    q (..., L, d_k), k (..., S, d_k), v (..., S, d_v), with the same leading (batch) axes.
    ``mask``: None, or a boolean array broadcastable to (..., L, S), True where query i may attend to key j
    (M = 0 there, -inf elsewhere); every query may attend to at least one key. Returns O (..., L, d_v).
    """
    ### BEGIN SOLUTION (7.1) hint: scores = q @ k^T scaled by 1/sqrt(d_k) BEFORE the softmax (over the keys' axis), then @ v
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return softmax(scores, axis=-1) @ v
    ### END SOLUTION


def self_attention(X, W_Q, W_K, W_V, mask=None):
    """D0.F3: Q = X W_Q, K = X W_K, V = X W_V, O = softmax(Q K^T / sqrt(d_k) + M) V.

    X (..., n, d_model), W_Q and W_K (d_model, d_k), W_V (d_model, d_v); ``mask`` as above. Returns (..., n, d_v).
    """
    ### BEGIN SOLUTION (7.1) hint: project with X @ W (rows are tokens), then call your scaled_dot_product_attention
    return scaled_dot_product_attention(X @ W_Q, X @ W_K, X @ W_V, mask)
    ### END SOLUTION


# ---- 7.2 attention backward (D2.F3) ----------------------------------------------------------------------------
def scaled_dot_product_attention_backward(q, k, v, grad_out, mask=None):
    """The gradients (dq, dk, dv) of sum(grad_out * O) for O = scaled_dot_product_attention(q, k, v, mask).

    Shapes as in 7.1; grad_out has O's shape (..., L, d_v); each gradient has its input's shape.
    With A = softmax(S), S = Q K^T / sqrt(d_k) + M: dV = A^T G, dA = G V^T, dS = A * (dA - rowsum(dA * A)),
    dQ = dS K / sqrt(d_k), dK = dS^T Q / sqrt(d_k).
    """
    ### BEGIN SOLUTION (7.2) hint: the softmax backward subtracts each row's sum of dA * A; the 1/sqrt(d_k) reaches dQ and dK
    scale = 1.0 / np.sqrt(q.shape[-1])
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    a = softmax(scores, axis=-1)
    dv = np.swapaxes(a, -1, -2) @ grad_out
    da = grad_out @ np.swapaxes(v, -1, -2)
    ds = a * (da - (da * a).sum(axis=-1, keepdims=True))
    dq = ds @ k * scale
    dk = np.swapaxes(ds, -1, -2) @ q * scale
    return dq, dk, dv
    ### END SOLUTION


# ---- 7.3 the causal mask and a masked softmax (D2.M2's masked self-attention) ----------------------------------
def causal_mask(length):
    """A boolean (length, length) mask, True where query i may attend to key j: exactly when j <= i."""
    ### BEGIN SOLUTION (7.3) hint: a token sees itself and the tokens before it, never the future
    return np.tril(np.ones((length, length), dtype=bool))
    ### END SOLUTION


def masked_softmax(scores, mask):
    """softmax over the last axis of ``scores`` (..., L, S) taken only over the entries where the boolean ``mask``
    (broadcastable to scores) is True; masked entries get weight exactly 0. A row whose every entry is masked
    (a padded query) gets all-zero weights: not NaN, not uniform."""
    ### BEGIN SOLUTION (7.3) hint: -inf turns a fully masked row into NaN, a large negative number into a uniform row; neither is zero
    mask = np.broadcast_to(mask, scores.shape)
    safe = np.where(mask, scores, -np.inf)
    top = safe.max(axis=-1, keepdims=True)
    e = np.where(mask, np.exp(safe - np.where(np.isfinite(top), top, 0.0)), 0.0)
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1.0)
    ### END SOLUTION


# ---- 7.4 multi-head attention: split and merge heads (D2.F4) ---------------------------------------------------
def split_heads(x, num_heads):
    """(B, T, E) -> (B, num_heads, T, E // num_heads); head h holds features h*D .. (h+1)*D - 1 of every token
    (D = E // num_heads), the layout of torch.nn.MultiheadAttention."""
    ### BEGIN SOLUTION (7.4) hint: reshape to (B, T, H, D) first, then move the head axis in front of the time axis
    B, T, E = x.shape
    return x.reshape(B, T, num_heads, E // num_heads).transpose(0, 2, 1, 3)
    ### END SOLUTION


def merge_heads(x):
    """(B, H, T, D) -> (B, T, H*D), the inverse of split_heads: Concat(head_1, ..., head_H) along the features."""
    ### BEGIN SOLUTION (7.4) hint: undo split_heads step by step, in the reverse order
    B, H, T, D = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * D)
    ### END SOLUTION


# ---- 7.5 erratum hunt: the decoder layer (D2.M2, D2.F5) and its feed-forward block (D2.F6) -----------------------
# The source's decoder layer, transcribed in our own names; it is wrong in more than one way:
#
#     h = norm1(x + cross_attn(x, memory))
#     a = self_attn(h)
#     h = norm2(a + a)
#     return norm3(h + ffn(h))
#
# and its feed-forward block is  relu(relu(x W1 + b1) W2) + b2.
def feed_forward(x, W1, b1, W2, b2):
    """D2.F6, position-wise: x (..., E), W1 (E, F), b1 (F,), W2 (F, E), b2 (E,) -> (..., E)."""
    ### BEGIN SOLUTION (7.5) hint: one activation, between the two linear maps
    return np.maximum(x @ W1 + b1, 0.0) @ W2 + b2
    ### END SOLUTION


def decoder_layer(x, memory, self_attn, cross_attn, ffn, norm1, norm2, norm3):
    """D2.M2, post-norm: the decoder's layer from its sublayers (given as functions; dropout is off).

    ``self_attn(h)`` is masked (causal) self-attention, ``cross_attn(h, memory)`` attends from h to the encoder's
    output (D2.F5), ``ffn(h)`` the feed-forward block, ``norm1..3`` three LayerNorms (each with its own weights).
    x (B, T, E), memory (B, S, E) -> (B, T, E).
    """
    ### BEGIN SOLUTION (7.5) hint: a decoder first attends to its own prefix, then to the encoder; every residual is h + sublayer(h)
    h = norm1(x + self_attn(x))
    h = norm2(h + cross_attn(h, memory))
    return norm3(h + ffn(h))
    ### END SOLUTION
