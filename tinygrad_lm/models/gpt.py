"""D4.M2: a GPT-2-style decoder-only Transformer language model, byte-level BPE in front of it.

    h_0 = E_tok[x_t] + E_pos[t]                                  token + learned position embeddings
    a   = h + Attn(LN_1(h))        causal: token t attends to tokens <= t  (pre-LayerNorm block)
    h'  = a + W_2 GELU(W_1 LN_2(a) + b_1) + b_2                  position-wise MLP
    p(x_{t+1} | x_{<=t}) = softmax(LN_f(h_L) W_out^T)            D0.F4; W_out = E_tok when tied

``generate`` follows Hugging Face's ``model.generate``: ``max_length`` counts the prompt (``max_new_tokens``
does not), greedy by default, ``do_sample`` with temperature / top-k / top-p, ``repetition_penalty``, a
key-value cache so each new token costs one
position's work instead of re-running the whole prefix. Its training (CPython's documentation, BPE,
AdamW) is ``tinygrad_lm.recipes.gpt``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import backend, nn, ops
from ..autograd import is_grad_enabled, no_grad
from ..nn import functional as F
from ..tensor import Tensor


@dataclass
class GPTConfig:
    vocab_size: int = 512
    block_size: int = 128  # the longest context the position table covers
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    n_inner: int | None = None  # MLP width, 4 * n_embd when None
    dropout: float = 0.0
    bias: bool = True
    tie_word_embeddings: bool = True

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"GPTConfig: {name} must be a positive int, got {getattr(self, name)!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd {self.n_embd} must be divisible by n_head {self.n_head}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout}")
        if self.n_inner is None:
            self.n_inner = 4 * self.n_embd


class LayerCache(tuple):
    """One layer's (K, V), each (B, heads, T, head_dim), as views of two buffers with room for more
    positions (``buffers``, or None once a longer cache has taken the room; see ``extend_cache``)."""

    def __new__(cls, k, v, buffers):
        cache = super().__new__(cls, (k, v))
        cache.buffers = buffers
        return cache


def extend_cache(past, k, v, capacity):
    """The cache ``past`` (a LayerCache or a (K, V) pair) followed by the new ``k``, ``v`` along the time
    axis, without a gradient: the new keys and values are written into the room after the past's in its
    buffers, so a token's step copies that token, not the whole cache (as torch.cat would). The first
    extension of a cache takes its room; a second one (another continuation of the same past) copies
    into buffers of its own (``capacity`` positions), so neither overwrites the other."""
    T, n = past[0].shape[2], k.shape[2]
    buffers = getattr(past, "buffers", None)
    if buffers is None or buffers[0].shape[2] < T + n:
        m = backend.xp(k.data)
        buffers = tuple(m.empty(t.shape[:2] + (max(capacity, T + n),) + t.shape[3:], t.dtype) for t in past)
        for b, t in zip(buffers, past, strict=True):
            b[:, :, :T] = t.data
    else:
        past.buffers = None
    for b, t in zip(buffers, (k, v), strict=True):
        b[:, :, T:T + n] = t.data
    return LayerCache(*(Tensor._wrap(b[:, :, :T + n]) for b in buffers), buffers)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused Q/K/V projection (GPT-2's ``c_attn``).

    ``past`` is this layer's cache (K, V) of shape (B, heads, T_past, head_dim); the new keys and
    values are appended to it (without a gradient: written into its room, see ``extend_cache``), and
    the new queries attend to all of it.
    """

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.dropout, self.block_size = cfg.n_head, cfg.dropout, cfg.block_size
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, past=None):
        B, T, C = x.shape
        H = self.n_head
        qkv = self.c_attn(x).reshape(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)  # (3, B, H, T, hd)
        q, k, v = qkv[0], qkv[1], qkv[2]
        mask, causal, present = None, True, None
        if past is not None:
            if is_grad_enabled() and any(t.requires_grad for t in (*past, k, v)):
                k, v = ops.cat([past[0], k], dim=2), ops.cat([past[1], v], dim=2)
            else:
                k, v = present = extend_cache(past, k, v, self.block_size)
            causal = False
            if T > 1:  # new token i sits at position T_past + i: it sees keys 0 .. T_past + i
                S = k.shape[2]
                mask = np.tril(np.ones((T, S), dtype=bool), k=S - T)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.permute(0, 2, 1, 3).reshape(B, T, C)
        return self.resid_dropout(self.c_proj(y)), present or (k, v)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, cfg.n_inner, bias=cfg.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(cfg.n_inner, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm Transformer block: x + Attn(LN(x)), then + MLP(LN(.))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x, past=None):
        a, present = self.attn(self.ln_1(x), past)
        x = x + a
        return x + self.mlp(self.ln_2(x)), present


