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
# # 06 · An LSTM language model (D0.M1, D0.F4, D3.F6)
#
# A language model assigns a probability to text. By the chain rule any sequence's probability is a
# product of next-token predictions,
#
# $$p(w_1,\dots,w_T)=\prod_{t=1}^{T}p(w_t\mid w_1,\dots,w_{t-1}),$$
#
# so a model that predicts the next word from the words so far is a complete language model: it can score
# a text (how surprised is it?) and write one (draw a word, feed it back, repeat). Every large language
# model, GPT-3 included, is trained on exactly this objective. Document 000 calls its example "GPT-3",
# but what it builds is a recurrent language model (D0.M1): an embedding, a two-layer LSTM and a linear
# layer to the vocabulary. This notebook builds the targets, the forward pass, the loss and the perplexity
# by hand and checks each against the library, shows the document's faults, trains the model on CPython's
# documentation (shipped with Python, no download) and samples from it.

# %%
import os
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm.nn import functional as F
from tinygrad_lm.data.text import detokenize, word_tokenize
from tinygrad_lm.models import lstm_lm
from tinygrad_lm.recipes import lstm_lm as recipe
FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"  # tiny settings when the test suite runs this
tg.manual_seed(0)
rng = np.random.default_rng(0)
sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731

# %% [markdown]
# ## 1. Data: windows and shifted targets
#
# The text is cut into words and punctuation marks (`data.text.word_tokenize`), numbered by frequency
# (id 0 is `<unk>` for words outside the 10 000 most frequent) and cut into windows of 36 ids. A window
# gives 35 training examples at once: the input is its first 35 ids, the target its last 35, the same
# sequence shifted by one, so that position $t$ is asked to predict word $t+1$. A language model needs no
# labels; the text is its own supervision.

# %%
train_w, val_w, vocab = recipe.corpus(vocab_size=10000, seq_len=35)
print(train_w.shape, "training windows,", val_w.shape, "validation windows, vocabulary", len(vocab))
window = train_w[3]
inputs, targets = window[:-1], window[1:]                   # the shift, by hand
for a, b_ in list(zip(vocab.decode(inputs), vocab.decode(targets), strict=True))[10:16]:
    print(f"input {a!r:>14} -> target {b_!r}")
assert (targets[:-1] == inputs[1:]).all()

# %% [markdown]
# ## 2. The model, by hand (D0.M1, D3.F6, D0.F4)
#
# For input ids $w_1..w_T$:
#
# $$e_t = E_{w_t}\ \text{(embedding, D3.F6)},\qquad h^{(1)}_t,\,h^{(2)}_t = \text{two LSTM layers (D3.F4)},\qquad
# \hat y_t=\mathrm{softmax}\big(h^{(2)}_tW_{out}^\top+b_{out}\big)\in\mathbb R^{V}\ \text{(D0.F4)}$$
#
# $\hat y_t$ is a probability for every word of the vocabulary: the next-token distribution. The
# document's sizes are $V=10\,000$, embedding 256, hidden 512, dropout 0.5 on the embeddings and between
# the layers. Dropout is active only in training; in evaluation mode the network is deterministic and we
# can write it out as a NumPy loop over time and layers and compare with the engine:

# %%
small = lstm_lm.LSTMLanguageModel(len(vocab), embedding_dim=8, hidden_size=12, num_layers=2, dropout=0.5)
small.eval()
tokens = train_w[:3, :10]
P = {k: v.numpy().astype(np.float64) for k, v in small.named_parameters()}

def forward_by_hand(tokens):
    layer_in = P["embedding.weight"][tokens]                # (B, T, d): a row of E per word
    B, T, _ = layer_in.shape
    for layer in range(2):
        W_ih, W_hh = P[f"lstm.weight_ih_l{layer}"], P[f"lstm.weight_hh_l{layer}"]
        b = P[f"lstm.bias_ih_l{layer}"] + P[f"lstm.bias_hh_l{layer}"]
        H = W_hh.shape[1]
        h, c, outs = np.zeros((B, H)), np.zeros((B, H)), []
        for step in range(T):
            a = layer_in[:, step] @ W_ih.T + h @ W_hh.T + b
            i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
            c = f * c + i * g
            h = o * np.tanh(c)
            outs.append(h)
        layer_in = np.stack(outs, 1)
    return layer_in @ P["fc.weight"].T + P["fc.bias"]       # logits (B, T, V)

def softmax(z):
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)

logits_hand = forward_by_hand(tokens)
logits, _ = small(tg.tensor(tokens))
np.testing.assert_allclose(logits_hand, logits.numpy(), rtol=1e-4, atol=1e-6)
y_hat = softmax(logits_hand)                                # D0.F4: one distribution per position
np.testing.assert_allclose(y_hat.sum(-1), 1, rtol=1e-12)
np.testing.assert_allclose(y_hat, F.softmax(logits, dim=-1).numpy(), rtol=1e-4, atol=1e-8)
print("logits", logits.shape, "NumPy loop == engine; each of the", y_hat.shape[0] * y_hat.shape[1],
      "rows of y_hat sums to 1 over", y_hat.shape[-1], "words")

