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
# # 02 · The two-layer network of document 001: backprop by hand and by the engine
#
# The network (D1.F1), with $\sigma$ the sigmoid:
#
# $$z_2 = W_1 x + b_1,\quad a_2 = \sigma(z_2),\quad z_3 = W_2 a_2 + b_2,\quad a_3 = \sigma(z_3)$$
#
# Document 001 scores these sigmoid outputs with the multi-class cross-entropy (D1.F2)
# $J = -\sum_k y_k \log a_{3,k}$, a pairing that does not work (next section). We pair each output with
# its loss: a softmax output with that cross-entropy, or sigmoid outputs with the binary cross-entropy.
# We derive the gradients by hand (D1.F3), write them in plain NumPy, hold them to the engine, and train
# on scikit-learn's handwritten digits.

# %%
import os
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg

FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"  # tiny settings when the test suite runs this
tg.manual_seed(0)
from tinygrad_lm.models import mlp
from tinygrad_lm.recipes import mlp as recipe
from tinygrad_lm.data import StandardScaler
from tinygrad_lm.train import plot_history

# %% [markdown]
# ## Erratum D1.F2: a multi-class cross-entropy on independent sigmoids
#
# Document 001 (section 4.3) ends the network with one sigmoid per output, $a_{3,k} = \sigma(z_{3,k})$,
# and scores it with $J = -\sum_k y_k \log a_{3,k}$. That loss is the cross-entropy of *one*
# distribution over the classes: it assumes the outputs sum to 1, so that raising the true class's
# probability must lower the others. Independent sigmoids do not sum to 1, and the loss only reads the
# true class's output: $\partial J/\partial z_{3,k} = -y_k(1 - a_{3,k})$, exactly 0 for every wrong class.
# Nothing pushes a wrong output down, and raising *every* output lowers the loss: with all outputs near 1
# the loss is near 0 whatever the label, for a network that predicts nothing. With a softmax the same
# loss works: adding one constant to every logit leaves the probabilities, and the loss, unchanged, and
# $\partial J/\partial z_3 = a_3 - y$ pushes the wrong classes down. (Sigmoid outputs pair with the
# binary cross-entropy, which gives the same $a_3 - y$.) We use those two pairings; below, the document's
# loss beside them on one sample of class 0.

# %%
z3 = np.array([[1.0, -0.5, 0.3]])                          # one sample's output logits
y1 = np.array([[1.0, 0.0, 0.0]])                           # its label: class 0
losses = {"document: sigmoid + cross-entropy": lambda z: mlp.cross_entropy(z.sigmoid(), tg.tensor(y1)),
          "softmax + cross-entropy": lambda z: mlp.cross_entropy(z.softmax(-1), tg.tensor(y1)),
          "sigmoid + binary cross-entropy": lambda z: mlp.binary_cross_entropy(z.sigmoid(), tg.tensor(y1))}
print("sigmoid outputs", mlp.sigmoid(z3).round(3), "sum to", mlp.sigmoid(z3).sum().round(3))
grads, raised = {}, {}
for name, loss in losses.items():
    z = tg.tensor(z3, requires_grad=True)
    J = loss(z); J.backward(); grads[name] = z.grad.numpy()[0] + 0.0   # + 0.0: print -0 as 0
    raised[name] = loss(tg.tensor(z3 + 10)).item()          # every logit raised by 10
    print(f"{name:>34}: J = {J.item():.3f}, dJ/dz3 = {grads[name].round(3)}, all logits + 10: J = {raised[name]:.3f}")
doc, soft, bce = losses
assert abs(mlp.sigmoid(z3).sum() - 1) > 0.1                 # not a distribution
assert np.all(grads[doc][1:] == 0) and grads[doc][0] < 0    # wrong classes never pushed down
assert raised[doc] < 1e-4                                   # all outputs near 1: "perfect" loss, no prediction
wrong_label = mlp.cross_entropy(tg.tensor(z3 + 10).sigmoid(), tg.tensor(np.array([[0.0, 1.0, 0.0]]))).item()
assert wrong_label < 1e-4                                   # ... whatever the label
p3 = np.exp(z3) / np.exp(z3).sum()
np.testing.assert_allclose(grads[soft], (p3 - y1)[0], rtol=1e-12)               # a3 - y
np.testing.assert_allclose(raised[soft], losses[soft](tg.tensor(z3)).item(), rtol=1e-12)  # shift-invariant
np.testing.assert_allclose(grads[bce], (mlp.sigmoid(z3) - y1)[0], rtol=1e-12)   # a3 - y
assert np.all(grads[soft][1:] > 0) and np.all(grads[bce][1:] > 0)               # wrong classes pushed down

