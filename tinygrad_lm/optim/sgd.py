"""Stochastic gradient descent (D1.F4), with PyTorch's momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from ..autograd import increment_version, no_grad
from .optimizer import Optimizer, check_range


class SGD(Optimizer):
    """D1.F4  w <- w - lr * d,  where d = g + wd w, then with momentum mu:
    b <- mu b + (1 - dampening) d  (b = d at the first step), d <- d + mu b (Nesterov) or d <- b."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        check_range("momentum", momentum, 0.0, optimizer="SGD")
        check_range("weight_decay", weight_decay, 0.0, optimizer="SGD")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _state_entries(self, group: dict) -> dict:
        return {"momentum_buffer": "array"} if group["momentum"] else {}

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, mu, damp, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad.data
                if wd:
                    d = d + wd * p.data
                if mu:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    buf = d.copy() if buf is None else mu * buf + (1 - damp) * d
                    state["momentum_buffer"] = buf
                    d = d + mu * buf if group["nesterov"] else buf
                p.data -= lr * d
                increment_version(p)  # in place: a graph that saved p must not use it
