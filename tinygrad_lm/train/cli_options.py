"""The options every ``tinygrad-lm train <model>`` shares, defined once: a recipe calls
``add_common_arguments(parser, model, epochs=... or steps=..., batch_size=..., lr=...)`` with its defaults and
adds only what is its own. The CLI shows every default in the help (ArgumentDefaultsHelpFormatter)."""
from __future__ import annotations

import argparse
import math


def count(text: str) -> int:
    """argparse type of a flag that counts something (steps, batch size, layers): an int >= 1, refused
    as a usage error otherwise (a batch of 0 would loop forever, a negative one slice from the end)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def positive(text: str) -> float:
    """argparse type of a rate or a scale: a finite float > 0 ('nan' passes every `<= 0` check)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def add_common_arguments(parser, model: str, *, batch_size: int, lr: float, epochs: int | None = None,
                         steps: int | None = None, eval_every: int | None = None, lr_help: str = "learning rate",
                         resume: bool = True) -> None:
    """--out, --epochs or --steps (with --eval-every), --batch-size, --lr, --seed, --device, --resume /
    --overwrite, --no-progress, --distributed: the same names, help and checks on every model."""
    if (epochs is None) == (steps is None):
        raise ValueError("add_common_arguments: give epochs or steps (the unit of the model's loop)")
    parser.add_argument("--out", default=f"runs/{model}", metavar="DIR",
                        help="run folder: checkpoint.npz, curves.png and result.json")
    if epochs is not None:
        parser.add_argument("--epochs", type=count, default=epochs, help="passes over the training data")
    else:
        parser.add_argument("--steps", type=count, default=steps, help="optimizer steps")
        parser.add_argument("--eval-every", type=count, default=eval_every or max(1, steps // 10),
                            help="steps between evaluations (a point of the curves and a checkpoint)")
    parser.add_argument("--batch-size", type=count, default=batch_size, help="samples per optimizer step")
    parser.add_argument("--lr", type=positive, default=lr, help=lr_help)
    parser.add_argument("--seed", type=int, default=0, help="seeds the initialization, the data order and sampling")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where the model trains (cuda needs CuPy and an NVIDIA GPU)")
    group = parser.add_mutually_exclusive_group()
    if resume:
        group.add_argument("--resume", action="store_true",
                           help="continue from the checkpoint in --out (a larger --epochs/--steps trains further)")
    group.add_argument("--overwrite", action="store_true", help="start over in an --out that holds a run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--distributed", choices=("none", "mpi"), default="none",
                        help="mpi: data-parallel over the processes of `mpirun -n N` (each takes a slice of every "
                             "batch; rank 0 prints and writes); needs the extra tinygrad-lm[mpi]")


def add_generate_arguments(parser, model: str, *, prompt: str, max_new_tokens: int, unit: str = "token") -> None:
    """The options of every ``tinygrad-lm generate <model>``: the run folder, the prompt, how much to add, and
    sampling (temperature and top-k by default, greedy on request) with its seed; ``unit`` names what is
    sampled ('token', 'word')."""
    parser.add_argument("--out", default=f"runs/{model}", metavar="DIR",
                        help=f"run folder of `tinygrad-lm train {model}`")
    parser.add_argument("--prompt", default=prompt, help="text to continue")
    parser.add_argument("--max-new-tokens", type=count, default=max_new_tokens, help=f"{unit}s to add to the prompt")
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="divides the logits before sampling: below 1 safer, above 1 more varied; 0 is greedy")
    parser.add_argument("--top-k", type=int, default=40, help=f"sample among the k most likely {unit}s only; 0 for all")
    parser.add_argument("--greedy", action="store_true",
                        help=f"take the most likely {unit} every time instead of sampling (deterministic, prone to "
                             f"repeating itself)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampling")
