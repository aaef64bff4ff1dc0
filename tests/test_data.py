"""Dataset, TensorDataset, DataLoader (held to torch.utils.data), the D1.F6 scalers (held to
scikit-learn) and the digits split."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_lm as tg
from tinygrad_lm.data import DataLoader, Dataset, MinMaxScaler, StandardScaler, TensorDataset, default_collate
from tinygrad_lm.data import min_max_scale, standardize


class Squares(Dataset):
    """A map-style dataset returning mixed Python and NumPy samples, to exercise default_collate."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full(3, i, dtype=np.float32), "i": i, "half": i / 2}


def _torch_batches(n, batch_size, drop_last):
    ds = torch.utils.data.TensorDataset(torch.arange(n) * 10, torch.arange(n))
    return [tuple(t.numpy() for t in b) for b in torch.utils.data.DataLoader(ds, batch_size=batch_size,
                                                                               drop_last=drop_last)]


# ---------------------------------------------------------------- TensorDataset
def test_tensor_dataset_rows_and_length():
    x, y = np.arange(12.0, dtype=np.float32).reshape(6, 2), np.arange(6)
    ds = TensorDataset(x, tg.tensor(y))
    assert len(ds) == 6
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi.numpy(), x[4])
    assert yi.item() == 4 and xi.dtype == np.float32


def test_tensor_dataset_refuses_different_lengths():
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(4,\)"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))


# ---------------------------------------------------------------- DataLoader vs PyTorch
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans())
def test_unshuffled_batches_equal_torch(n, batch_size, drop_last):
    ds = TensorDataset(np.arange(n) * 10, np.arange(n))
    if drop_last and n < batch_size:  # PyTorch yields no batch at all; refused here (see below)
        with pytest.raises(ValueError, match="no batch at all"):
            DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
        return
    loader = DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
    ours = [tuple(t.numpy() for t in b) for b in loader]
    theirs = _torch_batches(n, batch_size, drop_last)
    assert len(loader) == len(theirs) == len(ours)
    for (a, b), (c, d) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 50), batch_size=st.integers(1, 9), seed=st.integers(0, 1000))
def test_shuffled_epoch_visits_every_sample_once(n, batch_size, seed):
    loader = DataLoader(TensorDataset(np.arange(n)), batch_size=batch_size, shuffle=True, seed=seed)
    for _ in range(2):
        seen = np.concatenate([b[0].numpy() for b in loader])
        assert sorted(seen.tolist()) == list(range(n))


def test_seeded_order_is_reproducible_and_changes_per_epoch():
    ds = TensorDataset(np.arange(100))

    def epochs(loader, k):
        return [np.concatenate([b[0].numpy() for b in loader]) for _ in range(k)]

    a = epochs(DataLoader(ds, batch_size=7, shuffle=True, seed=3), 3)
    b = epochs(DataLoader(ds, batch_size=7, shuffle=True, seed=3), 3)
    for e in range(3):
        np.testing.assert_array_equal(a[e], b[e])
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a[0], np.arange(100))
    resumed = DataLoader(ds, batch_size=7, shuffle=True, seed=3)
    resumed.set_epoch(2)
    np.testing.assert_array_equal(epochs(resumed, 1)[0], a[2])
    other = epochs(DataLoader(ds, batch_size=7, shuffle=True, seed=4), 1)[0]
    assert not np.array_equal(other, a[0])


def test_unseeded_shuffle_follows_manual_seed():
    ds = TensorDataset(np.arange(30))
    tg.manual_seed(5)
    first = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=4, shuffle=True)])
    tg.manual_seed(5)
    again = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=4, shuffle=True)])
    np.testing.assert_array_equal(first, again)
    assert sorted(first.tolist()) == list(range(30))


def test_drop_last_length_and_last_batch():
    ds = TensorDataset(np.zeros((10, 3), dtype=np.float32))
    assert len(DataLoader(ds, batch_size=4)) == 3
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert [b[0].shape for b in DataLoader(ds, batch_size=4)] == [(4, 3), (4, 3), (2, 3)]
    assert [b[0].shape for b in DataLoader(ds, batch_size=4, drop_last=True)] == [(4, 3), (4, 3)]