# %% [markdown]
# Document 000 writes the output as $\hat y=\mathrm{softmax}(O)$ with no projection: a softmax over the
# model's hidden features. Its length is the hidden size, so it cannot be a distribution over the
# vocabulary; $W_{out}$ (the `fc` layer, $V\times H$) is what maps a state to one score per word.

# %%
O = np.zeros((1, 12))                                       # a last-layer state, hidden size 12
print("softmax(O) has", softmax(O).shape[-1], "entries; softmax(O W_out^T) has",
      softmax(O @ P["fc.weight"].T).shape[-1], "= vocabulary size", len(vocab))
assert softmax(O).shape[-1] == 12 != len(vocab) == softmax(O @ P["fc.weight"].T).shape[-1]

# %% [markdown]
# ## 3. Loss, perplexity and accuracy, by hand
#
# The loss is the mean cross-entropy of the true next words,
# $\mathcal L=-\frac1N\sum_{t}\log\hat y_t[w_{t+1}]$ over all $N$ predicted positions. Its exponential is
# the **perplexity**, $\mathrm{PPL}=e^{\mathcal L}$: the model is as uncertain as if it chose uniformly
# among PPL words at each step. A model that knows nothing predicts the uniform distribution, with
# $\mathcal L=\log V$ and $\mathrm{PPL}=V$; an untrained network is close to that. **Next-token
# accuracy** is the share of positions where the most probable word, the arg-max over the *vocabulary*
# axis, is the true one. By hand against `recipe.evaluate`, on untrained weights:

# %%
size = dict(embedding_dim=32, hidden_size=64) if FAST else dict(embedding_dim=128, hidden_size=256)
model = lstm_lm.LSTMLanguageModel(len(vocab), num_layers=2, dropout=0.3, **size)
some = val_w[:16]
model.eval()
logits_v = model(tg.tensor(some[:, :-1]))[0].numpy().astype(np.float64)
model.train()
log_p = logits_v - logits_v.max(-1, keepdims=True)
log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))       # log-softmax
nll = -np.take_along_axis(log_p, some[:, 1:, None], -1).mean()
accuracy = (logits_v.argmax(-1) == some[:, 1:]).mean()
loss_lib, ppl_lib, acc_lib = recipe.evaluate(model, some)
np.testing.assert_allclose([nll, np.exp(nll), accuracy], [loss_lib, ppl_lib, acc_lib], rtol=1e-4)
print(f"untrained: loss {nll:.3f} (log V = {np.log(len(vocab)):.3f}), perplexity {np.exp(nll):.0f} "
      f"(V = {len(vocab)}), accuracy {accuracy:.4f}")

# %% [markdown]
# ## 4. What document 000's training code gets wrong (D0.M1)
#
# * **No targets.** Its loop reads `batch.label`, a field a language model does not have: the targets are
#   the inputs shifted by one, as in section 1.
# * **Unflattened targets.** It flattens the logits to $(B\cdot T, V)$ but passes targets as they come.
#   $(B, T)$ targets do not match $B\cdot T$ rows; they must be flattened too.
# * **The wrong arg-max axis.** Its accuracy takes `logits.max(dim=1)` of a $(B, T, V)$ tensor: the
#   maximum over *time*, which returns $(B, V)$ positions, not $(B, T)$ predicted words; and it counts
#   `targets.size(0)`, the batch size, as the number of predictions.
# * **The printed loss** is the last batch's, a noisy single number, not the epoch's mean.
# * **A removed API.** It imports `Field`, `TabularDataset` and `BucketIterator` from `torchtext.data`;
#   torchtext 0.9 moved them to `torchtext.legacy` and 0.12 removed them, so the code no longer runs.
# * **The name.** GPT-3 (Brown et al., 2020) is a decoder-only Transformer with 175 billion parameters;
#   this is a two-layer LSTM with about 11 million, counted below.

# %%
B, T, V = some.shape[0], some.shape[1] - 1, len(vocab)
flat = tg.tensor(logits_v).view(-1, V)
try:
    F.cross_entropy(flat, some[:, 1:])
    raise AssertionError("unflattened targets were accepted")
except ValueError as e:
    print("unflattened targets:", e)
print("flattened targets: loss", round(F.cross_entropy(flat, some[:, 1:].reshape(-1)).item(), 4))
wrong = logits_v.argmax(1)                                   # the document's axis: over time
print("arg-max over axis 1:", wrong.shape, "values < T =", T, "| over the vocabulary:", logits_v.argmax(-1).shape)
assert wrong.shape == (B, V) and wrong.max() < T
d, Hd, Vd = 256, 512, 10000                                 # the document's sizes
lstm_params = sum(4 * Hd * (n_in + Hd) + 2 * 4 * Hd for n_in in (d, Hd))
count = Vd * d + lstm_params + Hd * Vd + Vd
print(f"the document's model: {count / 1e6:.1f} M parameters; GPT-3: 175 000 M ({175e9 / count:.0f} times more)")

