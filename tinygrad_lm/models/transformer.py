"""D2.M1-M4: the encoder-decoder Transformer for generated sequence tasks (copy, reverse, sort, addition),
greedy decoding (D2.F7), beam search, and the generation pipeline shown step by step. Its training is
``tinygrad_lm.recipes.transformer``.
"""
from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..data import synthetic
from ..nn import functional as F
from ..tensor import Tensor


class Seq2SeqTransformer(nn.Module):
    """Token embeddings (scaled by sqrt(d_model)) + sinusoidal positions -> nn.Transformer -> Linear to the
    vocabulary (D0.F4: the next-token distribution is the softmax of these logits)."""

    def __init__(self, vocab_size: int, d_model: int = 64, nhead: int = 4, num_encoder_layers: int = 2,
                 num_decoder_layers: int = 2, dim_feedforward: int = 128, dropout: float = 0.1, max_len: int = 64):
        super().__init__()
        self.src_embed = nn.Embedding(vocab_size, d_model)
        self.tgt_embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.SinusoidalPositionalEncoding(d_model, max_len, dropout=dropout, batch_first=True)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                                          dropout=dropout, batch_first=True)
        self.generator = nn.Linear(d_model, vocab_size)
        self.scale = math.sqrt(d_model)

    def embed(self, tokens, table):
        return self.pos(table(tokens) * self.scale)

    def encode(self, src):
        return self.transformer.encode(self.embed(src, self.src_embed))

    def decode(self, tgt_in, memory):
        mask = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1], dtype=memory.dtype)
        h = self.transformer.decoder(self.embed(tgt_in, self.tgt_embed), memory, tgt_mask=mask, tgt_is_causal=True)
        return self.generator(h)

    def forward(self, src, tgt_in):
        return self.decode(tgt_in, self.encode(src))


def greedy_decode(model, src, max_len: int):
    """D2.F7  next = argmax softmax(W_O h_t), fed back until ``max_len`` tokens follow BOS."""
    with no_grad():
        memory = model.encode(src)
        out = np.full((src.shape[0], 1), synthetic.BOS)
        for _ in range(max_len):
            logits = model.decode(out, memory).numpy()[:, -1]
            out = np.concatenate([out, logits.argmax(-1)[:, None]], axis=1)
    return out


def beam_search(model, src, max_len: int, beam_size: int = 3):
    """Keep the ``beam_size`` best prefixes by total log-probability; finished beams (EOS) wait. One sequence
    of ``src`` (shape (1, L)) at a time; returns the best sequence, BOS first."""
    with no_grad():
        memory = model.encode(src)
        beams = [(0.0, [synthetic.BOS])]
        for _ in range(max_len):
            live = [b for b in beams if b[1][-1] != synthetic.EOS]
            if not live:
                break
            tokens = np.array([b[1] for b in live])
            mem = Tensor(np.repeat(memory.numpy(), len(live), axis=0))
            logp = F.log_softmax(model.decode(tokens, mem)[:, -1], dim=-1).numpy()
            cands = [b for b in beams if b[1][-1] == synthetic.EOS]
            for (score, seq), row in zip(live, logp, strict=True):
                for t in np.argsort(row)[-beam_size:]:
                    cands.append((score + float(row[t]), seq + [int(t)]))
            beams = sorted(cands, key=lambda c: -c[0])[:beam_size]
    return np.array(beams[0][1])


def pipeline(model, text: str, max_len: int | None = None):
    """D2.M4  the generation pipeline end to end on a string of digits: tokenize -> embed -> encode ->
    decode step by step. Returns every intermediate, so a reader can print each stage."""
    ids = np.array([[synthetic.OFFSET + int(c) for c in text]])  # tokenize
    embedded = model.embed(ids, model.src_embed)  # embed (+ positions)
    steps = []
    with no_grad():
        memory = model.transformer.encode(embedded)  # encode
        out = [synthetic.BOS]
        for _ in range(max_len or len(text) + 1):  # decode, one token at a time (D2.F7)
            probs = F.softmax(model.decode(np.array([out]), memory)[:, -1], dim=-1).numpy()[0]
            out.append(int(probs.argmax()))
            steps.append((out[-1], float(probs.max())))
            if out[-1] == synthetic.EOS:
                break
    answer = "".join(str(t - synthetic.OFFSET) for t in out[1:] if t >= synthetic.OFFSET)
    return dict(tokens=ids, embedded=embedded.numpy(), memory=memory.numpy(), steps=steps, output=answer)

