"""Recurrent layers with PyTorch's signatures, parameter names, gate order and init (a PyTorch state_dict
loads as is): RNN (tanh/relu), LSTM, GRU and their one-step cells; the document's linear recurrent
unit (D3.F3) and the Elman cell; variational dropout (D1.T2); variable lengths by ``lengths`` or ``mask``.

Each layer-direction costs one matmul for the input projections of all steps and one fused
:class:`~tinygrad_lm.ops.recurrent.Recurrence` node for the recurrence and its backward through time.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend, ops
from ..ops.recurrent import GATES, Recurrence
from ..tensor import Tensor, get_default_dtype
from . import init
from .layers import check_input
from .module import Module, Parameter
from .utils.rnn import PackedSequence, pack_as, pad_packed_sequence


def _param(*shape):
    return Parameter(np.zeros(shape, dtype=get_default_dtype()))


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _check_p(name, p, owner):
    if not (isinstance(p, (int, float)) and 0 <= p < 1):
        raise ValueError(f"{owner}: {name} must be a probability in [0, 1), got {p!r}")


def variational_mask(shape, p, dtype, device="cpu"):
    """D1.T2: one inverted-dropout mask per sequence, m = Bernoulli(1-p) / (1-p), reused at every step."""
    keep = backend.random(shape, np.float64, device) >= p
    return (keep / (1 - p)).astype(dtype)


def variational_dropout(x, p=0.5, training=True, batch_first=False):
    """D1.T2 on a (T, B, D) (or batch-first (B, T, D)) sequence: the same dropped features at every step.
    Composite: x * m with m of shape (1, B, D) (or (B, 1, D))."""
    _check_p("p", p, "variational_dropout")
    if not training or p == 0:
        return x
    B, D = (x.shape[0], x.shape[2]) if batch_first else (x.shape[1], x.shape[2])
    mask = variational_mask((B, D), p, x.dtype, x.device)
    return x * Tensor._wrap(mask[:, None, :] if batch_first else mask[None])


def step_mask(T, B, lengths=None, mask=None, batch_first=False):
    """The (T, B) bool array of real steps, from ``lengths`` (B,) or a bool ``mask`` ((B, T) if
    batch_first else (T, B)); None when every step is real."""
    if lengths is not None and mask is not None:
        raise ValueError("give lengths or mask, not both")
    if lengths is not None:
        lengths = np.asarray(backend.to_device(_raw(lengths), "cpu")).reshape(-1)
        if lengths.shape != (B,) or lengths.min() < 0 or lengths.max() > T:
            raise ValueError(f"lengths must be {B} integers in [0, {T}], got {lengths.tolist()}")
        return np.arange(T)[:, None] < lengths[None, :]
    if mask is not None:
        mask = np.asarray(backend.to_device(_raw(mask), "cpu")).astype(bool)
        expected = (B, T) if batch_first else (T, B)
        if mask.shape != expected:
            raise ValueError(f"mask has shape {mask.shape}, expected {expected} "
                             f"({'batch, time' if batch_first else 'time, batch'})")
        return np.ascontiguousarray(mask.T if batch_first else mask)
    return None


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU (PyTorch's RNNBase).

    forward(input, hx=None, *, lengths=None, mask=None) -> (output, h_n) or, for the LSTM,
    (output, (h_n, c_n)); input (T, B, D), (B, T, D) with batch_first, or unbatched (T, D), or a
    PackedSequence (nn.utils.rnn; the output is then packed the same way); h_n, c_n
    (num_layers * num_directions, B, H), each sequence's state at its last real step, in batch order. ``input_dropout`` and ``recurrent_dropout``
    (keyword-only, not in PyTorch) are variational (D1.T2): one mask per sequence on every layer's
    input and on h_{t-1}; ``dropout`` is PyTorch's, on the outputs of all layers but the last.
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, input_dropout=0.0, recurrent_dropout=0.0):
        super().__init__()
        name = type(self).__name__
        for what, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{name}: {what} must be a positive int, got {v!r}")
        for what, p in (("dropout", dropout), ("input_dropout", input_dropout),
                        ("recurrent_dropout", recurrent_dropout)):
            _check_p(what, p, name)
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), bidirectional
        self.input_dropout, self.recurrent_dropout = float(input_dropout), float(recurrent_dropout)
        G = GATES[mode] * hidden_size
        self.num_directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for sfx in self._suffixes():
                setattr(self, f"weight_ih_l{layer}{sfx}", _param(G, layer_in))
                setattr(self, f"weight_hh_l{layer}{sfx}", _param(G, hidden_size))
                self.register_parameter(f"bias_ih_l{layer}{sfx}", _param(G) if bias else None)
                self.register_parameter(f"bias_hh_l{layer}{sfx}", _param(G) if bias else None)
        self.reset_parameters()

    def _suffixes(self):
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self):
        """Every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), as PyTorch."""
        k = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _initial(self, hx, n, B, like, what):
        if hx is None:
            return [backend.xp(like.data).zeros((B, self.hidden_size), dtype=like.dtype)] * n
        expected = (n, B, self.hidden_size)
        if tuple(hx.shape) != expected:
            raise ValueError(f"{type(self).__name__}: {what} has shape {tuple(hx.shape)}, expected {expected}")
        return [hx[k] for k in range(n)]

    def forward(self, input, hx=None, *, lengths=None, mask=None):  # noqa: A002 - torch's name
        if not isinstance(input, PackedSequence):
            return self._forward(input, hx, lengths, mask, self.batch_first)
        # a PackedSequence runs as its padded batch with its lengths (padded steps hold the state, so h_n
        # is each sequence's state at its true last step), and the output is packed back the same way
        if lengths is not None or mask is not None:
            raise ValueError(f"{type(self).__name__}: a PackedSequence carries its own lengths; "
                             "give neither lengths nor mask with it")
        if input.data.ndim != 2:
            raise ValueError(f"{type(self).__name__}: a PackedSequence's data must be (N, {self.input_size}), "
                             f"got {input.data.shape}")
        padded, lens = pad_packed_sequence(input)
        out, states = self._forward(padded, hx, lens, None, batch_first=False)
        return pack_as(out, input), states

    def _forward(self, input, hx, lengths, mask, batch_first):  # noqa: A002
        x = input
        check_input(type(self).__name__, x, self.weight_ih_l0)
        for state in (hx if isinstance(hx, tuple) else (hx,)):
            if state is not None:
                check_input(f"{type(self).__name__} (initial state)", state, self.weight_ih_l0)
        if x.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: input must be (T, B, D), (B, T, D) or (T, D), got {x.shape}")
        batched = x.ndim == 3
        for state in (hx if isinstance(hx, tuple) else (hx,)):
            if state is not None and state.ndim != x.ndim:  # as torch: an unbatched input takes (n, H) states
                raise ValueError(f"{type(self).__name__}: a {x.ndim}-D input {tuple(x.shape)} needs {x.ndim}-D "
                                 f"initial states, got {tuple(state.shape)}")
        if not batched:
            x = ops.unsqueeze(x, 1)
            hx = None if hx is None else (tuple(ops.unsqueeze(h, 1) for h in hx) if isinstance(hx, tuple)
                                          else ops.unsqueeze(hx, 1))
        elif batch_first:
            x = ops.transpose(x, 0, 1)
        T, B, D = x.shape
        if D != self.input_size:
            raise ValueError(f"{type(self).__name__}: input of shape {tuple(input.shape)} has {D} features, "
                             f"expected input_size={self.input_size}")
        steps = step_mask(T, B, lengths, mask, batch_first and batched)
        if steps is not None:
            steps = backend.to_device(steps, x.device)
        n = self.num_layers * self.num_directions
        lstm = self.mode == "lstm"
        if lstm and hx is not None and not (isinstance(hx, tuple) and len(hx) == 2):
            raise TypeError("LSTM: hx must be a tuple (h_0, c_0)")
        h0 = self._initial(hx[0] if lstm and hx is not None else hx, n, B, x, "h_0")
        c0 = self._initial(hx[1] if hx is not None else None, n, B, x, "c_0") if lstm else [None] * n
        training = self.training
        h_n, c_n, layer_in = [], [], x
        for layer in range(self.num_layers):
            if training and self.input_dropout:
                layer_in = variational_dropout(layer_in, self.input_dropout)
            flat = ops.reshape(layer_in, (T * B, layer_in.shape[2]))
            outs = []
            for d, sfx in enumerate(self._suffixes()):
                k = layer * self.num_directions + d
                w_ih, w_hh = getattr(self, f"weight_ih_l{layer}{sfx}"), getattr(self, f"weight_hh_l{layer}{sfx}")
                b_ih, b_hh = getattr(self, f"bias_ih_l{layer}{sfx}"), getattr(self, f"bias_hh_l{layer}{sfx}")
                xw = ops.reshape(ops.linear(flat, w_ih, b_ih), (T, B, w_ih.shape[0]))
                hmask = (variational_mask((B, self.hidden_size), self.recurrent_dropout, x.dtype, x.device)
                         if training and self.recurrent_dropout else None)
                packed = Recurrence.apply(xw, w_hh, b_hh, h0[k], c0[k], mode=self.mode, mask=steps, hmask=hmask,
                                          reverse=d == 1)
                outs.append(packed[:T])
                h_n.append(packed[T])
                if lstm:
                    c_n.append(packed[T + 1])
            layer_in = outs[0] if len(outs) == 1 else ops.cat(outs, dim=2)
            if training and self.dropout and layer < self.num_layers - 1:
                layer_in = ops.dropout(layer_in, self.dropout)
        out = layer_in
        h = ops.stack(h_n, 0)
        c = ops.stack(c_n, 0) if lstm else None
        if not batched:
            out, h = out[:, 0], h[:, 0]
            c = c[:, 0] if lstm else None
        elif batch_first:
            out = ops.transpose(out, 0, 1)
        return (out, (h, c)) if lstm else (out, h)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for k, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False),
                           ("input_dropout", 0.0), ("recurrent_dropout", 0.0)):
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)}"
        return s


class RNN(RNNBase):
    """Elman RNN (D3.F3, standard form): h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """LSTM (D3.F4): gates i, f, g, o; c_t = f c_{t-1} + i g; h_t = o tanh(c_t)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, **kwargs):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         **kwargs)


class GRU(RNNBase):
    """GRU (D3.F5): gates r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h_t = (1 - z) n + z h_{t-1}."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, **kwargs):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         **kwargs)


