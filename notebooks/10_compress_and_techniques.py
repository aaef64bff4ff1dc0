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
# # 10 — Making a model smaller, and other techniques
#
# The inventory's technique items on one small task, scikit-learn's 8x8 digits, with MLPs:
#
# * **D0.T1** the four-step pipeline: preprocess → train → optimize (prune / quantize / distill) → infer
# * **D0.T2** magnitude pruning, **D0.T3** int8 quantization, **D0.T4** knowledge distillation
# * **D1.T4 / D4.T2** a GAN, and generated digits as extra training data
# * **D3.T1** metrics and a confusion matrix, **D3.T3** saliency, **D2.T5** a profile of a training step
#
# `FAST=1` (used by the test suite) shrinks every loop.

# %%
import os
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.compress import magnitude_prune, quantize_dynamic, model_size_bytes
from tinygrad_lm.models.mlp import MLP
from tinygrad_lm.train.metrics import evaluate
from tinygrad_lm.recipes.pipeline import preprocess, fit, distill_student, run_pipeline
from tinygrad_lm.models import gan as G
from tinygrad_lm.train import metrics
from tinygrad_lm.train.profiler import profile
from tinygrad_lm.train.saliency import saliency

FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"
EPOCHS = 3 if FAST else 20
(x_train, y_train, x_test, y_test), report = preprocess()
print(report)

# %% [markdown]
# ## 1. The pipeline in one call (D0.T1)
# `run_pipeline` cleans and standardizes the data, trains a teacher, prunes it (global magnitude,
# then fine-tunes with the masks re-applied after every step), quantizes weights to int8, distills a
# 16-unit student, and evaluates each.

# %%
result = run_pipeline(epochs=EPOCHS, distill_epochs=EPOCHS, finetune_epochs=1 if FAST else 3)

# %% [markdown]
# ## 2. Pruning: accuracy against sparsity (D0.T2)
# Prune the teacher to growing sparsity, once without and once with a short masked fine-tuning.
# $M_{ij} = \mathbb{1}[|W_{ij}| > \tau]$, where $\tau$ is the $k$-th smallest magnitude.

# %%
import copy
tg.manual_seed(0)
teacher = fit(MLP(64, (128,), 10), (x_train, y_train), EPOCHS)
amounts = [0.0, 0.5, 0.8, 0.9, 0.95] if not FAST else [0.0, 0.8, 0.95]
plain, tuned = [], []
for a in amounts:
    m = copy.deepcopy(teacher)
    masks = magnitude_prune(m, a, scope="global")
    plain.append(evaluate(m, x_test, y_test)[1])
    fit(m, (x_train, y_train), 1, after_step=masks.apply)
    tuned.append(evaluate(m, x_test, y_test)[1])
plt.plot(amounts, plain, "o-", label="pruned")
plt.plot(amounts, tuned, "s-", label="pruned + 1 epoch masked fine-tuning")
plt.xlabel("fraction of weights removed"); plt.ylabel("test accuracy"); plt.legend(); plt.show()

# %% [markdown]
# ## 3. Quantization (D0.T3): int8 weights, int32 accumulation
# Per-channel symmetric weights ($s_o = \max_i |W_{oi}| / 127.5$, $z = 0$) and per-tensor asymmetric inputs.

# %%
q = quantize_dynamic(teacher)
print(q)
print(f"float32: {model_size_bytes(teacher)} bytes, acc {evaluate(teacher, x_test, y_test)[1]:.4f}")
print(f"int8:    {model_size_bytes(q)} bytes, acc {evaluate(q, x_test, y_test)[1]:.4f}")
w = teacher[0].weight.numpy().ravel()
plt.hist(w, bins=80, alpha=0.6, label="float weights")
plt.hist(q[0].dequantized_weight().ravel(), bins=80, alpha=0.6, label="int8 grid (dequantized)")
plt.legend(); plt.show()

# %% [markdown]
# ## 4. Distillation (D0.T4)
# $L = \alpha T^2\,\mathrm{KL}(\mathrm{softmax}(z_t/T)\,\|\,\mathrm{softmax}(z_s/T)) + (1-\alpha)\,\mathrm{CE}(z_s, y)$

# %%
for hidden in ([8, 16] if FAST else [4, 8, 16, 32]):
    student = distill_student(teacher, x_train, y_train, hidden, EPOCHS)
    tg.manual_seed(1)
    alone = fit(MLP(64, (hidden,), 10), (x_train, y_train), EPOCHS, lr=3e-3)
    print(f"hidden {hidden:3d}: distilled {evaluate(student, x_test, y_test)[1]:.4f}   "
          f"labels only {evaluate(alone, x_test, y_test)[1]:.4f}   ({model_size_bytes(student)} bytes)")

# %% [markdown]
# ## 5. Metrics and the confusion matrix (D3.T1)