# %% [markdown]
# ## The gradients, by hand
#
# With a batch of $N$ samples as rows and $J$ averaged over them:
#
# * Output error. For sigmoid outputs with the binary cross-entropy
#   $J = -\sum_k [y_k \log a_k + (1-y_k)\log(1-a_k)]$:
#   $\partial J/\partial a_3 = \dfrac{a_3 - y}{a_3(1-a_3)}$ and $\sigma'(z_3) = a_3(1-a_3)$, so
#   $\partial J/\partial z_3 = a_3 - y$. The same holds for softmax outputs with $J = -\sum_k y_k\log a_k$.
#   (Document 001 mixes the two losses and writes $\frac{y - a}{a(1-a)}$ for $\partial J/\partial z_3$, which
#   divides by $\sigma'$ instead of multiplying and has the sign flipped: see `docs/errata.md`.)
# * $\partial J/\partial W_2 = (\partial J/\partial z_3)^\top a_2$, $\partial J/\partial b_2 = \sum_n \partial J/\partial z_3$
# * $\partial J/\partial a_2 = (\partial J/\partial z_3) W_2$ (the transpose of the forward map), then
#   $\partial J/\partial z_2 = \partial J/\partial a_2 \odot a_2(1-a_2)$
# * $\partial J/\partial W_1 = (\partial J/\partial z_2)^\top x$, $\partial J/\partial b_1 = \sum_n \partial J/\partial z_2$
#
# Here it is in NumPy:

# %%
import inspect
print(inspect.getsource(mlp.two_layer_backprop_by_hand))

# %% [markdown]
# ## Hand versus engine

# %%
split = tg.data.datasets.digits(seed=0)
scaler = StandardScaler().fit(split.x_train)            # statistics of the training split only (D1.F6)
x_train, x_test = scaler.transform(split.x_train).astype(np.float64), scaler.transform(split.x_test).astype(np.float64)
y_train, y_test = np.eye(10)[split.y_train], np.eye(10)[split.y_test]

for output, loss_fn in (("sigmoid", mlp.binary_cross_entropy), ("softmax", mlp.cross_entropy)):
    net = mlp.TwoLayerNet(64, 32, 10, output=output).double()
    xb, yb = x_train[:16], y_train[:16]
    J = loss_fn(net(tg.tensor(xb)), tg.tensor(yb))
    J.backward()
    J_hand, grads = mlp.two_layer_backprop_by_hand(xb, yb, **net.numpy_params(), output=output)
    worst = max(np.abs(grads[k] - p.grad.numpy()).max() for k, p in net.named_parameters())
    print(f"{output:>7}: J engine {J.item():.10f}  J hand {J_hand:.10f}  worst gradient difference {worst:.1e}")

# %% [markdown]
# **Erratum D1.F3.** The document's output error is $\partial J/\partial z_3 = \frac1k\sum_i
# \frac{y_i - a_{3,i}}{a_{3,i}(1 - a_{3,i})}$: one number averaged over the $k$ outputs, each term divided
# by $\sigma' = a(1-a)$ instead of multiplied, with the sign of $y - a$. Term by term against the true
# $a_3 - y$ (sigmoid outputs with the binary cross-entropy), for five outputs: every term points the
# other way and is at least 4 times as large (because $a(1-a) \le 1/4$), so a gradient step along it
# *raises* the loss.

# %%
z3 = np.array([-2.0, -0.5, 0.0, 1.0, 3.0])
y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
a3 = mlp.sigmoid(z3)
true, doc_terms = a3 - y, (y - a3) / (a3 * (1 - a3))
print("true  dJ/dz3 =", np.round(true, 4))
print("doc's terms  =", np.round(doc_terms, 4), "-> its one averaged value:", doc_terms.mean().round(4))
assert np.all(np.sign(doc_terms) == -np.sign(true)) and np.all(np.abs(doc_terms) >= 4 * np.abs(true))
bce = lambda z: -(y * np.log(mlp.sigmoid(z)) + (1 - y) * np.log(1 - mlp.sigmoid(z))).sum()
print(f"J = {bce(z3):.4f}; a step of 0.01 along the true error: {bce(z3 - 0.01 * true):.4f}, "
      f"along the document's: {bce(z3 - 0.01 * doc_terms):.4f}")
assert bce(z3 - 0.01 * true) < bce(z3) < bce(z3 - 0.01 * doc_terms)

# %% [markdown]
# ## Training: NumPy by hand versus the engine
#
# The same network (sigmoid hidden layer, softmax output), the same initial weights and the same
# mini-batches; one copy is trained with the hand-derived gradients and the gradient-descent
# update $w \leftarrow w - \alpha\,\partial J/\partial w$ (D1.F4), the other with `loss.backward()` and
# `tg.optim.SGD`. The two loss curves lie on top of each other.

