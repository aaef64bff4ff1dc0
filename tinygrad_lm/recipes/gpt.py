"""``tinygrad-lm train gpt`` / ``generate gpt``: the GPT (``models.gpt``) on CPython's own documentation
(``pydoc_data.topics``, shipped with Python, so it works offline), byte-level BPE trained on the training
topics; AdamW with weight decay on the matrices, linear warmup then cosine decay, gradient clipping; a
checkpoint (with its tokenizer) at every evaluation, a loss curve and a sample."""
from __future__ import annotations

import math
import os
from dataclasses import asdict

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..data.bpe import ByteLevelBPETokenizer
from ..data.text import pydoc_corpus
from ..distributed import is_main
from ..models.gpt import GPT, GPTConfig
from ..nn import functional as F
from ..optim import AdamW
from ..optim.lr_scheduler import LambdaLR
from ..train import Callback, Trainer
from ..train.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, write_json_atomic
from ..train.cli_options import add_common_arguments, add_generate_arguments, count
from ..train.run_dir import Run


# ---------------------------------------------------------------- data and training
def get_batch(tokens, batch_size: int, block_size: int, rng=None):
    """``batch_size`` random windows of ``tokens``: inputs (B, T) and the same shifted by one (targets)."""
    rng = backend.rng() if rng is None else rng
    if len(tokens) < block_size + 1:
        raise ValueError(f"get_batch: {len(tokens)} tokens cannot fill a window of {block_size} + 1")
    starts = rng.integers(0, len(tokens) - block_size, size=batch_size)
    window = starts[:, None] + np.arange(block_size + 1)
    chunk = np.asarray(tokens, dtype=np.int64)[window]
    return chunk[:, :-1], chunk[:, 1:]


def lm_loss(logits, targets):
    """Mean next-token cross-entropy over every position: -log softmax(logits)[target] (D0.F4)."""
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), np.asarray(targets).reshape(-1))


