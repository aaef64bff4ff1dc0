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
# A trained network is rarely the end of the work. Before training, the data must be clean; after it, the model is often too large or too slow for where it will run, and its predictions need to be checked and explained. The source documents list these techniques in passing, mostly as claims ("pruning makes a model more efficient and more accurate"). Here each one is run and *measured* on one small task, scikit-learn's 8x8 digits, with MLPs small enough that every experiment takes seconds:
#
# * **D0.T5** cleaning the training data, **D0.F2** the squared-error loss (and why a classifier should not use it)
# * **D0.T1** the four-step pipeline: preprocess → train → optimize (prune / quantize / distill) → infer
# * **D0.T2** magnitude pruning, **D0.T3** int8 quantization, **D0.T4** knowledge distillation
# * **D2.T1** pre-training then fine-tuning with frozen layers
# * **D1.T4 / D4.T2** a GAN, and generated digits as extra training data
# * **D3.T1** metrics and a confusion matrix, **D3.T3** saliency, **D2.T5** a profile of a training step
# * **D4.T4** hardware acceleration: the same kernels in plain NumPy, in Numba, and in CuPy on a GPU
#
# Each formula comes with a literal loop that is held to the library's version. `FAST=1` (used by the test suite) shrinks every loop.

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
from tinygrad_lm.recipes import gan as G
from tinygrad_lm.train import metrics
from tinygrad_lm.train.profiler import profile
from tinygrad_lm.train.saliency import saliency

FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"
EPOCHS = 3 if FAST else 20
(x_train, y_train, x_test, y_test), report = preprocess()
print(report)

# %% [markdown]
# ## 0. Cleaning the training data (D0.T5)
#
# Document 000 recommends "cleaning the training data to remove potentially malicious samples" and stops there. A cleaning step is a set of rules, each a mask over the rows, applied in order: drop row $i$ if some $x_{ij}$ is not finite, if $y_i \notin \{0, \dots, C-1\}$, if $(x_i, y_i)$ repeats an earlier row, or (optionally) if a model trained on the *other* folds gives its label a probability $\hat p(y_i \mid x_i) < \theta$ and predicts another class, a sign of a flipped label. We plant each fault in a copy of the digits and check that `clean` finds exactly the planted rows, then hold its first three rules to a plain loop.

# %%
from tinygrad_lm.data.cleaning import clean
split = tg.data.datasets.digits(seed=0)
xd, yd = split.x_train.astype(np.float64).copy(), split.y_train.astype(np.float64).copy()
xd[3, 10] = np.nan; xd[8, 0] = np.inf                      # non-finite features
yd[5], yd[9] = 12, 2.5                                     # labels that are no class
xd[20], yd[20] = xd[11], yd[11]                            # an exact duplicate of row 11
flipped = np.arange(100, 130); yd[flipped] = (yd[flipped] + 5) % 10   # 30 flipped labels
xc, yc, rep_ = clean(xd, yd, num_classes=10, label_noise=True)
print(rep_)
assert set(rep_.dropped['non_finite']) == {3, 8} and set(rep_.dropped['bad_label']) == {5, 9}
assert list(rep_.dropped['duplicate']) == [20]
found = np.isin(flipped, rep_.dropped['label_noise']).mean()
print(f'label-noise check: {found:.0%} of the flipped labels found, '
      f'{np.isin(rep_.dropped["label_noise"], flipped, invert=True).sum()} clean rows flagged')
drop, seen = [], set()                                     # rules 1-3 as a loop over the rows
for i, (row, label) in enumerate(zip(xd, yd, strict=True)):
    if not all(np.isfinite(v) for v in row) or not (label == int(label) and 0 <= label < 10):
        drop.append(i); continue
    key = (tuple(row), label)
    if key in seen:
        drop.append(i)
    seen.add(key)
_, _, rep3 = clean(xd, yd, num_classes=10)
assert sorted(drop) == sorted(np.concatenate(list(rep3.dropped.values())).tolist())

# %% [markdown]
# ## The squared-error loss (D0.F2)
#
# Document 000 gives the training loss as $\mathcal L = \tfrac12 \sum_i (y_i - \hat y_i)^2$ (it writes the hat on the index, $y_{\hat i}$, which is a typo). Its gradient is simply $\partial \mathcal L / \partial \hat y_i = \hat y_i - y_i$. Below: the value and gradient as loops, against the engine, and the engine's backward against finite differences (`gradcheck`).

