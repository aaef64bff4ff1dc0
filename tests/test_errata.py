"""docs/errata.md, computed: for each erratum that can be computed and has no test elsewhere, the
source document's version beside ours, and the difference the erratum claims. Each test names its
erratum; NumPy is the plain reference, the library is ours."""
import numpy as np
import pytest

import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.nn import functional as F
from tinygrad_lm.ops.attention import attention_weights, self_attention


def rng(seed=0):
    return np.random.default_rng(seed)


def t(a):
    return tg.tensor(np.asarray(a, dtype=np.float64))


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def bce(a, y):
    return -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))


# ------------------------------------------------------------------ D0.F3 (000 sec. 4.2)
def test_d0f3_source_scores_hold_x_once_and_exist_only_when_lengths_happen_to_match():
    """The source's scores W_Q X W_K (columns are tokens): X appears once, so they are linear in X; the
    query-key scores (W_Q X)^T (W_K X) / sqrt(d_k) are quadratic. The product is defined only when the
    sequence length T equals d_k, and then it is (d_k, d), not a (T, T) map over positions."""
    d, dk = 6, 3
    W_Q, W_K = rng(1).standard_normal((dk, d)), rng(2).standard_normal((dk, d))
    with pytest.raises(ValueError):
        W_Q @ rng(3).standard_normal((d, 5)) @ W_K           # T = 5 != d_k: no product at all
    X = rng(4).standard_normal((d, dk))                      # T = d_k = 3: defined by accident
    source = lambda X: W_Q @ X @ W_K                         # noqa: E731
    ours = lambda X: (W_Q @ X).T @ (W_K @ X) / np.sqrt(dk)   # noqa: E731
    assert source(X).shape == (dk, d) and ours(X).shape == (X.shape[1], X.shape[1])
    np.testing.assert_allclose(source(2 * X), 2 * source(X), rtol=1e-12)   # linear: no query meets a key
    np.testing.assert_allclose(ours(2 * X), 4 * ours(X), rtol=1e-12)       # quadratic: q_i . k_j
    # and ours is the library's self-attention (rows as tokens: Q = X^T W_Q^T)
    W_V = rng(5).standard_normal((dk, d))
    O = softmax(ours(X), axis=1) @ (W_V @ X).T
    np.testing.assert_allclose(self_attention(t(X.T), t(W_Q.T), t(W_K.T), t(W_V.T)).numpy(), O, rtol=1e-10)


def test_d0f3_without_the_scale_softmax_saturates_as_d_k_grows():
    """The missing 1/sqrt(d_k): unit-variance queries and keys give scores of variance d_k, and the softmax
    of such scores is nearly one-hot; scaled, the rows stay spread."""
    T, dk = 16, 256
    q, k = rng(6).standard_normal((T, dk)), rng(7).standard_normal((T, dk))
    unscaled, scaled = softmax(q @ k.T), softmax(q @ k.T / np.sqrt(dk))
    assert unscaled.max(1).mean() > 0.9 > 0.5 > scaled.max(1).mean()


# ------------------------------------------------------------------ D1.F3 (001 sec. 4.3)
def test_d1f3_source_output_error_points_uphill():
    """The source's dJ/dz3 = (y - a)/(a (1 - a)) has the sign of -(a - y): a gradient step along it raises
    the binary cross-entropy; the true a - y lowers it. It also blows up as a saturates."""
    z = rng(8).standard_normal(20)
    y = (rng(9).random(20) > 0.5) * 1.0
    a = 1 / (1 + np.exp(-z))
    source, ours = (y - a) / (a * (1 - a)), a - y
    assert np.all(np.sign(source) == -np.sign(ours))
    step = lambda g: 1 / (1 + np.exp(-(z - 0.1 * g)))        # noqa: E731
    assert bce(step(ours), y) < bce(a, y) < bce(step(source), y)
    assert np.all(np.abs(source) >= 4 * np.abs(ours))       # |source / ours| = 1 / (a (1 - a)) >= 4