class RNNCellBase(Module):
    """One step of a recurrent layer (PyTorch's RNNCell/LSTMCell/GRUCell): input (B, D) or (D,);
    parameters weight_ih (G, D), weight_hh (G, H), bias_ih, bias_hh, all ~ U(-1/sqrt(H), 1/sqrt(H)).
    It runs the same fused node as the layers with T = 1."""

    def __init__(self, mode, input_size, hidden_size, bias=True):
        super().__init__()
        for what, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{type(self).__name__}: {what} must be a positive int, got {v!r}")
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        G = GATES[mode] * hidden_size
        self.weight_ih, self.weight_hh = _param(G, input_size), _param(G, hidden_size)
        self.register_parameter("bias_ih", _param(G) if bias else None)
        self.register_parameter("bias_hh", _param(G) if bias else None)
        k = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _step(self, x, h, c=None):
        for what, t in (("", x), (" (h)", h), (" (c)", c)):
            if t is not None:
                check_input(type(self).__name__ + what, t, self.weight_ih)
        if x.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: input must be (B, {self.input_size}) or ({self.input_size},), "
                             f"got shape {x.shape}")
        batched = x.ndim == 2
        if not batched:
            x = ops.unsqueeze(x, 0)
            h = None if h is None else ops.unsqueeze(h, 0)
            c = None if c is None else ops.unsqueeze(c, 0)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input of shape {x.shape} has {x.shape[-1]} features, "
                             f"expected input_size={self.input_size}")
        B = x.shape[0]
        zeros = backend.xp(x.data).zeros((B, self.hidden_size), dtype=x.dtype)
        h = zeros if h is None else h
        if self.mode == "lstm" and c is None:
            c = zeros
        for name, s in (("h", h), ("c", c)):
            if s is not None and tuple(s.shape) != (B, self.hidden_size):
                raise ValueError(f"{type(self).__name__}: {name} has shape {tuple(s.shape)}, "
                                 f"expected {(B, self.hidden_size)}")
        xw = ops.unsqueeze(ops.linear(x, self.weight_ih, self.bias_ih), 0)
        packed = Recurrence.apply(xw, self.weight_hh, self.bias_hh, h, c, mode=self.mode)
        states = (packed[1], packed[2]) if self.mode == "lstm" else (packed[1],)
        return states if batched else tuple(s[0] for s in states)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002
        return self._step(input, hx)[0]