# %%
from tinygrad_lm.models.mlp import squared_error
r = np.random.default_rng(0)
yh, yt = tg.tensor(r.standard_normal((4, 3)), requires_grad=True), tg.tensor(r.standard_normal((4, 3)))
L = squared_error(yh, yt); L.backward()
L_loop = 0.5 * sum((yt.numpy()[n, k] - yh.numpy()[n, k]) ** 2 for n in range(4) for k in range(3))
grad_loop = np.array([[yh.numpy()[n, k] - yt.numpy()[n, k] for k in range(3)] for n in range(4)])
assert abs(L.item() - L_loop) < 1e-12 and np.allclose(yh.grad.numpy(), grad_loop, rtol=1e-12)
assert tg.gradcheck(squared_error, [tg.tensor(r.standard_normal((3, 4)), requires_grad=True), tg.tensor(r.standard_normal((3, 4)))])
print(f'L = {L.item():.6f} (loop {L_loop:.6f}); gradient == y_hat - y; gradcheck passed')

# %% [markdown]
# **Why not for a classifier.** Document 000 attaches this loss to its GPT model, whose outputs are probabilities $\hat y = \sigma(z)$ (or a softmax). Through the squashing function the gradient becomes $(\hat y - y)\,\sigma'(z) = (\hat y - y)\hat y(1-\hat y)$, which vanishes when the model is *confidently wrong* ($\hat y \to 0$ with $y = 1$): the worse the mistake, the less it learns. The cross-entropy's gradient with respect to $z$ is $\hat y - y$, largest exactly there. The engine computes both:

# %%
z = tg.tensor(np.linspace(-8, 8, 161), requires_grad=True)
target = tg.tensor(np.ones(161))
squared_error(z.sigmoid(), target).backward()
g_mse = z.grad.numpy().copy(); z.grad = None
nn.functional.binary_cross_entropy_with_logits(z, target, reduction='sum').backward()
g_ce = z.grad.numpy()
plt.plot(z.numpy(), -g_mse, label=r'squared error: $-\partial L/\partial z$')
plt.plot(z.numpy(), -g_ce, label=r'cross-entropy: $-\partial L/\partial z$')
plt.xlabel('logit z (true label 1)'); plt.ylabel('push towards the right answer'); plt.legend(); plt.show()
assert -g_mse[0] < 1e-3 < 0.99 < -g_ce[0]                  # confidently wrong at z = -8

# %% [markdown]
# ## 1. The pipeline in one call (D0.T1)
# `run_pipeline` cleans and standardizes the data, trains a teacher, prunes it (global magnitude,
# then fine-tunes with the masks re-applied after every step), quantizes weights to int8, distills a
# 16-unit student, and evaluates each. Read the table against document 000's claim that optimisation
# makes a model "more efficient and more accurate" (`docs/errata.md`, D0.T1–T3): every compressed
# variant is smaller, none is more accurate than the float teacher beyond the noise of one test split.

# %%
result = run_pipeline(epochs=EPOCHS, distill_epochs=EPOCHS, finetune_epochs=1 if FAST else 3)
rows = {r['model']: r for r in result['rows']}
base = rows['teacher (float32)']
for name, row in rows.items():
    print(f"{name:<36} accuracy {row['test_accuracy'] - base['test_accuracy']:+.4f} vs the teacher, "
          f"{row['bytes'] / base['bytes']:.2f}x its bytes, {row['nonzero'] / base['nonzero']:.2f}x its non-zeros")

# %% [markdown]
# ## 2. Pruning: accuracy against sparsity (D0.T2)
# Prune the teacher to growing sparsity, once without and once with a short masked fine-tuning.
# $M_{ij} = \mathbb{1}[|W_{ij}| > \tau]$, where $\tau$ is the $k$-th smallest magnitude over all pruned
# weights ("global": the layers compete, so a layer with many small weights loses more of them) and $k$ is
# the fraction times their number. The mask is kept and re-applied after every fine-tuning step, so the
# pruned weights stay zero while the survivors adapt. First the rule as a literal loop, held to `magnitude_prune`:

# %%
import copy
tg.manual_seed(0)
teacher = fit(MLP(64, (128,), 10), (x_train, y_train), EPOCHS)
m = copy.deepcopy(teacher)
weights = {k: v.numpy().copy() for k, v in m.named_parameters() if v.ndim == 2}
mags = sorted(abs(w) for arr in weights.values() for w in arr.ravel())
tau = mags[int(round(0.7 * len(mags))) - 1]                 # the k-th smallest magnitude
masks = magnitude_prune(m, 0.7, scope='global')
for name, w in weights.items():
    loop_mask = np.array([[1.0 if abs(w[i, j]) > tau else 0.0 for j in range(w.shape[1])] for i in range(w.shape[0])])
    assert (loop_mask == masks.masks[name]).all()
print(f'tau = {tau:.4f}; loop masks == magnitude_prune; sparsity per layer:',
      {k: round(v, 2) for k, v in masks.sparsity().items()})
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
# Per-channel symmetric weights ($s_o = \max_i |W_{oi}| / 127.5$, $z = 0$, $q_{oi} = \mathrm{clamp}(\mathrm{round}(W_{oi}/s_o), -128, 127)$) and per-tensor asymmetric inputs ($s_x = (\max x - \min x)/255$, $z_x = -128 - \mathrm{round}(\min x / s_x)$). The product is accumulated in int32, $y = s_x s_o \sum_i (q_{x,i} - z_x)\, q_{oi} + b_o$, and only then scaled back to floats. Every weight is still there: the count of parameters is unchanged, each takes 1 byte instead of 4 (document 004 lists quantisation among the ways to reduce the *number* of parameters: it does not, D4.T3 in `docs/errata.md`).

# %%
q = quantize_dynamic(teacher)
print(q)
print(f"float32: {model_size_bytes(teacher)} bytes, acc {evaluate(teacher, x_test, y_test)[1]:.4f}")
print(f"int8:    {model_size_bytes(q)} bytes, acc {evaluate(q, x_test, y_test)[1]:.4f}")
w = teacher[0].weight.numpy().ravel()
plt.hist(w, bins=80, alpha=0.6, label="float weights")
plt.hist(q[0].dequantized_weight().ravel(), bins=80, alpha=0.6, label="int8 grid (dequantized)")
plt.legend(); plt.show()
W0 = teacher[0].weight.numpy()                               # the weight grid as a loop over output channels
for o in range(W0.shape[0]):
    s_o = max(abs(W0[o])) / np.float32(127.5)
    inv = np.float32(1) / s_o                              # x * (1/s) in float32, as the library: the largest
    q_o = [min(127, max(-128, round(float(w * inv)))) for w in W0[o]]   # weight sits on the tie 127.5
    np.testing.assert_allclose(np.array(q_o) * s_o, q[0].dequantized_weight()[o], rtol=1e-6, atol=1e-7)
n_float = sum(p.numel() for p in teacher.parameters())
n_int8 = sum(b.numel() for n_, b in q.named_buffers() if n_.endswith(('weight_int8', 'bias')))
print(f'parameters: float {n_float}, int8 model {n_int8} (the same count); weight grid loop == quantize_dynamic')

# %% [markdown]
# ## 4. Distillation (D0.T4)
# $L = \alpha T^2\,\mathrm{KL}(\mathrm{softmax}(z_t/T)\,\|\,\mathrm{softmax}(z_s/T)) + (1-\alpha)\,\mathrm{CE}(z_s, y)$
#
# A temperature $T > 1$ softens the teacher's distribution, so the student also learns which *wrong* classes the teacher finds plausible (a 3 that looks like an 8); the $T^2$ keeps the soft term's gradient on the scale of the hard one. The formula as a loop over samples and classes, against `distillation_loss`:

# %%
from tinygrad_lm.compress import distillation_loss
zs, zt, yb = r.standard_normal((5, 10)), r.standard_normal((5, 10)), r.integers(0, 10, 5)
T_, alpha = 4.0, 0.7
def softmax_row(v):
    e = [np.exp(x - max(v)) for x in v]; return [x / sum(e) for x in e]
kl = sum(pt * np.log(pt / ps) for n in range(5)
         for pt, ps in zip(softmax_row(zt[n] / T_), softmax_row(zs[n] / T_), strict=True)) / 5
