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
# # 08 · Attention and the Transformer (D0.F3, D2.F1–F7, D2.M1–M4, D4.F2)
#
# Notebook 07 ended with an RNN encoder-decoder whose decoder, at every output word, sent its state as a *query* to all the encoder states, scored them, and read a weighted mix of them; its section 6 showed that this read is $\mathrm{softmax}(QK^\top)V$ with $Q$ the decoder states, $K = \bar h W_a^\top$ and $V = \bar h$. The Transformer keeps exactly that read and removes the rest. The recurrence goes: instead of a GRU reading the sentence one word at a time, every word of a sequence sends a query to every other word of the *same* sequence (self-attention), so all positions are computed at once. The keys and the values get projections of their own, $K = XW_K$ and $V = XW_V$, and the scores are divided by $\sqrt{d_k}$. Word order, which the GRU knew for free, is added to the embeddings as positional encodings; several attentions run side by side as heads; a position-wise feed-forward network, residual connections and LayerNorm complete each layer. Cross-attention, the decoder querying the encoder, is the Luong read of notebook 07 with those projections and that scale.
#
# We compute softmax attention step by step, check each formula against the fused `F.scaled_dot_product_attention`, show numerically what goes wrong in the versions the source documents print (the errata), draw attention maps with their masks, and train a small encoder-decoder Transformer to reverse digit strings.

# %%
import os, time
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm import nn, viz
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
# Rows of $X$ are tokens. $Q = XW_Q,\ K = XW_K,\ V = XW_V$ (D2.F2); the attention map is $A = \mathrm{softmax}(QK^\top/\sqrt{d_k})$, each row a probability distribution over the keys (D2.F3); the output is $O = AV$ (D0.F3, and D4.F2 as $\mathrm{Attention}(Q,K,V)$). Document 004 (§3.4, D4.F2) writes exactly this formula, $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$; documents 000 (§4.2) and 002 (§4.1.2) write two others for the same operation, computed beside it in section 2.

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
# **D0.F3** — the source (000 §4.2) writes the weights as the softmax of a fraction whose numerator is $W_Q X W_K$ and whose denominator is missing, then $O = A\,X\,W_V$. The key weight is there, but it multiplies the query projection $W_Q X$ instead of the input: the keys $W_K X$ are never formed, so no query meets a key. With columns as tokens (as in the source) the product exists only when the length $T$ happens to equal $d_k$, and is then $d_k \times d$, not a $T \times T$ map over positions; it holds $X$ once, so it is *linear* in $X$, where the query–key scores $(W_Q X)^\top (W_K X)$ are quadratic. The empty denominator is the scale $\sqrt{d_k}$: without it the scores have variance $d_k$ and the softmax saturates to nearly one-hot rows. (`tests/test_errata.py` checks the same; `docs/errata.md` lists every erratum.)

# %%
sm = lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)
d0, dk0 = 6, 3
Wq0, Wk0, Wv0 = (rng.standard_normal((dk0, d0)) for _ in range(3))   # column form: Q = W_Q X
source_scores = lambda X: Wq0 @ X @ Wk0                                # the source's numerator
query_key = lambda X: (Wq0 @ X).T @ (Wk0 @ X) / np.sqrt(dk0)           # q_i . k_j / sqrt(d_k)
try:
    source_scores(rng.standard_normal((d0, 5)))
except ValueError as e:
    print('T = 5 tokens, d_k = 3: the source product does not exist --', e)
Xc = rng.standard_normal((d0, dk0))                                    # T = d_k = 3: it exists by accident
print('shapes: source', source_scores(Xc).shape, '| query-key map', query_key(Xc).shape)
assert np.allclose(source_scores(2 * Xc), 2 * source_scores(Xc))      # linear in X: X appears once
assert np.allclose(query_key(2 * Xc), 4 * query_key(Xc))              # quadratic: queries meet keys
np.testing.assert_allclose(sm(query_key(Xc)) @ (Wv0 @ Xc).T,           # ours, rows as tokens
                           self_attention(t(Xc.T), t(Wq0.T), t(Wk0.T), t(Wv0.T)).numpy(), rtol=1e-10)
qs, ks = rng.standard_normal((16, 256)), rng.standard_normal((16, 256))
unscaled, scaled = sm(qs @ ks.T).max(1).mean(), sm(qs @ ks.T / np.sqrt(256)).max(1).mean()
print('d_k = 256, mean largest weight in a row: unscaled', unscaled.round(3), '| scaled', scaled.round(3))
assert unscaled > 0.8 > 0.5 > scaled                                   # without the scale: nearly one-hot

