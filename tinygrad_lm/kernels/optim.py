"""One Adam / AdamW update of a parameter, in place: the plain NumPy twin (it runs on CuPy arrays too)
and a Numba kernel that makes one pass over the parameter, its gradient and its moments instead of
NumPy's ten (each with a temporary array): D0.M1's step spent ~40 ms in Adam.

With g the gradient, t the step, c1 = 1 - b1^t and c2 = 1 - b2^t (D2.T4 for the decays):

    AdamW:  w <- w (1 - lr wd)               Adam with wd:  g <- g + wd w
    m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,   v_max <- max(v_max, v) (amsgrad, then v = v_max)
    w <- w - (lr / c1) m / (sqrt(v) / sqrt(c2) + eps)

Both evaluate these in the same order with the constants in the parameter's dtype, so they agree to
the last bit (float32 stays float32 arithmetic, as in PyTorch).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..backend import contract, register, xp
from . import checks
from .threads import in_ranges


def constants(dtype, t, lr, b1, b2, eps, wd, decoupled):
    """The update's scalars in ``dtype``: decay, wd, b1, 1-b1, b2, 1-b2, sqrt(c2), eps, lr/c1."""
    c = dtype.type
    return (c(1 - lr * wd) if decoupled else c(1), c(0) if decoupled else c(wd), c(b1), c(1 - b1), c(b2), c(1 - b2),
            c(math.sqrt(1 - b2 ** t)), c(eps), c(lr / (1 - b1 ** t)))


@register("adam_step", "plain")
def adam_plain(p, g, m, v, vmax, consts):
    """In place on p, m, v (and vmax, None without amsgrad)."""
    decay, wd, b1, one_b1, b2, one_b2, root_c2, eps, step = consts
    if decay != 1:
        p *= decay
    if wd:
        g = g + wd * p
    m *= b1
    m += one_b1 * g
    v *= b2
    v += one_b2 * g * g
    if vmax is not None:
        xp(v).maximum(vmax, v, out=vmax)
        v = vmax
    p -= step * m / (xp(v).sqrt(v) / root_c2 + eps)


@njit(cache=True, nogil=True, error_model="numpy")  # no ZeroDivisionError check: the loop vectorises
def _adam_numba(p, g, m, v, vmax, amsgrad, decay, wd, b1, one_b1, b2, one_b2, root_c2, eps, step):
    for i in range(p.shape[0]):
        w = p[i] * decay if decay != 1 else p[i]
        gi = g[i] + wd * w if wd else g[i]
        mi = m[i] * b1
        mi = mi + one_b1 * gi
        vi = v[i] * b2
        vi = vi + one_b2 * gi * gi
        m[i], v[i] = mi, vi
        if amsgrad:
            vm = vmax[i]
            if not (vm > vi or np.isnan(vm)):  # np.maximum: the larger, NaN if either is
                vm = vi
            vmax[i] = vm
            vi = vm
        p[i] = w - step * mi / (np.sqrt(vi) / root_c2 + eps)


@register("adam_step", "cpu")
def adam_cpu(p, g, m, v, vmax, consts):
    if not (p.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous):
        return adam_plain(p, g, m, v, vmax, consts)
    flat = [a.reshape(-1) for a in (p, np.ascontiguousarray(g), m, v)]
    vm = vmax.reshape(-1) if vmax is not None else flat[3]
    # a few operations an element: only a parameter of over ~1M elements is worth a second thread
    in_ranges(lambda a, b: _adam_numba(*(x[a:b] for x in flat), vm[a:b], vmax is not None, *consts),
              p.size, p.size // 16)


# ---------------------------------------------------------------- contracts (backend.contract)
@contract("adam_step")
def _adam_contract(p, g, m, v, vmax, consts):
    checks.floating("adam_step", param=p, exp_avg=m, exp_avg_sq=v, max_exp_avg_sq=vmax)
    checks.floating("adam_step", grad=g)
    for name, a in (("grad", g), ("exp_avg", m), ("exp_avg_sq", v), ("max_exp_avg_sq", vmax)):
        checks.shape("adam_step", name, a, p.shape)
