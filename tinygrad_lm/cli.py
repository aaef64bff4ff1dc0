"""``tinygrad-lm``: train and sample the inventory's models from the command line.

Each model is trained by a module with ``add_arguments(parser, command, model)`` and ``train(args)`` (and
``generate(args)`` for the language models): its recipe in ``tinygrad_lm.recipes``. The registry below
maps a name to it, and the module is imported only when its name is asked for. ``tinygrad-lm train MODEL``
and ``generate MODEL`` are subcommands; the options every model shares are ``train.cli_options``'s.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import re
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


# the models whose recipe has generate(args): `generate` offers these alone (kept without importing recipes)
GENERATES = ("lstm-lm", "gpt")

# messages of the library that name an API argument, in the CLI's own words (and, in _report, any
# argument of the model's that is one of its flags: n_embd -> --n-embd)
_API_TO_FLAGS = {"pass download_missing=True": "pass --download", "use digits28() offline": "use --data digits offline",
                 "use shapes() offline": "use --data shapes offline",
                 "the offline data sets (digits28, shapes)": "the offline data (--data digits or --data shapes)"}


def _model_module(name: str):
    return importlib.import_module(MODELS[name][0])


def _listing() -> str:
    width = max(map(len, MODELS))
    return "models:\n" + "\n".join(f"  {k:<{width}}  {v[1]}" for k, v in MODELS.items())


class _DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default after its help, but for the switches (their default is always off)."""

    def _get_help_string(self, action):
        return action.help if action.nargs == 0 else super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse's parser with a usage error in one line, as every other error of the CLI (the usage is one
    --help away)."""

    def error(self, message):
        print(f"tinygrad-lm: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def _usage_error(message: str):
    print(f"tinygrad-lm: error: {message}", file=sys.stderr)
    return SystemExit(2)


def _command_and_model(argv):
    """(command, model) named by ``argv`` for train / generate, checked before any recipe is imported; model is
    None when argparse is to answer (help, a missing name)."""
    if argv[:1] not in (["train"], ["generate"]):
        return None, None
    command, rest = argv[0], argv[1:]
    offered = GENERATES if command == "generate" else tuple(MODELS)
    if not rest or rest[0].startswith("-"):
        named = [a for a in rest if a in MODELS]
        if named and rest[0] not in ("-h", "--help"):
            options = [a for a in rest if a != named[0]]
            raise _usage_error(f"options go after the model name: tinygrad-lm {command} {named[0]} {' '.join(options)}")
        return command, None
    if rest[0] not in offered:
        what = "unknown model" if rest[0] not in MODELS else f"{command} has no model"
        raise _usage_error(f"{what} {rest[0]!r}; choose one of: {', '.join(offered)}")
    return command, rest[0]


def _parser(command=None, model=None):
    """The command line: train / generate, each with one subcommand per model; the options of ``model``
    (of ``command``) alone are added, so only its recipe is imported. Returns (parser, the model's parser)."""
    parser = _Parser(prog="tinygrad-lm", description="Train and sample tinygrad_lm's models.",
                     epilog=_listing(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("exercises", help="textbook exercises: list, start DIR, solve DIR, check ID / --all")
    chosen = None
    for name, what in (("train", "train a model"), ("generate", "sample text from a trained language model")):
        p = sub.add_parser(name, help=what, description=f"{what}; options go after the model's name")
        models = p.add_subparsers(dest="model", required=True, metavar="MODEL", title="models")
        for key, (_, about) in MODELS.items():
            if name == "train" or key in GENERATES:
                mp = models.add_parser(key, help=about, description=about,
                                       formatter_class=_DefaultsShown)
                if (name, key) == (command, model):
                    _model_module(key).add_arguments(mp, name, key)
                    chosen = mp
    return parser, chosen


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["exercises"]:  # its own parser: list / start / solve / check
        from .exercises.cli import main as exercises_main

        return exercises_main(argv[1:])
    debug = "--debug" in argv  # anywhere on the line: a user adds it to the command that failed
    argv = [a for a in argv if a != "--debug"]
    command, model = _command_and_model(argv)
    parser, options = _parser(command, model)
    args = parser.parse_args(argv)
    for dest, value in vars(args).items():  # float() takes 'nan' and 'inf', which pass every `<= 0` check
        if isinstance(value, float) and not math.isfinite(value):
            options.error(f"argument --{dest.replace('_', '-')}: must be a finite number, got {value}")
    handler = getattr(_model_module(model), command)
    from . import distributed

    try:  # --distributed mpi: this process is one rank of `mpirun -n N`
        comm = distributed.init(getattr(args, "distributed", "none"))
    except (ValueError, RuntimeError) as e:
        raise SystemExit(_report(e, vars(args))) from None
    if comm is not None and comm.rank != 0:
        sys.stdout = open(os.devnull, "w")  # rank 0 alone prints progress and results; errors stay on stderr
    # under MPI a rank that fails aborts the job: its peers would otherwise wait for it forever
    with distributed.abort_on_exit(comm) if comm is not None else contextlib.nullcontext():
        try:
            handler(args)
        except KeyboardInterrupt as e:  # Ctrl-C: where it stopped and what was saved, the shell's status 130
            if debug:
                raise
            print(f"tinygrad-lm: {e or 'interrupted'}", file=sys.stderr)
            raise SystemExit(130) from None
        except (Exception, SystemExit) as e:
            if debug or (isinstance(e, SystemExit) and not isinstance(e.code, str)):
                raise
            raise SystemExit(_report(e, vars(args))) from None  # as argparse does: the shell sees the status
    return 0


def _report(e: BaseException, options=()) -> int:
    """One line on stderr for an error of the train / generate command, in the words of its flags (``options``:
    the argparse dests; those of two words, such as n_embd, are unmistakable in a message); the exit status."""
    if isinstance(e, SystemExit):  # a model's check of its flags, worded as a usage error
        message, status = str(e.code).removeprefix("tinygrad-lm "), 2
    elif isinstance(e, (ValueError, OSError, RuntimeError)):  # bad values, files, folders, checkpoints, downloads
        message, status = str(e), 1
    else:  # a bug rather than a mistake of the user's: still one line, the traceback on request
        message, status = f"internal error ({type(e).__name__}: {e}); rerun with --debug for the traceback", 1
    for api, flags in _API_TO_FLAGS.items():
        message = message.replace(api, flags)
    for dest in (d for d in options if "_" in d):
        message = re.sub(rf"(?<![-\w]){dest}(?!\w)", "--" + dest.replace("_", "-"), message)
    print("tinygrad-lm: error: " + " ".join(message.split()), file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