# ------------------------------------------------------------------ D2 (002 sec. 3.1.1): one shared weight
def test_002_shared_qkv_weight_makes_scores_symmetric():
    """Section 3.1.1 says Q, K and V usually share one weight matrix. Then Q = K and the score matrix is
    symmetric: token i scores token j exactly as j scores i; separate W_Q, W_K break that symmetry."""
    X, W = rng(10).standard_normal((5, 8)), rng(11).standard_normal((8, 4))
    shared = (X @ W) @ (X @ W).T
    np.testing.assert_allclose(shared, shared.T, rtol=1e-12)
    separate = (X @ W) @ (X @ rng(12).standard_normal((8, 4))).T
    assert not np.allclose(separate, separate.T)


# ------------------------------------------------------------------ D2.F4 (002 sec. 4.1.2): heads without projections
def test_d2f4_heads_without_their_own_projections_collapse_to_one_head():
    """head_i = Attention(Q, K, V) for every i: all heads are equal, and Concat(heads) W_O is one head
    times the sum of W_O's row blocks -- h heads buy nothing."""
    T, d, h = 5, 4, 3
    Q, K, V = (rng(s).standard_normal((T, d)) for s in (13, 14, 15))
    W_O = rng(16).standard_normal((h * d, d))
    head = softmax(Q @ K.T / np.sqrt(d)) @ V
    multi = np.concatenate([head] * h, axis=1) @ W_O
    np.testing.assert_allclose(multi, head @ W_O.reshape(h, d, d).sum(0), rtol=1e-12)


# ------------------------------------------------------------------ D2 (002 sec. 4.2.3): each token attends to itself only
def test_002_attention_of_a_token_to_its_own_key_alone_is_its_value():
    """softmax(dot(Q_i, K_i)) V_i: a softmax over one score is 1, so every output is its own value vector
    and no information moves between positions (the library's map, masked to the diagonal, shows it)."""
    Q, K, V = (t(rng(s).standard_normal((1, 6, 4))) for s in (17, 18, 19))
    A = attention_weights(Q, K, np.eye(6, dtype=bool))
    np.testing.assert_allclose((A @ V).numpy(), V.numpy(), rtol=1e-12)


# ------------------------------------------------------------------ D2.M2 (002 sec. 3.1.3)
def _layer():
    tg.manual_seed(0)
    return nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double().eval()


def test_d2m2_source_residual_is_ln_of_twice_self_attention_and_loses_the_skip_path():
    """The source's second residual adds the self-attention output to itself: LN(2 SA(h)), h the output of
    the cross-attention block. LayerNorm is scale-invariant up to its eps -- LN_eps(2s) = LN_{eps/4}(s)
    exactly -- so this is LN(SA(h)): the sublayer is kept, the skip path h is lost. It is far from the
    post-LN residual LN(h + SA(h)), and the memory still reaches it (through h)."""
    layer = _layer()
    g = rng(20)
    x, mem = t(g.standard_normal((2, 5, 8))), t(g.standard_normal((2, 7, 8)))
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=x.dtype)

    def source(x, mem):
        h = layer.norm2(x + layer._mha_block(x, mem, None, None))     # cross-attention first (its 1st block)
        s = layer._sa_block(h, None, None)                            # self-attention, with no mask
        return h, s, F.layer_norm(s + s, (8,), layer.norm2.weight, layer.norm2.bias, eps=1e-5)

    h, s, out = source(x, mem)
    w, b = layer.norm2.weight, layer.norm2.bias
    np.testing.assert_allclose(out.numpy(), F.layer_norm(s, (8,), w, b, eps=1e-5 / 4).numpy(), rtol=1e-12)
    np.testing.assert_allclose(out.numpy(), F.layer_norm(s, (8,), w, b).numpy(), atol=2e-3)  # eps vs var(SA)
    residual = F.layer_norm(h + s, (8,), w, b).numpy()
    assert np.abs(out.numpy() - residual).max() > 0.1
    mem2 = t(g.standard_normal((2, 7, 8)))
    assert np.abs(source(x, mem2)[2].numpy() - out.numpy()).max() > 0.1   # not LN(x): the memory counts
    ours = layer(x, mem, tgt_mask=mask).numpy()
    assert np.abs(source(x, mem)[2].numpy() - ours).max() > 0.1