ce = -sum(np.log(softmax_row(zs[n])[yb[n]]) for n in range(5)) / 5
loop = alpha * T_ ** 2 * kl + (1 - alpha) * ce
ours = distillation_loss(tg.tensor(zs), tg.tensor(zt), tg.tensor(yb), T=T_, alpha=alpha).item()
assert abs(loop - ours) < 1e-10, (loop, ours)
print(f'distillation loss: loop {loop:.8f} == engine {ours:.8f}')

# %%
for hidden in ([8, 16] if FAST else [4, 8, 16, 32]):
    student = distill_student(teacher, x_train, y_train, hidden, EPOCHS)
    tg.manual_seed(1)
    alone = fit(MLP(64, (hidden,), 10), (x_train, y_train), EPOCHS, lr=3e-3)
    print(f"hidden {hidden:3d}: distilled {evaluate(student, x_test, y_test)[1]:.4f}   "
          f"labels only {evaluate(alone, x_test, y_test)[1]:.4f}   ({model_size_bytes(student)} bytes)")

# %% [markdown]
# ## 5. Pre-training, then fine-tuning with frozen layers (D2.T1)
#
# Large models are pre-trained once on a broad task and then adapted. The cheapest adaptation keeps the pre-trained body fixed (`requires_grad_(False)`: no gradient reaches it, the optimizer never sees it) and trains only a new head. Here the "broad" task is digits 0–4 and the new one is digits 5–9. Two baselines say what the pre-training bought: the same frozen architecture with *random* features, and the whole network trained from scratch on 5–9. On this small task it buys nothing: frozen random features of width 128 do about as well or better, and training everything on 5–9 does best (`tests/test_finetune_saliency.py` checks the frozen fine-tuning at full size). Features learned for 0–4 are specialised to 0–4. Pre-training pays when its task is broad and much larger than the target, as for language models pre-trained on the web and fine-tuned on a few thousand examples. The asserts check what freezing must guarantee: the frozen weights never move and receive no gradient.

# %%
old_tr, new_tr, new_te = y_train.numpy() < 5, y_train.numpy() >= 5, y_test.numpy() >= 5
def head_on(body, epochs):
    body.requires_grad_(False)
    for p_ in body.parameters():
        p_.grad = None                                     # forget the pre-training's last gradient
    model = nn.Sequential(body, nn.Linear(128, 5))
    fit(model, (x_train[new_tr], y_train[new_tr] - 5), epochs)
    return evaluate(model, x_test[new_te], y_test[new_te] - 5)[1]
FT = 3 if FAST else 15
tg.manual_seed(0)
body = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
fit(nn.Sequential(body, nn.Linear(128, 5)), (x_train[old_tr], y_train[old_tr]), FT)   # pre-train on 0-4
before = body[0].weight.numpy().copy()
acc_pre = head_on(body, FT)
assert np.array_equal(body[0].weight.numpy(), before)     # the frozen layer never moved ...
assert body[0].weight.grad is None                        # ... and never received a gradient
tg.manual_seed(0)
acc_rand = head_on(nn.Sequential(nn.Linear(64, 128), nn.ReLU()), FT)
tg.manual_seed(0)
scratch = fit(MLP(64, (128,), 5), (x_train[new_tr], y_train[new_tr] - 5), FT)
acc_scratch = evaluate(scratch, x_test[new_te], y_test[new_te] - 5)[1]
for name, a in [('pre-trained body, frozen, new head', acc_pre), ('random body, frozen, new head', acc_rand),
                ('everything trained on 5-9', acc_scratch)]:
    print(f'{name:36s} {a:.4f}')

# %% [markdown]
# ## 6. Metrics and the confusion matrix (D3.T1)
#
# Accuracy hides which classes are confused. Per class $c$: precision $= TP_c/(TP_c+FP_c)$, recall $= TP_c/(TP_c+FN_c)$, $F_1 = 2PR/(P+R)$; the confusion matrix $C_{ij}$ counts test images of class $i$ predicted as $j$.

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
# ## 7. Saliency (D3.T3): $S_i = |\partial z_c / \partial x_i|$
#
# Which pixels would change the predicted class's score $z_c$ most? The gradient with respect to the *input*, one backward pass per image.

