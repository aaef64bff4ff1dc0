"""D1.T3: the Luong-attention encoder-decoder against a PyTorch twin built from torch primitives
(float64, 20 Adam steps in lockstep, losses equal to 1e-8), gradcheck of each score function,
accuracy on the generated reverse+dictionary task, and the CLI."""
import json

import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm.data.translation import PAD, ReverseDictionaryTask
from tinygrad_lm.models import seq2seq_attention as s2s
from tinygrad_lm.recipes import seq2seq_attention as recipe

SCORES = ("dot", "general", "concat")


class Score(torch.nn.Module):
    def __init__(self, kind, H):
        super().__init__()
        self.kind = kind
        if kind == "general":
            self.W_a = torch.nn.Linear(H, H, bias=False)
        if kind == "concat":
            self.W_a, self.v_a = torch.nn.Linear(2 * H, H, bias=False), torch.nn.Linear(H, 1, bias=False)

    def forward(self, ht, hs):
        if self.kind == "dot":
            return ht @ hs.transpose(1, 2)
        if self.kind == "general":
            return ht @ self.W_a(hs).transpose(1, 2)
        B, T, H = ht.shape
        S = hs.shape[1]  # the literal concatenation [h_t; hbar_s] for every (t, s) pair
        pairs = torch.cat([ht[:, :, None].expand(B, T, S, H), hs[:, None].expand(B, T, S, H)], -1)
        return self.v_a(torch.tanh(self.W_a(pairs)))[..., 0]


class Twin(torch.nn.Module):
    def __init__(self, V, E, H, kind):
        super().__init__()
        self.src_embedding = torch.nn.Embedding(V, E, padding_idx=PAD)
        self.encoder = torch.nn.GRU(E, H, batch_first=True)
        self.tgt_embedding = torch.nn.Embedding(V, E, padding_idx=PAD)
        self.decoder = torch.nn.GRU(E, H, batch_first=True)
        self.score = Score(kind, H)
        self.W_c = torch.nn.Linear(2 * H, H, bias=False)
        self.W_s = torch.nn.Linear(H, V)

    def loss(self, b):
        src, tgt_in, tgt_out = (torch.tensor(a) for a in (b.src, b.tgt_in, b.tgt_out))
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.src_embedding(src), torch.tensor(b.src_lengths),
                                                         batch_first=True, enforce_sorted=False)
        out, h = self.encoder(packed)
        hs, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        ht, _ = self.decoder(self.tgt_embedding(tgt_in), h)
        mask = torch.arange(src.shape[1])[None, :] < torch.tensor(b.src_lengths)[:, None]
        a = torch.softmax(self.score(ht, hs).masked_fill(~mask[:, None, :], float("-inf")), -1)
        logits = self.W_s(torch.tanh(self.W_c(torch.cat([a @ hs, ht], -1))))
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                                                 ignore_index=PAD)


@pytest.mark.parametrize("score", SCORES)
def test_lockstep_with_torch(score):
    task, model, _ = recipe.setup(score, vocab_size=11, max_len=6, embedding_dim=6, hidden_size=7)
    model.double()
    twin = Twin(11, 6, 7, score).double()
    twin.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    opt, topt = tg.optim.Adam(model.parameters(), lr=1e-2), torch.optim.Adam(twin.parameters(), lr=1e-2)
    for step in range(20):
        batch = task.sample(5, seed=step)  # batch of 5, lengths 3..6: source padding in most batches
        opt.zero_grad()
        loss = recipe.sequence_loss(model, batch)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tl = twin.loss(batch)
        tl.backward()
        topt.step()
        assert abs(loss.item() - tl.item()) < 1e-8, (step, loss.item(), tl.item())


@pytest.mark.parametrize("score", SCORES)
def test_score_gradcheck(score):
    tg.manual_seed(0)
    module = s2s.SCORES[score](3).double()
    rng = np.random.default_rng(1)
    ht = tg.Tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    hs = tg.Tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    params = list(module.parameters())
    assert tg.gradcheck(lambda a, b, *p: module(a, b), [ht, hs, *params])


def test_attention_masks_padding_and_sums_to_one():
    rng = np.random.default_rng(0)
    scores = tg.Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    hs = tg.Tensor(rng.standard_normal((2, 4, 5)), requires_grad=True)
    mask = s2s.src_mask([4, 2], 4)
    context, a = s2s.luong_attention(scores, hs, mask)
    w = a.numpy()
    assert np.allclose(w.sum(-1), 1) and np.all(w[1, :, 2:] == 0)
    assert np.allclose(context.numpy()[1], w[1, :, :2] @ hs.numpy()[1, :2])
    assert tg.gradcheck(lambda s, h: s2s.luong_attention(s, h, mask)[0], [scores, hs])


def test_bad_score_refused():
    with pytest.raises(ValueError, match="score must be one of"):
        s2s.Seq2SeqAttention(10, 10, score="additive")


def test_generated_task_is_reverse_through_dictionary():
    task = ReverseDictionaryTask(12, 3, 6, seed=0)
    b = task.sample(50, seed=3)
    for i in range(50):
        words = b.src[i, :b.src_lengths[i]].tolist()
        assert b.tgt_out[i, :len(words)].tolist() == [task.dictionary[w] for w in words[::-1]]
        assert b.tgt_in[i, 1:len(words) + 1].tolist() == b.tgt_out[i, :len(words)].tolist()
        assert np.all(b.src[i, len(words):] == PAD) and np.all(b.tgt_out[i, len(words) + 1:] == PAD)
        assert b.tgt_out[i, len(words)] == 2 and b.tgt_in[i, 0] == 1


@pytest.mark.parametrize("score", SCORES)
def test_learns_generated_task(score):
    """400 Adam steps of 32 pairs at lr 2e-2, then 200 at 2e-3 (about 2 s): >= 95% exact-sequence greedy
    accuracy on 300 held-out pairs. Measured over seeds 0-5 for each score: 99.7-100% (token accuracy
    99.8-100%). Without the lower rate at the end the trajectory decides: after 250 steps at 2e-2 the same
    seeds gave 92-97% (dot), 77-96% (general), 73-97% (concat), and another CPU's rounding moved one seed
    from 94% to 89%."""
    task, model, opt = recipe.setup(score, vocab_size=12, max_len=6, embedding_dim=16, hidden_size=32, lr=2e-2)
    recipe.fit(model, opt, task, 400, 32)
    for group in opt.param_groups:
        group["lr"] = 2e-3
    recipe.fit(model, opt, task, 200, 32, seed=400)
    seq_acc, tok_acc = recipe.accuracy(model, task.sample(300, seed=999))
    assert seq_acc >= 0.95 and tok_acc >= 0.97, (seq_acc, tok_acc)
    ids, maps = model.greedy_decode(*(lambda b: (b.src, b.src_lengths))(task.sample(4, seed=5)), 7)
    assert maps.shape[:2] == ids.shape and np.allclose(maps.sum(-1), 1)


def test_cli_writes_curve_and_checkpoint(tmp_path, capsys):
    from tinygrad_lm.cli import main

    out = tmp_path / "s2s"
    main(["train", "seq2seq-attention", "--score", "concat", "--steps", "4", "--eval-every", "2", "--batch-size",
          "8", "--hidden-size", "8", "--embedding-dim", "4", "--out", str(out), "--no-progress"])
    assert (out / "curves.png").stat().st_size > 0 and (out / "checkpoint.npz").exists()
    assert "exact-sequence accuracy" in capsys.readouterr().out
    assert 0 <= json.loads((out / "result.json").read_text())["token_accuracy"] <= 1
