"""Chapter 5 exercises: text tools and language models (notebooks 05-06), in plain Python and NumPy.

Check your work with ``tinygrad-lm exercises check 5.1 --dir .`` (or ``--all``).
"""
import numpy as np

from tinygrad_lm.data.text import text_to_word_sequence  # Keras's word splitter: lower-case, punctuation removed


def fit_word_index(texts):
    """5.1  Keras's ``Tokenizer.fit_on_texts`` (D1.M1): split each text with ``text_to_word_sequence``, count
    every word over all texts, and number the words from 1 by decreasing count (ties: the word seen first
    comes first). Index 0 is left for padding. Return the dict word -> index."""
    ### BEGIN SOLUTION (5.1) hint: sort by count only, with a stable sort so ties keep their first-seen order
    counts = {}
    for text in texts:
        for word in text_to_word_sequence(text):
            counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=lambda w: -counts[w])
    return {w: i for i, w in enumerate(ranked, start=1)}
    ### END SOLUTION


def texts_to_sequences(texts, word_index, num_words=None):
    """5.1  Keras's ``texts_to_sequences`` for ``Tokenizer(num_words)``: each text becomes the list of its
    words' indices; words not in ``word_index``, and (when num_words is given) words whose index is not
    below num_words, are dropped. So ``num_words=1000`` keeps 999 words. Return a list of lists of ints."""
    ### BEGIN SOLUTION (5.1) hint: keep an index i only if i < num_words (index 0 is padding, so it is never used)
    out = []
    for text in texts:
        ids = [word_index.get(w) for w in text_to_word_sequence(text)]
        out.append([i for i in ids if i is not None and (num_words is None or i < num_words)])
    return out
    ### END SOLUTION


def pad_sequences(sequences, maxlen=None, padding="pre", truncating="pre", value=0):
    """5.2  Keras's ``pad_sequences`` (D1.M1): an int array (len(sequences), maxlen); maxlen defaults to the
    longest sequence. A shorter sequence is filled with ``value`` before it (padding='pre', the default)
    or after it ('post'); a longer one loses its beginning (truncating='pre', the default) or its end ('post')."""
    ### BEGIN SOLUTION (5.2) hint: both defaults are 'pre': padding goes in front, and truncation keeps the LAST maxlen items
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), maxlen), value, dtype=np.int64)
    for row, seq in enumerate(sequences):
        seq = list(seq)
        if maxlen == 0 or not seq:
            continue
        seq = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if padding == "pre":
            out[row, maxlen - len(seq):] = seq
        else:
            out[row, :len(seq)] = seq
    return out
    ### END SOLUTION


def lm_inputs_targets(tokens, seq_len):
    """5.3  D0.M1's data: a language model has no label field; its targets are its inputs shifted by one.
    Cut the 1-D token stream into n = (len(tokens) - 1) // seq_len windows starting at 0, seq_len, 2 seq_len,
    ...; return (inputs, targets), both (n, seq_len), where targets[i, t] is the token after inputs[i, t]."""
    ### BEGIN SOLUTION (5.3) hint: window i covers tokens[i*seq_len : i*seq_len + seq_len + 1]
    tokens = np.asarray(tokens)
    n = (len(tokens) - 1) // seq_len
    windows = np.stack([tokens[i * seq_len:i * seq_len + seq_len + 1] for i in range(n)]).reshape(n, seq_len + 1)
    return windows[:, :-1], windows[:, 1:]
    ### END SOLUTION


def next_token_accuracy(logits, targets):
    """5.3  Erratum hunt (D0.M1): the share of positions whose most likely next token is the target;
    logits (B, T, V), targets (B, T). The source takes the maximum over axis 1; what is axis 1 here?
    Return a float in [0, 1]."""
    ### BEGIN SOLUTION (5.3) hint: the prediction is the argmax over the vocabulary, the last axis
    return float((logits.argmax(axis=-1) == targets).mean())
    ### END SOLUTION


def perplexity(logits, targets, pad_id):
    """5.4  The perplexity of a language model on a batch: exp of the mean next-token cross-entropy (natural
    log) over the positions whose target is not ``pad_id``. logits (B, T, V), targets (B, T). Return a float."""
    ### BEGIN SOLUTION (5.4) hint: average the negative log-likelihood over the real tokens only, then exponentiate
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]
    real = targets != pad_id
    return float(np.exp(nll[real].mean()))
    ### END SOLUTION


def embedding_backward(indices, grad_out, num_embeddings, padding_idx=None):
    """5.5  D3.F6: the gradient of an embedding lookup e = E[indices] with respect to the table E
    (num_embeddings, dim): row r gets the sum of grad_out over every position whose index is r; the
    ``padding_idx`` row (if given) gets zero. indices (...,) ints, grad_out (..., dim). Return dE."""
    ### BEGIN SOLUTION (5.5) hint: an index can repeat: accumulate (np.add.at), do not assign
    grad_out = np.asarray(grad_out)
    dE = np.zeros((num_embeddings, grad_out.shape[-1]))
    np.add.at(dE, np.asarray(indices).reshape(-1), grad_out.reshape(-1, grad_out.shape[-1]))
    if padding_idx is not None:
        dE[padding_idx] = 0.0
    return dE
    ### END SOLUTION
