"""RNN / LSTM / GRU layers and cells against PyTorch, the fused backward through time against finite
differences, and the Numba kernels against their plain twins."""
import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_lm as tg
from tinygrad_lm import backend, nn
from tinygrad_lm.ops.recurrent import Recurrence

from helpers import assert_close

LAYERS = {"rnn": (nn.RNN, torch.nn.RNN, {}), "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
          "lstm": (nn.LSTM, torch.nn.LSTM, {}), "gru": (nn.GRU, torch.nn.GRU, {})}


def _twins(kind, D, H, dtype=np.float64, **kw):
    ours_cls, theirs_cls, extra = LAYERS[kind]
    ours = ours_cls(D, H, **extra, **kw).to(dtype=dtype)
    theirs = theirs_cls(D, H, **extra, **kw).to(getattr(torch, np.dtype(dtype).name))
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def _states(h):
    return h if isinstance(h, tuple) else (h,)


def _check_layer(kind, T, B, D, H, layers, bidirectional, batch_first, given_state, dtype=np.float64,
                 lengths=None, seed=0):
    rng = np.random.default_rng(seed)
    ours, theirs = _twins(kind, D, H, dtype, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D)).astype(dtype)
    n = layers * (2 if bidirectional else 1)
    states = [rng.standard_normal((n, B, H)).astype(dtype) for _ in range(2 if kind == "lstm" else 1)]
    xg, xt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sg = [tg.tensor(s, requires_grad=True) for s in states]
    st_ = [torch.tensor(s, requires_grad=True) for s in states]
    hx_g = (tuple(sg) if kind == "lstm" else sg[0]) if given_state else None
    hx_t = (tuple(st_) if kind == "lstm" else st_[0]) if given_state else None
    if lengths is None:
        out, h = ours(xg, hx_g)
        ref, ht = theirs(xt, hx_t)
    else:
        out, h = ours(xg, hx_g, lengths=lengths)
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first,
                                                         enforce_sorted=False)
        ref, ht = theirs(packed, hx_t)
        ref = torch.nn.utils.rnn.pad_packed_sequence(ref, batch_first=batch_first, total_length=T)[0]
    outs, refs = (out,) + _states(h), (ref,) + _states(ht)
    for i, (o, r) in enumerate(zip(outs, refs, strict=True)):
        assert_close(o, r, dtype, f"{kind} output {i}")
    ups = [rng.standard_normal(r.shape).astype(dtype) for r in refs]
    sum((o * tg.tensor(u)).sum() for o, u in zip(outs, ups, strict=True)).backward()
    sum((r * torch.tensor(u)).sum() for r, u in zip(refs, ups, strict=True)).backward()
    assert_close(xg.grad, xt.grad, dtype, "input gradient")
    if given_state:
        for a, b in zip(sg, st_, strict=True):
            assert_close(a.grad, b.grad, dtype, "initial state gradient")
    for (name, p), (name_t, q) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert name == name_t
        assert_close(p.grad, q.grad, dtype, f"gradient of {name}")


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("layers,bidirectional,batch_first,given_state", [
    (1, False, False, False), (2, True, True, True), (2, False, True, False), (1, True, False, True)])
def test_layer_matches_torch(kind, layers, bidirectional, batch_first, given_state):
    _check_layer(kind, 5, 3, 4, 6, layers, bidirectional, batch_first, given_state)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_length_one_batch_one_float32(kind):
    _check_layer(kind, 1, 1, 3, 4, 2, True, True, True, dtype=np.float32)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_match_packed_sequences(kind, batch_first):
    _check_layer(kind, 6, 4, 3, 5, 2, True, batch_first, True, lengths=[6, 2, 4, 1])


