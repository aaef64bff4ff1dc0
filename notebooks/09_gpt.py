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
# # 09 · A small GPT on CPython's documentation (D4.M2, D2.M4, D0.F4, D2.F7)
#
# A language model does one thing: given the tokens so far, it gives a probability to every possible next token. Everything a chat assistant or a code completer does is built on repeating that single step. Document 004 shows it in five lines: load a pretrained GPT-2, encode a prompt, call `generate`, decode. Those five lines hide four separate machines, and the document's own version of them does not run (its model has no language-modelling head, see section 6).
#
# No weights can be downloaded here, so we build every piece ourselves and open each one up: a **byte-level BPE tokenizer** (text to integers), a **decoder-only Transformer** (pre-LayerNorm, tied embeddings) that turns integers into next-token distributions (D0.F4), and **`generate`** with a key-value cache and the usual sampling strategies (D2.F7 for the greedy one). Section 3 then runs the whole text-generation pipeline by hand, one step at a time (D2.M4), and checks that it writes exactly the tokens `model.generate` writes. The corpus is the documentation text that ships with Python (`pydoc_data.topics`), so the notebook runs offline.
#
# The model is the decoder half of notebook 08's Transformer with the cross-attention removed: with no source sentence there is no encoder to query, and every block is causal self-attention followed by a feed-forward network. Notebook 07's RNN read a source through attention; notebook 08 replaced the recurrence with self-attention; here that self-attention, masked so no token sees its future, is the whole model. Section 3 draws what its heads look at.

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
# A model needs a finite vocabulary, but text is open-ended: new words, names, emoji. Characters make sequences long; whole words leave many words unknown. Byte-pair encoding sits between the two. Start from the 256 byte values (so any string can be encoded, nothing is ever out of vocabulary), then repeatedly merge the most frequent adjacent pair into a new token. With $f(w)$ the count of pre-token $w$ in the corpus and $\#_{(a,b)}(w)$ how often the pair $(a, b)$ occurs in it, merge $r$ creates token $256 + r$ from
#
# $$(a, b)^\ast = \arg\max_{(a,b)} \sum_w f(w)\,\#_{(a,b)}(w),$$
#
# ties going to the smaller pair. Pre-tokenization (a regular expression, GPT-2's) splits the text into words, numbers, punctuation and spaces first, so merges stay inside words. Encoding a new string replays the merges in the order they were learned.

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
# The same training as plain loops: count every adjacent pair over the pre-tokens, take the most frequent, rewrite every word with the new token, repeat. The tokenizer's version keeps the counts in a heap and updates only the words that changed; its merges must be the literal loop's, in the same order.

# %%
import re
from collections import Counter
from tinygrad_lm.data.bpe import PATTERN
small = text[:3000]
words = Counter(re.findall(PATTERN, small))
seqs = {w: list(w.encode()) for w in words}
merges = []
for r in range(12):
    pairs = Counter()
    for w, f in words.items():
        for a, b in zip(seqs[w], seqs[w][1:], strict=False):
            pairs[a, b] += f
    best = min(pairs, key=lambda p: (-pairs[p], p))      # most frequent, ties to the smaller pair
    merges.append(best)
    for w in seqs:                                        # replace each occurrence, left to right
        out, i, ids = [], 0, seqs[w]
        while i < len(ids):
            if i + 1 < len(ids) and (ids[i], ids[i + 1]) == best:
                out.append(256 + r); i += 2
            else:
                out.append(ids[i]); i += 1
        seqs[w] = out
fast = ByteLevelBPETokenizer.train(small, vocab_size=256 + 1 + 12)
assert fast.merges == merges, (fast.merges, merges)
print('12 merges, loop == tokenizer:', [fast.token_str(256 + r) for r in range(12)])

