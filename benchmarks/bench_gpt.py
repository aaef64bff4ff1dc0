"""GPT benchmarks (D4.M2): one AdamW training step (vocab 96, context 128, 4 layers, d_model 128,
4 heads, FFN 512, batch 16), and generating 64 tokens with the KV cache (batch 1, prompt 8),
each beside the same network in PyTorch."""
from __future__ import annotations

import numpy as np

from .common import Case

CFG = dict(vocab_size=96, block_size=128, n_layer=4, n_head=4, n_embd=128, n_inner=512, dropout=0.0)
BATCH, NEW_TOKENS = 16, 64


def _batch():
    rng = np.random.default_rng(0)
    return rng.integers(0, 96, (BATCH, 128)), rng.integers(0, 96, (BATCH, 128))


def _torch_gpt():
    """The same architecture with torch.nn modules (pre-LN, tied embeddings, F.scaled_dot_product_attention),
    and a KV cache for generation."""
    import torch
    from torch import nn

    C, H = CFG["n_embd"], CFG["n_head"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.mlp = nn.Sequential(nn.Linear(C, CFG["n_inner"]), nn.GELU(), nn.Linear(CFG["n_inner"], C))

        def forward(self, x, past=None):
            B, T, _ = x.shape
            q, k, v = (t.reshape(B, T, H, C // H).transpose(1, 2) for t in self.c_attn(self.ln_1(x)).split(C, 2))
            if past is not None:
                k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
            y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=past is None)
            x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp(self.ln_2(x)), (k, v)

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(96, C), nn.Embedding(128, C)
            self.h = nn.ModuleList([Block() for _ in range(CFG["n_layer"])])
            self.ln_f = nn.LayerNorm(C)

        def forward(self, ids, past=None):
            start = 0 if past is None else past[0][0].shape[2]
            x = self.wte(ids) + self.wpe(torch.arange(start, start + ids.shape[1]))
            presents = []
            for i, block in enumerate(self.h):
                x, p = block(x, None if past is None else past[i])
                presents.append(p)
            return self.ln_f(x) @ self.wte.weight.T, presents

    return GPT()


def train_step_tg():
    import tinygrad_lm as tg
    from tinygrad_lm.models.gpt import GPT, GPTConfig
    from tinygrad_lm.recipes.gpt import make_optimizer, train_step

    tg.manual_seed(0)
    model = GPT(GPTConfig(**CFG))
    optimizer = make_optimizer(model, 1e-3)
    x, y = _batch()
    return lambda: train_step(model, optimizer, x, y)


def train_step_torch():
    import torch

    model = _torch_gpt()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                                  lr=1e-3, betas=(0.9, 0.95))
    x, y = (torch.as_tensor(a) for a in _batch())

    def step():
        logits, _ = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 96), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return step


def generate_tg():
    import tinygrad_lm as tg
    from tinygrad_lm.models.gpt import GPT, GPTConfig

    tg.manual_seed(0)
    model = GPT(GPTConfig(**CFG)).eval()
    prompt = _batch()[0][:1, :8]
    return lambda: model.generate(prompt, max_length=8 + NEW_TOKENS)


def generate_torch():
    import torch

    model = _torch_gpt().eval()
    prompt = torch.as_tensor(_batch()[0][:1, :8])

    @torch.no_grad()
    def step():
        ids = prompt
        logits, past = model(ids)
        for i in range(NEW_TOKENS):
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], 1)
            if i + 1 < NEW_TOKENS:
                logits, past = model(nxt, past)
        return ids
    return step


CASES = [
    Case("gpt train step (B16 T128 4x128, AdamW)", train_step_tg, train_step_torch),
    Case(f"gpt generate {NEW_TOKENS} tokens, KV cache", generate_tg, generate_torch,
         note=f"tokens/s = {NEW_TOKENS} / time"),
]
