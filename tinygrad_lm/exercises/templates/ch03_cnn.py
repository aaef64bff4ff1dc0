"""Chapter 3 exercises: convolution and pooling (notebook 03_cnn), in plain NumPy, NCHW as PyTorch.

x is (B, C, H, W); a convolution weight is (K, C, kh, kw), its bias (K,). Cross-correlation: no kernel flip.
Check your work with ``tinygrad-lm exercises check 3.1 --dir .`` (or ``--all``).
"""
import numpy as np


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    """3.4  Derive: the output length along one axis of a convolution or pooling window of ``kernel`` taps
    with ``stride``, zero ``padding`` on both sides and ``dilation`` (taps ``dilation`` apart), PyTorch's
    rule (windows that do not fit are dropped). Return an int."""
    ### BEGIN SOLUTION (3.4) hint: a dilated window spans dilation*(kernel-1)+1 inputs; count the start positions
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    ### END SOLUTION


def conv2d_loops(x, w, b, stride=1, padding=0, dilation=1):
    """3.1  D3.F1 / D4.F1 by loops:

        Y[b, k, i, j] = bias[k] + sum_c sum_n sum_m Xp[b, c, i*s + n*d, j*s + m*d] * w[k, c, n, m]

    where Xp is x zero-padded by ``padding`` on each side (stride s, dilation d: ints). ``b`` may be None.
    Return Y of shape (B, K, H_out, W_out)."""
    ### BEGIN SOLUTION (3.1) hint: pad with np.pad, then loop over output positions and kernel offsets; no flip
    B, C, H, W = x.shape
    K, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho = conv_output_size(H, kh, stride, padding, dilation)
    Wo = conv_output_size(W, kw, stride, padding, dilation)
    y = np.zeros((B, K, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            for n in range(kh):
                for m in range(kw):
                    patch = xp[:, :, i * stride + n * dilation, j * stride + m * dilation]  # (B, C)
                    y[:, :, i, j] += patch @ w[:, :, n, m].T
    return y if b is None else y + b[None, :, None, None]
    ### END SOLUTION


def maxpool2d(x, kernel_size, stride):
    """3.2  D3.F2: Z[b, c, i, j] = max over n, m < kernel_size of x[b, c, i*s + n, j*s + m] (no padding;
    windows that do not fit are dropped). Return Z (B, C, H_out, W_out)."""
    ### BEGIN SOLUTION (3.2) hint: the window of output (i, j) starts at (i*stride, j*stride)
    B, C, H, W = x.shape
    Ho, Wo = (H - kernel_size) // stride + 1, (W - kernel_size) // stride + 1
    z = np.full((B, C, Ho, Wo), -np.inf)
    for n in range(kernel_size):
        for m in range(kernel_size):
            z = np.maximum(z, x[:, :, n:n + stride * Ho:stride, m:m + stride * Wo:stride])
    return z
    ### END SOLUTION


def maxpool2d_backward(x, grad_out, kernel_size, stride):
    """3.2  The gradient of ``maxpool2d`` with respect to x: each output's gradient goes to the element
    that was its window's maximum. With ties, only the FIRST maximum in row-major scan order of the
    window gets it (PyTorch's rule). Overlapping windows (stride < kernel_size) add up. Return dx (x's shape)."""
    ### BEGIN SOLUTION (3.2) hint: remember the ties: the gradient goes to the first max only, and overlapping windows accumulate
    B, C, _, _ = x.shape
    _, _, Ho, Wo = grad_out.shape
    dx = np.zeros_like(x, dtype=np.float64)
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, :, i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size]
            first = window.reshape(B, C, -1).argmax(axis=2)  # argmax returns the first maximum
            n, m = np.divmod(first, kernel_size)
            bi, ci = np.indices((B, C))
            np.add.at(dx, (bi, ci, i * stride + n, j * stride + m), grad_out[:, :, i, j])
    return dx
    ### END SOLUTION


def im2col(x, kh, kw, stride=1, padding=0, dilation=1):
    """3.3  Unfold x into columns, PyTorch's ``F.unfold`` layout: (B, C*kh*kw, L), L = H_out*W_out in
    row-major order of the output positions, rows ordered by (c, n, m) with m fastest. Zero padding."""
    ### BEGIN SOLUTION (3.3) hint: row c*kh*kw + n*kw + m, column i*W_out + j holds Xp[c, i*s + n*d, j*s + m*d]
    B, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho = conv_output_size(H, kh, stride, padding, dilation)
    Wo = conv_output_size(W, kw, stride, padding, dilation)
    cols = np.empty((B, C, kh, kw, Ho, Wo), dtype=x.dtype)
    for n in range(kh):
        for m in range(kw):
            r, s = n * dilation, m * dilation
            cols[:, :, n, m] = xp[:, :, r:r + stride * (Ho - 1) + 1:stride, s:s + stride * (Wo - 1) + 1:stride]
    return cols.reshape(B, C * kh * kw, Ho * Wo)
    ### END SOLUTION


def conv2d_im2col(x, w, b, stride=1, padding=0, dilation=1):
    """3.3  The same convolution as 3.1 as one matrix product: w reshaped to (K, C*kh*kw) times
    im2col(x), reshaped to (B, K, H_out, W_out), plus the bias (``b`` may be None)."""
    ### BEGIN SOLUTION (3.3) hint: (K, C*kh*kw) @ (B, C*kh*kw, L) -> (B, K, L)
    B, _, H, W = x.shape
    K, C, kh, kw = w.shape
    y = w.reshape(K, -1) @ im2col(x, kh, kw, stride, padding, dilation)
    Ho = conv_output_size(H, kh, stride, padding, dilation)
    Wo = conv_output_size(W, kw, stride, padding, dilation)
    y = y.reshape(B, K, Ho, Wo)
    return y if b is None else y + b[None, :, None, None]
    ### END SOLUTION


def mnist_flatten_size(height, width):
    """3.5  Erratum hunt (D4.M1). The source's MNIST network runs conv(1->32, 3x3, stride 1, no padding) -> ReLU
    -> conv(32->64, 3x3, stride 1, no padding) -> ReLU and then flattens each image to 64*7*7 features.
    How many features per image does that flatten really see, for an input of height x width?"""
    ### BEGIN SOLUTION (3.5) hint: each unpadded 3x3 convolution takes 2 off each side length
    return 64 * conv_output_size(conv_output_size(height, 3), 3) * conv_output_size(conv_output_size(width, 3), 3)
    ### END SOLUTION


def cifar_flatten_size(height, width):
    """3.5  D3.M1's network: conv(3->32, 3x3, padding 1) -> ReLU -> max-pool 2 -> conv(32->64, 3x3, padding 1)
    -> ReLU -> max-pool 2 -> flatten. Features per image for an input of height x width (pooling drops
    a last odd row or column)?"""
    ### BEGIN SOLUTION (3.5) hint: padding 1 keeps the size; each pool halves it, rounding down
    return 64 * (height // 2 // 2) * (width // 2 // 2)
    ### END SOLUTION
