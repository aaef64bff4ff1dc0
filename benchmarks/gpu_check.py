"""The GPU check: ``python -m benchmarks.gpu_check [--out PATH] [--steps N]``.

One command that proves the GPU path the day a GPU is there: (1) the GPU tests (``pytest -m gpu``),
(2) a short training of each of the inventory's models on the GPU, its first step's loss beside the
CPU's and its last loss, (3) GPU benchmarks beside PyTorch CUDA when a CUDA build of torch is present.
It writes a Markdown report and prints its path; the exit status is 0 when every part passed. It is
sized for under 8 minutes on one GPU. Without CuPy and an NVIDIA GPU it says so and exits with 2.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import tinygrad_lm as tg
from tinygrad_lm import backend
from tinygrad_lm.nn import functional as F

TESTS_TIMEOUT_S = 240


def _sync():
    backend.cupy().cuda.Device().synchronize()


# ---------------------------------------------------------------- (1) the GPU tests
def gpu_tests() -> tuple[bool, list[str]]:
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TESTS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, [f"`{' '.join(cmd[1:])}` did not finish in {TESTS_TIMEOUT_S} s"]
    tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
    return done.returncode == 0, [f"`python {' '.join(cmd[1:])}`: exit status {done.returncode}", "", "```",
                                  *tail, "```"]


# ---------------------------------------------------------------- (2) each model, trained briefly on the GPU
def _models():
    """name -> (model, loss(model, batch), batch of NumPy arrays): small versions of the inventory's models."""
    from tinygrad_lm.models.cnn import CifarCNN, MnistCNN, cifar_loss, mnist_loss
    from tinygrad_lm.models.gpt import GPT, GPTConfig
    from tinygrad_lm.models.lstm_classifier import LSTMClassifier
    from tinygrad_lm.models.lstm_lm import LSTMLanguageModel
    from tinygrad_lm.models.mlp import MLP
    from tinygrad_lm.models.rnn import RNNClassifier
    from tinygrad_lm.models.transformer import Seq2SeqTransformer

    r = np.random.default_rng(0)

    def ce(logits, y):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    return {
        "D1.F MLP (digits-sized)": (lambda: MLP(64, (128,), 10), lambda m, b: ce(m(b[0]), b[1]),
                                    (r.standard_normal((64, 64), np.float32), r.integers(0, 10, 64))),
        "D4.M1 MNIST CNN": (MnistCNN, lambda m, b: mnist_loss(m(b[0]), b[1]),
                            (r.standard_normal((16, 1, 28, 28), np.float32), r.integers(0, 10, 16))),
        "D3.M1 CIFAR CNN": (CifarCNN, lambda m, b: cifar_loss(m(b[0]), b[1]),
                            (r.standard_normal((16, 3, 32, 32), np.float32), r.integers(0, 10, 16))),
        "D3.M2 RNN classifier": (RNNClassifier, lambda m, b: m.loss(b[0], b[1].data)[0],
                                 (r.standard_normal((32, 12, 10), np.float32), r.integers(0, 2, (32, 12)))),
        "D1.M1 LSTM classifier": (LSTMClassifier, lambda m, b: F.binary_cross_entropy(m(b[0]), b[1]),
                                  (r.integers(1, 1000, (32, 40)), r.integers(0, 2, (32, 1)).astype(np.float32))),
        "D0.M1 LSTM language model": (lambda: LSTMLanguageModel(2000, 64, 128, 2, 0.0),
                                      lambda m, b: ce(m(b[0])[0], b[1]),
                                      (r.integers(0, 2000, (16, 35)), r.integers(0, 2000, (16, 35)))),
        "D2.M3 Transformer": (lambda: Seq2SeqTransformer(20, dropout=0.0), lambda m, b: ce(m(b[0], b[1]), b[2]),
                              (r.integers(0, 20, (32, 12)), r.integers(0, 20, (32, 11)), r.integers(0, 20, (32, 11)))),
        "D4.M2 GPT": (lambda: GPT(GPTConfig(vocab_size=96, block_size=128, n_layer=4, n_head=4, n_embd=128)),
                      lambda m, b: ce(m(b[0]), b[1]), (r.integers(0, 96, (16, 128)), r.integers(0, 96, (16, 128)))),
    }


def _train(make, loss_fn, batch, device, steps):
    """(losses of ``steps`` Adam steps on one batch, seconds per step after the first)."""
    tg.manual_seed(0)
    model = make().to(device)
    optimizer = tg.optim.Adam(model.parameters(), lr=1e-3)
    batch = tuple(tg.tensor(a).to(device) for a in batch)
    losses, start = [], None
    for i in range(steps):
        if i == 1:
            if device == "cuda":
                _sync()
            start = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model, batch)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    return losses, (time.perf_counter() - start) / max(steps - 1, 1)


def trainings(steps: int) -> tuple[bool, list[str]]:
    ok, rows = True, ["| model | first loss, CPU | first loss, GPU | last loss, GPU | GPU ms/step | result |",
                      "|---|---|---|---|---|---|"]
    for name, (make, loss_fn, batch) in _models().items():
        try:
            cpu, _ = _train(make, loss_fn, batch, "cpu", 1)
            gpu, seconds = _train(make, loss_fn, batch, "cuda", steps)
            same = abs(cpu[0] - gpu[0]) <= 1e-3 * max(1.0, abs(cpu[0]))
            learns = gpu[-1] < gpu[0]
            verdict = "ok" if same and learns else ("CPU and GPU differ" if not same else "loss did not fall")
            rows.append(f"| {name} | {cpu[0]:.4f} | {gpu[0]:.4f} | {gpu[-1]:.4f} | {seconds * 1e3:.1f} | {verdict} |")
            ok &= same and learns
        except Exception as e:  # the report names it; the other models still run
            rows.append(f"| {name} | | | | | failed: {type(e).__name__}: {' '.join(str(e).split())[:200]} |")
            ok = False
    return ok, rows


