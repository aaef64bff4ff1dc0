"""``tinygrad-lm``: train and sample the inventory's models from the command line.

Each model is trained by a module with ``add_arguments(parser)`` and ``train(args)`` (and
``generate(args)`` for the language models): its recipe in ``tinygrad_lm.recipes``. The registry below
maps a name to it, and the module is imported only when its name is asked for.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import sys

MODELS = {
    "mlp": ("tinygrad_lm.recipes.mlp", "multilayer perceptron on scikit-learn's handwritten digits (D1.F1-F6)"),
    "cnn-mnist": ("tinygrad_lm.recipes.cnn", "MNIST-style CNN on digits resized to 28x28, or MNIST (D4.M1)"),
    "cnn-cifar": ("tinygrad_lm.recipes.cnn", "CIFAR-style CNN on generated shapes, or CIFAR-10 (D3.M1)"),
    "lstm-classifier": ("tinygrad_lm.recipes.lstm_classifier", "Keras-style LSTM text classifier (D1.M1)"),
    "rnn-classifier": ("tinygrad_lm.recipes.rnn", "two-layer RNN sequence classifier (D3.M2)"),
    "lstm-lm": ("tinygrad_lm.recipes.lstm_lm", "LSTM language model on CPython's documentation (D0.M1)"),
    "transformer": ("tinygrad_lm.recipes.transformer", "encoder-decoder Transformer on generated tasks (D2.M1-M3)"),
    "gpt": ("tinygrad_lm.recipes.gpt", "decoder-only GPT with byte-level BPE (D4.M2)"),
    "pipeline": ("tinygrad_lm.recipes.pipeline", "preprocess -> train -> prune/quantize/distill -> infer on digits (D0.T1)"),
    "seq2seq-attention": ("tinygrad_lm.recipes.seq2seq_attention", "RNN encoder-decoder with Luong attention (D1.T3)"),
}


# messages of the library that name an API argument, in the CLI's own words
_API_TO_FLAGS = {"pass download_missing=True": "pass --download", "use digits28() offline": "use --data digits offline",
                 "use shapes() offline": "use --data shapes offline"}


def _model_module(name: str):
    if name not in MODELS:
        known = ", ".join(MODELS)
        raise SystemExit(f"tinygrad-lm: error: unknown model {name!r}; choose one of: {known}")
    return importlib.import_module(MODELS[name][0])


def _listing() -> str:
    width = max(map(len, MODELS))
    return "models:\n" + "\n".join(f"  {k:<{width}}  {v[1]}" for k, v in MODELS.items())


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["exercises"]:  # its own parser: list / start / solve / check
        from .exercises.cli import main as exercises_main

        return exercises_main(argv[1:])
    debug = "--debug" in argv  # anywhere on the line: a user adds it to the command that failed
    argv = [a for a in argv if a != "--debug"]
    parser = argparse.ArgumentParser(prog="tinygrad-lm", description="Train and sample tinygrad_lm's models.",
                                     epilog=_listing(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("exercises", help="textbook exercises: list, start DIR, solve DIR, check ID / --all")
    for command, what in (("train", "train a model"), ("generate", "sample text from a trained language model")):
        p = sub.add_parser(command, help=what, epilog=_listing(), formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("model", help="one of: " + ", ".join(MODELS))
    # first pass: which command and model; then the model adds its own options
    # (--help after a model name is left for the second pass, so it lists the model's options)
    first = [a for a in argv if a not in ("-h", "--help")]
    known, _ = parser.parse_known_args(first if len(first) >= 2 else argv)
    module = _model_module(known.model)
    full = argparse.ArgumentParser(prog=f"tinygrad-lm {known.command} {known.model}",
                                   description=MODELS[known.model][1])
    full.add_argument("model")
    module.add_arguments(full, known.command, known.model)
    args = full.parse_args(argv[1:])
    for dest, value in vars(args).items():  # float() takes 'nan' and 'inf', which pass every `<= 0` check
        if isinstance(value, float) and not math.isfinite(value):
            full.error(f"argument --{dest.replace('_', '-')}: must be a finite number, got {value}")
    handler = getattr(module, known.command, None)
    if handler is None:
        raise SystemExit(f"tinygrad-lm: error: model {known.model!r} has no {known.command!r} command")
    from . import distributed

    try:  # --distributed mpi: this process is one rank of `mpirun -n N`
        comm = distributed.init(getattr(args, "distributed", "none"))
    except (ValueError, RuntimeError) as e:
        raise SystemExit(_report(e)) from None
    if comm is not None and comm.rank != 0:
        sys.stdout = open(os.devnull, "w")  # rank 0 alone prints progress and results; errors stay on stderr
    # under MPI a rank that fails aborts the job: its peers would otherwise wait for it forever
    with distributed.abort_on_exit(comm) if comm is not None else contextlib.nullcontext():
        try:
            handler(args)
        except (Exception, SystemExit) as e:  # Ctrl-C keeps Python's KeyboardInterrupt
            if debug or (isinstance(e, SystemExit) and not isinstance(e.code, str)):
                raise
            raise SystemExit(_report(e)) from None  # as argparse does: callers and the shell see the status
    return 0


def _report(e: BaseException) -> int:
    """One line on stderr for an error of the train / generate command; the exit status."""
    if isinstance(e, SystemExit):  # a model's check of its flags, worded as a usage error
        message, status = str(e.code).removeprefix("tinygrad-lm "), 2
    elif isinstance(e, (ValueError, OSError, RuntimeError)):  # bad values, files, folders, checkpoints, downloads
        message, status = str(e), 1
    else:  # a bug rather than a mistake of the user's: still one line, the traceback on request
        message, status = f"internal error ({type(e).__name__}: {e}); rerun with --debug for the traceback", 1
    for api, flags in _API_TO_FLAGS.items():
        message = message.replace(api, flags)
    print("tinygrad-lm: error: " + " ".join(message.split()), file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
