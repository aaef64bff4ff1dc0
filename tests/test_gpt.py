"""D4.M2 GPT: the KV cache changes nothing but speed, sampling options behave, it trains in lockstep
with a PyTorch twin (float64, 1e-8) and, on CPython's documentation, reaches the twin's validation
loss (float32, within 2%); the CLI trains, saves and generates."""
import math

import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm.models.gpt import GPT, GPTConfig, LayerCache, sample_next_token, top_k_filter, top_p_filter
from tinygrad_lm.recipes.gpt import evaluate, get_batch, make_optimizer, prepare_tokens, train_step

SMALL = dict(vocab_size=40, block_size=12, n_layer=2, n_head=2, n_embd=16)


def small_gpt(dtype=np.float64, **kw):
    model = GPT(GPTConfig(**{**SMALL, **kw}))
    return model.to(dtype=dtype)


# ---------------------------------------------------------------- the PyTorch twin, from primitives
def torch_gpt_logits(params, ids, cfg):
    """The same network written with torch tensor primitives, reading a dict of torch parameters."""
    tF = torch.nn.functional
    B, T = ids.shape
    C, H = cfg.n_embd, cfg.n_head
    ids = torch.as_tensor(ids)
    x = params["wte.weight"][ids] + params["wpe.weight"][:T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(cfg.n_layer):
        p = {k[len(f"h.{i}."):]: v for k, v in params.items() if k.startswith(f"h.{i}.")}
        h = tF.layer_norm(x, (C,), p["ln_1.weight"], p["ln_1.bias"])
        q, k, v = (h @ p["attn.c_attn.weight"].T + p["attn.c_attn.bias"]).split(C, dim=2)
        q, k, v = (t.reshape(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        att = torch.softmax(att.masked_fill(~causal, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ p["attn.c_proj.weight"].T + p["attn.c_proj.bias"]
        h = tF.layer_norm(x, (C,), p["ln_2.weight"], p["ln_2.bias"])
        h = tF.gelu(h @ p["mlp.c_fc.weight"].T + p["mlp.c_fc.bias"])
        x = x + h @ p["mlp.c_proj.weight"].T + p["mlp.c_proj.bias"]
    x = tF.layer_norm(x, (C,), params["ln_f.weight"], params["ln_f.bias"])
    return x @ params.get("lm_head.weight", params["wte.weight"]).T


class TorchTwin:
    """Parameters copied from ``model``, the same AdamW groups, clipping and loss as train_step."""

    def __init__(self, model, lr):
        self.cfg = model.config
        self.params = {k: torch.tensor(p.numpy(), requires_grad=True) for k, p in model.named_parameters()}
        decay = [p for p in self.params.values() if p.ndim >= 2]
        no_decay = [p for p in self.params.values() if p.ndim < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                     lr=lr, betas=(0.9, 0.95))

    def loss(self, x, y):
        logits = torch_gpt_logits(self.params, x, self.cfg)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.as_tensor(y).reshape(-1))

    def step(self, x, y):
        loss = self.loss(x, y)
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(self.params.values()), 1.0)
        self.opt.step()
        return loss.item()

    @torch.no_grad()
    def evaluate(self, tokens, block_size, batch_size=16, max_windows=64):
        n = min(max_windows, (len(tokens) - 1) // block_size)
        total = 0.0
        for lo in range(0, n, batch_size):
            idx = np.arange(lo, min(n, lo + batch_size))[:, None] * block_size + np.arange(block_size + 1)
            chunk = tokens[idx]
            total += self.loss(chunk[:, :-1], chunk[:, 1:]).item() * len(idx)
        return total / n


@pytest.mark.parametrize("tied", [True, False])
def test_lockstep_with_torch_twin_float64(tied):
    model = small_gpt(tie_word_embeddings=tied)
    assert (model.lm_head.weight is model.wte.weight) == tied
    optimizer, twin = make_optimizer(model, 3e-3), TorchTwin(model, lr=3e-3)
    tokens = np.random.default_rng(1).integers(0, SMALL["vocab_size"], 500)
    rng = np.random.default_rng(2)
    for step in range(20):
        x, y = get_batch(tokens, 3, SMALL["block_size"], rng)
        ours, theirs = train_step(model, optimizer, x, y), twin.step(x, y)
        assert abs(ours - theirs) < 1e-8, f"step {step}: loss {ours} vs PyTorch {theirs}"
    for k, p in model.named_parameters():
        np.testing.assert_allclose(p.numpy(), twin.params[k].detach().numpy(), rtol=1e-7, atol=1e-9, err_msg=k)


# ---------------------------------------------------------------- the KV cache
def test_cached_forward_equals_full_forward():
    model = small_gpt().eval()
    ids = np.random.default_rng(0).integers(0, SMALL["vocab_size"], (2, 11))
    full = model(ids).numpy()
    first, cache = model(ids[:, :4], use_cache=True)
    second, cache = model(ids[:, 4:9], past_key_values=cache, use_cache=True)  # several new tokens: masked
    third, cache = model(ids[:, 9:10], past_key_values=cache, use_cache=True)  # one new token
    fourth = model(ids[:, 10:], past_key_values=cache)
    pieces = np.concatenate([t.numpy() for t in (first, second, third, fourth)], axis=1)
    np.testing.assert_allclose(pieces, full, rtol=1e-10, atol=1e-12)
    assert cache[0][0].shape == (2, SMALL["n_head"], 10, SMALL["n_embd"] // SMALL["n_head"])


def test_cache_without_grad_is_written_in_place_and_branches_safely():
    model = small_gpt().eval()
    ids = np.random.default_rng(0).integers(0, SMALL["vocab_size"], (2, 9))
    other = ids[:, 5:8][:, ::-1]  # a second continuation of the same cache
    with tg.no_grad():
        full, full_other = model(ids).numpy(), model(np.concatenate([ids[:, :5], other], 1)).numpy()
        _, cache = model(ids[:, :4], use_cache=True)
        a, cache_a = model(ids[:, 4:5], past_key_values=cache, use_cache=True)  # copied into buffers with room
        b, cache_b = model(ids[:, 5:8], past_key_values=cache_a, use_cache=True)  # written into that room
        c, _ = model(other, past_key_values=cache_a, use_cache=True)  # the room is taken: buffers of its own
        d = model(ids[:, 8:], past_key_values=cache_b)  # after c: b's cache must be intact
    assert isinstance(cache_b[0], LayerCache) and cache_b[0][0].data.base is cache_a[0][0].data.base
    assert cache_b[0][0].shape == (2, SMALL["n_head"], 8, SMALL["n_embd"] // SMALL["n_head"])
    np.testing.assert_allclose(np.concatenate([t.numpy() for t in (a, b, d)], 1), full[:, 4:], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.numpy(), full_other[:, 5:], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sampling", [dict(), dict(do_sample=True, num_return_sequences=2),
                                      dict(do_sample=True, temperature=0.7, top_k=5, top_p=0.9)])
def test_generate_with_cache_equals_without(sampling):
    model = small_gpt()
    prompt = np.random.default_rng(0).integers(0, SMALL["vocab_size"], (2, 3))
    runs = []
    for use_cache in (True, False):
        tg.manual_seed(7)
        # 30 > block_size 12: past the context the window slides, and the cache is rebuilt
        runs.append(model.generate(prompt, max_length=30, use_cache=use_cache, **sampling).numpy())
    assert runs[0].shape == (2 * sampling.get("num_return_sequences", 1), 30)
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0][:, :3], np.repeat(prompt, sampling.get("num_return_sequences", 1), 0))


def test_model_left_in_training_mode_after_generate():
    model = small_gpt(dropout=0.1)
    model.generate([1, 2], max_length=5)
    assert model.training


# ---------------------------------------------------------------- sampling options
def test_top_k_1_equals_greedy_and_tiny_top_p_too():
    model = small_gpt()
    prompt = np.array([[1, 2, 3]])
    greedy = model.generate(prompt, max_length=20).numpy()
    assert not np.array_equal(greedy, model.generate(prompt, max_length=20, do_sample=True).numpy())
    np.testing.assert_array_equal(greedy, model.generate(prompt, max_length=20, do_sample=True, top_k=1).numpy())
    np.testing.assert_array_equal(greedy, model.generate(prompt, max_length=20, do_sample=True, top_p=1e-9).numpy())


def test_eos_stops_and_pads():
    model = small_gpt()
    prompts = np.array([[1, 2, 3], [4, 5, 6]])
    free = model.generate(prompts, max_length=20).numpy()
    eos = int(free[0, 5])  # the third token row 0 generates
    stopped = model.generate(prompts, max_length=20, eos_token_id=eos).numpy()
    first = np.flatnonzero(free[0, 3:] == eos)[0] + 3
    np.testing.assert_array_equal(stopped[0, :first + 1], free[0, :first + 1])
    assert (stopped[0, first:] == eos).all()  # finished rows are padded with eos
    row1_eos = np.flatnonzero(free[1, 3:] == eos)
    if len(row1_eos) == 0:  # the other row runs to max_length unchanged
        np.testing.assert_array_equal(stopped[1], free[1])
    else:  # every row finished: generation stopped early
        assert stopped.shape[1] == max(first, row1_eos[0] + 3) + 1


def test_filters():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05], [0.05, 0.15, 0.3, 0.5]]))
    k2 = top_k_filter(logits, 2)
    assert np.isinf(k2).sum(axis=1).tolist() == [2, 2] and np.isfinite(k2[0, :2]).all()
    for p, kept in ((0.45, 1), (0.6, 2), (0.79, 2), (0.81, 3), (1.0, 4)):
        out = top_p_filter(logits, p)
        assert np.isfinite(out).sum(axis=1).tolist() == [kept, kept], p
        np.testing.assert_array_equal(np.isfinite(out[0]), np.isfinite(out[1])[::-1])


