"""Bad inputs to every public layer and functional op, drawn by hypothesis: wrong rank, wrong trailing size,
0-d, empty, integer or float64 data, out-of-range dims and indices, bad hyper-parameters.

Each call must end in either a finite result (where finite inputs give finite outputs) or a TypeError,
ValueError, IndexError or RuntimeError raised by tinygrad_lm itself (the traceback's last frame is in its
source, not in NumPy or Numba) whose message names the op or layer. Bad hyper-parameters must be refused
when the layer is built."""
import math
import os
import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.nn import functional as F

PACKAGE = os.path.dirname(tg.__file__) + os.sep
ERRORS = (TypeError, ValueError, IndexError, RuntimeError)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _outputs(out):
    if isinstance(out, tg.Tensor):
        yield out
    elif isinstance(out, (tuple, list)):
        for o in out:
            yield from _outputs(o)


def check(call, names, finite=True):
    """Run ``call``: a finite result, or a clean error of tinygrad_lm's naming one of ``names``."""
    try:
        out = call()
    except ERRORS as e:
        frame = traceback.extract_tb(e.__traceback__)[-1]
        assert frame.filename.startswith(PACKAGE), (
            f"{type(e).__name__} raised from {frame.filename}:{frame.lineno}, not by tinygrad_lm: {e}")
        assert any(n.lower() in str(e).lower() for n in names), f"message does not name {names}: {e}"
        return None
    if finite:
        for t in _outputs(out):
            if t.dtype.kind == "f":
                assert np.isfinite(t.numpy()).all(), f"{names[0]} returned nan/inf from finite input"
    return out


@st.composite
def arrays(draw, max_rank=4, min_rank=0):
    """Finite data of a drawn shape (sizes 0..5) and dtype (float32 mostly; float64, int64, bool too)."""
    rank = draw(st.integers(min_rank, max_rank))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 4, 5]), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from([np.float32, np.float32, np.float32, np.float64, np.int64, np.bool_]))
    seed = draw(st.integers(0, 2 ** 16))
    a = np.random.default_rng(seed).standard_normal(shape) * 2
    return tg.tensor(a.astype(dtype) if dtype is not np.bool_ else a > 0)


def _shaped(draw, shape_hint):
    """Mostly the right shape with a drawn defect, so the checks past the first are reached too."""
    if draw(st.booleans()):
        return draw(arrays())
    shape = list(shape_hint)
    i = draw(st.integers(0, len(shape) - 1))
    shape[i] = draw(st.sampled_from([0, 1, 7]))
    dtype = draw(st.sampled_from([np.float32, np.float32, np.float64, np.int64]))
    return tg.tensor((np.random.default_rng(i).standard_normal(shape) * 2).astype(dtype))


# ------------------------------------------------------------------ layers: (build, input shape, names)
LAYERS = {
    "Linear": (lambda: nn.Linear(4, 3), (2, 4), ["Linear"]),
    "ReLU": (nn.ReLU, (2, 4), ["relu"]),
    "Sigmoid": (nn.Sigmoid, (2, 4), ["sigmoid"]),
    "Tanh": (nn.Tanh, (2, 4), ["tanh"]),
    "GELU": (nn.GELU, (2, 4), ["gelu"]),
    "LeakyReLU": (nn.LeakyReLU, (2, 4), ["leaky_relu"]),
    "Softmax": (lambda: nn.Softmax(dim=1), (2, 4), ["softmax"]),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=1), (2, 4), ["log_softmax"]),
    "Flatten": (nn.Flatten, (2, 3, 4), ["flatten"]),
    "Dropout": (lambda: nn.Dropout(0.3), (2, 4), ["dropout", "mul"]),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), (1, 2, 5, 5), ["conv2d"]),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (1, 2, 4, 4), ["max_pool2d"]),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (1, 2, 4, 4), ["avg_pool2d"]),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(2), (1, 2, 4, 4), ["adaptive_avg_pool2d"]),
    "LayerNorm": (lambda: nn.LayerNorm(4), (2, 4), ["LayerNorm", "layer_norm"]),
    "RNN": (lambda: nn.RNN(4, 3), (5, 2, 4), ["RNN"]),
    "LSTM": (lambda: nn.LSTM(4, 3, batch_first=True), (2, 5, 4), ["LSTM"]),
    "GRU": (lambda: nn.GRU(4, 3, bidirectional=True), (5, 2, 4), ["GRU"]),
    "RNNCell": (lambda: nn.RNNCell(4, 3), (2, 4), ["RNNCell"]),
    "LSTMCell": (lambda: nn.LSTMCell(4, 3), (2, 4), ["LSTMCell"]),
    "GRUCell": (lambda: nn.GRUCell(4, 3), (2, 4), ["GRUCell"]),
    "ElmanCell": (lambda: nn.ElmanCell(4, 3), (2, 4), ["ElmanCell", "linear"]),
    "LinearRecurrentCell": (lambda: nn.LinearRecurrentCell(4, 3), (2, 4), ["LinearRecurrentCell", "linear"]),
    "SinusoidalPositionalEncoding": (lambda: nn.SinusoidalPositionalEncoding(4, 8), (2, 3, 4),
                                     ["SinusoidalPositionalEncoding"]),
    "LearnedPositionalEncoding": (lambda: nn.LearnedPositionalEncoding(4, 8), (2, 3, 4),
                                  ["LearnedPositionalEncoding"]),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(4, 2), (3, 2, 4), ["MultiheadAttention"]),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0), (3, 2, 4),
                                ["MultiheadAttention", "TransformerEncoderLayer"]),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@FAST
