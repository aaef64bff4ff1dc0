"""Pictures for learners: the computation graph behind a tensor (``draw_graph``), the gradient of each layer
(``plot_grad_flow``), the distribution of a layer's outputs (``plot_activations``) and attention maps
(``plot_attention``). matplotlib and graphviz are imported inside the functions that draw, so importing this
module costs nothing."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import numpy as np

from .autograd import no_grad, op_name
from .tensor import Tensor


# ------------------------------------------------------------------ the graph
@dataclass
class Graph:
    """Nodes by key (an op: its Function; a leaf: its tensor), each a dict with ``kind`` ('op', 'param',
    'input'), ``label``, ``shape``, ``dtype`` and ``grad_norm`` (None before backward); ``edges`` (from, to) in
    the direction of the forward pass; ``groups``: (keys of one repeated block, how many times it repeats)."""

    nodes: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)
    groups: list = field(default_factory=list)

    def labels(self) -> list:
        return [n["label"] for n in self.nodes.values()]


def _grad_norm(t) -> float | None:
    g = getattr(t, "grad", None)
    return None if g is None else float(np.linalg.norm(g.numpy().ravel()))


def build_graph(tensor: Tensor, model=None, collapse: bool = True, min_repeats: int = 3) -> Graph:
    """The graph behind ``tensor``: one node per Function and per leaf tensor (parameters named by their module
    path when ``model`` is given), in forward order. With ``collapse``, a block of ops repeated at least
    ``min_repeats`` times in a row (an RNN over time, the layers of a GPT) is kept once, with its count."""
    names = {id(p): n for n, p in model.named_parameters()} if model is not None else {}
    graph, order = Graph(), []
    key = lambda t: id(t._ctx) if t._ctx is not None else id(t)  # noqa: E731
    stack, seen = [(tensor, False)], set()
    while stack:  # iterative post-order: a node after all its inputs
        t, done = stack.pop()
        k = key(t)
        if done:
            order.append(k)
            continue
        if k in seen:
            continue
        seen.add(k)
        ctx = t._ctx
        if ctx is None:
            kind = "param" if id(t) in names or t.requires_grad else "input"
            label = names.get(id(t), "leaf" if t.requires_grad else "input")
        else:
            if ctx.freed:
                raise RuntimeError("draw_graph: this graph was freed by backward(); call backward(retain_graph=True) "
                                   "to draw it (with gradient norms) afterwards")
            kind, label = "op", op_name(type(ctx))
        graph.nodes[k] = {"kind": kind, "label": label, "shape": t.shape, "dtype": str(t.dtype),
                          "grad_norm": _grad_norm(t)}
        stack.append((t, True))
        if ctx is not None:
            inputs = [x for x in ctx.inputs if isinstance(x, Tensor)]
            graph.edges += [(key(inp), k) for inp in inputs]
            stack += [(inp, False) for inp in reversed(inputs)]  # the first input is visited first
    graph.nodes = {k: graph.nodes[k] for k in order}
    graph.edges = list(dict.fromkeys(graph.edges))
    if collapse:
        _collapse(graph, min_repeats)
    return graph


def _collapse(graph: Graph, min_repeats: int) -> None:
    """Find runs of a repeated block of op signatures (label, shape) in forward order; keep the first block,
    point the edges of the others at it, and drop the leaves only the dropped ops read."""
    ops = [k for k, n in graph.nodes.items() if n["kind"] == "op"]
    sig = [(graph.nodes[k]["label"], graph.nodes[k]["shape"]) for k in ops]
    same_as, i = {}, 0
    while i < len(ops):
        best = (0, 0)  # (ops covered, block length)
        for p in range(1, (len(ops) - i) // min_repeats + 1):
            count = 1
            while sig[i + count * p:i + (count + 1) * p] == sig[i:i + p]:
                count += 1
            if count >= min_repeats and count * p > best[0]:
                best = (count * p, p)
        if best[0] == 0:
            i += 1
            continue
        covered, p = best
        graph.groups.append((ops[i:i + p], covered // p))
        for j in range(i + p, i + covered):
            same_as[ops[j]] = ops[i + (j - i) % p]
        i += covered
    if not same_as:
        return
    edges = [(same_as.get(a, a), same_as.get(b, b)) for a, b in graph.edges]
    edges = list(dict.fromkeys((a, b) for a, b in edges if a != b))
    kept_consumers = {a for a, b in graph.edges if b not in same_as}
    drop = set(same_as) | {k for k, n in graph.nodes.items() if n["kind"] != "op" and k not in kept_consumers}
    graph.nodes = {k: n for k, n in graph.nodes.items() if k not in drop}
    graph.edges = [(a, b) for a, b in edges if a in graph.nodes and b in graph.nodes]


def _node_text(n) -> str:
    text = f"{n['label']}\n{tuple(n['shape'])} {n['dtype']}"
    return text + (f"\n|grad| = {n['grad_norm']:.3g}" if n["grad_norm"] is not None else "")


def to_dot(graph: Graph) -> str:
    """The graph as Graphviz DOT text: ops as boxes, parameters as filled ellipses, inputs as plain ellipses,
    each repeated block in a cluster labelled with its count."""
    style = {"op": 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"',
             "param": 'shape=ellipse, style=filled, fillcolor="#fde7c8"', "input": "shape=ellipse"}
    ids = {k: f"n{i}" for i, k in enumerate(graph.nodes)}
    lines = ["digraph G {", '  rankdir=TB; node [fontname="Helvetica", fontsize=10];']
    grouped = set()
    for g, (keys, count) in enumerate(graph.groups):
        members = [k for k in keys if k in ids]
        grouped.update(members)
        lines.append(f'  subgraph cluster_{g} {{ label="× {count}"; style=dashed;')
        lines += [f'    {ids[k]} [label="{_escape(_node_text(graph.nodes[k]))}", {style["op"]}];' for k in members]
        lines.append("  }")
    lines += [f'  {ids[k]} [label="{_escape(_node_text(n))}", {style[n["kind"]]}];'
              for k, n in graph.nodes.items() if k not in grouped]
    lines += [f"  {ids[a]} -> {ids[b]};" for a, b in graph.edges]
    return "\n".join(lines + ["}"]) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def draw_graph(tensor: Tensor, model=None, collapse: bool = True, backend: str = "auto"):
    """Draw the computation graph behind ``tensor`` (see ``build_graph``). With the ``graphviz`` package and its
    ``dot`` program: a ``graphviz.Source`` (shown as SVG in a notebook; ``.source`` is the DOT text). Otherwise,
    or with ``backend="matplotlib"``: a matplotlib Figure of a layered layout, so a fresh install always draws."""
    graph = build_graph(tensor, model, collapse)
    if backend not in ("auto", "graphviz", "matplotlib"):
        raise ValueError(f"draw_graph: backend must be 'auto', 'graphviz' or 'matplotlib', got {backend!r}")
    if backend != "matplotlib":
        try:
            import graphviz
        except ImportError:
            graphviz = None
        if graphviz is not None and (backend == "graphviz" or shutil.which("dot")):
            return graphviz.Source(to_dot(graph))
        if backend == "graphviz":
            raise RuntimeError("draw_graph: backend='graphviz' needs the graphviz package (pip install graphviz)")
    return _draw_layered(graph)


def _layers(graph: Graph) -> dict:
    """Each op's layer: one more than the deepest of its inputs (nodes come in forward order); each leaf sits
    just above its first reader, not at the top, so its arrow stays short."""
    preds: dict = {}
    for a, b in graph.edges:
        preds.setdefault(b, []).append(a)
    layer = {}
    for k in graph.nodes:
        layer[k] = 1 + max((layer[p] for p in preds.get(k, ()) if p in layer), default=-1)
    for k, n in graph.nodes.items():
        readers = [layer[b] for a, b in graph.edges if a == k]
        if n["kind"] != "op" and readers:
            layer[k] = max(0, min(readers) - 1)
    return layer


def _draw_layered(graph: Graph):
    from matplotlib.figure import Figure  # not pyplot: a notebook shows the returned figure once

    layer = _layers(graph)
    rows: dict = {}
    for k, d in sorted(layer.items(), key=lambda kd: graph.nodes[kd[0]]["kind"] != "op"):  # ops, then leaves
        rows.setdefault(d, []).append(k)
    pos = {k: (i - (len(ks) - 1) / 2, -d) for d, ks in rows.items() for i, k in enumerate(ks)}
    width = max(len(ks) for ks in rows.values())
    fig = Figure(figsize=(max(4, 2.6 * width), max(3, 1.1 * len(rows))))
    ax = fig.subplots()
    colors = {"op": "#dbe9f6", "param": "#fde7c8", "input": "white"}
    group_of = {k: count for keys, count in graph.groups for k in keys}
    for a, b in graph.edges:
        ax.annotate("", xy=pos[b], xytext=pos[a], arrowprops={"arrowstyle": "->", "color": "0.5", "shrinkA": 14,
                                                              "shrinkB": 14})
    for k, n in graph.nodes.items():
        text = _node_text(n) + (f"\n[block × {group_of[k]}]" if k in group_of else "")
        ax.text(*pos[k], text, ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round" if n["kind"] == "op" else "ellipse", "fc": colors[n["kind"]],
                      "ec": "0.3", "ls": "--" if k in group_of else "-"})
    ax.set_xlim(-width / 2 - 0.5, width / 2 + 0.5)
    ax.set_ylim(-max(rows) - 0.6, 0.6)
    ax.axis("off")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ gradients and activations
def grad_flow(model) -> list:
    """(name, mean |grad|, max |grad|) of each parameter that has a gradient, in the model's order."""
    out = []
    for name, p in model.named_parameters():
        if p.grad is not None:
            g = np.abs(p.grad.numpy())
            out.append((name, float(g.mean()), float(g.max())))
    return out


