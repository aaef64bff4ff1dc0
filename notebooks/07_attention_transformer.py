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
# # 07 · Attention and the Transformer (D0.F3, D2.F1–F7, D2.M1–M4, D4.F2)
#
# We compute softmax attention step by step, check each formula against the fused `F.scaled_dot_product_attention`, show numerically what goes wrong in the versions the source documents print (the errata), draw attention maps with their masks, and train a small encoder-decoder Transformer to reverse digit strings.

# %%
import os, time
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.nn import functional as F
from tinygrad_lm.ops.attention import attention, attention_weights, self_attention
from tinygrad_lm.data import synthetic
from tinygrad_lm.models.transformer import Seq2SeqTransformer, greedy_decode
from tinygrad_lm.recipes.transformer import exact_accuracy, fit
FAST = os.environ.get('TINYGRAD_LM_FAST') == '1'
tg.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Self-attention step by step (D2.F2, D2.F3, D0.F3, D4.F2)
#
# Rows of $X$ are tokens. $Q = XW_Q,\ K = XW_K,\ V = XW_V$ (D2.F2); the attention map is $A = \mathrm{softmax}(QK^\top/\sqrt{d_k})$, each row a probability distribution over the keys (D2.F3); the output is $O = AV$ (D0.F3, and D4.F2 as $\mathrm{Attention}(Q,K,V)$).

# %%
T, d, dk = 5, 8, 4
X = rng.standard_normal((T, d))
W_Q, W_K, W_V = (rng.standard_normal((d, dk)) / np.sqrt(d) for _ in range(3))
Q, K, V = X @ W_Q, X @ W_K, X @ W_V                      # D2.F2
S = Q @ K.T / np.sqrt(dk)                                # scaled scores
A = np.exp(S - S.max(1, keepdims=True)); A /= A.sum(1, keepdims=True)   # row softmax (D2.F3)
O = A @ V                                                # D0.F3 / D4.F2
t = lambda a: tg.Tensor(a)
fused = F.scaled_dot_product_attention(t(Q), t(K), t(V)).numpy()
np.testing.assert_allclose(O, fused, rtol=1e-10)
np.testing.assert_allclose(A, attention_weights(t(Q), t(K)).numpy(), rtol=1e-10)
np.testing.assert_allclose(O, attention(t(Q), t(K), t(V)).numpy(), rtol=1e-10)
np.testing.assert_allclose(O, self_attention(t(X), t(W_Q), t(W_K), t(W_V)).numpy(), rtol=1e-10)
print('rows of A sum to', A.sum(1)); print('step-by-step == fused: max |diff| =', np.abs(O - fused).max())

# %% [markdown]
# ## 2. The errata, numerically
#
# **D0.F3** — the source writes $O = \mathrm{softmax}(Q)\,X W_V$: no $K^\top$, no scale. Then the 'map' is a softmax over the *feature* axis of $Q$ (shape $T\times d_k$, not $T\times T$); it only multiplies $XW_V$ when $d_k = T$, and it never compares a query with a key.

# %%
Xs = rng.standard_normal((4, 4)); Wq, Wk, Wv = (rng.standard_normal((4, 4)) / 2 for _ in range(3))  # d_k = T
Qs = Xs @ Wq
sm = lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)
wrong = sm(Qs) @ Xs @ Wv
right = self_attention(t(Xs), t(Wq), t(Wk), t(Wv)).numpy()
print('max |wrong - right| =', np.abs(wrong - right).max())
Wk2 = rng.standard_normal((4, 4))  # change the keys: the wrong formula does not even notice
print('wrong formula ignores W_K:', np.allclose(sm(Qs) @ Xs @ Wv, wrong),
      '| right one changes by', np.abs(self_attention(t(Xs), t(Wq), t(Wk2), t(Wv)).numpy() - right).max())

