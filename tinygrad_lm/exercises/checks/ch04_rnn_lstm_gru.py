"""Checks of chapter 4 (recurrent cells): against the library's ops, nn.LSTMCell/GRUCell and nn.RNN."""
import numpy as np

from ... import nn, ops
from ..core import CheckFailure, assert_close, cases, close, exercise, reference_grads, tensor64

# (B, D, H): batch 1, one unit, odd sizes, D > H and D < H
_SIZES = [(1, 3, 2), (4, 2, 5), (3, 1, 1), (2, 6, 3)]
_LSTM_KEYS = ("x", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh")


def _params(rng, B, D, H, gates):
    return [rng.standard_normal(s) for s in ((B, D), (B, H))] + \
           [rng.standard_normal(s) * 0.7 for s in ((gates * H, D), (gates * H, H), (gates * H,), (gates * H,))]


def _lstm_ops(x, h, c, W_ih, W_hh, b_ih, b_hh, candidate=ops.tanh):
    """The LSTM step from the library's ops: (h', c') side by side in one tensor (B, 2H)."""
    i, f, g, o = ops.chunk(ops.linear(x, W_ih, b_ih) + ops.linear(h, W_hh, b_hh), 4, dim=1)
    c_new = ops.sigmoid(f) * c + ops.sigmoid(i) * candidate(g)
    return ops.cat([ops.sigmoid(o) * ops.tanh(c_new), c_new], dim=1)


def _cell(cls, D, H, W_ih, W_hh, b_ih, b_hh):
    """nn.LSTMCell / nn.GRUCell holding the given float64 weights."""
    cell = cls(D, H)
    for name, value in (("weight_ih", W_ih), ("weight_hh", W_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)):
        getattr(cell, name).data = np.array(value, dtype=np.float64)
    return cell


@exercise("4.1", "an LSTM cell step", ids=("D3.F4",), kind="op", file="ch04_rnn_lstm_gru", entry=("lstm_cell",))
def _(lstm_cell):
    for rng, (B, D, H) in zip(cases(len(_SIZES), 1), _SIZES, strict=True):
        x, h, *w = _params(rng, B, D, H, 4)
        c = rng.standard_normal((B, H))
        h_want, c_want = _cell(nn.LSTMCell, D, H, *w)(tensor64(x, False), (tensor64(h, False), tensor64(c, False)))
        result = lstm_cell(x, h, c, *w)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise CheckFailure("outputs", f"expected (h', c'), got {type(result).__name__}")
        src = _lstm_ops(*(tensor64(a, False) for a in (x, h, c, *w)), candidate=ops.sigmoid).numpy()
        if close(result[1], src[:, H:]):
            raise CheckFailure(f"c', B={B} D={D} H={H}", "your candidate g goes through a sigmoid",
                               "tanh lets the cell state go down as well as up", "D3.F4: sigma on the candidate g")
        where = f"B={B} D={D} H={H}"
        assert_close(result[1], c_want, f"c', {where}", hint="gate order i, f, g, o; c' = f c + i g")
        assert_close(result[0], h_want, f"h', {where}", hint="h' = o tanh(c')")


@exercise("4.2", "the LSTM cell's backward", ids=("D3.F4",), kind="op", file="ch04_rnn_lstm_gru",
          entry=("lstm_cell_backward",))
def _(lstm_cell_backward):
    for rng, (B, D, H) in zip(cases(len(_SIZES), 2), _SIZES, strict=True):
        x, h, *w = _params(rng, B, D, H, 4)
        c = rng.standard_normal((B, H))
        grad_h, grad_c = rng.standard_normal((B, H)), rng.standard_normal((B, H))
        _, want = reference_grads(_lstm_ops, [x, h, c, *w], np.concatenate([grad_h, grad_c], axis=1))
        got = lstm_cell_backward(x, h, c, *w, grad_h, grad_c)
        if not isinstance(got, dict):
            raise CheckFailure("outputs", f"expected a dict of gradients, got {type(got).__name__}")
        for key, wanted in zip(_LSTM_KEYS, want, strict=True):
            if key not in got:
                raise CheckFailure("outputs", f"no gradient {key!r}")
            assert_close(got[key], wanted, f"dL/d{key}, B={B} D={D} H={H}",
                         hint="dL/dc' = grad_c + grad_h * o * (1 - tanh(c')^2)")


@exercise("4.3", "a GRU cell step, PyTorch's reset-after form", ids=("D3.F5",), kind="op", file="ch04_rnn_lstm_gru",
          entry=("gru_cell",))
def _(gru_cell):
    for rng, (B, D, H) in zip(cases(len(_SIZES), 3), _SIZES, strict=True):
        x, h, *w = _params(rng, B, D, H, 3)
        want = _cell(nn.GRUCell, D, H, *w)(tensor64(x, False), tensor64(h, False))
        assert_close(gru_cell(x, h, *w), want, f"h', B={B} D={D} H={H}",
                     hint="gate order r, z, n; r multiplies (h W_hn^T + b_hn); h' = (1 - z) n + z h")


@exercise("4.4", "a many-to-one RNN classifier", ids=("D3.M2", "D3.F3"), kind="build", file="ch04_rnn_lstm_gru",
          entry=("rnn_classifier",))
def _(rnn_classifier):
    for rng, (B, T, D, H, K) in zip(cases(3, 4), [(1, 1, 3, 2, 2), (4, 5, 2, 3, 3), (2, 7, 10, 8, 2)], strict=True):
        x, w = rng.standard_normal((B, T, D)), _params(rng, 1, D, H, 1)[2:]
        W_fc, b_fc = rng.standard_normal((K, H)), rng.standard_normal(K)
        rnn = nn.RNN(D, H, batch_first=True)
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), w, strict=True):
            getattr(rnn, name).data = value
        out, _ = rnn(tensor64(x, False))
        per_step = ops.linear(out, tensor64(W_fc, False), tensor64(b_fc, False)).numpy()
        got = rnn_classifier(x, *w, W_fc, b_fc)
        if np.shape(got) == per_step.shape:
            raise CheckFailure(f"logits, B={B} T={T}", f"shape {np.shape(got)}: a prediction at every step",
                               "take the last step", "D3.M2: FC at every step scored against one label")
        assert_close(got, per_step[:, -1], f"logits, B={B} T={T} D={D} H={H}", hint="h_t = tanh(...), from h_0 = 0")


