"""Core benchmarks: a linear layer, the fused softmax cross-entropy, and one MLP training step."""
from __future__ import annotations

import numpy as np

from .common import Case


def _inputs(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- linear 256 x 512 -> 512
def linear_tg():
    import tinygrad_lm as tg

    layer, x = tg.nn.Linear(512, 512), tg.tensor(_inputs(256, 512), requires_grad=True)

    def step():
        layer.zero_grad()
        layer(x).sum().backward()
    return step


def linear_torch():
    import torch

    layer, x = torch.nn.Linear(512, 512), torch.tensor(_inputs(256, 512), requires_grad=True)

    def step():
        layer.zero_grad()
        layer(x).sum().backward()
    return step


# ---------------------------------------------------------------- softmax cross-entropy N=512, C=10000
N, C = 512, 10_000


def cross_entropy_tg():
    import tinygrad_lm as tg

    x = tg.tensor(_inputs(N, C), requires_grad=True)
    t = tg.tensor(np.random.default_rng(1).integers(0, C, N))

    def step():
        x.grad = None
        tg.nn.functional.cross_entropy(x, t).backward()
    return step


def cross_entropy_torch():
    import torch

    x = torch.tensor(_inputs(N, C), requires_grad=True)
    t = torch.tensor(np.random.default_rng(1).integers(0, C, N))

    def step():
        x.grad = None
        torch.nn.functional.cross_entropy(x, t).backward()
    return step


# ---------------------------------------------------------------- MLP step on a digits batch
def mlp_tg():
    import tinygrad_lm as tg
    from tinygrad_lm.models.mlp import MLP

    model = MLP(64, (128,), 10)
    opt = tg.optim.Adam(model.parameters(), lr=1e-3)
    x, y = tg.tensor(_inputs(64, 64)), tg.tensor(np.random.default_rng(1).integers(0, 10, 64))

    def step():
        loss = tg.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def mlp_torch():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.tensor(_inputs(64, 64)), torch.tensor(np.random.default_rng(1).integers(0, 10, 64))

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


CASES = [
    Case("core linear 256x512->512 fwd+bwd", linear_tg, linear_torch, goal=None),
    Case("core cross_entropy N=512 C=10000 fwd+bwd", cross_entropy_tg, cross_entropy_torch, goal=1.0),
    Case("core mlp digits step (64x64, 128 hidden, Adam)", mlp_tg, mlp_torch, goal=None,
         note="Python overhead per op dominates at this size"),
]
