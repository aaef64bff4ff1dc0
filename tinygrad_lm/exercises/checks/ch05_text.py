"""Checks of chapter 5 (text tools and language models): against data.text's Keras-style tools and the ops."""
import numpy as np

from ... import ops
from ...data import text as keras_text
from ..core import CheckFailure, assert_close, cases, exercise, expect_equal, reference_grads, tensor64

_TEXTS = ["The cat sat on the mat.", "the DOG sat; the dog ran!", "A cat, a dog, and THE bird?", "ran ran ran",
          "", "bird-watching: the end"]


@exercise("5.1", "Tokenizer(num_words): word index and texts_to_sequences", ids=("D1.M1",), kind="build",
          file="ch05_text", entry=("fit_word_index", "texts_to_sequences"))
def _(fit_word_index, texts_to_sequences):
    for texts in (_TEXTS, _TEXTS[::-1], ["b a", "a b c", "c"]):
        tok = keras_text.Tokenizer()
        tok.fit_on_texts(texts)
        index = fit_word_index(list(texts))
        expect_equal(dict(index), tok.word_index, f"word index of {texts[:2]}...",
                     hint="by decreasing count, ties in first-seen order, from 1")
        for num_words in (None, 1, 2, 4, 100):
            tok = keras_text.Tokenizer(num_words=num_words)
            tok.fit_on_texts(texts)
            expect_equal(texts_to_sequences(list(texts), dict(tok.word_index), num_words),
                         tok.texts_to_sequences(texts), f"texts_to_sequences with num_words={num_words}",
                         hint="num_words keeps indices < num_words (so num_words - 1 words)")


@exercise("5.2", "pad_sequences: 'pre' padding and truncation", ids=("D1.M1",), kind="build", file="ch05_text",
          entry=("pad_sequences",))
def _(pad_sequences):
    seqs = [[1, 2, 3], [4, 5], [], [6, 7, 8, 9, 10], [11]]
    options = [{}, {"maxlen": 3}, {"maxlen": 4, "padding": "post"}, {"maxlen": 2, "truncating": "post"},
               {"maxlen": 6, "padding": "post", "truncating": "post", "value": -1}, {"maxlen": 0}, {"maxlen": 1}]
    for opts in options:
        want = keras_text.pad_sequences(seqs, dtype="int64", **opts)
        got = np.asarray(pad_sequences([list(s) for s in seqs], **opts))
        expect_equal(got.tolist(), want.tolist(), f"pad_sequences(..., {opts})",
                     hint="defaults are padding='pre' and truncating='pre' (keep the last maxlen items)")


def _windows(tokens, seq_len):
    n = (len(tokens) - 1) // seq_len
    return np.stack([tokens[i * seq_len:i * seq_len + seq_len + 1] for i in range(n)]).reshape(n, seq_len + 1)


@exercise("5.3", "language-model targets, and next-token accuracy", ids=("D0.M1",), kind="erratum", file="ch05_text",
          entry=("lm_inputs_targets", "next_token_accuracy"))
def _(lm_inputs_targets, next_token_accuracy):
    for n_tokens, seq_len in ((11, 5), (10, 3), (4, 3), (50, 7)):
        tokens = np.arange(100, 100 + n_tokens)
        windows = _windows(tokens, seq_len)
        got = lm_inputs_targets(tokens, seq_len)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailure("outputs", f"expected (inputs, targets), got {type(got).__name__}")
        where = f"{n_tokens} tokens, seq_len {seq_len}"
        expect_equal(np.asarray(got[0]).tolist(), windows[:, :-1].tolist(), f"inputs, {where}")
        expect_equal(np.asarray(got[1]).tolist(), windows[:, 1:].tolist(), f"targets, {where}",
                     hint="the target of each position is the next token")
    for rng, (B, T, V) in zip(cases(3, 3), [(2, 5, 5), (3, 4, 7), (1, 6, 6)], strict=True):
        logits, targets = rng.standard_normal((B, T, V)), rng.integers(0, V, (B, T))
        targets[:, ::2] = logits.argmax(axis=-1)[:, ::2]  # about half right
        want = float((logits.argmax(axis=-1) == targets).mean())
        got = next_token_accuracy(logits, targets)
        if T == V and got != want and np.isclose(got, (logits.argmax(axis=1) == targets).mean()):
            raise CheckFailure(f"accuracy, logits ({B}, {T}, {V})", f"{got} is the argmax over the time axis",
                               erratum="D0.M1: accuracy from the max over the time axis, not the vocabulary")
        assert_close(got, want, f"accuracy, logits ({B}, {T}, {V})", hint="argmax over the vocabulary")


@exercise("5.4", "perplexity over the real tokens", ids=("D0.M1", "D0.F4"), kind="build", file="ch05_text",
          entry=("perplexity",))
def _(perplexity):
    for rng, (B, T, V, pad) in zip(cases(4, 4), [(1, 3, 4, 0), (3, 5, 6, 0), (2, 4, 3, 2), (4, 2, 9, 0)], strict=True):
        logits, targets = rng.standard_normal((B, T, V)) * 2, rng.integers(0, V, (B, T))
        targets[0, 0] = pad if T > 1 else targets[0, 0]
        targets[-1, -1] = pad
        logits[0, -1, 0] += 300.0  # a large logit: a naive exp overflows
        ce = ops.cross_entropy(tensor64(logits.reshape(-1, V), False), targets.reshape(-1), ignore_index=pad)
        assert_close(perplexity(logits, targets, pad), np.exp(ce.numpy()), f"perplexity, logits ({B}, {T}, {V}), "
                     f"pad {pad}", hint="exp of the MEAN natural-log NLL over non-padding targets")


@exercise("5.5", "embedding backward with repeated indices", ids=("D3.F6",), kind="op", file="ch05_text",
          entry=("embedding_backward",))
def _(embedding_backward):
    configs = [((6,), 5, 3, None), ((2, 4), 4, 2, 0), ((1, 1), 3, 4, None), ((3, 5), 7, 3, 2)]
    for rng, (shape, n, dim, pad) in zip(cases(len(configs), 5), configs, strict=True):
        idx = rng.integers(0, n, shape)
        idx.reshape(-1)[:2] = 1  # a repeated index
        W = rng.standard_normal((n, dim))
        upstream = rng.standard_normal(shape + (dim,))
        _, (want,) = reference_grads(lambda w, i=idx, p=pad: ops.embedding(i, w, padding_idx=p), [W], upstream)
        assert_close(embedding_backward(idx, upstream, n, pad), want,
                     f"dE, indices {shape}, table ({n}, {dim}), padding_idx {pad}",
                     hint="repeated indices accumulate (np.add.at); the padding row stays zero")
