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
# # D1.M1: an LSTM text classifier, Keras style
#
# Tell a paragraph of Python's documentation about a *statement* from one about a *built-in type*.

# %%
import os
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
FAST = os.environ.get("TINYGRAD_LM_FAST") == "1"
tg.manual_seed(0)

# %%
from tinygrad_lm.data.text import pad_sequences
from tinygrad_lm.models import lstm_classifier
(x, y), (x_test, y_test), tokenizer = lstm_classifier.prepare(num_words=1000, maxlen=100)
print(x.shape, x_test.shape, y.mean())
print(x[0][-12:])

# %%
model = lstm_classifier.build(1000)  # Embedding(1000,16) -> LSTM(32) -> Dense(1, sigmoid), adam + BCE + accuracy
history = model.fit(x, y, epochs=2 if FAST else 10, batch_size=32, validation_data=(x_test, y_test), verbose=2)

# %%
history.plot(); plt.show()
print(model.evaluate(x_test, y_test))

# %%
texts = ['Return a copy of the string with all the cased characters converted to uppercase.',
         'The while statement is used for repeated execution as long as an expression is true.']
print(model.predict(pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=100).astype(np.int64)))

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
