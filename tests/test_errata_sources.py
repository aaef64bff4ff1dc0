"""docs/errata.md, second reading: the source's version beside ours for the errata a second reading of
the five documents added, and the page's own form -- every entry says what the source does, why it is
wrong and what we do; the index has one row per entry, in order; every test an entry names exists.
The other computed errata are in tests/test_errata.py."""
import re
from pathlib import Path

import numpy as np
import pytest

import tinygrad_lm as tg
from tinygrad_lm.models.cnn import CifarCNN
from tinygrad_lm.models.mlp import binary_cross_entropy, cross_entropy, squared_error
from tinygrad_lm.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
ERRATA = (ROOT / "docs" / "errata.md").read_text(encoding="utf-8")


def rng(seed=0):
    return np.random.default_rng(seed)


def sig(z):
    return 1 / (1 + np.exp(-z))


# ------------------------------------------------------------------ D0.F1/F2 (000 sec. 4.1)
def test_d0f2_squared_error_through_a_sigmoid_stops_learning_from_confident_mistakes():
    """The source's squared error on a probability output: dL/dz = (y_hat - y) y_hat (1 - y_hat), which
    shrinks as the model grows more confidently wrong; the cross-entropy's dL/dz = y_hat - y grows."""
    zs = np.array([-8.0, -4.0, 0.0])                 # true label 1: the first is the worst mistake
    y = np.ones(3)
    z = tg.tensor(zs, requires_grad=True)
    squared_error(z.sigmoid(), tg.tensor(y)).backward()
    g_source = z.grad.numpy()
    z = tg.tensor(zs, requires_grad=True)
    F.binary_cross_entropy_with_logits(z, tg.tensor(y), reduction="sum").backward()
    g_ours = z.grad.numpy()
    s = sig(zs)
    np.testing.assert_allclose(g_source, (s - y) * s * (1 - s), rtol=1e-12)
    np.testing.assert_allclose(g_ours, s - y, rtol=1e-12)
    assert abs(g_source[0]) < abs(g_source[1]) < abs(g_source[2])     # the worse, the weaker the push
    assert abs(g_ours[0]) > abs(g_ours[1]) > abs(g_ours[2])
    assert abs(g_source[0]) < 1e-3 < 0.99 < abs(g_ours[0])


# ------------------------------------------------------------------ D1.F2 (001 sec. 4.3)
def test_d1f2_multiclass_cross_entropy_on_sigmoids_never_penalises_the_wrong_classes():
    """The source pairs element-wise sigmoid outputs with J = -sum_k y_k log a_k. Its gradient on every
    wrong class's logit is exactly zero, and all outputs near 1 give a loss near 0 whatever the label.
    Softmax + that loss, or sigmoids + the binary cross-entropy, both give dJ/dz = (a - y) / N."""
    N, K = 4, 3
    labels = np.array([0, 2, 1, 2])
    y = np.eye(K)[labels]
    zs = rng(1).standard_normal((N, K))

    z = tg.tensor(zs, requires_grad=True)
    cross_entropy(z.sigmoid(), tg.tensor(y)).backward()               # the source's pairing
    assert np.all(z.grad.numpy()[y == 0] == 0) and np.all(z.grad.numpy()[y == 1] < 0)
    every_class_on = tg.tensor(np.full((N, K), 20.0)).sigmoid()
    assert cross_entropy(every_class_on, tg.tensor(y)).item() < 1e-8   # "perfect", and predicts nothing

    z = tg.tensor(zs, requires_grad=True)
    cross_entropy(z.softmax(-1), tg.tensor(y)).backward()
    p = np.exp(zs) / np.exp(zs).sum(1, keepdims=True)
    np.testing.assert_allclose(z.grad.numpy(), (p - y) / N, rtol=1e-10, atol=1e-15)
    z = tg.tensor(zs, requires_grad=True)
    binary_cross_entropy(z.sigmoid(), tg.tensor(y)).backward()
    np.testing.assert_allclose(z.grad.numpy(), (sig(zs) - y) / N, rtol=1e-10, atol=1e-15)
    assert np.all(z.grad.numpy()[y == 0] > 0)                         # wrong classes are pushed down


