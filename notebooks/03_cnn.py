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
# # Convolutional networks from scratch (D3.F1, D3.F2, D4.F1, D3.M1, D4.M1, D2.T2)
#
# We write 2-D convolution three ways and check they agree, pool, then train the MNIST-style CNN of
# document 004 (with its erratum mended) on handwritten digits and look inside it.

# %%
import os
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import backend, optim
from tinygrad_lm.data import transforms, vision
from tinygrad_lm.models.cnn import MnistCNN, mnist_loss
from tinygrad_lm.recipes.cnn import evaluate, load_data, train_epoch

FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"
rng = np.random.default_rng(0)
tg.manual_seed(0)


# %% [markdown]
# ## D3.F1: convolution as loops
#
# $Y[b,k,i,j] = \sum_c \sum_n \sum_m X[b, c, i s + n, j s + m]\, K[k, c, n, m]$ — a sum over the input
# channels $c$ and the kernel offsets $n, m$. (The document's version sums over the channel index but
# also uses it as the width offset; see docs/errata.md.) Read literally, it is six nested loops:

# %%
def conv_loops(X, K, stride=1):
    N, C, H, W = X.shape
    Kout, _, KH, KW = K.shape
    OH, OW = (H - KH) // stride + 1, (W - KW) // stride + 1
    Y = np.zeros((N, Kout, OH, OW))
    for b in range(N):
        for k in range(Kout):
            for i in range(OH):
                for j in range(OW):
                    for c in range(C):
                        for n in range(KH):
                            for m in range(KW):
                                Y[b, k, i, j] += X[b, c, i * stride + n, j * stride + m] * K[k, c, n, m]
    return Y

X, K = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3))
Y_loops = conv_loops(X, K, stride=2)


# %% [markdown]
# ### The same sum as one matrix product (im2col)
#
# Unfold every receptive field into a column: `cols[b, (c, n, m), (i, j)]`. Then the sum over
# $c, n, m$ is a matrix product of the weights `(K, C*KH*KW)` with the columns — what the Numba
# and CuPy kernels do, with one BLAS call.

# %%
def im2col(X, KH, KW, stride):
    N, C, H, W = X.shape
    OH, OW = (H - KH) // stride + 1, (W - KW) // stride + 1
    cols = np.empty((N, C, KH, KW, OH, OW))
    for n in range(KH):
        for m in range(KW):
            cols[:, :, n, m] = X[:, :, n:n + stride * OH:stride, m:m + stride * OW:stride]
    return cols.reshape(N, C * KH * KW, OH * OW), (OH, OW)

cols, (OH, OW) = im2col(X, 3, 3, 2)
Y_im2col = (K.reshape(4, -1) @ cols).reshape(2, 4, OH, OW)
Y_engine = F.conv2d(tg.tensor(X), tg.tensor(K), stride=2).numpy()
Y_kernel = backend.kernel("conv2d_forward", impl="cpu")(X, K, (2, 2, 0, 0, 1, 1), 1)[0]
print("loops vs im2col:", np.abs(Y_loops - Y_im2col).max())
print("loops vs engine op:", np.abs(Y_loops - Y_engine).max())
print("loops vs Numba kernel:", np.abs(Y_loops - Y_kernel).max())
assert np.allclose(Y_loops, Y_im2col) and np.allclose(Y_loops, Y_engine) and np.allclose(Y_loops, Y_kernel)

# %% [markdown]
# The backward pass is written by hand too (`tinygrad_lm/ops/conv.py`); `tg.gradcheck` compares it
# with finite differences under a random upstream gradient:

# %%
x = tg.tensor(rng.standard_normal((1, 2, 5, 5)), requires_grad=True)
w = tg.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
print("gradcheck:", tg.gradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=1), [x, w]))

# %% [markdown]
# ## D3.F2: pooling
#
# $Z[i,j] = \max_{n<F_H,\,m<F_W} Y[i s + n, j s + m]$. The stride $s$ matters: the document leaves it
# out, and its output would be as large as its input. With $s = F = 2$ each side halves:

# %%
img = vision.digits28().x_train[:1]
pooled = F.max_pool2d(tg.tensor(img), 2).numpy()
averaged = F.avg_pool2d(tg.tensor(img), 2).numpy()
fig, axes = plt.subplots(1, 3, figsize=(8, 3))
titles = ("input 28x28", "max-pool 2 -> 14x14", "avg-pool 2 -> 14x14")
for ax, a, title in zip(axes, (img, pooled, averaged), titles, strict=True):
    ax.imshow(a[0, 0], cmap="gray_r"); ax.set_title(title); ax.axis("off")
plt.show()

# %% [markdown]
# ## D4.M1: the MNIST-style CNN, mended
#
# **Erratum D4.M1.** Document 004 (section 4.1) runs two unpadded 3x3 convolutions on 28x28 images and
# then flattens with `view(-1, 64*7*7)`. The convolutions leave 64x24x24 = 36 864 values per image, and
# 36 864 = 3136 · 576/49, so the view raises for any batch that is not a multiple of 49; for one that is,
# it silently makes 576/49 times as many rows (49 images give 576 rows), which the loss would then refuse
# against the 49 labels. The pooling that would give 7x7 is missing. The network ends in `log_softmax`
# and is trained with `CrossEntropyLoss`, which applies a second log-softmax: redundant, not wrong, since
# log-softmax is idempotent, so the loss equals `nll_loss` on the log-probabilities. Both, computed
# first; then we add the missing pooling step (adaptive average pooling to 7x7) and score the
# log-softmax with the negative log-likelihood. The data are scikit-learn's 8x8 digits resized to 28x28,
# normalized with the training images' statistics.

