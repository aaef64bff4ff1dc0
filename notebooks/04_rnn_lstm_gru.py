# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Recurrent networks: the simple unit, LSTM and GRU (D3.F3, D3.F4, D3.F5, D3.M2, D1.T2)
#
# An MLP or a CNN maps an input of fixed size to an output. Text, speech and sensor readings are
# *sequences* of any length, and what a word means depends on what came before it. A recurrent network
# reads a sequence one step at a time and carries a state vector $h_t$ from step to step; the same
# weights are used at every step, so one small set of parameters handles sequences of any length, and
# $h_t$ is the network's memory of everything it has read so far.
#
# This notebook builds the three recurrent units of document 003 (section 3.2.1) by hand in NumPy,
# holds each to the engine's fused layers (`nn.RNN`, `nn.LSTM`, `nn.GRU`, one kernel per sequence),
# shows what the document's versions would compute, why gates help gradients survive long sequences,
# trains the document's RNN classifier (D3.M2) and ends with dropout made for recurrent networks (D1.T2).

# %%
import os
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.nn.recurrent import variational_mask
from tinygrad_lm.models import rnn
from tinygrad_lm.recipes import rnn as rnn_recipe
from tinygrad_lm.models.mlp import squared_error
FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"  # tiny settings when the test suite runs this
tg.manual_seed(0)
rng = np.random.default_rng(0)
sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
t = tg.tensor

# %% [markdown]
# ## 1. The simple recurrent unit, as the document writes it (D3.F3)
#
# $$h_t = W_{hh}h_{t-1} + W_{xh}x_t + b_h,\qquad o_t = W_{ho}h_t + W_{xx}x_t + b_o,\qquad y_t = \sigma(o_t)$$
#
# with $x_t\in\mathbb R^D$, $h_t\in\mathbb R^H$ and $y_t\in\mathbb R^{D}$. There is no nonlinearity on
# $h_t$, so unrolling gives $h_t = W_{hh}^t h_0 + \sum_{k} W_{hh}^{t-k}(W_{xh}x_k + b_h)$: a *linear*
# system whose state grows or dies out geometrically with the spectral radius of $W_{hh}$. The standard
# (Elman) unit squashes the state, $h_t = \tanh(W_{hh}h_{t-1} + W_{xh}x_t + b_h)$, which keeps it in
# $(-1, 1)^H$. We implement both (`nn.LinearRecurrentCell`, `nn.ElmanCell`); here is the literal loop in
# NumPy against the cells run over a sequence (`models.rnn.run_cell`).

# %%
T, B, D, H = 12, 2, 3, 5
xs = rng.standard_normal((T, B, D))
for cls in (nn.LinearRecurrentCell, nn.ElmanCell):
    cell = cls(D, H).double()
    p = {k: v.numpy() for k, v in cell.named_parameters()}
    h, ys = np.zeros((B, H)), []
    for step in range(T):                                   # the loop, one equation per line
        a = h @ p["weight_hh"].T + xs[step] @ p["weight_xh"].T + p["bias_h"]
        h = a if cls is nn.LinearRecurrentCell else np.tanh(a)
        o = h @ p["weight_ho"].T + xs[step] @ p["weight_xx"].T + p["bias_o"]
        ys.append(sigmoid(o))
    y_engine, h_engine = rnn.run_cell(cell, t(xs))
    np.testing.assert_allclose(np.array(ys), y_engine.numpy(), rtol=1e-12)
    np.testing.assert_allclose(h, h_engine.numpy()[-1], rtol=1e-12)
    print(f"{cls.__name__:>19}: NumPy loop == engine, max |y| diff {np.abs(np.array(ys) - y_engine.numpy()).max():.1e}")

# %% [markdown]
# The outputs $y_t=\sigma(o_t)$ lie in $(0,1)$. For *targets that are numbers* in $(0, 1)$ (a regression)
# document 000's squared error (D0.F2), $L = \tfrac12\sum_i (y_i - \hat y_i)^2$, can score them; its
# gradient with respect to the prediction is simply $\hat y - y$. (For class probabilities it is the
# wrong loss: through the sigmoid its push vanishes on confident mistakes; see erratum D0.F1/F2 and
# notebook 10.) By hand against the engine, on the Elman cell's outputs above:

# %%
y_hat = y_engine.detach().requires_grad_()
target = rng.uniform(0, 1, y_hat.shape)
L = squared_error(y_hat, t(target))                        # D0.F2
L.backward()
np.testing.assert_allclose(L.item(), 0.5 * ((target - y_hat.numpy()) ** 2).sum(), rtol=1e-12)
np.testing.assert_allclose(y_hat.grad.numpy(), y_hat.numpy() - target, rtol=1e-12)
print(f"D0.F2: L = {L.item():.4f}, dL/dy_hat = y_hat - y checked")

# %% [markdown]
# What the missing $\tanh$ costs: with $W_{hh}$ scaled so that its spectral radius is above 1, the
# linear unit's state explodes geometrically while the Elman state stays bounded. (Scaled below 1 the
# linear state would instead forget its past geometrically fast.)

# %%
T = 30
xs = tg.randn(T, 1, 4) * 0.1
fig, ax = plt.subplots(figsize=(5, 3))
norms = {}
for cls in (nn.LinearRecurrentCell, nn.ElmanCell):
    cell = cls(4, 16)
    cell.weight_hh.data *= 6
    radius = np.abs(np.linalg.eigvals(cell.weight_hh.numpy())).max()
    _, hs = rnn.run_cell(cell, xs)
    norms[cls.__name__] = np.linalg.norm(hs.numpy()[:, 0], axis=1)
    ax.semilogy(norms[cls.__name__], label=cls.__name__)
ax.set_title(f"spectral radius of W_hh = {radius:.2f}")
ax.set_xlabel("t"); ax.set_ylabel("|h_t|"); ax.legend(); plt.show()
assert norms["ElmanCell"].max() <= np.sqrt(16)              # tanh keeps every unit in (-1, 1)
assert norms["LinearRecurrentCell"][-1] > 1e3 * norms["LinearRecurrentCell"][0]   # the linear state explodes

# %% [markdown]
# ## 2. The LSTM (D3.F4)
#
# Long short-term memory adds a second state, the cell $c_t$, updated by *addition* rather than by a
# matrix product, and three gates that decide what to forget, what to write and what to show:
#
# $$i_t=\sigma(W_{ii}x_t+b_{ii}+W_{hi}h_{t-1}+b_{hi}),\quad f_t=\sigma(W_{if}x_t+b_{if}+W_{hf}h_{t-1}+b_{hf}),\quad o_t=\sigma(W_{io}x_t+b_{io}+W_{ho}h_{t-1}+b_{ho})$$
# $$g_t=\tanh(W_{ig}x_t+b_{ig}+W_{hg}h_{t-1}+b_{hg}),\qquad c_t=f_t\odot c_{t-1}+i_t\odot g_t,\qquad h_t=o_t\odot\tanh(c_t)$$
#
# Along the cell path $\partial c_t/\partial c_{t-1} = f_t$: a gate near 1 lets information (and its
# gradient) pass unchanged over many steps, which is what the simple unit cannot do. As in PyTorch the
# four input weights are stacked into `weight_ih` of shape $(4H, D)$ in the order $i, f, g, o$, and the
# same for `weight_hh` $(4H, H)$ and both biases. The loop, step by step, against `nn.LSTM`:

# %%
T, B, D, H = 7, 3, 4, 5
lstm = nn.LSTM(D, H).double()
W_ih, W_hh = lstm.weight_ih_l0.numpy(), lstm.weight_hh_l0.numpy()
b = lstm.bias_ih_l0.numpy() + lstm.bias_hh_l0.numpy()
x = rng.standard_normal((T, B, D))
h0, c0 = rng.standard_normal((1, B, H)), rng.standard_normal((1, B, H))
h, c, outs = h0[0], c0[0], []
for step in range(T):
    a = x[step] @ W_ih.T + h @ W_hh.T + b
    i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c + i * g
    h = o * np.tanh(c)
    outs.append(h)