def test_002_decoder_self_attention_without_a_causal_mask_sees_the_future():
    """Sections 3.1.2-3.1.3 never mask the decoder's self-attention: position 0's output then changes when
    the last target token does (the model can copy the answer it should predict); with the causal mask
    it cannot."""
    layer = _layer()
    g = rng(21)
    y, mem = g.standard_normal((1, 5, 8)), t(g.standard_normal((1, 7, 8)))
    y2 = y.copy()
    y2[0, -1] += 1.0
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=mem.dtype)
    unmasked = [layer(t(a), mem).numpy()[0, 0] for a in (y, y2)]
    causal = [layer(t(a), mem, tgt_mask=mask).numpy()[0, 0] for a in (y, y2)]
    assert np.abs(unmasked[0] - unmasked[1]).max() > 1e-3
    np.testing.assert_allclose(causal[0], causal[1], rtol=1e-12)


# ------------------------------------------------------------------ D3.F1 (003 sec. 3.1.1)
def test_d3f1_source_indices_collapse_the_kernel_width_and_read_the_channel_as_an_offset():
    """Y[i,j,k] = sum_m sum_n sum_o X[i+n, j+m, m] K[n,o,m,k]: the width offset inside X is the channel
    index m, and o appears only in K, so it sums the kernel's columns away. Computed literally, that is
    not the convolution (the library's conv2d, which equals PyTorch's)."""
    H = W = 6
    C, D, KH = 3, 2, 3                                   # K_W = C = 3 so that the source's loops stay in range
    X, K = rng(22).standard_normal((H, W, C)), rng(23).standard_normal((KH, C, C, D))
    out_h = out_w = H - KH + 1
    source = np.zeros((out_h, out_w, D))
    for i in range(out_h):
        for j in range(out_w):
            for k in range(D):
                source[i, j, k] = sum(X[i + n, j + m, m] * K[n, o, m, k]
                                      for m in range(C) for n in range(KH) for o in range(C))
    ours = F.conv2d(t(X.transpose(2, 0, 1)[None]), t(K.transpose(3, 2, 0, 1))).numpy()[0].transpose(1, 2, 0)
    assert np.abs(source - ours).max() > 0.1
    K_cols = K.sum(1)                                    # (KH, C, D): the kernel's width summed away
    collapsed = np.array([[sum(X[i + n, j + m, m] * K_cols[n, m] for m in range(C) for n in range(KH))
                           for j in range(out_w)] for i in range(out_h)])
    np.testing.assert_allclose(source, collapsed, rtol=1e-12)


# ------------------------------------------------------------------ D4.F1 (004 sec. 3.4)
def test_d4f1_source_kernel_k_of_i_minus_x_is_cross_correlation_not_a_flip():
    """y(x, y) = sum_c sum_i sum_j x(i, j, c) k(i - x, j - y, c): substituting u = i - x gives
    sum_u x(x + u) k(u), the cross-correlation that conv2d (and PyTorch) computes -- the kernel is not
    flipped. A true convolution, k(x - i), is the flipped one and differs."""
    C, H, KS = 2, 7, 3
    img, ker = rng(24).standard_normal((C, H, H)), rng(25).standard_normal((C, KS, KS))

    def k(u, v, c):  # the kernel as a function of the offset, zero outside its support
        return ker[c, u, v] if 0 <= u < KS and 0 <= v < KS else 0.0

    n = H - KS + 1
    source = np.array([[sum(img[c, i, j] * k(i - p, j - q, c) for c in range(C) for i in range(H) for j in range(H))
                        for q in range(n)] for p in range(n)])
    ours = F.conv2d(t(img[None]), t(ker[None])).numpy()[0, 0]
    np.testing.assert_allclose(source, ours, rtol=1e-12)
    flipped = F.conv2d(t(img[None]), t(ker[None, :, ::-1, ::-1].copy())).numpy()[0, 0]
    assert np.abs(flipped - ours).max() > 0.1


