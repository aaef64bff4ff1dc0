"""Softmax attention (D0.F3, D2.F1-F3, D4.F2): one fused Function with a hand-written backward,
and the document's formulas as small named functions a reader can find.

Row convention throughout: a sequence is a (length, features) matrix X whose rows are tokens, so
the projections are Q = X W_Q (the document's column form Q = W_Q X is its transpose).
"""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor
from .elementwise import unbroadcast


class ScaledDotProductAttention(Function):
    """D2.F3 / D4.F2  O = softmax(scale Q K^T + M) V  over the last two axes, batched over the rest.

    Forward and backward are the fused kernels ``attention_forward`` / ``attention_backward``
    (see tinygrad_lm/kernels/attention.py for both formulas); the forward keeps P = softmax(...).
    ``mask``: boolean (True = takes part) or additive, broadcastable to (..., L, S). An additive mask
    is differentiated like q, k and v: it is added after the scale, so dL/dM = dL/dS, the gradient of
    the scores, summed over the axes it was broadcast along. ``keep``: the dropout keep-mask scaled by
    1/(1-p), or None.
    """

    saves_inputs = (0, 1, 2)
    operands = ("query", "key", "value", "attn_mask")

    def forward(self, q, k, v, mask=None, scale=1.0, is_causal=False, keep=None):
        m = xp(q)
        if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
            raise ValueError(f"attention: query, key and value need shape (..., length, features), got "
                             f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
        if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
            raise ValueError(f"attention: query {tuple(q.shape)} and key {tuple(k.shape)} must share the last size, "
                             f"key and value {tuple(v.shape)} the length")
        batch = q.shape[:-2]
        try:  # (broadcast_shapes and broadcast_to cost ~2 and ~15 us a call: a token's step in generate)
            if not batch == k.shape[:-2] == v.shape[:-2]:
                batch = m.broadcast_shapes(batch, k.shape[:-2], v.shape[:-2])
        except ValueError:
            raise ValueError(f"attention: batch shapes of query {tuple(q.shape)}, key {tuple(k.shape)} and value "
                             f"{tuple(v.shape)} cannot be broadcast") from None
        L, S = q.shape[-2], k.shape[-2]
        self.shapes, self.batch, self.scale, self.causal = (q.shape, k.shape, v.shape), batch, scale, is_causal
        n = math.prod(batch)

        def flat(a):
            if a.shape[:-2] != batch:
                a = m.broadcast_to(a, batch + a.shape[-2:])
            return a.reshape((n,) + a.shape[-2:])

        self.q, self.k, self.v = flat(q), flat(k), flat(v)
        if mask is not None:
            self.mask_shape, self.mask_dtype = mask.shape, mask.dtype
            mask = additive_mask(mask, q.dtype, m)
            if mask.ndim < 2:
                mask = mask.reshape((1,) * (2 - mask.ndim) + mask.shape)
            try:
                full = m.broadcast_shapes(mask.shape, batch + (L, S))
            except ValueError:
                full = None
            if full != batch + (L, S):
                raise ValueError(f"attention: mask of shape {tuple(mask.shape)} does not broadcast to the scores' "
                                 f"shape {batch + (L, S)}")
            lead = mask.shape[:-2]
            if all(d == 1 for d in lead):  # one (L, S) mask shared by every batch-head
                mask = m.broadcast_to(mask.reshape(mask.shape[-2:]), (L, S))[None]
            else:
                mask = flat(m.broadcast_to(mask, lead + (L, S)))
        self.keep = None if keep is None else keep.reshape(n, L, S)
        out, self.p = backend.kernel("attention_forward", backend.device_of(q))(
            self.q, self.k, self.v, mask, scale, is_causal, self.keep)
        return out.reshape(batch + out.shape[-2:])

    def backward(self, g):
        n = self.q.shape[0]
        mask_grad = self.needs_input_grad[3]
        dq, dk, dv, ds = backend.kernel("attention_backward", backend.device_of(g))(
            self.q, self.k, self.v, self.p, self.keep, self.scale, g.reshape((n,) + g.shape[-2:]), self.causal,
            mask_grad)
        grads = [unbroadcast(d.reshape(self.batch + d.shape[-2:]), s) if need else None
                 for d, s, need in zip((dq, dk, dv), self.shapes, self.needs_input_grad[:3], strict=True)]
        if mask_grad:
            grads.append(unbroadcast(ds.reshape(self.batch + ds.shape[-2:]), self.mask_shape).astype(
                self.mask_dtype, copy=False))
        return tuple(grads)


def additive_mask(attn_mask, dtype, xp_module):
    """A boolean mask (True = takes part, as PyTorch) as 0 / -inf; a float mask is added as it is."""
    if attn_mask.dtype == bool:
        return xp_module.where(attn_mask, dtype.type(0), dtype.type(-math.inf))
    return attn_mask.astype(dtype, copy=False)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(Q K^T / sqrt(E) + mask) V with torch.nn.functional's signature and semantics.

    ``attn_mask``: boolean (True = the query may attend to that key) or additive float, broadcastable
    to (..., L, S); ``is_causal``: query i sees keys 0..i (the top-left triangle when L != S);
    ``dropout_p``: dropout on the attention weights (always applied, as in PyTorch: pass 0.0 in eval);
    ``scale``: defaults to 1/sqrt(E). A query whose every key is masked gets a zero output.
    """
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}")
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2 or t.dtype.kind != "f":
            raise ValueError(f"scaled_dot_product_attention: {name} must be a floating-point tensor of shape "
                             f"(..., length, features), got {getattr(t, 'shape', type(t).__name__)} "
                             f"{getattr(t, 'dtype', '')}")
    if query.shape[-1] == 0 and scale is None:
        raise ValueError(f"scaled_dot_product_attention: query of shape {query.shape} has no features to scale by")
    m = xp(query.data)
    if attn_mask is not None and not isinstance(attn_mask, Tensor):
        attn_mask = m.asarray(attn_mask)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    keep = None
    if dropout_p > 0.0:
        batch = m.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
        shape = batch + (query.shape[-2], key.shape[-2])
        keep = ((backend.random(shape, query.dtype, query.device) >= dropout_p)
                * query.dtype.type(1.0 / (1.0 - dropout_p)) if dropout_p < 1.0
                else m.zeros(shape, query.dtype))
    return ScaledDotProductAttention.apply(query, key, value, attn_mask, scale=scale, is_causal=is_causal,
                                           keep=keep)


# ---------------------------------------------------------------- the formulas, by inventory ID
def l2_normalize(v, dim=-1, eps=1e-12):
    """D2.F1  v / ||v||_2 along ``dim`` (the norm clamped at ``eps``, as F.normalize). Composite."""
    return v / (v * v).sum(dim=dim, keepdim=True).sqrt().clip(min=eps)


def projections(X, W_Q, W_K, W_V):
    """D2.F2  Q = X W_Q, K = X W_K, V = X W_V (rows are tokens). Composite."""
    return X @ W_Q, X @ W_K, X @ W_V


def attention_weights(Q, K, mask=None):
    """D2.F3  A = softmax(Q K^T / sqrt(d_k) + mask), the attention map (rows sum to 1). Composite."""
    scores = (Q @ K.mT) * (1.0 / math.sqrt(Q.shape[-1]))
    if mask is not None:
        m = xp(scores.data)
        scores = scores + Tensor._wrap(additive_mask(mask.data if isinstance(mask, Tensor) else m.asarray(mask),
                                                     scores.dtype, m))
    return scores.softmax(dim=-1)


def attention(Q, K, V, mask=None):
    """D4.F2 / D2.F3  Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V, through the fused op."""
    return scaled_dot_product_attention(Q, K, V, attn_mask=mask)


def self_attention(X, W_Q, W_K, W_V, mask=None):
    """D0.F3  O = softmax(Q K^T / sqrt(d_k)) V with Q, K, V = X W_Q, X W_K, X W_V.

    The source document writes O = A X W_V with A = softmax(Q) (no K^T, no scale): see the erratum.
    """
    return attention(*projections(X, W_Q, W_K, W_V), mask=mask)
