"""The ``tinygrad-lm`` command: help lists every model, unknown names fail clearly, and
``train mlp`` runs end to end (progress, accuracy, curves, checkpoint, resume); every model: test_cli_models."""
import json
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_lm import cli


def cli_status(argv):
    """The exit status of ``cli.main(argv)``: what it returns, or the code of the SystemExit it raises."""
    try:
        return cli.main(argv)
    except SystemExit as e:
        return e.code


def _run(*args):
    return subprocess.run([sys.executable, "-m", "tinygrad_lm.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_help_lists_every_model():
    out = _run("--help")
    assert out.returncode == 0, out.stderr
    for name in cli.MODELS:
        assert name in out.stdout


def test_train_help_lists_every_model(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in cli.MODELS)


def test_unknown_model_is_a_clear_error_with_nonzero_exit():
    out = _run("train", "no-such-model")
    assert out.returncode != 0
    assert "unknown model 'no-such-model'" in out.stderr and "mlp" in out.stderr


def test_mlp_options_are_listed(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "mlp", "--help"])
    text = capsys.readouterr().out
    for option in ("--epochs", "--batch-size", "--lr", "--seed", "--resume", "--out"):
        assert option in text


def test_train_mlp_end_to_end(tmp_path, capsys):
    cli.main(["train", "mlp", "--epochs", "1", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert "test accuracy" in captured.out
    assert "mlp" in captured.err and "step" in captured.err  # tqdm's progress bar
    png = (tmp_path / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as z:
        assert "model/0.weight" in z.files
    result = json.loads((tmp_path / "result.json").read_text())
    assert 0.8 < result["test_accuracy"] <= 1.0


def test_train_mlp_resume_matches_an_unbroken_run(tmp_path):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    cli.main(["train", "mlp", "--epochs", "2", "--out", str(straight), "--no-progress"])
    cli.main(["train", "mlp", "--epochs", "1", "--out", str(broken), "--no-progress"])
    cli.main(["train", "mlp", "--epochs", "2", "--out", str(broken), "--resume", "--no-progress"])
    with np.load(straight / "checkpoint.npz") as a, np.load(broken / "checkpoint.npz") as b:
        for k in a.files:
            if k.startswith(("model/", "optim/")):
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinygrad-lm: error: "), err
    return err[0]


def test_train_mlp_refuses_bad_hyper_parameters(tmp_path, capsys):
    """Counts and rates are checked by argparse (a usage error, status 2) before anything is written."""
    for flag, value, why in (("--epochs", "0", "must be an integer >= 1, got 0"),
                             ("--lr", "0", "must be a finite number > 0, got 0"),
                             ("--batch-size", "-3", "must be an integer >= 1, got -3")):
        assert cli_status(["train", "mlp", flag, value, "--out", str(tmp_path / "run")]) == 2
        assert capsys.readouterr().err == (f"tinygrad-lm: error: argument {flag}: {why} (see `tinygrad-lm train mlp "
                                           f"--help`)\n")
    assert not (tmp_path / "run").exists()


def test_a_bad_flag_value_is_argparse_status_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "mlp", "--epochs", "many"])
    assert info.value.code == 2 and "--epochs: must be an integer >= 1, got many" in capsys.readouterr().err


def test_library_errors_are_one_line_in_the_clis_words(tmp_path, capsys):
    """A ValueError from a bad hyper-parameter, a missing data file (with the CLI's flag, not the API's
    argument), a missing checkpoint: one line each, status 1."""
    assert cli_status(["train", "gpt", "--n-embd", "30", "--n-head", "4", "--steps", "1", "--out", str(tmp_path / "g"),
                     "--vocab-size", "260"]) == 2
    assert "--n-embd 30 must be a multiple of --n-head 4" in _one_error_line(capsys)
    assert cli_status(["train", "transformer", "--d-model", "6", "--heads", "4", "--out", str(tmp_path / "t")]) == 2
    assert "--d-model 6 must be a multiple of --heads 4" in _one_error_line(capsys)
    assert cli_status(["train", "gpt", "--dropout", "1.5", "--block-size", "8", "--out", str(tmp_path / "g2"),
                       "--vocab-size", "258", "--steps", "1"]) == 1
    line = _one_error_line(capsys)  # the model's own check, in the CLI's words
    assert "dropout must be in [0, 1)" in line and "n_embd" not in line
    assert cli_status(["train", "cnn-mnist", "--data", "mnist", "--root", str(tmp_path), "--out", str(tmp_path / "c")]) == 1
    line = _one_error_line(capsys)
    assert "pass --download" in line and "--data digits" in line and "download_missing" not in line
    assert cli_status(["generate", "gpt", "--out", str(tmp_path / "nothing")]) == 1
    assert f"no trained GPT in {tmp_path / 'nothing'}" in _one_error_line(capsys)
    assert cli_status(["generate", "lstm-lm", "--out", str(tmp_path / "nothing")]) == 1
    assert f"no trained LSTM language model in {tmp_path / 'nothing'}" in _one_error_line(capsys)


def test_errors_print_no_traceback_unless_debug(tmp_path):
    out = _run("generate", "gpt", "--out", str(tmp_path))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (f"tinygrad-lm: error: no trained GPT in {tmp_path} (no checkpoint.npz); train one "
                                  f"with `tinygrad-lm train gpt --out {tmp_path}` or pass the --out of a run")
    out = _run("generate", "gpt", "--out", str(tmp_path), "--debug")
    assert out.returncode == 1 and "Traceback" in out.stderr and "FileNotFoundError" in out.stderr


def test_api_argument_names_become_the_models_flags(capsys):
    """A library message naming an argument that is one of the model's flags says the flag; prose is left alone."""
    status = cli._report(ValueError("GPTConfig: n_embd 30 must be divisible by n_head 4; the data is fine"),
                         {"n_embd": 30, "n_head": 4, "data": "x", "vocab_size": 9})
    assert status == 1
    assert capsys.readouterr().err.strip() == ("tinygrad-lm: error: GPTConfig: --n-embd 30 must be divisible by "
                                               "--n-head 4; the data is fine")
    cli._report(RuntimeError("could not download u (offline); put the file at p by hand, or train on the offline "
                             "data sets (digits28, shapes)"), {"train_size": None})
    assert "train on the offline data (--data digits or --data shapes)" in capsys.readouterr().err
