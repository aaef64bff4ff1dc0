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
# # 07 · Attention-based translation: Luong attention (D1.T3, D2.F7)
#
# A plain encoder-decoder reads the whole source sentence into one fixed-size vector, the encoder's last state, and the decoder must write the translation from that vector alone. Long sentences do not fit: the last state remembers the end of the sentence better than its beginning. Attention removes the bottleneck. At every output step the decoder looks back at *all* encoder states, scores each against its own state, and reads a weighted mix of them. This is the idea that the Transformer of the next notebook (08) applies everywhere: the decoder state is the *query*, the encoder states are the *keys* and the *values*.
#
# This notebook is the bridge between the recurrent networks of notebooks 04 to 06 and the attention-only models of notebooks 08 and 09. The encoder and the decoder are still GRUs, read one word at a time as in notebook 04; what is new is a single attention read per output word. Section 6 takes that read apart into the query, key and value that the Transformer names, and runs it through the very function the Transformer uses, so that self-attention in notebook 08 is one small step: let the queries come from the same sequence as the keys.
#
# We build the model of Luong, Pham & Manning (2015, "Effective Approaches to Attention-based Neural Machine Translation", the paper document 001 recommends): GRU encoder and decoder with global attention and three score functions, trained on a **generated** translation-like task: an invented source language whose translation maps every word through a fixed dictionary and **reverses** the word order. The data is synthetic, not a real language pair; the reversal makes the correct alignment an anti-diagonal that the attention has to discover, so we can see whether it did.

# %%
import os, time
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm import viz
from tinygrad_lm.data.translation import BOS, PAD, ReverseDictionaryTask
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
#
# *dot* has no parameters and needs the decoder and encoder states to live in the same space; *general* learns a bilinear form between them; *concat* is Bahdanau's small feed-forward scorer. Training is teacher forcing: the decoder reads the gold previous word `<bos> y_1 ... y_{T-1}` and the loss is the mean cross-entropy over the real target words,
#
# $$J = -\frac{1}{N}\sum_{(b,t):\,y_{bt}\neq\texttt{<pad>}} \log p(y_{bt}\mid y_{b,<t}, x_b),$$
#
# with $N$ the number of real words in the batch.

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
# ## 3. One decoder step by hand
#
# Take the trained models, encode one sentence and run the decoder for one step from `<bos>`. Then compute every score $\mathrm{score}(h_t, \bar h_s)$ with a loop over the source positions, the softmax over the real words, the context $c_t$, the attentional state $\tilde h_t$ and the logits, in NumPy from the model's weights. `model.attend` must give the same logits and weights.

# %%
ex = task.sample(1, seed=7)
for score, model in models.items():
    model.eval()
    with tg.no_grad():
        h_s, h = model.encode(ex.src, ex.src_lengths)
        h_t, _ = model.decoder(model.tgt_embedding(np.array([[BOS]])), h)
        logits, weights = model.attend(h_t, h_s, np.arange(h_s.shape[1])[None] < ex.src_lengths[:, None])
    hs, ht = h_s.numpy()[0], h_t.numpy()[0, 0]
    S = int(ex.src_lengths[0])                             # real source words only; the padding gets weight 0
    W = {k: v.numpy() for k, v in model.named_parameters()}
    e = np.zeros(S)
    for s_ in range(S):
        if score == 'dot':
            e[s_] = sum(ht[k] * hs[s_, k] for k in range(len(ht)))
        elif score == 'general':
            e[s_] = ht @ (W['score.W_a.weight'] @ hs[s_])
        else:
            e[s_] = W['score.v_a.weight'][0] @ np.tanh(W['score.W_a.weight'] @ np.concatenate([ht, hs[s_]]))
    a = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
    c = sum(a[s_] * hs[s_] for s_ in range(S))
    h_tilde = np.tanh(W['W_c.weight'] @ np.concatenate([c, ht]))
    z = W['W_s.weight'] @ h_tilde + W['W_s.bias']
    np.testing.assert_allclose(weights.numpy()[0, 0, :S], a, rtol=1e-4, atol=1e-6)
    assert np.all(weights.numpy()[0, 0, S:] == 0)
    np.testing.assert_allclose(logits.numpy()[0, 0], z, rtol=1e-4, atol=1e-5)
    print(f'{score:8s} step 1 by hand == model.attend; weights', a.round(2), '-> first word', task.decode([int(z.argmax())]))

# %% [markdown]
# Greedy decoding (D2.F7: $y_t = \arg\max_v p(v\mid y_{<t}, x)$, fed back as the next input) as a literal loop, one GRU step at a time, against `model.greedy_decode`; and the teacher-forced loss as a loop over the real target words against `recipe.sequence_loss`.

