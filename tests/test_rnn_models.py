"""D1.M1, D3.M2 and D0.M1 in lockstep with PyTorch twins (float64, 20 steps, losses equal to 1e-8),
the language model's validation loss beside its twin's, the stated accuracy, and the CLI."""
import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm.models import rnn
from tinygrad_lm.recipes import lstm_classifier
from tinygrad_lm.recipes import rnn as rnn_recipe
from tinygrad_lm.models.lstm_lm import LSTMLanguageModel
from tinygrad_lm.recipes import lstm_lm


def _load(twin, ours):
    twin.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})


class ClassifierTwin(torch.nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.embedding, self.lstm, self.fc = (torch.nn.Embedding(vocab, 16), torch.nn.LSTM(16, 32, batch_first=True),
                                              torch.nn.Linear(32, 1))

    def forward(self, x):
        return torch.sigmoid(self.fc(self.lstm(self.embedding(x))[1][0][-1]))


def test_d1m1_lockstep_with_torch():
    (x, y), _, _ = lstm_classifier.prepare(num_words=200, maxlen=30)
    model = lstm_classifier.build(200)
    model.module.double()
    model.compile("adam", "binary_crossentropy", ["accuracy"])  # the optimizer over the float64 parameters
    twin = ClassifierTwin(200).double()
    _load(twin, model.module)
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3, eps=1e-7)
    for step in range(20):
        xb, yb = x[step * 8:(step + 1) * 8], y[step * 8:(step + 1) * 8].astype(np.float64)
        ours, _ = model.train_step(tg.tensor(xb), tg.tensor(yb))
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(twin(torch.tensor(xb))[:, 0], torch.tensor(yb))
        loss.backward()
        opt.step()
        assert abs(ours - loss.item()) < 1e-8, step


@pytest.mark.parametrize("per_step", [False, True])
def test_d3m2_lockstep_with_torch(per_step):
    x, y = rnn_recipe.digit_mean_task(160)
    x = x.astype(np.float64)
    model = rnn.RNNClassifier(per_step=per_step).double()
    trnn, tfc = torch.nn.RNN(10, 8, 2, batch_first=True).double(), torch.nn.Linear(8, 2).double()
    trnn.load_state_dict({k[4:]: torch.tensor(v.numpy()) for k, v in model.state_dict().items() if k.startswith("rnn.")})
    tfc.load_state_dict({k[3:]: torch.tensor(v.numpy()) for k, v in model.state_dict().items() if k.startswith("fc.")})
    opt = tg.optim.SGD(model.parameters(), lr=0.01)
    topt = torch.optim.SGD(list(trnn.parameters()) + list(tfc.parameters()), lr=0.01)
    for step in range(20):
        xb, yb = x[step * 8:(step + 1) * 8], y[step * 8:(step + 1) * 8]
        opt.zero_grad()
        loss, _ = model.loss(tg.tensor(xb), yb)
        loss.backward()
        opt.step()
        topt.zero_grad()
        out = tfc(trnn(torch.tensor(xb))[0])
        tl = (torch.nn.functional.cross_entropy(out.reshape(-1, 2), torch.tensor(yb).reshape(-1)) if per_step
              else torch.nn.functional.cross_entropy(out[:, -1], torch.tensor(yb[:, -1])))
        tl.backward()
        topt.step()
        assert abs(loss.item() - tl.item()) < 1e-8, step


class LMTwin(torch.nn.Module):
    def __init__(self, vocab, emb, hidden, layers, dropout):
        super().__init__()
        self.embedding, self.dropout = torch.nn.Embedding(vocab, emb), torch.nn.Dropout(dropout)
        self.lstm = torch.nn.LSTM(emb, hidden, layers, dropout=dropout, batch_first=True)
        self.fc = torch.nn.Linear(hidden, vocab)

    def forward(self, x):
        return self.fc(self.lstm(self.dropout(self.embedding(x)))[0])


def _twin_loss(twin, batch):
    logits = twin(torch.tensor(batch[:, :-1]))
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.tensor(batch[:, 1:]).reshape(-1))


def test_d0m1_lockstep_with_torch():
    train_w, _, vocab = lstm_lm.corpus(vocab_size=300, seq_len=12)
    model = LSTMLanguageModel(len(vocab), 16, 24, 2, dropout=0.0).double()
    twin = LMTwin(len(vocab), 16, 24, 2, 0.0).double()
    _load(twin, model)
    opt, topt = tg.optim.Adam(model.parameters(), lr=1e-3), torch.optim.Adam(twin.parameters(), lr=1e-3)
    for step in range(20):
        batch = train_w[step * 8:(step + 1) * 8]
        opt.zero_grad()
        loss, _ = lstm_lm.lm_loss(model, batch)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tl = _twin_loss(twin, batch)
        tl.backward()
        topt.step()
        assert abs(loss.item() - tl.item()) < 1e-8, step


