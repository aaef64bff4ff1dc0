"""2-D pooling (D3.F2): max, average and adaptive average, with PyTorch's arguments and output sizes."""
from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .conv import pair


def pool_out_size(size, kernel, stride, pad, dilation, ceil_mode):
    """PyTorch's pooling output size; with ceil_mode the last window must start inside the (left-padded) input."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pool_geometry(op, x_shape, kernel_size, stride, padding, dilation, ceil_mode):
    """Checked (kernel, geom, out_hw), geom = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)."""
    if len(x_shape) != 4:
        raise ValueError(f"{op}: input must be (N, C, H, W), got shape {tuple(x_shape)}")
    kernel = pair(kernel_size, "kernel_size", op, 1)
    strides = kernel if stride is None or stride == () else pair(stride, "stride", op, 1)
    pads, dils = pair(padding, "padding", op, 0), pair(dilation, "dilation", op, 1)
    for k, p in zip(kernel, pads, strict=True):
        if p > k // 2:
            raise ValueError(f"{op}: padding {padding!r} must be at most half the kernel size {kernel_size!r}")
    out = tuple(pool_out_size(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(x_shape[2:], kernel, strides, pads, dils, strict=True))
    if min(out) < 1:
        raise ValueError(f"{op}: window {kernel} (padding {pads}, dilation {dils}) does not fit input {tuple(x_shape)}")
    return kernel, (*strides, *pads, *dils), out


class MaxPool2d(Function):
    """D3.F2  z[b,c,i,j] = max_{n<KH, m<KW} x[b, c, i s_h + n d_h - p_h, j s_w + m d_w - p_w];
    dL/dx[b,c,a] = sum of g[b,c,i,j] over the windows (i, j) whose maximum is at a (the saved argmax)."""

    saves_inputs = ()

    def forward(self, x, kernel, geom, out_hw):
        self.device, self.x_shape = backend.device_of(x), x.shape
        z, self.idx = backend.kernel("max_pool2d_forward", self.device)(x, geom, kernel, out_hw)
        return z

    def backward(self, g):
        return backend.kernel("max_pool2d_backward", self.device)(g, self.idx, self.x_shape)


class AvgPool2d(Function):
    """D3.F2 (average)  z[b,c,i,j] = (1/|w_ij|) sum_{(y,x) in w_ij} x[b,c,y,x];
    dL/dx[b,c,y,x] = sum over the windows w_ij containing (y, x) of g[b,c,i,j] / |w_ij|."""

    saves_inputs = ()

    def forward(self, x, kernel, geom, out_hw, include_pad):
        self.device, self.x_shape, self.kernel, self.geom, self.include_pad = (
            backend.device_of(x), x.shape, kernel, geom, include_pad)
        return backend.kernel("avg_pool2d_forward", self.device)(x, geom, kernel, out_hw, include_pad)

    def backward(self, g):
        return backend.kernel("avg_pool2d_backward", self.device)(g, self.x_shape, self.geom, self.kernel,
                                                                  self.include_pad)


class AdaptiveAvgPool2d(Function):
    """z[b,c,i,j] = mean of x[b,c] over rows bin_i and columns bin_j, PyTorch's bins (which may overlap:
    bin i of ``out`` over ``size`` covers [floor(i size / out), ceil((i + 1) size / out)));
    dL/dx = each g[b,c,i,j] spread evenly over its bin."""

    saves_inputs = ()

    def forward(self, x, output_size):
        self.device, self.x_shape = backend.device_of(x), x.shape
        return backend.kernel("adaptive_avg_pool2d_forward", self.device)(x, output_size)

    def backward(self, g):
        return backend.kernel("adaptive_avg_pool2d_backward", self.device)(g, self.x_shape)


def _batched(fn, x: Tensor, *args):
    """Run a 4-D pooling on unbatched (C, H, W) input too, as PyTorch does."""
    if x.ndim == 3:
        out = fn(x.unsqueeze(0), *args)
        return tuple(o.squeeze(0) for o in out) if isinstance(out, tuple) else out.squeeze(0)
    return fn(x, *args)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """torch.nn.functional.max_pool2d; ``return_indices`` also gives each maximum's flat index in its plane."""
    def run(x):
        kernel, geom, out = pool_geometry("max_pool2d", x.shape, kernel_size, stride, padding, dilation, ceil_mode)
        z = MaxPool2d.apply(x, kernel=kernel, geom=geom, out_hw=out)
        if not return_indices:
            return z
        fn = z._ctx
        idx = fn.idx if fn is not None else backend.kernel("max_pool2d_forward", x.device)(x.data, geom, kernel, out)[1]
        return z, Tensor._wrap(idx.astype("int64"))
    return _batched(run, input)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    """torch.nn.functional.avg_pool2d (divisor_override is not supported)."""
    if divisor_override is not None:
        raise ValueError("avg_pool2d: divisor_override is not supported")

    def run(x):
        kernel, geom, out = pool_geometry("avg_pool2d", x.shape, kernel_size, stride, padding, 1, ceil_mode)
        return AvgPool2d.apply(x, kernel=kernel, geom=geom, out_hw=out, include_pad=bool(count_include_pad))
    return _batched(run, input)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """torch.nn.functional.adaptive_avg_pool2d: an int, a pair, or None in a pair for 'keep this size'."""
    def run(x):
        if x.ndim != 4:
            raise ValueError(f"adaptive_avg_pool2d: input must be (N, C, H, W), got shape {x.shape}")
        if 0 in x.shape[1:]:  # a window over nothing would average to nan
            raise ValueError(f"adaptive_avg_pool2d: expected input to have non-zero size for non-batch "
                             f"dimensions, got shape {x.shape}")
        size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        size = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(size))
        pair(size, "output_size", "adaptive_avg_pool2d", 1)
        return AdaptiveAvgPool2d.apply(x, output_size=size)
    return _batched(run, input)