# %% [markdown]
# ## 2. Training
#
# The model, for tokens $x_1 \dots x_T$:
#
# $$h^{(0)}_t = E_{tok}[x_t] + E_{pos}[t],\qquad a = h + \mathrm{Attn}(\mathrm{LN}_1(h)),\qquad h' = a + \mathrm{MLP}(\mathrm{LN}_2(a))$$
#
# where the attention is causal (token $t$ attends to tokens $s \le t$ only), and after $L$ blocks the next-token distribution (D0.F4) is
#
# $$\hat y_t = p(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}\big(\mathrm{LN}_f(h^{(L)}_t)\, E_{tok}^\top\big).$$
#
# The output matrix is the token embedding itself (tied weights): a token is scored by how well the final state matches the vector that reads it in. Training minimises the cross-entropy $-\frac1{T}\sum_t \log \hat y_t[x_{t+1}]$ over random windows of the corpus, with AdamW and gradient clipping at 1. Pre-LayerNorm (the norm inside the residual branch, GPT-2's choice) keeps the residual stream an untouched sum, which is why a deep stack trains without warm-up tricks.

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
# ## 3. The generation pipeline, step by step (D2.M4)
#
# Text generation is four stages: **tokenize** the prompt, **embed** the ids ($E_{tok}[x_t] + E_{pos}[t]$), **encode** them through the blocks to the final states, and **decode**: score the vocabulary from the last state, pick a token (greedy, D2.F7: $x_{T+1} = \arg\max_v \mathrm{softmax}(\mathrm{LN}_f(h_T)E_{tok}^\top)_v$), append it, and run again. Below every stage is written out: the embedding as two row look-ups in NumPy, the blocks called one by one, the head as a matrix product with the embedding table. No key-value cache: each step re-reads the whole prefix. The tokens must be exactly those of `model.generate`. (Document 002's section 4.2 lists the same stages for an encoder-decoder; a decoder-only model has no separate encoder, its blocks do both jobs.)

# %%
model.eval()
E, P = model.wte.weight.numpy(), model.wpe.weight.numpy()
ids = tok.encode('The ')                                          # 1. tokenize
for _ in range(20):
    x = E[ids] + P[np.arange(len(ids))]                           # 2. embed (token + position rows)
    h = tg.Tensor(x[None])
    with tg.no_grad():
        for block in model.h:                                     # 3. encode: the causal blocks
            h, _ = block(h)
        logits = (model.ln_f(h).numpy() @ E.T)[0, -1]             # 4. decode: D0.F4, tied weights ...
    p = np.exp(logits - logits.max()); p /= p.sum()
    ids.append(int(p.argmax()))                                   # ... and D2.F7: the most likely token
with tg.no_grad():
    np.testing.assert_allclose(model(np.array([ids[:-1]])).numpy()[0, -1], logits, rtol=1e-4, atol=1e-5)
reference = model.generate(np.array([tok.encode('The ')]), max_length=len(ids)).numpy()[0]
assert ids == reference.tolist(), (ids, reference)
print('by hand == model.generate:', repr(tok.decode(ids)))

# %% [markdown]
# Inside a block, causal attention for one head is a double loop: query $t$ scores every key $s \le t$ with $q_t \cdot k_s / \sqrt{d_h}$, takes the softmax over those $s$ only, and mixes their values. The engine does the same with one masked matrix product; the loop holds it to that.

# %%
def causal_attention_loop(att, x, allowed):
    """One layer's multi-head attention by loops; allowed(t, s) says whether query t may see key s."""
    T, C = x.shape
    H = att.n_head; d = C // H
    qkv = x @ att.c_attn.weight.numpy().T + att.c_attn.bias.numpy()
    q, k, v = qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:]
    y = np.zeros((T, C))
    for head in range(H):
        sl = slice(head * d, (head + 1) * d)
        for t in range(T):
            keys = [s for s in range(T) if allowed(t, s)]
            scores = np.array([q[t, sl] @ k[s, sl] / np.sqrt(d) for s in keys])
            w = np.exp(scores - scores.max()); w /= w.sum()
            y[t, sl] = sum(wi * v[s, sl] for wi, s in zip(w, keys, strict=True))
    return y @ att.c_proj.weight.numpy().T + att.c_proj.bias.numpy()

