"""Tokenizer and pad_sequences against Keras's documented behaviour; corpora and readers."""
import numpy as np
import pytest

from tinygrad_lm.data.text import (CharTokenizer, Tokenizer, Vocabulary, detokenize, pad_sequences, pydoc_corpus,
                                   python_docs_classification, read_imdb, text_to_word_sequence, word_tokenize)

SEQS = [[1, 2, 3], [4, 5], [6]]


@pytest.mark.parametrize("kwargs,expected", [
    ({}, [[1, 2, 3], [0, 4, 5], [0, 0, 6]]),                                # Keras's docs example
    ({"padding": "post"}, [[1, 2, 3], [4, 5, 0], [6, 0, 0]]),
    ({"maxlen": 2}, [[2, 3], [4, 5], [0, 6]]),                               # 'pre' truncation drops the start
    ({"maxlen": 2, "truncating": "post"}, [[1, 2], [4, 5], [0, 6]]),
    ({"maxlen": 4, "value": -1}, [[-1, 1, 2, 3], [-1, -1, 4, 5], [-1, -1, -1, 6]]),
    ({"maxlen": 0}, [[], [], []]),
])
def test_pad_sequences_keras_semantics(kwargs, expected):
    out = pad_sequences(SEQS, **kwargs)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.array(expected, dtype=np.int32).reshape(3, -1))


def test_pad_sequences_empty_and_errors():
    np.testing.assert_array_equal(pad_sequences([[], [7]]), [[0], [7]])
    assert pad_sequences([[1.5]], dtype="float32").dtype == np.float32
    with pytest.raises(ValueError, match="padding"):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        pad_sequences(SEQS, truncating="both")


TEXTS = ["The cat sat on the mat.", "The dog ate my homework!"]


def test_tokenizer_ranks_by_frequency_and_keeps_first_seen_order():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)
    assert tok.word_index == {"the": 1, "cat": 2, "sat": 3, "on": 4, "mat": 5, "dog": 6, "ate": 7, "my": 8,
                              "homework": 9}
    assert tok.word_counts["the"] == 3 and tok.word_docs["the"] == 2 and tok.document_count == 2
    assert tok.texts_to_sequences(["the dog sat"]) == [[1, 6, 3]]
    assert tok.sequences_to_texts([[1, 6, 3]]) == ["the dog sat"]


def test_num_words_cut_off_without_oov_drops_words():
    tok = Tokenizer(num_words=3)
    tok.fit_on_texts(TEXTS)
    assert len(tok.word_index) == 9  # word_index keeps everything; num_words acts on the output only
    assert tok.texts_to_sequences(["the cat and the dog"]) == [[1, 2, 1]]
    assert tok.sequences_to_texts([[1, 2, 6]]) == ["the cat"]


def test_oov_token_takes_index_one():
    tok = Tokenizer(num_words=4, oov_token="<OOV>")
    tok.fit_on_texts(TEXTS)
    assert tok.word_index["<OOV>"] == 1 and tok.word_index["the"] == 2 and tok.word_index["cat"] == 3
    assert tok.texts_to_sequences(["the cat and the dog"]) == [[2, 3, 1, 2, 1]]
    assert tok.sequences_to_texts([[2, 3, 7]]) == ["the cat <OOV>"]


def test_filters_lower_and_char_level():
    assert text_to_word_sequence("Hello, World!  It's\tfine") == ["hello", "world", "it's", "fine"]
    tok = Tokenizer(lower=False, filters="")
    tok.fit_on_texts(["A a, A"])
    assert tok.word_index == {"A": 1, "a,": 2}
    chars = Tokenizer(char_level=True)
    chars.fit_on_texts(["abca"])
    assert chars.word_index == {"a": 1, "b": 2, "c": 3}
    assert chars.texts_to_sequences(["cab"]) == [[3, 1, 2]] and chars.sequences_to_texts([[3, 1]]) == ["ca"]
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer(num_words=0)
    with pytest.raises(TypeError, match="list"):
        Tokenizer().fit_on_texts("one string")


def test_char_tokenizer_round_trip_and_unknown():
    tok = CharTokenizer(["hello world"])
    assert tok.vocab_size == 9  # \0 + ' dehlorw'
    assert tok.decode(tok.encode("low")) == "low"
    assert tok.encode("z") == [0]


def test_vocabulary_and_word_tokenize():
    words = word_tokenize("The for-loop: for x in y.")
    assert words == ["the", "for", "-", "loop", ":", "for", "x", "in", "y", "."]
    vocab = Vocabulary(words, max_size=4)
    assert vocab.itos == ["<unk>", "for", "-", "."]  # by count, ties alphabetically
    assert vocab.encode(["for", "zzz"]).tolist() == [1, 0]
    assert detokenize(["a", "(", "b", ")", "."]) == "a (b)."


def test_pydoc_corpus_split_is_fixed_and_disjoint():
    train, val = pydoc_corpus("train"), pydoc_corpus("validation")
    assert len(train) > 5 * len(val) > 0
    assert pydoc_corpus("validation") == val
    first = val.split("\n")[0]
    assert first and first not in train[:200]
    with pytest.raises(ValueError):
        pydoc_corpus("test")


def test_python_docs_classification_is_labelled_and_split():
    (xtr, ytr), (xte, yte) = python_docs_classification()
    assert len(xtr) == len(ytr) and len(xte) == len(yte) and len(xtr) > 3 * len(xte) > 100
    assert set(ytr.tolist()) == {0, 1} and 0.2 < ytr.mean() < 0.5
    assert not set(xtr) & set(xte)


def test_read_imdb_layout(tmp_path):
    for split in ("train", "test"):
        for label, name in ((1, "pos"), (0, "neg")):
            folder = tmp_path / "aclImdb" / split / name
            folder.mkdir(parents=True)
            for i in range(3):
                (folder / f"{i}_{7 if label else 2}.txt").write_text(f"{name} review {i}<br />line two")
    texts, labels = read_imdb(tmp_path / "aclImdb", "train")
    assert texts[0] == "pos review 0 line two" and labels.tolist() == [1, 1, 1, 0, 0, 0]
    texts, labels = read_imdb(tmp_path / "aclImdb", "test", limit=2)
    assert len(texts) == 4 and labels.tolist() == [1, 1, 0, 0]
    with pytest.raises(FileNotFoundError, match="aclImdb"):
        read_imdb(tmp_path, "train")
