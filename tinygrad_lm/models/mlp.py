"""The networks of documents 000 and 001 (D0.F1, D0.F2, D1.F1-D1.F6) and the digits MLP (trained by
``tinygrad_lm.recipes.mlp``).

Row convention: a batch is a matrix whose rows are samples, so the column-vector formula
``z = W x + b`` of the documents is computed as ``Z = X W^T + b`` (the same numbers, one row
per sample), with W stored as (out, in) like PyTorch's ``Linear.weight``.

The engine versions (TwoLayerNet, cross_entropy, ...) are tensors and modules; D1.F3 and D1.F5
also exist in plain NumPy, derived by hand, so the two can be held to each other.
"""
from __future__ import annotations

import numpy as np

from .. import nn, ops
from ..arraymath import sigmoid_array
from ..backend import xp

ACTIVATIONS = ("relu", "sigmoid", "tanh")


# ---------------------------------------------------------------- D0.F1, D0.F2
def single_layer_output(W, h):
    """D0.F1  y_hat = sigma(W^T h), W: (hidden, out). A batch of h as rows gives sigma(h W) (composite)."""
    return ops.sigmoid(h @ W if h.ndim > 1 else W.T @ h)


def squared_error(y_hat, y):
    """D0.F2  L = 1/2 sum_i (y_i - y_hat_i)^2, summed over every element (composite);
    dL/dy_hat = y_hat - y."""
    d = y - y_hat
    return 0.5 * (d * d).sum()


# ---------------------------------------------------------------- D1.F5 in NumPy
def sigmoid(x):
    """D1.F5  sigma(x) = 1 / (1 + e^{-x})."""
    return sigmoid_array(x)


def sigmoid_prime(x):
    """D1.F5  sigma'(x) = sigma(x) (1 - sigma(x))."""
    s = sigmoid_array(x)
    return s * (1 - s)


def relu(x):
    """D1.F5  relu(x) = max(x, 0)."""
    return xp(x).maximum(x, 0)


def relu_prime(x):
    """D1.F5  relu'(x) = 1 if x > 0 else 0 (0 at the kink, as PyTorch)."""
    return (x > 0).astype(x.dtype)


def tanh(x):
    """D1.F5  tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x})."""
    return xp(x).tanh(x)


def tanh_prime(x):
    """D1.F5  tanh'(x) = 1 - tanh(x)^2."""
    t = xp(x).tanh(x)
    return 1 - t * t


def softmax(z):
    """softmax over the last axis, shifted by the row maximum so exp never overflows."""
    e = xp(z).exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- D1.F1, D1.F2
