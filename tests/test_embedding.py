"""nn.Embedding / F.embedding (D3.F6 word embeddings): lookup forward, scatter-add backward, padding_idx."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_lm as tg
from tinygrad_lm import nn

from helpers import assert_close, compare_with_torch


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_matches_torch(dtype, padding_idx):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((7, 4))
    idx = np.array([[1, 2, 2, 6], [0, 2, 1, 1], [5, 5, 5, 3]])  # repeats: the backward must add them up
    compare_with_torch(lambda w: nn.functional.embedding(tg.tensor(idx), w, padding_idx=padding_idx),
                       lambda w: torch.nn.functional.embedding(torch.tensor(idx), w, padding_idx=padding_idx),
                       [weight], dtype=dtype)


@settings(max_examples=8, deadline=None)
@given(rows=st.integers(1, 12), dim=st.integers(1, 5), shape=st.lists(st.integers(0, 5), min_size=0, max_size=3),
       seed=st.integers(0, 100))
def test_embedding_drawn_shapes(rows, dim, shape, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, rows, size=tuple(shape))
    compare_with_torch(lambda w: nn.functional.embedding(tg.tensor(idx), w),
                       lambda w: torch.nn.functional.embedding(torch.tensor(idx), w),
                       [rng.standard_normal((rows, dim))])


def test_embedding_gradcheck():
    idx = np.array([[0, 3, 3], [2, 0, 1]])
    w = tg.tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)
    assert tg.gradcheck(lambda w: nn.functional.embedding(tg.tensor(idx), w), [w])


def test_large_vocabulary_backward_equals_add_at():
    """The sort-and-reduce scatter-add equals the obvious np.add.at over a 10,000-row table."""
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 10000, size=(32, 35))
    emb = nn.Embedding(10000, 16)
    g = rng.standard_normal((32, 35, 16)).astype(np.float32)
    (emb(tg.tensor(idx)) * tg.tensor(g)).sum().backward()
    expected = np.zeros((10000, 16), np.float32)
    np.add.at(expected, idx.reshape(-1), g.reshape(-1, 16))
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_module_init_padding_and_state_dict():
    emb = nn.Embedding(10, 3, padding_idx=-1)
    assert emb.padding_idx == 9 and emb.weight.dtype == np.float32
    assert (emb.weight.numpy()[9] == 0).all()
    theirs = torch.nn.Embedding(10, 3, padding_idx=9)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in emb.state_dict().items()})
    idx = np.array([1, 9, 4])
    assert_close(emb(tg.tensor(idx)), theirs(torch.tensor(idx)), np.float32)
    big = nn.Embedding(2000, 50)
    assert abs(big.weight.numpy().std() - 1) < 0.02  # N(0, 1) as PyTorch


def test_embedding_errors():
    emb = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match="out of range"):
        emb(tg.tensor([0, 5]))
    with pytest.raises(TypeError, match="integers"):
        emb(tg.tensor([0.5]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(ValueError, match="positive"):
        nn.Embedding(0, 2)
