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
# # 01 · Autograd: a graph, its backward by hand, and how to check it
#
# Every tensor operation in `tinygrad_lm` records a node (a `Function`) with a hand-written `forward`
# and `backward`. `loss.backward()` walks those nodes in reverse topological order and applies the
# chain rule: each node receives the gradient of the loss with respect to its output (the
# *upstream* gradient) and turns it into gradients with respect to its inputs.
#
# This notebook builds a small graph, differentiates it by hand and with the engine, checks the
# engine with finite differences (`tg.gradcheck`), and shows why that check must use a **random**
# upstream gradient.

# %%
import os
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg

FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"  # tiny settings when the test suite runs this
tg.manual_seed(0)

# %% [markdown]
# ## A small computational graph
#
# One neuron with two inputs: $n = x_1 w_1 + x_2 w_2 + b$, $o = \tanh(n)$.
# We use float64 so that hand and engine results can be compared to many digits.

# %%
x1, x2 = tg.tensor(2.0, dtype=tg.float64, requires_grad=True), tg.tensor(0.0, dtype=tg.float64, requires_grad=True)
w1, w2 = tg.tensor(-3.0, dtype=tg.float64, requires_grad=True), tg.tensor(1.0, dtype=tg.float64, requires_grad=True)
b = tg.tensor(6.8813735870195432, dtype=tg.float64, requires_grad=True)

n = x1 * w1 + x2 * w2 + b
o = n.tanh()
print("n =", n.item(), " o =", o.item())
print("the node that made o:", o.grad_fn)

# %% [markdown]
# ### Backward by hand
#
# Chain rule, from the output back:
#
# * $\partial o / \partial n = 1 - \tanh^2(n) = 1 - o^2$
# * $n$ is a sum, so each term receives $\partial o/\partial n$ unchanged
# * $\partial (x_1 w_1)/\partial x_1 = w_1$ and $\partial (x_1 w_1)/\partial w_1 = x_1$ (a product swaps its factors)

# %%
do_dn = 1 - o.item() ** 2
by_hand = {"x1": do_dn * w1.item(), "w1": do_dn * x1.item(), "x2": do_dn * w2.item(),
           "w2": do_dn * x2.item(), "b": do_dn}
by_hand

# %% [markdown]
# ### Backward by the engine

# %%
o.backward()
by_engine = {"x1": x1.grad.item(), "w1": w1.grad.item(), "x2": x2.grad.item(), "w2": w2.grad.item(), "b": b.grad.item()}
for k in by_hand:
    print(f"{k:>2}: hand {by_hand[k]: .12f}   engine {by_engine[k]: .12f}")
    assert abs(by_hand[k] - by_engine[k]) < 1e-12

# %% [markdown]
# ## Checking gradients with finite differences
#
# A derivative is a limit: $f'(x) \approx \dfrac{f(x+\varepsilon) - f(x-\varepsilon)}{2\varepsilon}$ (central
# differences, error $O(\varepsilon^2)$). Too large an $\varepsilon$ and the truncation error shows; too small and
# float64 round-off ($\approx 10^{-16} / \varepsilon$) takes over. The plot shows the error of the estimate
# of $\tanh'(0.5)$ against $\varepsilon$.

# %%
eps = np.logspace(-14, -1, 40)
x0 = 0.5
exact = 1 - np.tanh(x0) ** 2
err = np.abs((np.tanh(x0 + eps) - np.tanh(x0 - eps)) / (2 * eps) - exact)
plt.loglog(eps, err, "o-")
plt.xlabel("epsilon"); plt.ylabel("|central difference - exact|"); plt.title("finite-difference error")
plt.grid(alpha=0.3); plt.show()
print("best epsilon ~", eps[err.argmin()])


# %% [markdown]
# `tg.gradcheck(fn, inputs)` does this for every element of every input that requires a
# gradient, and compares with the engine's backward. It reports the worst element when they disagree.

# %%
def layer(x, W, b):
    return tg.softmax((x @ W.T + b).tanh(), dim=-1)

shape_x, shape_W = (4, 3) if FAST else (8, 5), (6, 3) if FAST else (7, 5)
x = tg.tensor(np.random.default_rng(0).standard_normal(shape_x), requires_grad=True)
W = tg.tensor(np.random.default_rng(1).standard_normal(shape_W), requires_grad=True)
bias = tg.tensor(np.random.default_rng(2).standard_normal(shape_W[0]), requires_grad=True)
print("full check:", tg.gradcheck(layer, [x, W, bias]))
print("directional check (one random direction, two evaluations):", tg.gradcheck(layer, [x, W, bias], mode="directional"))

