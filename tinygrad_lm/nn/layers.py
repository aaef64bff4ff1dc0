"""Basic layers and containers with PyTorch's names, parameter names, shapes and default init."""
from __future__ import annotations

import math
from collections import OrderedDict

from .. import ops
from ..tensor import Tensor, get_default_dtype
from . import init
from .module import Module, Parameter


def check_input(layer: str, x, weight) -> None:
    """A layer's input must be a tensor of its parameters' dtype: float64 data into a float32 layer is
    refused (no silent promotion), as PyTorch's "mat1 and mat2 must have the same dtype"."""
    if isinstance(x, Tensor) and x.data.dtype is weight.data.dtype:  # (this runs on every call)
        return
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: input must be a Tensor, got {type(x).__name__}")
    if x.dtype != weight.dtype:
        to_weight = "double" if weight.dtype == "float64" else "float"
        fix = f"convert the input with .{to_weight}()"
        if x.dtype.kind == "f":
            fix = f"call .{'double' if x.dtype == 'float64' else 'float'}() on the module or .{to_weight}() on the input"
        raise TypeError(f"{layer}: input {x.dtype} but weight {weight.dtype}; {fix}")


def check_size(layer: str, name: str, value, minimum: int = 1) -> None:
    """A size hyper-parameter must be an int >= ``minimum``, refused when the layer is built."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{layer}: {name} must be {kind}, got {value!r}")


def check_probability(layer: str, name: str, p) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"{layer}: {name} must be a probability in [0, 1], got {p!r}")


def check_dim_arg(layer: str, name: str, dim) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{layer}: {name} must be an int, got {dim!r}")


def _empty(*shape):
    import numpy as np

    return Parameter(np.zeros(shape, dtype=get_default_dtype()))


class Linear(Module):
    """y = x W^T + b, W: (out_features, in_features); W and b ~ U(-1/sqrt(in), 1/sqrt(in)) as PyTorch."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            check_size("Linear", name, v)
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty(out_features, in_features)
        self.register_parameter("bias", _empty(out_features) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        check_input("Linear", x, self.weight)
        if x.data.ndim == 0:
            raise ValueError(f"Linear: input must have at least 1 dimension (..., {self.in_features}), got a 0-d tensor")
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    def forward(self, x):
        return x


class ReLU(Module):
    def forward(self, x):
        return ops.relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return ops.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return ops.tanh(x)


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return ops.gelu(x, self.approximate)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) or negative_slope != negative_slope:
            raise ValueError(f"LeakyReLU: negative_slope must be a number, got {negative_slope!r}")
        self.negative_slope = negative_slope

    def forward(self, x):
        return ops.leaky_relu(x, self.negative_slope)


class Softmax(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        check_dim_arg("Softmax", "dim", dim)
        self.dim = dim

    def forward(self, x):
        return ops.softmax(x, self.dim)


class LogSoftmax(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        check_dim_arg("LogSoftmax", "dim", dim)
        self.dim = dim

    def forward(self, x):
        return ops.log_softmax(x, self.dim)


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        check_dim_arg("Flatten", "start_dim", start_dim)
        check_dim_arg("Flatten", "end_dim", end_dim)
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return ops.flatten(x, self.start_dim, self.end_dim)


class Dropout(Module):
    """Zero each element with probability p while training, scaling the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        check_probability(type(self).__name__, "p", p)
        self.p = p

    def forward(self, x):
        return ops.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Zero each channel x[n, c] of an (N, C, H, W) input whole with probability p while training, scaling the
    rest by 1/(1-p); a 3-D input is taken as (N, C, L), as torch (ops.dropout2d)."""

    def forward(self, x):
        return ops.dropout2d(x, self.p, self.training)


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, weight ~ N(0, 1) as PyTorch;
    the row ``padding_idx`` starts at zero and gets no gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None):
        super().__init__()
        check_size("Embedding", "num_embeddings", num_embeddings)
        check_size("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            check_dim_arg("Embedding", "padding_idx", padding_idx)
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} out of range for {num_embeddings} rows")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.weight = _empty(num_embeddings, embedding_dim)
        init.normal_(self.weight)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, idx):
        return ops.embedding(idx, self.weight, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


def _add_module(container: Module, name: str, module) -> None:
    """A container's child: only a Module (any other value would be kept as a plain attribute and skipped)."""
    if not isinstance(module, Module):
        raise TypeError(f"{type(container).__name__}: {type(module).__name__} {module!r:.40} is not a Module")
    setattr(container, name, module)


class Sequential(Module):
    """Modules applied in order; children are named '0', '1', ... (or by an OrderedDict's keys)."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for k, m in modules[0].items():
                _add_module(self, k, m)
        else:
            for i, m in enumerate(modules):
                _add_module(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        _add_module(self, str(len(self)), module)
        return self


class ModuleList(Module):
    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        _add_module(self, str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        items = list(self._modules.values())
        return ModuleList(items[i]) if isinstance(i, slice) else items[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key, module):
        _add_module(self, key, module)

    def __getitem__(self, key):
        return self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Loss(Module):
    """Base of the loss modules: keeps ``reduction`` and checks it at construction."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        from ..ops.loss import check_reduction

        check_reduction(reduction)
        self.reduction = reduction


class MSELoss(Loss):
    def forward(self, input, target):  # noqa: A002
        return ops.mse_loss(input, target, self.reduction)


class CrossEntropyLoss(Loss):
    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        check_probability("CrossEntropyLoss", "label_smoothing", label_smoothing)
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def forward(self, input, target):  # noqa: A002
        return ops.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(Loss):
    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):  # noqa: A002
        return ops.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class BCELoss(Loss):
    def forward(self, input, target):  # noqa: A002
        return ops.binary_cross_entropy(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(Loss):
    def __init__(self, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.pos_weight = pos_weight

    def forward(self, input, target):  # noqa: A002
        return ops.binary_cross_entropy_with_logits(input, target, reduction=self.reduction,
                                                    pos_weight=self.pos_weight)


__all__ = [n for n, v in list(globals().items()) if isinstance(v, type) and issubclass(v, Module)] + ["Tensor"]
