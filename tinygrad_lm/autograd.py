"""Function: one node of the graph, with a hand-written forward and backward on raw arrays.

A subclass writes

    forward(self, *arrays, **options) -> array      saves what backward needs on ``self``
    backward(self, grad) -> array or tuple          one gradient per positional input
                                                    (None where no gradient flows)

and is called through ``MyFunction.apply(*inputs, **options)``, which unwraps tensors,
runs forward, and (when a gradient is wanted) links the output to this node. A backward
works on arrays only: it never calls the autograd engine, and never writes into ``grad``
(the engine may have stored that same array as a leaf's ``.grad`` without a copy).
"""
from __future__ import annotations

import contextlib
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


def set_grad_enabled(mode: bool) -> None:
    _state.enabled = bool(mode)


@contextlib.contextmanager
def no_grad():
    """Context (and decorator) in which no graph is recorded, as ``torch.no_grad``."""
    previous = is_grad_enabled()
    set_grad_enabled(False)
    try:
        yield
    finally:
        set_grad_enabled(previous)


@contextlib.contextmanager
def enable_grad():
    previous = is_grad_enabled()
    set_grad_enabled(True)
    try:
        yield
    finally:
        set_grad_enabled(previous)


_Tensor = None


def _tensor_class():
    """tensor.Tensor, imported once (tensor.py imports this module); an import statement in ``apply``
    would cost a microsecond on every op."""
    global _Tensor
    if _Tensor is None:
        from .tensor import Tensor

        _Tensor = Tensor
    return _Tensor


class Function:
    """Base class of every differentiable op (see module docstring)."""

    inputs: tuple = ()
    needs_input_grad: tuple = ()
    freed = False

    def forward(self, *arrays, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        Tensor = _tensor_class()
        fn = cls()
        out = fn.forward(*[x.data if isinstance(x, Tensor) else x for x in inputs], **options)
        needs = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
        track = any(needs) and is_grad_enabled()
        result = Tensor._wrap(out, requires_grad=track)
        if track:
            fn.inputs = inputs
            fn.needs_input_grad = needs
            result._ctx = fn
        return result

    def free(self) -> None:
        """Drop saved arrays and links once backward has run (retain_graph=False)."""
        self.__dict__.clear()
        self.freed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"
