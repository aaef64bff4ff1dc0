"""Byte-level BPE (D4.M2): round-trips any text, learns the same merges as a naive re-count, and
keeps special tokens whole."""
import json
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_lm.data.bpe import ENDOFTEXT, PATTERN, ByteLevelBPETokenizer

CORPUS = ("The quick brown fox jumps over the lazy dog. Les élèves étudient à l'école; 北京欢迎你！ "
          "def f(x_1, y2): return x_1 ** 2 + y2  # 3.14159\n\n    indented   lines\t\ttabs 😀😀 naïve café ") * 20


@pytest.fixture(scope="module")
def tok():
    return ByteLevelBPETokenizer.train(CORPUS, vocab_size=400)


def naive_bpe(text, n_merges):
    """The textbook algorithm: re-count every adjacent pair from scratch before each merge."""
    words = Counter(tuple(w.encode("utf-8")) for w in re.findall(PATTERN, text))
    merges = []
    for _ in range(n_merges):
        counts = Counter()
        for w, f in words.items():
            for p in zip(w, w[1:], strict=False):
                counts[p] += f
        if not counts or max(counts.values()) < 2:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        new_id = 256 + len(merges)
        merges.append(pair)
        merged = Counter()
        for w, f in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == pair:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += f
        words = merged
    return merges, words


@settings(max_examples=40, deadline=None)
@given(st.text())
def test_round_trip_any_unicode(tok, text):
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode(text, allowed_special="none")) == text


@settings(max_examples=40, deadline=None)
@given(st.text())
def test_pretokenizer_covers_every_character(text):
    assert "".join(re.findall(PATTERN, text)) == text


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from(["ab", " ab", "aab", "ba", " b", "aaa", "é", " 12", "__", "\n\n", " abab"]),
                min_size=1, max_size=40), st.integers(0, 30))
def test_merges_equal_naive_recount(words, n_merges):
    text = "".join(words)
    ours = ByteLevelBPETokenizer.train(text, vocab_size=256 + n_merges, special_tokens=())
    merges, segmented = naive_bpe(text, n_merges)
    assert ours.merges == merges
    # encoding a training word replays the merges to the segmentation training ended with
    for w in segmented:
        assert ours.encode(ours.decode(list(w))) == list(w)


def test_learned_tokens_compress_the_corpus(tok):
    ids = tok.encode(CORPUS)
    assert len(ids) < len(CORPUS.encode("utf-8")) / 3
    assert " the" in [tok.token_str(i) for i in range(256, tok.vocab_size)]
    # the repeated corpus runs out of pairs before 400: training stops when every word is one token
    assert len(tok.merges) < 400 - 256 - 1 and tok.vocab_size == 256 + len(tok.merges) + 1
    assert all(len(tok.encode(w)) == 1 for w in re.findall(PATTERN, CORPUS))


def test_special_tokens_kept_whole(tok):
    eos = tok.eos_token_id
    assert eos == tok.vocab_size - 1 and tok.token_str(eos) == ENDOFTEXT
    ids = tok.encode(f"one{ENDOFTEXT}two")
    assert ids.count(eos) == 1 and tok.decode(ids) == f"one{ENDOFTEXT}two"
    assert tok.decode(ids, skip_special_tokens=True) == "onetwo"
    plain = tok.encode(f"one{ENDOFTEXT}two", allowed_special="none")
    assert eos not in plain and tok.decode(plain) == f"one{ENDOFTEXT}two"
    with pytest.raises(ValueError, match="lacks"):
        tok.encode("x", allowed_special={"<|pad|>"})


def test_special_token_text_is_not_learned_from():
    t = ByteLevelBPETokenizer.train(("x" + ENDOFTEXT) * 50, vocab_size=300)
    assert all("|" not in t.token_str(i) for i in range(256, 256 + len(t.merges)))


def test_save_load(tok, tmp_path):
    path = tmp_path / "tok.json"
    tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["tokens"][tok.eos_token_id] == ENDOFTEXT and len(data["tokens"]) == tok.vocab_size
    again = ByteLevelBPETokenizer.load(path)
    assert again.merges == tok.merges and again.special_tokens == tok.special_tokens
    assert again.encode(CORPUS[:500]) == tok.encode(CORPUS[:500])


def test_bad_arguments(tok, tmp_path):
    with pytest.raises(ValueError, match="smaller than the 256 bytes"):
        ByteLevelBPETokenizer.train("abc", vocab_size=200)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])
    with pytest.raises(ValueError, match="not yet defined"):
        ByteLevelBPETokenizer([(300, 1)])
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "wordpiece"}')
    with pytest.raises(ValueError, match="not a byte-level BPE"):
        ByteLevelBPETokenizer.load(bad)
    with pytest.raises(TypeError):
        tok.encode(b"bytes")


def test_invalid_utf8_in_sampled_ids_is_replaced(tok):
    # the first byte of a two-byte character alone is not valid UTF-8
    assert tok.decode([0xC3, ord("a")]) == "\ufffda"
    with pytest.raises(UnicodeDecodeError):
        tok.decode([0xC3], errors="strict")
