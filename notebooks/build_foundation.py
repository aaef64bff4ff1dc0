"""Write notebooks/01_autograd.ipynb and notebooks/02_mlp_backprop.ipynb (without outputs).

Run ``python notebooks/build_foundation.py`` after editing the cells below.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SETUP = """import os
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg

FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"  # tiny settings when the test suite runs this
tg.manual_seed(0)"""

AUTOGRAD = [
    new_markdown_cell("""# 01 · Autograd: a graph, its backward by hand, and how to check it

Every tensor operation in `tinygrad_lm` records a node (a `Function`) with a hand-written `forward`
and `backward`. `loss.backward()` walks those nodes in reverse topological order and applies the
chain rule: each node receives the gradient of the loss with respect to its output (the
*upstream* gradient) and turns it into gradients with respect to its inputs.

This notebook builds a small graph, differentiates it by hand and with the engine, checks the
engine with finite differences (`tg.gradcheck`), and shows why that check must use a **random**
upstream gradient."""),
    new_code_cell(SETUP),
    new_markdown_cell("""## A small computational graph

One neuron with two inputs: $n = x_1 w_1 + x_2 w_2 + b$, $o = \\tanh(n)$.
We use float64 so that hand and engine results can be compared to many digits."""),
    new_code_cell("""x1, x2 = tg.tensor(2.0, dtype=tg.float64, requires_grad=True), tg.tensor(0.0, dtype=tg.float64, requires_grad=True)
w1, w2 = tg.tensor(-3.0, dtype=tg.float64, requires_grad=True), tg.tensor(1.0, dtype=tg.float64, requires_grad=True)
b = tg.tensor(6.8813735870195432, dtype=tg.float64, requires_grad=True)

n = x1 * w1 + x2 * w2 + b
o = n.tanh()
print("n =", n.item(), " o =", o.item())
print("the node that made o:", o.grad_fn)"""),
    new_markdown_cell("""### Backward by hand

Chain rule, from the output back:

* $\\partial o / \\partial n = 1 - \\tanh^2(n) = 1 - o^2$
* $n$ is a sum, so each term receives $\\partial o/\\partial n$ unchanged
* $\\partial (x_1 w_1)/\\partial x_1 = w_1$ and $\\partial (x_1 w_1)/\\partial w_1 = x_1$ (a product swaps its factors)"""),
    new_code_cell("""do_dn = 1 - o.item() ** 2
by_hand = {"x1": do_dn * w1.item(), "w1": do_dn * x1.item(), "x2": do_dn * w2.item(),
           "w2": do_dn * x2.item(), "b": do_dn}
by_hand"""),
    new_markdown_cell("### Backward by the engine"),
    new_code_cell("""o.backward()
by_engine = {"x1": x1.grad.item(), "w1": w1.grad.item(), "x2": x2.grad.item(), "w2": w2.grad.item(), "b": b.grad.item()}
for k in by_hand:
    print(f"{k:>2}: hand {by_hand[k]: .12f}   engine {by_engine[k]: .12f}")
    assert abs(by_hand[k] - by_engine[k]) < 1e-12"""),
    new_markdown_cell("""## Checking gradients with finite differences