# %%
model = models['general']
batch = task.sample(4, seed=3)
with tg.no_grad():
    h_s, h = model.encode(batch.src, batch.src_lengths)
    mask = np.arange(h_s.shape[1])[None] < batch.src_lengths[:, None]
    word, ours = np.full((4, 1), BOS), []
    for _ in range(batch.tgt_out.shape[1]):
        h_t, h = model.decoder(model.tgt_embedding(word), h)
        word = model.attend(h_t, h_s, mask)[0].numpy().argmax(-1)
        ours.append(word[:, 0])
    ids, _ = model.greedy_decode(batch.src, batch.src_lengths, batch.tgt_out.shape[1])
    ours = np.stack(ours, 1)[:, :ids.shape[1]]
    assert (ours == ids).all()
    logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
lp = logits.numpy() - np.log(np.exp(logits.numpy()).sum(-1, keepdims=True))
terms = [-lp[b_, t, y] for b_ in range(4) for t, y in enumerate(batch.tgt_out[b_]) if y != PAD]
J = sum(terms) / len(terms)
np.testing.assert_allclose(J, recipe.sequence_loss(model, batch).item(), rtol=1e-5)
print('greedy loop == greedy_decode:', ids.shape, f'| loss over {len(terms)} real words: {J:.4f} == sequence_loss')

# %% [markdown]
# ## 4. Attention maps
#
# Greedy decoding from `<bos>`, feeding back the arg-max word, with `viz.plot_attention` drawing the weights $a_{ts}$ the model used at each step. Each row is one output word, each column a source word, and a row sums to one: it is the distribution the decoder read its context from. Because the translation reverses the word order, the first output word is the dictionary image of the *last* source word, so a model that has found the alignment puts its weight mass on the anti-diagonal. Nobody told it where to look: the alignment was learned from the loss alone. All three score functions find the anti-diagonal, some more sharply than others; where a row smears over two neighbours, the GRU states of those words carry overlapping information.

# %%
src_words = task.decode(ex.src[0], task.src_vocab)
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
for ax, (score, model) in zip(axes, models.items(), strict=True):
    ids, maps = model.greedy_decode(ex.src, ex.src_lengths, ex.tgt_out.shape[1])
    out_words = task.decode(ids[0]) + ['<eos>']
    n = min(len(out_words), maps.shape[1])
    viz.plot_attention(maps[0, :n, :len(src_words)], src_words, out_words[:n], ax=ax, title=f'{score} score')
plt.tight_layout(); plt.show()
print('gold:', ' '.join(task.decode(ex.tgt_out[0])))

# %% [markdown]
# ## 5. The source's cross-attention beside ours (`docs/errata.md`)
#
# Document 002 (section 4.1.2) writes encoder-decoder attention as $\mathrm{softmax}(\mathrm{dot}(Q, K_V^\top))$, with one matrix $K_V$ that is "the encoder's keys and values", and no $1/\sqrt{d_k}$. Read with $Q = h_t$ and $K_V = \bar h$, that is exactly Luong's *dot* attention: the encoder states serve as both keys and values, and the cell below checks the equality on the trained model. For an RNN it works, because the encoder is trained to make its states good for both jobs at once. As a description of the Transformer it is wrong twice. A Transformer projects the memory twice, $K = \bar h W_K$ and $V = \bar h W_V$, so what a query *matches on* can differ from what it *reads*. And it scales the scores: with unit-variance components, $q\cdot k$ has variance $d$, so without the scale the softmax saturates as the width grows, nearly one-hot at $d = 512$; the plot shows its entropy.

# %%
model = models['dot']
with tg.no_grad():
    h_s, h = model.encode(ex.src, ex.src_lengths)
    h_t, _ = model.decoder(model.tgt_embedding(ex.tgt_in), h)
    _, w_ours = model.attend(h_t, h_s, np.arange(h_s.shape[1])[None] < ex.src_lengths[:, None])
Q, K_V = h_t.numpy()[0], h_s.numpy()[0, :int(ex.src_lengths[0])]
dot = Q @ K_V.T                                           # the source's dot(Q, K_V^T)
source = np.exp(dot - dot.max(1, keepdims=True)); source /= source.sum(1, keepdims=True)
np.testing.assert_allclose(source, w_ours.numpy()[0, :, :K_V.shape[0]], rtol=1e-4, atol=1e-6)
print("002's softmax(dot(Q, K_V^T)) == Luong's dot attention here")
rng = np.random.default_rng(0)
dims, H_plain, H_scaled = [4, 16, 64, 256, 512], [], []
for d in dims:
    q, k = rng.standard_normal((200, d)), rng.standard_normal((200, 10, d))
    for scale, out in ((1.0, H_plain), (1 / np.sqrt(d), H_scaled)):
        sc = np.einsum('nd,nsd->ns', q, k) * scale
        pw = np.exp(sc - sc.max(1, keepdims=True)); pw /= pw.sum(1, keepdims=True)
        out.append(-(pw * np.log(pw + 1e-30)).sum(1).mean())
