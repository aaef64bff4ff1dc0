"""Attention benchmarks: causal scaled dot-product attention, layer_norm, and one nn.Transformer
training step, each beside PyTorch."""
from __future__ import annotations

import numpy as np

from .common import Case


def _inputs(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- causal attention B=16, 4 heads, T=128, d=32
QKV = [(16, 4, 128, 32)] * 3


def attention_tg():
    import tinygrad_lm as tg

    q, k, v = (tg.tensor(_inputs(*s, seed=i), requires_grad=True) for i, s in enumerate(QKV))
    g = tg.tensor(_inputs(*QKV[0], seed=3))

    def step():
        q.grad = k.grad = v.grad = None
        tg.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)
    return step


def attention_torch():
    import torch

    q, k, v = (torch.tensor(_inputs(*s, seed=i), requires_grad=True) for i, s in enumerate(QKV))
    g = torch.tensor(_inputs(*QKV[0], seed=3))

    def step():
        q.grad = k.grad = v.grad = None
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)
    return step


# ---------------------------------------------------------------- layer_norm (2048, 128)
def layer_norm_tg():
    import tinygrad_lm as tg

    x, g = tg.tensor(_inputs(2048, 128), requires_grad=True), tg.tensor(_inputs(2048, 128, seed=1))
    ln = tg.nn.LayerNorm(128)

    def step():
        x.grad = ln.weight.grad = ln.bias.grad = None
        ln(x).backward(g)
    return step


def layer_norm_torch():
    import torch

    x, g = torch.tensor(_inputs(2048, 128), requires_grad=True), torch.tensor(_inputs(2048, 128, seed=1))
    ln = torch.nn.LayerNorm(128)

    def step():
        x.grad = ln.weight.grad = ln.bias.grad = None
        ln(x).backward(g)
    return step


# ---------------------------------------------------------------- nn.Transformer training step
D, HEADS, FFN, LEN, BATCH, VOCAB = 128, 4, 512, 32, 32, 1000


def _batch():
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(0, VOCAB, (BATCH, LEN)), rng.integers(0, VOCAB, (BATCH, LEN + 1))
    return src, tgt[:, :-1], tgt[:, 1:]


def transformer_tg():
    import tinygrad_lm as tg
    from tinygrad_lm import nn

    emb, out = nn.Embedding(VOCAB, D), nn.Linear(D, VOCAB)
    model = nn.Transformer(D, HEADS, 2, 2, FFN, dropout=0.0, batch_first=True)
    params = list(model.parameters()) + list(emb.parameters()) + list(out.parameters())
    opt = tg.optim.Adam(params, lr=1e-4)
    src, tgt_in, tgt_out = _batch()
    mask = nn.Transformer.generate_square_subsequent_mask(LEN)
    target = tg.tensor(tgt_out.reshape(-1))

    def step():
        opt.zero_grad()
        h = model(emb(src), emb(tgt_in), tgt_mask=mask, tgt_is_causal=True)
        loss = tg.nn.functional.cross_entropy(out(h).reshape(-1, VOCAB), target)
        loss.backward()
        opt.step()
    return step


def transformer_torch():
    import torch
    from torch import nn

    emb, out = nn.Embedding(VOCAB, D), nn.Linear(D, VOCAB)
    model = nn.Transformer(D, HEADS, 2, 2, FFN, dropout=0.0, batch_first=True)
    params = list(model.parameters()) + list(emb.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=1e-4)
    src, tgt_in, tgt_out = (torch.tensor(a) for a in _batch())
    mask = nn.Transformer.generate_square_subsequent_mask(LEN)
    target = tgt_out.reshape(-1)

    def step():
        opt.zero_grad()
        h = model(emb(src), emb(tgt_in), tgt_mask=mask, tgt_is_causal=True)
        loss = torch.nn.functional.cross_entropy(out(h).reshape(-1, VOCAB), target)
        loss.backward()
        opt.step()
    return step


CASES = [
    Case("attention causal B=16 H=4 T=128 d=32 fwd+bwd", attention_tg, attention_torch, goal=1.0),
    Case("attention layer_norm (2048,128) fwd+bwd", layer_norm_tg, layer_norm_torch, goal=1.0),
    Case("attention nn.Transformer step d128 h4 2+2 L32 B32 V1000", transformer_tg, transformer_torch, goal=1.0),
]