out, (h_n, c_n) = lstm(t(x), (t(h0), t(c0)))
np.testing.assert_allclose(np.array(outs), out.numpy(), rtol=1e-12)
np.testing.assert_allclose(c, c_n.numpy()[0], rtol=1e-12)
print("LSTM: NumPy loop == nn.LSTM, max |diff| =", np.abs(np.array(outs) - out.numpy()).max())

# %% [markdown]
# **Erratum D3.F4.** Document 003 puts a *sigmoid* on the candidate $g_t$ (and calls both $i_t$ and $g_t$
# the "input gate"). A sigmoid candidate lies in $(0, 1)$, so $i_t\odot g_t \ge 0$: starting from
# $c_0 = 0$ the cell can only ever hold non-negative values and can never write a negative memory or
# undo one. Below, the same weights and inputs run through both versions: with tanh the cell state moves
# both ways, with the document's sigmoid it never goes below zero. The document also types three of the
# four input weights $D\times H$ where $W x_t$ with $x_t\in\mathbb R^D$ needs $H\times D$, and gives an
# initial $h_0$ but no $c_0$; the cell state needs its own initial value (zeros by default, as above we
# passed one explicitly), and a different $c_0$ changes the output.

# %%
def lstm_run(x, candidate):
    h, c, cs = np.zeros((1, H)), np.zeros((1, H)), []
    for step in range(len(x)):
        a = x[step] @ W_ih.T + h @ W_hh.T + b
        i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * candidate(a[:, 2 * H:3 * H])
        h = o * np.tanh(c)
        cs.append(c[0])
    return np.array(cs)

x_long = rng.standard_normal((40, 1, D)) * 2
c_tanh, c_sigmoid = lstm_run(x_long, np.tanh), lstm_run(x_long, sigmoid)
assert (c_sigmoid >= 0).all() and (c_tanh < 0).any()
fig, ax = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
ax[0].plot(c_tanh); ax[0].set_title("g = tanh (ours): c_t moves both ways")
ax[1].plot(c_sigmoid); ax[1].set_title("g = sigmoid (document 003): c_t >= 0")
for a_ in ax:
    a_.axhline(0, color="k", lw=0.5); a_.set_xlabel("t")
ax[0].set_ylabel("cell state units"); plt.show()
_, (_, c_other) = lstm(t(x), (t(h0), t(c0 + 1)))
print("a different c0 changes c_T by", np.abs(c_other.numpy() - c_n.numpy()).max().round(3))
assert np.abs(c_other.numpy() - c_n.numpy()).max() > 1e-3   # c0 is a state the output depends on

# %% [markdown]
# The gates of a trained or untrained cell are worth looking at: here the input gate $i_t$ of a fresh
# `LSTMCell` over 25 random steps, recomputed in NumPy from the cell's weights at each step.

# %%
cell = nn.LSTMCell(8, 16)
xg = tg.randn(25, 1, 8)
Wc, Uc, bc = cell.weight_ih.numpy(), cell.weight_hh.numpy(), cell.bias_ih.numpy() + cell.bias_hh.numpy()
state, gates = None, []
for step in range(25):
    hp = np.zeros((1, 16), np.float32) if state is None else state[0].numpy()
    gates.append(sigmoid(xg[step].numpy() @ Wc.T + hp @ Uc.T + bc)[0, :16])   # rows 0..H-1: the input gate
    state = cell(xg[step], state)
plt.figure(figsize=(6, 2.5)); plt.imshow(np.array(gates).T, aspect="auto"); plt.colorbar()
plt.xlabel("t"); plt.ylabel("input gate unit"); plt.show()