def test_sampling_follows_the_tempered_distribution():
    logits = np.array([[2.0, 1.0, 0.0, -1.0]])
    draws = np.array([sample_next_token(logits, temperature=2.0)[0] for _ in range(8000)])
    expected = np.exp(logits[0] / 2) / np.exp(logits[0] / 2).sum()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), expected, atol=0.015)
    draws = np.array([sample_next_token(logits, top_k=2)[0] for _ in range(2000)])
    assert set(draws.tolist()) == {0, 1}


@pytest.mark.parametrize("bad, match", [(dict(temperature=0.0), "temperature"), (dict(top_k=0), "top_k"),
                                        (dict(top_p=1.5), "top_p"), (dict(num_return_sequences=2), "identical")])
def test_bad_generation_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        small_gpt().generate([1, 2], **bad)


def test_bad_configuration():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="exceed block_size"):
        small_gpt()(np.zeros((1, 13), np.int64))


# ---------------------------------------------------------------- the real task
@pytest.mark.slow
def test_documentation_validation_loss_matches_torch_twin():
    """120 steps on CPython's documentation (BPE vocabulary 384, context 32, 2 layers of width 48),
    float32, the same init and batches: validation loss within 2% of PyTorch's, and well below the
    loss of the best context-free guess (the training set's token frequencies, 4.83 nats).

    Init and batch seeds 0-4: within 3.3e-5 of PyTorch, whose float32 arithmetic is another library's (MKL
    against OpenBLAS and Numba); float32 rounding differences can grow over 120 Adam steps, so the bound is kept
    far above that. Validation loss 4.12-4.32 (seed 0, the test's: 4.12), threshold 4.83 - 0.3. The seed is fixed,
    so only the machine varies here, and that moves the loss by about what the twin does."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the twin's threads would fight Numba's and OpenBLAS's on a 2-core machine
    try:
        _documentation_run()
    finally:
        torch.set_num_threads(threads)


def _documentation_run():
    tok, train_ids, val_ids = prepare_tokens(384)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=48))
    optimizer, twin = make_optimizer(model, 3e-3), TorchTwin(model, lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(120):
        x, y = get_batch(train_ids, 16, 32, rng)
        train_step(model, optimizer, x, y)
        twin.step(x, y)
    ours, theirs = evaluate(model, val_ids, 32), twin.evaluate(val_ids, 32)
    assert abs(ours / theirs - 1) < 0.02, (ours, theirs)
    counts = np.bincount(train_ids, minlength=tok.vocab_size) + 1
    unigram = -np.log(counts[val_ids] / counts.sum()).mean()
    assert ours < unigram - 0.3, (ours, unigram)


def test_cli_train_then_generate(tmp_path, capsys):
    from tinygrad_lm.cli import main

    out = str(tmp_path / "gpt")
    main(["train", "gpt", "--out", out, "--steps", "4", "--eval-every", "2", "--vocab-size", "300",
          "--block-size", "16", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--batch-size", "4"])
    for name in ("checkpoint.npz", "tokenizer.json", "curves.png", "result.json"):
        assert (tmp_path / "gpt" / name).exists(), name
    main(["train", "gpt", "--out", out, "--steps", "6", "--eval-every", "2", "--vocab-size", "300",
          "--block-size", "16", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--batch-size", "4", "--resume"])
    assert "resumed from" in capsys.readouterr().out
    main(["generate", "gpt", "--out", out, "--prompt", "The object", "--max-new-tokens", "10"])
    text = capsys.readouterr().out
    assert text.startswith("The object") and len(text) > len("The object")
    main(["generate", "gpt", "--out", out, "--prompt", "def", "--max-new-tokens", "6",
          "--top-k", "5", "--num-return-sequences", "2"])
    text = capsys.readouterr().out
    assert text.startswith("--- 1\ndef") and "\n--- 2\ndef" in text
