"""Shared test tools: hold a tinygrad_lm function to its PyTorch twin, forward and backward."""
from __future__ import annotations

import numpy as np
import torch

import tinygrad_lm as tg

TOL = {np.dtype(np.float64): dict(rtol=1e-10, atol=1e-10), np.dtype(np.float32): dict(rtol=1e-5, atol=1e-5)}


def assert_close(actual, expected, dtype=np.float64, what="value", rtol=None, atol=None):
    tol = dict(TOL[np.dtype(dtype)])
    if rtol is not None:
        tol["rtol"] = rtol
    if atol is not None:
        tol["atol"] = atol
    actual = actual.numpy() if isinstance(actual, tg.Tensor) else np.asarray(actual)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch's {expected.shape}"
    np.testing.assert_allclose(actual, expected, err_msg=what, **tol)


def compare_with_torch(tg_fn, torch_fn, arrays, requires_grad=None, dtype=np.float64, seed=0, rtol=None,
                       atol=None):
    """Run ``tg_fn`` and ``torch_fn`` on the same arrays; compare outputs and the input gradients
    under the same random upstream gradient. Returns the tinygrad_lm output."""
    arrays = [np.asarray(a) for a in arrays]
    if requires_grad is None:
        requires_grad = [a.dtype.kind == "f" for a in arrays]
    cast = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    tg_in = [tg.tensor(a, requires_grad=r) for a, r in zip(cast, requires_grad, strict=True)]
    th_in = [torch.tensor(a, requires_grad=bool(r)) for a, r in zip(cast, requires_grad, strict=True)]
    out, ref = tg_fn(*tg_in), torch_fn(*th_in)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    refs = ref if isinstance(ref, (tuple, list)) else (ref,)
    for i, (o, r) in enumerate(zip(outs, refs, strict=True)):
        assert o.dtype == np.dtype(str(r.dtype).replace("torch.", "")), f"output {i}: dtype {o.dtype} vs {r.dtype}"
        assert_close(o, r, dtype, f"forward output {i}", rtol, atol)
    rng = np.random.default_rng(seed)
    ups = [rng.standard_normal(r.shape).astype(dtype) for r in refs]
    if any(requires_grad):
        tg_root = sum(((o * tg.tensor(u)).sum() for o, u in zip(outs, ups, strict=True) if o.requires_grad),
                      tg.tensor(0.0, dtype=dtype))
        th_root = sum((r * torch.tensor(u)).sum() for r, u in zip(refs, ups, strict=True) if r.requires_grad)
        tg_root.backward()
        th_root.backward()
        for i, (a, b, r) in enumerate(zip(tg_in, th_in, requires_grad, strict=True)):
            if r:
                assert a.grad is not None, f"input {i}: no gradient"
                assert a.grad.dtype == np.dtype(dtype), f"input {i}: gradient dtype {a.grad.dtype}"
                assert_close(a.grad, b.grad, dtype, f"gradient of input {i}", rtol, atol)
    return out