# %%
maps = saliency(teacher, x_test[:6])
raw = tg.data.datasets.digits().x_test[:6]
fig, axes = plt.subplots(2, 6, figsize=(10, 3.5))
for k in range(6):
    axes[0, k].imshow(raw[k].reshape(8, 8), cmap="gray_r"); axes[0, k].axis("off")
    axes[1, k].imshow(maps[k].reshape(8, 8), cmap="hot"); axes[1, k].axis("off")
plt.show()

# %% [markdown]
# ## 8. A GAN on a ring of Gaussians (D1.T4)
# $\min_G \max_D\ \mathbb{E}_x[\log \sigma(D(x))] + \mathbb{E}_z[\log(1-\sigma(D(G(z))))]$,
# with the generator trained on the non-saturating $-\log\sigma(D(G(z)))$.

# %%
ring = G.ring_of_gaussians(4096)
gan, hist = G.train_gan(ring, steps=100 if FAST else 1500, batch_size=128, latent_dim=4, lr=1e-3)
s = gan.generator.sample(1000)
fig, ax = plt.subplots(1, 2, figsize=(9, 4))
ax[0].scatter(*ring[:1000].T, s=2, label="data"); ax[0].scatter(*s.T, s=2, label="generated"); ax[0].legend()
ax[1].plot(hist["d_loss"], label="D"); ax[1].plot(hist["g_loss"], label="G"); ax[1].legend(); plt.show()

# %% [markdown]
# ## 9. Generated digits as extra training data (D4.T2)
# A conditional GAN trained on a *small* labelled set (20 per class); a classifier trained on those
# alone, and on them plus 50 generated digits per class. Whether it helps is measured, not assumed:
# document 004 counts GAN-generated data among the ways to *speed training up* and says it improves a
# model (`docs/errata.md`, D4.T1/D4.T2). Generating data is extra work, and any gain is an empirical
# question: compare the two lines printed below. The work is counted too: the GAN's training steps come
# first, and then every epoch of the classifier runs over 3.5 times as many examples (200 real + 500
# generated), so the generated data make training slower, never faster.

# %%
split = tg.data.datasets.digits()
idx = np.concatenate([np.flatnonzero(split.y_train == c)[:20] for c in range(10)])
xs, ys = split.x_train[idx] / 8 - 1, split.y_train[idx]
cgan, _ = G.train_gan(xs, ys, num_classes=10, steps=150 if FAST else 2000, latent_dim=16, hidden=(128, 128),
                      output="tanh", lr=1e-3)
xg, yg = G.generated_training_set(cgan.generator, 10, 50)
fig, axes = plt.subplots(2, 10, figsize=(10, 2.2))
for c in range(10):
    for r in range(2):
        axes[r, c].imshow(xg[c * 50 + r].reshape(8, 8), cmap="gray_r"); axes[r, c].axis("off")
plt.show()
xt, yt = tg.tensor((split.x_test / 8 - 1).astype(np.float32)), tg.tensor(split.y_test)
for name, (xa, ya) in {"real only": (xs, ys),
                       "real + generated": (np.concatenate([xs, xg]), np.concatenate([ys, yg]))}.items():
    tg.manual_seed(0)
    clf = fit(MLP(64, (64,), 10), (tg.tensor(xa.astype(np.float32)), tg.tensor(ya)), 5 if FAST else 40)
    print(f"{name:18s} {len(xa)} examples per epoch, test accuracy {evaluate(clf, xt, yt)[1]:.4f}")
assert len(xg) == 500 and len(xs) + len(xg) == 3.5 * len(xs)   # extra work per epoch, after the GAN's steps

# %% [markdown]
# ## 10. Where does a training step spend its time? (D2.T5)

# %%
model = MLP(64, (128,), 10)
with profile() as prof:
    for _ in range(5):
        loss = nn.functional.cross_entropy(model(x_train[:256]), y_train[:256])
        loss.backward()
print(prof.table())

# %% [markdown]
# ## 11. Hardware acceleration: one op, three back ends (D4.T4)
#
# Document 004 answers "training is slow" with "use distributed training, data generation and hardware acceleration". Acceleration here is concrete: every hot op has a kernel in three forms, chosen in one place, `backend.kernel(name, device)`: a **plain NumPy twin** (the readable reference, and what `TINYGRAD_LM_PLAIN=1` runs everywhere), a **Numba** kernel compiled to machine code for the CPU, and a **CuPy** kernel for an NVIDIA GPU when a tensor lives on `'cuda'`. The tests hold each fast kernel to its plain twin (`docs/formulas.md`, D4.T4). Below the two CPU forms run on the same inputs, side by side: same numbers, different times. With a GPU present the CuPy form runs too; without one the cell says so and skips it.