# %% [markdown]
# **D2.F3** — the source (002 §4.1.2) writes $\mathrm{Attention}(Q,K,V) = \exp(\mathrm{softmax}(\mathrm{dot}(Q,K)))/\sqrt{d_k} \times V$ (and $\sqrt{k}$ where it repeats the line): an exponential on top of the softmax, and the scale after it instead of on the scores. The softmax's entries lie in $(0, 1)$, so the weights all lie in $[1, e]/\sqrt{d_k}$: almost uniform whatever the scores (no two differ by more than a factor $e$), and with $n$ keys each row sums to between $n e^{1/n}/\sqrt{d_k}$ and $(n-1+e)/\sqrt{d_k}$ instead of 1. Ours is $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$, the $A$ of section 1.

# %%
wrong_A = np.exp(sm(Q @ K.T)) / np.sqrt(dk)
print('row sums, wrong:', wrong_A.sum(1).round(3), ' right:', A.sum(1).round(3))
print('max/min weight in a row, wrong:', (wrong_A.max(1) / wrong_A.min(1)).round(2), ' right:', (A.max(1) / A.min(1)).round(2))
print('max |O_wrong - O| =', np.abs(wrong_A @ V - O).max())
n = K.shape[0]
assert np.all(wrong_A.sum(1) >= n * np.exp(1 / n) / np.sqrt(dk) - 1e-12) and np.all(wrong_A.sum(1) <= (n - 1 + np.e) / np.sqrt(dk))
assert np.all(wrong_A.max(1) / wrong_A.min(1) <= np.e) and np.allclose(A.sum(1), 1)
assert np.abs(wrong_A @ V - O).max() > 0.1

# %% [markdown]
# **D2.F6** — the source wraps a second ReLU around the position-wise FFN's second product and adds the bias after it: $\mathrm{ReLU}(\mathrm{ReLU}(xW_1+b_1)W_2)+b_2$. Each feature of the update is then bounded below by its bias, $\mathrm{FFN}(x)_j \ge b_{2,j}$ for every token, and wherever $\mathrm{ReLU}(xW_1+b_1)W_2$ is negative the output is the constant $b_2$ with zero gradient. The right one has one activation, $\max(0, xW_1+b_1)W_2+b_2$: the update added to the residual stream must be able to lower a feature as freely as raise it.

# %%
ffn1, ffn2 = nn.Linear(8, 16), nn.Linear(16, 8)
x = tg.Tensor(rng.standard_normal((6, 8)).astype(np.float32))
right = ffn2(F.relu(ffn1(x))).numpy()
b2 = ffn2.bias.numpy()
wrong = F.relu(ffn2(F.relu(ffn1(x))) - ffn2.bias).numpy() + b2  # ReLU(ReLU(x W1 + b1) W2) + b2
assert np.allclose(wrong, np.maximum(right, b2), atol=1e-6)  # the source's block is max(ours, b2)
print('share of outputs below their bias, which the source clamps to it:', (right < b2).mean().round(2))
assert (right < b2 - 1e-3).any() and np.all(wrong >= b2 - 1e-6)
print('max |wrong - right| =', np.abs(wrong - right).max())

# %% [markdown]
# **D2.M2** — the source's decoder layer (002 §3.1.3) runs cross-attention first, $h = \mathrm{LN}(x + \mathrm{CA}(x, m))$, then self-attention on $h$ with no causal mask, and its residual adds the self-attention output to itself: $\mathrm{LN}(\mathrm{SA}(h) + \mathrm{SA}(h)) = \mathrm{LN}(2\,\mathrm{SA}(h))$. Both operands are the sublayer's output, so what is lost is the *skip path*, not the sublayer: LayerNorm is invariant to scale up to its $\epsilon$, $\mathrm{LN}_\epsilon(2s) = \mathrm{LN}_{\epsilon/4}(s)$ exactly, so the block is $\mathrm{LN}(\mathrm{SA}(h))$ — far from the residual $\mathrm{LN}(h + \mathrm{SA}(h))$, and still dependent on the encoder's memory through $h$. The right order is self-attention (causal) → cross-attention → FFN, each $\mathrm{LN}(x + \mathrm{Sublayer}(x))$ (`nn.TransformerDecoderLayer`, as PyTorch).

# %%
layer = nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0, batch_first=True).double().eval()
y = tg.tensor(rng.standard_normal((1, 5, 16)))
mem = tg.tensor(rng.standard_normal((1, 7, 16)))
mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=y.dtype)
right = layer(y, mem, tgt_mask=mask).numpy()
w2, b2 = layer.norm2.weight, layer.norm2.bias
def source_layer(x, mem):
    h = layer.norm1(x + layer._mha_block(x, mem, None, None))   # cross-attention first
    s = layer._sa_block(h, None, None)                          # self-attention, no causal mask
    a = F.layer_norm(s + s, (16,), w2, b2)                      # both operands are SA(h)
    return h, s, layer.norm3(a + layer._ff_block(a))
