"""Module and Parameter, with PyTorch's names: parameters are found by attribute, and
``state_dict`` keys are the dotted attribute paths PyTorch would give."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import backend
from ..tensor import Tensor
from . import hooks


class Parameter(Tensor):
    """A tensor that a Module registers as learnable (requires_grad=True by default)."""

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data.data if isinstance(data, Tensor) else data)
        self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: register Parameters, Modules and buffers as attributes."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning {name!r}")
        was_parameter = name in self._parameters
        target = (self._parameters if isinstance(value, Parameter) or (value is None and was_parameter) else
                  self._modules if isinstance(value, Module) else None)
        for registry in (self._parameters, self._modules, self._buffers):
            if registry is not target:
                registry.pop(name, None)
        if target is not None:  # replacing keeps the entry's place (a Sequential's order), as PyTorch
            target[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """A tensor saved in state_dict but not learned (e.g. running statistics, masks)."""
        object.__setattr__(self, name, tensor)
        if persistent:
            self._buffers[name] = tensor

    def register_parameter(self, name: str, param) -> None:
        """Register ``param`` (None declares an absent optional parameter, e.g. bias=False)."""
        if param is None:
            self._parameters[name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    _hooks = None  # {'forward_pre'|'forward'|'backward': {handle id: hook}} once a hook is registered (nn/hooks.py)

    def __call__(self, *args, **kwargs):
        if self._hooks is None:
            return self.forward(*args, **kwargs)
        return hooks.call_with_hooks(self, args, kwargs)

    # ------------------------------------------------------------ hooks (PyTorch's names and semantics)
    def register_forward_pre_hook(self, hook, *, prepend: bool = False):
        """``hook(module, args)`` before forward; a non-None result replaces the positional args."""
        return hooks.add_hook(self, "forward_pre", hook, prepend)

    def register_forward_hook(self, hook, *, prepend: bool = False):
        """``hook(module, args, output)`` after forward; a non-None result replaces the output."""
        return hooks.add_hook(self, "forward", hook, prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_input, grad_output)`` once the gradients of the module's tensor inputs are
        computed (tuples, None where no gradient flows); a non-None result replaces grad_input."""
        return hooks.add_hook(self, "backward", hook, prepend)

    def summary(self, input_size=None, **kwargs):
        """The Keras / torchinfo table of this model (see tinygrad_lm.summary)."""
        from ..summary import summary

        return summary(self, input_size, **kwargs)

    # ------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = ""):
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, mod = stack.pop(0)
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            stack[0:0] = [(f"{name}.{k}" if name else k, m) for k, m in mod._modules.items() if m is not None]

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        yield from ((k, m) for k, m in self._modules.items() if m is not None)

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for name, mod in mods:
            for k, p in mod._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{name}.{k}" if name else k), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self):
        for name, mod in self.named_modules():
            for k, b in mod._buffers.items():
                if b is not None:
                    yield (f"{name}.{k}" if name else k), b

    def apply(self, fn):
        for m in self.modules():
            fn(m)
        return self

    # ------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:  # zeros still count: weight decay and momentum act on them, as in PyTorch
                p.grad.zero_()

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, device=None, dtype=None):
        """Move (and/or cast) every parameter and buffer in place; returns self."""
        for t in list(self.parameters()) + [b for _, b in self.named_buffers()]:
            if dtype is not None and t.dtype.kind == "f":
                t.data = t.data.astype(dtype)
            if device is not None:
                t.data = backend.to_device(t.data, device)
        return self

    def double(self):
        return self.to(dtype=np.float64)

    def float(self):
        return self.to(dtype=np.float32)

    def cuda(self):
        return self.to("cuda")

    def cpu(self):
        return self.to("cpu")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------ state
    def state_dict(self, keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Parameters and persistent buffers by PyTorch's dotted names, as tensors detached from the graph that
        share the module's memory, as PyTorch (a snapshot to keep while training: ``v.clone()`` each);
        ``keep_vars=True`` gives the Parameters themselves."""
        return OrderedDict((k, t if keep_vars else t.detach()) for k, t in self._state_targets().items())

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays (NumPy, tinygrad_lm or torch tensors) into the parameters and buffers by name.

        All or nothing: every key, shape and dtype is checked before anything is assigned, so a
        failure leaves the module as it was. Shapes must match; floating arrays are cast to the
        parameter's float dtype, integer buffers take only integers. With ``strict`` (the default)
        missing or unexpected keys are an error that lists them; otherwise they are returned as
        (missing, unexpected).
        """
        arrays, missing, unexpected = self._check_state_dict(state_dict, strict)
        self._assign_state(arrays)
        return missing, unexpected

    def _check_state_dict(self, state_dict, strict: bool = True):
        """The validating half of ``load_state_dict``: ({key: array cast to its target}, missing, unexpected)."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict for {type(self).__name__}: expected a mapping of names to arrays, "
                            f"got {type(state_dict).__name__}")
        own = self._state_targets()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise StateDictKeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                                    f"unexpected keys {unexpected}")
        arrays = {}
        for k, p in own.items():
            if k not in state_dict:
                continue
            value = _as_numpy(state_dict[k])
            if tuple(value.shape) != p.shape:
                raise ValueError(f"load_state_dict: {k!r} has shape {tuple(value.shape)} in the state dict but "
                                 f"{p.shape} in the model")
            target = np.dtype(p.dtype)
            fits = (value.dtype.kind in "fiu" if target.kind == "f" else
                    value.dtype.kind in "iu" if target.kind in "iu" else value.dtype == target)
            if not fits:
                raise ValueError(f"load_state_dict: {k!r} has dtype {value.dtype} in the state dict but "
                                 f"{target} in the model")
            arrays[k] = value.astype(target)
        return arrays, missing, unexpected

    def _assign_state(self, arrays: dict) -> None:
        own = self._state_targets()
        for k, value in arrays.items():
            own[k].data = backend.to_device(value, own[k].device)

    def _state_targets(self) -> "OrderedDict[str, Tensor]":
        own = OrderedDict()
        for name, mod in self.named_modules():
            for k, p in list(mod._parameters.items()) + list(mod._buffers.items()):
                if p is not None:
                    own[f"{name}.{k}" if name else k] = p
        return own

    # ------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({k}): " + repr(m).replace("\n", "\n  ") for k, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not lines else head + "\n  " + "\n  ".join(lines) + "\n)"


class StateDictKeyError(ValueError, KeyError):
    """Missing or unexpected keys: a ValueError (a bad argument), and a KeyError as before."""

    __str__ = ValueError.__str__


def _as_numpy(value):
    if isinstance(value, Tensor):
        return value.numpy()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)