# %% [markdown]
# ## Why the upstream gradient must be random
#
# A tempting shortcut is to check the gradient of `fn(x).sum()`, i.e. an upstream gradient of all
# ones. For softmax that check is blind: the outputs of a softmax always sum to 1, so
# $\sum_i \mathrm{softmax}(x)_i$ does not depend on $x$ and its true gradient is **zero**. A softmax whose
# backward is completely broken (here: returns zeros) passes it.

# %%
from tinygrad_lm.ops.activation import Softmax


class BrokenSoftmax(Softmax):
    """The forward of softmax, with a backward that forgot everything."""

    def backward(self, g):
        return g * 0


def broken_softmax(x):
    return BrokenSoftmax.apply(x, dim=-1)


def sum_upstream_check(fn, x, eps=1e-6):
    """Analytic gradient of fn(x).sum() against central differences of the same sum."""
    x = tg.tensor(x.numpy(), requires_grad=True)
    fn(x).sum().backward()
    numeric = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        plus, minus = x.numpy().copy(), x.numpy().copy()
        plus[i] += eps
        minus[i] -= eps
        numeric[i] = (fn(tg.tensor(plus)).sum().item() - fn(tg.tensor(minus)).sum().item()) / (2 * eps)
    return np.abs(x.grad.numpy() - numeric).max()


z = tg.tensor(np.random.default_rng(3).standard_normal((3, 5)), requires_grad=True)
print("sum-upstream check, worst error:", sum_upstream_check(broken_softmax, z), "-> passes")
try:
    tg.gradcheck(broken_softmax, [z])
    print("random-upstream gradcheck passed (it should not)")
except tg.GradcheckError as e:
    print("random-upstream gradcheck catches it:\n ", e)
print("the real softmax passes both:", sum_upstream_check(lambda t: tg.softmax(t, dim=-1), z) < 1e-8,
      tg.gradcheck(lambda t: tg.softmax(t, dim=-1), [z]))

# %% [markdown]
# With a random upstream $u$, the check compares $\nabla_x \langle u, f(x)\rangle = J^\top u$ with its
# finite-difference estimate. A wrong Jacobian $J$ shows up for almost every $u$, whereas $u = \mathbf{1}$
# only probes $J^\top \mathbf{1}$, which for softmax is zero whatever the backward does.

# %% [markdown]
# ## Seeing the graph, and hooking into it
#
# `viz.draw_graph(tensor, model)` draws the graph behind a tensor: a box per `Function`, an ellipse per
# leaf (parameters named by their module path), each with its shape and dtype and, after
# `backward(retain_graph=True)`, the norm of its gradient. Hooks, with PyTorch's names, watch a forward and
# a backward pass: `register_forward_hook` sees each layer's output, `register_full_backward_hook` the
# gradients at its input and output, `Tensor.register_hook` the gradient reaching one tensor.

# %%
from tinygrad_lm import nn, viz

net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
for name, layer in net.named_children():
    layer.register_forward_hook(lambda m, args, out, name=name: print(f"forward  {name}: output {out.shape}"))
    layer.register_full_backward_hook(
        lambda m, gin, gout, name=name: print(
            f"backward {name}: |grad_output| = {gout[0].pow(2).sum().sqrt().item():.3f}"))
x = tg.randn(2, 3, requires_grad=True)
x.register_hook(lambda g: print("dL/dx reaches x:", g.shape))
loss = net(x).pow(2).mean()
loss.backward(retain_graph=True)
graph = viz.draw_graph(loss, model=net)
graph

# %% [markdown]
# ## Exercises
#
# Exercise chapter 1 practises this notebook (in `ch01_autograd.py`):
#
# - **1.1** Mul, Exp and Sum: forward and backward, with broadcasting (D2.F1)
# - **1.2** MatMul: forward and backward (D2.F1)
# - **1.3** Sigmoid, Tanh and ReLU with their derivatives (D1.F5)
# - **1.4** erratum hunt: L2 normalisation of a zero vector (D2.F1)
# - **1.5** derive by hand: the chain rule with two paths (D2.F1)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 1.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("1.1", Mul, Exp, Sum)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