# %% [markdown]
# ## 3. The GRU, and which GRU (D3.F5)
#
# The gated recurrent unit keeps one state and two gates: an update gate $z_t$ that mixes old state and
# candidate, and a reset gate $r_t$ that decides how much of the old state the candidate may see.
# Two different models carry the name. **Ours, PyTorch's ("reset after")**:
#
# $$r_t=\sigma(W_{ir}x_t+b_{ir}+W_{hr}h_{t-1}+b_{hr}),\quad z_t=\sigma(W_{iz}x_t+b_{iz}+W_{hz}h_{t-1}+b_{hz})$$
# $$n_t=\tanh\big(W_{in}x_t+b_{in}+r_t\odot(W_{hn}h_{t-1}+b_{hn})\big),\qquad h_t=(1-z_t)\odot n_t+z_t\odot h_{t-1}$$
#
# **Cho et al. (2014), the original ("reset before")**, and the structure document 003 follows:
#
# $$\tilde h_t=\tanh\big(W_{in}x_t+b_{in}+W_{hn}(r_t\odot h_{t-1})+b_{hn}\big)$$
#
# The reset gate multiplies the state *before* the matrix in Cho's form and the matrix's output *after*
# it in ours. They agree when $r_t = 1$ (or $h_{t-1}=0$) and differ otherwise: with the same weights they
# are different functions, and weights trained in one do not carry over to the other. We implement
# PyTorch's form for two reasons. First, $h_{t-1}W_{hh}^\top$ for all three blocks ($r$, $z$, $n$) is one
# matrix product that does not wait for $r_t$; Cho's form needs a second product after $r_t$ is known,
# two dependent products per step on the sequential critical path (this is why cuDNN, and with it PyTorch
# and Keras's `reset_after=True`, use it). Second, it keeps our parameters and numbers interchangeable
# with PyTorch's, which our tests use as the independent reference. The two are reported to train about
# equally well. The update convention is a separate, harmless choice: document 003 (like Chung et al.)
# writes $h_t=(1-z_t)\odot h_{t-1}+z_t\odot\tilde h_t$, which is ours with $z_t$ renamed $1-z_t$.

# %%
T, B, D, H = 20, 1, 4, 6
gru = nn.GRU(D, H).double()
Wi, Wh = gru.weight_ih_l0.numpy(), gru.weight_hh_l0.numpy()
bi, bh = gru.bias_ih_l0.numpy(), gru.bias_hh_l0.numpy()
x = rng.standard_normal((T, B, D))

def gru_run(x, reset, r_override=None):
    h, hs = np.zeros((B, H)), []
    for step in range(len(x)):
        gi, gh = x[step] @ Wi.T + bi, h @ Wh.T + bh         # rows ordered r, z, n, as PyTorch
        r = sigmoid(gi[:, :H] + gh[:, :H]) if r_override is None else r_override
        z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        if reset == "after":                                 # ours: r * (W_hn h + b_hn)
            n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        else:                                                # Cho: W_hn (r * h) + b_hn
            n = np.tanh(gi[:, 2 * H:] + (r * h) @ Wh[2 * H:].T + bh[2 * H:])
        h = (1 - z) * n + z * h
        hs.append(h[0])
    return np.array(hs)

ours, cho = gru_run(x, "after"), gru_run(x, "before")
out, _ = gru(t(x))
np.testing.assert_allclose(ours, out.numpy()[:, 0], rtol=1e-12)
ones = np.ones((B, H))
np.testing.assert_allclose(gru_run(x, "after", ones), gru_run(x, "before", ones), rtol=1e-12)
assert np.abs(ours - cho).max() > 1e-3
print("GRU: NumPy loop == nn.GRU; with r = 1 the two forms agree; with the real r they differ by up to",
      np.abs(ours - cho).max().round(3))
plt.figure(figsize=(6, 3))
plt.plot(ours[:, :2], "-", label=["reset after (ours), unit 0", "unit 1"])
plt.plot(cho[:, :2], "--", label=["reset before (Cho), unit 0", "unit 1"])
plt.xlabel("t"); plt.ylabel("h_t"); plt.legend(fontsize=7); plt.title("same weights, two GRUs"); plt.show()

