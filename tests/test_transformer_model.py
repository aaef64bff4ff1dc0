"""The encoder-decoder Transformer (D2.M1-M3) in lockstep with a PyTorch twin, and its decoders."""
import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm.data import synthetic
from tinygrad_lm.models.transformer import Seq2SeqTransformer, beam_search, greedy_decode, pipeline
from tinygrad_lm.recipes.transformer import exact_accuracy, fit


class TorchTwin(torch.nn.Module):
    def __init__(self, V, d, h, n, f):
        super().__init__()
        self.src_embed, self.tgt_embed = torch.nn.Embedding(V, d), torch.nn.Embedding(V, d)
        self.transformer = torch.nn.Transformer(d, h, n, n, f, dropout=0.0, batch_first=True)
        self.generator = torch.nn.Linear(d, V)
        self.register_buffer("pe", torch.tensor(tg.nn.transformer.sinusoidal_table(64, d, np.float64)),
                             persistent=False)
        self.d = d

    def forward(self, src, tgt):
        e = lambda x, t: t(x) * self.d ** 0.5 + self.pe[: x.shape[1]]  # noqa: E731
        mask = torch.nn.Transformer.generate_square_subsequent_mask(tgt.shape[1], dtype=torch.float64)
        return self.generator(self.transformer(e(src, self.src_embed), e(tgt, self.tgt_embed), tgt_mask=mask))


def test_lockstep_with_torch_20_steps_float64():
    V = synthetic.vocab_size()
    src, tgt = synthetic.generate_task("reverse", 200, 5)
    ours = Seq2SeqTransformer(V, 16, 2, 1, 1, 32, dropout=0.0).double()
    twin = TorchTwin(V, 16, 2, 1, 32).double()
    twin.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    ours_losses = fit(ours, src, tgt, 20, batch_size=16, lr=1e-3, seed=0)
    for step in range(20):
        idx = rng.integers(0, len(src), 16)
        logits = twin(torch.tensor(src[idx]), torch.tensor(tgt[idx, :-1]))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.tensor(tgt[idx, 1:]).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert abs(loss.item() - ours_losses[step]) < 1e-8, (step, loss.item(), ours_losses[step])


def test_decoders_agree_and_pipeline_runs():
    model = Seq2SeqTransformer(synthetic.vocab_size(), 16, 2, 1, 1, 32, dropout=0.0).eval()
    src, tgt = synthetic.generate_task("copy", 2, 4)
    greedy = greedy_decode(model, src[:1], tgt.shape[1] - 1)
    beam1 = beam_search(model, src[:1], tgt.shape[1] - 1, beam_size=1)
    np.testing.assert_array_equal(greedy[0][: len(beam1)], beam1)  # beam 1 is greedy (until EOS)
    out = pipeline(model, "1234")
    assert out["tokens"].tolist() == [[4, 5, 6, 7]] and out["memory"].shape == (1, 4, 16)


def test_generated_tasks():
    s, t = synthetic.generate_task("reverse", 3, 4, seed=1)
    np.testing.assert_array_equal(t[:, 1:-1], s[:, ::-1])
    s, t = synthetic.generate_task("addition", 5, 3, seed=2)
    digits = s - synthetic.OFFSET
    a, b = digits[:, :3] @ [100, 10, 1], digits[:, 4:] @ [100, 10, 1]
    np.testing.assert_array_equal((t[:, 1:-1] - synthetic.OFFSET) @ [1000, 100, 10, 1], a + b)


@pytest.mark.slow
def test_reverse_reaches_99_percent_exact_sequence_accuracy():
    """D2.M3: reverse 5 digits; train until 500 validation sequences are all exact, then >= 99% on fresh sequences.
    Stopping at a perfect validation score ends every run in the same regime: init and batch seeds 0-4 stop after
    800-1200 of the 2000 steps allowed with 99.8-100% on the 500 test sequences (one sequence is 0.2%)."""
    tg.manual_seed(0)
    src, tgt = synthetic.generate_task("reverse", 20000, 5, seed=0)
    val = synthetic.generate_task("reverse", 500, 5, seed=2)
    test_src, test_tgt = synthetic.generate_task("reverse", 500, 5, seed=1)
    model = Seq2SeqTransformer(synthetic.vocab_size(), 64, 2, 1, 1, 128, dropout=0.0)
    fit(model, src, tgt, 2000, batch_size=128, lr=3e-3, warmup=50, val=val, target=1.0)
    assert exact_accuracy(model, test_src, test_tgt) >= 0.99
