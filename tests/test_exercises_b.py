"""Exercises of chapters 06-10: every reference solution passes, every stub is "not attempted", and for every
exercise at least one wrong answer (the source's own formula where it has one, else a classic mistake) fails;
the source's versions of erratum hunts are named by their erratum."""
import math

import numpy as np
import pytest

from tinygrad_lm.exercises import core

CHAPTERS = ("ch06_seq2seq_attention", "ch07_attention_transformer", "ch08_gpt", "ch09_compress", "ch10_techniques")


@pytest.fixture(scope="module")
def exercises():
    return {i: ex for i, ex in core.discover().items() if ex.file in CHAPTERS}


def _render(directory, solution):
    directory.mkdir()
    texts = core.templates()
    for name in CHAPTERS:
        (directory / f"{name}.py").write_text(core.render(texts[name], solution, name), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def solutions(tmp_path_factory):
    return _render(tmp_path_factory.mktemp("b") / "solutions", solution=True)


def test_every_chapter_has_three_to_five_exercises_over_22_ids(exercises):
    per_chapter = {name: sum(ex.file == name for ex in exercises.values()) for name in CHAPTERS}
    assert all(3 <= n <= 5 for n in per_chapter.values()), per_chapter
    assert len({i for ex in exercises.values() for i in ex.ids}) >= 22


def test_reference_solutions_pass(exercises, solutions):
    results = core.check_ids(list(exercises), solutions)
    assert [r.line() for r in results if not r.passed] == []


def test_stubs_are_not_attempted(exercises, tmp_path):
    results = core.check_ids(list(exercises), _render(tmp_path / "stubs", solution=False))
    assert all(not r.passed and r.reason.startswith("not attempted") for r in results), \
        [r.line() for r in results]


# ---- wrong answers ------------------------------------------------------------------------------------------------

def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _t(a):
    return np.swapaxes(a, -1, -2)


def sdpa_source(q, k, v, mask=None):  # D2.F3 as the source writes it
    return np.exp(_softmax(q @ _t(k))) / np.sqrt(q.shape[-1]) @ v


def sdpa_no_scale(q, k, v, mask=None):
    s = q @ _t(k)
    return _softmax(np.where(mask, s, -np.inf) if mask is not None else s) @ v


def sdpa_wrong_axis(q, k, v, mask=None):
    s = q @ _t(k) / np.sqrt(q.shape[-1])
    return _softmax(np.where(mask, s, -np.inf) if mask is not None else s, axis=-2) @ v


def self_attention_v_from_k(X, W_Q, W_K, W_V, mask=None):
    s = (X @ W_Q) @ _t(X @ W_K) / np.sqrt(W_Q.shape[-1])
    return _softmax(np.where(mask, s, -np.inf) if mask is not None else s) @ (X @ W_K)[..., :W_V.shape[-1]]


def sdpa_backward_without_rowsum(q, k, v, g, mask=None):
    scale = 1 / np.sqrt(q.shape[-1])
    s = q @ _t(k) * scale
    a = _softmax(np.where(mask, s, -np.inf) if mask is not None else s)
    ds = a * (g @ _t(v))
    return ds @ k * scale, _t(ds) @ q * scale, _t(a) @ g


def sdpa_backward_unscaled_dk(q, k, v, g, mask=None):
    scale = 1 / np.sqrt(q.shape[-1])
    s = q @ _t(k) * scale
    a = _softmax(np.where(mask, s, -np.inf) if mask is not None else s)
    da = g @ _t(v)
    ds = a * (da - (da * a).sum(-1, keepdims=True))
    return ds @ k * scale, _t(ds) @ q, _t(a) @ g


def masked_softmax_neg_inf(scores, mask):
    with np.errstate(invalid="ignore"):
        return _softmax(np.where(mask, scores, -np.inf))


def masked_softmax_large_negative(scores, mask):
    return _softmax(np.where(mask, scores, -1e9))


def split_heads_plain_reshape(x, h):
    B, T, E = x.shape
    return x.reshape(B, h, T, E // h)


def merge_heads_plain_reshape(x):
    B, H, T, D = x.shape
    return x.reshape(B, T, H * D)


def ffn_source(x, W1, b1, W2, b2):  # D2.F6: a ReLU around the output
    return np.maximum(np.maximum(x @ W1 + b1, 0) @ W2, 0) + b2


def decoder_source(x, memory, sa, ca, ffn, n1, n2, n3):  # D2.M2 as the source writes it
    h = n1(x + ca(x, memory))
    a = sa(h)
    h = n2(a + a)
    return n3(ffn(h) + h)


def decoder_swapped(x, memory, sa, ca, ffn, n1, n2, n3):
    h = n1(x + ca(x, memory))
    h = n2(h + sa(h))
    return n3(h + ffn(h))


def bpe_unweighted(word_freqs, new_id):
    counts = {}
    for w in word_freqs:
        for p in zip(w, w[1:], strict=False):
            counts[p] = counts.get(p, 0) + 1
    if not counts:
        return None, word_freqs
    pair = min(counts, key=lambda p: (-counts[p], p))
    return pair, {_merge(w, pair, new_id): f for w, f in word_freqs.items()}


def bpe_largest_tie(word_freqs, new_id):
    counts = {}
    for w, f in word_freqs.items():
        for p in zip(w, w[1:], strict=False):
            counts[p] = counts.get(p, 0) + f
    if not counts:
        return None, word_freqs
    pair = max(counts, key=lambda p: (counts[p], p))
    return pair, {_merge(w, pair, new_id): f for w, f in word_freqs.items()}


def _merge(w, pair, new_id):
    out, i = [], 0
    while i < len(w):
        if i + 1 < len(w) and (w[i], w[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(w[i])
            i += 1
    return tuple(out)


def top_k_exactly_k(logits, k):
    keep = np.argsort(-logits, axis=-1, kind="stable")[:, :k]
    out = np.full(logits.shape, -np.inf)
    np.put_along_axis(out, keep, np.take_along_axis(logits, keep, -1), -1)
    return out


def top_p_drops_crossing_token(logits, p):
    probs = _softmax(logits)
    order = np.argsort(-probs, axis=-1)
    drop_sorted = np.cumsum(np.take_along_axis(probs, order, -1), -1) > p
    drop_sorted[:, 0] = False
    drop = np.zeros(logits.shape, bool)
    np.put_along_axis(drop, order, drop_sorted, -1)
    return np.where(drop, -np.inf, logits)


def cache_top_left_mask(q, k, v, pk, pv):
    keys, values = np.concatenate([pk, k], 2), np.concatenate([pv, v], 2)
    n, S = q.shape[2], keys.shape[2]
    s = np.where(np.tril(np.ones((n, S), bool)), q @ _t(keys) / np.sqrt(q.shape[-1]), -np.inf)
    return _softmax(s) @ values, keys, values


def cache_forgets_new_key(q, k, v, pk, pv):
    if pk.shape[2] == 0:
        pk, pv = k, v
    return _softmax(q @ _t(pk) / np.sqrt(q.shape[-1])) @ pv, np.concatenate([pk, k], 2), np.concatenate([pv, v], 2)


def layer_norm_unbiased(x, w, b, eps=1e-5):
    n = x.shape[-1]
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).sum(-1, keepdims=True) / max(n - 1, 1) + eps) * w + b


def layer_norm_backward_no_variance_term(x, w, g, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps)
    gw = g * w
    lead = tuple(range(x.ndim - 1))
    return rstd * (gw - gw.mean(-1, keepdims=True)), (g * (x - mu) * rstd).sum(lead), g.sum(lead)


def general_score_transposed(h_t, h_s, W_a):  # h_t^T W_a^T hbar_s
    return h_t @ W_a.T @ np.swapaxes(h_s, 1, 2)


def concat_score_swapped(h_t, h_s, W_a, v_a):
    H = h_t.shape[-1]
    q = (h_t @ W_a[:, H:].T)[:, :, None]
    k = (h_s @ W_a[:, :H].T)[:, None]
    return np.tanh(q + k) @ v_a


def luong_softmax_over_time(scores, h_s, mask):
    w = _softmax(np.where(mask[:, None], scores, -1e30), axis=1)
    return w @ h_s, w


def luong_unmasked(scores, h_s, mask):
    w = _softmax(scores)
    return w @ h_s, w


def hidden_h_first(c, h, W_c):
    return np.tanh(np.concatenate([h, c], -1) @ W_c.T)


def teacher_forcing_no_eos(targets, bos, eos, pad):
    T = max(map(len, targets)) + 1
    tin, tout = np.full((len(targets), T), pad), np.full((len(targets), T), pad)
    for i, y in enumerate(targets):
        tin[i, :len(y) + 1] = [bos, *y]
        tout[i, :len(y)] = y
    return tin, tout


def sequence_loss_counts_pad(logits, tgt, pad):
    z = logits - logits.max(-1, keepdims=True)
    lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    nll = -np.take_along_axis(lp, tgt[..., None], -1)[..., 0]
    return float((nll * (tgt != pad)).sum() / tgt.size)


def prune_by_threshold(w, amount):
    k = int(round(amount * w.size))
    if k == 0:
        return np.ones(w.shape)
    kth = np.sort(np.abs(w).reshape(-1))[k - 1]
    return (np.abs(w) > kth).astype(float)


def prune_floor(w, amount):
    k = int(amount * w.size)
    mask = np.ones(w.size)
    mask[np.argsort(np.abs(w).reshape(-1), kind="stable")[:k]] = 0
    return mask.reshape(w.shape)


def qparams_not_widened(x, qmin=-128, qmax=127):
    lo, hi = float(x.min()), float(x.max())
    scale = max((hi - lo) / (qmax - qmin), 1.1920929e-07)
    return scale, int(np.clip(qmin - np.round(lo / scale), qmin, qmax))


def quantize_truncates(x, scale, zp, qmin=-128, qmax=127):
    return np.clip((x / scale).astype(np.int64) + zp, qmin, qmax)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def distill_no_t2(s, t, y, T, alpha):
    lp, lq = _log_softmax(t / T), _log_softmax(s / T)
    kl = (np.exp(lp) * (lp - lq)).sum(-1).mean()
    return float(alpha * kl + (1 - alpha) * -_log_softmax(s)[np.arange(len(y)), y].mean())


def distill_reversed_kl(s, t, y, T, alpha):
    lp, lq = _log_softmax(t / T), _log_softmax(s / T)
    kl = (np.exp(lq) * (lq - lp)).sum(-1).mean()
    return float(alpha * T * T * kl + (1 - alpha) * -_log_softmax(s)[np.arange(len(y)), y].mean())


def footprint_source(n, amount, bits):  # D4.T3: quantisation "reduces the number of parameters"
    return n * bits / 32, n - round(amount * n), n * bits / 8


def footprint_pruning_removes(n, amount, bits):
    kept = n - round(amount * n)
    return kept, kept, kept * bits / 8


def prf_swapped(y_true, y_pred, C):  # precision and recall exchanged, 0/0 handled
    p, r, _ = _prf(y_pred, y_true, C)
    p, r = np.nan_to_num(p), np.nan_to_num(r)
    return p, r, np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)


def _prf(y_true, y_pred, C):  # NaN on 0/0
    c = np.arange(C)[:, None]
    tp = ((y_true == c) & (y_pred == c)).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p, r = tp / (y_pred == c).sum(1), tp / (y_true == c).sum(1)
        return p, r, 2 * p * r / (p + r)


def allreduce_plain_mean(grads, sizes):
    return sum(grads) / len(grads)


def generator_saturating(fake):
    return float(-np.logaddexp(0, fake).mean())


def discriminator_naive(real, fake):
    with np.errstate(over="ignore", divide="ignore"):
        return float(-np.log(1 / (1 + np.exp(-real))).mean() - np.log(1 - 1 / (1 + np.exp(-fake))).mean())


def lr_warmup_from_zero(step, total, warmup, base, low):
    if step < warmup:
        return base * step / warmup
    t = min(1.0, (step - warmup) / (total - warmup))
    return low + (base - low) * (1 + math.cos(math.pi * t)) / 2


def lr_cosine_from_zero(step, total, warmup, base, low):
    if step < warmup:
        return base * (step + 1) / warmup
    return low + (base - low) * (1 + math.cos(math.pi * min(1.0, step / total))) / 2


# (exercise, entry replaced, wrong function, erratum ID the report must name or None)
WRONG = [
    ("6.1", "general_score", general_score_transposed, None),
    ("6.1", "concat_score", concat_score_swapped, None),
    ("6.2", "luong_attention", luong_softmax_over_time, None),
    ("6.2", "luong_attention", luong_unmasked, None),
    ("6.2", "attentional_hidden", hidden_h_first, None),
    ("6.3", "teacher_forcing", teacher_forcing_no_eos, None),
    ("6.4", "sequence_loss", sequence_loss_counts_pad, None),
    ("7.1", "scaled_dot_product_attention", sdpa_source, "D2.F3"),
    ("7.1", "scaled_dot_product_attention", sdpa_no_scale, None),
    ("7.1", "scaled_dot_product_attention", sdpa_wrong_axis, None),
    ("7.1", "self_attention", self_attention_v_from_k, None),
    ("7.2", "scaled_dot_product_attention_backward", sdpa_backward_without_rowsum, None),
    ("7.2", "scaled_dot_product_attention_backward", sdpa_backward_unscaled_dk, None),
    ("7.3", "causal_mask", lambda n: np.triu(np.ones((n, n), bool)), None),
    ("7.3", "masked_softmax", masked_softmax_neg_inf, None),
    ("7.3", "masked_softmax", masked_softmax_large_negative, None),
    ("7.4", "split_heads", split_heads_plain_reshape, None),
    ("7.4", "merge_heads", merge_heads_plain_reshape, None),
    ("7.5", "feed_forward", ffn_source, "D2.F6"),
    ("7.5", "decoder_layer", decoder_source, "D2.M2"),
    ("7.5", "decoder_layer", decoder_swapped, "D2.M2"),
    ("8.1", "bpe_merge_step", bpe_unweighted, None),
    ("8.1", "bpe_merge_step", bpe_largest_tie, None),
    ("8.2", "top_k_filter", top_k_exactly_k, None),
    ("8.2", "top_p_filter", top_p_drops_crossing_token, None),
    ("8.3", "attend_with_cache", cache_top_left_mask, None),
    ("8.3", "attend_with_cache", cache_forgets_new_key, None),
    ("8.4", "layer_norm", layer_norm_unbiased, None),
    ("8.4", "layer_norm_backward", layer_norm_backward_no_variance_term, None),
    ("9.1", "magnitude_prune_mask", prune_by_threshold, None),
    ("9.1", "magnitude_prune_mask", prune_floor, None),
    ("9.2", "int8_qparams", qparams_not_widened, None),
    ("9.2", "quantize", quantize_truncates, None),
    ("9.3", "distillation_loss", distill_no_t2, None),
    ("9.3", "distillation_loss", distill_reversed_kl, None),
    ("9.4", "compressed_footprint", footprint_source, "D4.T3"),
    ("9.4", "compressed_footprint", footprint_pruning_removes, None),
    ("10.1", "precision_recall_f1", prf_swapped, None),
    ("10.1", "precision_recall_f1", _prf, None),
    ("10.2", "allreduce_gradients", allreduce_plain_mean, None),
    ("10.3", "generator_loss", generator_saturating, None),
    ("10.3", "discriminator_loss", discriminator_naive, None),
    ("10.4", "warmup_cosine_lr", lr_warmup_from_zero, None),
    ("10.4", "warmup_cosine_lr", lr_cosine_from_zero, None),
]


def test_every_exercise_has_a_wrong_variant(exercises):
    assert {w[0] for w in WRONG} == set(exercises)
    assert {w[0] for w in WRONG if w[3]} == {i for i, ex in exercises.items() if ex.kind == "erratum"} | {"7.1"}


@pytest.mark.parametrize("exercise_id, entry, wrong, erratum", WRONG,
                         ids=[f"{w[0]}-{w[2].__name__}" for w in WRONG])
def test_wrong_answer_fails(exercises, solutions, exercise_id, entry, wrong, erratum):
    ex = exercises[exercise_id]
    namespace = core.load_student_file(solutions / f"{ex.file}.py")
    objects = [wrong if name == entry else namespace[name] for name in ex.entry]
    result = core.run_check(ex, objects)
    assert not result.passed
    assert not result.reason.startswith("not attempted")
    if erratum:
        assert f"erratum {erratum}:" in result.reason, result.reason
    else:
        assert "erratum" not in result.reason, result.reason


NOTEBOOK_CHAPTERS = {"01_autograd": (1,), "02_mlp_backprop": (2,), "03_cnn": (3,), "04_rnn_lstm_gru": (4,),
                     "05_text_classification": (5,), "06_lstm_language_model": (5,),
                     "07_seq2seq_attention": (6,), "08_attention_transformer": (7,), "09_gpt": (8,),
                     "10_compress_and_techniques": (9, 10)}


@pytest.mark.parametrize("notebook, chapters", NOTEBOOK_CHAPTERS.items())
def test_each_notebook_ends_with_a_pointer_to_its_exercises(notebook, chapters):
    import json
    from pathlib import Path

    cells = json.loads((Path(__file__).parent.parent / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    last = "".join(cells[-1]["source"])
    assert cells[-1]["cell_type"] == "markdown" and last.startswith("## Exercises")
    ids = [i for i, ex in core.discover().items() if ex.key[0] in chapters]
    assert ids and all(f"**{i}**" in last for i in ids)
    assert "tinygrad-lm exercises start DIR" in last and f"tinygrad-lm exercises check {ids[0]} --dir DIR" in last
    assert f'from tinygrad_lm.exercises import check; check("{ids[0]}"' in last


def test_decoder_layer_reference_is_the_library_layer(solutions):
    """7.5's reference order, run on the sublayers of nn.TransformerDecoderLayer, is that layer."""
    import tinygrad_lm as tg
    from tinygrad_lm import nn

    ns = core.load_student_file(solutions / "ch07_attention_transformer.py")
    layer = nn.TransformerDecoderLayer(6, 2, dim_feedforward=8, dropout=0.0, batch_first=True).double().eval()
    g = np.random.default_rng(0)
    x, memory = g.standard_normal((2, 4, 6)), g.standard_normal((2, 3, 6))
    mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=np.float64)

    def t(a):
        return tg.Tensor(a)

    with tg.no_grad():
        got = ns["decoder_layer"](x, memory, lambda h: layer._sa_block(t(h), mask, None).numpy(),
                                  lambda h, m: layer._mha_block(t(h), t(m), None, None).numpy(),
                                  lambda h: layer._ff_block(t(h)).numpy(),
                                  *(lambda h, n=n: n(t(h)).numpy() for n in (layer.norm1, layer.norm2, layer.norm3)))
        expected = layer(t(x), t(memory), tgt_mask=mask).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_qparams_reference_agrees_with_the_library():
    """9.2's float64 reference gives compress.quantize's (float32) parameters and integers (no rounding ties drawn)."""
    from tinygrad_lm.compress.quantize import calculate_qparams, quantize_tensor
    from tinygrad_lm.exercises.checks.ch09_compress import _reference_qparams

    for seed in range(5):
        x = np.random.default_rng(seed).standard_normal(50).astype(np.float32) * (seed + 1) + seed
        scale, zp = _reference_qparams(x.astype(np.float64))
        lib_scale, lib_zp = calculate_qparams(x, symmetric=False)
        np.testing.assert_allclose(scale, float(lib_scale), rtol=1e-6)
        assert zp == int(lib_zp)
        q = np.clip(np.round(x / scale) + zp, -128, 127)
        np.testing.assert_array_equal(q, quantize_tensor(x, lib_scale, lib_zp))
