"""Start-up of ``tinygrad-lm train mlp``: seconds from a fresh process's start to the end of its first
training step, with an empty Numba cache (import and compile) and with a warm one, beside the same step
in PyTorch. The child does what the recipe does before its first step (``recipes.mlp.digits_setup``:
the digits, the MLP, Adam, a shuffled loader) and one step; the time is the whole child process, wall
clock, Python's own start included. PyTorch's child builds the same MLP (64-128-10, Adam) on a random
batch of 32 (it has no cache to empty: both rows show the same PyTorch process).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import Case

ROOT = Path(__file__).resolve().parents[1]

TINYGRAD = """
from tinygrad_lm.recipes.mlp import classify, digits_setup
model, optimizer, loader, _ = digits_setup()
loss = classify(model, next(iter(loader)))
optimizer.zero_grad(); loss.backward(); optimizer.step(); loss.item()
"""
TORCH = """
import torch
model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss = torch.nn.functional.cross_entropy(model(torch.randn(32, 64)), torch.randint(0, 10, (32,)))
optimizer.zero_grad(); loss.backward(); optimizer.step(); loss.item()
"""


def _seconds(code: str, cache_dir: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def first_step(code: str, warm: bool):
    def measure() -> float:
        with tempfile.TemporaryDirectory(prefix="numba_cache_") as cache:
            if warm:
                _seconds(code, cache)  # fills the cache
            return _seconds(code, cache)
    return measure


CASES = [
    Case("train mlp: start to first step, empty cache", first_step(TINYGRAD, False), first_step(TORCH, False),
         goal=None, unit="s", note="goal under 10 s (import and compile)"),
    Case("train mlp: start to first step, warm cache", first_step(TINYGRAD, True), first_step(TORCH, True),
         goal=None, unit="s", note="goal under 1 s"),
]
