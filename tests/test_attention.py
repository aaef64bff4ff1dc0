"""Scaled dot-product attention: PyTorch equality (every mask kind, odd shapes), gradcheck, the fused
Numba kernel held to its plain twin, and the named formulas (D0.F3, D2.F1-F3, D4.F2)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import backend
from tinygrad_lm.kernels import attention as KA, threads
from tinygrad_lm.ops import attention as A

from helpers import assert_close, compare_with_torch


def _qkv(rng, batch, L, S, E, Ev):
    return [rng.standard_normal(batch + (n, d)) for n, d in ((L, E), (S, E), (S, Ev))]


def _mask(rng, kind, batch, L, S):
    if kind == "bool":
        m = rng.random(batch + (L, S)) > 0.3
        m[..., 0] = True  # every query keeps a key (torch's fused path and ours agree either way)
        return m
    if kind == "bool_2d":
        m = rng.random((L, S)) > 0.3
        m[:, 0] = True
        return m
    if kind == "additive":
        return rng.standard_normal(batch + (L, S))
    if kind == "padding":  # (B, 1, 1, S): a key-padding mask broadcast over heads and queries
        m = np.ones(batch[:1] + (1, 1, S), bool)
        m[0, ..., S // 2 + 1:] = False
        return m
    return None


@pytest.mark.parametrize("impl", ["plain", "cpu"])
@pytest.mark.parametrize("kind", [None, "bool", "bool_2d", "additive", "padding", "causal"])
def test_sdpa_matches_torch(impl, kind, monkeypatch):
    monkeypatch.setattr(backend, "PLAIN", impl == "plain")
    rng = np.random.default_rng(1)
    batch, L, S = (2, 3), 5, 7
    mask = _mask(rng, kind, batch, L, S)
    arrays = _qkv(rng, batch, L, S, 4, 6)
    causal = kind == "causal"
    compare_with_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, None if mask is None else tg.tensor(mask),
                                                       is_causal=causal),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, None if mask is None else torch.tensor(mask),
                                                        is_causal=causal),
        arrays)


@settings(max_examples=12, deadline=None)
@given(B=st.integers(1, 2), H=st.integers(1, 3), L=st.integers(1, 6), S=st.integers(1, 6), E=st.integers(1, 5),
       kind=st.sampled_from([None, "bool", "additive", "causal"]), dtype=st.sampled_from([np.float64, np.float32]),
       scale=st.sampled_from([None, 0.3]))
def test_sdpa_hypothesis(B, H, L, S, E, kind, dtype, scale):
    """Batch 1, length 1, one-dimensional heads, L != S (causal is top-left aligned), both dtypes."""
    rng = np.random.default_rng(L * 100 + S * 10 + E)
    mask = _mask(rng, kind, (B, H), L, S)
    if kind == "additive":
        mask = mask.astype(dtype)
    compare_with_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, None if mask is None else tg.tensor(mask),
                                                       is_causal=kind == "causal", scale=scale),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, None if mask is None else torch.tensor(mask),
                                                        is_causal=kind == "causal", scale=scale),
        _qkv(rng, (B, H), L, S, E, E + 1), dtype=dtype)


@pytest.mark.parametrize("impl", ["plain", "cpu"])
@pytest.mark.parametrize("mask_shape", [(5, 7), (2, 1, 5, 7), (2, 3, 5, 7), (1, 7)])
def test_sdpa_float_mask_gets_its_gradient_like_torch(impl, mask_shape, monkeypatch):
    """An additive mask that requires grad gets dL/dscores, summed over the axes it was broadcast along."""
    monkeypatch.setattr(backend, "PLAIN", impl == "plain")
    rng = np.random.default_rng(8)
    arrays = _qkv(rng, (2, 3), 5, 7, 4, 6) + [rng.standard_normal(mask_shape)]
    compare_with_torch(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, arrays)
    compare_with_torch(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m, scale=0.3),
                       lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, m, scale=0.3),
                       arrays, requires_grad=[False, True, False, True])


def test_sdpa_gradcheck():
    rng = np.random.default_rng(2)
    q, k, v = (tg.tensor(a, requires_grad=True) for a in _qkv(rng, (2,), 3, 4, 3, 2))
    mask = tg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert tg.gradcheck(lambda q, k, v, mask: F.scaled_dot_product_attention(q, k, v, mask), [q, k, v, mask])
    assert tg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v])


@pytest.mark.parametrize("impl", ["plain", "cpu"])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("L, S", [(64, 64), (70, 45), (45, 70), (100, 100)])
def test_blocks_match_torch(impl, causal, L, S, monkeypatch):
    """Sequences longer than a block (causal: the blocks above the diagonal are skipped), L != S included."""
    assert max(L, S) > KA.BLOCK
    monkeypatch.setattr(backend, "PLAIN", impl == "plain")
    compare_with_torch(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                       lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=causal),
                       _qkv(np.random.default_rng(9), (2, 2), L, S, 5, 3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal, shared_mask", [(False, False), (False, True), (True, False)])
@pytest.mark.parametrize("L, S", [(9, 9), (70, 45), (45, 70)])
@pytest.mark.parametrize("parts", [1, 4])
def test_fused_kernel_equals_plain(dtype, causal, shared_mask, L, S, parts, monkeypatch):
    """``parts``: the batch-heads in that many ranges, as on that many threads (uneven: 6 in 4)."""
    monkeypatch.setattr(threads, "parts", lambda n, work: parts)
    rng = np.random.default_rng(3)
    q, k, v = (a.astype(dtype) for a in _qkv(rng, (6,), L, S, 5, 4))
    mask = None if causal else (rng.standard_normal((6, L, S)) * (rng.random((6, L, S)) > 0.2)).astype(dtype)
    if shared_mask:
        mask = mask[:1]
    keep = ((rng.random((6, L, S)) > 0.25) / 0.75).astype(dtype)
    g = rng.standard_normal((6, L, 4)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for kp in (None, keep):
        outs = [backend.kernel("attention_forward", impl=i)(q, k, v, mask, 0.4, causal, kp) for i in ("plain", "cpu")]
        for a, b in zip(*outs, strict=True):
            np.testing.assert_allclose(a, b, **tol)
        for mask_grad in (False, True):  # True: dS comes back too, and the scale goes on dQ and dK
            grads = [backend.kernel("attention_backward", impl=i)(q, k, v, outs[0][1], kp, 0.4, g, causal, mask_grad)
                     for i in ("plain", "cpu")]
            assert (grads[0][3] is None) == (grads[1][3] is None) == (not mask_grad)
            for a, b in zip(*grads, strict=True):
                if a is not None:
                    assert a.dtype == dtype
                    np.testing.assert_allclose(a, b, **tol)


def test_fully_masked_query_gives_zero_like_torch():
    rng = np.random.default_rng(4)
    mask = np.ones((3, 5), bool)
    mask[1] = False
    compare_with_torch(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, tg.tensor(mask)),
                       lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, torch.tensor(mask)),
                       _qkv(rng, (2,), 3, 5, 4, 4))


def test_dropout_on_weights_and_its_gradient():
    rng = np.random.default_rng(5)
    q, k, v = (tg.tensor(a, requires_grad=True) for a in _qkv(rng, (2,), 4, 6, 3, 3))
    tg.manual_seed(7)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert not np.allclose(out.numpy(), F.scaled_dot_product_attention(q, k, v).numpy())

    def fn(q, k, v):  # the same dropout mask at every evaluation
        tg.manual_seed(7)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)

    assert tg.gradcheck(fn, [q, k, v])


def test_refuses_bad_arguments():
    q = tg.randn(2, 3, 4)
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=tg.ones(3, 3), is_causal=True)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(2, 3, 5\)"):
        F.scaled_dot_product_attention(q, tg.randn(2, 3, 5), q)
    with pytest.raises(ValueError, match="does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=tg.ones(4, 3))


def test_float32_stays_float32():
    q = tg.randn(2, 3, 4, requires_grad=True)
    out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    out.sum().backward()
    assert out.dtype == np.float32 and q.grad.dtype == np.float32


def test_formulas():
    """D0.F3, D2.F1-F3, D4.F2 written out by hand against the named functions."""
    rng = np.random.default_rng(6)
    X, Wq, Wk, Wv = rng.standard_normal((5, 4)), *(rng.standard_normal((4, 3)) for _ in range(3))
    Q, K, V = X @ Wq, X @ Wk, X @ Wv
    S = Q @ K.T / math.sqrt(3)
    Am = np.exp(S - S.max(1, keepdims=True))
    Am /= Am.sum(1, keepdims=True)
    T = [tg.tensor(a) for a in (X, Wq, Wk, Wv)]
    assert_close(A.attention_weights(T[0] @ T[1], T[0] @ T[2]), Am)
    assert_close(A.self_attention(*T), Am @ V)
    assert_close(A.attention(*(tg.tensor(a) for a in (Q, K, V))), Am @ V)
    for got, want in zip(A.projections(*T), (Q, K, V), strict=True):
        assert_close(got, want)
    assert_close(A.l2_normalize(T[0]), X / np.linalg.norm(X, axis=-1, keepdims=True))
    causal = np.tril(np.ones((5, 5), bool))
    Sm = np.where(causal, S, -np.inf)
    Am = np.exp(Sm - Sm.max(1, keepdims=True))
    assert_close(A.self_attention(*T, mask=tg.tensor(causal)), (Am / Am.sum(1, keepdims=True)) @ V)
