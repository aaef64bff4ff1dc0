"""D2.T1 pre-training then fine-tuning with frozen layers; D3.T3 input-gradient saliency."""
import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.models.mlp import MLP
from tinygrad_lm.recipes.pipeline import fit, preprocess
from tinygrad_lm.train.metrics import evaluate
from tinygrad_lm.train.saliency import saliency


def test_fine_tuning_a_new_head_on_frozen_features():
    """Pre-train on digits 0-4, freeze the body, train a new head for digits 5-9: >= 85% on the test images of
    5-9 (chance 20%). Init and shuffling seeds 0-5 (the split fixed): 91.5-94.2%."""
    (x_train, y_train, x_test, y_test), _ = preprocess()
    old_tr, new_tr = y_train.numpy() < 5, y_train.numpy() >= 5
    new_te = y_test.numpy() >= 5
    tg.manual_seed(0)
    body = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
    pretrain = nn.Sequential(body, nn.Linear(128, 5))
    fit(pretrain, (x_train[old_tr], y_train[old_tr]), epochs=8)
    frozen = {k: v.clone() for k, v in body.state_dict().items()}
    body.requires_grad_(False)
    model = nn.Sequential(body, nn.Linear(128, 5))  # a fresh head; the body is shared, frozen
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    head_before = model[1].weight.numpy().copy()
    fit(model, (x_train[new_tr], y_train[new_tr] - 5), epochs=20)
    for k, v in body.state_dict().items():
        np.testing.assert_array_equal(v, frozen[k])  # frozen layers never move
    assert not np.array_equal(model[1].weight.numpy(), head_before)
    _, acc = evaluate(model, x_test[new_te], y_test[new_te] - 5)
    # features learned on 0-4 serve 5-9 (on this small task random frozen features do about as well: see the notebook)
    assert acc >= 0.85, acc
    x, y = x_train[new_tr][:8], y_train[new_tr][:8] - 5
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    assert body[0].weight.grad is None and model[1].weight.grad is not None


def test_saliency_of_a_linear_model_is_its_weight_row():
    tg.manual_seed(0)
    lin = nn.Linear(6, 3)
    x = tg.randn(4, 6)
    target = np.array([0, 2, 1, 2])
    np.testing.assert_allclose(saliency(lin, x, target), np.abs(lin.weight.numpy()[target]), rtol=1e-6)
    np.testing.assert_allclose(saliency(lin, x, target, absolute=False), lin.weight.numpy()[target], rtol=1e-6)


def test_saliency_equals_torch_autograd_and_leaves_the_model_as_it_was():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Dropout(0.5), nn.Linear(7, 3)).double()
    twin = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).double()
    twin.load_state_dict({k.replace("3.", "2."): torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 5))
    xt = torch.tensor(x, requires_grad=True)
    scores = twin(xt)
    pred = scores.argmax(1)
    scores.gather(1, pred[:, None]).sum().backward()
    np.testing.assert_allclose(saliency(model, tg.tensor(x)), xt.grad.abs().numpy(), rtol=1e-10)
    assert model.training and all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="class indices"):
        saliency(model, tg.tensor(x), [0, 1, 2, 3, 4])


def test_the_most_salient_pixels_matter_most_to_a_digits_classifier():
    """Deletion check: setting the 8 most salient pixels of each test digit to the training mean
    (0 after standardizing) lowers the predicted class's score far more than 8 random pixels."""
    (x_train, y_train, x_test, y_test), _ = preprocess()
    tg.manual_seed(0)
    model = fit(MLP(64, (64,), 10), (x_train, y_train), epochs=5)
    x = x_test.numpy()[:200]
    maps = saliency(model, x)
    pred = model(tg.tensor(x)).numpy().argmax(1)
    rows = np.arange(len(x))[:, None]

    def score_drop(cols):
        erased = x.copy()
        erased[rows, cols] = 0.0
        before, after = model(tg.tensor(x)).numpy(), model(tg.tensor(erased)).numpy()
        return (before - after)[np.arange(len(x)), pred].mean()

    top = np.argsort(-maps, axis=1)[:, :8]
    rand = np.random.default_rng(0).permuted(np.tile(np.arange(64), (len(x), 1)), axis=1)[:, :8]
    assert maps.shape == (200, 64) and score_drop(top) > 3 * score_drop(rand) > 0
