"""The learner's instruments (issue 18): hooks in lockstep with PyTorch's, the summary against torchinfo's, the
graph of a known expression, and the plots."""
import importlib.util

import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm import nn


def _twins():
    """One small network (a residual block inside a Sequential) in both frameworks, with the same float64 weights."""
    def make(lib):
        class Block(lib.Module):
            def __init__(self):
                super().__init__()
                self.lin1, self.act, self.lin2 = lib.Linear(4, 4), lib.ReLU(), lib.Linear(4, 4)

            def forward(self, x):
                return x + self.lin2(self.act(self.lin1(x)))  # the residual: x's gradient is not the block's alone

        return lib.Sequential(lib.Linear(3, 4), Block(), lib.Tanh(), lib.Linear(4, 2))

    torch.manual_seed(0)
    theirs = make(torch.nn).double()
    ours = make(nn).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _as_np(v):
    if v is None:
        return None
    return (v.detach().numpy() if isinstance(v, torch.Tensor) else v.numpy()).copy()  # torch accumulates in place


def _instrument(model, log):
    """Every hook on every module, logging (event, module path, arrays)."""
    handles = []
    for name, mod in model.named_modules():
        handles.append(mod.register_forward_pre_hook(
            lambda m, args, name=name: log.append(("pre", name, [_as_np(a) for a in args]))))
        handles.append(mod.register_forward_hook(
            lambda m, args, out, name=name: log.append(("forward", name, [_as_np(out)]))))
        handles.append(mod.register_full_backward_hook(
            lambda m, gi, go, name=name: log.append(("backward", name, [_as_np(g) for g in gi + go]))))
    return handles


def _run(model, lib, x_requires_grad, log):
    x = lib.tensor(np.linspace(-1, 1, 15).reshape(5, 3), dtype=lib.float64, requires_grad=x_requires_grad)
    handles = _instrument(model, log)
    y = model(x)
    y.register_hook(lambda g: log.append(("tensor y", "", [_as_np(g)])))
    loss = (y * y).sum()
    loss.backward()
    for h in handles:
        h.remove()
    model(x).sum().backward()  # removed: no more calls
    return x


def _assert_same_log(ours, theirs):
    assert [e[:2] for e in ours] == [e[:2] for e in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert len(a[2]) == len(b[2]), a[:2]
        for u, v in zip(a[2], b[2], strict=True):
            assert (u is None) == (v is None), a[:2]
            if u is not None:
                np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14, err_msg=str(a[:2]))


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("x_requires_grad", [True, False])
def test_module_hooks_are_called_in_torchs_order_with_torchs_values(x_requires_grad):
    ours, theirs = _twins()
    log_ours, log_theirs = [], []
    _run(ours, tg, x_requires_grad, log_ours)
    _run(theirs, torch, x_requires_grad, log_theirs)
    assert len(log_ours) > 20
    _assert_same_log(log_ours, log_theirs)