# ------------------------------------------------------------------ D2.M3 (002 sec. 5.2)
def test_d2m3_cross_entropy_reads_axis_1_of_b_t_v_logits_as_the_classes():
    """CrossEntropyLoss takes the classes on axis 1: (B, T, V) logits against (B, T) targets are refused
    by PyTorch and by us (axis 1 is time); (B, V, T) -- or both sides flattened -- is the loss meant."""
    torch = pytest.importorskip("torch")
    B, T, V = 3, 5, 7
    logits = rng(2).standard_normal((B, T, V))
    targets = rng(3).integers(0, V, (B, T))
    with pytest.raises(RuntimeError):
        torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(targets))
    with pytest.raises(ValueError, match="class-index targets"):
        F.cross_entropy(tg.tensor(logits), targets)
    moved = F.cross_entropy(tg.tensor(logits).permute(0, 2, 1), targets).item()
    flat = F.cross_entropy(tg.tensor(logits).reshape(-1, V), targets.reshape(-1)).item()
    ref = torch.nn.functional.cross_entropy(torch.tensor(logits).permute(0, 2, 1), torch.tensor(targets)).item()
    assert moved == pytest.approx(flat, rel=1e-12) and moved == pytest.approx(ref, rel=1e-12)


# ------------------------------------------------------------------ 000 sec. 2.2 / 001 / 002: "large"
def test_the_sources_own_cifar_cnn_is_half_a_million_parameters():
    """The count the parameter-count erratum quotes for D3.M1's CNN (003 sec. 4.1)."""
    assert sum(p.numel() for p in CifarCNN().parameters()) == 545_098


# ------------------------------------------------------------------ the page's form
def entries():
    """(heading, body) of every level-3 entry."""
    parts = re.split(r"^### ", ERRATA, flags=re.M)[1:]
    return [(p.splitlines()[0], re.split(r"^## ", p, flags=re.M)[0]) for p in parts]


def index_rows():
    table = ERRATA.split("## Index", 1)[1].split("\n---\n", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()
            if re.match(r"\| 00[0-4]", line)]


def test_every_entry_says_what_the_source_does_why_it_is_wrong_and_what_we_do():
    found = entries()
    assert len(found) >= 53
    for heading, body in found:
        assert re.match(r"00[0-4] ", heading), heading
        assert "**Source" in body, heading
        assert re.search(r"\*\*(Why wrong|Source and why wrong)", body), heading
        assert "**We:**" in body, heading


def test_the_index_has_one_row_per_entry_in_order():
    where = [h.split(" — ")[0] for h, _ in entries()]
    assert [row[0] for row in index_rows()] == where


def test_every_test_an_entry_names_exists():
    """`tests/FILE::NAME` anywhere on the page; a bare `test_...` in a 'Shown' bullet is in
    tests/test_errata.py; 'notebook NN' there is a notebook."""
    default = (ROOT / "tests" / "test_errata.py").read_text(encoding="utf-8")
    named = 0
    for heading, body in entries():
        for path, name in re.findall(r"tests/(test_\w+\.py)::(test_\w+)", body):
            assert f"def {name}(" in (ROOT / "tests" / path).read_text(encoding="utf-8"), (heading, path, name)
            named += 1
        shown = re.search(r"^- \*\*Shown:\*\*(.*?)(?=^- \*\*|\Z)", body, flags=re.M | re.S)
        if not shown:
            continue
        text = shown.group(1)
        for name in re.findall(r"(?<![:/])`(test_\w+)`", text):
            assert f"def {name}(" in default, (heading, name)
            named += 1
        for nb in re.findall(r"notebooks? (\d\d)", text):
            assert list((ROOT / "notebooks").glob(f"{nb}_*.py")), (heading, nb)
    assert named >= 30


# ------------------------------------------------------------------ D2.F3 (002 sec. 4.1.2)
def test_d2f3_exp_of_softmax_rows_sum_past_one_and_weights_stay_within_a_factor_e():
    """exp(softmax(Q K^T)) / sqrt(d_k): each row sums to between n e^(1/n) / sqrt(d_k) (uniform scores)
    and (n - 1 + e) / sqrt(d_k) (one-hot), not 1, and within a row the largest weight is at most e times
    the smallest whatever the scores; softmax(Q K^T / sqrt(d_k)) rows sum to 1 and can be far sharper."""
    n, dk = 6, 16
    Q, K = 3 * rng(4).standard_normal((n, dk)), 3 * rng(5).standard_normal((n, dk))
    s = Q @ K.T
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    source = np.exp(p) / np.sqrt(dk)
    sums = source.sum(1)
    assert np.all(n * np.exp(1 / n) / np.sqrt(dk) <= sums + 1e-12)
    assert np.all(sums <= (n - 1 + np.e) / np.sqrt(dk) + 1e-12)
    assert np.all(source.max(1) / source.min(1) <= np.e + 1e-12)
    ours = F.softmax(tg.tensor(s / np.sqrt(dk)), dim=-1).numpy()
    np.testing.assert_allclose(ours.sum(1), 1, rtol=1e-12)
    assert (ours.max(1) / ours.min(1)).max() > 100


