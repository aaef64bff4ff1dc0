"""Transformer layers with PyTorch's names, parameter names, masks and default init, so a
``torch.nn`` state_dict loads into them (D2.F4-F6, D2.M1, D2.M2).

Mask conventions follow PyTorch: for these modules a boolean ``attn_mask`` / ``key_padding_mask``
marks with True the positions that may NOT be attended to (the opposite of
F.scaled_dot_product_attention's boolean mask); a float mask is added to the scores.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from .. import backend, ops
from ..ops.attention import scaled_dot_product_attention
from ..ops.norm import layer_norm
from ..tensor import Tensor, get_default_dtype
from . import init
from .layers import Dropout, Embedding, Linear, ModuleList, _empty, check_input, check_probability, check_size
from .module import Module


class LayerNorm(Module):
    """y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias over the trailing ``normalized_shape``;
    weight = 1, bias = 0 at start, as torch.nn.LayerNorm."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True):
        super().__init__()
        shape = ((normalized_shape,) if isinstance(normalized_shape, int) else
                 tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list)) else ())
        if not shape or any(not isinstance(n, int) or n <= 0 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive ints, got {normalized_shape!r}")
        if not (isinstance(eps, (int, float)) and eps > 0):  # (a nan eps fails eps > 0 too)
            raise ValueError(f"LayerNorm: eps must be positive, got {eps!r}")
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.register_parameter("weight", _empty(*shape) if elementwise_affine else None)
        self.register_parameter("bias", _empty(*shape) if elementwise_affine and bias else None)
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        if self.weight is not None:
            check_input("LayerNorm", x, self.weight)
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


def sinusoidal_table(max_len: int, d_model: int, dtype=None):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/d))."""
    pos = np.arange(max_len)[:, None]
    freq = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(pos * freq)
    pe[:, 1::2] = np.cos(pos * freq[: d_model // 2])
    return pe.astype(dtype or get_default_dtype())


class SinusoidalPositionalEncoding(Module):
    """x + PE[:length] (fixed sinusoids, a non-persistent buffer), then dropout."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0, batch_first: bool = True):
        super().__init__()
        check_size("SinusoidalPositionalEncoding", "d_model", d_model)
        check_size("SinusoidalPositionalEncoding", "max_len", max_len)
        self.batch_first, self.dropout = batch_first, Dropout(dropout)
        self.register_buffer("pe", Tensor(sinusoidal_table(max_len, d_model)), persistent=False)

    def forward(self, x):
        L = _sequence_length(self, x, self.pe.shape[1])
        if x.dtype.kind != "f":
            raise TypeError(f"SinusoidalPositionalEncoding: input must be floating point, got {x.dtype}")
        if L > self.pe.shape[0]:
            raise ValueError(f"SinusoidalPositionalEncoding: length {L} exceeds max_len {self.pe.shape[0]}")
        pe = self.pe.data[:L].astype(x.dtype, copy=False)
        pe = backend.to_device(pe if self.batch_first else pe[:, None], x.device)
        return self.dropout(x + Tensor._wrap(pe))


def _sequence_length(layer, x, d_model):
    """The length of a (N, L, d_model) (batch_first) or (L, N, d_model) input, checked."""
    name = type(layer).__name__
    if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[2] != d_model:
        raise ValueError(f"{name}: input must be a 3-D tensor {'(N, L, ' if layer.batch_first else '(L, N, '}"
                         f"{d_model}), got {getattr(x, 'shape', type(x).__name__)}")
    return x.shape[1] if layer.batch_first else x.shape[0]


class LearnedPositionalEncoding(Module):
    """x + P[:length] with P a learned (max_len, d_model) table ``embedding.weight``, then dropout."""

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0, batch_first: bool = True):
        super().__init__()
        check_size("LearnedPositionalEncoding", "d_model", d_model)
        check_size("LearnedPositionalEncoding", "max_len", max_len)
        self.batch_first, self.embedding, self.dropout = batch_first, Embedding(max_len, d_model), Dropout(dropout)
        init.normal_(self.embedding.weight, 0.0, 0.02)

    def forward(self, x):
        L = _sequence_length(self, x, self.embedding.embedding_dim)
        check_input("LearnedPositionalEncoding", x, self.embedding.weight)
        if L > self.embedding.num_embeddings:
            raise ValueError(f"LearnedPositionalEncoding: length {L} exceeds max_len {self.embedding.num_embeddings}")
        p = self.embedding(np.arange(L))
        return self.dropout(x + (p if self.batch_first else ops.unsqueeze(p, 1)))


def _additive(mask, dtype):
    """A PyTorch module mask as an additive array: bool True -> -inf (masked), float added as is."""
    m = backend.xp(mask)
    if mask.dtype == bool:
        return m.where(mask, dtype.type(-math.inf), dtype.type(0))
    return mask.astype(dtype, copy=False)


def _raw(mask):
    return mask.data if isinstance(mask, Tensor) else (None if mask is None else np.asarray(mask))