# ---------------------------------------------------------------- (3) benchmarks beside PyTorch CUDA
def _median_ms(step, sync, warmup=3, repeat=10) -> float:
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _cases():
    """name -> (tinygrad_lm step on the GPU, PyTorch step on CUDA or None): forward + backward (+ update)."""
    r = np.random.default_rng(0)
    x, w = r.standard_normal((256, 512), np.float32), r.standard_normal((512, 512), np.float32)
    logits, labels = r.standard_normal((512, 10000), np.float32), r.integers(0, 10000, 512)
    ids, targets = r.integers(0, 96, (16, 128)), r.integers(0, 96, (16, 128))

    def ours_linear():
        a, b = tg.tensor(x).cuda(), tg.tensor(w).cuda().requires_grad_()
        return lambda: (a @ b).sum().backward()

    def ours_ce():
        a, y = tg.tensor(logits).cuda().requires_grad_(), tg.tensor(labels).cuda()
        return lambda: F.cross_entropy(a, y).backward()

    def ours_gpt():
        make, loss_fn, _ = _models()["D4.M2 GPT"]
        tg.manual_seed(0)
        model = make().cuda()
        optimizer = tg.optim.AdamW(model.parameters(), lr=1e-3)
        batch = (tg.tensor(ids).cuda(), tg.tensor(targets).cuda())

        def step():
            optimizer.zero_grad()
            loss_fn(model, batch).backward()
            optimizer.step()
        return step

    def theirs(kind):
        import torch

        def build():
            if kind == "linear":
                a, b = torch.tensor(x, device="cuda"), torch.tensor(w, device="cuda", requires_grad=True)
                return lambda: (a @ b).sum().backward()
            if kind == "ce":
                a = torch.tensor(logits, device="cuda", requires_grad=True)
                y = torch.tensor(labels, device="cuda")
                return lambda: torch.nn.functional.cross_entropy(a, y).backward()
            from benchmarks.bench_gpt import _torch_gpt

            torch.manual_seed(0)
            model = _torch_gpt().cuda()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
            a, y = torch.tensor(ids, device="cuda"), torch.tensor(targets, device="cuda")

            def step():
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(a)[0].reshape(-1, 96), y.reshape(-1)).backward()
                optimizer.step()
            return step
        return build

    return {"linear 256x512 @ 512x512 fwd+bwd": (ours_linear, theirs("linear")),
            "cross_entropy N=512 C=10000 fwd+bwd": (ours_ce, theirs("ce")),
            "GPT train step (B16 T128 4x128, AdamW)": (ours_gpt, theirs("gpt"))}


def benchmarks() -> tuple[bool, list[str]]:
    try:
        import torch

        cuda_torch = torch.cuda.is_available()
    except ImportError:
        torch, cuda_torch = None, False
    note = "" if cuda_torch else "(no CUDA build of PyTorch here: its column is empty)"
    ok, rows = True, [note, "", "| case | tinygrad_lm (CuPy) ms | PyTorch CUDA ms | ratio |", "|---|---|---|---|"]
    for name, (ours, theirs) in _cases().items():
        try:
            a = _median_ms(ours(), _sync)
            b = _median_ms(theirs(), torch.cuda.synchronize) if cuda_torch else None
            rows.append(f"| {name} | {a:.2f} | {'' if b is None else f'{b:.2f}'} | "
                        f"{'' if b is None else f'{a / b:.2f}x'} |")
        except Exception as e:  # the report names it; the other cases still run
            rows.append(f"| {name} | failed: {type(e).__name__}: {' '.join(str(e).split())[:200]} | | |")
            ok = False
    return ok, rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/gpu_check.md", help="the Markdown report")
    parser.add_argument("--steps", type=int, default=30, help="training steps of each model")
    args = parser.parse_args(argv)
    if not backend.gpu_available():
        print("gpu_check: no GPU: it needs CuPy and an NVIDIA GPU (pip install 'tinygrad-lm[gpu]' on a machine "
              "with one); nothing was run", file=sys.stderr)
        return 2
    cp = backend.cupy()
    start = time.perf_counter()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    lines = [f"# GPU check, {datetime.date.today()}", "",
             f"{props['name'].decode()}, CuPy {cp.__version__}, Python {platform.python_version()}", ""]
    passed = True
    parts = (("GPU tests", gpu_tests), ("Each model trained briefly on the GPU", lambda: trainings(args.steps)),
             ("Benchmarks beside PyTorch CUDA", benchmarks))
    for title, part in parts:
        t0 = time.perf_counter()
        ok, body = part()
        passed &= ok
        lines += [f"## {title}: {'passed' if ok else 'FAILED'} ({time.perf_counter() - t0:.0f} s)", "", *body, ""]
        print(f"{title}: {'passed' if ok else 'FAILED'}", flush=True)
    lines.append(f"Total {time.perf_counter() - start:.0f} s.")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
