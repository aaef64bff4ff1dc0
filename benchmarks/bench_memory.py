"""Peak memory of one training step (the GPT's and D3.M1's), each framework in a fresh process of its own.

A child process imports one framework, notes its resident memory (VmRSS), builds the model, data and
optimizer of a benchmark step, runs two steps (the first loads or compiles the kernels), resets the
kernel's high-water mark (writing 5 to /proc/self/clear_refs) and runs one more step. The value is that
step's peak resident memory (VmHWM) minus the RSS after the import: the model, data, gradients,
optimizer state, activations, the kernels' code and whatever the allocator keeps between steps. The
child PyTorch imports no tinygrad_lm (so not its memory policy either). Linux only (nan elsewhere).

    python -m benchmarks.bench_memory tinygrad|torch gpt|cnn-cifar    # the child: prints MB
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .common import Case

ROOT = Path(__file__).resolve().parents[1]


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def _builder(framework: str, model: str):
    if model == "gpt":
        from . import bench_gpt
        return bench_gpt.train_step_tg if framework == "tinygrad" else bench_gpt.train_step_torch
    from . import bench_conv
    return (lambda: bench_conv._step_tg(model)) if framework == "tinygrad" else lambda: bench_conv._step_torch(model)


def child(framework: str, model: str) -> float:
    """MB: the peak RSS of a warm step above the RSS after importing ``framework``."""
    if framework == "tinygrad":
        import tinygrad_lm  # noqa: F401  (first, as benchmarks.run imports it)
    else:
        import torch  # noqa: F401
    base = _status_mb("VmRSS")
    step = _builder(framework, model)()
    for _ in range(2):
        step()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS now
    step()
    return _status_mb("VmHWM") - base


def peak_mb(framework: str, model: str):
    def measure() -> float:
        if not Path("/proc/self/clear_refs").exists():
            return float("nan")
        out = subprocess.run([sys.executable, "-m", "benchmarks.bench_memory", framework, model], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        return float(out.stdout.split()[-1])
    return measure


CASES = [
    Case("peak RSS, gpt train step (B16 T128 4x128)", peak_mb("tinygrad", "gpt"), peak_mb("torch", "gpt"),
         goal=1.2, unit="MB", note="peak RSS of a warm step above the RSS after the import, fresh process"),
    Case("peak RSS, D3.M1 CIFAR CNN SGD step, batch 64", peak_mb("tinygrad", "cnn-cifar"),
         peak_mb("torch", "cnn-cifar"), goal=1.2, unit="MB",
         note="peak RSS of a warm step above the RSS after the import, fresh process"),
]


if __name__ == "__main__":
    print(f"{child(sys.argv[1], sys.argv[2]):.1f}")
