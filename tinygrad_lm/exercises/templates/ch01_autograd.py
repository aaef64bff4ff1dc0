"""Chapter 1 exercises: the autograd engine (notebook 01_autograd).

Each op is a ``Function``: ``forward`` gets NumPy arrays and saves what ``backward`` needs on ``self``;
``backward(grad)`` returns one gradient per input, each with its input's shape. Never call the engine
(no Tensor ops) inside a backward. Check your work with

    tinygrad-lm exercises check 1.1 --dir .
"""
import numpy as np

from tinygrad_lm.autograd import Function


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, so it has ``shape`` again."""
    ### BEGIN SOLUTION (1.1) hint: sum over the leading axes broadcasting added, then over the axes where shape has 1
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra else grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad
    ### END SOLUTION


class Mul(Function):
    """1.1  y = a * b with NumPy broadcasting (D2.F1's element-wise product).

    dL/da = g * b and dL/db = g * a, each summed back to its input's shape (``unbroadcast``).
    """

    def forward(self, a, b):
        ### BEGIN SOLUTION (1.1) hint: save a and b on self; return a * b
        self.a, self.b = a, b
        return a * b
        ### END SOLUTION

    def backward(self, grad):
        ### BEGIN SOLUTION (1.1) hint: dL/da = grad * b, dL/db = grad * a, each unbroadcast to its input's shape
        return unbroadcast(grad * self.b, self.a.shape), unbroadcast(grad * self.a, self.b.shape)
        ### END SOLUTION


class Exp(Function):
    """1.1  y = exp(x);  dL/dx = g * exp(x) (save the output, not the input)."""

    def forward(self, x):
        ### BEGIN SOLUTION (1.1) hint: save y = exp(x) on self
        self.y = np.exp(x)
        return self.y
        ### END SOLUTION

    def backward(self, grad):
        ### BEGIN SOLUTION (1.1) hint: the derivative of exp is exp itself
        return grad * self.y
        ### END SOLUTION


class Sum(Function):
    """1.1  y = x.sum(dim, keepdims=keepdim) (``dim`` None, an int or a tuple of ints; negative allowed).

    Every summed element gets the upstream gradient: dL/dx = g broadcast back to x's shape (put the
    summed axes back as size 1 first when ``keepdim`` is False).
    """

    def forward(self, x, dim=None, keepdim=False):
        ### BEGIN SOLUTION (1.1) hint: remember x.shape, dim and keepdim for the backward
        self.shape = x.shape
        dims = tuple(range(x.ndim)) if dim is None else (dim,) if isinstance(dim, int) else tuple(dim)
        self.dims = tuple(d % x.ndim for d in dims) if x.ndim else ()
        self.keepdim = keepdim
        return np.asarray(x.sum(axis=self.dims, keepdims=keepdim))
        ### END SOLUTION

    def backward(self, grad):
        ### BEGIN SOLUTION (1.1) hint: np.expand_dims on the summed axes (when keepdim is False), then np.broadcast_to
        if not self.keepdim:
            grad = np.expand_dims(grad, self.dims)
        return np.broadcast_to(grad, self.shape).copy()
        ### END SOLUTION


class MatMul(Function):
    """1.2  C = A @ B for A (n, k), B (k, m) (D2.F1: C_ij = sum_k A_ik B_kj).

    With G = dL/dC: dL/dA = G B^T and dL/dB = A^T G.
    """

    def forward(self, A, B):
        ### BEGIN SOLUTION (1.2) hint: save A and B
        self.A, self.B = A, B
        return A @ B
        ### END SOLUTION

    def backward(self, grad):
        ### BEGIN SOLUTION (1.2) hint: check the shapes: dL/dA must be (n, k), dL/dB (k, m)
        return grad @ self.B.T, self.A.T @ grad
        ### END SOLUTION


class Sigmoid(Function):
    """1.3  y = 1 / (1 + exp(-x)), numerically stable for large |x| (D1.F5); dy/dx = y (1 - y)."""

    def forward(self, x):
        ### BEGIN SOLUTION (1.3) hint: for x < 0 use exp(x) / (1 + exp(x)) so exp never overflows
        e = np.exp(-np.abs(x))
        self.y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.y
        ### END SOLUTION

    def backward(self, grad):
        ### BEGIN SOLUTION (1.3) hint: multiply by sigma'(x) = y (1 - y), do not divide
        return grad * self.y * (1 - self.y)
        ### END SOLUTION


class Tanh(Function):
    """1.3  y = tanh(x) (D1.F5); dy/dx = 1 - y^2."""

    def forward(self, x):
        ### BEGIN SOLUTION (1.3) hint: np.tanh; save the output
        self.y = np.tanh(x)
        return self.y
        ### END SOLUTION

    def backward(self, grad):
        ### BEGIN SOLUTION (1.3) hint: 1 - tanh(x)^2
        return grad * (1 - self.y ** 2)
        ### END SOLUTION


class ReLU(Function):
    """1.3  y = max(x, 0) (D1.F5); dy/dx = 1 where x > 0, else 0 (0 at x = 0, as PyTorch)."""

    def forward(self, x):
        ### BEGIN SOLUTION (1.3) hint: save the mask x > 0
        self.mask = x > 0
        return np.where(self.mask, x, 0.0)
        ### END SOLUTION

    def backward(self, grad):
        ### BEGIN SOLUTION (1.3) hint: the gradient passes where x > 0 only
        return grad * self.mask
        ### END SOLUTION


class Normalize(Function):
    """1.4  Erratum hunt (D2.F1): L2 normalisation of the rows of x, v / ||v||.

    The source's formula, read literally, is the ``source_normalize`` below. Find what goes wrong for some
    input, and write the forward and backward of the version PyTorch's ``F.normalize`` computes:
    y = v / max(||v||, eps) with eps = 1e-12, over the last axis. With n = max(||v||, eps):
    when ||v|| > eps, dL/dv = (g - y (g . y)) / n; otherwise n is a constant and dL/dv = g / n.
    """

    def forward(self, x, eps=1e-12):
        ### BEGIN SOLUTION (1.4) hint: what does the source's version return for a row of zeros?
        norm = np.sqrt((x * x).sum(axis=-1, keepdims=True))
        self.n = np.maximum(norm, eps)
        self.clamped = norm <= eps
        self.y = x / self.n
        return self.y
        ### END SOLUTION

    def backward(self, grad):
        ### BEGIN SOLUTION (1.4) hint: where the norm was clamped to eps it is a constant: dL/dv = g / eps
        radial = np.where(self.clamped, 0.0, (grad * self.y).sum(axis=-1, keepdims=True))
        return (grad - self.y * radial) / self.n
        ### END SOLUTION


def source_normalize(x):
    """The source's L2 normalisation as written (for 1.4; do not change it)."""
    return x / np.sqrt((x * x).sum(axis=-1, keepdims=True))


def chain_rule_numbers():
    """1.5  Derive by hand. For a = 2, b = -1, c = 0.5 and

        u = a * b,   v = exp(u + c),   L = v * a + b ** 2,

    return (dL/da, dL/db, dL/dc) as three floats, within 1e-6 (relative). Write the numbers, or the
    expressions you derived in NumPy; do not use the autograd engine.
    """
    ### BEGIN SOLUTION (1.5) hint: a reaches L by two paths (through u and directly): add both contributions
    a, b, c = 2.0, -1.0, 0.5
    v = np.exp(a * b + c)
    return v * b * a + v, v * a * a + 2 * b, v * a
    ### END SOLUTION