# %%
# D4.M1 as the document writes it: two unpadded 3x3 convolutions, then view(-1, 64*7*7), no pooling
doc_net = MnistCNN()
def doc_features(x):
    maps = F.relu(doc_net.conv2(F.relu(doc_net.conv1(x))))           # (B, 64, 24, 24)
    return maps, maps.view(-1, 64 * 7 * 7)
try:
    doc_features(tg.zeros(2, 1, 28, 28))
    raise AssertionError("the view of 2 images ran")
except ValueError as e:
    print("a batch of 2 images:", e)
maps, rows = doc_features(tg.zeros(49, 1, 28, 28))
print("a batch of 49 images: maps", tuple(maps.shape), "->", rows.shape[0], "rows of 64*7*7, not 49")
assert maps.shape[1:] == (64, 24, 24) and rows.shape[0] == 576   # 49 * 36864 / 3136
# log_softmax scored by CrossEntropyLoss (a second log-softmax) equals nll_loss: redundant, not wrong
logits, labels = tg.tensor(rng.standard_normal((8, 10))), rng.integers(0, 10, 8)
log_p = F.log_softmax(logits, dim=1)
np.testing.assert_allclose(F.cross_entropy(log_p, labels).item(), F.nll_loss(log_p, labels).item(), rtol=1e-12)
print("cross_entropy(log_softmax(z)) == nll_loss(log_softmax(z)):", F.nll_loss(log_p, labels).item())

# %%
split, what = load_data("cnn-mnist", "digits", n_train=300 if FAST else None)
model = MnistCNN()
opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
epochs = 1 if FAST else 8
history = []
for epoch in range(epochs):
    loss, acc = train_epoch(model, mnist_loss, opt, split.x_train, split.y_train, 64)
    test_loss, test_acc, preds = evaluate(model, mnist_loss, split.x_test, split.y_test)
    history.append((loss, test_loss, test_acc))
    print(f"epoch {epoch + 1}: train loss {loss:.4f}  test loss {test_loss:.4f}  test accuracy {test_acc:.4f}")
plt.plot([h[0] for h in history], label="train loss"); plt.plot([h[1] for h in history], label="test loss")
plt.xlabel("epoch"); plt.legend(); plt.title(f"D4.M1 on {what}"); plt.show()

# %% [markdown]
# ## What the first layer learned: its 32 filters, and the feature maps of one digit

# %%
filters = model.conv1.weight.numpy()[:, 0]
fig, axes = plt.subplots(2, 16, figsize=(12, 1.8))
for ax, f in zip(axes.flat, filters, strict=True):
    ax.imshow(f, cmap="RdBu"); ax.axis("off")
plt.suptitle("conv1 filters (3x3)"); plt.show()
with tg.no_grad():
    maps = F.relu(model.conv1(tg.tensor(split.x_test[:1]))).numpy()[0]
fig, axes = plt.subplots(2, 8, figsize=(12, 3.2))
for ax, m in zip(axes.flat, maps, strict=False):  # the first 16 of conv1's 32 maps
    ax.imshow(m, cmap="viridis"); ax.axis("off")
plt.suptitle("feature maps after conv1 + ReLU"); plt.show()

# %% [markdown]
# ## Misclassified test digits

# %%
wrong = np.flatnonzero(preds != split.y_test)[:12]
print(f"{len(np.flatnonzero(preds != split.y_test))} of {len(preds)} test digits are wrong")
if len(wrong):
    fig, axes = plt.subplots(1, len(wrong), figsize=(1.4 * len(wrong), 1.8), squeeze=False)
    for ax, i in zip(axes[0], wrong, strict=True):
        ax.imshow(split.x_test[i, 0], cmap="gray_r"); ax.axis("off")
        ax.set_title(f"{split.y_test[i]} -> {preds[i]}", fontsize=9)
    plt.show()

# %% [markdown]
# ## D2.T2: data augmentation
#
# Random crops of the zero-padded image and horizontal flips give the CIFAR-style network (D3.M1)
# new views of each training image. Shown on the **generated** shapes task that stands in for
# CIFAR-10 here (not photographs):

# %%
shapes = vision.shapes(8, 1, seed=0).x_train
augment = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()])
fig, axes = plt.subplots(2, 8, figsize=(12, 3.2))
for ax, a in zip(axes[0], shapes, strict=True):
    ax.imshow(a.transpose(1, 2, 0)); ax.axis("off")
for ax, a in zip(axes[1], augment(shapes), strict=True):
    ax.imshow(a.transpose(1, 2, 0)); ax.axis("off")
plt.suptitle("generated shapes (top) and augmented views (bottom)"); plt.show()

# %% [markdown]
# ## Exercises
#
# Exercise chapter 3 practises this notebook (in `ch03_cnn.py`):
#
# - **3.1** conv2d by loops (stride, padding, dilation) (D3.F1, D4.F1)
# - **3.2** max-pool forward, and backward with ties (D3.F2)
# - **3.3** conv2d by im2col and one matrix product (D3.F1)
# - **3.4** derive: output size of a strided, padded, dilated window (D3.F1, D3.F2)
# - **3.5** erratum hunt: the flatten sizes of D4.M1 and D3.M1 (D4.M1, D3.M1)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 3.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("3.1", conv2d_loops)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
