"""Convolution, pooling and the two CNNs (D3.F1, D3.F2, D3.M1, D4.M1), forward+backward, float32, beside PyTorch."""
from __future__ import annotations

import numpy as np

from .common import Case


def _arrays(*shapes):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def conv_tg():
    import tinygrad_lm as tg
    import tinygrad_lm.nn.functional as F

    x, w, b = (tg.tensor(a, requires_grad=True) for a in _arrays((64, 32, 16, 16), (64, 32, 3, 3), (64,)))
    return lambda: F.conv2d(x, w, b, padding=1).sum().backward()


def conv_torch():
    import torch

    x, w, b = (torch.tensor(a, requires_grad=True) for a in _arrays((64, 32, 16, 16), (64, 32, 3, 3), (64,)))
    return lambda: torch.nn.functional.conv2d(x, w, b, padding=1).sum().backward()


def pool_tg():
    import tinygrad_lm as tg
    import tinygrad_lm.nn.functional as F

    x = tg.tensor(_arrays((64, 32, 32, 32))[0], requires_grad=True)
    return lambda: F.max_pool2d(x, 2).sum().backward()


def pool_torch():
    import torch

    x = torch.tensor(_arrays((64, 32, 32, 32))[0], requires_grad=True)
    return lambda: torch.nn.functional.max_pool2d(x, 2).sum().backward()


def _step_tg(name):
    import tinygrad_lm as tg
    from tinygrad_lm import optim
    from tinygrad_lm.recipes.cnn import SPECS

    spec = SPECS[name]
    tg.manual_seed(0)
    model = spec["model"]()
    opt = optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    shape = (64, 3, 32, 32) if name == "cnn-cifar" else (64, 1, 28, 28)
    x, y = tg.tensor(_arrays(shape)[0]), tg.tensor(np.arange(64) % 10)

    def step():
        loss = spec["loss"](model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def _step_torch(name):
    import torch

    if name == "cnn-cifar":
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Flatten(), torch.nn.Linear(4096, 128), torch.nn.ReLU(),
                                    torch.nn.Linear(128, 10))
        opt, loss_fn, shape = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9), \
            torch.nn.functional.cross_entropy, (64, 3, 32, 32)
    else:
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 3),
                                    torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(7), torch.nn.Flatten(),
                                    torch.nn.Linear(3136, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10),
                                    torch.nn.LogSoftmax(dim=1))
        opt, loss_fn, shape = torch.optim.SGD(model.parameters(), lr=0.01), torch.nn.functional.nll_loss, \
            (64, 1, 28, 28)
    x, y = torch.tensor(_arrays(shape)[0]), torch.arange(64) % 10

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


CASES = [
    Case("conv2d (64,32,16,16) 64x3x3 pad 1 fwd+bwd", conv_tg, conv_torch),
    Case("max_pool2d 2x2 (64,32,32,32) fwd+bwd", pool_tg, pool_torch),
    Case("D3.M1 CIFAR CNN SGD step, batch 64", lambda: _step_tg("cnn-cifar"), lambda: _step_torch("cnn-cifar")),
    Case("D4.M1 MNIST CNN SGD step, batch 64", lambda: _step_tg("cnn-mnist"), lambda: _step_torch("cnn-mnist")),
]