# ------------------------------------------------------------------ D2.F6 (002 sec. 4.2.3)
def test_d2f6_outer_relu_bounds_each_update_below_by_its_bias():
    """ReLU(W2 ReLU(W1 x + b1)) + b2: the outer ReLU comes before b2, so feature j of every token's
    update is at least b2_j -- the sublayer can raise a feature freely but lower it no further than its
    bias. The standard W2 ReLU(W1 x + b1) + b2 (the library's linear2(relu(linear1(x)))) goes below."""
    from tinygrad_lm import nn

    tg.manual_seed(2)
    lin1, lin2 = nn.Linear(8, 32).double(), nn.Linear(32, 8).double()
    x = tg.tensor(rng(6).standard_normal((50, 8)))
    inner = lin1(x).relu()
    b2 = lin2.bias.numpy()
    source = (inner @ lin2.weight.T).relu().numpy() + b2
    ours = lin2(inner).numpy()
    assert np.all(source >= b2 - 1e-15)
    assert np.all((ours < b2 - 1e-3).any(0))                          # every feature goes below its bias
    np.testing.assert_allclose(np.maximum(ours, b2), source, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ D3.F4 (003 sec. 3.2.1.2)
def test_d3f4_a_sigmoid_candidate_never_lets_the_cell_state_fall_below_zero():
    """g = sigma(...) in (0, 1), i and f >= 0: from c_0 = 0 every c_t = f c_{t-1} + i g stays positive, so
    the cell can only accumulate; with the LSTM's tanh candidate (the library's LSTMCell) it goes both
    ways. Same weights, gates ordered i, f, g, o as PyTorch."""
    from tinygrad_lm import nn

    D, H, T = 4, 6, 30
    tg.manual_seed(3)
    cell = nn.LSTMCell(D, H).double()
    Wi, Wh, b = cell.weight_ih.numpy(), cell.weight_hh.numpy(), cell.bias_ih.numpy() + cell.bias_hh.numpy()
    xs = 2 * rng(7).standard_normal((T, D))
    h, c = np.zeros(H), np.zeros(H)
    cs = []
    for x in xs:                                                      # the source's cell, g = sigma(.)
        a = Wi @ x + Wh @ h + b
        i, f, g, o = sig(a[:H]), sig(a[H:2 * H]), sig(a[2 * H:3 * H]), sig(a[3 * H:])
        c = f * c + g * i
        h = o * np.tanh(c)
        cs.append(c)
    assert np.min(cs) > 0
    state = (tg.zeros(1, H, dtype=tg.float64), tg.zeros(1, H, dtype=tg.float64))
    ours = []
    for x in xs:
        state = cell(tg.tensor(x[None]), state)
        ours.append(state[1].numpy()[0])
    assert np.min(ours) < -0.05


# ------------------------------------------------------------------ D3.M2 (003 sec. 4.2)
def test_d3m2_no_reading_of_the_source_rnn_step_runs_in_pytorch():
    """The source's RNN(10, 8, 2 layers, batch-first) + per-step Linear(8, 2), ten 0/1 values, a (2, 1, 8)
    state and a (1, 1) label: every shape one can give those ten values raises in PyTorch, and carrying
    the state into a second backward() without detach() raises too."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rnn, fc = torch.nn.RNN(10, 8, 2, batch_first=True), torch.nn.Linear(8, 2)
    x = torch.tensor([[0.0, 1.0] * 5])
    label, h0 = torch.tensor([[1]]), torch.zeros(2, 1, 8)

    def step(x, h):
        out, h = rnn(x, h)
        return torch.nn.functional.cross_entropy(fc(out), label), h

    for xs, h in ((x, h0),                          # (1, 10): one unbatched step; a 3-D state
                  (x, torch.zeros(2, 8)),            # 2-D state: (1, 2) output against a 2-D label
                  (x.view(1, 1, 10), h0),            # one batched step: axis 1 of (1, 1, 2) read as classes
                  (x.view(1, 10, 1), h0)):           # ten steps of one value: input_size is 10
        with pytest.raises(RuntimeError):
            step(xs, h)
    out, h = rnn(x.view(1, 1, 10), h0)               # many-to-one, as ours: it runs once ...
    torch.nn.functional.cross_entropy(fc(out[:, -1]), label[0]).backward()
    out, _ = rnn(x.view(1, 1, 10), h)                # ... then the carried state's freed graph
    with pytest.raises(RuntimeError):
        torch.nn.functional.cross_entropy(fc(out[:, -1]), label[0]).backward()
