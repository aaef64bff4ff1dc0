"""Recurrent layers and the recurrent models' training steps, beside PyTorch (float32, CPU)."""
from __future__ import annotations

import numpy as np

from .common import Case


def _lstm_layer(T, B, D, H):
    def ours():
        import tinygrad_lm as tg

        lstm = tg.nn.LSTM(D, H)
        x = tg.tensor(np.random.default_rng(0).standard_normal((T, B, D)).astype(np.float32), requires_grad=True)

        def step():
            out, _ = lstm(x)
            out.sum().backward()
        return step

    def theirs():
        import torch

        lstm = torch.nn.LSTM(D, H)
        x = torch.randn(T, B, D, requires_grad=True)

        def step():
            out, _ = lstm(x)
            out.sum().backward()
        return step
    return ours, theirs


def _lstm_classifier_step(framework, batch=32, maxlen=100, vocab=1000):
    """One D1.M1 training step (forward, backward, Adam) on a random batch."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, vocab, (batch, maxlen))
    y = rng.integers(0, 2, batch).astype(np.float32)
    if framework == "torch":
        import torch

        class Twin(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = torch.nn.Embedding(vocab, 16)
                self.lstm = torch.nn.LSTM(16, 32, batch_first=True)
                self.fc = torch.nn.Linear(32, 1)

            def forward(self, x):
                _, (h, _) = self.lstm(self.embedding(x))
                return torch.sigmoid(self.fc(h[-1]))

        net = Twin()
        opt = torch.optim.Adam(net.parameters(), lr=3e-3, eps=1e-7)
        xt, yt = torch.tensor(x), torch.tensor(y)[:, None]

        def step():
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy(net(xt), yt).backward()
            opt.step()
        return step
    import tinygrad_lm as tg
    from tinygrad_lm.recipes.lstm_classifier import build

    model = build(vocab)
    xg, yg = tg.tensor(x), tg.tensor(y)
    return lambda: model.train_step(xg, yg)


def _lstm_lm_step(framework, batch=32, seq_len=35, vocab=10000):
    """One D0.M1 training step at the document's sizes (forward, backward, Adam)."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, vocab, (batch, seq_len + 1))
    if framework == "torch":
        import torch

        class Twin(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = torch.nn.Embedding(vocab, 256)
                self.dropout = torch.nn.Dropout(0.5)
                self.lstm = torch.nn.LSTM(256, 512, 2, dropout=0.5, batch_first=True)
                self.fc = torch.nn.Linear(512, vocab)

            def forward(self, x):
                return self.fc(self.lstm(self.dropout(self.embedding(x)))[0])

        net = Twin()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x, y = torch.tensor(tokens[:, :-1]), torch.tensor(tokens[:, 1:])

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x).reshape(-1, vocab), y.reshape(-1)).backward()
            opt.step()
        return step
    import tinygrad_lm as tg
    from tinygrad_lm.models.lstm_lm import LSTMLanguageModel
    from tinygrad_lm.recipes.lstm_lm import lm_loss

    model = LSTMLanguageModel(vocab)
    opt = tg.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        lm_loss(model, tokens)[0].backward()
        opt.step()
    return step


def _rnn_classifier_step(framework, batch=32):
    """One D3.M2 training step (forward, backward, SGD) on a batch of the digit task."""
    from tinygrad_lm.models.rnn import RNNClassifier
    from tinygrad_lm.recipes.rnn import digit_mean_task

    x, y = digit_mean_task(batch)
    if framework == "torch":
        import torch

        rnn, fc = torch.nn.RNN(10, 8, 2, batch_first=True), torch.nn.Linear(8, 2)
        opt = torch.optim.SGD(list(rnn.parameters()) + list(fc.parameters()), lr=0.01)
        xt, yt = torch.tensor(x), torch.tensor(y[:, -1])

        def step():
            opt.zero_grad()
            out, _ = rnn(xt)
            torch.nn.functional.cross_entropy(fc(out[:, -1]), yt).backward()
            opt.step()
        return step
    import tinygrad_lm as tg

    model = RNNClassifier()
    opt = tg.optim.SGD(model.parameters(), lr=0.01)
    xg = tg.tensor(x)

    def step():
        opt.zero_grad()
        model.loss(xg, y)[0].backward()
        opt.step()
    return step


def _both(step):
    """The (tinygrad, torch) builders of a model step."""
    return (lambda: step("tinygrad")), (lambda: step("torch"))


CASES = [
    Case("lstm layer T=100 B=32 in=16 H=32 fwd+bwd", *_lstm_layer(100, 32, 16, 32)),
    Case("lstm layer T=35 B=32 in=256 H=512 fwd+bwd", *_lstm_layer(35, 32, 256, 512)),
    Case("D1.M1 lstm classifier train step", *_both(_lstm_classifier_step)),
    Case("D0.M1 lstm language model train step", *_both(_lstm_lm_step)),
    Case("D3.M2 rnn classifier train step", *_both(_rnn_classifier_step)),
]