# %% [markdown]
# **Erratum D3.F5.** The document feeds the candidate $\tilde X_t = 1 - z_t$, a gate value, in place of
# the input $x_t$: the candidate then sees the input only through the gates, which means nothing as a
# model. It also reuses the reset gate's $W_{hr}$ in the candidate, tying two matrices that should be
# separate. Computed literally (with some $H\times H$ matrix for $W_{xh}$, which the document does not
# type), the candidate is a different number from the real one:

# %%
W_xh = rng.standard_normal((H, H)) / np.sqrt(H)
h_prev = ours[4:5]
gi, gh = x[5] @ Wi.T + bi, h_prev @ Wh.T + bh
r, z = sigmoid(gi[:, :H] + gh[:, :H]), sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
n_ours = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
n_document = np.tanh((1 - z) @ W_xh.T + (r * h_prev) @ Wh[:H].T + bh[2 * H:])   # x~ = 1 - z, W_hr reused
print("candidate, ours    :", n_ours.round(3)); print("candidate, document:", n_document.round(3))
assert np.abs(n_ours - n_document).max() > 1e-2
# the update conventions: (1-z) h + z n with z' = 1 - z is ours
np.testing.assert_allclose(z * h_prev + (1 - z) * n_ours, (1 - (1 - z)) * h_prev + (1 - z) * n_ours, rtol=1e-12)

# %% [markdown]
# ## 4. Why gates: gradients through time
#
# Backpropagation through time multiplies one Jacobian per step,
# $\partial h_T/\partial h_t=\prod_{k=t+1}^{T}\partial h_k/\partial h_{k-1}$. For the tanh RNN each factor is
# $\mathrm{diag}(1-h_k^2)W_{hh}$, usually of norm below 1, so the gradient reaching early inputs shrinks
# geometrically; the LSTM's cell path multiplies by $f_t$ instead, and the GRU's by $z_t$ (plus other
# terms), which the network can hold near 1. Below: $\|\partial L/\partial x_t\|$ for a loss on the last
# output only, at initialisation.

# %%
T = 20 if FAST else 40
fig, ax = plt.subplots(figsize=(5, 3))
for cls in (nn.RNN, nn.GRU, nn.LSTM):
    layer = cls(8, 32)
    xv = tg.tensor(np.random.default_rng(0).standard_normal((T, 1, 8)).astype(np.float32), requires_grad=True)
    out, _ = layer(xv)
    out[-1].sum().backward()
    ax.semilogy(np.linalg.norm(xv.grad.numpy()[:, 0], axis=1), label=cls.__name__)
ax.set_xlabel("time step t"); ax.set_ylabel("|dL/dx_t|"); ax.legend(); plt.show()

# %% [markdown]
# The same with hooks, step by step: run the cells (D3.F3, D3.F4) over the sequence and let
# `Tensor.register_hook` record the gradient as backward reaches each step's state: $h_t$ for the RNN, the
# cell state $c_t$ for the LSTM, whose forget gate is set open here ($b_f = 3$, $f_t \approx 0.95$, as
# training learns to keep it when the task needs memory). Then `viz.plot_grad_flow` shows the mean and max
# gradient of each cell's weights.

# %%
from tinygrad_lm import viz

fig, axes = plt.subplots(1, 3, figsize=(12, 3))
lstm_cell = nn.LSTMCell(8, 32)
lstm_cell.bias_ih.data[32:64] = 3.0  # the forget gate's bias (gates in torch's order i, f, g, o)
for name, cell in (("RNN cell (D3.F3)", nn.RNNCell(8, 32)), ("LSTM cell (D3.F4)", lstm_cell)):
    xs, norms, state = t(rng.standard_normal((T, 1, 8)).astype(np.float32)), [np.nan] * T, None  # nan: no gradient
    for step in range(T):
        state = cell(xs[step], state)
        watched = state[1] if isinstance(state, tuple) else state  # c_t for the LSTM, h_t for the RNN
        watched.register_hook(lambda g, step=step, norms=norms: norms.__setitem__(step, np.linalg.norm(g.numpy())))
    (state[0] if isinstance(state, tuple) else state).sum().backward()
    axes[0].semilogy(norms, label=name)
    viz.plot_grad_flow(cell, ax=axes[1 if "RNN" in name else 2])
    axes[1 if "RNN" in name else 2].set_title(name, fontsize=9)