# %%
import time
from tinygrad_lm import backend
g = np.random.default_rng(0)
n = 256 if FAST else 1024
cases = {
    'gelu_forward': (g.standard_normal((n, 512)).astype(np.float32),),
    'layer_norm_forward': (g.standard_normal((4 * n, 256)), g.standard_normal(256), g.standard_normal(256), 1e-5),
    'cross_entropy_forward': (g.standard_normal((4 * n, 500)), g.integers(0, 500, 4 * n), np.ones(500), -100, 0.0),
    'attention_forward': (g.standard_normal((8, 64, 32)), g.standard_normal((8, 64, 32)), g.standard_normal((8, 64, 32)),
                          None, 32 ** -0.5, True, None),
}
def best_time(fn, args, repeat=5):
    fn(*args)                                              # the first call compiles (Numba) or warms caches
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter(); fn(*args); times.append(time.perf_counter() - t0)
    return min(times)
timing = {}
for name, args in cases.items():
    plain, fast = backend.kernel(name, impl='plain'), backend.kernel(name, impl='cpu')
    for a, b in zip(plain(*args), fast(*args), strict=True):
        if a is not None:
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6)
    timing[name] = (best_time(plain, args), best_time(fast, args))
    print(f'{name:22s} plain NumPy {1e3 * timing[name][0]:7.2f} ms   Numba {1e3 * timing[name][1]:7.2f} ms   same outputs')
if backend.gpu_available():
    cp = backend.cupy()
    for name, args in cases.items():
        dev = tuple(cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args)
        gpu = backend.kernel(name, 'cuda')
        def run(*a, kernel=gpu):
            out = kernel(*a); cp.cuda.Device().synchronize(); return out
        print(f'{name:22s} CuPy {1e3 * best_time(run, dev):7.2f} ms')
else:
    print('no GPU (or no CuPy) here: the CuPy kernels are skipped; tests/test_cuda_emulated.py checks their CUDA C on the CPU')
names = list(timing)
xs = np.arange(len(names))
plt.bar(xs - 0.2, [1e3 * timing[k][0] for k in names], 0.4, label='plain NumPy twin')
plt.bar(xs + 0.2, [1e3 * timing[k][1] for k in names], 0.4, label='Numba kernel')
plt.xticks(xs, names, rotation=15); plt.ylabel('ms per call (best of 5)'); plt.legend(); plt.show()

# %% [markdown]
# The speed-ups differ by op and by machine. Element-wise ops such as GELU and row-wise ones such as layer norm gain most: the plain version makes several temporary arrays as large as the input, one per NumPy call, which the fused kernel never allocates. Attention is mostly matrix products, which NumPy already hands to BLAS, so there is less to win. Kernels that run in parallel over rows (cross-entropy) need free cores: on a small or busy machine their threads wait, and the plain twin can even be faster, which is why the timings are printed rather than promised. What matters for teaching is that the two forms agree to rounding, so the plain twin can be read to understand what the fast one does.
#
# ## Summary
#
# * Clean data first (D0.T5): each rule is a mask over rows; the label-noise rule uses held-out predictions to find flipped labels.
# * The squared error (D0.F2) has the simplest gradient, $\hat y - y$, but through a sigmoid or softmax it stops learning from confident mistakes; classifiers use the cross-entropy.
# * Pruning (D0.T2) zeros the smallest weights; quantization (D0.T3) stores each weight in 8 bits; distillation (D0.T4) trains a smaller model on the teacher's softened outputs. All three trade a little accuracy for size (quantization keeps every parameter, pruning keeps the dense size); none improves accuracy beyond the noise of the test split, whatever the source claims.
# * Fine-tuning (D2.T1) trains a new head on a frozen, pre-trained body; whether pre-training helps is measured against random features and training from scratch.
# * A GAN can generate extra data (D1.T4, D4.T2); whether that helps is measured too.
# * Acceleration (D4.T4) is the same op in faster code: Numba on the CPU, CuPy on a GPU, each held to its plain NumPy twin.

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