@exercise("4.5", "variational dropout: one mask per sequence", ids=("D1.T2",), kind="technique",
          file="ch04_rnn_lstm_gru", entry=("variational_dropout",))
def _(variational_dropout):
    x = np.random.default_rng(5).uniform(0.5, 1.5, (64, 6, 50))
    assert_close(variational_dropout(x, 0.0, np.random.default_rng(0)), x, "p = 0")
    for p in (0.25, 0.5):
        out = np.asarray(variational_dropout(x, p, np.random.default_rng(1)), dtype=np.float64)
        if out.shape != x.shape:
            raise CheckFailure(f"p = {p}", f"shape {out.shape}, expected {x.shape}")
        scale = out / x
        if not np.allclose(scale, scale[:, :1]):
            raise CheckFailure(f"p = {p}", "the mask changes over time steps", "draw it once per sequence (B, 1, D)")
        if not np.all(np.isclose(scale, 0) | np.isclose(scale, 1 / (1 - p))):
            raise CheckFailure(f"p = {p}", "kept units are not scaled by 1 / (1 - p)")
        masks = scale[:, 0] > 0
        if np.all(masks == masks[0]):
            raise CheckFailure(f"p = {p}", "every sequence has the same mask", "one mask per sequence, not per batch")
        dropped = 1 - masks.mean()
        if abs(dropped - p) > 0.05:
            raise CheckFailure(f"p = {p}", f"{dropped:.2f} of the units dropped, expected about {p}")
