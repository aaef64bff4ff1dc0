"""Byte-level byte-pair encoding (BPE), the tokenizer family of GPT-2 (D4.M2).

Text becomes UTF-8 bytes, so the 256 byte values are the first 256 tokens and *any* string can
be encoded: nothing is ever out of vocabulary. Training (Sennrich et al. 2016, on bytes as in
GPT-2) repeats one step until the vocabulary is full:

    find the most frequent adjacent pair (a, b) in the corpus  ->  new token ab = a + b bytes,
    and replace every (a, b) by it.

Before counting, text is cut into pre-tokens (a word with its leading space, a run of digits, of
punctuation, of spaces), so a merge never crosses a word boundary. Encoding replays the merges in
the order they were learned; decoding concatenates each token's bytes. Special tokens such as
``<|endoftext|>`` get ids after the merges and are never split.
"""
from __future__ import annotations

import heapq
import json
import re
from collections import Counter

# GPT-2's pre-tokenizer, in the standard ``re`` module: [^\W\d_] is a Unicode letter (or other
# alphanumeric that is not a decimal digit), \d a decimal digit, (?:[^\s\w]|_) anything else
# visible. Every character falls in one alternative, so the pieces always add up to the text.
PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
ENDOFTEXT = "<|endoftext|>"


def _pairs(word):
    return zip(word, word[1:], strict=False)


def _merge(word, pair, new_id):
    """``word`` (a sequence of ids) with every occurrence of ``pair`` replaced by ``new_id``."""
    out, i, n = [], 0, len(word)
    a, b = pair
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


