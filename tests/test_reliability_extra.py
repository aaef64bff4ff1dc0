"""Bad inputs found by a new user's probe (issue 11) beyond test_bad_inputs / test_safety: each must end in a
clear error raised by tinygrad_lm (its last frame in the package, its message naming the op or flag) or in
the right result, never a NumPy error from inside, a silent NaN or a silently wrong result."""
import os
import traceback

import numpy as np
import pytest

import tinygrad_lm as tg
from tinygrad_lm import nn, optim
from tinygrad_lm.cli import main
from tinygrad_lm.data import text

PACKAGE = os.path.dirname(tg.__file__) + os.sep


def refused(call, error, *names):
    """``call()`` raises ``error`` from inside tinygrad_lm with a message naming every one of ``names``."""
    with pytest.raises(error) as info:
        call()
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert frame.filename.startswith(PACKAGE), f"raised from {frame.filename}:{frame.lineno}: {info.value}"
    for n in names:
        assert n.lower() in str(info.value).lower(), f"{n!r} not in {info.value}"


def params():
    return list(nn.Linear(3, 2).parameters())


# ------------------------------------------------------------------ optimizers
@pytest.mark.parametrize("make", [lambda p, lr: optim.SGD(p, lr=lr), lambda p, lr: optim.Adam(p, lr=lr)])
def test_optimizer_refuses_nan_learning_rate(make):
    """NaN passed `lr < 0` and trained to NaN weights without a word (torch refuses it)."""
    refused(lambda: make(params(), float("nan")), ValueError, "lr", "nan")
    refused(lambda: make(params(), "0.1"), TypeError, "lr", "str")


def test_optimizer_hyperparameters_nan_and_types():
    refused(lambda: optim.AdamW(params(), weight_decay=float("nan")), ValueError, "AdamW", "weight_decay")
    refused(lambda: optim.SGD(params(), lr=0.1, momentum=float("nan")), ValueError, "SGD", "momentum")
    refused(lambda: optim.Adam(params(), betas=0.9), TypeError, "Adam", "betas")


def test_optimizer_refuses_non_tensors_and_duplicates():
    refused(lambda: optim.Adam([1.0, 2.0]), TypeError, "Adam", "float")
    w = tg.randn(2, requires_grad=True)
    refused(lambda: optim.SGD([w, w], lr=0.1), ValueError, "SGD", "more than once")
    refused(lambda: optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1), ValueError, "SGD", "more than once")


# ------------------------------------------------------------------ factories and tensor data
@pytest.mark.parametrize("make, name", [(tg.zeros, "zeros"), (tg.ones, "ones"), (tg.randn, "randn"), (tg.rand, "rand")])
def test_factories_check_sizes(make, name):
    refused(lambda: make(-3, 2), ValueError, name, "non-negative")
    refused(lambda: make(2.5), TypeError, name, "float")
    refused(lambda: make(None), TypeError, name, "None")
    refused(lambda: make(10 ** 30), MemoryError, name)
    assert make(0, 3).shape == (0, 3) and make((2, 3)).shape == (2, 3)


def test_factory_argument_checks():
    refused(lambda: tg.randn(10 ** 8, 10 ** 8), MemoryError, "randn", "(100000000, 100000000)")
    refused(lambda: tg.arange(0, 10, 0), ValueError, "arange", "step")
    refused(lambda: tg.randint(5, 2, (3,)), ValueError, "randint", "low")
    x = tg.randint(5, (200,))  # torch's randint(high, size)
    assert x.shape == (200,) and 0 <= x.numpy().min() and x.numpy().max() < 5


@pytest.mark.parametrize("data", [None, "abc", [None, 1.0], [1j]])
def test_tensor_refuses_non_numbers(data):
    """None or strings became object / str tensors, failing later in some op far from the mistake."""
    refused(lambda: tg.tensor(data), TypeError, "tensor")
    refused(lambda: tg.full((2,), "x"), TypeError, "tensor")


# ------------------------------------------------------------------ layers and ops
@pytest.mark.parametrize("build", [lambda x: nn.Sequential(nn.Linear(2, 2), x), lambda x: nn.ModuleList([x]),
                                   lambda x: nn.ModuleDict({"a": x}), lambda x: nn.Sequential().append(x)])
def test_containers_refuse_non_modules(build):
    """A string in a Sequential was kept as a plain attribute and silently skipped by forward."""
    refused(lambda: build("relu"), TypeError, "not a Module", "str")
    refused(lambda: build(None), TypeError, "not a Module")


def test_masked_fill_needs_a_bool_mask():
    """torch's rule: a float mask of 0.5 says nothing clear."""
    refused(lambda: tg.randn(2).masked_fill(tg.tensor([1.0, 0.0]), 0.0), TypeError, "masked_fill", "bool")
    out = tg.tensor([1.0, 2.0]).masked_fill(tg.tensor([True, False]), 0.0)
    assert out.tolist() == [0.0, 2.0]