# %%
pred = teacher(x_test).numpy().argmax(1)
print(metrics.classification_report(y_test.numpy(), pred))
C = metrics.confusion_matrix(y_test.numpy(), pred)
plt.imshow(C, cmap="Blues"); plt.colorbar(); plt.xlabel("predicted"); plt.ylabel("true")
for i in range(10):
    for j in range(10):
        if C[i, j]:
            plt.text(j, i, C[i, j], ha="center", va="center", fontsize=7)
plt.show()

# %% [markdown]
# ## 6. Saliency (D3.T3): $S_i = |\partial z_c / \partial x_i|$

# %%
maps = saliency(teacher, x_test[:6])
raw = tg.data.datasets.digits().x_test[:6]
fig, axes = plt.subplots(2, 6, figsize=(10, 3.5))
for k in range(6):
    axes[0, k].imshow(raw[k].reshape(8, 8), cmap="gray_r"); axes[0, k].axis("off")
    axes[1, k].imshow(maps[k].reshape(8, 8), cmap="hot"); axes[1, k].axis("off")
plt.show()

# %% [markdown]
# ## 7. A GAN on a ring of Gaussians (D1.T4)
# $\min_G \max_D\ \mathbb{E}_x[\log \sigma(D(x))] + \mathbb{E}_z[\log(1-\sigma(D(G(z))))]$,
# with the generator trained on the non-saturating $-\log\sigma(D(G(z)))$.

# %%
ring = G.ring_of_gaussians(4096)
gan, hist = G.train_gan(ring, steps=200 if FAST else 1500, batch_size=128, latent_dim=4, lr=1e-3)
s = gan.sample(1000)
fig, ax = plt.subplots(1, 2, figsize=(9, 4))
ax[0].scatter(*ring[:1000].T, s=2, label="data"); ax[0].scatter(*s.T, s=2, label="generated"); ax[0].legend()
ax[1].plot(hist["d_loss"], label="D"); ax[1].plot(hist["g_loss"], label="G"); ax[1].legend(); plt.show()

# %% [markdown]
# ## 8. Generated digits as extra training data (D4.T2)
# A conditional GAN trained on a *small* labelled set (20 per class); a classifier trained on those
# alone, and on them plus 50 generated digits per class. Whether it helps is measured, not assumed.

# %%
split = tg.data.datasets.digits()
idx = np.concatenate([np.flatnonzero(split.y_train == c)[:20] for c in range(10)])
xs, ys = split.x_train[idx] / 8 - 1, split.y_train[idx]
cgan, _ = G.train_gan(xs, ys, num_classes=10, steps=300 if FAST else 2000, latent_dim=16, hidden=(128, 128),
                      output="tanh", lr=1e-3)
xg, yg = G.generated_training_set(cgan, 10, 50)
fig, axes = plt.subplots(2, 10, figsize=(10, 2.2))
for c in range(10):
    for r in range(2):
        axes[r, c].imshow(xg[c * 50 + r].reshape(8, 8), cmap="gray_r"); axes[r, c].axis("off")
plt.show()
xt, yt = tg.tensor((split.x_test / 8 - 1).astype(np.float32)), tg.tensor(split.y_test)
for name, (xa, ya) in {"real only": (xs, ys),
                       "real + generated": (np.concatenate([xs, xg]), np.concatenate([ys, yg]))}.items():
    tg.manual_seed(0)
    clf = fit(MLP(64, (64,), 10), (tg.tensor(xa.astype(np.float32)), tg.tensor(ya)), 10 if FAST else 40)
    print(f"{name:18s} test accuracy {evaluate(clf, xt, yt)[1]:.4f}")

# %% [markdown]
# ## 9. Where does a training step spend its time? (D2.T5)

# %%
model = MLP(64, (128,), 10)
with profile() as prof:
    for _ in range(5):
        loss = nn.functional.cross_entropy(model(x_train[:256]), y_train[:256])
        loss.backward()
print(prof.table())

# %% [markdown]
# ## Exercises
#
# Exercise chapters 9 and 10 practise this notebook (in `ch09_compress.py`, `ch10_techniques.py`):
#
# - **9.1** magnitude-pruning masks, per tensor and global (D0.T2, D4.T3)
# - **9.2** int8 affine quantisation: scale, zero point, round trip (D0.T3, D3.T2, D4.T3)
# - **9.3** the distillation loss with temperature (D0.T4, D4.T3)
# - **9.4** erratum hunt: what pruning and quantisation save (D4.T3, D0.T2, D0.T3)
# - **10.1** precision, recall and F1 per class, with 0/0 (D3.T1)
# - **10.2** data-parallel all-reduce with unequal shards (D1.T5, D4.T1, D3.T2)
# - **10.3** GAN losses: discriminator and non-saturating generator (D1.T4, D4.T2)
# - **10.4** warm-up then cosine learning-rate schedule (D2.T3)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 9.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("9.1", magnitude_prune_mask, global_prune_masks)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