# %%
epochs, batch, lr = (3, 64, 0.5) if FAST else (30, 64, 0.5)
net = mlp.TwoLayerNet(64, 32, 10, output="softmax").double()
params = net.numpy_params()
opt = tg.optim.SGD(net.parameters(), lr=lr)
loader = tg.data.DataLoader(tg.data.TensorDataset(x_train, y_train), batch_size=batch, shuffle=True, seed=0)
hand_curve, engine_curve = [], []
for _ in range(epochs):
    hand_losses, engine_losses = [], []
    for xb, yb in loader:
        J, grads = mlp.two_layer_backprop_by_hand(xb.numpy(), yb.numpy(), **params, output="softmax")
        params = mlp.gradient_descent_update(params, grads, lr)
        hand_losses.append(J)
        loss = mlp.cross_entropy(net(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
        engine_losses.append(loss.item())
    hand_curve.append(np.mean(hand_losses)); engine_curve.append(np.mean(engine_losses))

plt.plot(range(1, epochs + 1), hand_curve, "o-", label="NumPy, by hand")
plt.plot(range(1, epochs + 1), engine_curve, "x--", label="engine + SGD")
plt.xlabel("epoch"); plt.ylabel("training loss"); plt.legend(); plt.grid(alpha=0.3); plt.show()
print("largest difference between the curves:", np.abs(np.array(hand_curve) - engine_curve).max())
acc = (np.argmax(net(tg.tensor(x_test)).numpy(), 1) == split.y_test).mean()
print(f"engine-trained network (sigmoid hidden layer, softmax output), test accuracy {acc:.3f}")

# %% [markdown]
# ## The digits MLP
#
# `tinygrad-lm train mlp` trains `mlp.MLP` (64 → 128 → 10, ReLU, Adam, batch 32) with a checkpoint
# after every epoch; its recipe, `tinygrad_lm.recipes.mlp`, holds the data and the loop. Here is the same
# training loop, with its curves.

# %%
model, optimizer, loader, (xtr, ytr, xte, yte) = recipe.digits_setup(batch_size=32, seed=0)
history = {"loss": [], "val_loss": [], "accuracy": [], "val_accuracy": []}
for epoch in range(3 if FAST else 30):
    loader.set_epoch(epoch)
    recipe.train_epoch(model, optimizer, loader)
    for prefix, (x, y) in (("", (xtr, ytr)), ("val_", (xte, yte))):
        loss, acc = recipe.evaluate(model, x, y)
        history[prefix + "loss"].append(loss)
        history[prefix + "accuracy"].append(acc)
plot_history(history, title="MLP on digits (validation = test split)")
plt.show()
print(f"test accuracy {history['val_accuracy'][-1]:.4f}")

# %% [markdown]
# ## Looking inside: the summary and the gradient flow
#
# `model.summary(input_size)` (as torchinfo's) lists each layer's output shape and parameters, and
# estimates the memory. `viz.plot_grad_flow` shows the mean and max |gradient| per layer after one
# backward pass: through eight sigmoid layers the gradient shrinks by about 4× per layer (σ' ≤ 1/4), so
# the first layers barely learn; with ReLU it stays level.

# %%
from tinygrad_lm import viz

model.summary((32, 64))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharey=True)
deeps = {}
for ax, act in zip(axes, ("sigmoid", "relu"), strict=True):
    tg.manual_seed(0)
    deep = mlp.MLP(64, (32,) * 8, 10, activation=act)
    tg.nn.functional.cross_entropy(deep(tg.tensor(xtr[:64])), ytr[:64]).backward()
    viz.plot_grad_flow(deep, ax=ax)
    ax.set_title(f"8 hidden layers, {act}", fontsize=9)
    deeps[act] = deep
plt.show()

# %% [markdown]
# `viz.plot_activations` shows why: forward hooks record what each layer outputs. The sigmoid layers'
# outputs gather in a narrow band around 0.5, where every factor σ' is at most 1/4.

# %%
viz.plot_activations(deeps["sigmoid"], tg.tensor(xtr[:256]), names=["1", "7", "13"])
plt.show()

# %% [markdown]
# ## Exercises
#
# Exercise chapter 2 practises this notebook (in `ch02_mlp_backprop.py`):
#
# - **2.1** the two-layer network's forward (D1.F1, D0.F1)
# - **2.2** softmax cross-entropy with label smoothing, and its gradient (D1.F2, D0.F4)
# - **2.3** derive by hand: D1.F3's gradients on a given network (D1.F3)
# - **2.4** erratum hunt: the output and hidden errors (D1.F3)
# - **2.5** standardisation with training statistics; an SGD step with L2 (D1.F6, D1.F4, D1.T1, D2.T4)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 2.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("2.1", two_layer_forward)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