class ByteLevelBPETokenizer:
    """A trained byte-level BPE vocabulary: ``encode`` text to ids, ``decode`` ids to text.

    Ids 0-255 are the bytes, 256 .. 256+len(merges)-1 the learned merges (in the order learned),
    then the special tokens. Build one with :meth:`train` or :meth:`load`.
    """

    def __init__(self, merges=(), special_tokens=(ENDOFTEXT,), pattern: str = PATTERN):
        self.pattern = pattern
        self._split = re.compile(pattern)
        self.merges = [tuple(int(i) for i in m) for m in merges]
        self.ranks = {pair: 256 + r for r, pair in enumerate(self.merges)}  # pair -> id of the merged token
        self.token_bytes = [bytes([i]) for i in range(256)]
        for r, (a, b) in enumerate(self.merges):
            if not (0 <= a < 256 + r and 0 <= b < 256 + r):
                raise ValueError(f"merge {r} = ({a}, {b}) refers to a token not yet defined (ids < {256 + r})")
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        special_tokens = list(dict.fromkeys(special_tokens))
        self.special_tokens = {s: len(self.token_bytes) + i for i, s in enumerate(special_tokens)}
        self.special_ids = {i: s for s, i in self.special_tokens.items()}
        # longest first, so a special token that contains another is matched whole
        alternatives = sorted(special_tokens, key=len, reverse=True)
        self._special_split = re.compile("(" + "|".join(map(re.escape, alternatives)) + ")") if alternatives else None
        self._cache: dict[str, list[int]] = {}

    # ------------------------------------------------------------ training
    @classmethod
    def train(cls, text, vocab_size: int, special_tokens=(ENDOFTEXT,), min_frequency: int = 2,
              pattern: str = PATTERN) -> "ByteLevelBPETokenizer":
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text`` (a string or a list of
        strings; special tokens inside it are not learned from). Stops early when no pair occurs
        ``min_frequency`` times. Ties between equally frequent pairs go to the smaller ids."""
        special_tokens = list(dict.fromkeys(special_tokens))
        n_merges = vocab_size - 256 - len(special_tokens)
        if n_merges < 0:
            raise ValueError(f"vocab_size {vocab_size} is smaller than the 256 bytes plus "
                             f"{len(special_tokens)} special tokens")
        if min_frequency < 1:
            raise ValueError(f"min_frequency must be >= 1, got {min_frequency}")
        texts = [text] if isinstance(text, str) else list(text)
        splitter, counts = re.compile(pattern), Counter()
        for t in texts:
            for s in special_tokens:
                t = t.replace(s, " ")
            counts.update(splitter.findall(t))
        words = [list(w.encode("utf-8")) for w in counts]
        freqs = list(counts.values())

        # pair -> total count, pair -> words containing it; a heap of (-count, pair) with lazy deletion
        pair_count: Counter = Counter()
        where: dict[tuple, set] = {}
        for w, (word, f) in enumerate(zip(words, freqs, strict=True)):
            for p in _pairs(word):
                pair_count[p] += f
                where.setdefault(p, set()).add(w)
        heap = [(-c, p) for p, c in pair_count.items()]
        heapq.heapify(heap)

        merges = []
        while len(merges) < n_merges and heap:
            neg, pair = heapq.heappop(heap)
            if pair_count.get(pair, 0) != -neg:
                continue  # stale entry
            if -neg < min_frequency:
                break
            new_id = 256 + len(merges)
            merges.append(pair)
            changed = set()
            for w in where.pop(pair, ()):
                word, f = words[w], freqs[w]
                for p in _pairs(word):
                    pair_count[p] -= f
                    changed.add(p)
                word = words[w] = _merge(word, pair, new_id)
                for p in _pairs(word):
                    pair_count[p] += f
                    where.setdefault(p, set()).add(w)
                    changed.add(p)
            for p in changed:
                c = pair_count[p]
                if c > 0:
                    heapq.heappush(heap, (-c, p))
                else:
                    del pair_count[p]
                    where.pop(p, None)
        return cls(merges, special_tokens, pattern)

    # ------------------------------------------------------------ encode / decode
    @property
    def vocab_size(self) -> int:
        return len(self.token_bytes) + len(self.special_tokens)

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def eos_token_id(self):
        return self.special_tokens.get(ENDOFTEXT)

    def _encode_chunk(self, chunk: str) -> list[int]:
        """Apply the merges to one pre-token, lowest rank (earliest learned) first."""
        ids = self._cache.get(chunk)
        if ids is not None:
            return ids
        ids = list(chunk.encode("utf-8"))
        while len(ids) > 1:
            pair = min(_pairs(ids), key=lambda p: self.ranks.get(p, 1 << 62))
            if pair not in self.ranks:
                break
            ids = _merge(ids, pair, self.ranks[pair])
        if len(self._cache) < 100_000:
            self._cache[chunk] = ids
        return ids

    def _encode_ordinary(self, text: str) -> list[int]:
        out = []
        for chunk in self._split.findall(text):
            out.extend(self._encode_chunk(chunk))
        return out

    def encode(self, text: str, allowed_special="all") -> list[int]:
        """Token ids of ``text``. Special tokens in ``allowed_special`` ('all', 'none' or a set of
        strings) become their single id; others are encoded as ordinary text."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        allowed = (set(self.special_tokens) if allowed_special == "all" else
                   set() if allowed_special in ("none", None) else set(allowed_special))
        unknown = allowed - set(self.special_tokens)
        if unknown:
            raise ValueError(f"allowed_special names tokens this tokenizer lacks: {sorted(unknown)}")
        if not allowed or self._special_split is None:
            return self._encode_ordinary(text)
        out = []
        for i, part in enumerate(self._special_split.split(text)):
            if i % 2 and part in allowed:
                out.append(self.special_tokens[part])
            elif part:
                out.extend(self._encode_ordinary(part))
        return out

    def decode(self, ids, skip_special_tokens: bool = False, errors: str = "replace") -> str:
        """Text of ``ids``; byte sequences that are not valid UTF-8 (possible in sampled text) become
        U+FFFD unless ``errors='strict'``."""
        out, buf = [], bytearray()
        n = len(self.token_bytes)
        for i in (int(i) for i in _as_list(ids)):
            if 0 <= i < n:
                buf += self.token_bytes[i]
            elif i in self.special_ids:
                if not skip_special_tokens:
                    out.append(buf.decode("utf-8", errors))
                    out.append(self.special_ids[i])
                    buf = bytearray()
            else:
                raise ValueError(f"token id {i} is outside the vocabulary of size {self.vocab_size}")
        out.append(buf.decode("utf-8", errors))
        return "".join(out)

    def token_str(self, i: int) -> str:
        """A printable form of token ``i`` (its text, with undecodable bytes as \\xNN)."""
        if i in self.special_ids:
            return self.special_ids[i]
        return self.token_bytes[i].decode("utf-8", "backslashreplace")

    # ------------------------------------------------------------ files
    def to_dict(self) -> dict:
        return {"type": "byte-level-bpe", "version": 1, "pattern": self.pattern,
                "special_tokens": list(self.special_tokens), "merges": [list(m) for m in self.merges],
                "tokens": [self.token_str(i) for i in range(self.vocab_size)]}  # for readers only

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict) -> "ByteLevelBPETokenizer":
        if not isinstance(d, dict) or d.get("type") != "byte-level-bpe":
            what = d.get("type") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"not a byte-level BPE tokenizer (type {what!r})")
        missing = [k for k in ("merges", "special_tokens", "pattern") if k not in d]
        if missing:
            raise ValueError(f"byte-level BPE tokenizer without {', '.join(missing)}")
        try:
            return cls(d["merges"], d["special_tokens"], d["pattern"])
        except (TypeError, ValueError, re.error) as e:  # merges not pairs of ints, a bad pattern
            raise ValueError(f"malformed byte-level BPE tokenizer ({type(e).__name__}: {e})") from None

    @classmethod
    def load(cls, path) -> "ByteLevelBPETokenizer":
        with open(path, "rb") as f:
            raw = f.read()
        try:
            d = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:  # empty, cut short, random bytes
            raise ValueError(f"{path}: not a tokenizer file (not JSON text: {e})") from None
        try:
            return cls.from_dict(d)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    def __repr__(self) -> str:
        return (f"ByteLevelBPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)})")


def _as_list(ids):
    """A list of ids from a list, a NumPy array or a (tinygrad_lm or torch) tensor."""
    return ids.tolist() if hasattr(ids, "tolist") else ids
