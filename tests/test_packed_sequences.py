"""nn.utils.rnn (packed sequences) against torch.nn.utils.rnn: packing and padding, forward and backward;
RNN / LSTM / GRU on packed input (outputs, states at each sequence's last real step, every gradient);
the D1.M1 classifier reading packed texts."""
import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.gradcheck import gradcheck
from tinygrad_lm.models.lstm_classifier import LSTMClassifier

from helpers import assert_close

R, TR = nn.utils.rnn, torch.nn.utils.rnn
LAYERS = {"rnn": (nn.RNN, torch.nn.RNN, {}), "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
          "lstm": (nn.LSTM, torch.nn.LSTM, {}), "gru": (nn.GRU, torch.nn.GRU, {})}


def _torch_state(module):
    return {k: torch.tensor(v.numpy() if isinstance(v, tg.Tensor) else v) for k, v in module.state_dict().items()}


def _padded(rng, T, B, D, batch_first):
    return rng.standard_normal((B, T, D) if batch_first else (T, B, D))


def _ties_free(lengths):
    return len(set(lengths)) == len(lengths)


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=6), extra=st.integers(0, 2),
       batch_first=st.booleans(), enforce_sorted=st.booleans(), padding_value=st.sampled_from([0.0, -1.5]),
       seed=st.integers(0, 2**16))
@example(lengths=[2], extra=0, batch_first=True, enforce_sorted=True, padding_value=0.0, seed=0)
@example(lengths=[3, 3, 3], extra=1, batch_first=False, enforce_sorted=False, padding_value=-1.5, seed=0)
def test_pack_and_pad_match_torch(lengths, extra, batch_first, enforce_sorted, padding_value, seed):
    """Data, batch_sizes and indices as torch's; padding back gives the input with padding_value past each
    length, the lengths in batch order; the gradient of pad(pack(x)) reaches exactly the real steps."""
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    T = max(lengths) + extra
    rng = np.random.default_rng(seed)
    x = _padded(rng, T, len(lengths), 3, batch_first)
    xg, xt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    p = R.pack_padded_sequence(xg, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    q = TR.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted)
    assert p.batch_sizes.dtype == np.int64 and p.batch_sizes.numpy().tolist() == q.batch_sizes.tolist()
    if enforce_sorted:
        assert p.sorted_indices is None and p.unsorted_indices is None
    elif _ties_free(lengths):  # torch's sort orders equal lengths as it likes (ours keeps their order)
        assert p.sorted_indices.numpy().tolist() == q.sorted_indices.tolist()
        assert p.unsorted_indices.numpy().tolist() == q.unsorted_indices.tolist()
    if enforce_sorted or _ties_free(lengths):
        assert_close(p.data, q.data)
    pad, lens = R.pad_packed_sequence(p, batch_first, padding_value, total_length=T)
    ref, ref_lens = TR.pad_packed_sequence(q, batch_first, padding_value, total_length=T)
    assert lens.numpy().tolist() == ref_lens.tolist() == lengths
    assert_close(pad, ref)
    real = np.arange(T)[:, None] < np.array(lengths)[None, :]
    if batch_first:
        real = real.T
    assert_close(pad, np.where(real[..., None], x, padding_value))
    u = rng.standard_normal(pad.shape)
    (pad * tg.tensor(u)).sum().backward()
    (ref * torch.tensor(u)).sum().backward()
    assert_close(xg.grad, xt.grad)
    assert_close(xg.grad, np.where(real[..., None], u, 0.0))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_and_pack_sequence_match_torch(batch_first, padding_side):
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((n, 2)) for n in (3, 1, 4, 0)]
    ours = [tg.tensor(s, requires_grad=True) for s in seqs]
    theirs = [torch.tensor(s, requires_grad=True) for s in seqs]
    a = R.pad_sequence(ours, batch_first, 7.0, padding_side)
    b = TR.pad_sequence(theirs, batch_first, 7.0, padding_side)
    assert_close(a, b)
    u = rng.standard_normal(a.shape)
    (a * tg.tensor(u)).sum().backward()
    (b * torch.tensor(u)).sum().backward()
    for o, t in zip(ours, theirs, strict=True):
        assert_close(o.grad, t.grad)
    p = R.pack_sequence(ours[:3], enforce_sorted=False)
    q = TR.pack_sequence(theirs[:3], enforce_sorted=False)
    assert_close(p.data, q.data)
    assert p.batch_sizes.numpy().tolist() == q.batch_sizes.tolist()
    assert p.sorted_indices.numpy().tolist() == q.sorted_indices.tolist()