def test_mask_equals_lengths_and_holds_state_over_padding():
    """A bool mask gives what lengths give; a pre-padded (Keras 'pre') sequence ends in its own state."""
    lstm = nn.LSTM(3, 4, batch_first=True).double()
    x = tg.tensor(np.random.default_rng(1).standard_normal((2, 5, 3)))
    lengths = np.array([5, 3])
    mask = np.arange(5)[None, :] < lengths[:, None]
    a, (ha, ca) = lstm(x, lengths=lengths)
    b, (hb, cb) = lstm(x, mask=mask)
    assert_close(a, b.numpy())
    assert_close(ha, hb.numpy())
    pre = tg.tensor(np.concatenate([np.zeros((1, 2, 3)), x.numpy()[1:, :3]], axis=1))  # two padding steps first
    _, (hp, _) = lstm(pre, mask=np.array([[False, False, True, True, True]]))
    _, (hs, _) = lstm(tg.tensor(x.numpy()[1:, :3]))
    assert_close(hp, hs.numpy())


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_cells_match_torch(kind):
    ours_cls = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[kind]
    theirs_cls = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind]
    ours = ours_cls(3, 5).double()
    theirs = theirs_cls(3, 5).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(2)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    xg, hg, cg = (tg.tensor(a, requires_grad=True) for a in (x, h, c))
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    # two steps, so the cell's output feeds it again
    if kind == "lstm":
        s1 = ours(xg, (hg, cg))
        og = ours(xg, s1)
        t1 = theirs(xt, (ht, ct))
        ot = theirs(xt, t1)
    else:
        og, ot = (ours(xg, ours(xg, hg)),), (theirs(xt, theirs(xt, ht)),)
    for a, b in zip(og, ot, strict=True):
        assert_close(a, b)
    u = rng.standard_normal((2, 5))
    sum((a * tg.tensor(u)).sum() for a in og).backward()
    sum((b * torch.tensor(u)).sum() for b in ot).backward()
    for a, b in ((xg, xt), (hg, ht)) + (((cg, ct),) if kind == "lstm" else ()):
        assert_close(a.grad, b.grad)
    for (n, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert_close(p.grad, q.grad, what=n)
    unbatched = ours(tg.tensor(x[0]))
    assert (unbatched[0] if kind == "lstm" else unbatched).shape == (5,)


def test_unbatched_sequence():
    ours, theirs = _twins("gru", 3, 4)
    x = np.random.default_rng(3).standard_normal((5, 3))
    out, h = ours(tg.tensor(x))
    ref, hr = theirs(torch.tensor(x))
    assert_close(out, ref)
    assert_close(h, hr)


def _recurrence_inputs(mode, T, B, H, rng, dtype=np.float64):
    G = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[mode] * H
    xw = rng.standard_normal((T, B, G)).astype(dtype)
    w = (0.5 * rng.standard_normal((G, H))).astype(dtype)
    b = rng.standard_normal(G).astype(dtype)
    h0, c0 = rng.standard_normal((B, H)).astype(dtype), rng.standard_normal((B, H)).astype(dtype)
    mask = rng.random((T, B)) > 0.3
    hmask = (rng.random((B, H)) > 0.5) * 2.0
    return xw, w, b, h0, c0, mask, hmask.astype(dtype)


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_bptt_gradcheck(mode, reverse):
    rng = np.random.default_rng(4)
    xw, w, b, h0, c0, mask, hmask = _recurrence_inputs(mode, 4, 2, 3, rng)
    inputs = [tg.tensor(a, requires_grad=True) for a in (xw, w, b, h0)]
    if mode == "lstm":
        inputs.append(tg.tensor(c0, requires_grad=True))

    def fn(*args):
        return Recurrence.apply(*args, mode=mode, mask=mask, hmask=hmask, reverse=reverse)

    assert tg.gradcheck(fn, inputs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_kernels_equal_plain(mode, dtype):
    rng = np.random.default_rng(5)
    xw, w, b, h0, c0, mask, hmask = _recurrence_inputs(mode, 6, 3, 5, rng, dtype)
    kind, extra = ("rnn", (mode[4:],)) if mode.startswith("rnn") else (mode, ())
    states = (h0, c0) if mode == "lstm" else (h0,)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)
    for reverse in (False, True):
        results = []
        g = None  # one upstream gradient, drawn for the first implementation and shared by the second
        for impl in ("plain", "cpu"):
            packed, saved = backend.kernel(f"{kind}_forward", impl=impl)(xw, w, b, *states, mask, hmask, reverse,
                                                                          *extra)
            g = rng.standard_normal(packed.shape).astype(dtype) if g is None else g
            grads = backend.kernel(f"{kind}_backward", impl=impl)(g, saved, w, mask, hmask, reverse, *extra)
            results.append((packed,) + tuple(saved) + tuple(grads))
        for a, b_ in zip(*results, strict=True):
            assert a.dtype == np.dtype(dtype)
            np.testing.assert_allclose(a, b_, **tol)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (16, 16), (17, 33), (2048, 512)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_transpose_equals_numpy(shape, dtype):
    from tinygrad_lm.kernels.recurrent import transposed

    a = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    out = transposed(a)
    assert out.flags.c_contiguous and out.dtype == dtype
    np.testing.assert_array_equal(out, a.T)
    np.testing.assert_array_equal(transposed(a[:, ::2].T), a[:, ::2])  # non-contiguous input


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("B, H", [(3, 37), (4, 128)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_gates_equal_plain_wide_and_saturated(mode, B, H, dtype):
    """float32 kernels take their own vectorised e^x: hold them to the plain twin on rows wide enough for
    the vector loops (H = 37: full vectors and a remainder) and on pre-activations up to +-60, where
    sigma and tanh saturate (no overflow, no NaN). B x 4H x H = 4 x 512 x 128 is past the size where the
    LSTM leaves BLAS in one compiled loop (float32: for the packed product; float64: for Python steps)."""
    rng = np.random.default_rng(6)
    xw, w, b, h0, c0, mask, hmask = _recurrence_inputs(mode, 5, B, H, rng, dtype)
    xw *= 20
    kind, extra = ("rnn", (mode[4:],)) if mode.startswith("rnn") else (mode, ())
    states = (h0, c0) if mode == "lstm" else (h0,)
    results = []
    for impl in ("plain", "cpu"):
        packed, saved = backend.kernel(f"{kind}_forward", impl=impl)(xw, w, b, *states, mask, hmask, False, *extra)
        g = np.ones_like(packed)
        grads = backend.kernel(f"{kind}_backward", impl=impl)(g, saved, w, mask, hmask, False, *extra)
        results.append((packed,) + tuple(saved) + tuple(grads))
    assert np.abs(xw).max() > 40
    for a, b_ in zip(*results, strict=True):
        assert np.isfinite(b_).all()
        np.testing.assert_allclose(b_, a, **(dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)))


def _alone(run, n, work):
    run(0, n)


def _two_threads(run, n, work):
    other = threading.Thread(target=run, args=(1, n))
    other.start()
    run(0, 1)
    other.join()


@pytest.mark.parametrize("path", ["compiled, BLAS", "Python, BLAS", "packed, one thread", "packed, two threads"])
@pytest.mark.parametrize("B, H", [(1, 37), (13, 150)])
def test_lstm_float32_paths_equal_plain(monkeypatch, path, B, H):
    """A float32 LSTM walks its steps one of three ways by the size of a step's product (kernels/recurrent.py,
    _SMALL and _PACKED); force each on awkward shapes: B = 1 and 13 rows (not a multiple of gemm.MR: with
    two threads, B = 1 leaves one of them no rows), H = 37 and 150 (not a multiple of gemm.NR: a partial
    last panel, forward N = 4H and backward N = H); padded steps, a dropout mask on h, both directions.

    Tolerance: each product sums K <= 600 float32 terms, in another order than the plain twin's BLAS, so
    each can differ by ~K eps |x| |w| (eps = 2^-24, |x| <= 2 (hmask), |w| <= ~2); over T = 7 steps of gates
    whose derivatives are below 1 that is < 7 x 600 x 6e-8 x 4 ~ 1e-3 in the worst case; 2e-4 covers the
    random-sign sums (sqrt K, not K) with room."""
    from tinygrad_lm.kernels import recurrent

    small, packed_from = {"compiled, BLAS": (1 << 62, 1 << 62), "Python, BLAS": (0, 1 << 62)}.get(path, (0, 0))
    monkeypatch.setattr(recurrent, "_SMALL", small)
    monkeypatch.setattr(recurrent, "_PACKED", packed_from)
    if path.startswith("packed"):  # the team alone, or two threads whatever NUMBA_NUM_THREADS (1 in the tests)
        monkeypatch.setattr(recurrent, "in_ranges", _alone if path.endswith("one thread") else _two_threads)
    rng = np.random.default_rng(11)
    xw, w, b, h0, c0, mask, hmask = _recurrence_inputs("lstm", 7, B, H, rng, np.float32)
    w /= np.sqrt(H)  # pre-activations of order 1, so the gates are not all saturated
    mask[:, 0] = [True, True, False, True, True, True, False]  # a padded step within row 0, and a padded tail
    for reverse in (False, True):
        results = []
        for impl in ("plain", "cpu"):
            packed, saved = backend.kernel("lstm_forward", impl=impl)(xw, w, b, h0, c0, mask, hmask, reverse)
            g = np.random.default_rng(12).standard_normal(packed.shape).astype(np.float32)
            grads = backend.kernel("lstm_backward", impl=impl)(g, saved, w, mask, hmask, reverse)
            results.append((packed,) + tuple(saved) + tuple(grads))
        for i, (a, b_) in enumerate(zip(*results, strict=True)):
            np.testing.assert_allclose(b_, a, rtol=2e-4, atol=2e-4, err_msg=f"output {i}, reverse={reverse}")


@settings(max_examples=6, deadline=None)
@given(kind=st.sampled_from(list(LAYERS)), T=st.integers(1, 4), B=st.integers(1, 3), D=st.integers(1, 4),
       H=st.integers(1, 4), layers=st.integers(1, 2), bidirectional=st.booleans(), batch_first=st.booleans(),
       given_state=st.booleans())
def test_drawn_configurations(kind, T, B, D, H, layers, bidirectional, batch_first, given_state):
    _check_layer(kind, T, B, D, H, layers, bidirectional, batch_first, given_state)


def test_variational_dropout_one_mask_per_sequence():
    """D1.T2: the dropped features are the same at every time step, and eval mode is the identity."""
    x = tg.ones(6, 3, 8)
    y = nn.functional.variational_dropout(x, 0.5, training=True).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and (y == 0).any()
    assert (y == y[0:1]).all()
    yb = nn.functional.variational_dropout(tg.ones(3, 6, 8), 0.5, batch_first=True).numpy()
    assert (yb == yb[:, 0:1]).all()
    assert nn.functional.variational_dropout(x, 0.5, training=False) is x


def test_recurrent_dropout_trains_and_is_off_in_eval():
    lstm = nn.LSTM(3, 4, input_dropout=0.3, recurrent_dropout=0.4).double()
    x = tg.tensor(np.random.default_rng(6).standard_normal((5, 2, 3)))
    a, _ = lstm(x)
    b, _ = lstm(x)
    assert not np.allclose(a.numpy(), b.numpy())  # fresh masks each call
    lstm.eval()
    ours = lstm(x)[0]
    theirs = torch.nn.LSTM(3, 4).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in lstm.state_dict().items()})
    assert_close(ours, theirs(torch.tensor(x.numpy()))[0])
    lstm.train()
    out, _ = lstm(x)
    out.sum().backward()
    assert all(p.grad is not None for p in lstm.parameters())