# ------------------------------------------------------------------ D3.F4 (003 sec. 3.2.1.2): shapes, c0
def test_d3f4_input_weights_are_hidden_by_input_and_c0_is_a_state():
    """Three of the source's four input weights are typed D x H; W x_t with x_t in R^D needs H x D (the
    library stacks four of them, (4H, D)). And the source gives only h0: the cell state needs its own c0,
    and a different c0 gives a different output."""
    D, H = 5, 3
    cell = nn.LSTMCell(D, H).double()
    assert tuple(cell.weight_ih.shape) == (4 * H, D)
    x = rng(26).standard_normal(D)
    with pytest.raises(ValueError):
        rng(27).standard_normal((D, H)) @ x
    xb, h0 = t(x[None]), t(np.zeros((1, H)))
    h_a, _ = cell(xb, (h0, t(np.zeros((1, H)))))
    h_b, _ = cell(xb, (h0, t(np.ones((1, H)))))
    assert np.abs(h_a.numpy() - h_b.numpy()).max() > 1e-3


# ------------------------------------------------------------------ D3.F5 (003 sec. 3.2.1.3)
def test_d3f5_reset_after_is_ours_and_differs_from_chos_reset_before():
    """Ours (PyTorch's): n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). Cho et al. (2014), whose structure
    the source follows: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn). Two different models with the same
    parameters: they agree when r = 1 (or h = 0) and differ otherwise."""
    D, H = 4, 3
    tg.manual_seed(1)
    cell = nn.GRUCell(D, H).double()
    Wi, Wh = cell.weight_ih.numpy(), cell.weight_hh.numpy()
    bi, bh = cell.bias_ih.numpy(), cell.bias_hh.numpy()
    x, h = rng(28).standard_normal(D), rng(29).standard_normal(H)
    sig = lambda v: 1 / (1 + np.exp(-v))                      # noqa: E731
    gi, gh = Wi @ x + bi, Wh @ h + bh                         # rows ordered r, z, n, as PyTorch
    r, z = sig(gi[:H] + gh[:H]), sig(gi[H:2 * H] + gh[H:2 * H])

    def step(reset, r):
        n = np.tanh(gi[2 * H:] + (r * gh[2 * H:] if reset == "after" else Wh[2 * H:] @ (r * h) + bh[2 * H:]))
        return (1 - z) * n + z * h

    ours = cell(t(x[None]), t(h[None])).numpy()[0]
    np.testing.assert_allclose(ours, step("after", r), rtol=1e-12)
    assert np.abs(step("before", r) - ours).max() > 1e-3
    np.testing.assert_allclose(step("before", np.ones(H)), step("after", np.ones(H)), rtol=1e-12)
    # the source's update (1 - z) h + z n is ours with z -> 1 - z = sigma(-a_z): the same family
    n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
    z_source = sig(-(gi[H:2 * H] + gh[H:2 * H]))
    np.testing.assert_allclose((1 - z_source) * h + z_source * n, ours, rtol=1e-12)


# ------------------------------------------------------------------ D4.M1 (004 sec. 4.1)
def test_d4m1_flatten_raises_unless_the_batch_is_a_multiple_of_49():
    """After two unpadded 3x3 convolutions a 28x28 image is 64x24x24 = 36864 = 3136 * 576/49 values:
    view(-1, 64*7*7) raises for a batch that is not a multiple of 49, and for one that is, it silently
    makes 576/49 as many rows -- which the loss then refuses against the batch's labels."""
    for B in (1, 2, 32, 48):
        with pytest.raises(ValueError, match="reshape"):
            tg.zeros(B, 64, 24, 24).view(-1, 64 * 7 * 7)
    for B in (49, 98):
        assert tuple(tg.zeros(B, 64, 24, 24).view(-1, 64 * 7 * 7).shape) == (B * 576 // 49, 3136)
    logits = tg.zeros(576, 10)
    with pytest.raises(ValueError):
        F.cross_entropy(logits, np.zeros(49, dtype=np.int64))


def test_d4m1_log_softmax_twice_is_redundant_not_wrong():
    """The source feeds log_softmax outputs to a loss that applies log-softmax again. log_softmax is
    idempotent (its exponentials already sum to one), so the loss and its gradient are those of
    nll_loss on the log-probabilities: wasted work, same numbers."""
    z = rng(30).standard_normal((6, 10))
    y = np.array([0, 3, 9, 1, 1, 5])
    grads = []
    for loss in (lambda lp: F.cross_entropy(lp, y), lambda lp: F.nll_loss(lp, y)):
        zt = tg.tensor(z, requires_grad=True)
        value = loss(F.log_softmax(zt, dim=1))
        value.backward()
        grads.append((value.item(), zt.grad.numpy()))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-12)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-10, atol=1e-15)