def test_hooks_that_return_values_replace_args_outputs_and_gradients():
    ours, theirs = _twins()
    grads = {}
    for model, lib in ((ours, tg), (theirs, torch)):
        model[0].register_forward_pre_hook(lambda m, args: args[0] * 2)  # a non-tuple result becomes (result,)
        model[2].register_forward_hook(lambda m, args, out: out + 1)
        model[1].register_full_backward_hook(lambda m, gi, go: (gi[0] * 3,))
        x = lib.tensor(np.linspace(-1, 1, 15).reshape(5, 3), dtype=lib.float64, requires_grad=True)
        h = model[1].lin1(model[0](x))
        h.register_hook(lambda g: g * 0.5)
        x.register_hook(lambda g: g - 1)
        out = model(x)
        (out * out).sum().backward()
        (model[3].weight * h.sum()).sum().backward()
        grads[lib.__name__] = [_as_np(out), _as_np(x.grad), _as_np(model[0].weight.grad)]
    for a, b in zip(grads["tinygrad_lm"], grads["torch"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_tensor_hooks_run_in_order_and_remove():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    h1 = x.register_hook(lambda g: calls.append(("a", g.tolist())) or g * 10)
    x.register_hook(lambda g: calls.append(("b", g.tolist())))
    (x * 3).sum().backward()
    assert calls == [("a", [3.0, 3.0]), ("b", [30.0, 30.0])] and x.grad.tolist() == [30.0, 30.0]
    h1.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert calls[-1] == ("b", [3.0, 3.0]) and x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.tensor([1.0]).register_hook(print)
    with pytest.raises(RuntimeError, match="must keep the shape"):
        y = tg.tensor([1.0, 2.0], requires_grad=True)
        y.register_hook(lambda g: g.sum())
        (y * 1).sum().backward()


# ---------------------------------------------------------------- summary == torchinfo
def _torch_gpt(V, T, C, L):
    tnn = torch.nn

    class CausalSelfAttention(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn, self.c_proj, self.resid_dropout = tnn.Linear(C, 3 * C), tnn.Linear(C, C), tnn.Dropout(0.0)

        def forward(self, x):
            q, k, v = self.c_attn(x).split(C, dim=-1)
            y = tnn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.resid_dropout(self.c_proj(y)), (k, v)

    class MLP(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc, self.gelu, self.c_proj, self.dropout = (tnn.Linear(C, 4 * C), tnn.GELU(), tnn.Linear(4 * C, C),
                                                               tnn.Dropout(0.0))

        def forward(self, x):
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn, self.ln_2, self.mlp = tnn.LayerNorm(C), CausalSelfAttention(), tnn.LayerNorm(C), MLP()

        def forward(self, x):
            a, present = self.attn(self.ln_1(x))
            x = x + a
            return x + self.mlp(self.ln_2(x)), present

    class GPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe, self.drop = tnn.Embedding(V, C), tnn.Embedding(T, C), tnn.Dropout(0.0)
            self.h = tnn.ModuleList([Block() for _ in range(L)])
            self.ln_f, self.lm_head = tnn.LayerNorm(C), tnn.Linear(C, V, bias=False)
            self.lm_head.weight = self.wte.weight

        def forward(self, ids):
            x = self.drop(self.wte(ids) + self.wpe(torch.arange(ids.shape[1])))
            for block in self.h:
                x, _ = block(x)
            return self.lm_head(self.ln_f(x))

    return GPT()


def _seed_models():
    """(ours, the PyTorch twin, input sizes, dtypes) for the seed models."""
    from test_cnn import TorchCifarCNN, TorchMnistCNN
    from test_rnn_models import ClassifierTwin
    from tinygrad_lm.models import cnn, gpt, lstm_classifier, lstm_lm, mlp, rnn
    tnn = torch.nn

    class RNNTwin(tnn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.fc = tnn.RNN(10, 8, 2, batch_first=True), tnn.Linear(8, 2)

        def forward(self, x):
            out, h = self.rnn(x)
            return self.fc(out[:, -1]), h

    class LMTwin(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.dropout = tnn.Embedding(50, 8), tnn.Dropout(0.5)
            self.lstm, self.fc = tnn.LSTM(8, 16, 2, dropout=0.5, batch_first=True), tnn.Linear(16, 50)

        def forward(self, x):
            out, hidden = self.lstm(self.dropout(self.embedding(x)))
            return self.fc(out), hidden

    frozen = mlp.MLP(64, (32, 16), 10, activation="tanh")
    frozen[0].requires_grad_(False)
    frozen_twin = tnn.Sequential(tnn.Linear(64, 32), tnn.Tanh(), tnn.Linear(32, 16), tnn.Tanh(), tnn.Linear(16, 10))
    frozen_twin[0].requires_grad_(False)
    long = [torch.long]
    return {
        "mlp": (frozen, frozen_twin, [(4, 64)], None),
        "mnist_cnn": (cnn.MnistCNN(), TorchMnistCNN(), [(2, 1, 28, 28)], None),
        "cifar_cnn": (cnn.CifarCNN(), TorchCifarCNN(), [(2, 3, 32, 32)], None),
        "rnn": (rnn.RNNClassifier(), RNNTwin(), [(3, 5, 10)], None),
        "lstm_classifier": (lstm_classifier.LSTMClassifier(200), ClassifierTwin(200), [(2, 7)], long),
        "lstm_lm": (lstm_lm.LSTMLanguageModel(50, 8, 16), LMTwin(), [(2, 6)], long),
        "gpt": (gpt.GPT(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=8, dropout=0.0),
                _torch_gpt(40, 16, 8, 2), [(2, 5)], long),
    }


def _assert_summary_equals_torchinfo(got, want, n_inputs=1, theirs_never_call=()):
    """Row by row and in total, our summary against torchinfo's. ``theirs_never_call``: paths of our rows whose
    torch twin holds the module but never calls it (torch's MultiheadAttention reads ``out_proj.weight`` inside
    F.multi_head_attention_forward), so torchinfo has no row for them: their parameters stay in the parent's
    row and count once either way; their mult-adds, activations and parameter bytes, which torchinfo counts on
    leaves only, are ours alone."""
    extra = [r for r in got.rows if r.path in theirs_never_call]
    assert len(extra) == len(theirs_never_call)
    rows = [r for r in got.rows if r.path not in theirs_never_call]
    row = lambda r: (r.depth, r.output_size, r.num_params, r.trainable_params, r.macs,  # noqa: E731
                     r.is_recursive, r.trainable)
    assert [row(r) for r in rows] == [row(r) for r in want.summary_list]
    assert (got.total_params, got.trainable_params) == (want.total_params, want.trainable_params)
    assert got.total_param_bytes - sum(r.param_bytes for r in extra) == want.total_param_bytes
    assert got.total_mult_adds - sum(r.macs for r in extra) == want.total_mult_adds
    assert got.total_output_bytes - sum(2 * r.output_bytes for r in extra) == want.total_output_bytes
    assert 0 <= want.total_input - got.input_bytes < 200 * n_inputs  # torchinfo counts the storages' own bytes
    text = str(got)
    assert f"Total params: {want.total_params:,}" in text and "Forward/backward pass size (MB)" in text
    return rows


@pytest.mark.parametrize("name", ["mlp", "mnist_cnn", "cifar_cnn", "rnn", "lstm_classifier", "lstm_lm", "gpt"])
def test_summary_equals_torchinfo_on_the_twin(name):
    torchinfo = pytest.importorskip("torchinfo")
    ours, twin, sizes, dtypes = _seed_models()[name]
    got = tg.summary(ours, sizes, dtypes=None if dtypes is None else [np.int64], verbose=0)
    want = torchinfo.summary(twin, input_size=sizes, dtypes=dtypes, verbose=0)
    _assert_summary_equals_torchinfo(got, want)
    names = lambda rows: [(r.class_name, r.var_name) for r in rows[1:]]  # noqa: E731 - the root's names differ
    assert names(got.rows) == names(want.summary_list)
    assert got.total_mult_adds == want.total_mult_adds and got.total_output_bytes == want.total_output_bytes
    assert ours.summary(sizes, dtypes=None if dtypes is None else [np.int64], verbose=0).total_params \
        == want.total_params


class SinusoidalPositionalEncoding(torch.nn.Module):
    """The twin of nn.SinusoidalPositionalEncoding: x + PE[:L] (a buffer, no parameters), then dropout."""

    def __init__(self, d_model, max_len, dropout):
        super().__init__()
        self.dropout = torch.nn.Dropout(dropout)
        self.register_buffer("pe", torch.tensor(nn.transformer.sinusoidal_table(max_len, d_model, np.float32)),
                             persistent=False)

    def forward(self, x):
        return self.dropout(x + self.pe[: x.shape[1]])


class Seq2SeqTransformerTwin(torch.nn.Module):
    """models.transformer.Seq2SeqTransformer in torch, calling the encoder and the decoder as it does (so the
    nn.Transformer container itself is never called and is listed above its first child, in both)."""

    def __init__(self, V, d, nhead, n_enc, n_dec, ff, dropout, max_len):
        super().__init__()
        self.src_embed, self.tgt_embed = torch.nn.Embedding(V, d), torch.nn.Embedding(V, d)
        self.pos = SinusoidalPositionalEncoding(d, max_len, dropout)
        self.transformer = torch.nn.Transformer(d, nhead, n_enc, n_dec, ff, dropout=dropout, batch_first=True)
        self.generator = torch.nn.Linear(d, V)
        self.scale = d ** 0.5

    def forward(self, src, tgt_in):
        memory = self.transformer.encoder(self.pos(self.src_embed(src) * self.scale))
        mask = torch.nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        h = self.transformer.decoder(self.pos(self.tgt_embed(tgt_in) * self.scale), memory, tgt_mask=mask,
                                     tgt_is_causal=True)
        return self.generator(h)


def test_summary_of_the_transformer_equals_torchinfo():
    """D2.M1-M3 with 2 encoder layers and 1 decoder layer, every depth shown."""
    torchinfo = pytest.importorskip("torchinfo")
    from tinygrad_lm.models.transformer import Seq2SeqTransformer
    ours = Seq2SeqTransformer(20, 16, 2, 2, 1, 32, dropout=0.1, max_len=32)
    twin = Seq2SeqTransformerTwin(20, 16, 2, 2, 1, 32, dropout=0.1, max_len=32)
    sizes = [(2, 5), (2, 4)]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused eval path would skip the sub-modules' hooks
    try:
        want = torchinfo.summary(twin, input_size=sizes, dtypes=[torch.long] * 2, depth=10, verbose=0)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    got = tg.summary(ours, sizes, dtypes=[np.int64] * 2, depth=10, verbose=0)
    out_proj = {r.path for r in got.rows if r.path.endswith("attn.out_proj")}
    assert len(out_proj) == 2 + 2  # self-attention in each layer, cross-attention in the decoder's
    rows = _assert_summary_equals_torchinfo(got, want, 2, out_proj)
    assert [(r.class_name, r.var_name) for r in rows[1:]] == \
        [(r.class_name, r.var_name) for r in want.summary_list[1:]]
    assert got.total_params == sum(p.numel() for p in ours.parameters()) == 8836


class GeneralScore(torch.nn.Module):
    def __init__(self, H):
        super().__init__()
        self.W_a = torch.nn.Linear(H, H, bias=False)

    def forward(self, h_t, h_s):
        return h_t @ self.W_a(h_s).transpose(1, 2)


class DotScore(torch.nn.Module):
    def forward(self, h_t, h_s):
        return h_t @ h_s.transpose(1, 2)


class Seq2SeqAttentionTwin(torch.nn.Module):
    """models.seq2seq_attention.Seq2SeqAttention in torch (full-length sources: no packing needed)."""

    def __init__(self, V, W, E, H, score):
        super().__init__()
        from tinygrad_lm.data.translation import PAD
        self.src_embedding = torch.nn.Embedding(V, E, padding_idx=PAD)
        self.encoder = torch.nn.GRU(E, H, batch_first=True)
        self.tgt_embedding = torch.nn.Embedding(W, E, padding_idx=PAD)
        self.decoder = torch.nn.GRU(E, H, batch_first=True)
        self.score = GeneralScore(H) if score == "general" else DotScore()
        self.W_c = torch.nn.Linear(2 * H, H, bias=False)
        self.W_s = torch.nn.Linear(H, W)

    def forward(self, src, src_lengths, tgt_in):
        h_s, h = self.encoder(self.src_embedding(src))
        h_t, _ = self.decoder(self.tgt_embedding(tgt_in), h)
        weights = torch.softmax(self.score(h_t, h_s), -1)
        return self.W_s(torch.tanh(self.W_c(torch.cat([weights @ h_s, h_t], -1)))), weights


@pytest.mark.parametrize("score", ["general", "dot"])
def test_summary_of_seq2seq_attention_equals_torchinfo(score):
    """D1.T3 on three inputs (source, lengths, target). The concat score is left out: it applies the two halves
    of W_a through ops.linear, not by calling the module, by design (see ConcatScore)."""
    torchinfo = pytest.importorskip("torchinfo")
    from tinygrad_lm.models.seq2seq_attention import Seq2SeqAttention
    ours, twin = Seq2SeqAttention(11, 13, 6, 7, score), Seq2SeqAttentionTwin(11, 13, 6, 7, score)
    src, lengths, tgt = np.ones((2, 5), np.int64), np.array([5, 5]), np.ones((2, 4), np.int64)
    got = tg.summary(ours, input_data=[tg.tensor(src), lengths, tg.tensor(tgt)], verbose=0)
    want = torchinfo.summary(twin, input_data=[torch.tensor(a) for a in (src, lengths, tgt)], verbose=0)
    rows = _assert_summary_equals_torchinfo(got, want, 3)
    assert [r.var_name for r in rows[1:]] == [r.var_name for r in want.summary_list[1:]]
    assert got.total_params == sum(p.numel() for p in ours.parameters())


# ---------------------------------------------------------------- viz
def test_graph_of_a_known_expression_has_its_nodes_and_edges():
    from tinygrad_lm import viz
    lin = nn.Linear(2, 3)
    x = tg.tensor([[1.0, 2.0]], requires_grad=True)
    y = (lin(x).tanh() * x.sum()).sum()
    g = viz.build_graph(y, lin)
    named = {k: n["label"] for k, n in g.nodes.items()}
    edges = sorted((named[a], named[b]) for a, b in g.edges)
    assert list(named.values()) == ["leaf", "weight", "bias", "linear", "tanh", "sum", "mul", "sum"]  # forward order
    assert edges == sorted([("leaf", "linear"), ("weight", "linear"), ("bias", "linear"), ("linear", "tanh"),
                            ("leaf", "sum"), ("tanh", "mul"), ("sum", "mul"), ("mul", "sum")])
    assert [n["kind"] for n in g.nodes.values()][:3] == ["param"] * 3
    assert viz.build_graph(lin(x.detach()).sum()).labels()[0] == "input"  # a leaf that needs no gradient
    assert all(n["grad_norm"] is None for n in g.nodes.values())
    y.backward(retain_graph=True)
    g = viz.build_graph(y, lin)
    weight = next(n for n in g.nodes.values() if n["label"] == "weight")
    assert weight["grad_norm"] == pytest.approx(np.linalg.norm(lin.weight.grad.numpy()))
    dot = viz.to_dot(g)
    assert dot.count("->") == 8 and "weight\\n(3, 2) float32\\n|grad| =" in dot
    if importlib.util.find_spec("graphviz") is not None:
        assert viz.draw_graph(y, lin, backend="graphviz").source == dot
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        viz.build_graph(y)


def test_graph_of_a_shared_subexpression_is_a_diamond():
    from tinygrad_lm import viz
    x, w = tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0], requires_grad=True)
    a = x * w
    g = viz.build_graph((a + a.exp()).sum())
    named = {k: n["label"] for k, n in g.nodes.items()}
    assert list(named.values()) == ["input", "leaf", "mul", "exp", "add", "sum"]  # the deeper branch (exp) first
    assert sorted((named[u], named[v]) for u, v in g.edges) == sorted(
        [("input", "mul"), ("leaf", "mul"), ("mul", "exp"), ("mul", "add"), ("exp", "add"), ("add", "sum")])
    assert g.groups == [] and len(g.edges) == 6  # mul read twice: one node, two edges


def _one_block(g, count):
    """The graph's only block, repeated ``count`` times; no other node comes from a repeat."""
    blocks = [n for n in g.nodes.values() if n["kind"] == "block"]
    assert len(blocks) == 1 and g.groups == [(next(k for k, n in g.nodes.items() if n["kind"] == "block"), count)]
    assert blocks[0]["count"] == count and blocks[0]["label"].endswith(f"× {count}")
    return blocks[0]


def test_repeated_steps_collapse_into_one_block_with_its_count():
    from tinygrad_lm import viz
    W = tg.randn(4, 4, requires_grad=True)
    h = tg.randn(1, 4)
    for _ in range(7):
        h = (h @ W).tanh()
    full, small = viz.build_graph(h.sum(), collapse=False), viz.build_graph(h.sum())
    assert full.labels().count("tanh") == 7 and full.groups == []
    block = _one_block(small, 7)
    assert block["ops"] == ["mat_mul", "tanh"] and block["params"] == 1  # W folded in; h_0 read by the first step
    assert small.labels() == ["input", "block × 7", "sum"]
    assert sorted((small.nodes[a]["label"], small.nodes[b]["label"]) for a, b in small.edges) == \
        [("block × 7", "sum"), ("input", "block × 7")]
    fig = viz.draw_graph(h.sum(), backend="matplotlib")
    assert sum("block × 7" in t.get_text() for t in fig.axes[0].texts) == 1  # one box
    dot = viz.to_dot(small)
    assert dot.count("peripheries=2") == 1 and dot.count("->") == 2


class _Unrolled(nn.Module):
    """An RNN or LSTM built from its cell, one step at a time, then a linear read-out of the last h."""

    def __init__(self, cell):
        super().__init__()
        self.cell, self.fc = cell, nn.Linear(4, 1)

    def forward(self, x):
        state = None
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
        return self.fc(state if isinstance(self.cell, nn.RNNCell) else state[0])


@pytest.mark.parametrize("cell", [nn.RNNCell, nn.LSTMCell])
def test_an_rnn_unrolled_5_steps_is_one_box_times_5(cell):
    from tinygrad_lm import viz
    tg.manual_seed(0)
    model = _Unrolled(cell(3, 4))
    x = tg.randn(2, 5, 3, requires_grad=True)
    y = model(x).sum()
    assert viz.build_graph(y, model, collapse=False).labels().count("recurrence") == 5
    g = viz.build_graph(y, model)
    block = _one_block(g, 5)
    assert block["label"] == "cell × 5" and block["params"] == 4  # weight_ih, weight_hh, bias_ih, bias_hh
    assert g.labels() == ["leaf", "cell × 5", "fc.weight", "fc.bias", "linear", "sum"]  # x read by every step
    assert "recurrence" not in g.labels() and len(g.edges) == 5


@pytest.mark.parametrize("layer", [nn.RNN, nn.LSTM])
def test_nn_rnn_and_lstm_are_one_fused_op_over_the_steps(layer):
    """nn.RNN and nn.LSTM run the time loop inside one Function (Recurrence): one box, marked with its steps."""
    from tinygrad_lm import viz
    model = layer(3, 4, batch_first=True)
    g = viz.build_graph(model(tg.randn(2, 5, 3))[0].sum(), model)
    fused = [n for n in g.nodes.values() if n["label"] == "recurrence"]
    assert len(fused) == 1 and fused[0]["count"] == 5 and g.groups == []
    assert "recurrence × 5 steps (fused)" in viz.to_dot(g)


def test_a_3_layer_gpt_is_one_box_times_3():
    from tinygrad_lm import viz
    from tinygrad_lm.models import gpt
    model = gpt.GPT(vocab_size=40, block_size=16, n_layer=3, n_head=2, n_embd=8, dropout=0.0)
    out = model(np.zeros((2, 5), np.int64))
    loss = (out[0] if isinstance(out, tuple) else out).sum()
    g = viz.build_graph(loss, model)
    block = _one_block(g, 3)
    per_layer = [n for n, _ in model.named_parameters() if n.startswith("h.")]
    assert block["label"] == "h.0 … h.2 × 3" and block["params"] == len(per_layer) and len(per_layer) % 3 == 0
    assert not any(label.startswith("h.") for label in g.labels() if label != block["label"])
    into = [g.nodes[a]["label"] for a, b in g.edges if g.nodes[b] is block]
    out_of = [g.nodes[b]["label"] for a, b in g.edges if g.nodes[a] is block]
    assert into == ["add"] and out_of == ["layer_norm"]  # token + position embeddings in, ln_f out
    ops_in_full = sum(n["kind"] == "op" for n in viz.build_graph(loss, model, collapse=False).nodes.values())
    assert ops_in_full == 3 * len(block["ops"]) + sum(n["kind"] == "op" for n in g.nodes.values())


def test_grad_flow_activations_and_attention_plots():
    from tinygrad_lm import viz
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 2))
    x = tg.randn(16, 4)
    model(x).sum().backward()
    rows = viz.grad_flow(model)
    assert [r[0] for r in rows] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert rows[0][1] == pytest.approx(np.abs(model[0].weight.grad.numpy()).mean())
    ax = viz.plot_grad_flow(model)
    assert len(ax.patches) == 4  # mean and max bars for the two weights
    cell = nn.RNNCell(2, 3)
    cell(tg.randn(4, 2)).sum().backward()
    assert [t.get_text() for t in viz.plot_grad_flow(cell).get_xticklabels()] == ["weight_ih", "weight_hh"]
    acts = viz.record_activations(model, x)
    assert list(acts) == ["0", "1", "2"] and acts["1"].min() > 0 and acts["1"].max() < 1
    assert len(viz.plot_activations(model, x).axes) == 3  # a histogram per layer
    assert model[0]._hooks["forward"] == {}  # the hooks are gone
    w = tg.tensor(np.full((3, 2), 0.5))
    ax = viz.plot_attention(w, ["a", "b"], ["x", "y", "z"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"] and len(ax.get_yticklabels()) == 3
    with pytest.raises(ValueError, match="do not fit 2 target and 2 source"):
        viz.plot_attention(w, ["a", "b"], ["x", "y"])
