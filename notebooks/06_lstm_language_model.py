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
# # D0.M1: an LSTM language model on CPython's documentation
#
# Targets are the inputs shifted by one word. We report perplexity $e^{\text{loss}}$ and next-token accuracy each epoch.

# %%
import os
import matplotlib.pyplot as plt
import tinygrad_lm as tg
FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"
tg.manual_seed(0)

# %%
from tinygrad_lm.models import lstm_lm
from tinygrad_lm.recipes import lstm_lm as recipe
train_w, val_w, vocab = recipe.corpus(vocab_size=10000, seq_len=35)
print(train_w.shape, val_w.shape, len(vocab))

# %%
size = dict(embedding_dim=32, hidden_size=64) if FAST else dict(embedding_dim=128, hidden_size=256)
model = lstm_lm.LSTMLanguageModel(len(vocab), num_layers=2, dropout=0.3, **size)
history = recipe.fit(model, train_w, val_w, epochs=1 if FAST else 4, batch_size=32, lr=2e-3, max_steps=15 if FAST else None)

# %%
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].plot(history['loss'], 'o-', label='train loss'); ax[0].plot(history['val_loss'], 'o-', label='val loss'); ax[0].legend()
ax[1].plot(history['val_perplexity'], 'o-'); ax[1].set_ylabel('validation perplexity'); plt.show()

# %%
for temp in (0.5, 1.0):
    print(temp, lstm_lm.sample(model, vocab, 'the with statement', 25, temperature=temp))

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
