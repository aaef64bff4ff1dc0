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


@pytest.mark.parametrize("name", ["mlp", "mnist_cnn", "cifar_cnn", "rnn", "lstm_classifier", "lstm_lm", "gpt"])
def test_summary_equals_torchinfo_on_the_twin(name):
    torchinfo = pytest.importorskip("torchinfo")
    ours, twin, sizes, dtypes = _seed_models()[name]
    got = tg.summary(ours, sizes, dtypes=None if dtypes is None else [np.int64], verbose=0)
    want = torchinfo.summary(twin, input_size=sizes, dtypes=dtypes, verbose=0)
    row = lambda r: (r.depth, r.output_size, r.num_params, r.trainable_params, r.macs,  # noqa: E731
                     r.is_recursive, r.trainable)
    assert [row(r) for r in got.rows] == [row(r) for r in want.summary_list]
    names = lambda rows: [(r.class_name, r.var_name) for r in rows[1:]]  # noqa: E731 - the root's names differ
    assert names(got.rows) == names(want.summary_list)
    for field in ("total_params", "trainable_params", "total_mult_adds", "total_output_bytes", "total_param_bytes"):
        assert getattr(got, field) == getattr(want, field), field
    assert 0 <= want.total_input - got.input_bytes < 200  # torchinfo counts the storage objects' own bytes too
    text = str(got)
    assert f"Total params: {want.total_params:,}" in text and "Forward/backward pass size (MB)" in text
    assert ours.summary(sizes, dtypes=None if dtypes is None else [np.int64], verbose=0).total_params \
        == want.total_params


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


def test_repeated_steps_collapse_into_one_block_with_its_count():
    from tinygrad_lm import viz
    W = tg.randn(4, 4, requires_grad=True)
    h = tg.randn(1, 4, requires_grad=True)
    for _ in range(7):
        h = (h @ W).tanh()
    full, small = viz.build_graph(h.sum(), collapse=False), viz.build_graph(h.sum())
    assert [n["label"] for n in full.nodes.values()].count("tanh") == 7
    assert small.groups == [(small.groups[0][0], 7)] and len(small.groups[0][0]) == 2
    assert [n["label"] for n in small.nodes.values()].count("tanh") == 1
    fig = viz.draw_graph(h.sum(), backend="matplotlib")
    assert sum("block × 7" in t.get_text() for t in fig.axes[0].texts) == 2


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
    acts = viz.record_activations(model, x)
    assert list(acts) == ["0", "1", "2"] and acts["1"].min() > 0 and acts["1"].max() < 1
    assert len(viz.plot_activations(model, x).axes) == 3  # a histogram per layer
    assert model[0]._hooks["forward"] == {}  # the hooks are gone
    w = tg.tensor(np.full((3, 2), 0.5))
    ax = viz.plot_attention(w, ["a", "b"], ["x", "y", "z"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"] and len(ax.get_yticklabels()) == 3
    with pytest.raises(ValueError, match="do not fit 2 target and 2 source"):
        viz.plot_attention(w, ["a", "b"], ["x", "y"])
