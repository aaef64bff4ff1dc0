"""The autograd engine: Function, one node of the graph with a hand-written forward and backward on raw
arrays; ``backward``, the walk that runs them; grad mode, the in-place version checks, the dtype rule
and anomaly detection.

A Function subclass writes

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
import os
import re
import threading
import traceback

from . import backend

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
    """Base class of every differentiable op (see module docstring).

    Class attributes a subclass sets so the engine can refuse a backward through changed data:
    ``saves_inputs`` the positions of the tensor inputs its backward reads (None: all of them),
    ``saves_output`` whether its backward reads its own output (exp, tanh, softmax...). An op whose
    output is a view of its first input sets ``view_of_input`` (in forward where that depends on
    the call), so the view shares that input's version counter. ``operands`` names the inputs in
    error messages.
    """

    inputs: tuple = ()
    needs_input_grad: tuple = ()
    freed = False
    saves_inputs: tuple | None = None
    saves_output = False
    view_of_input = False
    operands: tuple = ()
    clock = 0

    def forward(self, *arrays, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        Tensor = _tensor_class()
        arrays, first = [], None
        for x in inputs:
            if isinstance(x, Tensor):
                x = x.data
                if first is None:
                    first = x.dtype
                elif x.dtype is not first:  # rare (a mask, an index): the full rule, which may raise
                    check_dtypes(cls, inputs, Tensor)
            arrays.append(x)
        fn = cls()
        try:
            out = fn.forward(*arrays, **options)
        except Exception as e:  # (free when nothing is raised)
            raise_as_library_error(cls, "forward", e, inputs)
            raise
        needs = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
        track = any(needs) and is_grad_enabled()
        result = Tensor._wrap(out, requires_grad=track)
        if fn.view_of_input:  # x.reshape(...), x[1:], x.T: an in-place change of either shows in both
            result._version_counter = inputs[0].version_counter()
        if track:
            fn.inputs = inputs
            fn.needs_input_grad = needs
            fn.clock = _clock[0]  # not a version per input: one read, whatever the op
            if cls.saves_output:
                fn.output = result._version_counter = [0, 0]
            result._ctx = fn
        return result

    def check_saved_versions(self) -> None:
        """Raise if a tensor this node saved for backward was changed in place after its forward."""
        saves = self.saves_inputs
        for i, x in enumerate(self.inputs):
            if (saves is None or i in saves) and (getattr(x, "_version_counter", None) or (0, 0))[1] > self.clock:
                name = self.operands[i] if i < len(self.operands) else f"input {i}"
                _modified(self, f"{name} of shape {x.shape} and dtype {x.dtype}", x._version_counter)
        if self.saves_output and self.output[1] > self.clock:
            _modified(self, "its output", self.output)

    def free(self) -> None:
        """Drop saved arrays and links once backward has run (retain_graph=False)."""
        self.__dict__.clear()
        self.freed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"


# A clock of in-place changes. A tensor's ``_version_counter`` is [version, clock of its last change],
# shared with its views; a node keeps the clock of its forward, and backward refuses a saved tensor
# whose last change came later.
_clock = [0]


def increment_version(tensor) -> None:
    """Record an in-place change of ``tensor``'s memory: its in-place methods call it, and so does code that
    writes its ``.data`` directly (an optimizer step), as torch.autograd.graph.increment_version."""
    counter = tensor._version_counter or tensor.version_counter()
    _clock[0] += 1
    counter[0] += 1
    counter[1] = _clock[0]


def _modified(fn, what, counter):
    raise RuntimeError(f"one of the tensors saved by {type(fn).__name__}Backward for backward was modified in place "
                       f"after its forward (it is now at version {counter[0]}): {what}. Change it only after "
                       "backward(), or change a .clone() of it")


def check_dtypes(cls, inputs, Tensor) -> None:
    """The one dtype rule of every op (PyTorch's for parameters and inputs): floating-point tensor inputs
    must share one dtype; integer and bool inputs (indices, masks) are free. Numbers never reach here as
    tensors of another dtype (ops turn a Python number into the tensor's dtype)."""
    ref = None
    for x in inputs:
        if isinstance(x, Tensor):
            dtype = x.data.dtype
            if dtype.kind == "f":
                if ref is None:
                    ref = dtype
                elif dtype != ref:
                    _dtype_error(cls, inputs, Tensor)


def _dtype_error(cls, inputs, Tensor):
    floats = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.dtype.kind == "f"]
    ref, i = floats[0], next(i for i in floats if inputs[i].dtype != inputs[floats[0]].dtype)
    a, b = (cls.operands[k] if k < len(cls.operands) else f"input {k}" for k in (ref, i))
    raise TypeError(f"{op_name(cls)}: {a} has dtype {inputs[ref].dtype} (shape {inputs[ref].shape}) but {b} has "
                    f"dtype {inputs[i].dtype} (shape {inputs[i].shape}); float32 and float64 do not mix: convert "
                    "one with .float() or .double()")


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def raise_as_library_error(cls, phase: str, e: Exception, inputs=()) -> None:
    """An error from inside NumPy or Numba, which the op's own checks did not foresee, is raised again as
    tinygrad_lm's, naming the op and its operands; an error the library raised itself goes on as it is."""
    last = traceback.extract_tb(e.__traceback__)[-1].filename
    if last.startswith(_PACKAGE):
        return
    kind = next((k for k in (TypeError, IndexError, ValueError) if isinstance(e, k)), RuntimeError)
    operands = ", ".join(f"{tuple(x.shape)} {x.dtype}" for x in inputs if hasattr(x, "shape") and hasattr(x, "dtype"))
    raise kind(f"{op_name(cls)} ({phase}) failed on operands [{operands}]: {type(e).__name__}: {e}") from None


def op_name(cls) -> str:
    """The op's name in messages: the Function's class name in snake case (CrossEntropy -> cross_entropy)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls.__name__).lower()


# ------------------------------------------------------------------ the engine
def backward(root, gradient=None, retain_graph: bool = False) -> None:
    """``root.backward()``: accumulate d(root)/d(leaf) into every leaf's ``.grad``, in reverse topological order.

    The walk is iterative (no recursion limit), each node's backward runs once with the sum of the
    gradients that reached it, and the graph is freed afterwards unless ``retain_graph=True``.
    """
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no input of the "
                           "computation had requires_grad=True (or it ran under no_grad())")
    Tensor = _tensor_class()
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward() without a gradient needs a scalar output, but this tensor has "
                               f"shape {root.shape}; pass gradient=<tensor of shape {root.shape}>")
        grad = backend.xp(root.data).ones_like(root.data)
    else:
        grad = Tensor(gradient, dtype=root.dtype, device=root.device).data
        if grad.shape != root.data.shape:
            raise RuntimeError(f"backward(gradient=...) has shape {tuple(grad.shape)}, "
                               f"but the tensor has shape {root.shape}")

    anomaly = is_anomaly_enabled()
    grads = {id(root): grad}
    # ids of arrays a caller may still hold: a .grad must never alias them (see _accumulate)
    shared = {id(grad)} if gradient is not None else set()
    for node in _topological_order(root, Tensor):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node._backward_hooks:  # Tensor.register_hook: None on a tensor that never had one
            g = _run_tensor_hooks(node, g, Tensor)
        ctx = node._ctx
        if ctx is None or node._retains_grad:
            _accumulate(node, g, shared, retain_graph, Tensor)
        if ctx is None:
            continue
        if ctx.freed:
            raise RuntimeError("trying to backward through the graph a second time: its saved arrays were "
                               "freed by the first backward(); pass retain_graph=True to the first call")
        if ctx.clock != _clock[0]:  # something was changed in place since this node's forward
            ctx.check_saved_versions()
        try:
            in_grads = ctx.backward(g)
        except Exception as e:
            raise_as_library_error(type(ctx), "backward", e)
            raise
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if anomaly:
            check_backward_finite(ctx, in_grads)
        # strict=False: a backward may leave out trailing inputs that take no gradient (a mask, an index)
        for inp, ig, need in zip(ctx.inputs, in_grads, ctx.needs_input_grad, strict=False):
            if need and ig is not None:
                key = id(inp)
                grads[key] = grads[key] + ig if key in grads else ig
        if not retain_graph:
            ctx.free()


def _run_tensor_hooks(node, g, Tensor):
    """Call ``node``'s gradient hooks in registration order, each on the gradient the previous one returned
    (as torch: a hook returning None keeps the gradient); before it is accumulated or flows on."""
    for hook in list(node._backward_hooks.values()):
        out = hook(Tensor._wrap(g))
        if out is not None:
            out = out.data if isinstance(out, Tensor) else out
            if tuple(out.shape) != tuple(g.shape):
                raise RuntimeError(f"hook {hook!r} on a tensor of shape {node.shape} returned a gradient of shape "
                                   f"{tuple(out.shape)}; a gradient hook must keep the shape")
            g = out
    return g


class RemovableHandle:
    """What every ``register_*hook`` returns: ``remove()`` takes the hook out of ``hooks``, the dict it was put in."""

    _next_id = 0

    def __init__(self, hooks: dict, hook):
        RemovableHandle._next_id += 1
        self.id, self.hooks_dict_ref = RemovableHandle._next_id, hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        self.hooks_dict_ref.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _accumulate(node, g, shared: set, copy_all: bool, Tensor) -> None:
    """Add ``g`` into ``node.grad``. A first gradient is stored without a copy when the array is the
    backward's own: not a view, not handed to another tensor already, not the caller's (``shared``)
    and not possibly saved for another backward (``copy_all`` under retain_graph). Else an in-place
    update of one ``.grad`` (an optimizer's, clip_grad_norm_'s) would change another array too."""
    if g.dtype != node.dtype:
        g = g.astype(node.dtype)
    if node.grad is None:
        if copy_all or g.base is not None or id(g) in shared:
            g = g.copy()
        shared.add(id(g))
        node.grad = Tensor._wrap(g)
    else:
        node.grad = Tensor._wrap(node.grad.data + g)


def _topological_order(root, Tensor) -> list:
    """Nodes reachable from ``root`` that need gradients, root first (iterative DFS)."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            for inp in ctx.inputs:
                if isinstance(inp, Tensor) and inp.requires_grad and id(inp) not in visited:
                    stack.append((inp, False))
    order.reverse()
    return order


# ------------------------------------------------------------------ anomaly detection
_anomaly = threading.local()


def is_anomaly_enabled() -> bool:
    return getattr(_anomaly, "enabled", False)


def _check_finite(array, cls, where: str) -> None:
    if array is None or getattr(array, "dtype", None) is None or array.dtype.kind not in "fc":
        return
    m = backend.xp(array)
    if not bool(m.isfinite(array).all()):
        kind = "nan" if bool(m.isnan(array).any()) else "inf"
        raise RuntimeError(f"detect_anomaly: {op_name(cls)} ({cls.__name__}Backward) made {kind} values in {where} "
                           f"of shape {tuple(array.shape)}")


def check_backward_finite(fn, grads) -> None:
    """Under detect_anomaly(), refuse a backward that made a nan or inf (called by the engine)."""
    for i, g in enumerate(grads):
        _check_finite(g, type(fn), f"its backward, the gradient of input {i}")


@contextlib.contextmanager
def detect_anomaly(check_nan: bool = True):
    """As torch.autograd.detect_anomaly: inside, the first op whose forward or backward makes a nan or
    inf raises RuntimeError naming it. Outside it costs nothing: ``Function.apply`` is swapped for a
    checking one only while the context is open."""
    original = Function.__dict__["apply"]
    previous = is_anomaly_enabled()

    def checked_apply(cls, *inputs, **options):
        out = original.__func__(cls, *inputs, **options)
        if check_nan:
            _check_finite(out.data, cls, "its forward, the output")
        return out

    Function.apply = classmethod(checked_apply)
    _anomaly.enabled = check_nan
    try:
        yield
    finally:
        Function.apply = original
        _anomaly.enabled = previous
