"""Generation: the CLI samples by default (temperature and top-k), greedy on request; a seed gives one
text; top-k never leaves the k most likely tokens; temperature -> 0 is greedy; the models of generated
tasks print tokens, never raw ids."""
import argparse
import re

import numpy as np
import pytest

import tinygrad_lm as tg
from tinygrad_lm.data import synthetic
from tinygrad_lm.data.text import Vocabulary
from tinygrad_lm.models import lstm_lm
from tinygrad_lm.models.gpt import GPT, GPTConfig, repetition_filter, sample_next_token

V = 40


@pytest.fixture(scope="module")
def gpt():
    tg.manual_seed(0)
    return GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()


@pytest.fixture(scope="module")
def lstm():
    tg.manual_seed(0)
    vocab = Vocabulary([f"w{i}" for i in range(V - 1)])
    return lstm_lm.LSTMLanguageModel(len(vocab), 8, 16, 1, dropout=0.0).eval(), vocab


def _teacher_forced_logits(model, ids):
    """Logits of every position of ``ids`` (1, T): what the model saw before choosing each next token."""
    with tg.no_grad():
        out = model(np.asarray(ids)[None] if np.ndim(ids) == 1 else ids)
    return (out[0] if isinstance(out, tuple) else out).numpy()[0].astype(np.float64)


def _assert_within_top_k(logits, chosen, k):
    """Each chosen token's logit is at least the k-th largest of its row (float32 rounding allowed)."""
    kth = np.sort(logits, axis=-1)[:, -k]
    assert np.all(logits[np.arange(len(chosen)), chosen] >= kth - 1e-5 * (1 + np.abs(kth)))


# ---------------------------------------------------------------- the sampler on logits
@pytest.mark.parametrize("k", [1, 3, 7])
def test_top_k_draws_only_the_k_largest_logits(k):
    logits = np.random.default_rng(k).normal(size=(500, V)) * 3
    tg.manual_seed(1)
    draws = sample_next_token(logits, temperature=1.5, top_k=k)
    allowed = np.argsort(logits, axis=-1)[:, -k:]
    assert all(d in row for d, row in zip(draws, allowed, strict=True))
    assert len(set(draws.tolist())) > 1  # and it does sample


def test_a_seed_gives_the_same_draws_and_another_seed_other_draws():
    logits = np.random.default_rng(0).normal(size=(200, V))
    runs = []
    for seed in (3, 3, 4):
        tg.manual_seed(seed)
        runs.append(sample_next_token(logits, temperature=0.8, top_k=40))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_temperature_towards_zero_is_greedy():
    logits = np.random.default_rng(2).normal(size=(300, V))
    tg.manual_seed(0)
    np.testing.assert_array_equal(sample_next_token(logits, temperature=1e-6), logits.argmax(-1))


def test_repetition_penalty_lowers_exactly_the_tokens_already_seen():
    logits = np.array([[2.0, -1.0, 0.5, 3.0]])
    out = repetition_filter(logits, np.array([[0, 1, 1]]), 2.0)
    np.testing.assert_array_equal(out, [[1.0, -2.0, 0.5, 3.0]])  # positive halved, negative doubled
    np.testing.assert_array_equal(logits, [[2.0, -1.0, 0.5, 3.0]])  # the input untouched