plt.plot(dims, H_plain, 'o-', label='softmax(q·k), as in document 002')
plt.plot(dims, H_scaled, 's-', label='softmax(q·k / sqrt(d))')
plt.axhline(np.log(10), ls=':', c='gray', label='uniform over 10 keys')
plt.xscale('log'); plt.xlabel('width d'); plt.ylabel('entropy of the weights (nats)'); plt.legend(); plt.show()
assert H_plain[-1] < 0.5 * H_scaled[-1]

# %% [markdown]
# ## 6. From Luong attention to the Transformer's attention
#
# Write the general score in the vocabulary of the next notebook. The decoder state is the **query**, $q_t = h_t$. Each encoder state, passed through $W_a$, is a **key**, $k_s = W_a \bar h_s$, so that $\mathrm{score}(h_t, \bar h_s) = q_t \cdot k_s$. The encoder states themselves are the **values**, $v_s = \bar h_s$, and the context is $c_t = \sum_s \mathrm{softmax}_s(q_t\cdot k_s)\, v_s$. Stack the queries of all output steps into a matrix $Q$, the keys into $K$, the values into $V$, and the whole decoder's attention is one product, $\mathrm{softmax}(QK^\top)V$: the D2.F3 formula of notebook 08, except for its scale $1/\sqrt{d_k}$.
#
# The cell below runs the trained *general* model over the gold target (teacher forcing, every step at once) and hands $Q = \sqrt{H}\,h_t$ (the $\sqrt{H}$ cancels the scale the library applies), $K = \bar h W_a^\top$ and the padding mask to `tinygrad_lm.ops.attention.attention_weights`, the function the Transformer's layers are checked against. The weights must be the Luong model's, to the last digits. Three things then separate this model from a Transformer decoder layer: (1) the values get their own projection $W_V$, so what a query matches on differs from what it reads; (2) the queries also come from the *source* itself, each word attending to every other word of its own sentence (self-attention), which replaces the GRU's step-by-step reading and so lets all positions be computed at once; (3) with no recurrence the order of the words must be added to the embeddings, as positional encodings. Several such attentions run side by side as heads.

# %%
from tinygrad_lm.ops.attention import attention_weights
model = models['general']
with tg.no_grad():
    h_s, h = model.encode(ex.src, ex.src_lengths)
    h_t, _ = model.decoder(model.tgt_embedding(ex.tgt_in), h)
    mask = np.arange(h_s.shape[1])[None] < ex.src_lengths[:, None]
    _, w_luong = model.attend(h_t, h_s, mask)
    W_a = model.score.W_a.weight
    Q_ = h_t * float(np.sqrt(h_t.shape[-1]))                  # queries: the decoder states (scale undone)
    K_ = h_s @ W_a.T                                          # keys: W_a hbar_s, one per source word
    w_transformer = attention_weights(Q_, K_, mask[:, None, :])
np.testing.assert_allclose(w_transformer.numpy(), w_luong.numpy(), rtol=1e-4, atol=1e-6)
print('Luong general attention == attention_weights(Q = h_t, K = hbar W_a^T):', w_luong.shape, '(batch, target, source)')

# %% [markdown]
# ## Summary
#
# * Attention replaces the single vector between encoder and decoder with a fresh, weighted read of all encoder states at every output step (D1.T3): scores, a softmax over the real source words, a context vector, an attentional state.
# * The three Luong scores differ only in how they compare $h_t$ with $\bar h_s$; written as loops over source positions they give the model's numbers.
# * Training uses teacher forcing with the cross-entropy over real target words; generation feeds back the arg-max word (D2.F7), and the literal loop reproduces `greedy_decode`.
# * On the reversal task the learned weights lie on the anti-diagonal: the model has discovered the alignment without being told it.
# * Luong's *general* attention is the Transformer's attention function with $Q = h_t$, $K = \bar h W_a^\top$, $V = \bar h$ and no scale (section 6). The Transformer's cross-attention adds a value projection and the $1/\sqrt{d_k}$ scale; document 002's version leaves both out (section 5).
# * Next, notebook 08 (attention and the Transformer) takes the last step: queries, keys and values all from the same sequence (self-attention), no recurrence, positions added to the embeddings, several heads side by side.

# %% [markdown]
# ## Exercises
#
# Exercise chapter 6 practises this notebook (in `ch06_seq2seq_attention.py`):
#
# - **6.1** Luong's three scores: dot, general, concat (D1.T3)
# - **6.2** attention weights over the source, context, attentional state (D1.T3)
# - **6.3** teacher forcing: decoder inputs and targets (D1.T3, D2.M3)
# - **6.4** the sequence loss over real target words (D1.F2, D1.T3)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 6.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("6.1", dot_score, general_score, concat_score)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