h, s, wrong = source_layer(y, mem)
print("source's layer against ours: max |diff| =", np.abs(wrong.numpy() - right).max().round(3))
assert np.abs(wrong.numpy() - right).max() > 0.1
two_s = F.layer_norm(s + s, (16,), w2, b2).numpy()
np.testing.assert_allclose(two_s, F.layer_norm(s, (16,), w2, b2, eps=1e-5 / 4).numpy(), rtol=1e-12)
print('LN(2 SA(h)) is LN(SA(h)) with eps/4; it differs from the residual LN(h + SA(h)) by',
      np.abs(two_s - F.layer_norm(h + s, (16,), w2, b2).numpy()).max().round(3))
other_mem = tg.tensor(rng.standard_normal((1, 7, 16)))
print('another memory changes its output by', np.abs(source_layer(y, other_mem)[2].numpy() - wrong.numpy()).max().round(3))
assert np.abs(two_s - F.layer_norm(h + s, (16,), w2, b2).numpy()).max() > 0.1   # the skip path is lost
assert np.abs(source_layer(y, other_mem)[2].numpy() - wrong.numpy()).max() > 1e-3

# %% [markdown]
# ## 3. Attention maps and masks
#
# A boolean mask says which keys a query may see (True = may attend, as in PyTorch); masked scores become $-\infty$ before the softmax. A causal mask hides the future; a key-padding mask hides PAD positions. In notebook 07 the padding mask was the only one: its decoder was a GRU, which cannot see the future anyway. Self-attention in a decoder sees the whole target at once, so without the causal mask it would learn to copy the next word instead of predicting it.

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
for ax, (name, a) in zip(axes, maps.items(), strict=True):
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

# %% [markdown]
# ### The cross-attention map of the trained model
#
# The cell below decodes one test sequence greedily and asks the decoder layer's cross-attention for its weights (`need_weights=True`, averaged over the heads, as PyTorch), then draws them with `viz.plot_attention`. Rows are the decoder's positions (the `BOS` it starts from, then each digit it has written), columns the source digits the encoder read. It is the same picture as the Luong maps of notebook 07, and on the same kind of task: to write the reversed string, output position $i$ must read source position $L - 1 - i$, so a trained model concentrates each row on the anti-diagonal. Unlike the GRU decoder, the Transformer has no recurrent state that tells it where it is: it finds the right source position from the positional encodings of the queries and the keys alone. A row spread over several source digits marks a position the model is unsure of; in FAST mode, with fewer training steps, there are more of those.

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
viz.plot_attention(w[0], s[0] - synthetic.OFFSET, ['BOS'] + list(out[0, 1:L + 1] - synthetic.OFFSET),
                   title='cross-attention (reverse: an anti-diagonal)')
plt.show()

# %% [markdown]
# ## Summary
#
# * Self-attention is the read of notebook 07 turned on the sequence itself: $Q = XW_Q$, $K = XW_K$, $V = XW_V$ (D2.F2), $A = \mathrm{softmax}(QK^\top/\sqrt{d_k})$ row by row (D2.F3), output $AV$ (D0.F3, D4.F2); written step by step in NumPy it gives the fused op's numbers.
# * The scale $1/\sqrt{d_k}$ keeps the scores at unit variance; without it the rows turn one-hot as $d_k$ grows. The source's formulas (D0.F3's missing query-key product, D2.F3's double exponential, D2.F6's second ReLU, D2.M2's decoder order and lost skip path) were each computed beside ours.
# * Masks decide who may see whom: causal in a decoder's self-attention, key padding wherever sequences are padded.
# * A small encoder-decoder Transformer learns to reverse digit strings; its cross-attention map shows the anti-diagonal alignment that the RNN with attention found in notebook 07, now without any recurrence.
# * Next, notebook 09 keeps only the decoder half: a stack of causal self-attention blocks, trained to predict the next token of text, is a GPT.

# %% [markdown]
# ## Exercises
#
# Exercise chapter 7 practises this notebook (in `ch07_attention_transformer.py`):
#
# - **7.1** scaled dot-product attention and self-attention (D2.F3, D4.F2, D0.F3, D2.F2)
# - **7.2** scaled dot-product attention backward (D2.F3)
# - **7.3** the causal mask and a masked softmax (D2.M2, D2.F3)
# - **7.4** multi-head attention: split and merge the heads (D2.F4)
# - **7.5** erratum hunt: the decoder layer's order and residuals, the feed-forward block (D2.M2, D2.F5, D2.F6)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 7.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("7.1", scaled_dot_product_attention, self_attention)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