@given(data=st.data())
def test_layer_bad_input(name, data):
    build, shape, names = LAYERS[name]
    layer = build()
    x = _shaped(data.draw, shape)
    if name == "MultiheadAttention":
        check(lambda: layer(x, x, x), names)
    else:
        out = check(lambda: layer(x), names)
        if out is not None and not isinstance(out, tuple) and out.requires_grad:  # and its backward
            check(lambda: out.sum().backward(), names)


@FAST
@given(data=st.data())
def test_embedding_bad_indices(data):
    emb = nn.Embedding(5, 3)
    idx = data.draw(st.one_of(arrays(max_rank=3), st.lists(st.integers(-8, 8), max_size=4).map(tg.tensor)))
    out = check(lambda: emb(idx), ["embedding"])
    if out is not None:
        assert idx.dtype.kind in "iu" and (idx.numel() == 0 or 0 <= idx.numpy().min() <= idx.numpy().max() < 5)


LOSSES = {
    "MSELoss": (nn.MSELoss, "float"), "BCELoss": (nn.BCELoss, "prob"), "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss,
                                                                                                 "float"),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, "class"), "NLLLoss": (nn.NLLLoss, "class"),
}
_LOSS_OPS = {"MSELoss": "mse_loss", "BCELoss": "binary_cross_entropy", "BCEWithLogitsLoss":
             "binary_cross_entropy_with_logits", "CrossEntropyLoss": "cross_entropy", "NLLLoss": "nll_loss"}


@pytest.mark.parametrize("name", sorted(LOSSES))
@FAST
@given(data=st.data())
def test_loss_bad_input_and_target(name, data):
    build, kind = LOSSES[name]
    x = _shaped(data.draw, (3, 4))
    if kind == "class":
        target = tg.tensor(data.draw(st.lists(st.integers(-3, 6), min_size=0, max_size=4)), dtype=np.int64)
    else:
        target = _shaped(data.draw, (3, 4))
    nonempty = x.numel() > 0 and target.numel() > 0  # (the mean of no loss is nan, as torch's)
    out = check(lambda: build()(x, target), [_LOSS_OPS[name], name], finite=nonempty)
    if out is not None and kind == "class":  # a result means every target was a valid class
        assert target.numel() == 0 or (target.numpy().min() >= 0 and target.numpy().max() < x.shape[-1])


