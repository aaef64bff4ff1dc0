"""D1.T3  Attention-based translation: a GRU encoder-decoder with Luong attention (Luong et al. 2015).

Encoder: source embeddings -> GRU -> hidden states hbar_s (B, S, H). Decoder: target embeddings
(teacher forcing: the gold previous word) -> GRU started from the encoder's last state -> h_t.
Every decoder state attends over the source (global attention, no input feeding, so the decoder
GRU runs over the whole target at once in training):

    a_t = softmax_s(score(h_t, hbar_s))      (padded source positions masked to -inf)
    c_t = sum_s a_ts hbar_s
    htilde_t = tanh(W_c [c_t; h_t])
    p(y_t | y_<t, x) = softmax(W_s htilde_t)

Trained on ``data.translation.ReverseDictionaryTask`` (GENERATED, not a real language pair).
"""
from __future__ import annotations

import os

import numpy as np

from .. import nn, ops
from ..autograd import no_grad
from ..data.translation import BOS, EOS, PAD, ReverseDictionaryTask  # noqa: F401 - ReverseDictionaryTask re-exported for notebooks


# ---------------------------------------------------------------- the three score functions
class DotScore(nn.Module):
    """score(h_t, hbar_s) = h_t^T hbar_s.  h_t (B, T, H), hbar_s (B, S, H) -> (B, T, S)."""

    def __init__(self, hidden_size: int):
        super().__init__()

    def forward(self, h_t, h_s):
        return ops.matmul(h_t, ops.transpose(h_s, 1, 2))


class GeneralScore(nn.Module):
    """score(h_t, hbar_s) = h_t^T W_a hbar_s, W_a (H, H) stored as ``W_a.weight`` (no bias)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.W_a = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, h_t, h_s):
        return ops.matmul(h_t, ops.transpose(self.W_a(h_s), 1, 2))


class ConcatScore(nn.Module):
    """score(h_t, hbar_s) = v_a^T tanh(W_a [h_t; hbar_s]), W_a (H, 2H), v_a (H,) as ``v_a.weight`` (1, H).

    W_a [h_t; hbar_s] = W_a[:, :H] h_t + W_a[:, H:] hbar_s, so the two halves are applied once per
    state and broadcast to (B, T, S, H) instead of concatenating T * S pairs (same numbers)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.W_a = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        self.v_a = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, h_t, h_s):
        H, W = self.hidden_size, self.W_a.weight
        q = ops.unsqueeze(ops.linear(h_t, W[:, :H]), 2)   # (B, T, 1, H)
        k = ops.unsqueeze(ops.linear(h_s, W[:, H:]), 1)   # (B, 1, S, H)
        return ops.squeeze(self.v_a(ops.tanh(q + k)), -1)


SCORES = {"dot": DotScore, "general": GeneralScore, "concat": ConcatScore}


def luong_attention(scores, h_s, src_mask):
    """a_t = softmax(score) over source positions where ``src_mask`` (B, S) is True; c_t = sum_s a_ts hbar_s.
    Returns (context (B, T, H), weights (B, T, S)). Composite."""
    keep = np.asarray(src_mask, dtype=bool)[:, None, :]
    weights = ops.softmax(ops.masked_fill(scores, ~keep, float("-inf")), dim=-1)
    return ops.matmul(weights, h_s), weights


