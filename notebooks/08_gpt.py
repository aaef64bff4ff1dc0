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
# # 08 · A small GPT on CPython's documentation (D4.M2)
#
# The inventory's document 004 loads a pretrained GPT-2 and calls `generate`. No weights can be downloaded here, so we build every piece ourselves: a **byte-level BPE tokenizer**, a **decoder-only Transformer** (pre-LayerNorm, tied embeddings), and **`generate`** with a key-value cache and the usual sampling strategies. The corpus is the documentation text that ships with Python (`pydoc_data.topics`).

# %%
import os, time
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm.data.bpe import ByteLevelBPETokenizer
from tinygrad_lm.data.text import pydoc_corpus
from tinygrad_lm.models.gpt import GPT, GPTConfig, top_k_filter, top_p_filter
from tinygrad_lm.recipes.gpt import evaluate, get_batch, make_optimizer, prepare_tokens, train_step
FAST = os.environ.get('TINYGRAD_LM_FAST') == '1'
tg.manual_seed(0)

# %% [markdown]
# ## 1. Byte-level BPE
#
# Start from the 256 byte values (so any string can be encoded), then repeatedly merge the most frequent adjacent pair into a new token. Pre-tokenization keeps merges inside words.

# %%
text = pydoc_corpus('train')
print(f'{len(text):,} characters of training text')
tok = ByteLevelBPETokenizer.train(text, vocab_size=384 if FAST else 1024)
print(tok)
print('first merges:', [tok.token_str(i) for i in range(256, 276)])
s = 'The assert statement raises AssertionError — naïve café 🐍'
ids = tok.encode(s)
print(len(s.encode()), 'bytes ->', len(ids), 'tokens:', [tok.token_str(i) for i in ids])
assert tok.decode(ids) == s

# %%
sizes = [300, 384, 512] if FAST else [300, 512, 1024, 2048]
sample = text[:50000]
ratios = []
for v in sizes:
    t = ByteLevelBPETokenizer.train(text, vocab_size=v)
    ratios.append(len(sample.encode()) / len(t.encode(sample)))
plt.plot(sizes, ratios, 'o-'); plt.xlabel('vocabulary size'); plt.ylabel('bytes per token')
plt.title('BPE compression of the documentation'); plt.show()

# %% [markdown]
# ## 2. Training
#
# $h_0 = E_{tok}[x_t] + E_{pos}[t]$; each block computes $h + \mathrm{Attn}(\mathrm{LN}(h))$ then $+\,\mathrm{MLP}(\mathrm{LN}(\cdot))$; the next-token distribution is $\mathrm{softmax}(\mathrm{LN}(h_L) E_{tok}^T)$ (D0.F4, tied weights). AdamW, gradient clipping at 1.

# %%
tok, train_ids, val_ids = prepare_tokens(0, tok)
cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=32 if FAST else 128, n_layer=2 if FAST else 4,
                n_head=2 if FAST else 4, n_embd=48 if FAST else 128, dropout=0.0)
model = GPT(cfg)
optimizer = make_optimizer(model, 3e-3 if FAST else 1e-3)
steps, every = (60, 20) if FAST else (1500, 100)
rng = np.random.default_rng(0)
history = {'loss': [], 'val_loss': []}
running, t0 = [], time.time()
print(f'{model.num_parameters():,} parameters; untrained validation loss {evaluate(model, val_ids, cfg.block_size):.3f}')
for step in range(steps):
    x, y = get_batch(train_ids, 16, cfg.block_size, rng)
    running.append(train_step(model, optimizer, x, y))
    if (step + 1) % every == 0:
        history['loss'].append(np.mean(running)); running = []
        history['val_loss'].append(evaluate(model, val_ids, cfg.block_size))
        print(f"step {step + 1}: train {history['loss'][-1]:.3f}  validation {history['val_loss'][-1]:.3f}  "
              f'({time.time() - t0:.0f}s)')

# %%
plt.plot(np.arange(1, len(history['loss']) + 1) * every, history['loss'], label='train')
plt.plot(np.arange(1, len(history['val_loss']) + 1) * every, history['val_loss'], label='validation')
plt.xlabel('step'); plt.ylabel('cross-entropy (nats/token)'); plt.legend(); plt.show()

# %% [markdown]
# ## 3. Sampling strategies
#
# * **greedy**: argmax at each step (D2.F7) — deterministic, tends to loop;
# * **temperature** $T$: sample from $\mathrm{softmax}(z/T)$ — low $T$ sharpens, high $T$ flattens;
# * **top-k**: keep the $k$ most likely tokens;
# * **top-p** (nucleus): keep the fewest tokens whose probabilities sum to at least $p$.

# %%
z = np.log(np.array([[0.45, 0.25, 0.15, 0.1, 0.05]]))
fig, axes = plt.subplots(1, 4, figsize=(14, 2.6))
def probs(l):
    e = np.exp(l - l.max()); return (e / e.sum())[0]
for ax, (name, l) in zip(axes, [('T = 1', z), ('T = 0.5', z / 0.5), ('top-k = 2', top_k_filter(z, 2)),
                                 ('top-p = 0.8', top_p_filter(z, 0.8))]):
    ax.bar(range(5), probs(l)); ax.set_title(name); ax.set_ylim(0, 1)
plt.show()

# %%
prompt = np.array([tok.encode('The ')])
strategies = {'greedy': {}, 'temperature 0.7': dict(do_sample=True, temperature=0.7),
              'temperature 1.3': dict(do_sample=True, temperature=1.3), 'top-k 20': dict(do_sample=True, top_k=20),
              'top-p 0.9': dict(do_sample=True, top_p=0.9)}
for name, kw in strategies.items():
    tg.manual_seed(1)
    out = model.generate(prompt, max_length=50, eos_token_id=tok.eos_token_id, **kw)
    print(f'--- {name}\n{tok.decode(out.numpy()[0], skip_special_tokens=True)}\n')

# %% [markdown]
# ## 4. The key-value cache
#
# Without a cache every new token re-runs the whole prefix; with it each step computes one position and appends its keys and values. The tokens are identical:

# %%
tokens = {}
for use_cache in (False, True):
    tg.manual_seed(3); t0 = time.time()
    out = model.generate(prompt, max_length=40 if FAST else 120, use_cache=use_cache)
    print(f'use_cache={use_cache}: {(out.shape[1] - 2) / (time.time() - t0):.0f} tokens/s')
    tokens[use_cache] = out.numpy()
assert (tokens[True] == tokens[False]).all()

# %% [markdown]
# **About document 004's example.** It loads `GPT2Model`, the Transformer *without* its language-modelling head, and calls `generate` on it; generation needs next-token logits, i.e. `GPT2LMHeadModel` (our `GPT.lm_head`). `max_length=50` also counts the prompt's tokens, as here.

# %% [markdown]
# ## Exercises
#
# Exercise chapter 7 practises this notebook (in `ch07_gpt.py`):
#
# - **7.1** one byte-pair-encoding merge (D4.M2)
# - **7.2** top-k and top-p (nucleus) filtering (D4.M2, D2.F7)
# - **7.3** one attention step with a key-value cache (D4.M2, D2.F3)
# - **7.4** LayerNorm forward and backward (D2.M1, D4.M2)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 7.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("7.1", bpe_merge_step)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
