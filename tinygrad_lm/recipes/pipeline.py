"""D0.T1 the four-step pipeline, end to end on the digits: preprocess -> train by backpropagation ->
optimize (prune, quantize, distill) -> infer, reporting test accuracy against model size.

    1. preprocess: drop malformed rows (D0.T5), standardize with the training split's statistics (D1.F6)
    2. train: an MLP teacher with Adam and cross-entropy
    3. optimize: magnitude pruning + masked fine-tuning (D0.T2), int8 weights (D0.T3), and a
       smaller student distilled from the teacher (D0.T4)
    4. infer: every variant on the test split

``tinygrad-lm train pipeline`` runs it and prints the table.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import data, manual_seed, ops, optim
from ..autograd import no_grad
from ..compress import distillation_loss, magnitude_prune, model_size_bytes, quantize_dynamic, sparsity
from ..data.cleaning import clean
from ..models.mlp import MLP
from ..tensor import Tensor
from ..train import Callback, Trainer
from ..train.cli_options import add_common_arguments, count
from ..train.metrics import evaluate
from ..train.run_dir import Run


def preprocess(seed: int = 0):
    """Step 1: the digits split, cleaned and standardized; returns tensors and the cleaning report."""
    split = data.datasets.digits(seed=seed)
    x_train, y_train, report = clean(split.x_train, split.y_train, num_classes=10)
    scaler = data.StandardScaler().fit(x_train)
    tensors = (Tensor(scaler.transform(x_train)), Tensor(y_train),
               Tensor(scaler.transform(split.x_test)), Tensor(split.y_test))
    return tensors, report


def fit(model, tensors, epochs: int, lr: float = 1e-3, batch_size: int = 32, seed: int = 0, loss_fn=None,
        after_step=None, evaluate=None, **trainer_options):
    """Step 2 (and the fine-tuning of step 3): Adam over shuffled batches of ``tensors`` (x, y, ...).
    ``loss_fn(model, *batch)`` replaces cross-entropy; ``after_step()`` runs after every optimizer
    step (e.g. re-applying pruning masks). Frozen parameters (requires_grad False) are left alone. With
    ``evaluate`` a history row every epoch, else one at the end; ``trainer_options`` go to the Trainer."""
    opt = optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    loader = data.DataLoader(data.TensorDataset(*tensors), batch_size=batch_size, shuffle=True, seed=seed)

    def batch_loss(model, batch):
        return loss_fn(model, *batch) if loss_fn else ops.cross_entropy(model(batch[0]), batch[1])

    trainer = Trainer(model, opt, batch_loss, callbacks=[_AfterStep(after_step)] if after_step else [],
                      average="batches", **{"progress": False, **trainer_options})
    trainer.fit(loader, epochs, eval_every=1 if evaluate else epochs, evaluate=evaluate)
    return model.eval()


class _AfterStep(Callback):
    def __init__(self, fn):
        self.fn = fn

    def on_step_end(self, trainer, logs):
        self.fn()


def distill_student(teacher, x, y, hidden: int, epochs: int, T: float = 4.0, alpha: float = 0.7, seed: int = 0,
                    **trainer_options):
    """Step 3c: a student MLP trained on alpha T^2 KL(teacher || student at temperature T) + (1 - alpha) CE."""
    with no_grad():
        teacher_logits = teacher.eval()(x)
    manual_seed(seed + 1)
    student = MLP(x.shape[1], (hidden,), 10)
    return fit(student, (x, y, teacher_logits), epochs, lr=3e-3, seed=seed, **trainer_options,
               loss_fn=lambda model, xb, yb, tb: distillation_loss(model(xb), tb, yb, T, alpha))


def nonzero_values(model) -> int:
    """Non-zero numbers the model stores (weights, biases, int8 weights and their scales)."""
    return int(sum(np.count_nonzero(v) for v in model.state_dict().values()))


def run_pipeline(epochs: int = 20, hidden: int = 128, prune_amount: float = 0.8, finetune_epochs: int = 3,
                 student_hidden: int = 16, distill_epochs: int = 20, seed: int = 0, verbose: bool = True,
                 lr: float = 1e-3, batch_size: int = 32, **trainer_options) -> dict:
    """All four steps; returns {'rows': [...], 'cleaning': report}, one row per model variant. ``lr`` and
    ``batch_size`` are the teacher's; ``trainer_options`` go to the teacher's Trainer (the CLI's run folder,
    curves and progress bar: its training is the run's checkpoint and curves)."""
    (x_train, y_train, x_test, y_test), report = preprocess(seed)
    manual_seed(seed)
    teacher = MLP(64, (hidden,), 10)

    def teacher_scores():
        (loss, acc), (val_loss, val_acc) = evaluate(teacher, x_train, y_train), evaluate(teacher, x_test, y_test)
        return {"loss": loss, "accuracy": acc, "val_loss": val_loss, "val_accuracy": val_acc}
    teacher = fit(teacher, (x_train, y_train), epochs, lr=lr, batch_size=batch_size, seed=seed,
                  evaluate=teacher_scores if trainer_options else None, **trainer_options)

    pruned = copy.deepcopy(teacher)
    masks = magnitude_prune(pruned, prune_amount, scope="global")
    progress = trainer_options.get("progress", False)  # the other stages show a bar when the teacher does
    fit(pruned, (x_train, y_train), finetune_epochs, seed=seed, after_step=masks.apply, progress=progress,
        desc="pipeline fine-tune")

    student = distill_student(teacher, x_train, y_train, student_hidden, distill_epochs, seed=seed, progress=progress,
                              desc="pipeline distill")
    manual_seed(seed + 1)
    baseline = fit(MLP(64, (student_hidden,), 10), (x_train, y_train), distill_epochs, lr=3e-3, seed=seed,
                   progress=progress, desc="pipeline student")

    variants = [("teacher (float32)", teacher), (f"pruned {prune_amount:.0%} + fine-tuned", pruned),
                ("teacher int8", quantize_dynamic(teacher)), ("pruned + int8", quantize_dynamic(pruned)),
                (f"student {student_hidden} hidden, distilled", student),
                (f"student {student_hidden} hidden, labels only", baseline)]
    rows = []
    for name, model in variants:
        _, acc = evaluate(model, x_test, y_test)
        rows.append({"model": name, "test_accuracy": acc, "bytes": model_size_bytes(model),
                     "nonzero": nonzero_values(model)})
    rows[1]["sparsity"] = sparsity(pruned)["global"]
    if verbose:
        print(report)
        print(f"{'model':<36} {'test acc':>8} {'bytes':>8} {'nonzero':>8}")
        for r in rows:
            print(f"{r['model']:<36} {r['test_accuracy']:>8.4f} {r['bytes']:>8d} {r['nonzero']:>8d}")
    return {"rows": rows, "cleaning": report}


def add_arguments(parser, command, model):
    add_common_arguments(parser, model, epochs=20, batch_size=32, lr=1e-3,
                         lr_help="the teacher's Adam learning rate")
    parser.add_argument("--prune", type=float, default=0.8, help="fraction of weights to prune (global)")
    parser.add_argument("--student-hidden", type=count, default=16, help="hidden units of the distilled student")


def train(args):
    """``tinygrad-lm train pipeline``: the four steps on the digits, with the result table. The run's
    checkpoint and curves are the teacher's (``--resume`` continues its training, then the optimize and infer
    steps run again); result.json holds the table."""
    if not 0 <= args.prune <= 1:
        raise SystemExit("tinygrad-lm train pipeline: --prune in [0, 1]")
    run = Run(args, fixed=("seed",))
    out = run_pipeline(epochs=args.epochs, prune_amount=args.prune, student_hidden=args.student_hidden, seed=args.seed,
                       lr=args.lr, batch_size=args.batch_size, run=run, curves=run.curves,
                       title="pipeline teacher: MLP on cleaned digits (validation = test split)",
                       progress=not args.no_progress, desc="pipeline teacher", device=args.device)
    report = out["cleaning"]
    run.write_result({"rows": out["rows"], "cleaning": {"kept": report.kept, "total": report.total}})
    return out
