"""Adam and AdamW, step for step as PyTorch computes them."""
from __future__ import annotations

from .. import backend
from ..autograd import increment_version, no_grad
from ..kernels.optim import constants
from .optimizer import Optimizer, check_range


class Adam(Optimizer):
    """m <- b1 m + (1-b1) g,  v <- b2 v + (1-b2) g^2,
    w <- w - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).

    Adam adds weight decay to the gradient (L2, D2.T4); AdamW decays the weight itself:
    w <- w (1 - lr wd) before the step (decoupled).
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        check_range("betas[0]", betas[0], 0.0, 1.0, name)
        check_range("betas[1]", betas[1], 0.0, 1.0, name)
        check_range("eps", eps, 0.0, optimizer=name)
        check_range("weight_decay", weight_decay, 0.0, optimizer=name)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def _state_entries(self, group: dict) -> dict:
        arrays = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())
        return {"step": "count", **dict.fromkeys(arrays, "array")}

    @no_grad()
    def step(self):
        """One update of every parameter with a gradient, by the fused kernel ``adam_step``
        (kernels/optim.py holds the formulas; its plain twin is NumPy's)."""
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(id(p), {})
                if not state:
                    m = backend.xp(p.data)
                    state.update(step=0, exp_avg=m.zeros_like(p.data), exp_avg_sq=m.zeros_like(p.data))
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = m.zeros_like(p.data)
                state["step"] += 1
                consts = constants(p.data.dtype, state["step"], lr, b1, b2, eps, wd, self.decoupled)
                backend.kernel("adam_step", p.device)(p.data, p.grad.data, state["exp_avg"], state["exp_avg_sq"],
                                                      state.get("max_exp_avg_sq"), consts)
                increment_version(p)  # the kernel wrote p in place: a graph that saved p must not use it


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); PyTorch's default wd is 0.01."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
