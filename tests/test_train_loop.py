"""train.loop.Trainer: epochs or steps, running means, clipping, the schedule, early stopping, a custom
callback, and checkpoint / resume ending where an unbroken run ends."""
import argparse

import numpy as np
import pytest

import tinygrad_lm as tg
from tinygrad_lm import nn, ops, optim
from tinygrad_lm.data import DataLoader, TensorDataset
from tinygrad_lm.train.loop import Callback, Trainer
from tinygrad_lm.train.regularization import EarlyStopping
from tinygrad_lm.train.run_dir import Run


def _data(n=38, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, (x @ np.array([1.0, -2.0, 0.5], dtype=np.float32) + 0.3)[:, None]


def mse(model, batch):
    return ops.mse_loss(model(batch[0]), batch[1])


def _setup(seed=0, lr=0.05, shuffle_seed=0):
    tg.manual_seed(seed)
    model = nn.Linear(3, 1)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    x, y = _data()
    return model, optimizer, DataLoader(TensorDataset(x, y), batch_size=10, shuffle=True, seed=shuffle_seed)


def _weights(model):
    return np.concatenate([p.numpy().ravel() for p in model.parameters()])


def test_epochs_and_steps_walk_the_same_batches():
    """3 epochs of 4 batches (the last one 8 samples) = 12 steps; the row's loss is the mean over samples."""
    model, opt, loader = _setup()
    seen = []

    def recording(model, batch):
        loss = mse(model, batch)
        seen.append((loss.item(), len(batch[0])))
        return loss
    history = Trainer(model, opt, recording, progress=False).fit(loader, epochs=3)
    assert len(history["loss"]) == 3 and len(seen) == 12
    first = np.array(seen[:4])
    np.testing.assert_allclose(history["loss"][0], (first[:, 0] * first[:, 1]).sum() / 38, rtol=1e-6)
    assert history["loss"][-1] < history["loss"][0]

    model2, opt2, loader2 = _setup()
    trainer = Trainer(model2, opt2, mse, progress=False, average="batches")
    h2 = trainer.fit(loader2, steps=12, eval_every=5)
    assert trainer.step == 12 and len(h2["loss"]) == 3  # rows after 5, 10 and 12 steps
    np.testing.assert_array_equal(_weights(model2), _weights(model))

    model3, opt3, loader3 = _setup()
    trainer = Trainer(model3, opt3, mse, progress=False)
    assert len(trainer.fit(loader3, epochs=3, max_steps=6)["loss"]) == 2 and trainer.step == 6


def test_steps_from_a_batch_function_and_argument_errors():
    model, opt, _ = _setup()
    x, y = _data()
    calls = []

    def batch():
        calls.append(1)
        return tg.tensor(x[:8]), tg.tensor(y[:8])
    history = Trainer(model, opt, mse, progress=False).fit(batch, steps=7, eval_every=3)
    assert len(calls) == 7 and len(history["loss"]) == 3
    with pytest.raises(ValueError, match="epochs or steps"):
        Trainer(model, opt, mse).fit(batch, epochs=1, steps=1)
    with pytest.raises(ValueError, match="eval_every"):
        Trainer(model, opt, mse).fit(batch, steps=3, eval_every=0)


def test_gradient_clipping_bounds_the_step():
    """SGD(lr 1) without momentum moves the weights by exactly the clipped gradient: norm 0.01."""
    tg.manual_seed(0)
    model = nn.Linear(3, 1)
    before = _weights(model)
    x, y = _data()
    batch = (tg.tensor(x), tg.tensor(y * 100))
    Trainer(model, optim.SGD(model.parameters(), lr=1.0), mse, clip_grad_norm=0.01,
            progress=False).fit(lambda: batch, steps=1)
    np.testing.assert_allclose(np.linalg.norm(_weights(model) - before), 0.01, rtol=1e-4)


def test_schedule_steps_once_per_step_and_evaluation_runs_in_eval_mode():
    model, opt, loader = _setup()
    schedule = optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    lrs, modes = [], []

    class Spy(Callback):
        def on_step_end(self, trainer, logs):
            lrs.append(trainer.optimizer.param_groups[0]["lr"])

    def evaluate():
        modes.append(model.training)
        return {"val_loss": 1.0}
    history = Trainer(model, opt, mse, scheduler=schedule, callbacks=[Spy()], progress=False).fit(
        loader, epochs=2, evaluate=evaluate)
    np.testing.assert_allclose(lrs, [0.05 / (1 + s) for s in range(1, 9)])
    assert modes == [False, False] and model.training and history["val_loss"] == [1.0, 1.0]


def test_early_stopping_and_a_custom_callback_stop_training():
    model, opt, loader = _setup()
    scores = iter([3.0, 2.0, 2.5, 2.4, 2.6, 1.0])
    stopper = EarlyStopping(patience=2, monitor="val_loss")
    history = Trainer(model, opt, mse, callbacks=[stopper], progress=False).fit(
        loader, epochs=6, evaluate=lambda: {"val_loss": next(scores)})
    assert history["val_loss"] == [3.0, 2.0, 2.5, 2.4] and stopper.best_epoch == 1

    class StopAtStep(Callback):
        def on_step_end(self, trainer, logs):
            return trainer.step == 6

    model, opt, loader = _setup()
    trainer = Trainer(model, opt, mse, callbacks=[StopAtStep()], progress=False)
    history = trainer.fit(loader, epochs=5)
    assert trainer.step == 6 and len(history["loss"]) == 2  # the stopped epoch still gets its row
    with pytest.raises(KeyError, match="accuracy"):
        Trainer(model, opt, mse, callbacks=[EarlyStopping(monitor="accuracy")], progress=False).fit(loader, epochs=1)


def _args(out, epochs, **kw):
    return argparse.Namespace(model="toy", out=str(out), epochs=epochs, resume=False, overwrite=False, **kw)


def _run_toy(out, epochs, resume=False, interrupt_at=None):
    """Adam, a cosine schedule, an unseeded loader (its order drawn from the checkpointed RNG)."""
    args = _args(out, epochs)
    args.resume = resume
    run = Run(args, out / "checkpoint.npz")
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = optim.Adam(model.parameters(), lr=0.01)
    x, y = _data()
    loader = DataLoader(TensorDataset(x, y), batch_size=10, shuffle=True)

    class Interrupt(Callback):
        def on_step_end(self, trainer, logs):
            if trainer.step == interrupt_at:
                raise KeyboardInterrupt

    trainer = Trainer(model, opt, mse, scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4 * len(loader)),
                      clip_grad_norm=1.0, run=run, meta={"note": "toy"}, callbacks=[Interrupt()], progress=False,
                      curves=out / "curves.png")
    return model, trainer.fit(loader, epochs=epochs)


