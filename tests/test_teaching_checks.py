"""Checks behind the teaching notebooks that used to be checked on shapes only.

D2.M4: the text-generation pipeline (tokenize -> embed -> encode -> decode step by step) writes the very tokens
the models' own decoders write: ``models.transformer.pipeline`` against ``greedy_decode`` and a teacher-forced
forward, and a GPT's stages written out by hand (as in notebook 09) against ``GPT.generate``.
D4.T4: the backend switch, on the CPU: TINYGRAD_LM_PLAIN's flag routes every op to the plain NumPy twins, and a
GPT training step gives the same loss and gradients on the twins as on the Numba kernels; asking for 'cuda'
without a GPU fails by name. (The kernels themselves are held to their twins in the tests listed under D4.T4
in docs/formulas.md.)
"""
import numpy as np
import pytest

import tinygrad_lm as tg
from tinygrad_lm import backend
from tinygrad_lm.data import synthetic
from tinygrad_lm.data.bpe import ByteLevelBPETokenizer
from tinygrad_lm.models.gpt import GPT, GPTConfig
from tinygrad_lm.models.transformer import Seq2SeqTransformer, greedy_decode, pipeline
from tinygrad_lm.nn import functional as F

TEXT = ("The assert statement raises AssertionError when its expression is false. The return statement leaves "
        "the current function call with the expression list as return value. ") * 20


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seq2seq_pipeline_writes_the_tokens_of_greedy_decode(seed):
    tg.manual_seed(seed)
    model = Seq2SeqTransformer(synthetic.vocab_size(), 16, 2, 1, 1, 32, dropout=0.0).eval()
    text = "3141592"[: 4 + seed]
    out = pipeline(model, text, max_len=len(text) + 1)
    ids = np.array([[synthetic.OFFSET + int(c) for c in text]])
    assert out["tokens"].tolist() == ids.tolist()
    tokens = [t for t, _ in out["steps"]]
    assert len(tokens) == len(text) + 1 or tokens[-1] == synthetic.EOS
    np.testing.assert_array_equal(greedy_decode(model, ids, len(tokens))[0, 1:], tokens)
    with tg.no_grad():  # the embedded input and memory are the model's own
        np.testing.assert_allclose(out["embedded"], model.embed(ids, model.src_embed).numpy(), rtol=1e-6)
        np.testing.assert_allclose(out["memory"], model.encode(ids).numpy(), rtol=1e-5, atol=1e-6)
        # teacher-forced over the written tokens: each step's token is the arg-max, with the probability reported
        probs = F.softmax(model(ids, np.array([[synthetic.BOS] + tokens[:-1]])), dim=-1).numpy()[0]
    np.testing.assert_array_equal(probs.argmax(-1), tokens)
    np.testing.assert_allclose(probs.max(-1), [p for _, p in out["steps"]], rtol=1e-5)
    digits = "".join(str(t - synthetic.OFFSET) for t in tokens if t >= synthetic.OFFSET)
    assert out["output"] == digits


def test_gpt_pipeline_by_hand_writes_the_tokens_of_generate():
    tok = ByteLevelBPETokenizer.train(TEXT, vocab_size=300)
    tg.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32)).eval()
    E, P = model.wte.weight.numpy(), model.wpe.weight.numpy()
    ids = tok.encode("The return")                                  # tokenize
    assert tok.decode(ids) == "The return"
    prompt = list(ids)
    for _ in range(12):
        h = tg.Tensor((E[ids] + P[np.arange(len(ids))])[None])      # embed
        with tg.no_grad():
            for block in model.h:                                   # encode
                h, _ = block(h)
            logits = (model.ln_f(h).numpy() @ E.T)[0, -1]           # decode: tied head, greedy
        ids.append(int(logits.argmax()))
    for use_cache in (True, False):
        generated = model.generate(np.array([prompt]), max_length=len(ids), use_cache=use_cache).numpy()[0]
        assert generated.tolist() == ids


def test_plain_switch_routes_ops_to_the_twins_and_a_training_step_agrees(monkeypatch):
    cfg = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32)
    x = np.random.default_rng(0).integers(0, 50, (4, 16))
    results = {}
    for plain in (False, True):
        monkeypatch.setattr(backend, "PLAIN", plain)
        for name in ("gelu_forward", "layer_norm_forward", "attention_forward", "cross_entropy_forward"):
            assert (backend.kernel(name) is backend.kernel(name, impl="plain")) == plain, name
        tg.manual_seed(0)
        model = GPT(cfg)
        logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 50), x[:, 1:].reshape(-1))
        loss.backward()
        results[plain] = loss.item(), {k: p.grad.numpy() for k, p in model.named_parameters()}
    assert results[True][0] == pytest.approx(results[False][0], rel=1e-5)
    for k, g in results[False][1].items():
        np.testing.assert_allclose(results[True][1][k], g, rtol=1e-3, atol=1e-6, err_msg=k)


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is present: tests/test_gpu_core.py runs on it")
def test_cuda_without_a_gpu_is_refused_by_name():
    with pytest.raises(RuntimeError, match="device 'cuda'.*not available"):
        tg.tensor([1.0, 2.0]).to("cuda")