@pytest.mark.slow
def test_d0m1_validation_loss_within_two_percent_of_torch():
    """Same init, same batches, each framework its own dropout masks: after 60 steps (float32) the
    validation losses agree within 2%, and both are far below the uniform guess log(vocab). Init, batch and
    mask seeds 0-4: 0.007-0.20% apart (the masks differ, so this is a statistical bound, not rounding), ours at
    74.6-75.2% of log(vocab) (threshold 80%)."""
    tg.manual_seed(0)
    torch.manual_seed(0)
    train_w, val_w, vocab = lstm_lm.corpus(vocab_size=500, seq_len=16)
    model = LSTMLanguageModel(len(vocab), 16, 32, 2, dropout=0.2)
    twin = LMTwin(len(vocab), 16, 32, 2, 0.2)
    _load(twin, model)
    hist = lstm_lm.fit(model, train_w, val_w, epochs=1, batch_size=16, lr=3e-3, max_steps=60, log=None)
    topt = torch.optim.Adam(twin.parameters(), lr=3e-3)
    order = np.random.default_rng([0, 0]).permutation(len(train_w))  # the loader's first-epoch order (seed 0)
    for step in range(60):
        topt.zero_grad()
        _twin_loss(twin, train_w[order[step * 16:(step + 1) * 16]]).backward()
        topt.step()
    twin.eval()
    with torch.no_grad():
        theirs = float(np.mean([_twin_loss(twin, val_w[s:s + 64]).item() * val_w[s:s + 64, 1:].size
                                for s in range(0, len(val_w), 64)]) * len(range(0, len(val_w), 64))
                       / val_w[:, 1:].size)
    ours = hist["val_loss"][-1]
    assert abs(ours - theirs) / theirs < 0.02, (ours, theirs)
    assert ours < 0.8 * np.log(len(vocab))


@pytest.mark.slow
def test_d3m2_reaches_stated_accuracy():
    """SGD(0.01, momentum 0.9) for 11 epochs, then 4 at lr 1e-3: > 85% on 500 held-out sequences (chance 50%).
    Init and shuffling seeds 0-5: 92.4-95.0%. The former 10 epochs without the lower rate gave 86.8-95.0%."""
    tg.manual_seed(0)
    x, y = rnn_recipe.digit_mean_task(2000)
    xt, yt = rnn_recipe.digit_mean_task(500, seed=1)
    model = rnn.RNNClassifier()
    rnn_recipe.fit(model, x, y, epochs=11, momentum=0.9, log=None)
    rnn_recipe.fit(model, x, y, epochs=4, lr=1e-3, momentum=0.9, seed=1, log=None)
    assert rnn_recipe.accuracy(model, xt, yt) > 0.85


@pytest.mark.slow
def test_d1m1_reaches_stated_accuracy():
    """The inventory's model on the docs task, batch 32: 6 epochs at the default lr 3e-3, then 9 at 1e-3: > 75% on
    the 133 test paragraphs (majority class 59%; one paragraph is 0.75%). Init and shuffling seeds 0-5: 83.5-88.0%.
    The default 10 epochs at 3e-3 alone are left to the trajectory: 58.6-90.2% over the same seeds (seed 1 falls
    back to the majority class at epoch 7, from 82.7%)."""
    tg.manual_seed(0)
    (x, y), (xt, yt), _ = lstm_classifier.prepare()
    model = lstm_classifier.build()
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    for group in model.optimizer.param_groups:
        group["lr"] = 1e-3
    model.fit(x, y, epochs=9, batch_size=32, verbose=0)
    assert model.evaluate(xt, yt)[1] > 0.75


def test_d3f3_run_cell_over_a_sequence():
    cell = tg.nn.LinearRecurrentCell(4, 6)
    ys, hs = rnn.run_cell(cell, tg.randn(5, 3, 4))
    assert ys.shape == (5, 3, 4) and hs.shape == (5, 3, 6)


def test_cli_train_and_generate(tmp_path, capsys):
    from tinygrad_lm.cli import main

    out = str(tmp_path / "lm")
    main(["train", "lstm-lm", "--epochs", "1", "--train-windows", "48", "--vocab-size", "200", "--embedding-dim", "8",
          "--hidden-size", "8", "--num-layers", "1", "--seq-len", "8", "--out", out])
    main(["generate", "lstm-lm", "--out", out, "--prompt", "the if statement", "--max-new-tokens", "5"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("the if statement")
    main(["train", "rnn-classifier", "--epochs", "1", "--samples", "64", "--out", str(tmp_path / "rnn")])
    assert "test accuracy" in capsys.readouterr().out
    main(["train", "lstm-classifier", "--epochs", "1", "--maxlen", "20", "--no-progress", "--out",
          str(tmp_path / "lc")])
    assert "test accuracy" in capsys.readouterr().out