def test_linear_recurrent_unit_is_a_linear_system():
    """D3.F3 as written: h_t is linear in (h_0, x), so doubling both (with b_h = 0) doubles h_t."""
    cell = nn.LinearRecurrentCell(3, 4).double()
    cell.bias_h.data[:] = 0
    rng = np.random.default_rng(7)
    xs, h0 = rng.standard_normal((5, 2, 3)), rng.standard_normal((2, 4))

    def run(scale):
        h = tg.tensor(scale * h0)
        for t in range(5):
            y, h = cell(tg.tensor(scale * xs[t]), h)
        return h.numpy(), y

    h1, y = run(1.0)
    h2, _ = run(2.0)
    assert_close(h2, 2 * h1)
    W = cell.weight_hh.numpy()
    expected = h0 @ W.T
    for t in range(1):
        expected = expected + xs[t] @ cell.weight_xh.numpy().T
    assert_close(cell(tg.tensor(xs[0]), tg.tensor(h0))[1], expected)
    o = expected @ cell.weight_ho.numpy().T + xs[0] @ cell.weight_xx.numpy().T + cell.bias_o.numpy()
    assert_close(cell(tg.tensor(xs[0]), tg.tensor(h0))[0], 1 / (1 + np.exp(-o)))
    assert y.shape == (2, 3)