def test_torch_errors():
    x = tg.tensor(np.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match="must be sorted in decreasing order when `enforce_sorted` is True"):
        R.pack_padded_sequence(x, [2, 3, 1, 1])
    with pytest.raises(ValueError, match="has to be greater than 0"):
        R.pack_padded_sequence(x, [3, 0, 2, 1], enforce_sorted=False)
    with pytest.raises(ValueError, match=r"a length of 4 exceeds the 3 time steps"):
        R.pack_padded_sequence(x, [4, 3, 2, 1])
    with pytest.raises(ValueError, match=r"equal to batch_size, but got 3 \(batch_size=4"):
        R.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(ValueError, match=r"batch_size=3"):  # batch_first reads (B, T, *)
        R.pack_padded_sequence(x, [3, 2, 1, 1], batch_first=True)
    p = R.pack_padded_sequence(x, [3, 2, 2, 1])
    with pytest.raises(ValueError, match="total_length=2 and max sequence length being 3"):
        R.pad_packed_sequence(p, total_length=2)
    with pytest.raises(ValueError, match="carries its own lengths"):
        nn.LSTM(2, 3)(p, lengths=[3, 2, 2, 1])
    with pytest.raises(ValueError, match="padding_side"):
        R.pad_sequence([x[0]], padding_side="top")


def test_packed_sequence_fields_and_to():
    p = R.PackedSequence(tg.tensor([1.0, 2.0, 3.0]), tg.tensor([2, 1]), tg.tensor([1, 0]))
    assert p.unsorted_indices.numpy().tolist() == [1, 0]  # derived, as torch's constructor does
    assert p._fields == TR.PackedSequence._fields
    d = p.double()
    assert d.data.dtype == np.float64 and d.batch_sizes is p.batch_sizes and not d.is_cuda


def _check_packed_layer(kind, lengths, layers, bidirectional, batch_first, given_state, enforce_sorted=False,
                        D=3, H=4, seed=0):
    ours_cls, theirs_cls, extra = LAYERS[kind]
    kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    ours = ours_cls(D, H, **extra, **kw).double()
    theirs = theirs_cls(D, H, **extra, **kw).double()
    theirs.load_state_dict(_torch_state(ours))
    rng = np.random.default_rng(seed)
    B, T = len(lengths), max(lengths) + 1
    x = _padded(rng, T, B, D, batch_first)
    n = layers * (2 if bidirectional else 1)
    states = [rng.standard_normal((n, B, H)) for _ in range(2 if kind == "lstm" else 1)]
    xg, xt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sg = [tg.tensor(s, requires_grad=True) for s in states]
    st_ = [torch.tensor(s, requires_grad=True) for s in states]
    hx_g = (tuple(sg) if kind == "lstm" else sg[0]) if given_state else None
    hx_t = (tuple(st_) if kind == "lstm" else st_[0]) if given_state else None
    p = R.pack_padded_sequence(xg, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    q = TR.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted)
    out, h = ours(p, hx_g)
    ref, ht = theirs(q, hx_t)
    assert isinstance(out, R.PackedSequence)
    assert out.batch_sizes.numpy().tolist() == ref.batch_sizes.tolist()
    outs = (out.data,) + (h if kind == "lstm" else (h,))
    refs = (ref.data,) + (ht if kind == "lstm" else (ht,))
    for i, (o, r) in enumerate(zip(outs, refs, strict=True)):
        assert_close(o, r, what=f"{kind} output {i} (0: packed data, then h_n, c_n)")
    ups = [rng.standard_normal(r.shape) for r in refs]
    sum((o * tg.tensor(u)).sum() for o, u in zip(outs, ups, strict=True)).backward()
    sum((r * torch.tensor(u)).sum() for r, u in zip(refs, ups, strict=True)).backward()
    assert_close(xg.grad, xt.grad, what="input gradient")
    if given_state:
        for a, b in zip(sg, st_, strict=True):
            assert_close(a.grad, b.grad, what="initial state gradient")
    for (name, w), (name_t, wt) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert name == name_t
        assert_close(w.grad, wt.grad, what=f"gradient of {name}")


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("layers,bidirectional,batch_first,given_state", [
    (1, False, False, False), (2, True, True, True), (2, False, True, False), (1, True, False, True)])
def test_layers_on_packed_input_match_torch(kind, layers, bidirectional, batch_first, given_state):
    _check_packed_layer(kind, [2, 5, 1, 4], layers, bidirectional, batch_first, given_state)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_layers_on_sorted_packed_input_match_torch(kind):
    _check_packed_layer(kind, [5, 4, 4, 1], 2, True, False, True, enforce_sorted=True)


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(["lstm", "gru", "rnn"]), lengths=st.lists(st.integers(1, 5), min_size=1, max_size=5),
       equal=st.booleans(), bidirectional=st.booleans(), batch_first=st.booleans(), seed=st.integers(0, 2**16))
@example(kind="lstm", lengths=[3], equal=False, bidirectional=True, batch_first=True, seed=0)  # batch of one
@example(kind="lstm", lengths=[4, 1, 2], equal=True, bidirectional=True, batch_first=False, seed=1)  # all ties
def test_layers_on_drawn_lengths_match_torch(kind, lengths, equal, bidirectional, batch_first, seed):
    """Any lengths, batch 1 and all-equal lengths included (ties: torch orders them its own way, and the
    states and gradients must not depend on it)."""
    _check_packed_layer(kind, [lengths[0]] * len(lengths) if equal else lengths, 1, bidirectional, batch_first,
                        True, seed=seed)