# ------------------------------------------------------------------ functional ops and tensor methods
DIMS = st.integers(-6, 5)
OPS = {
    "sum": (lambda x, d, dim: x.sum(dim), ["sum"], False),  # (mean of nothing is nan, as torch)
    "mean": (lambda x, d, dim: x.mean(dim, keepdims=True), ["mean"], False),
    "amax": (lambda x, d, dim: x.amax(dim), ["amax"], True),
    "max": (lambda x, d, dim: x.max(dim), ["max"], True),
    "min": (lambda x, d, dim: tg.min(x), ["min"], True),
    "argmax": (lambda x, d, dim: x.argmax(axis=dim), ["argmax"], True),
    "std": (lambda x, d, dim: x.std(dim), ["std"], False),
    "softmax": (lambda x, d, dim: F.softmax(x, dim), ["softmax"], True),
    "log_softmax": (lambda x, d, dim: F.log_softmax(x, dim), ["log_softmax"], True),
    "cat": (lambda x, d, dim: tg.cat([x, x], dim), ["cat"], True),
    "stack": (lambda x, d, dim: tg.stack([x, x], dim), ["stack"], True),
    "transpose": (lambda x, d, dim: x.transpose(dim, 0), ["transpose"], True),
    "squeeze": (lambda x, d, dim: x.squeeze(dim), ["squeeze"], True),
    "unsqueeze": (lambda x, d, dim: x.unsqueeze(dim), ["unsqueeze"], True),
    "flatten": (lambda x, d, dim: x.flatten(dim), ["flatten"], True),
    "split": (lambda x, d, dim: x.split(2, dim), ["split"], True),
    "chunk": (lambda x, d, dim: x.chunk(d.draw(st.integers(-1, 3)), dim), ["chunk"], True),
    "permute": (lambda x, d, dim: x.permute(*reversed(range(x.ndim - 1)), dim), ["permute"], True),
    "reshape": (lambda x, d, dim: x.reshape(d.draw(st.lists(st.integers(-2, 6), max_size=3))), ["reshape"], True),
    "expand": (lambda x, d, dim: x.expand(d.draw(st.lists(st.integers(-2, 6), max_size=4))), ["expand"], True),
    "gather": (lambda x, d, dim: x.gather(dim, d.draw(arrays(max_rank=3))), ["gather"], True),
    "index_select": (lambda x, d, dim: x.index_select(dim, d.draw(arrays(max_rank=2))), ["index_select"], True),
    "getitem": (lambda x, d, dim: x[d.draw(arrays(max_rank=2))], ["tensors used as indices", "index"], True),
    "setitem": (lambda x, d, dim: x.__setitem__(dim, d.draw(arrays(max_rank=2))), ["__setitem__"], True),
    "matmul": (lambda x, d, dim: x @ d.draw(arrays()), ["mat_mul", "matmul", "mul"], True),
    "add": (lambda x, d, dim: x + d.draw(arrays()), ["add"], True),
    "where": (lambda x, d, dim: tg.where(x > 0, x, d.draw(arrays())), ["where"], True),
    "linear": (lambda x, d, dim: F.linear(x, d.draw(arrays()), None), ["linear"], True),
    "normalize": (lambda x, d, dim: F.normalize(x, dim=dim), ["sum", "normalize"], True),
    "layer_norm": (lambda x, d, dim: F.layer_norm(x, (4,)), ["layer_norm"], True),
    "dropout": (lambda x, d, dim: F.dropout(x, d.draw(st.floats(-1, 2))), ["dropout"], True),
    "gelu": (lambda x, d, dim: F.gelu(x, d.draw(st.sampled_from(["none", "tanh", "erf"]))), ["gelu"], True),
    "conv2d": (lambda x, d, dim: F.conv2d(x, d.draw(arrays())), ["conv2d"], True),
    "max_pool2d": (lambda x, d, dim: F.max_pool2d(x, d.draw(st.integers(-1, 3))), ["max_pool2d"], True),
    "avg_pool2d": (lambda x, d, dim: F.avg_pool2d(x, 2, stride=d.draw(st.integers(-1, 3))), ["avg_pool2d"], True),
    "attention": (lambda x, d, dim: F.scaled_dot_product_attention(x, x, d.draw(arrays())), ["attention"], True),
    "cross_entropy": (lambda x, d, dim: F.cross_entropy(x, d.draw(arrays(max_rank=2))), ["cross_entropy"], True),
    "nll_loss": (lambda x, d, dim: F.nll_loss(x, d.draw(arrays(max_rank=2))), ["nll_loss"], True),
    "binary_cross_entropy": (lambda x, d, dim: F.binary_cross_entropy(x, d.draw(arrays())),
                             ["binary_cross_entropy"], True),
    "mse_loss": (lambda x, d, dim: F.mse_loss(x, d.draw(arrays())), ["mse_loss"], True),
}


@pytest.mark.parametrize("name", sorted(OPS))
@FAST
@given(data=st.data(), dim=DIMS)
def test_op_bad_input(name, data, dim):
    call, names, finite = OPS[name]
    x = data.draw(arrays())
    check(lambda: call(x, data, dim), names, finite and x.numel() > 0)  # (a loss over nothing is nan)


def test_the_checker_itself_catches_errors_from_numpy():
    """check() would let no NumPy error through: a sanity test of the test."""
    with pytest.raises(AssertionError, match="not by tinygrad_lm"):
        check(lambda: np.ones(2).reshape(3), ["reshape"])
    with pytest.raises(AssertionError, match="nan"):
        check(lambda: tg.tensor([math.nan]), ["x"])