def test_elman_cell_matches_torch_rnn_cell_plus_output():
    cell = nn.ElmanCell(3, 4, output_size=2).double()
    ref = torch.nn.RNNCell(3, 4).double()
    with torch.no_grad():
        ref.weight_ih.copy_(torch.tensor(cell.weight_xh.numpy()))
        ref.weight_hh.copy_(torch.tensor(cell.weight_hh.numpy()))
        ref.bias_ih.copy_(torch.tensor(cell.bias_h.numpy()))
        ref.bias_hh.zero_()
    rng = np.random.default_rng(8)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    y, h1 = cell(tg.tensor(x), tg.tensor(h))
    h1_ref = ref(torch.tensor(x), torch.tensor(h))
    assert_close(h1, h1_ref)
    o = h1_ref.detach().numpy() @ cell.weight_ho.numpy().T + x @ cell.weight_xx.numpy().T + cell.bias_o.numpy()
    assert_close(y, 1 / (1 + np.exp(-o)))
    inputs = [tg.tensor(x, requires_grad=True), tg.tensor(h, requires_grad=True)]
    assert tg.gradcheck(lambda a, b: cell(a, b), inputs)


def test_clip_grad_norm_matches_torch():
    ours, theirs = _twins("lstm", 3, 4, num_layers=2)
    x = np.random.default_rng(9).standard_normal((5, 2, 3)) * 3
    (ours(tg.tensor(x))[0] ** 2).sum().backward()
    (theirs(torch.tensor(x))[0] ** 2).sum().backward()
    n1 = nn.utils.clip_grad_norm_(ours.parameters(), 0.5)
    n2 = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.5)
    assert abs(n1 - float(n2)) < 1e-10
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert_close(p.grad, q.grad)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    lstm = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match="7 features"):
        lstm(tg.zeros(5, 2, 7))
    with pytest.raises(ValueError, match=r"\(1, 2, 4\)"):
        lstm(tg.zeros(5, 2, 3), (tg.zeros(1, 3, 4), tg.zeros(1, 3, 4)))
    with pytest.raises(ValueError, match="lengths"):
        lstm(tg.zeros(5, 2, 3), lengths=[6, 1])
    with pytest.raises(ValueError, match="gate rows"):
        Recurrence.apply(tg.zeros(2, 1, 5), tg.zeros(8, 2), None, tg.zeros(1, 2), tg.zeros(1, 2), mode="lstm")


@pytest.mark.gpu
def test_lstm_on_gpu_matches_cpu():
    ours = nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    x = np.random.default_rng(10).standard_normal((5, 2, 3))
    ref, _ = ours(tg.tensor(x))
    ours.cuda()
    out, _ = ours(tg.tensor(x).cuda())
    assert_close(out.cpu(), ref.numpy())
