"""Chapter 4 exercises: RNN, LSTM and GRU cells (notebook 04), in plain NumPy, PyTorch's layouts.

x is (B, D), h and c are (B, H). A cell's weight_ih is (G*H, D), weight_hh (G*H, H), biases (G*H,), with
the gates stacked in PyTorch's order: LSTM i, f, g, o; GRU r, z, n.
Check your work with ``tinygrad-lm exercises check 4.1 --dir .`` (or ``--all``).
"""
import numpy as np


def sigmoid(x):
    """A numerically stable logistic function (given)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """4.1  One LSTM step (D3.F4): gates = x W_ih^T + b_ih + h W_hh^T + b_hh, split into i, f, g, o;

        i, f, o = sigma(.),  g = tanh(.),  c' = f * c + i * g,  h' = o * tanh(c')

    Return (h', c')."""
    ### BEGIN SOLUTION (4.1) hint: the candidate g uses tanh, not sigma (sigma could only add to the cell)
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, g, o = np.split(gates, 4, axis=1)
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_new), c_new
    ### END SOLUTION


def lstm_cell_backward(x, h, c, W_ih, W_hh, b_ih, b_hh, grad_h, grad_c):
    """4.2  The backward of ``lstm_cell``: given dL/dh' (grad_h) and dL/dc' (grad_c), return a dict of
    the gradients with keys "x", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh" (each its input's shape).
    Recompute the forward's intermediates; no autograd engine."""
    ### BEGIN SOLUTION (4.2) hint: c' reaches the loss twice: directly (grad_c) and through h' = o tanh(c')
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    a_i, a_f, a_g, a_o = np.split(gates, 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    tc = np.tanh(f * c + i * g)
    dc_new = grad_c + grad_h * o * (1 - tc ** 2)
    d_gates = np.concatenate([dc_new * g * i * (1 - i), dc_new * c * f * (1 - f), dc_new * i * (1 - g ** 2),
                              grad_h * tc * o * (1 - o)], axis=1)
    return {"x": d_gates @ W_ih, "h": d_gates @ W_hh, "c": dc_new * f, "W_ih": d_gates.T @ x,
            "W_hh": d_gates.T @ h, "b_ih": d_gates.sum(axis=0), "b_hh": d_gates.sum(axis=0)}
    ### END SOLUTION


def gru_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    """4.3  One GRU step (D3.F5) in PyTorch's "reset-after" form, gates r, z, n:

        r = sigma(x W_ir^T + b_ir + h W_hr^T + b_hr),   z = sigma(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)),   h' = (1 - z) * n + z * h

    (W_ir, W_iz, W_in are the three row blocks of W_ih; the same for W_hh and the biases.) Return h'."""
    ### BEGIN SOLUTION (4.3) hint: the reset gate multiplies (h W_hn^T + b_hn), after the product; z keeps the old state
    xr, xz, xn = np.split(x @ W_ih.T + b_ih, 3, axis=1)
    hr, hz, hn = np.split(h @ W_hh.T + b_hh, 3, axis=1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1 - z) * n + z * h
    ### END SOLUTION


def rnn_classifier(x, W_ih, W_hh, b_ih, b_hh, W_fc, b_fc):
    """4.4  D3.M2's classifier, one layer: an Elman RNN h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    from h_0 = 0 over x (B, T, D), then a linear layer W_fc (classes, H), b_fc on the hidden state to give
    logits that are scored against ONE label per sequence. Return the logits (B, classes)."""
    ### BEGIN SOLUTION (4.4) hint: one label per sequence: the classifier reads the last step only
    h = np.zeros((x.shape[0], W_hh.shape[1]))
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
    return h @ W_fc.T + b_fc
    ### END SOLUTION


def variational_dropout(x, p, rng):
    """4.5  D1.T2's variational dropout on a batch of sequences x (B, T, D): ONE Bernoulli mask per
    sequence and feature, drawn from ``rng`` (a numpy Generator), reused at every time step; kept units
    are scaled by 1 / (1 - p) (inverted dropout). p = 0 returns x unchanged. Return the dropped-out x."""
    ### BEGIN SOLUTION (4.5) hint: draw the mask with shape (B, 1, D) so it broadcasts over time
    if p == 0:
        return x
    keep = rng.random((x.shape[0], 1, x.shape[2])) >= p
    return x * keep / (1 - p)
    ### END SOLUTION
