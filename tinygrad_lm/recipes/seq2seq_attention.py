"""``tinygrad-lm train seq2seq-attention``: the GRU encoder-decoder with Luong attention
(``models.seq2seq_attention``) on ``data.translation.ReverseDictionaryTask`` (GENERATED, not a real language
pair): Adam on fresh batches with teacher forcing, loss and greedy-decoding accuracy curves, a checkpoint."""
from __future__ import annotations

import numpy as np

from .. import manual_seed, ops, optim
from ..data.translation import PAD, ReverseDictionaryTask
from ..models.seq2seq_attention import SCORES, Seq2SeqAttention
from ..train import Trainer
from ..train.cli_options import add_common_arguments, count
from ..train.run_dir import Run


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
    add_common_arguments(parser, model, steps=500, eval_every=50, batch_size=32, lr=1e-2, lr_help="Adam's learning rate")
    parser.add_argument("--score", choices=tuple(SCORES), default="general", help="Luong score function")
    parser.add_argument("--embedding-dim", type=count, default=16, help="word embedding width")
    parser.add_argument("--hidden-size", type=count, default=32, help="GRU hidden units")
    parser.add_argument("--vocab-size", type=int, default=12, help="words per generated language, specials included")
    parser.add_argument("--max-len", type=count, default=6, help="longest source sentence")


def train(args):
    """``tinygrad-lm train seq2seq-attention``: the generated reverse+dictionary task; loss/accuracy
    curves, checkpoint and greedy-decoding accuracy on a held-out set."""
    run = Run(args, fixed=("score", "embedding_dim", "hidden_size", "vocab_size", "max_len", "seed"))
    task, model, optimizer = setup(args.score, args.vocab_size, args.max_len, args.embedding_dim,
                                   args.hidden_size, args.lr, args.seed)
    held_out = task.sample(500, seed=10**6 + args.seed)
    trainer = Trainer(model, optimizer, sequence_loss, run=run, curves=run.curves,
                      title=f"Luong {args.score} attention on a generated task (validation = held-out sentences)",
                      progress=not args.no_progress, desc=f"seq2seq-{args.score}", average="batches",
                      device=args.device)
    history = trainer.fit(lambda: task.sample(args.batch_size, seed=args.seed + 1 + trainer.step), steps=args.steps,
                          eval_every=args.eval_every,
                          evaluate=lambda: {"accuracy": accuracy(model, task.sample(200, seed=trainer.step))[0],
                                            "val_loss": sequence_loss(model, held_out).item(),
                                            "val_accuracy": accuracy(model, held_out)[0]})
    seq_acc, tok_acc = accuracy(model, held_out)
    result = {"exact_sequence_accuracy": seq_acc, "token_accuracy": tok_acc, "final_loss": history["loss"][-1]}
    run.write_result(result)
    print(f"held-out exact-sequence accuracy {seq_acc:.4f}  token accuracy {tok_acc:.4f}  "
          f"(checkpoint {run.path}, curves {run.curves})")
    out, _ = model.greedy_decode(held_out.src[:1], held_out.src_lengths[:1], held_out.tgt_out.shape[1])
    print("example: " + task.describe(held_out.src[0], out[0], held_out.tgt_out[0]))
    return result