class LSTMCell(RNNCellBase):
    """(h', c') from (h, c): gates i, f, g, o as LSTM."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__("lstm", input_size, hidden_size, bias)

    def forward(self, input, hx=None):  # noqa: A002
        h, c = (None, None) if hx is None else hx
        return self._step(input, h, c)


class GRUCell(RNNCellBase):
    """h' from h: gates r, z, n as GRU."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__("gru", input_size, hidden_size, bias)

    def forward(self, input, hx=None):  # noqa: A002
        return self._step(input, hx)[0]


class LinearRecurrentCell(Module):
    """D3.F3 as the document writes it, one step:
        h_t = W_hh h_{t-1} + W_xh x_t + b_h,   o_t = W_ho h_t + W_xx x_t + b_o,   y_t = sigma(o_t).
    Parameters weight_xh (H, D), weight_hh (H, H), bias_h (H), weight_ho (D_out, H), weight_xx (D_out, D),
    bias_o (D_out) (D_out = D by default), ~ U(-1/sqrt(H), 1/sqrt(H)). With no squashing on h_t the state is
    a linear system, h_t = W_hh^t h_0 + ...: it explodes or vanishes geometrically with W_hh's spectral
    radius; :class:`ElmanCell` puts the usual tanh on h_t. Returns (y_t, h_t). Composite (built from ops)."""

    activation = None

    def __init__(self, input_size, hidden_size, output_size=None):
        super().__init__()
        output_size = input_size if output_size is None else output_size
        for what, v in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)):
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"{type(self).__name__}: {what} must be a positive int, got {v!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.weight_xh, self.weight_hh, self.bias_h = (_param(hidden_size, input_size), _param(hidden_size, hidden_size),
                                                       _param(hidden_size))
        self.weight_ho, self.weight_xx, self.bias_o = (_param(output_size, hidden_size),
                                                       _param(output_size, input_size), _param(output_size))
        k = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def forward(self, x, h=None):
        check_input(type(self).__name__, x, self.weight_xh)
        if h is None:
            h = Tensor._wrap(backend.xp(x.data).zeros(x.shape[:-1] + (self.hidden_size,), dtype=x.dtype))
        a = ops.linear(x, self.weight_xh, self.bias_h) + ops.linear(h, self.weight_hh)
        h = a if self.activation is None else self.activation(a)
        o = ops.linear(h, self.weight_ho, self.bias_o) + ops.linear(x, self.weight_xx)
        return ops.sigmoid(o), h

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, output_size={self.output_size}"


class ElmanCell(LinearRecurrentCell):
    """D3.F3, standard form: the same cell with h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)."""

    activation = staticmethod(ops.tanh)
