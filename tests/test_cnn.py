"""D3.M1 and D4.M1: shapes, lockstep training with PyTorch twins (float64, 20 steps), accuracy on
their real tasks, and the command line (progress, curves, checkpoint, resume)."""
import json

import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm import optim
from tinygrad_lm.cli import main
from tinygrad_lm.data import vision
from tinygrad_lm.models.cnn import CifarCNN, MnistCNN, mnist_loss, cifar_loss
from tinygrad_lm.recipes import cnn
from tinygrad_lm.recipes.cnn import load_data


class TorchCifarCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2, 2)
        self.fc1 = torch.nn.Linear(64 * 8 * 8, 128)
        self.fc2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class TorchMnistCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 3, 1)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, 1)
        self.pool = torch.nn.AdaptiveAvgPool2d(7)
        self.fc1 = torch.nn.Linear(64 * 7 * 7, 128)
        self.fc2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return torch.log_softmax(self.fc2(torch.relu(self.fc1(self.pool(x).flatten(1)))), dim=1)


def test_shapes_and_parameter_names():
    assert CifarCNN()(tg.randn(2, 3, 32, 32)).shape == (2, 10)
    out = MnistCNN()(tg.randn(2, 1, 28, 28))
    assert out.shape == (2, 10) and out.dtype == np.float32
    np.testing.assert_allclose(np.exp(out.numpy()).sum(axis=1), 1, rtol=1e-5)  # log-probabilities, once
    assert set(MnistCNN().state_dict()) == set(TorchMnistCNN().state_dict())
    assert set(CifarCNN().state_dict()) == set(TorchCifarCNN().state_dict())


@pytest.mark.parametrize("name", ["cifar", "mnist"])
def test_lockstep_with_torch_twin(name):
    """Same weights, same batches of real images, SGD as the documents give it: 20 losses equal to 1e-8 (float64:
    measured within 1e-15). And the loss on the images shown falls: after/before over init and batch seeds 0-4,
    0.990-0.996 (cifar, seeds 0-3; mnist, seeds 0, 1 and 4): every seed below 1, and float64, so the machine
    cannot move it. Comparing the mean of the last 5 batch losses with the first 5 instead was the batches' noise:
    0.989-1.002 over the same seeds."""
    tg.manual_seed(0)
    if name == "cifar":
        ours, theirs, loss_fn, torch_loss = CifarCNN().double(), TorchCifarCNN().double(), cifar_loss, \
            torch.nn.functional.cross_entropy
        x, y = vision.shapes(80, 10, seed=0)[:2]
        lr, momentum = 1e-3, 0.9
    else:
        ours, theirs, loss_fn, torch_loss = MnistCNN().double(), TorchMnistCNN().double(), mnist_loss, \
            torch.nn.functional.nll_loss
        x, y = vision.digits28()[:2]
        lr, momentum = 0.01, 0.0
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    opt = optim.SGD(ours.parameters(), lr=lr, momentum=momentum)
    topt = torch.optim.SGD(theirs.parameters(), lr=lr, momentum=momentum)
    x = x.astype(np.float64)
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(x), 8, replace=False) for _ in range(20)]
    seen = np.unique(np.concatenate(batches))
    with tg.no_grad():
        before = loss_fn(ours(tg.tensor(x[seen])), tg.tensor(y[seen])).item()
    losses = []
    for idx in batches:
        loss = loss_fn(ours(tg.tensor(x[idx])), tg.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = torch_loss(theirs(torch.tensor(x[idx])), torch.tensor(y[idx]))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        losses.append((loss.item(), tloss.item()))
    ours_l, theirs_l = np.array(losses).T
    np.testing.assert_allclose(ours_l, theirs_l, rtol=0, atol=1e-8)
    with tg.no_grad():  # and it learns: the loss on the images it was shown falls
        assert loss_fn(ours(tg.tensor(x[seen])), tg.tensor(y[seen])).item() < before


def train_cli(tmp_path, *args):
    main(["train", *args, "--out", str(tmp_path), "--no-progress"])
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "checkpoint.npz").exists()
    return json.loads((tmp_path / "result.json").read_text())


@pytest.mark.slow
def test_mnist_cnn_learns_digits(tmp_path):
    """D4.M1 on scikit-learn's digits resized to 28x28, through the command line with its default recipe
    (SGD momentum 0.9, weight decay 5e-4, cosine schedule from lr 0.03, random crops) cut to 5 epochs, so the
    schedule still ends at a low rate: >= 92% on the 450 test images (one image is 0.22%). Seeds 0-4 of init,
    shuffling and crops: 95.3-96.2% (the former threshold 95% was within one or two images of the worst).
    The full 20-epoch default reaches 0.993-0.998 over seeds 0-2 (README)."""
    result = train_cli(tmp_path, "cnn-mnist", "--epochs", "5")
    assert result["test_accuracy"] >= 0.92, result


@pytest.mark.slow
def test_cifar_cnn_learns_generated_shapes(tmp_path):
    """D3.M1 with the inventory's SGD(1e-3, momentum 0.9) at the command line's batch 8 on the GENERATED
    shapes, cut to 3 of its 10 epochs: >= 0.4 on the 1,000 test images (chance: 0.1; it stays near chance for
    ~2 epochs at this small lr, then climbs; the full default run reaches ~0.97). Seeds 0-4 of init and
    shuffling: 0.528-0.586."""
    result = train_cli(tmp_path, "cnn-cifar", "--epochs", "3")
    assert "GENERATED" in result["data"] and result["test_accuracy"] >= 0.4, result


def test_cli_resume_continues_the_run_exactly(tmp_path, monkeypatch):
    """A run stopped after its first epoch and resumed ends with the same weights as one never stopped:
    the checkpoint carries the model, the momentum, the RNG and (through the step count) the cosine schedule."""
    args = ["cnn-cifar", "--train-size", "64", "--batch-size", "32", "--augment", "--schedule", "cosine",
            "--weight-decay", "1e-3", "--epochs", "2"]
    train_cli(tmp_path / "straight", *args)
    calls = []

    def stop_in_second_epoch(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_evaluate(*a, **k)
    real_evaluate = cnn.evaluate
    monkeypatch.setattr(cnn, "evaluate", stop_in_second_epoch)
    with pytest.raises(SystemExit) as info:  # Ctrl-C: one line naming the checkpoint, the shell's status 130
        train_cli(tmp_path / "resumed", *args)
    assert info.value.code == 130
    monkeypatch.setattr(cnn, "evaluate", real_evaluate)
    train_cli(tmp_path / "resumed", *args, "--resume")
    z1, z2 = np.load(tmp_path / "straight" / "checkpoint.npz"), np.load(tmp_path / "resumed" / "checkpoint.npz")
    history = json.loads(bytes(z2["meta"]).decode())["history"]
    assert len(history["loss"]) == 2
    for k in z1.files:
        if k.startswith("model/"):
            np.testing.assert_allclose(z2[k], z1[k], rtol=1e-6, atol=1e-7, err_msg=k)
    with pytest.raises(SystemExit):
        main(["train", "cnn-mnist", "--lr", "0", "--out", str(tmp_path)])


def test_load_data_normalizes_with_training_statistics():
    split, what = load_data("cnn-mnist", "digits")
    assert "28x28" in what
    np.testing.assert_allclose(split.x_train.mean(), 0, atol=1e-4)
    np.testing.assert_allclose(split.x_train.std(), 1, atol=1e-3)
