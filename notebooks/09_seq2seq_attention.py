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
# # 09 · Attention-based translation: Luong attention (D1.T3)
#
# An encoder-decoder of GRUs with global attention (Luong, Pham & Manning 2015), on a **generated** translation-like task: an invented source language whose translation maps every word through a fixed dictionary and **reverses** the word order. The data is synthetic, not a real language pair; the reversal makes the correct alignment an anti-diagonal that the attention has to discover.

# %%
import os, time
import matplotlib.pyplot as plt
from tinygrad_lm.data.translation import ReverseDictionaryTask
from tinygrad_lm.recipes import seq2seq_attention as recipe
FAST = os.environ.get('TINYGRAD_LM_FAST') == '1'

# %% [markdown]
# ## 1. The generated task
#
# Ids 0, 1, 2 are `<pad>`, `<bos>`, `<eos>`. Sentences have 3 to `max_len` words; the decoder reads `<bos> y` (teacher forcing) and predicts `y <eos>`.

# %%
task = ReverseDictionaryTask(vocab_size=12, min_len=3, max_len=6, seed=0)
b = task.sample(3, seed=1)
for i in range(3):
    print(' '.join(task.decode(b.src[i], task.src_vocab)), ' -> ', ' '.join(task.decode(b.tgt_out[i])))

# %% [markdown]
# ## 2. The model
#
# Encoder states $\bar h_s$, decoder state $h_t$. Three score functions:
#
# * dot: $\mathrm{score}(h_t,\bar h_s) = h_t^\top \bar h_s$
# * general: $h_t^\top W_a \bar h_s$
# * concat: $v_a^\top \tanh(W_a[h_t;\bar h_s])$
#
# Then $a_t = \mathrm{softmax}(\mathrm{score})$ over the real (unpadded) source words, $c_t = \sum_s a_{ts}\bar h_s$, $\tilde h_t = \tanh(W_c[c_t;h_t])$ and $p(y_t\mid y_{<t},x) = \mathrm{softmax}(W_s\tilde h_t)$. We use no input feeding, so in training the decoder GRU runs over the whole gold target at once.

# %%
steps = 150 if FAST else 500
held_out = task.sample(500, seed=10**6)
models, curves = {}, {}
for score in ('dot', 'general', 'concat'):
    _, model, opt = recipe.setup(score)  # vocab 12, max_len 6, E 16, H 32, Adam lr 1e-2
    t0 = time.time()
    curves[score] = recipe.fit(model, opt, task, steps, 32)
    models[score] = model
    seq, tok = recipe.accuracy(model, held_out)
    print(f'{score:8s} {time.time() - t0:5.1f} s  exact-sequence {seq:.3f}  token {tok:.3f}')
for score, c in curves.items():
    plt.plot(c, label=score)
plt.yscale('log'); plt.xlabel('Adam step'); plt.ylabel('cross-entropy'); plt.legend(); plt.show()

# %% [markdown]
# ## 3. Attention maps
#
# Greedy decoding from `<bos>`, feeding back the arg-max word. Each row is one output word, each column a source word: the weight mass should lie on the anti-diagonal.

# %%
ex = task.sample(1, seed=7)
src_words = task.decode(ex.src[0], task.src_vocab)
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
for ax, (score, model) in zip(axes, models.items()):
    ids, maps = model.greedy_decode(ex.src, ex.src_lengths, ex.tgt_out.shape[1])
    out_words = task.decode(ids[0]) + ['<eos>']
    n = min(len(out_words), maps.shape[1])
    ax.imshow(maps[0, :n, :len(src_words)], cmap='viridis', vmin=0, vmax=1)
    ax.set_xticks(range(len(src_words)), src_words); ax.set_yticks(range(n), out_words[:n])
    ax.set_title(f'{score} score'); ax.set_xlabel('source')
axes[0].set_ylabel('output'); plt.tight_layout(); plt.show()
print('gold:', ' '.join(task.decode(ex.tgt_out[0])))

# %% [markdown]
# ## Exercises
#
# Exercise chapter 8 practises this notebook (in `ch08_seq2seq_attention.py`):
#
# - **8.1** Luong's three scores: dot, general, concat (D1.T3)
# - **8.2** attention weights over the source, context, attentional state (D1.T3)
# - **8.3** teacher forcing: decoder inputs and targets (D1.T3, D2.M3)
# - **8.4** the sequence loss over real target words (D1.F2, D1.T3)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 8.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("8.1", dot_score, general_score, concat_score)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