@pytest.mark.parametrize("bad", [0, -1, 2.5, None, True])
def test_bad_batch_size_refused(bad):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(np.zeros(3)), batch_size=bad)


class _NoLength:
    def __getitem__(self, i):
        return i


def test_loaders_that_could_not_load_anything_are_refused_at_construction():
    with pytest.raises(ValueError, match=r"dataset \(TensorDataset\) is empty"):
        DataLoader(TensorDataset(np.zeros((0, 3))), batch_size=2)
    with pytest.raises(ValueError, match="dataset .*Squares.* is empty"):
        DataLoader(Squares(0))
    with pytest.raises(ValueError, match=r"drop_last with batch_size=8 larger than the dataset \(5 samples\)"):
        DataLoader(Squares(5), batch_size=8, drop_last=True)
    with pytest.raises(TypeError, match="must define __len__ and __getitem__.*_NoLength"):
        DataLoader(_NoLength())
    with pytest.raises(TypeError, match="must define __len__ and __getitem__.*list_iterator"):
        DataLoader(iter([1, 2]))
    with pytest.raises(TypeError, match=r"must define __len__ and __getitem__.*Dataset"):
        DataLoader(Dataset())
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        DataLoader(Squares(5), seed=-1)
    with pytest.raises(TypeError, match="collate_fn must be callable"):
        DataLoader(Squares(5), collate_fn="stack")


# ---------------------------------------------------------------- collate
def test_default_collate_structures_and_dtypes():
    batch = next(iter(DataLoader(Squares(5), batch_size=3)))
    assert set(batch) == {"x", "i", "half"}
    np.testing.assert_array_equal(batch["x"].numpy(), np.repeat(np.arange(3.0), 3).reshape(3, 3).astype(np.float32))
    assert batch["i"].dtype == np.int64 and batch["i"].tolist() == [0, 1, 2]
    assert batch["half"].dtype == np.float32 and batch["half"].tolist() == [0.0, 0.5, 1.0]
    assert batch["x"].dtype == np.float32


def test_fast_batch_path_equals_collating_rows():
    x, y = np.random.default_rng(0).standard_normal((11, 4)).astype(np.float32), np.arange(11)
    ds = TensorDataset(x, y)
    fast = list(DataLoader(ds, batch_size=4, shuffle=True, seed=1))
    slow = list(DataLoader(ds, batch_size=4, shuffle=True, seed=1, collate_fn=default_collate))
    for (a, b), (c, d) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())


def test_custom_collate_fn_receives_samples():
    loader = DataLoader(Squares(4), batch_size=2, collate_fn=lambda samples: [s["i"] for s in samples])
    assert list(loader) == [[0, 1], [2, 3]]


def test_collate_refuses_unknown_types_shapes_and_nothing():
    with pytest.raises(TypeError, match="collate_fn"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match=r"different shapes \['\(2,\)', '\(3,\)'\].*pad them"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([(tg.zeros(2), 1), (tg.zeros(3), 2)])
    with pytest.raises(ValueError, match="no samples"):
        default_collate([])


# ---------------------------------------------------------------- D1.F6 scalers vs scikit-learn
def _split():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)) * [1.0, 10.0, 0.1, 3.0, 2.0] + [0.0, 5.0, -2.0, 100.0, 1.0]
    x[:, 4] = 7.0  # a constant feature
    return x[:30], x[30:] + 0.5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_standard_scaler_equals_sklearn(dtype):
    from sklearn.preprocessing import StandardScaler as SkStandardScaler

    train, test = (a.astype(dtype) for a in _split())
    ours, theirs = StandardScaler().fit(train), SkStandardScaler().fit(train)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    for a in (train, test):
        out = ours.transform(a)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, theirs.transform(a), **tol)
        np.testing.assert_allclose(ours.inverse_transform(out), a, **tol)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, **tol)
    np.testing.assert_allclose(ours.scale_, theirs.scale_, **tol)