class TwoLayerNet(nn.Module):
    """D1.F1  z2 = W1 x + b1,  a2 = sigma(z2),  z3 = W2 a2 + b2,  a3 = sigma(z3).

    ``output='softmax'`` makes a3 = softmax(z3) instead, the form that fits D1.F2's multi-class
    cross-entropy. Weights are initialised as PyTorch's Linear (U(-1/sqrt(in), 1/sqrt(in))).
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, output: str = "sigmoid"):
        super().__init__()
        if output not in ("sigmoid", "softmax"):
            raise ValueError(f"TwoLayerNet: output must be 'sigmoid' or 'softmax', got {output!r}")
        self.output = output
        fc1, fc2 = nn.Linear(in_features, hidden), nn.Linear(hidden, out_features)
        self.W1, self.b1, self.W2, self.b2 = fc1.weight, fc1.bias, fc2.weight, fc2.bias

    def forward(self, x):
        z2 = x @ self.W1.T + self.b1
        a2 = ops.sigmoid(z2)
        z3 = a2 @ self.W2.T + self.b2
        return ops.sigmoid(z3) if self.output == "sigmoid" else ops.softmax(z3, dim=-1)

    def numpy_params(self) -> dict:
        return {k: p.numpy().copy() for k, p in self.named_parameters()}


def cross_entropy(a, y):
    """D1.F2  J = -sum_k y_k log a_k for probabilities a and one-hot (or soft) targets y, averaged
    over the rows of a batch (composite). With a = softmax(z) it equals F.cross_entropy(z, labels)."""
    return -(y * ops.log(a)).sum() / a.shape[0]


def binary_cross_entropy(a, y):
    """J = -sum_k [y_k log a_k + (1 - y_k) log(1 - a_k)], averaged over rows (composite): the loss
    that goes with independent sigmoid outputs, each a yes/no question."""
    return -(y * ops.log(a) + (1 - y) * ops.log(1 - a)).sum() / a.shape[0]


# ---------------------------------------------------------------- D1.F3, D1.F4
def two_layer_backprop_by_hand(x, y, W1, b1, W2, b2, output: str = "sigmoid"):
    """D1.F3  Gradients of TwoLayerNet's loss, derived by hand, in plain NumPy.

    x: (N, in), y: (N, out) targets. ``output='sigmoid'`` pairs sigmoid outputs with
    binary cross-entropy, ``'softmax'`` pairs softmax outputs with cross-entropy (D1.F2); J is
    averaged over the N rows. Both pairings give the same output error:

        dJ/da3 = (a3 - y) / (a3 (1 - a3)) / N          (sigmoid + binary cross-entropy)
        dJ/dz3 = dJ/da3 * sigma'(z3) = (a3 - y) / N    (also for softmax + cross-entropy)
        dJ/dW2 = dJ/dz3^T a2,   dJ/db2 = sum_n dJ/dz3
        dJ/da2 = dJ/dz3 W2
        dJ/dz2 = dJ/da2 * a2 (1 - a2)
        dJ/dW1 = dJ/dz2^T x,    dJ/db1 = sum_n dJ/dz2

    Returns (J, grads) with grads holding W1, b1, W2, b2 and the errors z3, a2, z2.
    """
    N = x.shape[0]
    z2 = x @ W1.T + b1
    a2 = sigmoid(z2)
    z3 = a2 @ W2.T + b2
    if output == "sigmoid":
        a3 = sigmoid(z3)
        J = -np.sum(y * np.log(a3) + (1 - y) * np.log(1 - a3)) / N
    elif output == "softmax":
        a3 = softmax(z3)
        J = -np.sum(y * np.log(a3)) / N
    else:
        raise ValueError(f"output must be 'sigmoid' or 'softmax', got {output!r}")
    dz3 = (a3 - y) / N
    da2 = dz3 @ W2
    dz2 = da2 * a2 * (1 - a2)
    grads = {"W1": dz2.T @ x, "b1": dz2.sum(axis=0), "W2": dz3.T @ a2, "b2": dz3.sum(axis=0),
             "z3": dz3, "a2": da2, "z2": dz2}
    return J, grads


def gradient_descent_update(params: dict, grads: dict, lr: float) -> dict:
    """D1.F4  w <- w - alpha dJ/dw and b <- b - alpha dJ/db, for every named array; returns new arrays."""
    if lr < 0:
        raise ValueError(f"gradient_descent_update: learning rate must be >= 0, got {lr}")
    return {k: w - lr * grads[k] for k, w in params.items()}


# ---------------------------------------------------------------- the digits MLP
class MLP(nn.Sequential):
    """Linear -> activation -> ... -> Linear; children named as torch.nn.Sequential's ('0', '2', ...),
    so a PyTorch twin loads this state_dict unchanged. Outputs are logits (use F.cross_entropy)."""

    def __init__(self, in_features: int = 64, hidden_sizes=(128,), out_features: int = 10,
                 activation: str = "relu"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {ACTIVATIONS}, got {activation!r}")
        act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[activation]
        sizes = [in_features, *hidden_sizes]
        layers = []
        for a, b in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(a, b), act()]
        super().__init__(*layers, nn.Linear(sizes[-1], out_features))
