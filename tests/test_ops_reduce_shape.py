"""Reductions (sum mean max min var std), shape ops, cat/stack/split/chunk, indexing and gather:
gradcheck (float64, random upstream) and PyTorch parity (float64 1e-10, float32 1e-5)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from op_checks import FAST, check_op, randn, seeds, shapes, torch_single_thread  # noqa: F401

import tinygrad_lm as tg


@st.composite
def shape_and_dim(draw, min_dims=1, allow_none=True):
    """A shape and a reduction ``dim``: None, one axis (maybe negative) or a tuple of axes."""
    shape = draw(shapes(min_dims=min_dims))
    nd = len(shape)
    options = [st.integers(-nd, nd - 1), st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)
               .map(tuple)]
    if allow_none:
        options.append(st.none())
    return shape, draw(st.one_of(*options)), draw(st.booleans())


REDUCTIONS = {
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda x, d, k: x.sum(d, keepdim=k)),
    "mean": (lambda x, d, k: x.mean(d, keepdim=k), lambda x, d, k: x.mean(d, keepdim=k)),
    "amax": (lambda x, d, k: tg.amax(x, d, keepdim=k), lambda x, d, k: torch.amax(x, () if d is None else d, k)),
    "amin": (lambda x, d, k: tg.amin(x, d, keepdim=k), lambda x, d, k: torch.amin(x, () if d is None else d, k)),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@settings(**FAST)
@given(sdk=shape_and_dim(), seed=seeds, transpose=st.booleans())
def test_reductions(name, sdk, seed, transpose):
    shape, dim, keepdim = sdk
    tg_fn, th_fn = REDUCTIONS[name]
    (x,) = randn(seed, shape)
    if transpose:  # reduce a reversed-axes (non-contiguous) view of the same shape
        x = np.ascontiguousarray(x.T)
        check_op(lambda t: tg_fn(t.permute(*reversed(range(t.ndim))), dim, keepdim),
                 lambda t: th_fn(t.permute(*reversed(range(t.ndim))), dim, keepdim), [x])
    else:
        check_op(lambda t: tg_fn(t, dim, keepdim), lambda t: th_fn(t, dim, keepdim), [x])


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("correction", [0, 1])
@settings(**FAST)
@given(sdk=shape_and_dim(), seed=seeds)
def test_var_std(name, correction, sdk, seed):
    shape, dim, keepdim = sdk
    dims = range(len(shape)) if dim is None else [dim] if isinstance(dim, int) else dim
    n = int(np.prod([shape[d] for d in dims]))
    if n <= correction:
        return  # 0 / 0, as in PyTorch (nan); nothing to differentiate
    (x,) = randn(seed, shape)
    check_op(lambda t: getattr(t, name)(dim, keepdim=keepdim, correction=correction),
             lambda t: getattr(t, name)(dim, keepdim=keepdim, correction=correction), [x])
    check_op(lambda t: getattr(t, name)(dim, unbiased=bool(correction), keepdim=keepdim),
             lambda t: getattr(torch, name)(t, dim, unbiased=bool(correction), keepdim=keepdim), [x])


@pytest.mark.parametrize("name", ["max", "min"])
@settings(**FAST)
@given(sdk=shape_and_dim(allow_none=False), seed=seeds)
def test_max_min_along_dim_values_and_indices(name, sdk, seed):
    shape, dim, keepdim = sdk
    dim = dim if isinstance(dim, int) else dim[0]
    (x,) = randn(seed, shape)
    check_op(lambda t: getattr(t, name)(dim, keepdim=keepdim).values,
             lambda t: getattr(t, name)(dim, keepdim=keepdim).values, [x])
    idx = getattr(tg.tensor(x), name)(dim, keepdim=keepdim).indices
    ref = getattr(torch.tensor(x), name)(dim, keepdim=keepdim).indices
    np.testing.assert_array_equal(idx.numpy(), ref.numpy())
    assert idx.dtype == np.int64


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_all_with_ties_share_gradient(name):
    x = np.array([[1.0, 3.0, 3.0], [-2.0, 0.5, -2.0]])
    check_op(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), [x], gradcheck=False)
    check_op(lambda t: getattr(tg, "a" + name)(t, 1), lambda t: getattr(torch, "a" + name)(t, 1), [x],
             gradcheck=False)


def test_argmax_argmin():
    x = randn(3, (3, 4))[0]
    for name in ("argmax", "argmin"):
        np.testing.assert_array_equal(getattr(tg.tensor(x), name)(1).numpy(), getattr(torch.tensor(x), name)(1))
        assert getattr(tg.tensor(x), name)().item() == getattr(torch.tensor(x), name)().item()


def test_reduce_dim_out_of_range():
    with pytest.raises(IndexError, match="out of range"):
        tg.tensor(np.ones((2, 3))).sum(2)


# ------------------------------------------------------------------ shape ops
@st.composite
def shape_and_perm(draw):
    shape = draw(shapes(min_dims=1, max_dims=4, max_side=3))
    return shape, tuple(draw(st.permutations(range(len(shape)))))


@settings(**FAST)
@given(sp=shape_and_perm(), seed=seeds)
def test_permute_and_T(sp, seed):
    shape, perm = sp
    (x,) = randn(seed, shape)
    check_op(lambda t: t.permute(*perm) * 1.0, lambda t: t.permute(*perm) * 1.0, [x])
    neg = tuple(p - len(perm) for p in perm)
    check_op(lambda t: t.permute(neg), lambda t: t.permute(neg), [x])
    if len(shape) == 2:
        check_op(lambda t: t.T, lambda t: t.T, [x])


@settings(**FAST)
@given(shape=shapes(min_dims=2, max_dims=4), seed=seeds, data=st.data())
def test_transpose(shape, seed, data):
    d0 = data.draw(st.integers(-len(shape), len(shape) - 1))
    d1 = data.draw(st.integers(-len(shape), len(shape) - 1))
    (x,) = randn(seed, shape)
    check_op(lambda t: t.transpose(d0, d1), lambda t: t.transpose(d0, d1), [x])
    check_op(lambda t: t.mT, lambda t: t.mT, [x])


@settings(**FAST)
@given(shape=shapes(min_dims=1, max_dims=4, max_side=3), seed=seeds, data=st.data())
def test_reshape_view_flatten(shape, seed, data):
    (x,) = randn(seed, shape)
    n = x.size
    target = data.draw(st.sampled_from([(n,), (1, n), (n, 1), (-1,), (1, -1, 1)]))
    check_op(lambda t: t.reshape(target), lambda t: t.reshape(target), [x])
    rev = tuple(reversed(range(len(shape))))
    check_op(lambda t: t.permute(rev).reshape(*target), lambda t: t.permute(rev).reshape(*target), [x])
    check_op(lambda t: t.view(target), lambda t: t.view(target), [x])
    s = data.draw(st.integers(0, len(shape) - 1))
    e = data.draw(st.integers(s, len(shape) - 1))
    check_op(lambda t: t.flatten(s, e), lambda t: t.flatten(s, e), [x])
    check_op(lambda t: tg.flatten(t), lambda t: torch.flatten(t), [x])


def test_view_as_and_expand_as():
    x, y = randn(0, (2, 3), (3, 2))
    check_op(lambda a, b: a.view_as(b) * b, lambda a, b: a.view_as(b) * b, [x, y])
    check_op(lambda a, b: a[:1].expand_as(b.T) * b.T, lambda a, b: a[:1].expand_as(b.T) * b.T, [x, y])


@settings(**FAST)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=3), seed=seeds, data=st.data())
def test_expand(shape, seed, data):
    (x,) = randn(seed, shape)
    target = tuple(data.draw(st.integers(1, 3)) if n == 1 else n for n in shape)
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    keep = tuple(-1 if data.draw(st.booleans()) else n for n in target)
    check_op(lambda t: t.expand(lead + target), lambda t: t.expand(lead + target), [x])
    check_op(lambda t: t.expand(*keep), lambda t: t.expand(*keep), [x])


@settings(**FAST)
@given(shape=shapes(min_dims=1, max_dims=4, max_side=2), seed=seeds, data=st.data())
def test_squeeze_unsqueeze(shape, seed, data):
    (x,) = randn(seed, shape)
    nd = len(shape)
    check_op(lambda t: t.squeeze(), lambda t: t.squeeze(), [x])
    d = data.draw(st.integers(-nd, nd - 1))
    check_op(lambda t: t.squeeze(d), lambda t: t.squeeze(d), [x])
    dims = tuple(data.draw(st.lists(st.integers(0, nd - 1), min_size=1, unique=True)))
    check_op(lambda t: t.squeeze(dims), lambda t: t.squeeze(dims), [x])
    u = data.draw(st.integers(-nd - 1, nd))
    check_op(lambda t: t.unsqueeze(u), lambda t: t.unsqueeze(u), [x])


@settings(**FAST)
@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, data=st.data(), k=st.integers(1, 3))
def test_cat_and_stack(shape, seed, data, k):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    shapes_ = [tuple(data.draw(st.integers(1, 3)) if i == dim % nd else n for i, n in enumerate(shape))
               for _ in range(k)]
    xs = randn(seed, *shapes_)
    check_op(lambda *ts: tg.cat(ts, dim), lambda *ts: torch.cat(ts, dim), xs)
    check_op(lambda *ts: tg.cat(ts, dim=dim), lambda *ts: torch.cat(ts, dim=dim), xs,
             requires_grad=[i % 2 == 0 for i in range(k)])
    sdim = data.draw(st.integers(-nd - 1, nd))
    same = randn(seed + 1, *[shape] * k)
    check_op(lambda *ts: tg.stack(ts, sdim), lambda *ts: torch.stack(ts, sdim), same)


@settings(**FAST)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=5), seed=seeds, data=st.data())
def test_split_and_chunk(shape, seed, data):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    (x,) = randn(seed, shape)
    size = data.draw(st.integers(1, n))
    check_op(lambda t: t.split(size, dim), lambda t: t.split(size, dim), [x])
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    sections = [b - a for a, b in zip([0] + cuts, cuts + [n], strict=True)]
    check_op(lambda t: tg.split(t, sections, dim), lambda t: torch.split(t, sections, dim), [x])
    chunks = data.draw(st.integers(1, n))
    ours, ref = tg.chunk(tg.tensor(x), chunks, dim), torch.chunk(torch.tensor(x), chunks, dim)
    assert [p.shape for p in ours] == [tuple(p.shape) for p in ref]
    if len(ref) == len(ours):
        check_op(lambda t: t.chunk(chunks, dim), lambda t: t.chunk(chunks, dim), [x])


def test_split_sizes_must_add_up():
    with pytest.raises(ValueError, match="add up"):
        tg.split(tg.tensor(np.ones((5, 2))), [2, 2], 0)


# ------------------------------------------------------------------ indexing
BASIC_INDEXES = [
    1, -1, slice(None), slice(1, None), slice(None, None, 2), (Ellipsis, 0), (None, 0), (slice(0, 2), None, -1),
    (0, slice(1, 3)), (Ellipsis, None), (slice(None), 1, slice(None, None, 2)),
]


@pytest.mark.parametrize("index", BASIC_INDEXES, ids=repr)
def test_basic_indexing(index):
    (x,) = randn(0, (3, 4, 5))
    check_op(lambda t: t[index], lambda t: t[index], [x])
    check_op(lambda t: t.transpose(0, 2)[index], lambda t: t.transpose(0, 2)[index], [x])


ADVANCED_INDEXES = [
    [0, 2, 0, 0],  # repeated rows: the gradient scatter-adds
    ([1, 1, 2], [0, 0, 3]),
    (slice(None), [3, 3, 0]),
    (Ellipsis, [4, 4]),
    ([[0, 1], [1, 1]], slice(1, 3)),
    (np.array([True, False, True]),),
    (np.array([True, False, True]), slice(None), [0, 0]),
]


@pytest.mark.parametrize("index", ADVANCED_INDEXES, ids=repr)
def test_advanced_indexing_scatter_adds(index):
    (x,) = randn(1, (3, 4, 5))
    th_index = tuple(torch.tensor(i) if isinstance(i, (list, np.ndarray)) else i for i in
                     (index if isinstance(index, tuple) else (index,)))
    check_op(lambda t: t[index], lambda t: t[th_index], [x])


def test_indexing_with_tensors():
    (x,) = randn(2, (4, 3))
    idx = tg.tensor([3, 0, 3])
    mask = tg.tensor(x[:, 0] > 0)
    check_op(lambda t: t[idx], lambda t: t[torch.tensor([3, 0, 3])], [x])
    check_op(lambda t: t[mask], lambda t: t[torch.tensor(x[:, 0] > 0)], [x])
    check_op(lambda t: t[t > 0.1], lambda t: t[t > 0.1], [x])


def test_index_out_of_range_names_shape():
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        tg.tensor(np.ones((2, 3)))[5]


@settings(**FAST)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds, data=st.data())
def test_gather(shape, seed, data):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    (x,) = randn(seed, shape)
    rng = np.random.default_rng(seed)
    ishape = tuple(data.draw(st.integers(1, 4)) if i == dim % nd else data.draw(st.integers(1, n))
                   for i, n in enumerate(shape))
    index = rng.integers(0, shape[dim], ishape)  # repeats included: the gradient scatter-adds
    check_op(lambda t: t.gather(dim, tg.tensor(index)), lambda t: t.gather(dim, torch.tensor(index)), [x])
    check_op(lambda t: tg.gather(t, dim, index), lambda t: torch.gather(t, dim, torch.tensor(index)), [x])
