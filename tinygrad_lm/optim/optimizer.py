"""Optimizer base: parameter groups, zero_grad, and a state_dict of plain arrays (no pickled code)."""
from __future__ import annotations

from .. import backend


class Optimizer:
    def __init__(self, params, defaults: dict):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        lr = defaults.get("lr")
        if lr is None or lr < 0:
            raise ValueError(f"{type(self).__name__}: learning rate must be >= 0, got {lr}")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups = []
        for g in groups:
            group = {**defaults, **g, "params": list(g["params"])}
            for p in group["params"]:
                if not getattr(p, "requires_grad", False):
                    raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} does not require grad")
            self.param_groups.append(group)
        self.state: dict[int, dict] = {}  # id(param) -> {name: array or number}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:  # zeros still count: weight decay and momentum act on them, as in PyTorch
                    p.grad.zero_()

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict:
        """{'state': {index: {name: numpy array or number}}, 'param_groups': [hyper-parameters]}."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {index[k]: {n: (backend.to_device(v, "cpu") if hasattr(v, "shape") else v) for n, v in s.items()}
                 for k, s in self.state.items() if k in index}
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        params = self._params()
        for group, saved in zip(self.param_groups, state_dict["param_groups"]):
            group.update(saved)
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[id(p)] = {n: (backend.to_device(v.astype(p.dtype), p.device) if hasattr(v, "shape") and
                                     getattr(v, "ndim", 0) > 0 else v) for n, v in s.items()}

    def step(self):  # pragma: no cover - abstract
        raise NotImplementedError


def check_range(name: str, value: float, lo: float, hi: float | None = None, optimizer: str = ""):
    if value < lo or (hi is not None and value >= hi):
        bound = f"[{lo}, {hi})" if hi is not None else f">= {lo}"
        raise ValueError(f"{optimizer}: {name} must be {bound}, got {value}")
