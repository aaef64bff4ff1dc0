"""2-D convolution (D3.F1, D4.F1) as PyTorch computes it: cross-correlation in NCHW."""
from __future__ import annotations

from .. import backend
from ..arraymath import out_size
from ..autograd import Function


def pair(value, name: str, op: str, minimum: int):
    """An int or a pair of ints as a pair, each at least ``minimum``."""
    t = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(t) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in t):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(t) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return t


def conv_geometry(stride, padding, dilation, op="conv2d"):
    """(stride_h, stride_w, pad_h, pad_w, dil_h, dil_w), checked."""
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a pair of ints (string modes such as "
                         f"{padding!r} are not supported)")
    (sh, sw), (ph, pw), (dh, dw) = (pair(stride, "stride", op, 1), pair(padding, "padding", op, 0),
                                    pair(dilation, "dilation", op, 1))
    return sh, sw, ph, pw, dh, dw


def check_conv(x, w, b, geom, groups):
    """Clear errors naming the shapes, before any kernel runs."""
    if x.ndim != 4:
        raise ValueError(f"conv2d: input must be (N, C, H, W), got shape {tuple(x.shape)}")
    if w.ndim != 4:
        raise ValueError(f"conv2d: weight must be (out_channels, in_channels/groups, kH, kW), got {tuple(w.shape)}")
    if not isinstance(groups, int) or groups < 1 or x.shape[1] % groups or w.shape[0] % groups:
        raise ValueError(f"conv2d: groups={groups!r} must be a positive int dividing the input channels "
                         f"({x.shape[1]}) and the output channels ({w.shape[0]})")
    if 0 in w.shape or 0 in x.shape[1:]:  # (an empty batch, N = 0, is fine)
        raise ValueError(f"conv2d: input {tuple(x.shape)} and weight {tuple(w.shape)} need non-zero channels, "
                         "kernel and image sizes")
    if x.shape[1] != w.shape[1] * groups:
        raise ValueError(f"conv2d: input of shape {tuple(x.shape)} has {x.shape[1]} channels but the weight of shape "
                         f"{tuple(w.shape)} with groups={groups} expects {w.shape[1] * groups}")
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise ValueError(f"conv2d: bias of shape {tuple(b.shape)} should be ({w.shape[0]},) for weight {tuple(w.shape)}")
    if x.dtype != w.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(f"conv2d: input dtype {x.dtype} and weight dtype {w.dtype}"
                        + (f" and bias dtype {b.dtype}" if b is not None else "") + " must be equal")
    sh, sw, ph, pw, dh, dw = geom
    OH, OW = (out_size(x.shape[2], w.shape[2], sh, ph, dh), out_size(x.shape[3], w.shape[3], sw, pw, dw))
    if OH < 1 or OW < 1:
        raise ValueError(f"conv2d: kernel {tuple(w.shape[2:])} (dilation {(dh, dw)}) does not fit the input "
                         f"{tuple(x.shape[2:])} padded by {(ph, pw)}")


class Conv2d(Function):
    """D3.F1 / D4.F1  y[b,k,i,j] = bias[k] + sum_c sum_n sum_m x[b, c, i s + n d - p, j s + m d - p] w[k,c,n,m]
    (x zero outside the image; c over k's group).

    dL/dw[k,c,n,m] = sum_{b,i,j} g[b,k,i,j] x[b, c, i s + n d - p, j s + m d - p],
    dL/dx[b,c,y,x] = sum over the (k, n, m, i, j) that read x[b,c,y,x] of g[b,k,i,j] w[k,c,n,m],
    dL/dbias[k] = sum_{b,i,j} g[b,k,i,j].

    The sums (and the bias) run in the kernel ``conv2d_forward`` / ``conv2d_backward`` (kernels/conv.py):
    the textbook loops, or im2col with one matrix product per group on Numba or CuPy.
    """

    saves_inputs = (0, 1)
    operands = ("input", "weight", "bias")
    relu = False

    def forward(self, x, weight, bias, geom, groups):
        check_conv(x, weight, bias, geom, groups)
        self.device = backend.device_of(x)
        y, saved = backend.kernel("conv2d_forward", self.device)(x, weight, geom, groups, bias, self.relu)
        self.x, self.weight, self.saved, self.geom, self.groups = x, weight, saved, geom, groups
        self.has_bias, self.y = bias is not None, y if self.relu else None
        return y

    def backward(self, g):
        need_x, need_w = self.needs_input_grad[0], self.needs_input_grad[1]
        need_b = self.has_bias and self.needs_input_grad[2]
        if not (need_x or need_w or need_b):
            return None, None, None
        return backend.kernel("conv2d_backward", self.device)(g, self.x, self.weight, self.saved, self.geom,
                                                              self.groups, need_x, need_w, need_b, self.y)


class Conv2dReLU(Conv2d):
    """relu(conv2d(x, w, bias)) as one op (D1.F5 after D3.F1): y = max(z, 0) with z Conv2d's output;
    dL/dz = g [y > 0], then z's three gradients as Conv2d's. The kernel applies the ReLU in the pass that
    writes y (NCHW, with the bias) and the mask in the pass that transposes g, so the ReLU costs no
    passes of its own over the conv's output; the backward reads that output (saves_output)."""

    saves_output = True
    relu = True


_ACTIVATIONS = {None: Conv2d, "relu": Conv2dReLU}


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,  # noqa: A002 - torch's name
           activation=None):
    """torch.nn.functional.conv2d: (N, C, H, W) or unbatched (C, H, W) input. ``activation="relu"`` (not
    torch's) returns relu(conv2d(...)) from one fused op, the same values and gradients."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"conv2d: activation must be None or 'relu', got {activation!r}")
    op, geom = _ACTIVATIONS[activation], conv_geometry(stride, padding, dilation)
    if input.ndim == 3:
        return op.apply(input.unsqueeze(0), weight, bias, geom=geom, groups=groups).squeeze(0)
    return op.apply(input, weight, bias, geom=geom, groups=groups)