@pytest.mark.parametrize("feature_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_min_max_scaler_equals_sklearn(feature_range):
    from sklearn.preprocessing import MinMaxScaler as SkMinMaxScaler

    train, test = _split()
    ours, theirs = MinMaxScaler(feature_range).fit(train), SkMinMaxScaler(feature_range=feature_range).fit(train)
    for a in (train, test):
        out = ours.transform(a)
        np.testing.assert_allclose(out, theirs.transform(a), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(ours.inverse_transform(out), a, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.transform(train).min(axis=0)[:4], feature_range[0])
    np.testing.assert_allclose(ours.transform(train).max(axis=0)[:4], feature_range[1])


def test_scalers_use_training_statistics_only():
    train, test = _split()
    scaler = StandardScaler().fit(train)
    z_test = scaler.transform(test)
    # the test split is shifted by 0.5: standardized with the training statistics it keeps the shift
    tr, te = train[:, :4], test[:, :4]
    np.testing.assert_allclose(z_test[:, :4].mean(axis=0), ((te - tr.mean(0)) / tr.std(0)).mean(0))
    assert np.all(np.abs(z_test[:, :4].mean(axis=0)) > 1e-3)
    np.testing.assert_allclose(StandardScaler().fit_transform(train), scaler.transform(train))


def test_plain_functions_are_the_formulas():
    train, _ = _split()
    x = train[:, :4]
    np.testing.assert_allclose(standardize(train)[:, :4], (x - x.mean(0)) / x.std(0))
    np.testing.assert_allclose(min_max_scale(train)[:, :4], (x - x.min(0)) / (x.max(0) - x.min(0)))
    np.testing.assert_array_equal(standardize(train)[:, 4], 0.0)  # constant feature -> 0, not NaN
    np.testing.assert_array_equal(min_max_scale(train)[:, 4], 0.0)


def test_scalers_take_and_give_tensors():
    train, test = _split()
    t = tg.tensor(train.astype(np.float32))
    out = StandardScaler().fit(t).transform(tg.tensor(test.astype(np.float32)))
    assert isinstance(out, tg.Tensor) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), StandardScaler().fit(train).transform(test), rtol=1e-4, atol=1e-4)


def test_scaler_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"fitted on 3 features.*\(2, 4\)"):
        StandardScaler().fit(np.ones((5, 3))).transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler((1.0, 0.0))
    with pytest.raises(ValueError, match="2-d"):
        MinMaxScaler().fit(np.zeros(4))


# ---------------------------------------------------------------- digits
def test_digits_split_is_fixed_stratified_and_float32():
    s = tg.data.datasets.digits()
    assert s.x_train.shape == (1347, 64) and s.x_test.shape == (450, 64)
    assert s.x_train.dtype == np.float32 and s.y_train.dtype == np.int64
    assert 0 <= s.x_train.min() and s.x_train.max() <= 16
    # stratified: every class holds (almost) the same share of each split
    share_train = np.bincount(s.y_train) / len(s.y_train)
    share_test = np.bincount(s.y_test) / len(s.y_test)
    np.testing.assert_allclose(share_train, share_test, atol=0.005)
    again = tg.data.datasets.digits()
    np.testing.assert_array_equal(s.x_test, again.x_test)
    other = tg.data.datasets.digits(seed=1)
    assert not np.array_equal(s.y_test, other.y_test)
    with pytest.raises(ValueError, match="test_size"):
        tg.data.datasets.digits(test_size=1.5)


# ---------------------------------------------------------------- malformed text data and tokenizer files
def test_read_imdb_refuses_a_missing_class_and_undecodable_reviews(tmp_path):
    from tinygrad_lm.data import DatasetError
    from tinygrad_lm.data.text import read_imdb

    (tmp_path / "train" / "pos").mkdir(parents=True)
    (tmp_path / "train" / "pos" / "0_9.txt").write_text("good")
    with pytest.raises(DatasetError, match=r"no reviews \(\*\.txt\) in .*train/neg"):
        read_imdb(tmp_path)
    (tmp_path / "train" / "neg").mkdir()
    (tmp_path / "train" / "neg" / "0_1.txt").write_bytes(b"bad \xff\xfe")
    with pytest.raises(DatasetError, match=r"0_1.txt: not UTF-8 text"):
        read_imdb(tmp_path)
    with pytest.raises(ValueError, match="limit must be a positive int"):
        read_imdb(tmp_path, limit=0)