axes[0].set_xlabel("time step t"); axes[0].set_ylabel("|dL/d state_t| (hooks)"); axes[0].legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 5. The document's RNN classifier (D3.M2)
#
# Document 003 (section 4.2) builds `RNN(input 10, hidden 8, 2 layers, batch_first)` followed by a
# `Linear(8 → 2)` applied to the RNN's output at *every* step, with cross-entropy and SGD (learning rate
# 0.01). Each iteration feeds the ten values `[[0, 1, 0, 1, ...]]`, a tensor of shape $(1, 10)$ that its
# comment calls a sequence of length 10, with a hidden state of shape (layers, batch, hidden) $= (2, 1, 8)$,
# scores the output against the label `[[1]]` of shape $(1, 1)$ (which its comment calls a sequence of
# ten classes, one per position), and carries the returned hidden state into the next iteration.
#
# **Erratum D3.M2.** No reading of those shapes runs; below, each one on our engine, and the same call in
# PyTorch, which refuses it too.
# 1. As written: a 2-D input is an *unbatched* sequence, so $(1, 10)$ is one step with ten features, not
#    ten steps; its state must then be 2-D, $(2, 8)$, and the 3-D state is refused.
# 2. With a 2-D state it runs, and the per-step linear layer gives logits $(1, 2)$ against the 2-D label
#    $(1, 1)$; the loss wants one class index per row, shape $(1,)$.
# 3. As a batch of one step, $(1, 1, 10)$: the per-step logits are $(1, 1, 2)$, the loss reads their axis 1
#    as the classes (a single class), and the $(1, 1)$ label does not fit.
# 4. As ten steps of one value, $(1, 10, 1)$, what the comment describes: one feature per step where the
#    network has `input_size=10`.
# 5. The many-to-one reading (the last step's logits $(1, 2)$ against the label $(1,)$) runs once, but the
#    carried hidden state still belongs to the first iteration's graph, which its `backward()` freed: the
#    second `backward()` fails. A fresh state per batch (or `hidden.detach()`) fixes it.
#
# The comment's ten labels and the code's one label also disagree. What we build instead: a many-to-one
# classifier, $\text{logits}=W h^{(2)}_T+b$ on the last step's top-layer state, fed $(B, T, \text{features})$
# with one label per sequence (or the per-step variant with one label per step, shape $(B, T)$), and a
# fresh state for every batch (`models.rnn.RNNClassifier`).

# %%
import torch
CE = tg.nn.functional.cross_entropy
doc = rnn.RNNClassifier(per_step=True)                     # the document's model: Linear at every step
t_rnn, t_fc = torch.nn.RNN(10, 8, 2, batch_first=True), torch.nn.Linear(8, 2)
x_doc = t(np.array([[0, 1, 0, 1, 0, 1, 0, 1, 0, 1]], dtype=np.float32))   # (1, 10)
label = np.array([[1]])                                    # (1, 1)
print("the (1, 10) input gives outputs of shape", tuple(doc.rnn(x_doc)[0].shape), "= one step, not ten")
readings = {"1. (1, 10) input, (2, 1, 8) state": (x_doc, tg.zeros(2, 1, 8)),
            "2. (1, 10) input, (2, 8) state": (x_doc, tg.zeros(2, 8)),
            "3. one batched step, (1, 1, 10)": (x_doc.reshape(1, 1, 10), tg.zeros(2, 1, 8)),
            "4. ten steps of one value, (1, 10, 1)": (x_doc.reshape(1, 10, 1), tg.zeros(2, 1, 8))}
