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
    """Nodes by key (an op: its Function; a leaf: its tensor; a collapsed block: 'block0', ...), each a dict with
    ``kind`` ('op', 'param', 'input', 'block'), ``label``, ``shape``, ``dtype`` and ``grad_norm`` (None before
    backward); a block also has ``count`` (its repeats), ``ops`` (the op labels of one repeat) and ``params`` (how
    many parameters only it reads), a fused recurrence ``count`` (its time steps). ``edges`` (from, to) in the
    direction of the forward pass; ``groups``: (block key, count) of each collapsed block."""

    nodes: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)
    groups: list = field(default_factory=list)

    def labels(self) -> list:
        return [n["label"] for n in self.nodes.values()]


def _grad_norm(t) -> float | None:
    g = getattr(t, "grad", None)
    return None if g is None else float(np.linalg.norm(g.numpy().ravel()))


def _post_order(root_key, inputs: dict, first) -> list:
    """Keys in an order where each node follows its inputs, reached from the root; ``first(keys)`` orders the
    inputs of one node, the first one visited (and so placed) first."""
    order, seen, stack = [], set(), [(root_key, False)]
    while stack:
        k, done = stack.pop()
        if done:
            order.append(k)
        elif k not in seen:
            seen.add(k)
            stack.append((k, True))
            stack += [(i, False) for i in reversed(first(inputs[k]))]
    return order


def build_graph(tensor: Tensor, model=None, collapse: bool = True, min_repeats: int = 3) -> Graph:
    """The graph behind ``tensor``: one node per Function and per leaf tensor (parameters named by their module
    path when ``model`` is given), in forward order. With ``collapse``, a block of ops repeated at least
    ``min_repeats`` times in a row (an RNN over time, the layers of a GPT) becomes one node with its count."""
    names = {id(p): n for n, p in model.named_parameters()} if model is not None else {}
    graph, inputs = Graph(), {}
    key = lambda t: id(t._ctx) if t._ctx is not None else id(t)  # noqa: E731
    stack = [tensor]
    while stack:
        t = stack.pop()
        k = key(t)
        if k in graph.nodes:
            continue
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
        srcs = [x for x in ctx.inputs if isinstance(x, Tensor)] if ctx is not None else []
        if label == "recurrence" and srcs and srcs[0].shape[0] > 1:  # one fused op over the time steps
            graph.nodes[k]["count"] = srcs[0].shape[0]
        inputs[k] = list(dict.fromkeys(key(x) for x in srcs))
        graph.edges += [(i, k) for i in inputs[k]]
        stack += srcs
    # the deepest input first: a step's side branches (its input x_t, a layer's residual) are placed after the
    # steps before it, next to where they are used, so each repeat of a block is one stretch of the order
    depth: dict = {}
    for k in _post_order(key(tensor), inputs, list):
        depth[k] = 1 + max((depth[i] for i in inputs[k]), default=-1)
    order = _post_order(key(tensor), inputs, lambda ks: sorted(ks, key=lambda i: -depth[i]))
    graph.nodes = {k: graph.nodes[k] for k in order}
    graph.edges = list(dict.fromkeys(graph.edges))
    if collapse:
        _collapse(graph, min_repeats, names)
    return graph


