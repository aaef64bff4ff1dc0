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
from tqdm import tqdm

from .. import manual_seed, ops, optim
from ..autograd import no_grad
from ..data.dataset import DataLoader, TensorDataset
from ..data.text import Vocabulary, pydoc_corpus, word_tokenize
from ..models.lstm_lm import LSTMLanguageModel, sample
from ..tensor import Tensor
from ..train import Callback, Trainer
from ..train.checkpoint import CheckpointError, load_checkpoint, read_checkpoint
from ..train.cli_options import add_common_arguments, add_generate_arguments, count
from ..train.run_dir import Run


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
        log=print, **trainer_options):
    """Adam over shuffled windows; per epoch {loss, val_loss, val_perplexity, val_accuracy}. ``trainer_options``
    go to the Trainer (run, curves, progress...)."""
    loader = DataLoader(TensorDataset(train_windows), batch_size=batch_size, shuffle=True, seed=seed)
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=lr), _batch_loss, clip_grad_norm=clip or None,
                      callbacks=[_EpochLog(log, epochs)] if log else [], average="batches",
                      **{"progress": False, **trainer_options})
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
    if command == "generate":
        add_generate_arguments(parser, model, prompt="the for statement", max_new_tokens=40, unit="word")
        return
    add_common_arguments(parser, model, epochs=10, batch_size=32, lr=1e-3, lr_help="Adam's learning rate")
    parser.add_argument("--seq-len", type=count, default=35, help="words per training window")
    parser.add_argument("--train-windows", type=count, default=None,
                        help="train on only the first N windows of the corpus (all by default: ~70 s an epoch)")
    parser.add_argument("--vocab-size", type=int, default=10000, help="most frequent training words kept")
    parser.add_argument("--embedding-dim", type=count, default=256, help="word embedding width")
    parser.add_argument("--hidden-size", type=count, default=512, help="LSTM hidden units")
    parser.add_argument("--num-layers", type=count, default=2, help="stacked LSTM layers")
    parser.add_argument("--dropout", type=float, default=0.5, help="dropout between layers")
    parser.add_argument("--clip", type=float, default=None, help="clip the gradient norm to this")


_HYPER = ("vocab_size", "embedding_dim", "hidden_size", "num_layers", "dropout")


def train(args):
    """``tinygrad-lm train lstm-lm``: train on the documentation, report validation perplexity, save."""
    if args.vocab_size < 2 or (args.clip or 1) <= 0:
        raise SystemExit("train lstm-lm: --vocab-size >= 2 and --clip > 0 where given")
    run = Run(args, fixed=(*_HYPER, "seq_len", "train_windows", "seed"))
    manual_seed(args.seed)
    train_w, val_w, vocab = corpus(args.vocab_size, args.seq_len)
    train_w = train_w[:args.train_windows]
    hyper = dict(vocab_size=len(vocab), embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
                 num_layers=args.num_layers, dropout=args.dropout)
    print(f"{len(train_w)} training windows of {args.seq_len} words, vocabulary {len(vocab)}")
    model = LSTMLanguageModel(**hyper)
    history = fit(model, train_w, val_w, args.epochs, args.batch_size, args.lr, clip=args.clip, seed=args.seed,
                  log=tqdm.write, run=run, meta={"itos": vocab.itos, **hyper}, curves=run.curves, title="D0.M1 LSTM language model",
                  progress=not args.no_progress, desc="lstm-lm", device=args.device)
    text = sample(model, vocab, "the for statement", 30, 0.8)
    result = {"val_loss": history["val_loss"][-1], "val_perplexity": history["val_perplexity"][-1],
              "val_accuracy": history["val_accuracy"][-1], "sample": text}
    run.write_result(result)
    print(text)
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


def load_run(folder):
    """The model and vocabulary of the run folder ``folder`` (``--out`` of ``train lstm-lm``)."""
    path = os.path.join(folder, "checkpoint.npz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no trained LSTM language model in {folder} (no checkpoint.npz); train one with "
                                f"`tinygrad-lm train lstm-lm --out {folder}` or pass the --out of a run")
    return load(path)


def generate(args):
    """``tinygrad-lm generate lstm-lm --prompt ...``: continue the prompt from a trained checkpoint, sampled
    with ``--temperature`` and ``--top-k`` (greedy with ``--greedy`` or ``--temperature 0``)."""
    if args.temperature < 0 or args.top_k < 0:
        raise SystemExit("tinygrad-lm generate lstm-lm: --temperature and --top-k must be >= 0")
    model, vocab = load_run(args.out)
    text = sample(model, vocab, args.prompt, args.max_new_tokens, 0 if args.greedy else args.temperature,
                  args.top_k or None, args.seed)
    print(text)
    return text