for name, (xr, hr) in readings.items():
    try:
        CE(doc(xr, hr)[0], label)
        raise AssertionError(f"{name} ran")
    except ValueError as e:
        print(f"{name}\n   ours:    {e}")
    try:
        out_torch, _ = t_rnn(torch.tensor(xr.numpy()), torch.tensor(hr.numpy()))
        torch.nn.functional.cross_entropy(t_fc(out_torch), torch.tensor(label))
        raise AssertionError(f"{name} ran in PyTorch")
    except RuntimeError as e:
        print("   PyTorch:", str(e).splitlines()[0][:110])

many = rnn.RNNClassifier()                                 # 5. many-to-one, the state carried over
x1 = x_doc.reshape(1, 1, 10)
logits, hidden = many(x1, tg.zeros(2, 1, 8))
CE(logits, label[0]).backward()                            # the first iteration runs
logits, _ = many(x1, hidden)
try:
    CE(logits, label[0]).backward()
    raise AssertionError("a second backward through the carried state ran")
except RuntimeError as e:
    print("5. second iteration, carried state:", e)
logits, _ = many(x1, hidden.detach())
CE(logits, label[0]).backward()                            # a detached (or fresh) state: it runs
print("   with hidden.detach() it runs")

# %% [markdown]
# The task we give it (`rnn_recipe.digit_mean_task`): ten one-hot digits; the label is 1 when their mean is at
# least 4.5. The network has to keep a running sum in its state. The many-to-one model, trained with the
# document's SGD (learning rate 0.01, plus momentum 0.9 so that a few epochs are enough):

# %%
tg.manual_seed(0)
n_train, epochs = (600, 3) if FAST else (2000, 15)
xtr, ytr = rnn_recipe.digit_mean_task(n_train)
xte, yte = rnn_recipe.digit_mean_task(500, seed=1)
model = rnn.RNNClassifier()
history = rnn_recipe.fit(model, xtr, ytr, epochs=epochs, momentum=0.9, log=None)
acc = rnn_recipe.accuracy(model, xte, yte)
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].plot(history["loss"], "o-"); ax[0].set_ylabel("training cross-entropy")
ax[1].plot(history["accuracy"], "o-"); ax[1].set_ylabel("training accuracy")
for a_ in ax:
    a_.set_xlabel("epoch")
plt.show()
print(f"test accuracy {acc:.3f} on 500 new sequences (chance 0.5)")
assert acc > (0.5 if FAST else 0.8)

# %% [markdown]
# ## 6. Dropout for recurrent networks (D1.T2)
#
# Ordinary dropout draws a new mask for every tensor it touches. Applied to $h_{t-1}$ at every step, a
# new mask per step injects noise along the recurrence that accumulates over the sequence and washes out
# the memory. Gal and Ghahramani (2016) derive dropout for RNNs from variational inference: draw one mask
# per sequence and reuse it at every step,
#
# $$m\sim\mathrm{Bernoulli}(1-p)^{H}/(1-p),\qquad \tilde h_{t-1}=m\odot h_{t-1}\ \text{ for every }t,$$
#
# and likewise one mask $m_x$ on the inputs. Dividing by $1-p$ ("inverted dropout") keeps the expected
# value, so at evaluation time nothing is dropped or rescaled. `nn.LSTM(..., recurrent_dropout=p)` does
# this; we redraw its mask with the same seed and hold its output to the NumPy loop with $m\odot h_{t-1}$:

# %%
T, B, D, H, p = 6, 3, 4, 5, 0.4
vd = nn.LSTM(D, H, recurrent_dropout=p).double()
W_ih, W_hh = vd.weight_ih_l0.numpy(), vd.weight_hh_l0.numpy()
b = vd.bias_ih_l0.numpy() + vd.bias_hh_l0.numpy()
x = rng.standard_normal((T, B, D))
tg.manual_seed(7)
out = vd(t(x))[0].numpy()
tg.manual_seed(7)
m = variational_mask((B, H), p, np.float64)                # the same draw: one mask per sequence
def lstm_loop(x, m):
    h, c, outs = np.zeros((B, H)), np.zeros((B, H)), []
    for step in range(T):
        a = x[step] @ W_ih.T + (m * h) @ W_hh.T + b
        i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        outs.append(h)
    return np.array(outs)