# ------------------------------------------------------------------ text data
def test_tokenizer_refuses_non_text():
    refused(lambda: text.Tokenizer().fit_on_texts(None), TypeError, "fit_on_texts")
    refused(lambda: text.Tokenizer().fit_on_texts([1, 2]), TypeError, "Tokenizer", "int")
    refused(lambda: text.Tokenizer().texts_to_sequences([None]), TypeError, "Tokenizer", "NoneType")


def test_pad_sequences_arguments():
    refused(lambda: text.pad_sequences([[1, 2]], maxlen=1.5), ValueError, "pad_sequences", "maxlen")
    refused(lambda: text.pad_sequences([[1, 2]], maxlen="3"), ValueError, "pad_sequences", "maxlen")
    refused(lambda: text.pad_sequences([[1, 2]], dtype="foo"), TypeError, "pad_sequences", "foo")
    # NaN in an int32 row was -2147483648 padding
    refused(lambda: text.pad_sequences([[1]], maxlen=3, value=float("nan")), ValueError, "pad_sequences", "int32")
    refused(lambda: text.pad_sequences([[1]], maxlen=3, value=0.5), ValueError, "pad_sequences", "0.5")
    assert text.pad_sequences([[1]], maxlen=2, dtype="float32", value=0.5).tolist() == [[0.5, 1.0]]
    assert text.pad_sequences([[1]], maxlen=np.int64(2)).tolist() == [[0, 1]]


def test_char_tokenizer_decode_refuses_fractional_ids():
    """An id of 1.7 decoded as id 1."""
    tok = text.CharTokenizer(["ab"])
    refused(lambda: tok.decode([1.7]), TypeError, "CharTokenizer.decode")
    assert tok.decode(np.array([1, 2])) == "ab"


# ------------------------------------------------------------------ command line
@pytest.mark.parametrize("flag, value", [("--lr", "nan"), ("--lr", "inf"), ("--momentum", "nan"),
                                         ("--weight-decay", "inf")])
def test_cli_refuses_non_finite_float_flags(flag, value, capsys, tmp_path):
    """'nan' passed every `--lr > 0` check and trained to a NaN model; 'inf' likewise. Refused before training."""
    with pytest.raises(SystemExit) as info:
        main(["train", "cnn-mnist", flag, value, "--out", str(tmp_path / "run"), "--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: must be a finite number" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "run" / "checkpoint.npz")


def test_cnn_train_size_must_be_positive():
    """--train-size -1 sliced [:-1], training on all images but one without a word."""
    from tinygrad_lm.recipes.cnn import load_data

    refused(lambda: load_data("cnn-mnist", "digits", n_train=-1), ValueError, "--train-size")
    refused(lambda: load_data("cnn-cifar", "shapes", n_train=0), ValueError, "--train-size")
    assert load_data("cnn-cifar", "shapes", n_train=8)[0].x_train.shape[0] == 8


@pytest.mark.parametrize("flag, value", [("--vocab-size", "1"), ("--train-windows", "-1"), ("--clip", "-1")])
def test_lstm_lm_flags_checked_before_training(flag, value, capsys, tmp_path):
    """--max-steps -1 trained a whole epoch; --clip -1 and --vocab-size 1 trained a model that cannot learn."""
    with pytest.raises(SystemExit) as info:
        main(["train", "lstm-lm", flag, value, "--out", str(tmp_path / "run")])
    assert info.value.code == 2
    assert flag in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run" / "checkpoint.npz")


@pytest.mark.parametrize("model, flag", [("transformer", "--batch-size"), ("transformer", "--beam-size"),
                                         ("gpt", "--batch-size"), ("gpt", "--steps"),
                                         ("seq2seq-attention", "--batch-size")])
def test_counting_flags_refuse_zero(model, flag, capsys, tmp_path):
    """--batch-size 0 made the transformer and the GPT loop without end; counts are refused by argparse."""
    with pytest.raises(SystemExit) as info:
        main(["train", model, flag, "0", "--out", str(tmp_path / "run")])
    assert info.value.code == 2
    assert f"argument {flag}: must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run")


def test_gather_of_a_0d_tensor_matches_torch():
    """A 0-d input with a 1-d index raised a bare ZeroDivisionError; torch gathers it as a one-element vector."""
    import torch

    x = tg.tensor(5.0, requires_grad=True)
    y = x.gather(0, tg.tensor([0, 0]))
    y.sum().backward()
    xt = torch.tensor(5.0, requires_grad=True)
    yt = xt.gather(0, torch.tensor([0, 0]))
    yt.sum().backward()
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    assert x.grad.shape == () and float(x.grad.numpy()) == float(xt.grad)
    refused(lambda: tg.tensor(5.0).gather(0, tg.tensor([1])), IndexError, "gather")
