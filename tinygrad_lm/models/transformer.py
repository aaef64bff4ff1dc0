"""D2.M1-M4: the encoder-decoder Transformer on generated sequence tasks (copy, reverse, sort,
addition), greedy decoding (D2.F7), beam search, and the generation pipeline shown step by step.

The document trains d_model 512, 8 heads, 3 layers with Adam + cross-entropy on batches of 32; the
defaults here are small so the tasks train in seconds on a CPU.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import tinygrad_lm as tg
from .. import nn
from ..autograd import no_grad
from ..data import synthetic
from ..nn import functional as F


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
            mem = tg.Tensor(np.repeat(memory.numpy(), len(live), axis=0))
            logp = F.log_softmax(model.decode(tokens, mem)[:, -1], dim=-1).numpy()
            cands = [b for b in beams if b[1][-1] == synthetic.EOS]
            for (score, seq), row in zip(live, logp):
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


def exact_accuracy(model, src, tgt) -> float:
    """Share of sequences whose greedy decoding equals the target exactly (EOS included)."""
    model.eval()
    pred = greedy_decode(model, src, tgt.shape[1] - 1)
    model.train()
    return float(np.mean(np.all(pred == tgt, axis=1)))


def fit(model, src, tgt, steps: int, batch_size: int = 64, lr: float = 1e-3, seed: int = 0, log=None,
        warmup: int = 0, val=None, target: float = 1.0, eval_every: int = 50):
    """Adam + cross-entropy on shuffled batches, teacher forcing (decoder input = target shifted right).

    ``warmup`` steps of linear learning-rate warm-up; with ``val = (src, tgt)`` the exact-sequence accuracy
    is checked every ``eval_every`` steps and training stops once it reaches ``target``."""
    opt = tg.optim.Adam(model.parameters(), lr=lr)
    sched = tg.optim.lr_scheduler.linear_warmup(opt, warmup) if warmup else None
    rng = np.random.default_rng(seed)
    losses = []
    for step in range(steps):
        idx = rng.integers(0, len(src), batch_size)
        logits = model(src[idx], tgt[idx, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[idx, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        losses.append(loss.item())
        if log and (step + 1) % 100 == 0:
            log(f"step {step + 1}: loss {np.mean(losses[-100:]):.4f}")
        if val is not None and (step + 1) % eval_every == 0:
            acc = exact_accuracy(model, *val)
            if log:
                log(f"step {step + 1}: validation exact-sequence accuracy {acc:.4f}")
            if acc >= target:
                break
    return losses


def add_arguments(parser, command, model):
    from ..train.run_dir import add_run_arguments

    parser.add_argument("--task", choices=synthetic.TASKS, default="reverse")
    parser.add_argument("--length", type=int, default=5)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/transformer")
    add_run_arguments(parser, resume=False)


def train(args):
    """``tinygrad-lm train transformer --task reverse``: train, report exact-sequence accuracy, checkpoint."""
    from ..train.run_dir import Run

    run = Run(args, Path(args.out) / "model.npz")
    tg.manual_seed(args.seed)
    src, tgt = synthetic.generate_task(args.task, args.samples, args.length, seed=args.seed)
    test_src, test_tgt = synthetic.generate_task(args.task, 500, args.length, seed=args.seed + 1)
    model = Seq2SeqTransformer(synthetic.vocab_size(), args.d_model, args.heads, args.layers, args.layers,
                               2 * args.d_model, dropout=args.dropout)
    val = synthetic.generate_task(args.task, 500, args.length, seed=args.seed + 2)
    fit(model, src, tgt, args.steps, args.batch_size, args.lr, args.seed, log=print, warmup=args.warmup, val=val,
        target=1.0)
    acc = exact_accuracy(model, test_src, test_tgt)
    model.eval()
    beam = beam_search(model, test_src[:1], test_tgt.shape[1] - 1, args.beam_size)
    print(f"{args.task}: exact-sequence accuracy {acc:.4f} on 500 generated test sequences")
    print(f"beam search on {test_src[0] - synthetic.OFFSET}: {beam - synthetic.OFFSET}")
    run.save(model, task=args.task, accuracy=acc)
