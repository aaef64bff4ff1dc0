"""Optimizer base: parameter groups, zero_grad, and a state_dict of plain arrays (no pickled code)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor


class Optimizer:
    def __init__(self, params, defaults: dict):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        check_range("learning rate lr", defaults.get("lr"), 0.0, optimizer=type(self).__name__)
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups, seen = [], set()
        for g in groups:
            group = {**defaults, **g, "params": list(g["params"])}
            for p in group["params"]:
                if not isinstance(p, Tensor):
                    raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got {type(p).__name__}")
                if id(p) in seen:  # torch warns; stepped twice it would move twice as far
                    raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} is given more than once")
                seen.add(id(p))
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
        """{'kind': class name, 'state': {index: {name: numpy array or number}},
        'param_groups': [hyper-parameters and 'params': the indices of the group's parameters]}."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {index[k]: {n: (backend.to_device(v, "cpu") if hasattr(v, "shape") else v) for n, v in s.items()}
                 for k, s in self.state.items() if k in index}
        groups, start = [], 0
        for g in self.param_groups:
            groups.append({**{k: v for k, v in g.items() if k != "params"},
                           "params": list(range(start, start + len(g["params"])))})
            start += len(g["params"])
        return {"kind": type(self).__name__, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Take a ``state_dict`` of the same kind of optimizer over parameters of the same shapes.

        Everything is checked before anything is taken (a state array of another shape would make
        the step write outside its buffers): the kind, the number of groups and of parameters in
        each, the hyper-parameters' names and types, every state entry's name, shape and dtype
        (floating arrays are cast to the parameter's dtype, as PyTorch does).
        """
        groups, state = self._check_state_dict(state_dict)
        for group, saved in zip(self.param_groups, groups, strict=True):
            group.update(saved)
        self.state = state

    def _check_state_dict(self, state_dict: dict):
        """The validating half of ``load_state_dict``: (hyper-parameters per group, state by id(param))."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        kind = state_dict.get("kind") or name
        if kind != name:
            raise ValueError(f"{name}.load_state_dict: the state belongs to {kind}, not to {name}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: {len(saved_groups)} parameter groups in the state, "
                             f"{len(self.param_groups)} in the optimizer")
        groups = []
        for gi, (own, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if "params" in saved and len(saved["params"]) != len(own["params"]):
                raise ValueError(f"{name}.load_state_dict: group {gi} has {len(saved['params'])} parameters in "
                                 f"the state, {len(own['params'])} in the optimizer")
            hyper = {k: v for k, v in saved.items() if k != "params"}
            for k, v in hyper.items():
                if k not in own and k != "initial_lr":
                    raise ValueError(f"{name}.load_state_dict: unknown hyper-parameter {k!r} in group {gi}")
                if k in own and not _same_kind(own[k], v):
                    raise ValueError(f"{name}.load_state_dict: hyper-parameter {k!r} of group {gi} is {v!r}, "
                                     f"expected a value like {own[k]!r}")
            groups.append({k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()})
        params = self._params()
        owner = [gi for gi, g in enumerate(self.param_groups) for _ in g["params"]]
        state = {}
        for i, entries in state_dict["state"].items():
            if not (isinstance(i, (int, np.integer)) or str(i).isdigit()) or not 0 <= int(i) < len(params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {i!r}, but the optimizer has "
                                 f"{len(params)} parameters")
            p, group = params[int(i)], {**self.param_groups[owner[int(i)]], **groups[owner[int(i)]]}
            expected = self._state_entries(group)
            if set(entries) != set(expected):
                raise ValueError(f"{name}.load_state_dict: parameter {int(i)} has state entries {sorted(entries)}, "
                                 f"expected {sorted(expected)}")
            state[id(p)] = {n: self._check_entry(n, v, expected[n], int(i), p) for n, v in entries.items()}
        return groups, state

    def _check_entry(self, entry: str, value, kind: str, i: int, p):
        name = type(self).__name__
        if kind == "count":
            if (isinstance(value, bool) or np.ndim(value) or not isinstance(value, (int, float, np.number))
                    or not np.isfinite(value) or value < 0 or value != int(value)):
                raise ValueError(f"{name}.load_state_dict: {entry!r} of parameter {i} must be a count >= 0, "
                                 f"got {value!r}")
            return int(value)
        arr = backend.to_device(value, "cpu") if hasattr(value, "shape") else np.asarray(value)
        if tuple(arr.shape) != tuple(p.shape):
            raise ValueError(f"{name}.load_state_dict: {entry!r} of parameter {i} has shape {tuple(arr.shape)} in "
                             f"the state but the parameter has shape {tuple(p.shape)}")
        if arr.dtype.kind != "f":
            raise ValueError(f"{name}.load_state_dict: {entry!r} of parameter {i} has dtype {arr.dtype}, "
                             f"expected a floating dtype like the parameter's {p.dtype}")
        return backend.to_device(np.ascontiguousarray(arr, dtype=p.dtype), p.device)

    def _state_entries(self, group: dict) -> dict:
        """The state one parameter of ``group`` holds once stepped: {name: 'array' or 'count'}."""
        return {}

    def step(self):  # pragma: no cover - abstract
        raise NotImplementedError


def _same_kind(own, saved) -> bool:
    """Whether a saved hyper-parameter can stand for this optimizer's (a number for a number, ...)."""
    if isinstance(own, bool) or own is None:
        return isinstance(saved, bool) or saved is None
    if isinstance(own, (int, float)):
        return isinstance(saved, (int, float, np.number)) and not isinstance(saved, bool) and np.isfinite(saved)
    if isinstance(own, tuple):
        return isinstance(saved, (tuple, list)) and len(saved) == len(own) and all(map(_same_kind, own, saved))
    return True


def check_range(name: str, value: float, lo: float, hi: float | None = None, optimizer: str = ""):
    """``value`` a real number in [lo, hi) (NaN fails both comparisons, so it is refused too)."""
    if not isinstance(value, (int, float, np.number)) or isinstance(value, bool):
        raise TypeError(f"{optimizer}: {name} must be a number, got {type(value).__name__} {value!r}")
    if not lo <= value or (hi is not None and not value < hi):
        bound = f"[{lo}, {hi})" if hi is not None else f">= {lo}"
        raise ValueError(f"{optimizer}: {name} must be {bound}, got {value}")