A derivative is a limit: $f'(x) \\approx \\dfrac{f(x+\\varepsilon) - f(x-\\varepsilon)}{2\\varepsilon}$ (central
differences, error $O(\\varepsilon^2)$). Too large an $\\varepsilon$ and the truncation error shows; too small and
float64 round-off ($\\approx 10^{-16} / \\varepsilon$) takes over. The plot shows the error of the estimate
of $\\tanh'(0.5)$ against $\\varepsilon$."""),
    new_code_cell("""eps = np.logspace(-14, -1, 40)
x0 = 0.5
exact = 1 - np.tanh(x0) ** 2
err = np.abs((np.tanh(x0 + eps) - np.tanh(x0 - eps)) / (2 * eps) - exact)
plt.loglog(eps, err, "o-")
plt.xlabel("epsilon"); plt.ylabel("|central difference - exact|"); plt.title("finite-difference error")
plt.grid(alpha=0.3); plt.show()
print("best epsilon ~", eps[err.argmin()])"""),
    new_markdown_cell("""`tg.gradcheck(fn, inputs)` does this for every element of every input that requires a
gradient, and compares with the engine's backward. It reports the worst element when they disagree."""),
    new_code_cell("""def layer(x, W, b):
    return tg.softmax((x @ W.T + b).tanh(), dim=-1)

shape_x, shape_W = (4, 3) if FAST else (8, 5), (6, 3) if FAST else (7, 5)
x = tg.tensor(np.random.default_rng(0).standard_normal(shape_x), requires_grad=True)
W = tg.tensor(np.random.default_rng(1).standard_normal(shape_W), requires_grad=True)
bias = tg.tensor(np.random.default_rng(2).standard_normal(shape_W[0]), requires_grad=True)
print("full check:", tg.gradcheck(layer, [x, W, bias]))
print("directional check (one random direction, two evaluations):", tg.gradcheck(layer, [x, W, bias], mode="directional"))"""),
    new_markdown_cell("""## Why the upstream gradient must be random

A tempting shortcut is to check the gradient of `fn(x).sum()`, i.e. an upstream gradient of all
ones. For softmax that check is blind: the outputs of a softmax always sum to 1, so
$\\sum_i \\mathrm{softmax}(x)_i$ does not depend on $x$ and its true gradient is **zero**. A softmax whose
backward is completely broken (here: returns zeros) passes it."""),
    new_code_cell("""from tinygrad_lm.ops.activation import Softmax


class BrokenSoftmax(Softmax):
    \"\"\"The forward of softmax, with a backward that forgot everything.\"\"\"

    def backward(self, g):
        return g * 0


def broken_softmax(x):
    return BrokenSoftmax.apply(x, dim=-1)


def sum_upstream_check(fn, x, eps=1e-6):
    \"\"\"Analytic gradient of fn(x).sum() against central differences of the same sum.\"\"\"
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
    print("random-upstream gradcheck catches it:\\n ", e)
print("the real softmax passes both:", sum_upstream_check(lambda t: tg.softmax(t, dim=-1), z) < 1e-8,
      tg.gradcheck(lambda t: tg.softmax(t, dim=-1), [z]))"""),
    new_markdown_cell("""With a random upstream $u$, the check compares $\\nabla_x \\langle u, f(x)\\rangle = J^\\top u$ with its
finite-difference estimate. A wrong Jacobian $J$ shows up for almost every $u$, whereas $u = \\mathbf{1}$
only probes $J^\\top \\mathbf{1}$, which for softmax is zero whatever the backward does."""),
    new_markdown_cell("""## Exercises

Exercise chapter 1 practises this notebook (in `ch01_autograd.py`):

- **1.1** Mul, Exp and Sum: forward and backward, with broadcasting (D2.F1)
- **1.2** MatMul: forward and backward (D2.F1)
- **1.3** Sigmoid, Tanh and ReLU with their derivatives (D1.F5)
- **1.4** erratum hunt: L2 normalisation of a zero vector (D2.F1)
- **1.5** derive by hand: the chain rule with two paths (D2.F1)

Write the student files into a folder, fill in the functions, then check them:

```bash
tinygrad-lm exercises start DIR
tinygrad-lm exercises check 1.1 --dir DIR     # or: check --all --dir DIR
```

or from a notebook: `from tinygrad_lm.exercises import check; check("1.1", Mul, Exp, Sum)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md)."""),
]