def test_resume_ends_where_an_unbroken_run_ends(tmp_path):
    straight, history = _run_toy(tmp_path / "straight", 4)
    assert (tmp_path / "straight" / "curves.png").stat().st_size > 0
    with pytest.raises(KeyboardInterrupt):
        _run_toy(tmp_path / "broken", 4, interrupt_at=10)  # in epoch 3: the checkpoint holds 2 epochs
    resumed, resumed_history = _run_toy(tmp_path / "broken", 4, resume=True)
    np.testing.assert_allclose(_weights(resumed), _weights(straight), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(resumed_history["loss"], history["loss"], rtol=1e-6)
    meta = tg.train.checkpoint.read_checkpoint(tmp_path / "broken" / "checkpoint.npz")[1]
    assert (meta["epoch"], meta["note"], len(meta["history"]["loss"])) == (4, "toy", 4)


def test_keras_fit_runs_on_the_loop_and_takes_its_callbacks():
    model, _, _ = _setup()
    keras = tg.train.KerasModel(model).compile("sgd", "mse")
    x, y = _data()

    class StopAfterTwo(Callback):
        def on_epoch_end(self, trainer, logs):
            return trainer.epoch == 2
    history = keras.fit(x, y, epochs=5, batch_size=10, validation_split=0.2, verbose=0, callbacks=[StopAfterTwo()])
    assert history.epoch == [0, 1] and set(history.history) == {"loss", "val_loss"}
