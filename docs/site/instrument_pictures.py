"""The pictures and printed outputs of docs/instruments.md, drawn by the library itself at every site build
(sitegen calls ``draw_all``), so the page shows what the code draws today. Runs alone as well:

    python docs/site/instrument_pictures.py OUTDIR

Everything is small and seeded (a second or two on a CPU); no torch, no training.
"""
from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np

# The hooks example, shown on the page as written here and run to print its output under it.
HOOKS_EXAMPLE = '''\
import tinygrad_lm as tg
from tinygrad_lm import nn

tg.manual_seed(0)
net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
handles = []
for name, layer in net.named_children():
    handles.append(layer.register_forward_hook(
        lambda m, args, out, name=name: print(f"forward  {name} {type(m).__name__}: output {out.shape}")))
    handles.append(layer.register_full_backward_hook(
        lambda m, grad_in, grad_out, name=name: print(
            f"backward {name} {type(m).__name__}: |dL/d output| = {grad_out[0].pow(2).sum().sqrt().item():.4f}")))
x = tg.randn(2, 3, requires_grad=True)
handles.append(x.register_hook(lambda g: print("dL/dx reaches x, shape", g.shape)))
net(x).pow(2).mean().backward()
for h in handles:
    h.remove()  # the hooks are gone: the next pass prints nothing
net(x).sum().backward()
'''


def _write(path: Path, data: bytes) -> None:
    """Only when the bytes change, so an unchanged picture leaves the page unchanged for Sphinx."""
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100, bbox_inches="tight")  # no date in Agg's PNG: same figure, same bytes
    _write(path, png.getvalue())
    plt.close(fig)  # a figure made by pyplot (plot_activations) stays registered until closed


def graph_of_an_expression(path: Path) -> None:
    import tinygrad_lm as tg
    from tinygrad_lm import nn, viz

    tg.manual_seed(0)
    lin = nn.Linear(2, 3)
    x = tg.tensor([[1.0, 2.0]], requires_grad=True)
    y = (lin(x).tanh() * x.sum()).sum()
    y.backward(retain_graph=True)  # keeps the graph, so it can be drawn with the gradients' norms
    _save(viz.draw_graph(y, model=lin, backend="matplotlib"), path)


def rnn_over_time(steps: int):
    """A tanh RNN cell run step by step over a sequence, then a linear read-out of the last state."""
    from tinygrad_lm import nn

    class RNNOverTime(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell, self.fc = nn.RNNCell(3, 8), nn.Linear(8, 1)

        def forward(self, x):
            h = None
            for t in range(steps):
                h = self.cell(x[:, t], h)
            return self.fc(h)

    return RNNOverTime()


def graph_of_an_rnn(path: Path) -> None:
    import tinygrad_lm as tg
    from tinygrad_lm import viz

    tg.manual_seed(0)
    model = rnn_over_time(6)
    loss = model(tg.randn(2, 6, 3, requires_grad=True)).sum()
    _save(viz.draw_graph(loss, model=model, backend="matplotlib"), path)


def graph_of_a_gpt(path: Path) -> None:
    import tinygrad_lm as tg
    from tinygrad_lm import viz
    from tinygrad_lm.models import gpt

    tg.manual_seed(0)
    model = gpt.GPT(vocab_size=40, block_size=16, n_layer=4, n_head=2, n_embd=8, dropout=0.0)
    out = model(np.zeros((2, 5), np.int64))
    logits = out[0] if isinstance(out, tuple) else out
    _save(viz.draw_graph(logits.sum(), model=model, backend="matplotlib"), path)


def summary_text(path: Path) -> None:
    import tinygrad_lm as tg
    from tinygrad_lm.models import lstm_lm

    tg.manual_seed(0)
    model = lstm_lm.LSTMLanguageModel(50, 8, 16)
    _write(path, (str(model.summary((2, 6), dtypes=[np.int64], verbose=0)) + "\n").encode())


def hooks_output(code_path: Path, out_path: Path) -> None:
    _write(code_path, HOOKS_EXAMPLE.encode())
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(HOOKS_EXAMPLE, "hooks_example.py", "exec"), {})  # noqa: S102 - our own example, shown as is
    _write(out_path, printed.getvalue().encode())