def plot_grad_flow(model, ax=None, skip_bias: bool = True):
    """Bars of the mean and max |grad| per layer after a backward pass (log scale): where the gradient
    vanishes or explodes on its way back to the first layers. Returns the Axes."""
    import matplotlib.pyplot as plt

    rows = [r for r in grad_flow(model) if not (skip_bias and r[0].endswith("bias"))]
    if not rows:
        raise ValueError(f"plot_grad_flow: no parameter of {type(model).__name__} has a gradient; call "
                         "loss.backward() first")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, 0.5 * len(rows)), 3.5))
    x = np.arange(len(rows))
    ax.bar(x, [r[2] for r in rows], color="c", alpha=0.4, label="max |grad|")
    ax.bar(x, [r[1] for r in rows], color="b", alpha=0.7, label="mean |grad|")
    ax.set_xticks(x, [r[0] for r in rows], rotation=70, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("|gradient|")
    ax.set_title("gradient flow (first layer on the left)")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


def record_activations(model, *inputs, names=None) -> dict:
    """Run ``model(*inputs)`` without a graph and return {module path: output array} for the modules named
    in ``names`` (default: every module without children), recorded by forward hooks."""
    modules = dict(model.named_modules())
    if names is None:
        names = [n for n, m in modules.items() if n and not any(True for _ in m.children())]
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise KeyError(f"record_activations: {type(model).__name__} has no modules {unknown}; it has "
                       f"{[n for n in modules if n]}")
    seen, handles = {}, []

    def hook(name):
        def record(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            if isinstance(out, Tensor):
                seen[name] = out.numpy().copy()
        return record

    handles = [modules[n].register_forward_hook(hook(n)) for n in names]
    try:
        with no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return seen


def plot_activations(model, *inputs, names=None, bins: int = 50):
    """Histograms of the outputs of the named modules (default: the leaf modules) on ``inputs``, with their
    mean and standard deviation: saturated sigmoids pile up at 0 and 1, dead ReLUs at 0. Returns the Figure."""
    import matplotlib.pyplot as plt

    acts = record_activations(model, *inputs, names=names)
    cols = min(4, len(acts))
    rows = -(-len(acts) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    for ax, (name, a) in zip(axes.ravel(), acts.items(), strict=False):  # spare panels of the grid: off below
        ax.hist(a.ravel(), bins=bins, color="steelblue")
        ax.set_title(f"{name}\nmean {a.mean():.2f}, std {a.std():.2f}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(acts):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ attention
def plot_attention(weights, source_tokens, target_tokens, ax=None, title: str | None = None):
    """Heat map of attention weights (target_len, source_len), or one map per head for (heads, target_len,
    source_len): row i shows where target token i looked. Returns the Axes (or the array of Axes per head)."""
    import matplotlib.pyplot as plt

    w = weights.numpy() if isinstance(weights, Tensor) else np.asarray(weights)
    src, tgt = list(source_tokens), list(target_tokens)
    if w.ndim not in (2, 3) or w.shape[-2:] != (len(tgt), len(src)):
        raise ValueError(f"plot_attention: weights of shape {w.shape} do not fit {len(tgt)} target and {len(src)} "
                         "source tokens; expected (target_len, source_len) or (heads, target_len, source_len)")
    maps = w[None] if w.ndim == 2 else w
    if ax is None:
        _, axes = plt.subplots(1, len(maps), figsize=(max(3, 0.4 * len(src) + 1.5) * len(maps),
                                                      max(2.5, 0.4 * len(tgt) + 1)), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(ax)
    for h, (a, m) in enumerate(zip(axes, maps, strict=True)):
        image = a.imshow(m, cmap="viridis", vmin=0, aspect="auto")
        a.set_xticks(range(len(src)), [str(s) for s in src], rotation=90, fontsize=8)
        a.set_yticks(range(len(tgt)), [str(t) for t in tgt], fontsize=8)
        a.set_xlabel("source")
        a.set_ylabel("target")
        a.set_title(title if title and len(maps) == 1 else f"head {h}" if len(maps) > 1 else "attention",
                    fontsize=9)
        a.figure.colorbar(image, ax=a, fraction=0.046)
    axes[0].figure.tight_layout()
    return axes[0] if len(maps) == 1 else axes