def _runs(sig: list, min_repeats: int, crossing) -> list:
    """The runs of a block of ops repeated at least ``min_repeats`` times in a row, left to right, each the
    longest stretch from its start. Repeats are compared as multisets of signatures, so the first step of an
    RNN (from a zero state: its ops in another order) counts as one; a multiset is a big integer (32 bits a
    signature), so a block's is a difference of prefix sums. Of the phases that give as many repeats, the one
    covering the most ops is kept, where a first or last repeat missing up to half its ops (the unused cell
    state of an LSTM's last step) counts too; then the one with the fewest ops read across the cut
    (``crossing(start, length)``: the state handed to the next repeat). Returns (start, end, phase, length,
    count): ops start..end-1, whole repeats from ``phase`` on."""
    code = {s: 1 << (32 * j) for j, s in enumerate(dict.fromkeys(sig))}
    prefix = [0]
    for s in sig:
        prefix.append(prefix[-1] + code[s])
    n = len(sig)
    block = lambda i, p: prefix[i + p] - prefix[i]  # noqa: E731

    def repeats(i, p):
        count = 1
        while i + (count + 1) * p <= n and block(i + count * p, p) == block(i, p):
            count += 1
        return count

    def part_of(i, q, whole):  # ops i..i+q-1 are a sub-multiset of the block's
        have = block(i, q)
        return all((whole >> (32 * j)) & 0xFFFFFFFF >= (have >> (32 * j)) & 0xFFFFFFFF for j in range(len(code)))

    def with_partials(j, p, count, done):  # (start, end, phase, length, count) with a partial first/last repeat
        end, whole, halves = j + count * p, block(j, p), range(p - 1, (p - 1) // 2, -1)
        tail = next((q for q in halves if end + q <= n and part_of(end, q, whole)), 0)
        head = next((q for q in halves if j - q >= done and part_of(j - q, q, whole)), 0)
        return j - head, end + tail, j, p, count + (head > 0) + (tail > 0)

    runs, i, done = [], 0, 0
    while i < n:
        covered, p = max(((repeats(i, p) * p, p) for p in range(1, (n - i) // min_repeats + 1)
                          if repeats(i, p) >= min_repeats), key=lambda cp: (cp[0], -cp[1]), default=(0, 0))
        if covered == 0:
            i += 1
            continue
        phases = [with_partials(j, p, covered // p, done) for j in range(i, min(i + p, n - covered + 1))
                  if repeats(j, p) * p >= covered]
        run = min(phases, key=lambda r: (r[0] - r[1], crossing(r[2], r[3]), r[2]))  # most ops, least state
        runs.append(run)
        i = done = run[1]
    return runs


def _module_of(names: list) -> str:
    """The module path shared by parameter names ('h.0.attn.c_attn.weight', 'h.0.ln_1.bias' -> 'h.0')."""
    parts = [n.split(".")[:-1] for n in names]
    common = []
    for level in zip(*parts, strict=False):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return ".".join(common)


def _collapse(graph: Graph, min_repeats: int, names: dict) -> None:
    """Replace each run of a repeated block of ops (signature: op name and shape) by one 'block' node: edges
    into or out of any repeat go to it; the parameters only the run reads (the model's, or without a model every
    leaf that requires grad), and the other leaves only its later repeats read (x_t of the steps after the
    first), are folded into it."""
    ops = [k for k, n in graph.nodes.items() if n["kind"] == "op"]
    sig = [(graph.nodes[k]["label"], graph.nodes[k]["shape"]) for k in ops]
    readers: dict = {}
    for a, b in graph.edges:
        readers.setdefault(a, set()).add(b)

    def crossing(i, p):
        inside = set(ops[i:i + p])
        return sum(1 for k in inside if readers.get(k, set()) - inside)

    block_of, blocks = {}, {}
    for g, (start, end, phase, p, count) in enumerate(_runs(sig, min_repeats, crossing)):
        members = set(ops[start:end])
        first, last = set(ops[start:phase] or ops[phase:phase + p]), set(ops[phase + (end - phase - 1) // p * p:end])
        bkey = f"block{g}"
        block_of.update(dict.fromkeys(members, bkey))
        leaves = {k: n for k, n in graph.nodes.items() if n["kind"] != "op" and readers.get(k)
                  and readers[k] <= members}
        params = [k for k, n in leaves.items() if ((k in names) if names else n["kind"] == "param")]
        named = [[graph.nodes[k]["label"] for k in params if readers[k] & rep] for rep in (first, last)]
        wf, wl = (_module_of(ns) for ns in named)
        where = wf if wf == wl else f"{wf} … {wl}" if wf and wl else ""
        block_of.update(dict.fromkeys(params + [k for k in leaves if k not in params and not readers[k] & first],
                                      bkey))
        blocks[bkey] = {"kind": "block", "label": f"{where or 'block'} × {count}",
                        "shape": graph.nodes[ops[end - 1]]["shape"], "dtype": graph.nodes[ops[end - 1]]["dtype"],
                        "grad_norm": None, "count": count, "ops": [graph.nodes[k]["label"] for k in ops[phase:phase + p]],
                        "params": len(params)}
        graph.groups.append((bkey, count))
    if not blocks:
        return
    nodes = {}
    for k, n in graph.nodes.items():
        b = block_of.get(k)
        if b is None:
            nodes[k] = n
        elif b not in nodes and n["kind"] == "op":
            nodes[b] = blocks[b]  # in the place of its first op
    graph.nodes = nodes
    edges = [(block_of.get(a, a), block_of.get(b, b)) for a, b in graph.edges]
    graph.edges = list(dict.fromkeys((a, b) for a, b in edges if a != b))


def _node_text(n) -> str:
    if n["kind"] == "block":
        names = list(dict.fromkeys(n["ops"]))
        ops = ", ".join(names[:4]) + (", …" if len(names) > 4 else "")
        params = f", {n['params']} params" if n["params"] else ""
        return f"{n['label']}\n{len(n['ops'])} ops a repeat{params}\n{ops}\n{tuple(n['shape'])} {n['dtype']}"
    steps = f" × {n['count']} steps (fused)" if "count" in n else ""
    text = f"{n['label']}{steps}\n{tuple(n['shape'])} {n['dtype']}"
    return text + (f"\n|grad| = {n['grad_norm']:.3g}" if n["grad_norm"] is not None else "")


def to_dot(graph: Graph) -> str:
    """The graph as Graphviz DOT text: ops as boxes, parameters as filled ellipses, inputs as plain ellipses,
    each collapsed block as one double-bordered box with its count."""
    style = {"op": 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"',
             "block": 'shape=box, style="rounded,filled", peripheries=2, fillcolor="#d5ecd4"',
             "param": 'shape=ellipse, style=filled, fillcolor="#fde7c8"', "input": "shape=ellipse"}
    ids = {k: f"n{i}" for i, k in enumerate(graph.nodes)}
    lines = ["digraph G {", '  rankdir=TB; node [fontname="Helvetica", fontsize=10];']
    lines += [f'  {ids[k]} [label="{_escape(_node_text(n))}", {style[n["kind"]]}];' for k, n in graph.nodes.items()]
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
        if n["kind"] in ("param", "input") and readers:
            layer[k] = max(0, min(readers) - 1)
    return layer


def _draw_layered(graph: Graph):
    from matplotlib.figure import Figure  # not pyplot: a notebook shows the returned figure once

    layer = _layers(graph)
    rows: dict = {}
    for k, d in sorted(layer.items(), key=lambda kd: graph.nodes[kd[0]]["kind"] in ("param", "input")):  # ops first
        rows.setdefault(d, []).append(k)
    pos = {k: (i - (len(ks) - 1) / 2, -d) for d, ks in rows.items() for i, k in enumerate(ks)}
    width = max(len(ks) for ks in rows.values())
    fig = Figure(figsize=(max(4, 2.6 * width), max(3, 1.1 * len(rows))))
    ax = fig.subplots()
    colors = {"op": "#dbe9f6", "block": "#d5ecd4", "param": "#fde7c8", "input": "white"}
    boxes = {}
    for k, n in graph.nodes.items():
        boxes[k] = ax.text(*pos[k], _node_text(n), ha="center", va="center", fontsize=7,
                           bbox={"boxstyle": "ellipse" if n["kind"] in ("param", "input") else "round",
                                 "fc": colors[n["kind"]], "ec": "0.3", "lw": 2 if n["kind"] == "block" else 1})
    for a, b in graph.edges:  # clipped at the two boxes (drawn before the arrows), so a big box keeps the arrowhead
        ax.annotate("", xy=pos[b], xytext=pos[a], arrowprops={
            "arrowstyle": "->", "color": "0.5", "shrinkA": 2, "shrinkB": 2,
            "patchA": boxes[a].get_bbox_patch(), "patchB": boxes[b].get_bbox_patch()})
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

    rows = [r for r in grad_flow(model) if not (skip_bias and r[0].rpartition(".")[2].startswith("bias"))]  # bias_ih too
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