# ---------------------------------------------------------------- the model
class Seq2SeqAttention(nn.Module):
    """Embedding + GRU encoder, Embedding + GRU decoder, Luong attention with ``score`` in
    {'dot', 'general', 'concat'}, W_c (H, 2H) without bias, W_s (V, H) with bias."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embedding_dim: int = 32, hidden_size: int = 64,
                 score: str = "general"):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"Seq2SeqAttention: score must be one of {tuple(SCORES)}, got {score!r}")
        self.score_name = score
        self.src_embedding = nn.Embedding(src_vocab_size, embedding_dim, padding_idx=PAD)
        self.encoder = nn.GRU(embedding_dim, hidden_size, batch_first=True)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embedding_dim, padding_idx=PAD)
        self.decoder = nn.GRU(embedding_dim, hidden_size, batch_first=True)
        self.score = SCORES[score](hidden_size)
        self.W_c = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        self.W_s = nn.Linear(hidden_size, tgt_vocab_size)

    def encode(self, src, src_lengths):
        """hbar (B, S, H) and the last real encoder state (1, B, H), which starts the decoder."""
        return self.encoder(self.src_embedding(src), lengths=np.asarray(src_lengths))

    def attend(self, h_t, h_s, src_mask):
        """Logits W_s htilde_t (B, T, V) and the attention weights (B, T, S)."""
        context, weights = luong_attention(self.score(h_t, h_s), h_s, src_mask)
        h_tilde = ops.tanh(self.W_c(ops.cat([context, h_t], dim=-1)))
        return self.W_s(h_tilde), weights

    def forward(self, src, src_lengths, tgt_in):
        """Teacher forcing: logits (B, T, V) for tgt_out given the gold tgt_in, and the attention maps."""
        h_s, h = self.encode(src, src_lengths)
        h_t, _ = self.decoder(self.tgt_embedding(tgt_in), h)
        return self.attend(h_t, h_s, src_mask(src_lengths, h_s.shape[1]))

    def greedy_decode(self, src, src_lengths, max_len: int):
        """Feed back the arg-max word from <bos> for ``max_len`` steps (or until every row has <eos>).
        Returns ids (B, <=max_len) and attention maps (B, <=max_len, S) as arrays."""
        with no_grad():
            h_s, h = self.encode(src, src_lengths)
            mask = src_mask(src_lengths, h_s.shape[1])
            word = np.full((len(mask), 1), BOS, np.int64)
            ids, maps = [], []
            for _ in range(max_len):
                h_t, h = self.decoder(self.tgt_embedding(word), h)
                logits, weights = self.attend(h_t, h_s, mask)
                word = np.asarray(ops.argmax(logits, dim=-1).numpy(), np.int64)
                ids.append(word[:, 0])
                maps.append(weights.numpy()[:, 0])
                if (np.stack(ids, 1) == EOS).any(1).all():
                    break
        return np.stack(ids, 1), np.stack(maps, 1)


def src_mask(src_lengths, S):
    """(B, S) True on real source words."""
    return np.arange(S)[None, :] < np.asarray(src_lengths).reshape(-1, 1)


def sequence_loss(model, batch):
    """Mean cross-entropy over the real target words (<pad> ignored)."""
    logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
    B, T, V = logits.shape
    return ops.cross_entropy(ops.reshape(logits, (B * T, V)), batch.tgt_out.reshape(-1), ignore_index=PAD)


def accuracy(model, batch):
    """(exact-sequence accuracy, token accuracy) of greedy decoding against tgt_out (up to <eos>)."""
    ids, _ = model.greedy_decode(batch.src, batch.src_lengths, batch.tgt_out.shape[1])
    gold = batch.tgt_out
    pred = np.full(gold.shape, PAD, np.int64)
    pred[:, :ids.shape[1]] = ids
    real = gold != PAD
    correct = (pred == gold) | ~real
    return float(correct.all(1).mean()), float((pred == gold)[real].mean())


def setup(score="general", vocab_size=12, max_len=6, embedding_dim=16, hidden_size=32, lr=1e-2, seed=0):
    """The task, a seeded model and Adam."""
    from .. import manual_seed, optim

    task = ReverseDictionaryTask(vocab_size, 3, max_len, seed=seed)
    manual_seed(seed)
    model = Seq2SeqAttention(vocab_size, vocab_size, embedding_dim, hidden_size, score)
    return task, model, optim.Adam(model.parameters(), lr=lr)


def fit(model, optimizer, task, steps, batch_size=32, seed=0, progress=None):
    """``steps`` Adam steps on fresh batches (batch i drawn with seed + 1 + i). Returns the losses."""
    model.train()
    losses = []
    for step in range(steps):
        loss = sequence_loss(model, task.sample(batch_size, seed=seed + 1 + step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return losses


# ---------------------------------------------------------------- the command line
def add_arguments(parser, command, model):
    from ..train.run_dir import add_run_arguments

    parser.add_argument("--score", choices=tuple(SCORES), default="general", help="Luong score function")
    parser.add_argument("--steps", type=int, default=500, help="Adam steps (default 500)")
    parser.add_argument("--eval-every", type=int, default=50, help="steps between evaluations")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam's learning rate")
    parser.add_argument("--embedding-dim", type=int, default=16)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--vocab-size", type=int, default=12, help="words per generated language, specials included")
    parser.add_argument("--max-len", type=int, default=6, help="longest source sentence")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/seq2seq-attention", help="folder for checkpoint, curves, result")
    add_run_arguments(parser, resume=False)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def train(args):
    """``tinygrad-lm train seq2seq-attention``: the generated reverse+dictionary task; loss/accuracy
    curves, checkpoint and greedy-decoding accuracy on a held-out set."""
    from tqdm import tqdm

    from ..train import plot_history
    from ..train.run_dir import Run

    if min(args.steps, args.eval_every, args.batch_size, args.hidden_size, args.embedding_dim) < 1 or args.lr <= 0:
        raise SystemExit("tinygrad-lm train seq2seq-attention: sizes and steps must be >= 1 and --lr > 0")
    run = Run(args, os.path.join(args.out, "checkpoint.npz"))
    task, model, optimizer = setup(args.score, args.vocab_size, args.max_len, args.embedding_dim,
                                   args.hidden_size, args.lr, args.seed)
    held_out = task.sample(500, seed=10**6 + args.seed)
    history = {"loss": [], "accuracy": [], "val_accuracy": []}
    done = 0
    with tqdm(total=args.steps, desc=f"seq2seq-{args.score}", unit="step", disable=args.no_progress) as bar:
        while done < args.steps:
            n = min(args.eval_every, args.steps - done)
            losses = fit(model, optimizer, task, n, args.batch_size, args.seed + done, bar)
            done += n
            history["loss"].append(float(np.mean(losses)))
            history["accuracy"].append(accuracy(model, task.sample(200, seed=done))[0])
            history["val_accuracy"].append(accuracy(model, held_out)[0])
    run.save(model, optimizer, step=done, history=history)
    plot_history(history, os.path.join(args.out, "loss.png"),
                 title=f"Luong {args.score} attention, generated task (one point per {args.eval_every} steps)")
    seq_acc, tok_acc = accuracy(model, held_out)
    result = {"exact_sequence_accuracy": seq_acc, "token_accuracy": tok_acc, "final_loss": history["loss"][-1]}
    run.write_result(result)
    print(f"held-out exact-sequence accuracy {seq_acc:.4f}  token accuracy {tok_acc:.4f}  "
          f"(checkpoint {run.path}, curve {os.path.join(args.out, 'loss.png')})")
    return result