class MultiheadAttention(Module):
    """D2.F4  MultiHead(Q, K, V) = Concat(head_1..head_h) W_O, head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V).

    PyTorch's parameters: ``in_proj_weight`` (3E, E) holding W^Q, W^K, W^V stacked (xavier-uniform),
    ``in_proj_bias`` (3E,) (zeros), ``out_proj`` a Linear(E, E) whose bias starts at zero.
    Cross-attention (D2.F5) is the same module called with the decoder's query and the encoder's
    keys/values.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False):
        super().__init__()
        check_size("MultiheadAttention", "embed_dim", embed_dim)
        check_size("MultiheadAttention", "num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be a positive multiple of "
                             f"num_heads {num_heads}")
        check_probability("MultiheadAttention", "dropout", dropout)
        if add_bias_kv or add_zero_attn or kdim not in (None, embed_dim) or vdim not in (None, embed_dim):
            raise ValueError("MultiheadAttention: add_bias_kv, add_zero_attn and kdim/vdim other than "
                             "embed_dim are not supported")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.batch_first = dropout, batch_first
        self.in_proj_weight = _empty(3 * embed_dim, embed_dim)
        self.register_parameter("in_proj_bias", _empty(3 * embed_dim) if bias else None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        init.xavier_uniform_(self.in_proj_weight)
        if bias:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _mask(self, attn_mask, key_padding_mask, N, L, S, dtype):
        """attn_mask (L, S) or (N*H, L, S) and key_padding_mask (N, S) as one additive (N|1, H|1, L, S)
        Tensor. A float attn_mask Tensor that requires grad stays in the graph, as in PyTorch: its
        gradient is dL/dscores summed over the axes it was broadcast along."""
        mask = None
        if attn_mask is not None:
            shape = tuple(attn_mask.shape)
            if shape == (L, S):
                shape = (1, 1, L, S)
            elif shape == (N * self.num_heads, L, S):
                shape = (N, self.num_heads, L, S)
            else:
                raise ValueError(f"MultiheadAttention: attn_mask of shape {shape} should be ({L}, {S}) "
                                 f"or ({N * self.num_heads}, {L}, {S})")
            if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:
                mask = ops.reshape(attn_mask, shape)
            else:
                mask = Tensor._wrap(_additive(_raw(attn_mask).reshape(shape), dtype))
        if key_padding_mask is not None:
            p = _raw(key_padding_mask)
            if p.shape != (N, S):
                raise ValueError(f"MultiheadAttention: key_padding_mask of shape {tuple(p.shape)} should be ({N}, {S})")
            p = Tensor._wrap(_additive(p, dtype)[:, None, None, :])
            mask = p if mask is None else mask + p
        return mask

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal is a hint that attn_mask is causal; pass the attn_mask")
        for t in (query, key, value):
            check_input("MultiheadAttention", t, self.in_proj_weight)
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must all be 3-D (batched) or 2-D, got "
                             f"{query.shape}, {key.shape}, {value.shape}")
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (ops.unsqueeze(t, 0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = _raw(key_padding_mask)[None]
        elif not self.batch_first:
            query, key, value = (ops.transpose(t, 0, 1) for t in (query, key, value))
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.embed_dim or value.shape[-1] != self.embed_dim:
            raise ValueError(f"MultiheadAttention: inputs {query.shape}, {key.shape}, {value.shape} must end with "
                             f"embed_dim {self.embed_dim}")
        N, L, E = query.shape
        S, H, Dh = key.shape[1], self.num_heads, self.head_dim

        def heads(t, n):  # (N, n, E) -> (N, H, n, Dh)
            return ops.permute(ops.reshape(t, (N, n, H, Dh)), (0, 2, 1, 3))

        w, b = self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:  # self-attention: one projection for Q, K and V
            qkv = ops.permute(ops.reshape(ops.linear(query, w, b), (N, L, 3, H, Dh)), (2, 0, 3, 1, 4))
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            ws = ops.chunk(w, 3, 0)
            bs = ops.chunk(b, 3, 0) if b is not None else (None, None, None)
            q = heads(ops.linear(query, ws[0], bs[0]), L)
            if key is value:
                kv = ops.permute(ops.reshape(ops.linear(key, ops.cat(ws[1:], 0),
                                                        None if b is None else ops.cat(bs[1:], 0)),
                                             (N, S, 2, H, Dh)), (2, 0, 3, 1, 4))
                k, v = kv[0], kv[1]
            else:
                k, v = heads(ops.linear(key, ws[1], bs[1]), S), heads(ops.linear(value, ws[2], bs[2]), S)
        # as PyTorch: a causal hint with no padding mask and no weights wanted replaces the mask
        # (the fused kernel then skips the masked half instead of adding -inf to it)
        causal = is_causal and key_padding_mask is None and not need_weights
        mask = None if causal else self._mask(attn_mask, key_padding_mask, N, L, S, query.dtype)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:  # composite: PyTorch returns the weights after dropout (the ones that multiply V)
            scores = ops.matmul(q, ops.transpose(k, -2, -1)) * (1.0 / math.sqrt(Dh))
            weights = ops.dropout(ops.softmax(scores if mask is None else scores + mask, dim=-1), p)
            o = ops.matmul(weights, v)
        else:
            o = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        out = self.out_proj(ops.reshape(ops.permute(o, (0, 2, 1, 3)), (N, L, E)))
        if unbatched:
            out = ops.squeeze(out, 0)
        elif not self.batch_first:
            out = ops.transpose(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = ops.mean(weights, dim=1)
        return out, ops.squeeze(weights, 0) if unbatched else weights


def _get_activation(activation):
    if callable(activation):
        return activation
    if activation == "relu":
        return ops.relu
    if activation == "gelu":
        return ops.gelu
    raise ValueError(f"activation should be 'relu', 'gelu' or a callable, not {activation!r}")


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: PyTorch's sub-modules, registered in PyTorch's order
    (self_attn, [multihead_attn], linear1, dropout, linear2, norm1.., dropout1..) so that state_dict
    keys come out as torch's; the residual wrapper; the self-attention and feed-forward blocks.
    ``n_sublayers`` is 2 (encoder) or 3 (decoder, with cross-attention)."""

    def __init__(self, n_sublayers, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                 batch_first, norm_first, bias):
        super().__init__()
        name = type(self).__name__
        for what, v in (("d_model", d_model), ("nhead", nhead), ("dim_feedforward", dim_feedforward)):
            check_size(name, what, v)
        if d_model % nhead:
            raise ValueError(f"{name}: d_model {d_model} must be a multiple of nhead {nhead}")
        check_probability(name, "dropout", dropout)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        if n_sublayers == 3:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                     batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first, self.n_sublayers = norm_first, n_sublayers
        for i in range(1, n_sublayers + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        for i in range(1, n_sublayers + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _get_activation(activation)

    def _residual(self, norm, x, block):
        """x + block(norm(x)) with ``norm_first``, else norm(x + block(x))."""
        return x + block(norm(x)) if self.norm_first else norm(x + block(x))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        """D2.F6  linear2(dropout(activation(linear1(x)))), then the last sublayer's dropout."""
        last = getattr(self, f"dropout{self.n_sublayers}")
        return last(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoderLayer(_TransformerLayer):
    """D2.M1  x = norm1(x + dropout1(SelfAttn(x))), x = norm2(x + dropout2(FFN(x))) (post-norm), or with
    ``norm_first`` x = x + dropout1(SelfAttn(norm1(x))), x = x + dropout2(FFN(norm2(x))).

    D2.F6  FFN(x) = linear2(dropout(activation(linear1(x)))): one activation, inside (the document's
    second ReLU around the output is an erratum).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True):
        super().__init__(2, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                         norm_first, bias)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = self._residual(self.norm1, src, lambda h: self._sa_block(h, src_mask, src_key_padding_mask, is_causal))
        return self._residual(self.norm2, x, self._ff_block)


class TransformerDecoderLayer(_TransformerLayer):
    """D2.M2  masked self-attention, then cross-attention on the encoder's output (D2.F5), then the FFN,
    each followed by dropout and a residual connection with LayerNorm (after, or before with ``norm_first``).

    The source document puts cross-attention first and adds a tensor to itself in one residual: errata.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True):
        super().__init__(3, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                         norm_first, bias)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False, memory_is_causal: bool = False):
        x = self._residual(self.norm1, tgt, lambda h: self._sa_block(h, tgt_mask, tgt_key_padding_mask,
                                                                     tgt_is_causal))
        x = self._residual(self.norm2, x, lambda h: self._mha_block(h, memory, memory_mask,
                                                                    memory_key_padding_mask, memory_is_causal))
        return self._residual(self.norm3, x, self._ff_block)


def _clones(layer, n):
    """n deep copies of ``layer`` (so every layer starts from the same weights, as in PyTorch)."""
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"num_layers must be a positive int, got {n!r}")
    return ModuleList([copy.deepcopy(layer) for _ in range(n)])


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer``, then ``norm`` if given."""

    def __init__(self, encoder_layer, num_layers: int, norm=None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        self.layers, self.num_layers, self.norm = _clones(encoder_layer, num_layers), num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer``, then ``norm`` if given."""

    def __init__(self, decoder_layer, num_layers: int, norm=None):
        super().__init__()
        self.layers, self.num_layers, self.norm = _clones(decoder_layer, num_layers), num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal: bool = False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=bool(tgt_is_causal),
                      memory_is_causal=memory_is_causal)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """The encoder-decoder of "Attention Is All You Need" with torch.nn.Transformer's names and init
    (xavier-uniform on every matrix); the embeddings and the output layer are the caller's."""

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True):
        super().__init__()
        kw = dict(dropout=dropout, activation=activation, layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                  norm_first=norm_first, bias=bias)
        self.encoder = custom_encoder or TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, dim_feedforward, **kw), num_encoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self.decoder = custom_decoder or TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, dim_feedforward, **kw), num_decoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        memory = self.encode(src, src_mask, src_key_padding_mask)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    def encode(self, src, src_mask=None, src_key_padding_mask=None):
        return self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None):
        """(sz, sz) float mask: 0 on and below the diagonal, -inf above (position i sees 0..i)."""
        mask = np.triu(np.full((sz, sz), -np.inf), k=1).astype(dtype or get_default_dtype())
        return Tensor(mask, device=device)
