"""``summary(model, input_size)``: the Keras / torchinfo table of a model, found by running it once with forward
hooks: one row per module call (path, type, output shape, parameters, trainable), the totals, the mult-adds and an
estimate of the memory of the input, the activations and the parameters. Its numbers are torchinfo's (the rules
below are torchinfo's, so the two agree on the PyTorch twin of a model; tests/test_instruments.py holds them
equal)."""
from __future__ import annotations

import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class LayerRow:
    """One call of one module: what torchinfo's LayerInfo holds."""

    def __init__(self, path: str, var_name: str, module, depth: int, parent: "LayerRow | None"):
        self.path, self.var_name, self.module, self.depth, self.parent = path, var_name, module, depth, parent
        self.class_name = type(module).__name__
        self.is_leaf = not any(True for _ in module.children())
        self.is_recursive = False  # a module already listed (called twice, or shared): its parameters count once
        self.output_size: list = []
        self.output_bytes = self.macs = 0
        self.children: list = []
        self.num_params = self.trainable_params = self.param_bytes = 0
        for _, p in module.named_parameters():
            self.num_params += p.numel()
            self.param_bytes += p.numel() * p.dtype.itemsize
            self.trainable_params += p.numel() if p.requires_grad else 0

    @property
    def trainable(self) -> str:
        if self.num_params == 0:
            return "--"
        return ("True" if self.trainable_params == self.num_params else
                "False" if self.trainable_params == 0 else "Partial")

    def count_macs(self) -> None:
        """torchinfo's rule: weight and bias count once per output position (per pixel for a Conv), the weights
        of a recurrent layer once per (batch, time) step."""
        for name, p in self.module.named_parameters():
            if name in ("weight", "bias"):
                positions = self.output_size[:1] + self.output_size[2:] if "Conv" in self.class_name else \
                    self.output_size[:1]
                self.macs += int(np.prod(positions)) * p.numel()
            elif "weight" in name or "bias" in name:
                self.macs += int(np.prod(self.output_size[:2])) * p.numel()

    def leftover_params(self) -> int:
        """Parameters of this module that none of its children hold."""
        return self.num_params - sum(c.num_params if c.is_leaf else c.leftover_params()
                                     for c in self.children if not c.is_recursive)

    def leftover_trainable_params(self) -> int:
        return self.trainable_params - sum(c.trainable_params if c.is_leaf else c.leftover_trainable_params()
                                           for c in self.children if not c.is_recursive)


class ModelSummary:
    """The rows and totals; ``str()`` is the table."""

    def __init__(self, rows: list, input_bytes: int, depth: int):
        self.rows, self.input_bytes, self.depth = rows, input_bytes, depth
        self.total_params = self.trainable_params = self.total_mult_adds = 0
        self.total_param_bytes = self.total_output_bytes = 0
        for row in rows:
            if row.is_leaf:
                self.total_mult_adds += row.macs
                if row.num_params > 0:
                    self.total_output_bytes += 2 * row.output_bytes  # the activation and its gradient
                if not row.is_recursive:
                    self.total_params += row.num_params
                    self.trainable_params += row.trainable_params
                    self.total_param_bytes += row.param_bytes
            elif not row.is_recursive:
                self.total_params += max(row.leftover_params(), 0)
                self.trainable_params += max(row.leftover_trainable_params(), 0)

    def _params_cell(self, row) -> str:
        if row.num_params == 0:
            return "--"
        if row.is_recursive:
            return "(recursive)"
        if row.is_leaf or row.depth == self.depth:
            return f"{row.num_params:,}" if row.trainable_params else f"({row.num_params:,})"
        left = row.leftover_params()
        return f"{left:,}" if left > 0 else "--"

    def __str__(self) -> str:
        head = ("Layer (type (path))", "Output Shape", "Param #", "Trainable")
        body = []
        for row in self.rows:
            if row.depth > self.depth:
                continue
            branch = "" if row.depth == 0 else "│    " * (row.depth - 1) + "├─"
            name = f"{branch}{row.class_name}" + (f" ({row.path})" if row.path else "")
            body.append((name, str(row.output_size) if row.output_size else "--", self._params_cell(row),
                         row.trainable))
        widths = [max(len(r[i]) for r in body + [head]) + 2 for i in range(4)]
        line = lambda r: "".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
        rule = "=" * sum(widths)
        mb = lambda n: f"{n / 1e6:0.2f}"  # noqa: E731 - torchinfo's megabytes
        return "\n".join([
            rule, line(head), rule, *map(line, body), rule,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Total mult-adds (M): {self.total_mult_adds / 1e6:0.2f}", rule,
            f"Input size (MB): {mb(self.input_bytes)}",
            f"Forward/backward pass size (MB): {mb(self.total_output_bytes)}",
            f"Params size (MB): {mb(self.total_param_bytes)}",
            f"Estimated Total Size (MB): "
            f"{mb(self.input_bytes + self.total_output_bytes + self.total_param_bytes)}", rule])

    __repr__ = __str__


