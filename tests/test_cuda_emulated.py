"""The CuPy kernels ('gpu') held to their plain twins on the CPU: their CUDA C runs through
tests/cuda_emulator.py (g++, one simulated thread after another) and their Python drivers unchanged on
NumPy arrays. On a machine with a GPU the gpu-marked tests run the real thing instead."""
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_lm import backend
from tinygrad_lm.kernels import cuda
from cuda_emulator import CXX, fake_cupy
from helpers import assert_close
from test_conv import assert_kernels_equal as assert_conv_kernels_equal, conv_configs
from test_pool import assert_kernels_equal as assert_pool_kernels_equal, pool_configs

pytestmark = pytest.mark.skipif(CXX is None or backend.gpu_available(),
                                reason="needs g++; with a GPU the real kernels are tested instead")


@pytest.fixture(scope="module", autouse=True)
def emulated_cupy():
    saved = sys.modules.get("cupy")
    sys.modules["cupy"] = fake_cupy()
    cuda.module.cache_clear()
    yield
    cuda.module.cache_clear()
    if saved is None:
        del sys.modules["cupy"]
    else:
        sys.modules["cupy"] = saved


def _both(name, *args):
    """The kernel ``name`` run as its plain twin and as the emulated CuPy kernel."""
    return [backend.kernel(name, impl=impl)(*args) for impl in ("plain", "gpu")]


@settings(max_examples=20, deadline=None)
@given(c=conv_configs(), dtype=st.sampled_from([np.float32, np.float64]))
def test_conv_kernels(c, dtype):
    assert_conv_kernels_equal("gpu", c, dtype)


@settings(max_examples=20, deadline=None)
@given(c=pool_configs(), include_pad=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_pool_kernels(c, include_pad, dtype):
    assert_pool_kernels_equal("gpu", c, include_pad, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal, mask_kind", [(False, None), (False, "shared"), (False, "each"), (True, None)])
@pytest.mark.parametrize("L, S", [(1, 1), (7, 7), (9, 5), (5, 40)])
def test_attention_kernels(dtype, causal, mask_kind, L, S):
    rng = np.random.default_rng(L * 10 + S)
    N, E = 3, 4
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((N, L, E), (N, S, E), (N, S, E + 1)))
    mask = None
    if mask_kind:
        mask = (rng.standard_normal((N, L, S)) * (rng.random((N, L, S)) > 0.3)).astype(dtype)
        mask[0, 0] = -np.inf  # a query that sees no key
        mask = mask[:1] if mask_kind == "shared" else mask
    keep = ((rng.random((N, L, S)) > 0.25) / 0.75).astype(dtype)
    g = rng.standard_normal((N, L, E + 1)).astype(dtype)
    for kp in (None, keep):
        (o, p), (og, pg) = _both("attention_forward", q, k, v, mask, 0.7, causal, kp)
        assert_close(og, o, dtype, "output")
        assert_close(pg, p, dtype, "weights")
        for mask_grad in (False, True):
            grads, grads_g = _both("attention_backward", q, k, v, p, kp, 0.7, g, causal, mask_grad)
            for a, b, what in zip(grads_g, grads, ("dq", "dk", "dv", "dmask"), strict=True):
                if b is None:
                    assert a is None
                else:
                    assert_close(a, b, dtype, what)


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_recurrent_kernels(mode, dtype, reverse):
    from test_recurrent import _recurrence_inputs

    rng = np.random.default_rng(7)
    xw, w, b, h0, c0, mask, hmask = _recurrence_inputs(mode, 6, 3, 5, rng, dtype)
    kind, extra = ("rnn", (mode[4:],)) if mode.startswith("rnn") else (mode, ())
    states = (h0, c0) if mode == "lstm" else (h0,)
    forward = _both(f"{kind}_forward", xw, w, b, *states, mask, hmask, reverse, *extra)
    for (packed, _saved), what in zip(forward, ("plain", "gpu"), strict=True):
        assert packed.dtype == dtype, what
    (packed, saved), (packed_g, saved_g) = forward
    for a, e in zip((packed_g, *saved_g), (packed, *saved), strict=True):
        assert_close(a, e, dtype, "forward")
    g = rng.standard_normal(packed.shape).astype(dtype)
    grads = backend.kernel(f"{kind}_backward", impl="plain")(g, saved, w, mask, hmask, reverse, *extra)
    grads_g = backend.kernel(f"{kind}_backward", impl="gpu")(g, saved_g, w, mask, hmask, reverse, *extra)
    for a, e, what in zip(grads_g, grads, ("dxw", "du", "dh0", "dc0")[:len(grads)], strict=True):  # dc0: LSTM only
        assert a.dtype == dtype
        assert_close(a, e, dtype, what)