# ------------------------------------------------------------------ hyper-parameters, refused when built
SIZE = st.sampled_from([0, -1, -7, 2.5, math.nan, "4"])
PROB = st.sampled_from([-0.1, 1.5, math.nan, "0.5", math.inf])
HYPER = {
    "Linear": (nn.Linear, dict(in_features=4, out_features=3), {"in_features": SIZE, "out_features": SIZE}),
    "Embedding": (nn.Embedding, dict(num_embeddings=5, embedding_dim=3),
                  {"num_embeddings": SIZE, "embedding_dim": SIZE, "padding_idx": st.sampled_from([5, -6, 1.5])}),
    "Dropout": (nn.Dropout, dict(p=0.5), {"p": PROB}),
    "Conv2d": (nn.Conv2d, dict(in_channels=2, out_channels=4, kernel_size=3),
               {"in_channels": SIZE, "out_channels": SIZE, "kernel_size": SIZE, "stride": SIZE,
                "groups": st.sampled_from([0, 3, -1]), "padding": st.sampled_from([-1, 1.5, "full"]),
                "dilation": SIZE}),
    "MaxPool2d": (nn.MaxPool2d, dict(kernel_size=2), {"kernel_size": SIZE, "stride": SIZE,
                                                       "padding": st.sampled_from([-1, 2, 1.5])}),
    "AvgPool2d": (nn.AvgPool2d, dict(kernel_size=2), {"kernel_size": SIZE, "stride": SIZE}),
    "AdaptiveAvgPool2d": (nn.AdaptiveAvgPool2d, dict(output_size=2), {"output_size": SIZE}),
    "LayerNorm": (nn.LayerNorm, dict(normalized_shape=4), {"normalized_shape": SIZE,
                                                           "eps": st.sampled_from([0, -1e-5, math.nan])}),
    "RNN": (nn.RNN, dict(input_size=4, hidden_size=3), {"input_size": SIZE, "hidden_size": SIZE,
                                                         "num_layers": SIZE, "dropout": PROB,
                                                         "nonlinearity": st.just("sigmoid")}),
    "LSTM": (nn.LSTM, dict(input_size=4, hidden_size=3), {"hidden_size": SIZE, "dropout": PROB}),
    "GRUCell": (nn.GRUCell, dict(input_size=4, hidden_size=3), {"input_size": SIZE, "hidden_size": SIZE}),
    "MultiheadAttention": (nn.MultiheadAttention, dict(embed_dim=4, num_heads=2),
                           {"embed_dim": SIZE, "num_heads": st.sampled_from([0, -2, 3, 2.5]), "dropout": PROB}),
    "TransformerEncoderLayer": (nn.TransformerEncoderLayer, dict(d_model=4, nhead=2, dim_feedforward=8),
                                {"d_model": SIZE, "nhead": st.sampled_from([0, 3, -2]),
                                 "dim_feedforward": SIZE, "dropout": PROB}),
    "SinusoidalPositionalEncoding": (nn.SinusoidalPositionalEncoding, dict(d_model=4),
                                     {"d_model": SIZE, "max_len": SIZE, "dropout": PROB}),
    "LearnedPositionalEncoding": (nn.LearnedPositionalEncoding, dict(d_model=4),
                                  {"d_model": SIZE, "max_len": SIZE, "dropout": PROB}),
    "GELU": (nn.GELU, {}, {"approximate": st.sampled_from(["erf", "", None])}),
    "LeakyReLU": (nn.LeakyReLU, {}, {"negative_slope": st.sampled_from([math.nan, "0.1"])}),
    "Softmax": (nn.Softmax, {}, {"dim": st.sampled_from([1.5, "1"])}),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, {}, {"label_smoothing": PROB, "reduction": st.just("avg")}),
    "BCELoss": (nn.BCELoss, {}, {"reduction": st.sampled_from(["avg", None])}),
}


@pytest.mark.parametrize("name", sorted(HYPER))
@FAST
@given(data=st.data())
def test_bad_hyper_parameters_are_refused_when_built(name, data):
    cls, valid, bad = HYPER[name]
    key = data.draw(st.sampled_from(sorted(bad)))
    kwargs = {**valid, key: data.draw(bad[key])}
    with pytest.raises((TypeError, ValueError)) as err:
        cls(**kwargs)
    frame = traceback.extract_tb(err.value.__traceback__)[-1]
    assert frame.filename.startswith(PACKAGE), f"raised from {frame.filename}: {err.value}"
    names = [name] + (["reduction"] if key == "reduction" else []) + (["dropout"] if key == "dropout" else [])
    assert any(n.lower() in str(err.value).lower() for n in names), str(err.value)