MLP = [
    new_markdown_cell("""# 02 · The two-layer network of document 001: backprop by hand and by the engine

The network (D1.F1), with $\\sigma$ the sigmoid:

$$z_2 = W_1 x + b_1,\\quad a_2 = \\sigma(z_2),\\quad z_3 = W_2 a_2 + b_2,\\quad a_3 = \\sigma(z_3)$$

and the cross-entropy (D1.F2) $J = -\\sum_k y_k \\log a_{3,k}$. We derive the gradients by hand
(D1.F3), write them in plain NumPy, hold them to the engine, and train on scikit-learn's
handwritten digits."""),
    new_code_cell(SETUP + """
from tinygrad_lm.models import mlp
from tinygrad_lm.recipes import mlp as recipe
from tinygrad_lm.data import StandardScaler
from tinygrad_lm.train import plot_history"""),
    new_markdown_cell("""## The gradients, by hand

With a batch of $N$ samples as rows and $J$ averaged over them:

* Output error. For sigmoid outputs with the binary cross-entropy
  $J = -\\sum_k [y_k \\log a_k + (1-y_k)\\log(1-a_k)]$:
  $\\partial J/\\partial a_3 = \\dfrac{a_3 - y}{a_3(1-a_3)}$ and $\\sigma'(z_3) = a_3(1-a_3)$, so
  $\\partial J/\\partial z_3 = a_3 - y$. The same holds for softmax outputs with $J = -\\sum_k y_k\\log a_k$.
  (Document 001 mixes the two losses and writes $\\frac{y - a}{a(1-a)}$ for $\\partial J/\\partial z_3$, which
  divides by $\\sigma'$ instead of multiplying and has the sign flipped: see `docs/errata.md`.)
* $\\partial J/\\partial W_2 = (\\partial J/\\partial z_3)^\\top a_2$, $\\partial J/\\partial b_2 = \\sum_n \\partial J/\\partial z_3$
* $\\partial J/\\partial a_2 = (\\partial J/\\partial z_3) W_2$ (the transpose of the forward map), then
  $\\partial J/\\partial z_2 = \\partial J/\\partial a_2 \\odot a_2(1-a_2)$
* $\\partial J/\\partial W_1 = (\\partial J/\\partial z_2)^\\top x$, $\\partial J/\\partial b_1 = \\sum_n \\partial J/\\partial z_2$

Here it is in NumPy:"""),
    new_code_cell("""import inspect
print(inspect.getsource(mlp.two_layer_backprop_by_hand))"""),
    new_markdown_cell("## Hand versus engine"),
    new_code_cell("""split = tg.data.datasets.digits(seed=0)
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
    print(f"{output:>7}: J engine {J.item():.10f}  J hand {J_hand:.10f}  worst gradient difference {worst:.1e}")"""),
    new_markdown_cell("""The document's output error, $\\frac{y - a_3}{a_3(1 - a_3)}$, against the true one, $a_3 - y$,
for a few outputs:"""),
    new_code_cell("""z3 = np.array([-2.0, -0.5, 0.0, 1.0, 3.0])
y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
a3 = mlp.sigmoid(z3)
print("true  dJ/dz3 =", np.round(a3 - y, 4))
print("doc's dJ/dz3 =", np.round((y - a3) / (a3 * (1 - a3)), 4))"""),
    new_markdown_cell("""## Training: NumPy by hand versus the engine

The same network (sigmoid hidden layer, softmax output), the same initial weights and the same
mini-batches; one copy is trained with the hand-derived gradients and the gradient-descent
update $w \\leftarrow w - \\alpha\\,\\partial J/\\partial w$ (D1.F4), the other with `loss.backward()` and
`tg.optim.SGD`. The two loss curves lie on top of each other."""),
    new_code_cell("""epochs, batch, lr = (3, 64, 0.5) if FAST else (30, 64, 0.5)
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
print(f"sigmoid network, test accuracy {acc:.3f}")"""),
    new_markdown_cell("""## The digits MLP

`tinygrad-lm train mlp` trains `mlp.MLP` (64 → 128 → 10, ReLU, Adam, batch 32) with a checkpoint
after every epoch; its recipe, `tinygrad_lm.recipes.mlp`, holds the data and the loop. Here is the same
training loop, with its curves."""),
    new_code_cell("""model, optimizer, loader, (xtr, ytr, xte, yte) = recipe.digits_setup(batch_size=32, seed=0)
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
print(f"test accuracy {history['val_accuracy'][-1]:.4f}")"""),
    new_markdown_cell("""## Exercises

Exercise chapter 2 practises this notebook (in `ch02_mlp_backprop.py`):

- **2.1** the two-layer network's forward (D1.F1, D0.F1)
- **2.2** softmax cross-entropy with label smoothing, and its gradient (D1.F2, D0.F4)
- **2.3** derive by hand: D1.F3's gradients on a given network (D1.F3)
- **2.4** erratum hunt: the output and hidden errors (D1.F3)
- **2.5** standardisation with training statistics; an SGD step with L2 (D1.F6, D1.F4, D1.T1, D2.T4)

Write the student files into a folder, fill in the functions, then check them:

```bash
tinygrad-lm exercises start DIR
tinygrad-lm exercises check 2.1 --dir DIR     # or: check --all --dir DIR
```

or from a notebook: `from tinygrad_lm.exercises import check; check("2.1", two_layer_forward)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md)."""),
]


def write(cells, name):
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    write(AUTOGRAD, "01_autograd.ipynb")
    write(MLP, "02_mlp_backprop.ipynb")
