"""``tinygrad-lm train transformer --task reverse``: the encoder-decoder Transformer (``models.transformer``) on a
generated sequence task (copy, reverse, sort, addition), Adam + cross-entropy with teacher forcing, linear
warm-up, early stop once the validation sequences are all decoded exactly; exact-sequence accuracy on test
sequences and one beam search.

The document trains d_model 512, 8 heads, 3 layers on batches of 32; the defaults here are small so the
tasks train in seconds on a CPU.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from .. import manual_seed, optim
from ..data import synthetic
from ..models.transformer import Seq2SeqTransformer, beam_search, greedy_decode
from ..nn import functional as F
from ..train import Callback, Trainer
from ..train.cli_options import add_common_arguments, count
from ..train.run_dir import Run


def exact_accuracy(model, src, tgt) -> float:
    """Share of sequences whose greedy decoding equals the target exactly (EOS included)."""
    model.eval()
    pred = greedy_decode(model, src, tgt.shape[1] - 1)
    model.train()
    return float(np.mean(np.all(pred == tgt, axis=1)))


def teacher_forced_loss(model, src, tgt):
    """Cross-entropy of the next target token, the decoder reading the target shifted right."""
    logits = model(src, tgt[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1))


def fit(model, src, tgt, steps: int, batch_size: int = 64, lr: float = 1e-3, seed: int = 0, log=None,
        warmup: int = 0, val=None, target: float = 1.0, eval_every: int = 50, **trainer_options):
    """Adam + cross-entropy on shuffled batches, teacher forcing (decoder input = target shifted right).
    Returns the loss of every step.

    ``warmup`` steps of linear learning-rate warm-up; with ``val = (src, tgt)`` the exact-sequence accuracy
    is checked every ``eval_every`` steps and training stops once it reaches ``target``. ``trainer_options``
    go to the Trainer (run, curves, progress...)."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    losses = []

    def batch():
        idx = rng.integers(0, len(src), batch_size)
        return src[idx], tgt[idx]

    def batch_loss(model, batch):
        loss = teacher_forced_loss(model, *batch)
        losses.append(loss.item())
        return loss

    trainer = Trainer(model, optimizer, batch_loss,
                      scheduler=optim.lr_scheduler.linear_warmup(optimizer, warmup) if warmup else None,
                      callbacks=[_Progress(log, losses, target)], average="batches",
                      **{"progress": False, **trainer_options})
    # every row is evaluated, the last (shorter) stretch's too: a curve's points are its rows, one for one
    trainer.fit(batch, steps=steps, eval_every=eval_every, evaluate=None if val is None else lambda: (
        {"val_loss": teacher_forced_loss(model, *val).item(), "val_accuracy": exact_accuracy(model, *val)}))
    return losses


class _Progress(Callback):
    """The mean loss of every 100 steps and each validation accuracy to ``log``; stops at ``target``."""

    def __init__(self, log, losses, target):
        self.log, self.losses, self.target = log, losses, target

    def on_step_end(self, trainer, logs):
        if self.log and trainer.step % 100 == 0:
            self.log(f"step {trainer.step}: loss {np.mean(self.losses[-100:]):.4f}")

    def on_epoch_end(self, trainer, logs):
        if "val_accuracy" not in logs:
            return False
        if self.log:
            self.log(f"step {trainer.step}: validation exact-sequence accuracy {logs['val_accuracy']:.4f}")
        return logs["val_accuracy"] >= self.target


def add_arguments(parser, command, model):
    add_common_arguments(parser, model, steps=2000, eval_every=50, batch_size=128, lr=3e-3,
                         lr_help="Adam's learning rate after the warm-up")
    parser.add_argument("--task", choices=synthetic.TASKS, default="reverse", help="the generated sequence task")
    parser.add_argument("--length", type=count, default=5, help="length of the generated source sequences")
    parser.add_argument("--samples", type=count, default=20000, help="training sequences")
    parser.add_argument("--warmup", type=int, default=50, help="steps of linear learning-rate warm-up")
    parser.add_argument("--d-model", type=count, default=64, help="model width")
    parser.add_argument("--heads", type=count, default=2, help="attention heads")
    parser.add_argument("--layers", type=count, default=1, help="encoder layers, and as many decoder layers")
    parser.add_argument("--dropout", type=float, default=0.0, help="dropout probability")
    parser.add_argument("--beam-size", type=count, default=3, help="beams of the beam search shown at the end")


def train(args):
    """``tinygrad-lm train transformer --task reverse``: train (stopping once every validation sequence is
    decoded exactly), report exact-sequence accuracy; checkpoint, curves, result."""
    if args.d_model % args.heads:
        raise SystemExit(f"tinygrad-lm train transformer: --d-model {args.d_model} must be a multiple of --heads "
                         f"{args.heads}")
    run = Run(args, fixed=("task", "length", "samples", "d_model", "heads", "layers", "seed"))
    manual_seed(args.seed)
    src, tgt = synthetic.generate_task(args.task, args.samples, args.length, seed=args.seed)
    test_src, test_tgt = synthetic.generate_task(args.task, 500, args.length, seed=args.seed + 1)
    model = Seq2SeqTransformer(synthetic.vocab_size(), args.d_model, args.heads, args.layers, args.layers,
                               2 * args.d_model, dropout=args.dropout)
    val = synthetic.generate_task(args.task, 500, args.length, seed=args.seed + 2)
    fit(model, src, tgt, args.steps, args.batch_size, args.lr, args.seed, log=tqdm.write, warmup=args.warmup, val=val,
        target=1.0, eval_every=args.eval_every, run=run, meta={"task": args.task}, curves=run.curves,
        title=f"Transformer on the generated {args.task} task (validation = generated sequences)",
        progress=not args.no_progress, desc=f"transformer {args.task}", device=args.device)
    acc = exact_accuracy(model, test_src, test_tgt)
    model.eval()
    beam = beam_search(model, test_src[:1], test_tgt.shape[1] - 1, args.beam_size)
    print(f"{args.task}: exact-sequence accuracy {acc:.4f} on 500 generated test sequences")
    print(f"beam search on {synthetic.decode(test_src[0])}: {synthetic.decode(beam)}")
    run.write_result({"task": args.task, "test_exact_sequence_accuracy": acc})