np.testing.assert_allclose(lstm_loop(x, m), out, rtol=1e-12)
assert set(np.unique(m)) <= {0.0, 1 / (1 - p)}
vd.eval()                                                   # evaluation: no mask at all
np.testing.assert_allclose(lstm_loop(x, np.ones((B, H))), vd(t(x))[0].numpy(), rtol=1e-12)
print("variational LSTM == NumPy loop with one mask m per sequence:", m[0].round(2))

# %% [markdown]
# The masks themselves: on a sequence of ones, which features survive at each step. Variational dropout
# (`nn.functional.variational_dropout`) drops the same features all along the sequence; ordinary dropout
# a different set at every step.

# %%
ones = tg.ones(30, 1, 16)
tg.manual_seed(1)
variational = tg.nn.functional.variational_dropout(ones, 0.5).numpy()[:, 0]
standard = tg.nn.functional.dropout(ones, 0.5).numpy()[:, 0]
assert (variational == variational[0]).all() and not (standard == standard[0]).all()
fig, ax = plt.subplots(1, 2, figsize=(10, 2.8), sharey=True)
for a_, mask, name in ((ax[0], variational, "variational (D1.T2): one mask"), (ax[1], standard, "standard: new mask per step")):
    a_.imshow(mask.T, aspect="auto", cmap="gray"); a_.set_title(name); a_.set_xlabel("t")
ax[0].set_ylabel("feature"); plt.show()

# %% [markdown]
# ## 7. The same numbers as PyTorch
#
# Our layers use PyTorch's parameter names, gate order and shapes, so a state dict moves between the two
# as is. A two-layer bidirectional LSTM, loaded into `torch.nn.LSTM`:

# %%
ours = nn.LSTM(4, 6, num_layers=2, bidirectional=True).double()
theirs = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True).double()
theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
x = np.random.default_rng(1).standard_normal((5, 3, 4))
diff = abs(ours(tg.tensor(x))[0].numpy() - theirs(torch.tensor(x))[0].detach().numpy()).max()
assert diff < 1e-12
print("max |ours - torch| =", diff)

# %% [markdown]
# ## Summary
#
# * A recurrent network shares one set of weights across time and carries a state $h_t$. The document's
#   simple unit (D3.F3) has no squashing, so its state is a linear system that explodes or vanishes; the
#   Elman unit adds $\tanh$.
# * The LSTM (D3.F4) adds a cell state updated by addition, gated by $f_t$, so gradients can cross many
#   steps. Its candidate is $\tanh$: the document's sigmoid candidate can never write a negative memory.
# * "GRU" (D3.F5) names two models: Cho's reset-before $W(r\odot h)$ and PyTorch's reset-after
#   $r\odot(Wh+b)$. They agree only at $r=1$. We implement PyTorch's, which needs one matrix product per
#   step and matches PyTorch's weights; the document's $\tilde X_t = 1 - z_t$ input is an error.
# * A sequence classifier is many-to-one (D3.M2): classify the last state, not every step against one
#   label, give the RNN a $(B, T, D)$ input, and start every batch from a fresh (or detached) state;
#   every reading of the document's shapes is refused, by our engine and by PyTorch.
# * Recurrent dropout is variational (D1.T2): one mask per sequence, reused at every step.
# * Every unit here was written as a NumPy loop and matched to the fused engine layer to about $10^{-12}$.

# %% [markdown]
# ## Exercises
#
# Exercise chapter 4 practises this notebook (in `ch04_rnn_lstm_gru.py`):
#
# - **4.1** an LSTM cell step (D3.F4)
# - **4.2** the LSTM cell's backward (D3.F4)
# - **4.3** a GRU cell step, PyTorch's reset-after form (D3.F5)
# - **4.4** a many-to-one RNN classifier (D3.M2, D3.F3)
# - **4.5** variational dropout: one mask per sequence (D1.T2)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 4.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("4.1", lstm_cell)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