def summary(model, input_size=None, *, input_data=None, dtypes=None, depth: int = 3, verbose: int = 1,
            **kwargs) -> ModelSummary:
    """Run ``model`` once (eval mode, no_grad) on ``input_data`` or on inputs of ``input_size`` (one shape, or a
    list of shapes for several inputs; ``dtypes`` one per input: floats are uniform in [0, 1), integers are 0,
    as torchinfo's), print the table (``verbose=0``: don't) and return it. ``kwargs`` go to forward."""
    inputs = _inputs(model, input_size, input_data, dtypes)
    rows, handles, infos = [], {}, {}
    listed: set = set()

    def on_pre(path, var_name, level, parent):
        def hook(module, args):  # a row per call; its parent is the walk's row, as torchinfo's
            row = LayerRow(path, var_name, module, level, parent)
            row.is_recursive = id(module) in listed
            listed.add(id(module))
            infos[id(module)] = row
            rows.append(row)
        return hook

    def on_forward(module, args, output):
        row = infos[id(module)]
        first = _first_tensor(output)
        if first is not None:
            row.output_size = list(first.shape)
            row.output_bytes = first.dtype.itemsize * int(np.prod(row.output_size))
        row.count_macs()

    stack = [(type(model).__name__, "", model, 0, None)]
    while stack:  # torchinfo's walk: each module gets its row's hooks; containers never called are added later
        var_name, path, module, level, parent = stack.pop()
        row = LayerRow(path, var_name, module, level, parent)
        for h in handles.get(id(module), ()):  # a module met twice (shared) keeps its last place
            h.remove()
        handles[id(module)] = (module.register_forward_pre_hook(on_pre(path, var_name, level, parent)),
                               module.register_forward_hook(on_forward))
        stack += [(k, f"{path}.{k}" if path else k, m, level + 1, row)
                  for k, m in reversed(list(module.named_children()))]
    training = model.training
    try:
        model.eval()
        with no_grad():
            model(*inputs, **kwargs)
    finally:
        for pair in handles.values():
            for h in pair:
                h.remove()
        model.train(training)
    _add_uncalled_containers(rows)
    for i, row in enumerate(rows):
        row.children = _descendants(rows, i)
    result = ModelSummary(rows, sum(x.data.nbytes for x in inputs), depth)
    if verbose:
        print(result)
    return result


def _inputs(model, input_size, input_data, dtypes) -> list:
    if (input_size is None) == (input_data is None):
        raise ValueError("summary: pass exactly one of input_size (shapes) and input_data (tensors)")
    if input_data is not None:
        return list(input_data) if isinstance(input_data, (list, tuple)) else [input_data]
    if not isinstance(input_size, (list, tuple)) or not input_size:
        raise TypeError(f"summary: input_size must be a shape or a list of shapes, got {input_size!r}")
    sizes = [tuple(input_size)] if isinstance(input_size[0], int) else [tuple(s) for s in input_size]
    if any(n <= 0 for s in sizes for n in s):
        raise ValueError(f"summary: input_size {input_size!r} has a size that is not positive")
    float_dtype = next((p.dtype for p in model.parameters() if p.dtype.kind == "f"), np.dtype(np.float32))
    dtypes = [float_dtype] * len(sizes) if dtypes is None else [np.dtype(d) for d in dtypes]
    device = next((p.device for p in model.parameters()), "cpu")
    rng = np.random.default_rng(0)
    return [Tensor(rng.random(s).astype(d) if d.kind == "f" else np.zeros(s, d), device=device)
            for s, d in zip(sizes, dtypes, strict=True)]


def _first_tensor(value):
    """torchinfo's output shape: the first tensor of a (nested) tuple or list, the last value of a dict."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, dict):
        return _first_tensor(list(value.values())[-1]) if value else None
    if isinstance(value, (list, tuple)) and value:
        return _first_tensor(value[0])
    return None


def _descendants(rows: list, i: int) -> list:
    out = []
    for row in rows[i + 1:]:
        if row.depth <= rows[i].depth:
            break
        out.append(row)
    return out


def _add_uncalled_containers(rows: list) -> None:
    """A container whose forward never ran (a ModuleList, or a module whose children are called from outside)
    is put above its first called child, as torchinfo does."""
    listed = {id(r.module) for r in rows}
    current: dict = {}
    i = 0
    while i < len(rows):
        row, inserted = rows[i], 0
        chain, parent = {}, row.parent
        while parent is not None and parent.depth > 0:
            chain[parent.depth] = parent
            parent = parent.parent
        for d in range(1, row.depth):
            moved_on = d not in current or current[d].module is not chain[d].module
            if moved_on and chain[d] is not rows[i + inserted - 1]:
                chain[d].is_recursive = id(chain[d].module) in listed
                rows.insert(i + inserted, chain[d])
                listed.add(id(chain[d].module))
                current[d] = chain[d]
                inserted += 1
        current[row.depth] = row
        d = row.depth + 1
        while d in current:
            current.pop(d)
            d += 1
        i += inserted + 1
