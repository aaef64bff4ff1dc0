"""Finite-difference gradient check: the tool every op test and exercise uses.

The analytic gradient comes from ``backward`` with a **random upstream gradient** ``u``, and is
compared with central differences of ``<u, fn(x)>``. A sum upstream (u = 1) would hide a backward
that is wrong by anything whose entries sum to zero: the true gradient of sum(softmax(x)) is 0,
so a softmax backward returning zeros would pass.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message names the worst element."""


def _as_outputs(out):
    return out if isinstance(out, (tuple, list)) else (out,)


def _objective(fn, inputs, upstream):
    """<u, fn(inputs)> as a float (no graph)."""
    with no_grad():
        outs = _as_outputs(fn(*inputs))
        return float(sum(float((backend.to_device(o.data, "cpu") * u).sum())
                         for o, u in zip(outs, upstream, strict=True)))


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              mode: str = "full", seed: int = 0, raise_exception: bool = True) -> bool:
    """Check the gradients of ``fn(*inputs)`` with respect to every input that requires grad.

    ``inputs`` must be float64 tensors (float32 differences are too coarse). ``mode='full'`` perturbs
    each element (2 evaluations per element); ``mode='directional'`` checks the derivative along one
    random direction (2 evaluations in all) for large inputs. Raises GradcheckError naming the worst
    element (input, index, analytic, numeric) unless ``raise_exception=False``; returns True if all agree.
    """
    if mode not in ("full", "directional"):
        raise ValueError(f"mode must be 'full' or 'directional', got {mode!r}")
    inputs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
    wrt = [i for i, x in enumerate(inputs) if x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in wrt:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs (.double())")
    rng = np.random.default_rng(seed)

    for x in inputs:
        x.grad = None
    outs = _as_outputs(fn(*inputs))
    upstream = [rng.standard_normal(o.shape) for o in outs]
    root = sum(((o * Tensor(u, device=o.device)).sum() for o, u in zip(outs, upstream, strict=True) if o.requires_grad),
               start=Tensor(0.0, dtype=np.float64))
    if not root.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input that requires grad")
    root.backward()
    analytic = {i: np.zeros(inputs[i].shape) if inputs[i].grad is None else inputs[i].grad.numpy()
                for i in wrt}

    def perturbed(i, delta):
        """fn's objective with inputs[i] shifted by ``delta`` (a CPU array)."""
        x = inputs[i]
        saved = x.data
        x.data = saved + backend.to_device(delta, x.device)
        try:
            return _objective(fn, inputs, upstream)
        finally:
            x.data = saved

    if mode == "directional":
        directions = {i: rng.standard_normal(inputs[i].shape) for i in wrt}
        saved = {i: inputs[i].data for i in wrt}
        for i in wrt:
            inputs[i].data = saved[i] + backend.to_device(eps * directions[i], inputs[i].device)
        plus = _objective(fn, inputs, upstream)
        for i in wrt:
            inputs[i].data = saved[i] - backend.to_device(eps * directions[i], inputs[i].device)
        minus = _objective(fn, inputs, upstream)
        for i in wrt:
            inputs[i].data = saved[i]
        numeric = (plus - minus) / (2 * eps)
        predicted = float(sum((analytic[i] * directions[i]).sum() for i in wrt))
        if abs(predicted - numeric) > atol + rtol * abs(numeric):
            if raise_exception:
                raise GradcheckError(f"directional derivative mismatch: analytic {predicted:.10g}, "
                                     f"numeric {numeric:.10g}")
            return False
        return True

    worst = None  # (excess, input, index, analytic, numeric)
    for i in wrt:
        numeric = np.zeros(inputs[i].shape)
        for idx in np.ndindex(*inputs[i].shape):
            delta = np.zeros(inputs[i].shape)
            delta[idx] = eps
            numeric[idx] = (perturbed(i, delta) - perturbed(i, -delta)) / (2 * eps)
        err = np.abs(analytic[i] - numeric) - (atol + rtol * np.abs(numeric))
        if err.size and err.max() > 0:
            k = np.unravel_index(int(err.argmax()), err.shape)
            if worst is None or err[k] > worst[0]:
                worst = (err[k], i, k, analytic[i][k], numeric[k])
    if worst is not None:
        if raise_exception:
            _, i, k, a, n = worst
            raise GradcheckError(f"gradient mismatch in input {i} at index {tuple(int(v) for v in k)}: "
                                 f"analytic {a:.10g}, numeric {n:.10g} (atol={atol}, rtol={rtol})")
        return False
    return True