xin = model.h[0].ln_1(tg.Tensor(x[None])).numpy()[0]          # block 0's input, the last prefix of section 3
with tg.no_grad():
    engine = model.h[0].attn(tg.Tensor(xin[None]))[0].numpy()[0]
loop = causal_attention_loop(model.h[0].attn, xin, lambda t, s: s <= t)
np.testing.assert_allclose(loop, engine, rtol=1e-3, atol=1e-5)
print('causal attention, loops == engine: max |diff| =', np.abs(loop - engine).max())

# %% [markdown]
# ### What the heads look at
#
# The weights inside that loop are worth a picture. The cell below takes a prompt, runs it through the trained blocks, and at the last block recomputes each head's map $A = \mathrm{softmax}(QK^\top/\sqrt{d_h} + M)$ from the block's own projection `c_attn`, with $M$ the causal mask, through `attention_weights` (the function notebook 08 checked against the fused op). Multiplying the maps by the values and projecting must give the block's attention output, so these are the weights the model really used. `viz.plot_attention` draws one map per head: row $t$ is the query token, column $s$ a key token, and everything above the diagonal is exactly zero because a token never sees its future. A head that has learned nothing averages its past evenly, row $t$ holding $1/t$ in each of its $t$ columns; training moves it away from that. Patterns to look for after the full run: a head that puts most of its weight on the first token (a resting place when nothing else is relevant), a head that looks at the previous token, and heads that pick out one earlier word, such as a token continuing the word it belongs to. In FAST mode the model has trained for only 60 steps, so its maps stay close to the even average.

