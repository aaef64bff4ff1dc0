"""Text tools: a Keras-style word ``Tokenizer`` and ``pad_sequences`` (Keras's defaults and semantics),
a character tokenizer, and text corpora that need no download:

* CPython's own documentation (``pydoc_data.topics``, the text ``help('for')`` shows) as an English
  corpus with a fixed train/validation split, for the language model (D0.M1);
* ``python_docs_classification``: paragraphs of that documentation labelled by what they document
  (a statement of the language, 0, or a built-in type and its methods, 1), for D1.M1;
* ``read_imdb``: a reader for the IMDB review folder layout (aclImdb/{train,test}/{pos,neg}/*.txt).
"""
from __future__ import annotations

import operator
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .datasets import DatasetError

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text, filters=KERAS_FILTERS, lower=True, split=" "):
    """Keras's splitting: lower-case, turn every filter character into ``split``, split, drop empties."""
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


class Tokenizer:
    """Keras's ``Tokenizer``: words are ranked by frequency (ties in order of first appearance) and
    numbered from 1; index 0 is left for padding, and ``oov_token`` (if given) takes index 1.
    ``word_index`` keeps every word seen; ``num_words`` only limits what ``texts_to_sequences`` emits
    (indices < num_words), the rest becoming the OOV index or being dropped."""

    def __init__(self, num_words=None, filters=KERAS_FILTERS, lower=True, split=" ", char_level=False,
                 oov_token=None):
        if num_words is not None and (not isinstance(num_words, int) or num_words < 1):
            raise ValueError(f"Tokenizer: num_words must be a positive int or None, got {num_words!r}")
        self.num_words, self.filters, self.lower, self.split = num_words, filters, lower, split
        self.char_level, self.oov_token = char_level, oov_token
        self.word_counts: OrderedDict[str, int] = OrderedDict()
        self.word_docs: dict[str, int] = {}
        self.document_count = 0
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}

    def _words(self, text):
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer: each text must be a str, got {type(text).__name__} {text!r:.40}")
        if self.char_level:
            return list(text.lower() if self.lower else text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts):
        if isinstance(texts, str) or not hasattr(texts, "__iter__"):
            raise TypeError(f"fit_on_texts takes a list of texts, got {type(texts).__name__}")
        for text in texts:
            self.document_count += 1
            words = self._words(text)
            for w in words:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(words):
                self.word_docs[w] = self.word_docs.get(w, 0) + 1
        ranked = sorted(self.word_counts.items(), key=lambda kv: kv[1], reverse=True)  # stable: ties keep order
        vocab = ([self.oov_token] if self.oov_token is not None else []) + [w for w, _ in ranked]
        self.word_index = {w: i for i, w in enumerate(vocab, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}

    def _oov_index(self):
        return self.word_index.get(self.oov_token) if self.oov_token is not None else None

    def texts_to_sequences(self, texts):
        oov = self._oov_index()
        out = []
        for text in texts:
            seq = []
            for w in self._words(text):
                i = self.word_index.get(w)
                if i is not None and not (self.num_words and i >= self.num_words):
                    seq.append(i)
                elif oov is not None:
                    seq.append(oov)
            out.append(seq)
        return out

    def sequences_to_texts(self, sequences):
        oov = self._oov_index()
        joiner = "" if self.char_level else " "
        out = []
        for seq in sequences:
            words = []
            for i in seq:
                w = self.index_word.get(int(i))
                if w is not None and not (self.num_words and i >= self.num_words):
                    words.append(w)
                elif oov is not None:
                    words.append(self.index_word[oov])
            out.append(joiner.join(words))
        return out


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0):
    """Keras's ``pad_sequences``: a (num_sequences, maxlen) array; shorter sequences are filled with
    ``value`` before them ('pre', the default) or after ('post'); longer ones lose their beginning
    ('pre', the default) or their end ('post'). ``maxlen`` defaults to the longest sequence."""
    if padding not in ("pre", "post"):
        raise ValueError(f'pad_sequences: padding must be "pre" or "post", got {padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(f'pad_sequences: truncating must be "pre" or "post", got {truncating!r}')
    if isinstance(sequences, str):
        raise TypeError("pad_sequences: expects a list of sequences of ids, got one string")
    sequences = list(sequences)
    odd = sorted({type(s).__name__ for s in sequences if not hasattr(s, "__len__")})
    if odd:
        raise TypeError(f"pad_sequences: expects a list of sequences of ids (lists or arrays), found {', '.join(odd)}")
    sequences = [list(s) for s in sequences]
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    if not isinstance(maxlen, (int, np.integer)) or isinstance(maxlen, bool) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be an int >= 0 or None, got {maxlen!r}")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"pad_sequences: dtype {dtype!r} is not a NumPy dtype") from None
    with np.errstate(invalid="ignore"):
        try:
            held = bool(np.array(value).astype(dtype) == value)
        except (TypeError, ValueError):
            held = False
    if not held:  # NaN or 0.5 in int32 would pad with garbage
        raise ValueError(f"pad_sequences: value {value!r} cannot be held by dtype {dtype.name}")
    x = np.full((len(sequences), maxlen), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not s or maxlen == 0:
            continue
        s = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        try:
            if padding == "post":
                x[i, :len(s)] = s
            else:
                x[i, -len(s):] = s
        except (ValueError, TypeError, OverflowError) as e:  # nested lists, strings, values the dtype cannot hold
            raise ValueError(f"pad_sequences: sequence {i} does not fit a row of {np.dtype(dtype).name} ids ({e})") from None
    return x


class CharTokenizer:
    """Characters <-> integer ids. The vocabulary is the sorted set of characters of the texts it is
    fitted on; an unknown character maps to ``unk`` (id 0, '\\0' unless another character is given)."""

    def __init__(self, texts=(), unk="\0"):
        self.unk = unk
        chars = sorted(set("".join(texts)) - {unk})
        self.itos = [unk] + chars
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @property
    def vocab_size(self):
        return len(self.itos)

    def encode(self, text):
        return [self.stoi.get(c, 0) for c in text]

    def decode(self, ids):
        try:
            ids = [operator.index(i) for i in ids]  # an id of 1.7 is a mistake, not id 1
        except TypeError:
            raise TypeError(f"CharTokenizer.decode: ids must be integers, got {ids!r:.60}") from None
        bad = [i for i in ids if not 0 <= i < len(self.itos)]
        if bad:  # a negative id would silently index from the end
            raise ValueError(f"CharTokenizer.decode: ids {bad[:5]} outside the vocabulary 0..{len(self.itos) - 1}")
        return "".join(self.itos[i] for i in ids)


# ------------------------------------------------------------------ corpora
_WORD = re.compile(r"[a-z0-9_]+|[^\sa-z0-9_]")


def word_tokenize(text):
    """Lower-cased words and single punctuation marks (the language model's tokens)."""
    return _WORD.findall(text.lower())


def pydoc_topics():
    """{topic: text} of CPython's bundled documentation (``help()``'s topics), sorted by topic."""
    from pydoc_data.topics import topics

    return dict(sorted(topics.items()))


def pydoc_corpus(split="train", every=10):
    """The documentation text of the ``split`` ('train' or 'validation'): topics sorted by name,
    every ``every``-th one (the 1st, 11th, ...) held out for validation. Returns one string."""
    if split not in ("train", "validation"):
        raise ValueError(f"split must be 'train' or 'validation', got {split!r}")
    names = list(pydoc_topics())
    keep = [n for i, n in enumerate(names) if (i % every == 0) == (split == "validation")]
    topics = pydoc_topics()
    return "\n\n".join(topics[n] for n in keep)


class Vocabulary:
    """Words numbered by frequency (ties alphabetically), with '<unk>' as id 0; at most ``max_size``."""

    def __init__(self, tokens, max_size=10000, unk="<unk>"):
        counts: dict[str, int] = {}
        for t in tokens:
            counts[t] = counts.get(t, 0) + 1
        ranked = sorted(counts, key=lambda w: (-counts[w], w))[:max_size - 1]
        self.unk = unk
        self.itos = [unk] + [w for w in ranked if w != unk]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, tokens):
        return np.array([self.stoi.get(t, 0) for t in tokens], dtype=np.int64)

    def decode(self, ids):
        return [self.itos[int(i)] for i in ids]


def detokenize(words):
    """Join word tokens into readable text (no space before punctuation that closes)."""
    out = ""
    for w in words:
        out += w if (not out or w in ".,;:!?)]}'\"" or out[-1] in "([{") else " " + w
    return out


STATEMENT_TOPICS = ("assert assignment augassign async break class compound continue del else for function global "
                    "if import nonlocal pass raise return try while with yield").split()
TYPE_TOPICS = ("bltin-code-objects bltin-ellipsis-object bltin-null-object bltin-type-objects dict lists "
               "string-methods typesfunctions typesmapping typesmethods typesmodules typesseq typesseq-mutable "
               "truth").split()


def python_docs_classification(min_words=8, every=5):
    """A real labelled text task that ships with Python: paragraphs (at least ``min_words`` words) of the
    documentation of the language's statements (label 0) and of the built-in types and their methods
    (label 1), each paragraph once. Returns ((train_texts, train_labels), (test_texts, test_labels)), every
    ``every``-th paragraph in the test part."""
    topics = pydoc_topics()
    texts, labels, seen = [], [], set()
    for label, names in ((0, STATEMENT_TOPICS), (1, TYPE_TOPICS)):
        for name in names:
            for para in re.split(r"\n\s*\n", topics.get(name, "")):
                para = " ".join(para.split())
                if len(para.split()) >= min_words and para not in seen:  # a few paragraphs recur across topics
                    seen.add(para)
                    texts.append(para)
                    labels.append(label)
    test = np.arange(len(texts)) % every == every - 1
    labels = np.array(labels, dtype=np.int64)
    pick = lambda sel: ([t for t, s in zip(texts, sel, strict=True) if s], labels[sel])  # noqa: E731
    return pick(~test), pick(test)


def read_imdb(root, split="train", limit=None):
    """Reviews of the aclImdb layout: ``root/split/pos/*.txt`` (label 1) and ``root/split/neg/*.txt``
    (label 0), in file-name order, at most ``limit`` of each class. Returns (texts, labels array)."""
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"read_imdb: limit must be a positive int or None, got {limit!r}")
    base = Path(root) / split
    if not base.is_dir():
        raise FileNotFoundError(f"read_imdb: no folder {base} (expected aclImdb/{{train,test}}/{{pos,neg}})")
    texts, labels = [], []
    for label, name in ((1, "pos"), (0, "neg")):
        files = sorted((base / name).glob("*.txt"))[:limit]
        if not files:  # one class alone would train a classifier that learns nothing
            raise DatasetError(f"read_imdb: no reviews (*.txt) in {base / name}")
        for f in files:
            try:
                texts.append(f.read_text(encoding="utf-8").replace("<br />", " "))
            except UnicodeDecodeError as e:
                raise DatasetError(f"{f}: not UTF-8 text ({e})") from None
            labels.append(label)
    return texts, np.array(labels, dtype=np.int64)