# %% [markdown]
# ## 5. Training
#
# Adam, cross-entropy on the shifted targets, batches of 32 windows, as the document (a smaller model and
# fewer steps here, so that the notebook runs in minutes on a CPU; the full run is
# `tinygrad-lm train lstm-lm`). After each epoch, the loss, perplexity and next-token accuracy on held-out
# documentation topics.

# %%
history = recipe.fit(model, train_w, val_w, epochs=1 if FAST else 4, batch_size=32, lr=2e-3,
                     max_steps=15 if FAST else None)
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].plot(history["loss"], "o-", label="train loss"); ax[0].plot(history["val_loss"], "o-", label="val loss")
ax[0].axhline(np.log(len(vocab)), color="gray", ls=":", label="log V (uniform)"); ax[0].legend()
ax[1].plot(history["val_perplexity"], "o-"); ax[1].set_ylabel("validation perplexity")
for a_ in ax:
    a_.set_xlabel("epoch")
plt.show()
assert history["val_loss"][-1] < np.log(len(vocab))

# %% [markdown]
# ## 6. Sampling
#
# To write, the model turns the last position's logits $z$ into a distribution, draws a word and feeds
# it back. The temperature $\tau$ reshapes the distribution, $p=\mathrm{softmax}(z/\tau)$: $\tau<1$
# sharpens it towards the most probable words (safer, more repetitive), $\tau>1$ flattens it (more
# varied, more mistakes). By hand, the first word that `lstm_lm.sample` draws, with the same seed:

# %%
prompt = "the with statement"
ids = vocab.encode(word_tokenize(prompt))
model.eval()
z = model(tg.tensor(ids[None]))[0].numpy()[0, -1].astype(np.float64)
model.train()
fig, ax = plt.subplots(figsize=(6, 3))
for temp in (0.5, 1.0, 2.0):
    p = softmax(z / temp)
    ax.plot(np.sort(p)[::-1][:30], "o-", ms=3, label=f"tau = {temp}")
ax.set_xlabel("rank of the word"); ax.set_ylabel("probability"); ax.legend(); plt.show()
first = np.random.default_rng(0).choice(len(z), p=softmax(z / 0.8))
assert lstm_lm.sample(model, vocab, prompt, 1, temperature=0.8, seed=0) == detokenize(word_tokenize(prompt) +
                                                                                      [vocab.itos[first]])
print("first word drawn by hand:", vocab.itos[first])
for temp in (0.5, 1.0):
    print(temp, lstm_lm.sample(model, vocab, prompt, 25, temperature=temp))

# %% [markdown]
# ## Summary
#
# * A language model predicts the next token; by the chain rule that is a full model of text. Its
#   targets are its inputs shifted by one, so it needs no labels (D0.M1).
# * The model is embedding (D3.F6) → two LSTM layers → a linear map to the vocabulary and a softmax, the
#   next-token distribution $\mathrm{softmax}(OW_{out})$ (D0.F4); without $W_{out}$ the softmax runs over
#   hidden features, not words. The forward pass was written as a NumPy loop and matched the engine.
# * Loss is the mean cross-entropy of the true next words; perplexity $e^{\mathcal L}$ starts near the
#   vocabulary size and falls as the model learns; accuracy takes the arg-max over the vocabulary axis.
# * Document 000's code has no targets, unflattened targets, the arg-max over time and a removed data
#   API, and its model is an LSTM with about 11 million parameters, not GPT-3.
# * Sampling draws from $\mathrm{softmax}(z/\tau)$; the temperature trades safety for variety.
# * Everything the LSTM has read is squeezed into one state vector. Notebook 07 lets a decoder look back at
#   every state of an encoder instead (attention), the step that leads to the Transformer (08) and GPT (09).

# %% [markdown]
# ## Exercises
#
# Exercise chapter 5 practises this notebook (in `ch05_text.py`):
#
# - **5.1** Tokenizer(num_words): word index and texts_to_sequences (D1.M1)
# - **5.2** pad_sequences: 'pre' padding and truncation (D1.M1)
# - **5.3** language-model targets, and next-token accuracy (D0.M1)
# - **5.4** perplexity over the real tokens (D0.M1, D0.F4)
# - **5.5** embedding backward with repeated indices (D3.F6)
#
# Write the student files into a folder, fill in the functions, then check them:
#
# ```bash
# tinygrad-lm exercises start DIR
# tinygrad-lm exercises check 5.1 --dir DIR     # or: check --all --dir DIR
# ```
#
# or from a notebook: `from tinygrad_lm.exercises import check; check("5.1", fit_word_index, texts_to_sequences)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md).