def grad_flow_rnn_lstm(path: Path, steps: int = 30) -> None:
    """|dL/d state_t| through time by Tensor.register_hook (h_t of the RNN cell, c_t of the LSTM cell with its
    forget gate open, b_f = 3), and plot_grad_flow of each cell's weights, for a loss on the last step."""
    from matplotlib.figure import Figure

    import tinygrad_lm as tg
    from tinygrad_lm import nn, viz

    tg.manual_seed(0)
    xs = np.random.default_rng(0).standard_normal((steps, 1, 8)).astype(np.float32)
    lstm = nn.LSTMCell(8, 32)
    lstm.bias_ih.data[32:64] = 3.0  # the forget gate's bias (gates in torch's order i, f, g, o)
    fig = Figure(figsize=(12, 3.4))
    axes = fig.subplots(1, 3)
    for ax, (name, cell) in zip(axes[1:], (("RNN cell (D3.F3)", nn.RNNCell(8, 32)), ("LSTM cell (D3.F4)", lstm)),
                                strict=True):
        norms, state = [np.nan] * steps, None
        for t in range(steps):
            state = cell(tg.tensor(xs[t]), state)
            watched = state[1] if isinstance(state, tuple) else state
            watched.register_hook(lambda g, t=t, norms=norms: norms.__setitem__(t, float(np.linalg.norm(g.numpy()))))
        (state[0] if isinstance(state, tuple) else state).sum().backward()
        axes[0].semilogy(norms, label=name)
        viz.plot_grad_flow(cell, ax=ax)
        ax.set_title(f"{name}: its weights' gradients", fontsize=9)
    axes[0].set_xlabel("time step t (the loss reads the last)")
    axes[0].set_ylabel("|dL/d state_t| (by hooks)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def grad_flow_mlp(path: Path) -> None:
    """plot_grad_flow of an 8-layer MLP with sigmoid against ReLU, one backward pass at initialisation."""
    from matplotlib.figure import Figure

    import tinygrad_lm as tg
    from tinygrad_lm import viz
    from tinygrad_lm.models import mlp

    fig = Figure(figsize=(11, 3.5))
    axes = fig.subplots(1, 2, sharey=True)
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    y = np.arange(64) % 10
    for ax, act in zip(axes, ("sigmoid", "relu"), strict=True):
        tg.manual_seed(0)
        deep = mlp.MLP(64, (32,) * 8, 10, activation=act)
        tg.nn.functional.cross_entropy(deep(tg.tensor(x)), y).backward()
        viz.plot_grad_flow(deep, ax=ax)
        ax.set_title(f"8 hidden layers, {act}", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def activations(path: Path) -> None:
    """The outputs of the activation layers of a 4-layer sigmoid MLP on normal inputs."""
    import tinygrad_lm as tg
    from tinygrad_lm import viz
    from tinygrad_lm.models import mlp

    tg.manual_seed(0)
    deep = mlp.MLP(64, (64,) * 4, 10, activation="sigmoid")
    names = [n for n, m in deep.named_children() if type(m).__name__ == "Sigmoid"]
    x = tg.tensor(np.random.default_rng(0).standard_normal((256, 64)).astype(np.float32) * 3)
    _save(viz.plot_activations(deep, x, names=names), path)


def attention(path: Path) -> None:
    """Luong attention (D1.T3, dot score) of a reversed sentence on its source, with word vectors that are
    near each other for the same word: each target word looks at its own source word, the anti-diagonal."""
    from matplotlib.figure import Figure

    import tinygrad_lm as tg
    from tinygrad_lm import viz
    from tinygrad_lm.models import seq2seq_attention as s2s

    source = "the cat sat on a warm mat".split()
    target = source[::-1]
    rng = np.random.default_rng(0)
    vectors = {w: rng.standard_normal(16) for w in source}
    h_s = tg.tensor(np.stack([vectors[w] for w in source])[None] * 0.7)
    h_t = tg.tensor(np.stack([vectors[w] + 0.5 * rng.standard_normal(16) for w in target])[None] * 0.7)
    _, weights = s2s.luong_attention(s2s.DotScore(16)(h_t, h_s), h_s, np.ones((1, len(source)), bool))
    fig = Figure(figsize=(4.8, 4))
    viz.plot_attention(weights[0], source, target, ax=fig.subplots(),
                       title="Luong attention, target = reversed source")
    fig.tight_layout()
    _save(fig, path)


def draw_all(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    graph_of_an_expression(out / "graph_expression.png")
    graph_of_an_rnn(out / "graph_rnn.png")
    graph_of_a_gpt(out / "graph_gpt.png")
    summary_text(out / "summary.txt")
    hooks_output(out / "hooks_example.py", out / "hooks_output.txt")
    grad_flow_rnn_lstm(out / "grad_flow_rnn_lstm.png")
    grad_flow_mlp(out / "grad_flow_mlp.png")
    activations(out / "activations.png")
    attention(out / "attention.png")


if __name__ == "__main__":
    draw_all(Path(sys.argv[1] if len(sys.argv) > 1 else "instrument_pictures"))