class GPT(nn.Module):
    """Decoder-only Transformer LM. ``forward(input_ids)`` gives next-token logits (B, T, vocab)."""

    def __init__(self, cfg: GPTConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg if cfg is not None else GPTConfig(**kwargs)
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self._init_weights()
        if cfg.tie_word_embeddings:  # one matrix reads tokens in and scores them out
            self.lm_head.weight = self.wte.weight

    def _init_weights(self):
        """GPT-2's init: N(0, 0.02) weights, zero biases, and the projections that write into the
        residual stream scaled by 1/sqrt(2 n_layer) so its variance does not grow with depth."""
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.ndim == 2:
                std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, input_ids, past_key_values=None, use_cache: bool = False):
        """Logits (B, T, vocab) for ``input_ids`` (B, T). With ``use_cache`` returns (logits, cache);
        ``past_key_values`` (a cache from an earlier call) holds the keys and values of the tokens
        before these, which then sit at positions T_past, T_past + 1, ..."""
        ids = input_ids.data if isinstance(input_ids, Tensor) else np.asarray(input_ids)
        if ids.ndim != 2:
            raise ValueError(f"GPT expects input_ids of shape (batch, length), got {tuple(ids.shape)}")
        start = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        T = ids.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(f"GPT: {start + T} positions exceed block_size {self.config.block_size}")
        pos = np.arange(start, start + T)
        x = self.drop(self.wte(ids) + self.wpe(pos))
        presents = []
        for i, block in enumerate(self.h):
            x, present = block(x, None if past_key_values is None else past_key_values[i])
            presents.append(present)
        logits = self.lm_head(self.ln_f(x))
        return (logits, presents) if use_cache else logits

    # ------------------------------------------------------------ generation
    @no_grad()
    def generate(self, input_ids, max_length: int = 50, num_return_sequences: int = 1, do_sample: bool = False,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 eos_token_id: int | None = None, use_cache: bool = True, max_new_tokens: int | None = None,
                 repetition_penalty: float = 1.0):
        """Continue ``input_ids`` ((B, T) or (T,)) until each row is ``max_length`` tokens long (the
        prompt included, as Hugging Face counts; ``max_new_tokens``, when given, counts the new ones only
        and wins) or has produced ``eos_token_id``; finished rows are padded with ``eos_token_id``. Greedy
        (``argmax``, D2.F7) unless ``do_sample``, as Hugging Face's default (the CLI samples);
        ``repetition_penalty`` > 1 makes the tokens already in a row less likely (``repetition_filter``).
        Returns an int64 Tensor (B * num_return_sequences, <= max_length). Past ``block_size`` tokens the
        model sees only the last ``block_size`` (with the cache: it re-reads that window)."""
        ids = np.asarray(input_ids.numpy() if isinstance(input_ids, Tensor) else input_ids, dtype=np.int64)
        ids = ids[None] if ids.ndim == 1 else ids
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"generate: input_ids must be a non-empty (batch, length) array, got {ids.shape}")
        _check_sampling(num_return_sequences, do_sample, temperature, top_k, top_p)
        if not repetition_penalty > 0:
            raise ValueError(f"generate: repetition_penalty must be > 0 (1 is none), got {repetition_penalty}")
        if max_new_tokens is not None:
            if max_new_tokens < 0:
                raise ValueError(f"generate: max_new_tokens must be >= 0, got {max_new_tokens}")
            max_length = ids.shape[1] + max_new_tokens
        ids = np.repeat(ids, num_return_sequences, axis=0)
        was_training = self.training
        self.eval()
        try:
            cache, fed = None, 0  # fed: how many tokens of ids the cache holds
            done = np.zeros(len(ids), dtype=bool)
            block = self.config.block_size
            while ids.shape[1] < max_length and not done.all():
                if not use_cache or fed + 1 > block or cache is None:
                    window = ids[:, -block:]
                    logits, cache = self(window, use_cache=True)
                    fed = window.shape[1]
                else:
                    logits, cache = self(ids[:, fed:], past_key_values=cache, use_cache=True)
                    fed = ids.shape[1]
                scores = logits.data[:, -1, :]
                if repetition_penalty != 1:
                    scores = repetition_filter(scores, ids, repetition_penalty)
                nxt = (sample_next_token(scores, temperature, top_k, top_p) if do_sample
                       else scores.argmax(axis=-1))
                nxt = backend.to_device(nxt, "cpu").astype(np.int64)
                if eos_token_id is not None:
                    nxt = np.where(done, eos_token_id, nxt)
                    done |= nxt == eos_token_id
                ids = np.concatenate([ids, nxt[:, None]], axis=1)
        finally:
            self.train(was_training)
        return Tensor(ids)