# %%
from tinygrad_lm import viz
from tinygrad_lm.ops.attention import attention_weights
ids_map = tok.encode('The assert statement raises an error')
with tg.no_grad():
    h = model.wte(np.array([ids_map])) + model.wpe(np.arange(len(ids_map)))
    for block in model.h[:-1]:
        h, _ = block(h)
    att = model.h[-1].attn
    x_ln = model.h[-1].ln_1(h)
    B_, T_, C_ = x_ln.shape; H_ = att.n_head
    qkv = att.c_attn(x_ln).reshape(B_, T_, 3, H_, C_ // H_).permute(2, 0, 3, 1, 4)   # as in the model
    q, k, v = qkv[0], qkv[1], qkv[2]
    maps = attention_weights(q, k, np.tril(np.ones((T_, T_), bool)))               # (1, heads, T, T)
    y = (maps @ v).permute(0, 2, 1, 3).reshape(B_, T_, C_)
    np.testing.assert_allclose(att.c_proj(y).numpy(), att(x_ln)[0].numpy(), rtol=1e-4, atol=1e-5)
assert np.all(np.triu(maps.numpy()[0], 1) == 0)
words = [tok.token_str(i).replace(' ', '·') for i in ids_map]                  # '·' marks a space
viz.plot_attention(maps[0], words, words)
plt.show()

# %% [markdown]
# ## 4. Sampling strategies
#
# Greedy decoding is one way to turn $\hat y$ into a token. The others sample, with the logits $z$ reshaped first:
#
# * **greedy**: $\arg\max_v z_v$ at each step (D2.F7) — deterministic, tends to loop;
# * **temperature** $T$: sample from $\mathrm{softmax}(z/T)$ — low $T$ sharpens, high $T$ flattens ($T\to 0$ is greedy, $T\to\infty$ uniform);
# * **top-k**: keep the $k$ largest $z_v$, set the rest to $-\infty$;
# * **top-p** (nucleus): sort the probabilities $p_{(1)} \ge p_{(2)} \ge \dots$ and keep the fewest tokens whose mass reaches $p$: token $(j)$ stays when $\sum_{i<j} p_{(i)} < p$.

# %%
z = np.log(np.array([[0.45, 0.25, 0.15, 0.1, 0.05]]))
fig, axes = plt.subplots(1, 4, figsize=(14, 2.6))
def probs(l):
    e = np.exp(l - l.max()); return (e / e.sum())[0]
for ax, (name, l) in zip(axes, [('T = 1', z), ('T = 0.5', z / 0.5), ('top-k = 2', top_k_filter(z, 2)),
                                 ('top-p = 0.8', top_p_filter(z, 0.8))], strict=True):
    ax.bar(range(5), probs(l)); ax.set_title(name); ax.set_ylim(0, 1)
plt.show()
zl = np.random.default_rng(0).standard_normal((3, 40))           # the two filters as loops over a sorted row
for row, kept_k, kept_p in zip(zl, np.isfinite(top_k_filter(zl, 5)), np.isfinite(top_p_filter(zl, 0.8)), strict=True):
    order = sorted(range(40), key=lambda v: -row[v])
    assert set(np.flatnonzero(kept_k)) == set(order[:5])
    pr = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
    mass, nucleus = 0.0, set()
    for v in order:
        if mass >= 0.8:
            break
        nucleus.add(v); mass += pr[v]
    assert set(np.flatnonzero(kept_p)) == nucleus
print('top-k and top-p filters == their loops')

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
# ## 5. The key-value cache
#
# The pipeline of section 3 re-runs the whole prefix for every new token: generating $n$ tokens costs $O(n^2)$ positions of work. But the keys and values of past tokens never change (causal attention: token $s$ does not see what comes after it), so each step can compute one position and append its $k$ and $v$ to a cache. The tokens are identical:

# %%
tokens = {}
for use_cache in (False, True):
    tg.manual_seed(3); t0 = time.time()
    out = model.generate(prompt, max_length=40 if FAST else 120, use_cache=use_cache)
    print(f'use_cache={use_cache}: {(out.shape[1] - 2) / (time.time() - t0):.0f} tokens/s')
    tokens[use_cache] = out.numpy()
assert (tokens[True] == tokens[False]).all()

# %% [markdown]
# ## 6. The source's errors beside the fix (`docs/errata.md`)
#
# **D4.M2, the wrong model class.** Document 004 loads `GPT2Model`, the Transformer *without* its language-modelling head, and calls `generate` on it. That model returns hidden states, one vector of width `n_embd` per position; there is nothing to take a next token from. The arg-max of a hidden state is the index of its largest *feature*, a number below `n_embd` that has nothing to do with the vocabulary. Generation needs next-token logits, i.e. `GPT2LMHeadModel` (our `GPT.lm_head`).

# %%
prompt_ids = np.array([tok.encode('The assert statement')])
with tg.no_grad():
    hs = model.wte(prompt_ids) + model.wpe(np.arange(prompt_ids.shape[1]))
    for block in model.h:
        hs, _ = block(hs)
    hidden = model.ln_f(hs).numpy()                     # what GPT2Model returns
    logits = model(prompt_ids).numpy()                  # what GPT2LMHeadModel returns
print('hidden states', hidden.shape, '-> arg-max over features:', hidden[0, -1].argmax(),
      f'(always < n_embd = {cfg.n_embd}): {tok.token_str(int(hidden[0, -1].argmax()))!r}')
print('logits', logits.shape, '-> arg-max over the vocabulary:', repr(tok.token_str(int(logits[0, -1].argmax()))))
assert hidden.shape[-1] == cfg.n_embd and logits.shape[-1] == tok.vocab_size

# %% [markdown]
# **D4.M2, `max_length` and `num_return_sequences`.** `max_length=50` counts the prompt's tokens too, so a prompt of $n$ tokens gets at most $50 - n$ new ones (we keep Hugging Face's meaning). And greedy decoding is deterministic: asking it for several sequences would return copies, which the library refuses; so do we, by name.

# %%
out = model.generate(prompt_ids, max_length=50)
print('prompt', prompt_ids.shape[1], 'tokens + new', out.shape[1] - prompt_ids.shape[1], '=', out.shape[1])
assert out.shape[1] == 50
try:
    model.generate(prompt_ids, max_length=50, num_return_sequences=2)
    raise AssertionError("greedy decoding with num_return_sequences=2 ran")
except ValueError as e:
    print('ValueError:', e)

# %% [markdown]
# **D4.M2, the pad token.** GPT-2 has no pad token, and the document passes no attention mask and no `pad_token_id`, so the library warns and falls back on the end-of-text token; its decoding is greedy without the text saying so. What happens in a batch: a row that emits the end token is finished, and from then on it is padded with that same token while the others go on. Our `generate` does exactly that, and says so in its docstring. Below, two prompts of equal length; the end token is set to the first token row 0 would write, so row 0 finishes at once.

# %%
other = prompt_ids.copy(); other[0, -1] = tok.encode(' x')[0]            # a second prompt, same length
pair = np.concatenate([prompt_ids, other])
n = pair.shape[1]
free = model.generate(pair, max_length=n + 8).numpy()                   # greedy, no end token
eos = int(free[0, n])                                                   # row 0's first new token
padded = model.generate(pair, max_length=n + 8, eos_token_id=eos).numpy()
for row_free, row in zip(free, padded, strict=True):
    print(repr(tok.decode(row[:n].tolist())), '-> without an end token', row_free[n:].tolist(),
          f'| with eos_token_id={eos}', row[n:].tolist())
assert (padded[0, n:] == eos).all()                                     # finished: padded with eos
if eos not in free[1, n:]:
    assert (padded[1] == free[1]).all()                                 # the other row goes on unchanged

# %% [markdown]
# **Document 002, sections 4.2.3 and 4.2.4: attention of a token to itself.** Its worked text-generation example writes each token's attention as $\mathrm{softmax}(\mathrm{dot}(Q_i, K_i, V_i))\,V_i$: a "dot" of three vectors, which has no meaning, and in any reading only the $i$-th token's own query, key and value, never another position's. Read as the $i$-th query against the $i$-th key only, a softmax over one score is exactly 1, so the "attention" returns $v_i$: every position ignores the rest of the sentence. The loop of section 3, allowed to see only $s = t$, shows it: changing the earlier tokens leaves the last output unchanged, where the causal version changes.

# %%
xa = xin.copy(); xb = xin.copy(); xb[:-1] = np.random.default_rng(1).standard_normal(xb[:-1].shape)
self_only = lambda t, s: s == t
causal = lambda t, s: s <= t
att0 = model.h[0].attn
d_self = np.abs(causal_attention_loop(att0, xa, self_only)[-1] - causal_attention_loop(att0, xb, self_only)[-1]).max()
d_causal = np.abs(causal_attention_loop(att0, xa, causal)[-1] - causal_attention_loop(att0, xb, causal)[-1]).max()
print(f'last output moves by {d_self:.1e} (self only) vs {d_causal:.3f} (causal) when the context changes')
assert d_self < 1e-12 < d_causal

# %% [markdown]
# ## Summary
#
# * BPE turns any string into ids from a fixed vocabulary by replaying merges learned from counts; its fast trainer makes the same merges as the literal loop.
# * A GPT maps ids to next-token distributions, $\mathrm{softmax}(\mathrm{LN}_f(h_T)E_{tok}^\top)$ (D0.F4); it is notebook 08's decoder without cross-attention, and its causal attention lets each position see only its past (the maps of section 3 are zero above the diagonal).
# * Generation (D2.M4) is tokenize → embed → encode → decode, one token at a time; written out by hand it gives the very tokens of `model.generate`, and the key-value cache gives them faster.
# * Greedy decoding (D2.F7) is one choice among several; temperature, top-k and top-p trade faithfulness for variety.
# * Document 004's example cannot generate: its model has no head. Document 002's self-only attention ignores the context.

# %% [markdown]
# ## Exercises
#
# Exercise chapter 8 practises this notebook (in `ch08_gpt.py`):
#
# - **8.1** one byte-pair-encoding merge (D4.M2)
# - **8.2** top-k and top-p (nucleus) filtering (D4.M2, D2.F7)
# - **8.3** one attention step with a key-value cache (D4.M2, D2.F3)
# - **8.4** LayerNorm forward and backward (D2.M1, D4.M2)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 8.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("8.1", bpe_merge_step)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