@pytest.mark.parametrize("content, message", [
    (b"", "not a tokenizer file"),
    (b'{"type": "byte-level-bpe", "merges": [[1, 2]', "not a tokenizer file"),
    (b"\xff\xfe\x00", "not a tokenizer file"),
    (b"[1, 2]", r"not a byte-level BPE tokenizer \(type 'list'\)"),
    (b'{"type": "byte-level-bpe", "merges": []}', "byte-level BPE tokenizer without special_tokens, pattern"),
    (b'{"type": "byte-level-bpe", "merges": [[1]], "special_tokens": [], "pattern": "."}', "malformed"),
    (b'{"type": "byte-level-bpe", "merges": [], "special_tokens": [], "pattern": "("}', "malformed"),
], ids=["empty", "cut short", "not utf-8", "a list", "missing keys", "bad merge", "bad pattern"])
def test_a_malformed_tokenizer_file_is_refused_naming_it(tmp_path, content, message):
    from tinygrad_lm.data import ByteLevelBPETokenizer

    (tmp_path / "tokenizer.json").write_bytes(content)
    with pytest.raises(ValueError, match="tokenizer.json: " + message):
        ByteLevelBPETokenizer.load(tmp_path / "tokenizer.json")


def test_bad_samples_indices_and_sizes_are_refused_clearly():
    from tinygrad_lm.data import CharTokenizer, pad_sequences, vision

    with pytest.raises(IndexError, match="TensorDataset: index 5 out of range for 3 samples"):
        TensorDataset(np.zeros((3, 2)))[5]
    assert TensorDataset(np.arange(3))[-1][0].item() == 2
    tok = CharTokenizer(["abc"])
    assert tok.decode(tok.encode("cab")) == "cab"
    for bad in ([99], [-1]):  # -1 used to give the last character
        with pytest.raises(ValueError, match=r"outside the vocabulary 0..3"):
            tok.decode(bad)
    with pytest.raises(ValueError, match="sequence 0 does not fit a row of int32 ids"):
        pad_sequences([[1, [2]], [3]])
    with pytest.raises(TypeError, match="found int"):
        pad_sequences([[1, 2], 3])
    with pytest.raises(TypeError, match="one string"):
        pad_sequences("abc")
    np.testing.assert_array_equal(pad_sequences(iter([[1], [2, 3]])), [[0, 1], [2, 3]])
    for kwargs, name in ((dict(n_train=0), "n_train"), (dict(n_test=-1), "n_test"), (dict(noise=-1.0), "noise")):
        with pytest.raises(ValueError, match=f"shapes: {name} must be"):
            vision.shapes(**{"n_train": 10, "n_test": 10, **kwargs})


def test_statistics_of_nothing_and_impossible_ranges_are_refused():
    from tinygrad_lm.data import cleaning, translation

    for fn, name in ((standardize, "standardize"), (min_max_scale, "min_max_scale")):
        with pytest.raises(ValueError, match=f"{name}: cannot take per-column statistics .*shape \\(0, 3\\)"):
            fn(np.zeros((0, 3), np.float32))  # NumPy would give NaN statistics
    assert standardize(np.zeros((0, 3), np.float32), mean=np.zeros(3), std=np.ones(3)).shape == (0, 3)
    with pytest.raises(ValueError, match="lo < hi"):
        min_max_scale(np.ones((3, 2), np.float32), feature_range=(1, 0))
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        cleaning.clean(np.zeros((3, 2)), np.zeros(3, np.int64), 0)
    x, y, report = cleaning.clean(np.zeros((3, 2)), np.array([5, 6, 7]), 3)  # every row dropped: reported
    assert x.shape == (0, 2) and len(y) == 0 and report.bad_label == 3
    with pytest.raises(ValueError, match="n must be a positive int"):
        translation.ReverseDictionaryTask().sample(0)
