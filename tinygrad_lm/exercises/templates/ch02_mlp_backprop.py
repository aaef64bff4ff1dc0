"""Chapter 2 exercises: the MLP and backpropagation by hand (notebook 02_mlp_backprop), in plain NumPy.

Rows are samples: x is (N, in); a layer's weight is (out, in) as in ``nn.Linear``, its bias (out,).
Check your work with ``tinygrad-lm exercises check 2.1 --dir .`` (or ``--all``).
"""
import numpy as np


def sigmoid(x):
    """A numerically stable logistic function (given)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def two_layer_forward(x, W1, b1, W2, b2):
    """2.1  D1.F1's two-layer network on a batch of rows (and D0.F1's sigma(W^T h) per layer):

        z2 = x W1^T + b1,  a2 = sigma(z2),  z3 = a2 W2^T + b2,  a3 = sigma(z3)

    x (N, in), W1 (hidden, in), b1 (hidden,), W2 (out, hidden), b2 (out,). One bias per unit.
    Return (z2, a2, z3, a3).
    """
    ### BEGIN SOLUTION (2.1) hint: a weight of shape (out, in) multiplies rows as x @ W.T; the bias has one entry per unit
    z2 = x @ W1.T + b1
    a2 = sigmoid(z2)
    z3 = a2 @ W2.T + b2
    return z2, a2, z3, sigmoid(z3)
    ### END SOLUTION


def softmax_cross_entropy(logits, target, label_smoothing=0.0):
    """2.2  D1.F2 from logits, with label smoothing, and its gradient (D0.F4's softmax inside).

    logits (N, C), target (N,) class indices. The smoothed target distribution is
    q = (1 - eps) onehot(target) + eps / C (eps = label_smoothing, spread over all C classes, PyTorch's
    convention). loss = mean over rows of -sum_k q_k log softmax(logits)_k.
    Return (loss as a float, dloss/dlogits of shape (N, C)). Use a stable log-softmax (subtract the row max).
    """
    ### BEGIN SOLUTION (2.2) hint: dloss/dlogits = (softmax(logits) - q) / N
    N, C = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    q = np.full((N, C), label_smoothing / C)
    q[np.arange(N), target] += 1 - label_smoothing
    loss = -(q * log_p).sum() / N
    return float(loss), (np.exp(log_p) - q) / N
    ### END SOLUTION


# The network of exercise 2.3 (one sample, sigmoid outputs, binary cross-entropy summed over the outputs)
X = np.array([[1.0, -2.0]])
Y = np.array([[1.0, 0.0]])
W1 = np.array([[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]])
B1 = np.array([0.1, -0.2, 0.05])
W2 = np.array([[0.7, -0.4, 0.3], [-0.2, 0.5, 0.9]])
B2 = np.array([0.0, 0.1])


def backprop_numbers():
    """2.3  Derive by hand D1.F3 for the network above (X, Y, W1, B1, W2, B2), with
    J = -sum_k [y_k log a3_k + (1 - y_k) log(1 - a3_k)].

    Return a dict with the numbers (arrays) "z3": dJ/dz3 (1, 2), "W2": dJ/dW2 (2, 3), "b2": dJ/db2 (2,),
    "a2": dJ/da2 (1, 3), "z2": dJ/dz2 (1, 3), "W1": dJ/dW1 (3, 2), "b1": dJ/db1 (3,); within 1e-6 relative.
    Work them out (your forward from 2.1 may help); do not use an autograd engine.
    """
    ### BEGIN SOLUTION (2.3) hint: sigmoid + binary cross-entropy collapse to dJ/dz3 = a3 - y; weight gradients are outer products
    _, a2, _, a3 = two_layer_forward(X, W1, B1, W2, B2)
    dz3 = a3 - Y
    da2 = dz3 @ W2
    dz2 = da2 * a2 * (1 - a2)
    return {"z3": dz3, "W2": dz3.T @ a2, "b2": dz3.sum(axis=0), "a2": da2, "z2": dz2,
            "W1": dz2.T @ X, "b1": dz2.sum(axis=0)}
    ### END SOLUTION


def source_output_error(a3, y):
    """The source's dJ/dz3 (for 2.4; do not change it): it mixes the multi-class and binary forms, divides
    by sigma' instead of multiplying, and averages over the k outputs into one number per sample."""
    return np.mean((y - a3) / (a3 * (1 - a3)), axis=1, keepdims=True)


def output_error(a3, y):
    """2.4  Erratum hunt (D1.F3). The output error dJ/dz3 of a sigmoid output layer under binary
    cross-entropy summed over the outputs and averaged over the N rows: a3 and y are (N, out); return (N, out).
    ``source_output_error`` is the source's version: find what is wrong with it."""
    ### BEGIN SOLUTION (2.4) hint: dJ/dz3 = dJ/da3 * sigma'(z3), and sigma'(z3) = a3 (1 - a3); keep one entry per output
    return (a3 - y) / a3.shape[0]
    ### END SOLUTION


def hidden_error(dz3, W2, a2):
    """2.4  The hidden error dJ/dz2 from dz3 (N, out), W2 (out, hidden) and a2 = sigma(z2) (N, hidden):
    every output unit sends its error back through its own weight, so dJ/da2 sums over the outputs."""
    ### BEGIN SOLUTION (2.4) hint: dJ/da2 = dz3 @ W2 (a sum over the outputs), then times sigma'(z2)
    return (dz3 @ W2) * a2 * (1 - a2)
    ### END SOLUTION


def standardize_split(x_train, x_test):
    """2.5  D1.F6: standardize both splits per feature (column) with the TRAINING split's mean and
    population standard deviation (ddof=0, as scikit-learn); a constant feature gets scale 1.
    Return (z_train, z_test)."""
    ### BEGIN SOLUTION (2.5) hint: the test split must not leak into the statistics
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std == 0, 1.0, std)
    return (x_train - mean) / std, (x_test - mean) / std
    ### END SOLUTION


def sgd_l2_step(w, grad, lr, weight_decay):
    """2.5  D1.F4 with D1.T1's L2 penalty R = weight_decay / 2 * sum(w^2): one gradient-descent step on
    J + R. Return the new weights (do not modify ``w`` in place)."""
    ### BEGIN SOLUTION (2.5) hint: the penalty's gradient is weight_decay * w
    return w - lr * (grad + weight_decay * w)
    ### END SOLUTION
