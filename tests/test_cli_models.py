"""Every model of ``tinygrad-lm train``, as a new user meets it: the same options with help and defaults, the
same three files in the run folder, ``--resume`` training further, Ctrl-C as one line."""
import json

import numpy as np
import pytest

from tinygrad_lm import cli
from tinygrad_lm.train.checkpoint import read_checkpoint

# the smallest run each model offers, and how its length is counted
TINY = {
    "mlp": ("--epochs", ["--hidden", "8"]),
    "cnn-mnist": ("--epochs", ["--train-size", "16"]),
    "cnn-cifar": ("--epochs", ["--train-size", "16"]),
    "lstm-classifier": ("--epochs", ["--maxlen", "10", "--num-words", "50"]),
    "rnn-classifier": ("--epochs", ["--samples", "32"]),
    "lstm-lm": ("--epochs", ["--train-windows", "8", "--vocab-size", "100", "--embedding-dim", "4", "--hidden-size",
                             "4", "--num-layers", "1", "--seq-len", "4"]),
    "transformer": ("--steps", ["--eval-every", "1", "--samples", "32", "--batch-size", "4", "--d-model", "8",
                                "--heads", "1"]),
    "gpt": ("--steps", ["--eval-every", "1", "--vocab-size", "258", "--n-layer", "1", "--n-head", "1", "--n-embd",
                        "8", "--block-size", "4", "--batch-size", "2"]),
    "pipeline": ("--epochs", ["--student-hidden", "4"]),
    "seq2seq-attention": ("--steps", ["--eval-every", "1", "--batch-size", "4", "--hidden-size", "8"]),
}
COMMON = ("--out", "--batch-size", "--lr", "--seed", "--device", "--resume", "--overwrite", "--no-progress",
          "--distributed")


def test_every_model_has_a_tiny_run():
    assert set(TINY) == set(cli.MODELS)


def _options(model, command="train"):
    return cli._parser(command, model)[1]


@pytest.mark.parametrize("model", list(cli.MODELS))
def test_help_lists_the_common_options_with_help_and_defaults(model):
    parser = _options(model)
    text = parser.format_help()
    assert "positional arguments" not in text
    for flag in (*COMMON, TINY[model][0]):
        assert flag in text, flag
    for action in parser._actions:
        assert action.help, f"{action.option_strings} has no help text"
        if action.nargs != 0 and action.dest != "help":  # a value option: its default is shown
            assert "(default: " in parser._get_formatter()._expand_help(action), action.option_strings


def test_generate_offers_only_the_models_that_generate():
    import importlib

    assert set(cli.GENERATES) == {m for m, (module, _) in cli.MODELS.items()
                                  if hasattr(importlib.import_module(module), "generate")}
    for model in cli.GENERATES:
        assert "--out" in _options(model, "generate").format_help()


def _status(argv):
    try:
        return cli.main(argv)
    except SystemExit as e:
        return e.code


def test_options_before_the_model_name_are_explained(capsys):
    assert _status(["train", "--epochs", "1", "mlp"]) == 2
    assert capsys.readouterr().err.strip() == ("tinygrad-lm: error: options go after the model name: "
                                               "tinygrad-lm train mlp --epochs 1")
    assert _status(["generate", "mlp"]) == 2
    assert "generate has no model 'mlp'; choose one of: lstm-lm, gpt" in capsys.readouterr().err


def test_device_cuda_is_refused_clearly_without_a_gpu(tmp_path, capsys):
    from tinygrad_lm import backend

    if backend.gpu_available():
        pytest.skip("a GPU is here")
    assert _status(["train", "mlp", "--device", "cuda", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tinygrad-lm: error: --device cuda: CuPy or an NVIDIA GPU is not available") and "\n" not in err


@pytest.mark.parametrize("model", list(cli.MODELS))
def test_every_model_writes_its_run_and_resumes(model, tmp_path, capsys):
    unit, options = TINY[model]
    out = tmp_path / model
    base = ["train", model, *options, "--out", str(out), "--no-progress"]
    assert cli.main([*base, unit, "1"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.name != "tokenizer.json") == [
        "checkpoint.npz", "curves.png", "result.json"]
    assert (out / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((out / "result.json").read_text())
    first = read_checkpoint(out / "checkpoint.npz")[1]
    assert cli.main([*base, unit, "2", "--resume"]) == 0
    meta = read_checkpoint(out / "checkpoint.npz")[1]
    done = "epoch" if unit == "--epochs" else "step"
    assert (first[done], meta[done]) == (1, 2)
    assert len(meta["history"]["loss"]) == len(first["history"]["loss"]) + 1
    assert json.loads((out / "result.json").read_text())["resumed_with_changes"]


def test_ctrl_c_is_one_line_and_status_130(tmp_path, capsys, monkeypatch):
    from tinygrad_lm.recipes import mlp

    calls = []

    def interrupted(model, batch):
        calls.append(1)
        if len(calls) == 50:  # in epoch 2 (43 steps an epoch)
            raise KeyboardInterrupt
        return classify(model, batch)
    classify = mlp.classify
    monkeypatch.setattr(mlp, "classify", interrupted)
    assert _status(["train", "mlp", "--epochs", "3", "--hidden", "8", "--out", str(tmp_path), "--no-progress"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tinygrad-lm: interrupted at step 49; the last checkpoint is {tmp_path / 'checkpoint.npz'} "
                   f"(epoch 1); --resume continues from it"]
    with np.load(tmp_path / "checkpoint.npz") as z:
        assert "model/0.weight" in z.files


def test_lstm_classifier_packed_is_a_fixed_flag_of_its_run(tmp_path, capsys):
    """--packed (D1.M1 over each text's own words) reaches the model and cannot change on --resume."""
    out = tmp_path / "packed"
    base = ["train", "lstm-classifier", *TINY["lstm-classifier"][1], "--out", str(out), "--no-progress"]
    assert cli.main([*base, "--epochs", "1", "--packed"]) == 0
    assert read_checkpoint(out / "checkpoint.npz")[1]["args"]["packed"] is True
    assert _status([*base, "--epochs", "2", "--resume"]) == 1
    assert "--resume cannot change --packed" in capsys.readouterr().err
