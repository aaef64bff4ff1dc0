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
# # RNN, LSTM and GRU (D3.F3, D3.F4, D3.F5)
#
# **Elman RNN** $h_t=\tanh(W_{ih}x_t+b_{ih}+W_{hh}h_{t-1}+b_{hh})$. The document's *linear* unit (D3.F3) drops the tanh: $h_t=W_{hh}h_{t-1}+W_{xh}x_t+b_h$, $o_t=W_{ho}h_t+W_{xx}x_t+b_o$, $y_t=\sigma(o_t)$ — a linear system whose state grows or dies like $W_{hh}^t$.
#
# **LSTM** $i,f,o=\sigma(\cdot)$, $g=\tanh(\cdot)$ (the document wrongly uses $\sigma$ for $g$), $c_t=f\odot c_{t-1}+i\odot g$, $h_t=o\odot\tanh c_t$.
#
# **GRU** $r,z=\sigma(\cdot)$, $n=\tanh(W_{in}x+b_{in}+r\odot(W_{hn}h+b_{hn}))$, $h_t=(1-z)\odot n+z\odot h_{t-1}$ (PyTorch's convention; the document feeds a meaningless $\tilde x=1-z$ into the candidate).

# %%
import os
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm import nn
FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"
tg.manual_seed(0)

# %% [markdown]
# The linear unit of D3.F3 against the Elman cell: the state norm over time

# %%
T = 30
xs = tg.randn(T, 1, 4) * 0.1
fig, ax = plt.subplots(figsize=(5, 3))
for cls in (nn.LinearRecurrentCell, nn.ElmanCell):
    cell = cls(4, 16)
    cell.weight_hh.data *= 6  # spectral radius above 1
    h, norms = None, []
    for t in range(T):
        y, h = cell(xs[t], h)
        norms.append(float(np.linalg.norm(h.numpy())))
    ax.semilogy(norms, label=cls.__name__)
ax.set_xlabel('t'); ax.set_ylabel('|h_t|'); ax.legend(); plt.show()

# %% [markdown]
# Vanishing gradients: $\|\partial L/\partial x_t\|$ for a loss on the last output only

# %%
T = 40 if not FAST else 20
fig, ax = plt.subplots(figsize=(5, 3))
for cls in (nn.RNN, nn.GRU, nn.LSTM):
    layer = cls(8, 32)
    x = tg.tensor(np.random.default_rng(0).standard_normal((T, 1, 8)).astype(np.float32), requires_grad=True)
    out, _ = layer(x)
    out[-1].sum().backward()
    ax.semilogy(np.linalg.norm(x.grad.numpy()[:, 0], axis=1), label=cls.__name__)
ax.set_xlabel('time step t'); ax.set_ylabel('gradient norm'); ax.legend(); plt.show()

# %% [markdown]
# Gate activations of an LSTM cell over a sequence

# %%
cell = nn.LSTMCell(8, 16)
x = tg.randn(25, 1, 8)
h = c = None
gates = []
W, b = cell.weight_ih.numpy(), cell.bias_ih.numpy() + cell.bias_hh.numpy()
state = None
for t in range(25):
    hp = np.zeros((1, 16), np.float32) if state is None else state[0].numpy()
    a = x[t].numpy() @ W.T + hp @ cell.weight_hh.numpy().T + b
    gates.append(1 / (1 + np.exp(-a[0, :16])))
    state = cell(x[t], state)
plt.figure(figsize=(6, 2.5)); plt.imshow(np.array(gates).T, aspect='auto'); plt.colorbar()
plt.xlabel('t'); plt.ylabel('input gate unit'); plt.show()

# %% [markdown]
# Same numbers as PyTorch: load our weights into torch.nn.LSTM

# %%
import torch
ours = nn.LSTM(4, 6, num_layers=2, bidirectional=True).double()
theirs = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True).double()
theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
x = np.random.default_rng(1).standard_normal((5, 3, 4))
print(abs(ours(tg.tensor(x))[0].numpy() - theirs(torch.tensor(x))[0].detach().numpy()).max())

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