def test_gradcheck_pack_lstm_pad():
    lstm = nn.LSTM(2, 3, bidirectional=True).double()
    x = tg.tensor(np.random.default_rng(3).standard_normal((4, 3, 2)), requires_grad=True)

    def fn(x, w_ih, w_hh):
        out, (h, c) = lstm(R.pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False))
        return R.pad_packed_sequence(out, batch_first=True)[0], h, c

    assert gradcheck(fn, [x, lstm.weight_ih_l0, lstm.weight_hh_l0_reverse])


# ------------------------------------------------------------------ D1.M1 on packed texts
class PackedTwin(torch.nn.Module):
    """D1.M1 in PyTorch, reading each text's words only through pack_padded_sequence."""

    def __init__(self, vocab):
        super().__init__()
        self.embedding, self.lstm, self.fc = (torch.nn.Embedding(vocab, 16), torch.nn.LSTM(16, 32, batch_first=True),
                                              torch.nn.Linear(32, 1))

    def forward(self, texts):
        lengths = [max(len(t), 1) for t in texts]
        ids = torch.zeros((len(texts), max(lengths)), dtype=torch.int64)
        for b, t in enumerate(texts):
            ids[b, :len(t)] = torch.tensor(t, dtype=torch.int64)
        packed = TR.pack_padded_sequence(self.embedding(ids), torch.tensor(lengths), batch_first=True,
                                         enforce_sorted=False)
        return torch.sigmoid(self.fc(self.lstm(packed)[1][0][-1]))


def _keras_pad(texts, maxlen, padding):
    """Keras's pad_sequences (no truncation): index 0 before ('pre') or after ('post') each text."""
    out = np.zeros((len(texts), maxlen), dtype=np.int64)
    for b, t in enumerate(texts):
        if t and padding == "pre":
            out[b, maxlen - len(t):] = t
        elif t:
            out[b, :len(t)] = t
    return out


def test_d1m1_packed_prediction_ignores_padding_and_matches_torch():
    """A text's prediction is the same whatever length and side it is padded to and whatever it is batched
    with, and equals the PyTorch twin's (pack_padded_sequence); so do the gradients of a loss."""
    rng = np.random.default_rng(0)
    texts = [rng.integers(1, 50, n).tolist() for n in (7, 3, 11, 1)] + [[]]
    model = LSTMClassifier(50, packed=True).double()
    twin = PackedTwin(50).double()
    twin.load_state_dict(_torch_state(model))
    ref = twin(texts).detach().numpy()
    for maxlen, padding in ((11, "pre"), (20, "pre"), (16, "post")):
        assert_close(model(tg.tensor(_keras_pad(texts, maxlen, padding))), ref, what=f"{padding} {maxlen}")
    for b, text in enumerate(texts):  # alone, in a batch of one, at a length of its own
        assert_close(model(tg.tensor(_keras_pad([text], len(text) + 4, "pre"))), ref[b:b + 1], what=f"text {b}")
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    ours = nn.functional.binary_cross_entropy(model(tg.tensor(_keras_pad(texts, 13, "pre")))[:, 0], tg.tensor(y))
    theirs = torch.nn.functional.binary_cross_entropy(twin(texts)[:, 0], torch.tensor(y))
    ours.backward()
    theirs.backward()
    for (name, w), (_, wt) in zip(model.named_parameters(), twin.named_parameters(), strict=True):
        assert_close(w.grad, wt.grad, what=f"gradient of {name}")


def test_d1m1_unpacked_prediction_depends_on_padding():
    """Why packing: without it the padding steps run through the LSTM and move the prediction."""
    model = LSTMClassifier(50).double()
    text = [[3, 14, 15]]
    a, b = (model(tg.tensor(_keras_pad(text, n, "pre"))).numpy() for n in (3, 30))
    assert abs(a - b).max() > 1e-6


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_initial_state_rank_must_match_the_input_as_torch(layer):
    """An unbatched (T, D) input takes (n, H) states and a batched one (n, B, H); a mismatch names the shapes
    the user passed (not the internally unsqueezed ones), where torch raises too."""
    net = getattr(tg.nn, layer)(3, 4)
    ref = getattr(torch.nn, layer)(3, 4)
    x, h = tg.randn(5, 3), tg.randn(1, 2, 4)
    state = (h, h) if layer == "LSTM" else h
    with pytest.raises(ValueError, match=r"a 2-D input \(5, 3\) needs 2-D initial states, got \(1, 2, 4\)"):
        net(x, state)
    tstate = (torch.randn(1, 2, 4),) * 2 if layer == "LSTM" else torch.randn(1, 2, 4)
    with pytest.raises(RuntimeError):
        ref(torch.randn(5, 3), tstate)
    out, _ = net(x, (tg.zeros(1, 4), tg.zeros(1, 4)) if layer == "LSTM" else tg.zeros(1, 4))
    assert out.shape == (5, 4)