# ---------------------------------------------------------------- the models
def test_gpt_sampling_is_reproducible_and_stays_within_top_k(gpt):
    prompt = np.array([[1, 2, 3]])
    runs = []
    for seed in (5, 5, 6):
        tg.manual_seed(seed)
        runs.append(gpt.generate(prompt, max_new_tokens=12, do_sample=True, temperature=0.8, top_k=4).numpy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    ids = runs[0][0]
    assert len(ids) == 15
    _assert_within_top_k(_teacher_forced_logits(gpt, ids)[2:-1], ids[3:], 4)


def test_gpt_temperature_towards_zero_is_greedy(gpt):
    prompt = np.array([[4, 5]])
    greedy = gpt.generate(prompt, max_new_tokens=10).numpy()
    tg.manual_seed(0)
    np.testing.assert_array_equal(greedy, gpt.generate(prompt, max_new_tokens=10, do_sample=True,
                                                       temperature=1e-6).numpy())


def test_lstm_sampling_is_reproducible_stays_within_top_k_and_zero_temperature_is_greedy(lstm):
    model, vocab = lstm
    prompt = "w1 w2"
    texts = [lstm_lm.sample(model, vocab, prompt, 15, temperature=0.8, top_k=3, seed=s) for s in (7, 7, 8)]
    assert texts[0] == texts[1] and texts[0] != texts[2]
    ids = vocab.encode(texts[0].split())
    _assert_within_top_k(_teacher_forced_logits(model, ids)[1:-1], ids[2:], 3)
    greedy = lstm_lm.sample(model, vocab, prompt, 15, temperature=0, seed=1)
    assert greedy == lstm_lm.sample(model, vocab, prompt, 15, temperature=0, seed=2)
    assert greedy == lstm_lm.sample(model, vocab, prompt, 15, temperature=1e-9, seed=3)
    ids = vocab.encode(greedy.split())
    np.testing.assert_array_equal(_teacher_forced_logits(model, ids)[1:-1].argmax(-1), ids[2:])
    with pytest.raises(ValueError, match="temperature"):
        lstm_lm.sample(model, vocab, prompt, 3, temperature=-1)


# ---------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def gpt_run():
    """An untrained GPT and a small BPE tokenizer, as ``recipes.gpt.load_trained`` returns a run's."""
    from tinygrad_lm.data.bpe import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer.train("the for statement runs the loop " * 20, vocab_size=270)
    tg.manual_seed(0)
    return GPT(GPTConfig(vocab_size=len(tok), block_size=32, n_layer=1, n_head=2, n_embd=16)).eval(), tok


def _generate_gpt(monkeypatch, gpt_run, capsys, *flags):
    from tinygrad_lm.cli import main
    from tinygrad_lm.recipes import gpt as recipe

    monkeypatch.setattr(recipe, "load_trained", lambda folder: gpt_run)
    main(["generate", "gpt", "--prompt", "the for", "--max-new-tokens", "12", *flags])
    return capsys.readouterr().out


def test_cli_generate_gpt_samples_by_default_and_is_greedy_on_request(monkeypatch, gpt_run, capsys):
    sampled = [_generate_gpt(monkeypatch, gpt_run, capsys, "--seed", s) for s in ("0", "0", "1")]
    assert sampled[0] == sampled[1] != sampled[2]
    greedy = _generate_gpt(monkeypatch, gpt_run, capsys, "--greedy", "--repetition-penalty", "1")
    assert greedy == _generate_gpt(monkeypatch, gpt_run, capsys, "--temperature", "0", "--repetition-penalty", "1",
                                   "--seed", "3")
    model, tok = gpt_run
    ids = np.array([tok.encode("the for")])
    assert greedy[:-1] == tok.decode(model.generate(ids, max_new_tokens=12).numpy()[0],
                                              skip_special_tokens=True)
    defaults = {a.dest: a.default for a in _gpt_generate_parser()._actions}
    assert defaults["temperature"] > 0 and defaults["top_k"] > 0 and defaults["greedy"] is False


def _gpt_generate_parser():
    from tinygrad_lm.recipes import gpt as recipe

    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser, "generate", "gpt")
    return parser


def test_transformer_prints_tokens_not_raw_ids(tmp_path, capsys):
    from tinygrad_lm.cli import main

    main(["train", "transformer", "--steps", "2", "--samples", "64", "--length", "3", "--d-model", "8",
          "--out", str(tmp_path / "x"), "--no-progress"])
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("beam search on"))
    assert re.fullmatch(r"beam search on [0-9]{3}: <bos>[0-9a-z+<>]*", line.replace("<eos>", "")), line
    assert not re.search(r"-\d|\[", line)


def test_seq2seq_attention_prints_an_example_in_words(tmp_path, capsys):
    from tinygrad_lm.cli import main

    main(["train", "seq2seq-attention", "--steps", "2", "--eval-every", "2", "--out", str(tmp_path / "s"),
          "--no-progress"])
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("example: "))
    words = r"(?:[st]\d+|<[a-z]+>)"
    assert re.fullmatch(rf"example: s\d+(?: s\d+)* ->(?: {words})*  \(reference: t\d+(?: t\d+)*\)", line), line


def test_synthetic_decode_names_every_token():
    src, tgt = synthetic.generate_task("addition", 2, 3, seed=0)
    assert re.fullmatch(r"[0-9]{3}\+[0-9]{3}", synthetic.decode(src[0]))
    assert re.fullmatch(r"<bos>[0-9]{4}<eos>", synthetic.decode(tgt[0]))
    assert synthetic.decode([0, 1, 2, 3, 12, 13, 99]) == "<pad><bos><eos>09+<id 99>"
    assert synthetic.decode([3 + 10, 3 + 35], num_symbols=36) == "az"