# %% [markdown]
# **D2.F3** — the source writes $\exp(\mathrm{softmax}(QK))/\sqrt{d_k}\,V$: the exponential is applied twice and the scale after the softmax, so the weights no longer sum to one and all lie in $[1, e]/\sqrt{d_k}$ — almost uniform, whatever the scores.

# %%
wrong_A = np.exp(sm(Q @ K.T)) / np.sqrt(dk)
print('row sums, wrong:', wrong_A.sum(1).round(3), ' right:', A.sum(1).round(3))
print('max/min weight in a row, wrong:', (wrong_A.max(1) / wrong_A.min(1)).round(2), ' right:', (A.max(1) / A.min(1)).round(2))
print('max |O_wrong - O| =', np.abs(wrong_A @ V - O).max())

# %% [markdown]
# **D2.F6** — the source wraps a second ReLU around the position-wise FFN: $\mathrm{ReLU}(\mathrm{ReLU}(xW_1+b_1)W_2+b_2)$. The right one is $\max(0, xW_1+b_1)W_2+b_2$: the output must be able to go negative (it is added to the residual stream).

# %%
ffn1, ffn2 = nn.Linear(8, 16), nn.Linear(16, 8)
x = tg.Tensor(rng.standard_normal((6, 8)).astype(np.float32))
right = ffn2(F.relu(ffn1(x))).numpy()
wrong = F.relu(ffn2(F.relu(ffn1(x)))).numpy()
print('share of negative outputs the wrong FFN clips to 0:', (right < 0).mean().round(2))
print('max |wrong - right| =', np.abs(wrong - right).max())

# %% [markdown]
# **D2.M2** — the source's decoder layer runs cross-attention *before* masked self-attention, and its residual adds a tensor to itself ($x + x$ instead of $x + \mathrm{Sublayer}(x)$). The right order is self-attention (causal) → cross-attention → FFN, each $\mathrm{LN}(x + \mathrm{Sublayer}(x))$ (`nn.TransformerDecoderLayer`, as PyTorch).

# %%
layer = nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0, batch_first=True).eval()
y = tg.Tensor(rng.standard_normal((1, 5, 16)).astype(np.float32))
mem = tg.Tensor(rng.standard_normal((1, 7, 16)).astype(np.float32))
mask = nn.Transformer.generate_square_subsequent_mask(5)
right = layer(y, mem, tgt_mask=mask).numpy()
def wrong_order(x):
    x = layer.norm1(x + layer._mha_block(x, mem, None, None))
    x = layer.norm2(x + layer._sa_block(x, mask, None))
    return layer.norm3(x + layer._ff_block(x))
def self_residual(x):
    x = layer.norm1(x + x); x = layer.norm2(x + x)        # the sublayers are lost altogether
    return layer.norm3(x + x)
print('cross-attention first: max |diff| =', np.abs(wrong_order(y).numpy() - right).max())
print('x + x residual: output is just LN(x), independent of the memory:',
      np.allclose(self_residual(y).numpy(), F.layer_norm(y, (16,), layer.norm3.weight, layer.norm3.bias).numpy(), atol=1e-5))

# %% [markdown]
# ## 3. Attention maps and masks
#
# A boolean mask says which keys a query may see (True = may attend, as in PyTorch); masked scores become $-\infty$ before the softmax. A causal mask hides the future; a key-padding mask hides PAD positions.

# %%
T = 6
Xq = tg.Tensor(rng.standard_normal((1, T, 8)))
Wq, Wk = (tg.Tensor(rng.standard_normal((8, 8)) / 3) for _ in range(2))
Qm, Km = Xq @ Wq, Xq @ Wk
causal = np.tril(np.ones((T, T), bool))
lengths = np.array([4]); pad = np.arange(T)[None, :] < lengths[:, None]   # keys 4, 5 are PAD
maps = {'no mask': attention_weights(Qm, Km), 'causal': attention_weights(Qm, Km, causal),
        'key padding (length 4)': attention_weights(Qm, Km, pad[:, None, :])}
fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
for ax, (name, a) in zip(axes, maps.items()):
    ax.imshow(a.numpy()[0], cmap='viridis', vmin=0, vmax=1); ax.set_title(name)
    ax.set_xlabel('key'); ax.set_ylabel('query')
plt.tight_layout(); plt.show()
assert np.allclose(np.triu(maps['causal'].numpy()[0], 1), 0) and np.allclose(maps['key padding (length 4)'].numpy()[0][:, 4:], 0)
V6 = tg.Tensor(rng.standard_normal((1, T, 8)))
np.testing.assert_allclose(F.scaled_dot_product_attention(Qm, Km, V6, is_causal=True).numpy(),
                           (maps['causal'] @ V6).numpy(), rtol=1e-10)
print('is_causal=True matches the causal map')

# %% [markdown]
# ## 4. Training the encoder-decoder Transformer to reverse digits (D2.M1–M3)
#
# Teacher forcing with cross-entropy, Adam with a linear warm-up; decoding is greedy (D2.F7: feed back $\arg\max\,\mathrm{softmax}(W_O h_t)$). Training stops once a validation set is reversed without error (all 500 of them); the accuracy is then measured on fresh sequences. (FAST mode: a shorter run, so the accuracy is lower.)

# %%
L = 5
src, tgt = synthetic.generate_task('reverse', 20000, L, seed=0)
val = synthetic.generate_task('reverse', 500, L, seed=2)
test_src, test_tgt = synthetic.generate_task('reverse', 500, L, seed=1)
model = Seq2SeqTransformer(synthetic.vocab_size(), 64, 2, 1, 1, 128, dropout=0.0)
t0 = time.time()
losses = fit(model, src, tgt, 400 if FAST else 2000, batch_size=128, lr=3e-3, warmup=50, val=val, target=1.0)
acc = exact_accuracy(model, test_src, test_tgt)
print(f'{len(losses)} steps in {time.time() - t0:.1f}s; exact-sequence accuracy on 500 new sequences: {acc:.3f}')
plt.semilogy(losses); plt.xlabel('step'); plt.ylabel('cross-entropy'); plt.title('reverse task'); plt.show()

# %%
model.eval()
s = test_src[:1]
out = greedy_decode(model, s, L + 1)
print('source   ', s[0] - synthetic.OFFSET, '\nprediction', out[0, 1:L + 1] - synthetic.OFFSET)
# the cross-attention map of the (only) decoder layer, recomputed with need_weights=True
with tg.no_grad():
    memory = model.encode(s)
    layer = model.transformer.decoder.layers[0]
    y = model.embed(out[:, :-1], model.tgt_embed)
    m = nn.Transformer.generate_square_subsequent_mask(y.shape[1], dtype=y.dtype)
    y = layer.norm1(y + layer._sa_block(y, m, None, True))
    _, w = layer.multihead_attn(y, memory, memory, need_weights=True)
plt.imshow(w.numpy()[0], cmap='viridis')
plt.xticks(range(L), s[0] - synthetic.OFFSET); plt.yticks(range(L + 1), ['BOS'] + list(out[0, 1:L + 1] - synthetic.OFFSET))
plt.xlabel('source digit'); plt.ylabel('decoder input'); plt.title('cross-attention (reverse: an anti-diagonal)')
plt.colorbar(); plt.show()

# %% [markdown]
# ## Exercises
#
# Exercise chapter 6 practises this notebook (in `ch06_attention_transformer.py`):
#
# - **6.1** scaled dot-product attention and self-attention (D2.F3, D4.F2, D0.F3, D2.F2)
# - **6.2** scaled dot-product attention backward (D2.F3)
# - **6.3** the causal mask and a masked softmax (D2.M2, D2.F3)
# - **6.4** multi-head attention: split and merge the heads (D2.F4)
# - **6.5** erratum hunt: the decoder layer's order and residuals, the feed-forward block (D2.M2, D2.F5, D2.F6)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 6.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("6.1", scaled_dot_product_attention, self_attention)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
