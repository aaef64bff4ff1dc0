"""Module hooks with PyTorch's names and semantics: forward pre-hooks, forward hooks and full backward hooks.

``Module.__call__`` comes here only when the module has a hook, so a module without one pays one attribute test.
A full backward hook sees the gradients at the module's own inputs and outputs, not those of tensors shared with
the rest of the graph (a residual connection): as torch's BackwardHook, the tensor inputs and outputs are passed
through an identity op whose backward hands the gradient to the hook's bookkeeping (after the tensor's own hooks,
as torch's node post-hooks).
"""
from __future__ import annotations

from ..autograd import Function, RemovableHandle, is_grad_enabled
from ..tensor import Tensor


class BackwardHookIdentity(Function):
    """y = x, a node of its own: its backward shows the gradient reaching one module's input or output to
    ``on_grad``, which may return a replacement (an array) or None."""

    view_of_input = True
    saves_inputs = ()

    def forward(self, x, on_grad):
        self.on_grad = on_grad
        return x

    def backward(self, grad):
        new = self.on_grad(grad)
        return grad if new is None else new


def add_hook(module, kind: str, hook, prepend: bool = False) -> RemovableHandle:
    """Register ``hook`` in the module's ``kind`` dict ('forward_pre', 'forward' or 'backward')."""
    if not callable(hook):
        raise TypeError(f"register_{kind}_hook on {type(module).__name__}: the hook must be callable, "
                        f"got {type(hook).__name__}")
    if module._hooks is None:
        object.__setattr__(module, "_hooks", {"forward_pre": {}, "forward": {}, "backward": {}})
    hooks = module._hooks[kind]
    handle = RemovableHandle(hooks, hook)
    if prepend:  # dicts keep insertion order: rebuild with the new one first
        items = [(handle.id, hook)] + [(k, v) for k, v in hooks.items() if k != handle.id]
        hooks.clear()
        hooks.update(items)
    return handle


def call_with_hooks(module, args, kwargs):
    """torch's Module._call_impl: pre-hooks (may replace the args), forward, forward hooks (may replace the
    output), and the identity nodes for the backward hooks around the module's tensors."""
    hooks = module._hooks
    for hook in list(hooks["forward_pre"].values()):
        result = hook(module, args)
        if result is not None:
            args = result if isinstance(result, tuple) else (result,)
    gate = _BackwardGate(module, list(hooks["backward"].values())) if hooks["backward"] else None
    if gate is not None:
        args = gate.wrap_inputs(args)
    output = module.forward(*args, **kwargs)
    for hook in list(hooks["forward"].values()):
        result = hook(module, args, output)
        if result is not None:
            output = result
    if gate is not None:
        output = gate.wrap_outputs(output)
    return output


class _BackwardGate:
    """One call's full backward hooks: gradients of the outputs are gathered first, and the user's hooks run
    with (grad_input, grad_output) once the gradients of all the inputs that need one have arrived (or, when no
    input needs one, once those of the outputs have, as torch)."""

    def __init__(self, module, user_hooks):
        self.module, self.user_hooks = module, user_hooks
        self.n_inputs, self.input_index, self.grad_inputs = 0, [], {}
        self.n_outputs, self.output_index, self.grad_outputs = 0, [], {}

    def _wrap(self, values, index, on_grad):
        if not is_grad_enabled() or not any(isinstance(v, Tensor) and v.requires_grad for v in values):
            return values
        values = list(values)
        for i, v in enumerate(values):
            if isinstance(v, Tensor) and v.requires_grad:
                values[i] = BackwardHookIdentity.apply(v, on_grad=lambda g, i=i: on_grad(i, g))
                index.append(i)
        return values

    def wrap_inputs(self, args):
        self.n_inputs = len(args)
        return tuple(self._wrap(args, self.input_index, self._on_input_grad))

    def wrap_outputs(self, output):
        single = not isinstance(output, tuple)
        outputs = (output,) if single else output
        self.n_outputs = len(outputs)
        wrapped = self._wrap(outputs, self.output_index, self._on_output_grad)
        return wrapped[0] if single else type(output)(wrapped)

    def _pack(self, n, grads):
        return tuple(Tensor._wrap(grads[i]) if i in grads else None for i in range(n))

    def _on_output_grad(self, i, g):
        self.grad_outputs[i] = g
        if not self.input_index and len(self.grad_outputs) == len(self.output_index):
            grad_outputs = self._pack(self.n_outputs, self.grad_outputs)
            for hook in self.user_hooks:
                if hook(self.module, (None,) * self.n_inputs, grad_outputs) is not None:
                    raise RuntimeError(f"full backward hook of {type(self.module).__name__}: no input of this call "
                                       "requires grad, so the hook must return None")
            self.grad_outputs = {}

    def _on_input_grad(self, i, g):
        self.grad_inputs[i] = g
        if len(self.grad_inputs) < len(self.input_index):
            return None
        grad_input = self._pack(self.n_inputs, self.grad_inputs)
        grad_outputs = self._pack(self.n_outputs, self.grad_outputs)
        for hook in self.user_hooks:
            out = hook(self.module, grad_input, grad_outputs)
            if out is None:
                continue
            if not isinstance(out, tuple) or len(out) != len(grad_input):
                raise RuntimeError(f"full backward hook of {type(self.module).__name__} returned {out!r}; expected "
                                   f"a tuple of {len(grad_input)} gradients (or None)")
            if len(self.input_index) > 1:
                raise RuntimeError(f"full backward hook of {type(self.module).__name__}: replacing grad_input is "
                                   "supported for a call with one input that requires grad (the gradients of "
                                   "the others have already flowed on)")
            grad_input = out
        self.grad_inputs, self.grad_outputs = {}, {}
        return None if grad_input[i] is None else grad_input[i].data
