"""MultiheadAttention and every Transformer layer equal to PyTorch's (forward and parameter/input
gradients) after loading torch's state_dict, with every kind of mask."""
import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm import nn

from helpers import assert_close


def _grads_match(ours, ref, tg_inputs, th_inputs, out, ref_out):
    u = np.random.default_rng(9).standard_normal(ref_out.shape)
    (out * tg.tensor(u)).sum().backward()
    (ref_out * torch.tensor(u)).sum().backward()
    assert_close(out, ref_out, what="forward")
    for name, p in ref.named_parameters():
        assert_close(dict(ours.named_parameters())[name].grad, p.grad, what=f"grad {name}")
    for a, b in zip(tg_inputs, th_inputs, strict=True):
        assert_close(a.grad, b.grad, what="input grad")


def _pair(torch_module, our_module):
    torch.manual_seed(0)
    ref = torch_module.double()
    with torch.no_grad():  # biases start at 0 in torch: make them matter
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = our_module.double()
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def _masks(kind, N, L, S, H):
    rng = np.random.default_rng(3)
    attn, kpm = None, None
    if kind == "bool":
        attn = rng.random((L, S)) < 0.3
        attn[:, 0] = False
    elif kind == "float":
        attn = rng.standard_normal((L, S))
    elif kind == "per_head":
        attn = rng.standard_normal((N * H, L, S))
    elif kind == "causal":
        attn = np.triu(np.ones((L, S), bool), 1)
    if kind in ("padding", "both"):
        kpm = np.zeros((N, S), bool)
        kpm[-1, S // 2 + 1:] = True
        if kind == "both":
            attn = rng.standard_normal((L, S))
    return attn, kpm


def _t(a, lib):
    return None if a is None else (tg.tensor(a) if lib == "tg" else torch.tensor(a))


@pytest.mark.parametrize("kind", [None, "bool", "float", "per_head", "causal", "padding", "both"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention(kind, batch_first):
    N, L, S, E, H = 2, 4, 5, 6, 3
    ours, ref = _pair(torch.nn.MultiheadAttention(E, H, batch_first=batch_first),
                      nn.MultiheadAttention(E, H, batch_first=batch_first))
    assert list(ours.state_dict()) == list(ref.state_dict())
    rng = np.random.default_rng(1)
    shape = (lambda n: (N, n, E)) if batch_first else (lambda n: (n, N, E))
    arrays = [rng.standard_normal(shape(L)), rng.standard_normal(shape(S)), rng.standard_normal(shape(S))]
    attn, kpm = _masks(kind, N, L, S, H)
    a = [tg.tensor(x, requires_grad=True) for x in arrays]
    b = [torch.tensor(x, requires_grad=True) for x in arrays]
    out, w = ours(*a, key_padding_mask=_t(kpm, "tg"), attn_mask=_t(attn, "tg"))
    rout, rw = ref(*b, key_padding_mask=_t(kpm, "th"), attn_mask=_t(attn, "th"))
    assert_close(w, rw, what="attention weights")
    _grads_match(ours, ref, a, b, out, rout)


@pytest.mark.parametrize("shape", [(1, 1, 4, 4), (3, 2, 2, 2)])
def test_self_attention_edge_cases_and_unaveraged_weights(shape):
    """Batch 1, length 1, heads of one dimension; self-attention path (query is key is value)."""
    N, L, E, H = shape
    ours, ref = _pair(torch.nn.MultiheadAttention(E, H, batch_first=True), nn.MultiheadAttention(E, H, batch_first=True))
    x = np.random.default_rng(2).standard_normal((N, L, E))
    a, b = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, w = ours(a, a, a, average_attn_weights=False)
    rout, rw = ref(b, b, b, average_attn_weights=False)
    assert_close(w, rw, what="per-head weights")
    _grads_match(ours, ref, [a], [b], out, rout)


def test_returned_weights_are_the_dropped_out_ones():
    """As PyTorch: in training with dropout p the returned weights are the ones that multiply V, i.e.
    softmax(...) with zeros where dropout struck and the rest scaled by 1/(1-p); in eval, torch's."""
    N, L, E, H, p = 2, 6, 8, 2, 0.5
    ours, ref = _pair(torch.nn.MultiheadAttention(E, H, dropout=p, batch_first=True),
                      nn.MultiheadAttention(E, H, dropout=p, batch_first=True))
    x = tg.tensor(np.random.default_rng(7).standard_normal((N, L, E)))
    ours.eval(), ref.eval()
    out_eval, w_eval = ours(x, x, x, average_attn_weights=False)
    rout, rw = ref(torch.tensor(x.numpy()), torch.tensor(x.numpy()), torch.tensor(x.numpy()),
                   average_attn_weights=False)
    assert_close(w_eval, rw, what="eval weights")
    assert_close(out_eval, rout, what="eval output")
    ours.train()
    tg.manual_seed(0)
    out, w = ours(x, x, x, average_attn_weights=False)
    w, w_eval = w.numpy(), w_eval.numpy()
    dropped = w == 0
    assert 0.2 < dropped.mean() < 0.8, "about half the weights should be dropped"
    np.testing.assert_allclose(w[~dropped], w_eval[~dropped] / (1 - p), rtol=1e-12)
    # the output is built from these very weights: out = out_proj(concat_h(W_h V_h))
    v = (x.numpy() @ ours.in_proj_weight.numpy()[2 * E:].T + ours.in_proj_bias.numpy()[2 * E:])
    v = v.reshape(N, L, H, E // H).transpose(0, 2, 1, 3)
    heads = (w @ v).transpose(0, 2, 1, 3).reshape(N, L, E)
    expected = heads @ ours.out_proj.weight.numpy().T + ours.out_proj.bias.numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("kind", ["float", "per_head", "both"])
def test_float_attn_mask_gets_a_gradient(kind, need_weights):
    """A float attn_mask that requires grad gets dL/dscores, summed over the axes it was broadcast
    along, equal to PyTorch's."""
    N, L, S, E, H = 2, 4, 5, 6, 3
    ours, ref = _pair(torch.nn.MultiheadAttention(E, H, batch_first=True),
                      nn.MultiheadAttention(E, H, batch_first=True))
    rng = np.random.default_rng(8)
    q, kv = rng.standard_normal((N, L, E)), rng.standard_normal((N, S, E))
    attn, kpm = _masks(kind, N, L, S, H)
    m_tg, m_th = tg.tensor(attn, requires_grad=True), torch.tensor(attn, requires_grad=True)
    out = ours(tg.tensor(q), tg.tensor(kv), tg.tensor(kv), attn_mask=m_tg, key_padding_mask=_t(kpm, "tg"),
               need_weights=need_weights)[0]
    rout = ref(torch.tensor(q), torch.tensor(kv), torch.tensor(kv), attn_mask=m_th,
               key_padding_mask=_t(kpm, "th"), need_weights=need_weights)[0]
    u = rng.standard_normal(rout.shape)
    (out * tg.tensor(u)).sum().backward()
    (rout * torch.tensor(u)).sum().backward()
    assert_close(out, rout, what="forward")
    assert_close(m_tg.grad, m_th.grad, what="attn_mask grad")


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer(norm_first, activation):
    N, L, E = 2, 5, 8
    ours, ref = _pair(torch.nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0, activation=activation,
                                                       batch_first=True, norm_first=norm_first),
                      nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0, activation=activation, batch_first=True,
                                                 norm_first=norm_first))
    x = np.random.default_rng(4).standard_normal((N, L, E))
    _, kpm = _masks("padding", N, L, L, 2)
    a, b = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    _grads_match(ours, ref, [a], [b], ours(a, src_key_padding_mask=tg.tensor(kpm)),
                 ref(b, src_key_padding_mask=torch.tensor(kpm)))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer(norm_first):
    N, L, S, E = 2, 4, 5, 8
    ours, ref = _pair(torch.nn.TransformerDecoderLayer(E, 4, 16, dropout=0.0, batch_first=False, norm_first=norm_first),
                      nn.TransformerDecoderLayer(E, 4, 16, dropout=0.0, batch_first=False, norm_first=norm_first))
    rng = np.random.default_rng(5)
    t, m = rng.standard_normal((L, N, E)), rng.standard_normal((S, N, E))
    _, kpm = _masks("padding", N, L, S, 4)
    mask = nn.Transformer.generate_square_subsequent_mask(L, dtype=np.float64)
    a = [tg.tensor(x, requires_grad=True) for x in (t, m)]
    b = [torch.tensor(x, requires_grad=True) for x in (t, m)]
    out = ours(*a, tgt_mask=mask, memory_key_padding_mask=tg.tensor(kpm), tgt_is_causal=True)
    rout = ref(*b, tgt_mask=torch.tensor(mask.numpy()), memory_key_padding_mask=torch.tensor(kpm), tgt_is_causal=True)
    _grads_match(ours, ref, a, b, out, rout)


def test_full_transformer_and_stacks():
    N, L, S, E = 2, 3, 4, 8
    ours, ref = _pair(torch.nn.Transformer(E, 2, 2, 1, 16, dropout=0.0, batch_first=True),
                      nn.Transformer(E, 2, 2, 1, 16, dropout=0.0, batch_first=True))
    assert list(ours.state_dict()) == list(ref.state_dict())
    rng = np.random.default_rng(6)
    src, tgt = rng.standard_normal((N, S, E)), rng.standard_normal((N, L, E))
    a = [tg.tensor(x, requires_grad=True) for x in (src, tgt)]
    b = [torch.tensor(x, requires_grad=True) for x in (src, tgt)]
    mask = nn.Transformer.generate_square_subsequent_mask(L, dtype=np.float64)
    _grads_match(ours, ref, a, b, ours(*a, tgt_mask=mask),
                 ref(*b, tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)))
    np.testing.assert_array_equal(mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(L).numpy())


def test_init_like_torch_and_refusals():
    mha = nn.MultiheadAttention(8, 2)
    assert np.all(mha.in_proj_bias.numpy() == 0) and np.all(mha.out_proj.bias.numpy() == 0)
    bound = np.sqrt(6 / (8 + 24))
    assert np.abs(mha.in_proj_weight.numpy()).max() <= bound
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
    np.testing.assert_array_equal(enc.layers[0].linear1.weight.numpy(), enc.layers[1].linear1.weight.numpy())
    with pytest.raises(ValueError, match="multiple"):
        nn.MultiheadAttention(7, 2)
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")


def test_positional_encodings():
    pe = nn.SinusoidalPositionalEncoding(6, max_len=10)
    x = tg.zeros(1, 4, 6)
    out = pe(x).numpy()[0]
    pos, i = 3, 1
    assert np.isclose(out[pos, 2 * i], np.sin(pos / 10000 ** (2 * i / 6)))
    assert np.isclose(out[pos, 2 * i + 1], np.cos(pos / 10000 ** (2 * i / 6)))
    lp = nn.LearnedPositionalEncoding(6, max_len=10)
    y = lp(tg.zeros(2, 4, 6, requires_grad=True))
    y.sum().backward()
    assert lp.embedding.weight.grad.numpy()[4:].sum() == 0 and np.all(lp.embedding.weight.grad.numpy()[:4] == 2)