# ---------------------------------------------------------------- sampling (on raw logit arrays)
def _check_sampling(num_return_sequences, do_sample, temperature, top_k, top_p):
    if num_return_sequences < 1:
        raise ValueError(f"generate: num_return_sequences must be >= 1, got {num_return_sequences}")
    if num_return_sequences > 1 and not do_sample:
        raise ValueError("generate: greedy decoding would return num_return_sequences identical copies; "
                         "pass do_sample=True")
    if not temperature > 0:
        raise ValueError(f"generate: temperature must be > 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"generate: top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"generate: top_p must be in (0, 1], got {top_p}")


def repetition_filter(logits, ids, penalty: float):
    """CTRL's repetition penalty as Hugging Face applies it: every token already in a row of ``ids``
    (the prompt included, once however often it occurs) gets its logit divided by ``penalty`` where
    positive and multiplied where negative, so ``penalty`` > 1 always makes it less likely."""
    m = backend.xp(logits)
    ids = backend.to_device(np.asarray(ids), backend.device_of(logits))
    rows = m.arange(len(logits))[:, None]
    seen = logits[rows, ids]
    out = logits.copy()
    out[rows, ids] = m.where(seen > 0, seen / penalty, seen * penalty)
    return out


def top_k_filter(logits, k: int):
    """Keep each row's ``k`` largest logits, the rest -inf (ties at the k-th value are all kept)."""
    m = backend.xp(logits)
    k = min(k, logits.shape[-1])
    kth = m.sort(logits, axis=-1)[..., -k][..., None]
    return m.where(logits < kth, -m.inf, logits)


def top_p_filter(logits, p: float):
    """Nucleus filtering: keep the fewest most-likely tokens whose probabilities sum to >= ``p``
    (the token that crosses ``p`` stays, so at least one always does); the rest -inf."""
    from ..ops.activation import softmax_array

    m = backend.xp(logits)
    order = m.argsort(-logits, axis=-1)
    probs = m.take_along_axis(softmax_array(logits, -1), order, axis=-1)
    before = m.cumsum(probs, axis=-1) - probs  # mass of the tokens ranked above each one
    drop_sorted = before >= p
    drop = m.zeros_like(drop_sorted)
    m.put_along_axis(drop, order, drop_sorted, axis=-1)
    return m.where(drop, -m.inf, logits)


def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None):
    """One token per row of ``logits`` (B, vocab) drawn from softmax(logits / temperature) after the
    top-k and top-p filters, with the framework's seeded generator (inverse-CDF sampling)."""
    from ..ops.activation import softmax_array

    logits = backend.to_device(logits, "cpu").astype(np.float64) / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    cdf = np.cumsum(softmax_array(logits, -1), axis=-1)
    u = backend.rng().random((len(logits), 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=-1), logits.shape[-1] - 1)
