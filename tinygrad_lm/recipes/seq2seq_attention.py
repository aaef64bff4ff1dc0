"""``tinygrad-lm train seq2seq-attention``: the GRU encoder-decoder with Luong attention
(``models.seq2seq_attention``) on ``data.translation.ReverseDictionaryTask`` (GENERATED, not a real language
pair): Adam on fresh batches with teacher forcing, loss and greedy-decoding accuracy curves, a checkpoint."""
from __future__ import annotations

import os

import numpy as np

from .. import manual_seed, ops, optim
from ..data.translation import PAD, ReverseDictionaryTask
from ..models.seq2seq_attention import SCORES, Seq2SeqAttention
from ..train import Trainer
from ..train.run_dir import Run, add_run_arguments, count


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
    task = ReverseDictionaryTask(vocab_size, 3, max_len, seed=seed)
    manual_seed(seed)
    model = Seq2SeqAttention(vocab_size, vocab_size, embedding_dim, hidden_size, score)
    return task, model, optim.Adam(model.parameters(), lr=lr)


def fit(model, optimizer, task, steps, batch_size=32, seed=0):
    """``steps`` Adam steps on fresh batches (batch i drawn with seed + 1 + i). Returns the losses."""
    losses = []

    def batch_loss(model, batch):
        loss = sequence_loss(model, batch)
        losses.append(loss.item())
        return loss

    trainer = Trainer(model, optimizer, batch_loss, progress=False, average="batches")
    trainer.fit(lambda: task.sample(batch_size, seed=seed + 1 + trainer.step), steps=steps, eval_every=steps)
    return losses


# ---------------------------------------------------------------- the command line
def add_arguments(parser, command, model):
    parser.add_argument("--score", choices=tuple(SCORES), default="general", help="Luong score function")
    parser.add_argument("--steps", type=count, default=500, help="Adam steps (default 500)")
    parser.add_argument("--eval-every", type=count, default=50, help="steps between evaluations")
    parser.add_argument("--batch-size", type=count, default=32)
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam's learning rate")
    parser.add_argument("--embedding-dim", type=count, default=16)
    parser.add_argument("--hidden-size", type=count, default=32)
    parser.add_argument("--vocab-size", type=int, default=12, help="words per generated language, specials included")
    parser.add_argument("--max-len", type=count, default=6, help="longest source sentence")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/seq2seq-attention", help="folder for checkpoint, curves, result")
    add_run_arguments(parser, resume=False)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def train(args):
    """``tinygrad-lm train seq2seq-attention``: the generated reverse+dictionary task; loss/accuracy
    curves, checkpoint and greedy-decoding accuracy on a held-out set."""
    if min(args.steps, args.eval_every, args.batch_size, args.hidden_size, args.embedding_dim) < 1 or args.lr <= 0:
        raise SystemExit("tinygrad-lm train seq2seq-attention: sizes and steps must be >= 1 and --lr > 0")
    run = Run(args, os.path.join(args.out, "checkpoint.npz"))
    task, model, optimizer = setup(args.score, args.vocab_size, args.max_len, args.embedding_dim,
                                   args.hidden_size, args.lr, args.seed)
    held_out = task.sample(500, seed=10**6 + args.seed)
    trainer = Trainer(model, optimizer, sequence_loss, run=run, curves=os.path.join(args.out, "loss.png"),
                      title=f"Luong {args.score} attention, generated task (one point per {args.eval_every} steps)",
                      progress=not args.no_progress, desc=f"seq2seq-{args.score}", average="batches")
    history = trainer.fit(lambda: task.sample(args.batch_size, seed=args.seed + 1 + trainer.step), steps=args.steps,
                          eval_every=args.eval_every,
                          evaluate=lambda: {"accuracy": accuracy(model, task.sample(200, seed=trainer.step))[0],
                                            "val_accuracy": accuracy(model, held_out)[0]})
    seq_acc, tok_acc = accuracy(model, held_out)
    result = {"exact_sequence_accuracy": seq_acc, "token_accuracy": tok_acc, "final_loss": history["loss"][-1]}
    run.write_result(result)
    print(f"held-out exact-sequence accuracy {seq_acc:.4f}  token accuracy {tok_acc:.4f}  "
          f"(checkpoint {run.path}, curve {os.path.join(args.out, 'loss.png')})")
    return result
