"""``tinygrad-lm train lstm-lm`` / ``generate lstm-lm``: the LSTM language model (``models.lstm_lm``) on
CPython's documentation, as the document trains it: Adam(lr 1e-3), cross-entropy, batch 32, 35-token
windows, 10 epochs.

Targets are the inputs shifted by one token (the document's loop reads a label field that a language
model does not have). Every epoch prints the training loss, and on the held-out topics the loss,
the perplexity exp(loss) and the next-token accuracy.
"""
from __future__ import annotations

import math
import os

import numpy as np

from .. import manual_seed, ops, optim
from ..autograd import no_grad
from ..data.dataset import DataLoader, TensorDataset
from ..data.text import Vocabulary, pydoc_corpus, word_tokenize
from ..distributed import is_main
from ..models.lstm_lm import LSTMLanguageModel, sample
from ..tensor import Tensor
from ..train import Callback, Trainer, plot_history
from ..train.checkpoint import CheckpointError, load_checkpoint, read_checkpoint
from ..train.run_dir import Run, add_run_arguments


def lm_loss(model, tokens):
    """Mean next-token cross-entropy of a (B, T + 1) window, and the logits."""
    x, y = tokens[:, :-1], tokens[:, 1:]
    logits, _ = model(Tensor(x))
    return ops.cross_entropy(ops.reshape(logits, (-1, logits.shape[-1])), y.reshape(-1)), logits


def corpus(vocab_size=10000, seq_len=35):
    """Training and validation windows (N, seq_len + 1) of word ids from the documentation, and the vocabulary
    (built on the training topics; unknown validation words are '<unk>')."""
    train_tokens = word_tokenize(pydoc_corpus("train"))
    vocab = Vocabulary(train_tokens, max_size=vocab_size)

    def windows(tokens):
        ids = vocab.encode(tokens)
        n = (len(ids) - 1) // seq_len
        starts = np.arange(n) * seq_len
        return np.stack([ids[s:s + seq_len + 1] for s in starts])
    return windows(train_tokens), windows(word_tokenize(pydoc_corpus("validation"))), vocab


def evaluate(model, windows, batch_size=64):
    """(mean loss, perplexity, next-token accuracy) over the windows, in eval mode."""
    model.eval()
    total = correct = count = 0.0
    with no_grad():
        for s in range(0, len(windows), batch_size):
            batch = windows[s:s + batch_size]
            loss, logits = lm_loss(model, batch)
            n = batch[:, 1:].size
            total += loss.item() * n
            correct += float((logits.numpy().argmax(-1) == batch[:, 1:]).sum())
            count += n
    model.train()
    return total / count, math.exp(total / count), correct / count


def fit(model, train_windows, val_windows, epochs, batch_size=32, lr=1e-3, max_steps=None, clip=None, seed=0,
        log=print):
    """Adam over shuffled windows; per epoch {loss, val_loss, val_perplexity, val_accuracy}."""
    loader = DataLoader(TensorDataset(train_windows), batch_size=batch_size, shuffle=True, seed=seed)
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=lr), _batch_loss, clip_grad_norm=clip or None,
                      callbacks=[_EpochLog(log, epochs)] if log else [], progress=False, average="batches")
    names = ("val_loss", "val_perplexity", "val_accuracy")
    return trainer.fit(loader, epochs, max_steps=max_steps,
                       evaluate=lambda: dict(zip(names, evaluate(model, val_windows), strict=True)))


def _batch_loss(model, batch):
    return lm_loss(model, batch[0].data)[0]


class _EpochLog(Callback):
    def __init__(self, log, epochs):
        self.log, self.epochs = log, epochs

    def on_epoch_end(self, trainer, logs):
        self.log(f"epoch {trainer.epoch}/{self.epochs}  loss {logs['loss']:.4f}  val_loss {logs['val_loss']:.4f}  "
                 f"val_perplexity {logs['val_perplexity']:.1f}  val_accuracy {logs['val_accuracy']:.4f}")


def add_arguments(parser, command, model):
    parser.add_argument("--checkpoint", default="runs/lstm-lm/checkpoint.npz")
    if command == "generate":
        parser.add_argument("--prompt", default="the for statement")
        parser.add_argument("--length", type=int, default=40, help="words to sample")
        parser.add_argument("--temperature", type=float, default=0.8)
        parser.add_argument("--top-k", type=int, default=None)
        parser.add_argument("--seed", type=int, default=0)
        return
    add_run_arguments(parser, resume=False)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=35)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--vocab-size", type=int, default=10000)
    parser.add_argument("--embedding-dim", type=int, default=256)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--clip", type=float, default=None, help="clip the gradient norm to this")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--seed", type=int, default=0)


_HYPER = ("vocab_size", "embedding_dim", "hidden_size", "num_layers", "dropout")


def train(args):
    """``tinygrad-lm train lstm-lm``: train on the documentation, report validation perplexity, save."""
    if min(args.epochs, args.batch_size, args.seq_len, args.num_layers) < 1 or args.lr <= 0:
        raise SystemExit("train lstm-lm: --epochs, --batch-size, --seq-len, --num-layers >= 1 and --lr > 0")
    if args.vocab_size < 2 or (args.max_steps is not None and args.max_steps < 1) or (args.clip or 1) <= 0:
        raise SystemExit("train lstm-lm: --vocab-size >= 2, --max-steps >= 1 and --clip > 0 where given")
    run = Run(args, args.checkpoint)
    manual_seed(args.seed)
    train_w, val_w, vocab = corpus(args.vocab_size, args.seq_len)
    hyper = dict(vocab_size=len(vocab), embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
                 num_layers=args.num_layers, dropout=args.dropout)
    print(f"{len(train_w)} training windows of {args.seq_len} words, vocabulary {len(vocab)}")
    model = LSTMLanguageModel(**hyper)
    history = fit(model, train_w, val_w, args.epochs, args.batch_size, args.lr, args.max_steps, args.clip, args.seed)
    run.save(model, history=history, itos=vocab.itos, **hyper)
    if is_main():  # under MPI, rank 0 alone writes files
        plot_history(history, os.path.join(run.folder, "history.png"), "D0.M1 LSTM language model")
    print(sample(model, vocab, "the for statement", 30, 0.8))
    return history


def load(path):
    """The model and vocabulary saved by ``train``."""
    _, meta = read_checkpoint(path)
    try:
        model = LSTMLanguageModel(**{k: meta[k] for k in _HYPER})
        itos = [str(w) for w in meta["itos"]]
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} is not an LSTM language model checkpoint ({e})") from e
    load_checkpoint(path, model, restore_rng=False)
    vocab = Vocabulary([])
    vocab.itos, vocab.stoi = itos, {w: i for i, w in enumerate(itos)}
    return model, vocab


def generate(args):
    """``tinygrad-lm generate lstm-lm --prompt ...``: sample from a trained checkpoint."""
    if not os.path.exists(args.checkpoint):
        raise FileNotFoundError(f"no checkpoint at {args.checkpoint}; run `tinygrad-lm train lstm-lm` first")
    model, vocab = load(args.checkpoint)
    text = sample(model, vocab, args.prompt, args.length, args.temperature, args.top_k, args.seed)
    print(text)
    return text