# ------------------------------------------------------------------ D0.M1 / 002 sec. 5.2: targets and the max axis
def test_d0m1_unflattened_targets_are_refused_and_max_over_axis_1_is_over_time():
    """logits.view(-1, V) has B*T rows; targets left (B, T) do not match them. And the max over axis 1 of
    (B, T, V) logits runs over the time axis: it returns (B, V) positions, not (B, T) tokens."""
    B, T, V = 4, 7, 11
    logits = tg.tensor(rng(31).standard_normal((B, T, V)))
    targets = rng(32).integers(0, V, (B, T))
    with pytest.raises(ValueError):
        F.cross_entropy(logits.view(-1, V), targets)
    F.cross_entropy(logits.view(-1, V), targets.reshape(-1))     # flattened: fine
    wrong = logits.numpy().argmax(1)
    assert wrong.shape == (B, V) and wrong.max() < T
    assert logits.numpy().argmax(-1).shape == targets.shape


# ------------------------------------------------------------------ D3.F2 (003 sec. 3.1.2)
def test_d3f2_window_at_i_plus_n_is_a_stride_1_sliding_max_that_does_not_downsample():
    """Z[i,j] = max_{n,m} Y[i+n, j+m]: with no stride the window moves one pixel at a time, so the output
    is (nearly) as large as the input; ours starts window i at i*s."""
    Y = rng(33).standard_normal((1, 1, 8, 8))
    source = np.array([[Y[0, 0, i:i + 2, j:j + 2].max() for j in range(7)] for i in range(7)])
    np.testing.assert_allclose(F.max_pool2d(t(Y), 2, stride=1).numpy()[0, 0], source, rtol=0)
    ours = F.max_pool2d(t(Y), 2).numpy()[0, 0]
    assert ours.shape == (4, 4) and source.shape == (7, 7)
    np.testing.assert_allclose(ours, source[::2, ::2], rtol=0)


# ------------------------------------------------------------------ 002 sec. 3.2: no positional encoding anywhere
def test_002_without_positions_the_encoder_cannot_see_word_order():
    """No positional encoding appears in 002: self-attention then treats the input as a set -- permuting
    the tokens only permutes the outputs, so 'dog bites man' and 'man bites dog' encode alike. Adding
    positions (the sinusoidal table of Vaswani et al.) breaks the symmetry."""
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double().eval()
    x = rng(34).standard_normal((1, 5, 8))
    perm = np.array([3, 0, 4, 1, 2])
    out, out_perm = layer(t(x)).numpy(), layer(t(x[:, perm])).numpy()
    np.testing.assert_allclose(out_perm, out[:, perm], rtol=1e-10, atol=1e-12)
    pe = nn.SinusoidalPositionalEncoding(8).double()
    with_pos, with_pos_perm = layer(pe(t(x))).numpy(), layer(pe(t(x[:, perm]))).numpy()
    assert np.abs(with_pos_perm - with_pos[:, perm]).max() > 1e-2


# ------------------------------------------------------------------ D1.M1 (001 sec. 5.2, 5.4)
def test_d1m1_an_unseen_chinese_sentence_becomes_all_padding():
    """A whitespace word tokenizer (Keras's, and ours that follows it) keeps each Chinese sentence as one
    'word'; the test sentence is not among the three training ones, is dropped, and the model is asked
    about a row of padding zeros."""
    from tinygrad_lm.data.text import CharTokenizer, Tokenizer, pad_sequences

    train = ["今天天气很好。", "我喜欢这门课。", "这是机器学习。"]
    tok = Tokenizer(num_words=1000)
    tok.fit_on_texts(train)
    assert len(tok.word_index) == len(train)
    assert not pad_sequences(tok.texts_to_sequences(["这是新的句子。"]), maxlen=10).any()
    ids = CharTokenizer(train).encode("这是新的句子。")          # characters: 这, 是, 。 are known
    assert sum(i != 0 for i in ids) == 3