@no_grad()
def evaluate(model, tokens, block_size: int, batch_size: int = 16, max_windows: int = 64) -> float:
    """Mean loss over the first ``max_windows`` non-overlapping windows of ``tokens`` (deterministic)."""
    was_training = model.training
    model.eval()
    n = min(max_windows, (len(tokens) - 1) // block_size)
    if n < 1:
        raise ValueError(f"evaluate: {len(tokens)} tokens cannot fill one window of {block_size} + 1")
    tokens = np.asarray(tokens, dtype=np.int64)
    total = 0.0
    for lo in range(0, n, batch_size):
        idx = np.arange(lo, min(n, lo + batch_size))[:, None] * block_size + np.arange(block_size + 1)
        chunk = tokens[idx]
        total += float(lm_loss(model(chunk[:, :-1]), chunk[:, 1:]).item()) * len(idx)
    model.train(was_training)
    return total / n


def make_optimizer(model, lr: float, weight_decay: float = 0.1):
    """AdamW with weight decay on the matrices and embeddings only (not on biases or LayerNorm gains)."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                 lr=lr, betas=(0.9, 0.95))


def warmup_cosine(step: int, steps: int, warmup_fraction: float = 0.05, floor: float = 0.1) -> float:
    """Learning-rate factor: linear warmup to 1 over the first ``warmup_fraction`` of ``steps``, then a
    cosine from 1 down to ``floor`` at the last step."""
    warmup = max(1, int(steps * warmup_fraction))
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, steps - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


def batch_loss(model, batch):
    """The loss of one (inputs, targets) batch, for the Trainer."""
    x, y = batch
    return lm_loss(model(x), y)


def train_step(model, optimizer, x, y, clip: float = 1.0) -> float:
    """One step of the recipe's loop: loss, backward, gradient-norm clipping, AdamW. Returns the loss."""
    return Trainer(model, optimizer, batch_loss, clip_grad_norm=clip, progress=False).train_step((x, y))[0]


class _Report(Callback):
    """At each evaluation: the losses on stdout and the tokenizer beside the checkpoint (a copy for other
    readers; the one inside the checkpoint is the one that counts)."""

    def __init__(self, tok, out):
        self.tok, self.out = tok, out

    def on_epoch_end(self, trainer, logs):
        if not is_main():  # under MPI, rank 0 alone prints and writes files
            return
        trainer.write(f"step {trainer.step}: train loss {logs['loss']:.3f}, validation loss {logs['val_loss']:.3f}")
        write_json_atomic(os.path.join(self.out, "tokenizer.json"), self.tok.to_dict())


def prepare_tokens(vocab_size: int, tokenizer=None):
    """(tokenizer, train ids, validation ids) of CPython's documentation, split by topic (every tenth
    topic held out, ``data.text.pydoc_corpus``); a BPE tokenizer is trained on the training text
    unless one is given."""
    train_text, val_text = pydoc_corpus("train"), pydoc_corpus("validation")
    tok = tokenizer or ByteLevelBPETokenizer.train(train_text, vocab_size=vocab_size)
    return tok, np.array(tok.encode(train_text), np.int64), np.array(tok.encode(val_text), np.int64)


# ---------------------------------------------------------------- command line
def add_arguments(parser, command, model):
    if command == "train":
        # defaults: readable samples in ~10-15 minutes on a 2-core CPU (1500 steps of 16 x 64 tokens)
        add_common_arguments(parser, model, steps=1500, eval_every=200, batch_size=16, lr=2e-3,
                             lr_help="AdamW's peak learning rate: linear warmup over 5%% of the steps, then cosine "
                                     "decay to a tenth of it")
        parser.add_argument("--block-size", type=count, default=64, help="context length in tokens")
        parser.add_argument("--vocab-size", type=int, default=1024, help="BPE vocabulary (bytes + merges + 1)")
        parser.add_argument("--n-layer", type=count, default=4, help="transformer blocks")
        parser.add_argument("--n-head", type=count, default=4, help="attention heads per block")
        parser.add_argument("--n-embd", type=count, default=128, help="embedding width")
        parser.add_argument("--dropout", type=float, default=0.1, help="dropout probability")
        parser.add_argument("--no-tie", action="store_true", help="separate input and output embeddings")
    else:
        add_generate_arguments(parser, model, prompt="The ", max_new_tokens=50)
        parser.add_argument("--num-return-sequences", type=count, default=1,
                            help="continuations of the prompt, each sampled on its own")
        parser.add_argument("--top-p", type=float, default=None,
                            help="sample among the fewest most likely tokens whose probabilities reach p (nucleus)")
        parser.add_argument("--repetition-penalty", type=float, default=1.2,
                            help="divides the positive logits (multiplies the negative) of tokens already in the "
                                 "text, against loops such as runs of blank lines; 1 for none")
        parser.add_argument("--no-cache", action="store_true", help="recompute the whole prefix every step")


def train(args):
    """``tinygrad-lm train gpt``: BPE on the documentation, then the GPT; checkpoint, curve, samples."""
    if args.n_embd % args.n_head:
        raise SystemExit(f"tinygrad-lm train gpt: --n-embd {args.n_embd} must be a multiple of --n-head {args.n_head}")
    run = Run(args, fixed=("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "no_tie", "seed"))
    backend.manual_seed(args.seed)
    # on resume, the tokenizer that trained the checkpoint (it travels inside it), not a fresh one
    tok, train_ids, val_ids = prepare_tokens(
        args.vocab_size, ByteLevelBPETokenizer.from_dict(run.saved["tokenizer"]) if run.resume else None)
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                    n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, tie_word_embeddings=not args.no_tie)
    model = GPT(cfg)
    optimizer = make_optimizer(model, args.lr)
    print(f"GPT: {model.num_parameters():,} parameters, {len(train_ids):,} training tokens, "
          f"vocabulary {tok.vocab_size}")
    schedule = LambdaLR(optimizer, lambda s: warmup_cosine(s, args.steps))
    meta = {"config": asdict(cfg), "tokenizer": tok.to_dict()}  # the tokenizer inside every checkpoint: both or neither
    trainer = Trainer(model, optimizer, batch_loss, scheduler=schedule, clip_grad_norm=1.0,
                      callbacks=[_Report(tok, args.out)], run=run, meta=meta, curves=run.curves,
                      title="GPT on CPython's documentation", progress=not args.no_progress, desc="gpt",
                      average="batches", device=args.device)
    history = trainer.fit(lambda: get_batch(train_ids, args.batch_size, args.block_size), steps=args.steps,
                          evaluate=lambda: {"val_loss": evaluate(model, val_ids, args.block_size)},
                          eval_every=args.eval_every)
    prompt = np.array([tok.encode("The ")])
    sample = tok.decode(model.generate(prompt, max_length=60, do_sample=True, temperature=0.8, top_k=40).numpy()[0])
    result = {"val_loss": history["val_loss"][-1], "sample": sample}
    run.write_result(result)
    print(f"validation loss {result['val_loss']:.3f}; sample:\n{sample}")
    return result


def load_trained(folder):
    """(model, tokenizer) from a folder written by ``tinygrad-lm train gpt``."""
    ckpt = os.path.join(folder, "checkpoint.npz")
    if not os.path.exists(ckpt):
        raise FileNotFoundError(f"no trained GPT in {folder} (no checkpoint.npz); train one with "
                                f"`tinygrad-lm train gpt --out {folder}` or pass the --out of a run")
    _, meta = read_checkpoint(ckpt)
    try:
        model = GPT(GPTConfig(**meta["config"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{ckpt} is not a GPT checkpoint (no usable config: {e})") from e
    load_checkpoint(ckpt, model, restore_rng=False)
    # older checkpoints left the tokenizer beside them
    tok = meta.get("tokenizer")
    tok = ByteLevelBPETokenizer.from_dict(tok) if tok else ByteLevelBPETokenizer.load(os.path.join(folder, "tokenizer.json"))
    return model.eval(), tok


def generate(args):
    """``tinygrad-lm generate gpt --prompt ...``: continue the prompt and print it, sampled with
    ``--temperature`` and ``--top-k`` (greedy with ``--greedy`` or ``--temperature 0``)."""
    greedy = args.greedy or args.temperature == 0
    if (args.temperature < 0 or args.top_k < 0 or not (args.top_p is None or 0 < args.top_p <= 1)
            or not args.repetition_penalty > 0):
        raise SystemExit("tinygrad-lm generate gpt: --temperature and --top-k must be >= 0, --top-p in (0, 1] "
                         "and --repetition-penalty > 0")
    if greedy and args.num_return_sequences > 1:
        raise SystemExit("tinygrad-lm generate gpt: greedy decoding (--greedy or --temperature 0) gives one "
                         "continuation; sample for --num-return-sequences")
    if not args.prompt:
        raise SystemExit("tinygrad-lm generate gpt: --prompt must not be empty")
    backend.manual_seed(args.seed)
    model, tok = load_trained(args.out)
    ids = np.array([tok.encode(args.prompt)])
    out = model.generate(ids, max_new_tokens=args.max_new_tokens, num_return_sequences=args.num_return_sequences,
                         do_sample=not greedy, temperature=args.temperature or 1.0, top_k=args.top_k or None,
                         top_p=args.top_p, eos_token_id=tok.eos_token_id, use_cache=not args.no_cache,
                         repetition_penalty=args.repetition_penalty)
    texts = [tok.decode(row, skip_special_tokens=True) for row in out.numpy()]
    for i, text in enumerate(texts):
        print(("" if len(texts) == 1 else f"--- {i + 1}\n") + text)
    return texts
