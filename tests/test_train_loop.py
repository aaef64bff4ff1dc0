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


def test_interrupt_names_the_step_and_the_last_checkpoint(tmp_path):
    """Ctrl-C is TrainingInterrupted (a KeyboardInterrupt), its message the step and the checkpoint to resume."""
    from tinygrad_lm.train.loop import TrainingInterrupted

    with pytest.raises(TrainingInterrupted) as info:
        _run_toy(tmp_path, 4, interrupt_at=10)
    assert str(info.value) == (f"interrupted at step 10; the last checkpoint is {tmp_path / 'checkpoint.npz'} "
                               f"(epoch 2); --resume continues from it")


def test_on_train_begin_runs_once_after_the_resume(tmp_path):
    _run_toy(tmp_path, 2)
    seen = []

    class Begin(Callback):
        def on_train_begin(self, trainer):
            seen.append((trainer.epoch, len(trainer.history["loss"])))
    model, opt, loader = _setup()
    run = Run(argparse.Namespace(**{**vars(_args(tmp_path, 3)), "resume": True}), tmp_path / "checkpoint.npz")
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    Trainer(model, optim.Adam(model.parameters()), mse, run=run, callbacks=[Begin()], progress=False).fit(
        loader, epochs=3)
    assert seen == [(2, 2)]


def test_samples_average_counts_a_batch_without_length_as_one():
    """average='samples' took len(batch[0]): a batch whose first element is a number crashed."""
    model, opt, _ = _setup()
    x, y = _data()
    seen = []

    def loss_fn(model, batch):
        k, _ = batch
        seen.append(k)
        return mse(model, (tg.tensor(x[k:k + 4]), tg.tensor(y[k:k + 4])))
    history = Trainer(model, opt, loss_fn, progress=False).fit([(0, None), (4, None)], epochs=1)
    assert seen == [0, 4] and len(history["loss"]) == 1


def _steps_run(out, steps, resume=False):
    args = argparse.Namespace(model="toy", out=str(out), steps=steps, resume=resume, overwrite=False)
    tg.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = _data()
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.05), mse, run=Run(args, out / "checkpoint.npz"),
                      progress=False)
    trainer.fit(DataLoader(TensorDataset(x, y), batch_size=10), steps=steps, eval_every=4)
    return trainer


def test_resumed_steps_run_records_on_the_boundaries_of_an_unbroken_run(tmp_path):
    """After a run cut at step 5 (rows at 4 and 5), the resumed rows land on 8 and 10 as an unbroken run's,
    not on 9 (5 + 4)."""
    assert _steps_run(tmp_path / "straight", 10).rows_at == [4, 8, 10]
    _steps_run(tmp_path / "broken", 5)
    resumed = _steps_run(tmp_path / "broken", 10, resume=True)
    assert resumed.rows_at == [4, 5, 8, 10] and len(resumed.history["loss"]) == 4


def test_the_curves_are_drawn_in_the_loops_unit(tmp_path, monkeypatch):
    import tinygrad_lm.train.loop as loop

    drawn = []
    real = loop.plot_history
    monkeypatch.setattr(loop, "plot_history", lambda *a, **kw: drawn.append(kw) or real(*a, **kw))
    model, opt, loader = _setup()
    Trainer(model, opt, mse, progress=False, curves=tmp_path / "a.png").fit(loader, steps=6, eval_every=4)
    Trainer(model, opt, mse, progress=False, curves=tmp_path / "b.png").fit(loader, epochs=1)
    assert [(d["unit"], d["x"]) for d in drawn] == [("step", [4, 6]), ("epoch", [1])]
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")


def test_plot_history_tells_the_truth():
    """x labelled in its unit, at the rows' positions; one point shows a marker; validation beside training;
    a long title wrapped, not clipped."""
    from tinygrad_lm.train.history import plot_history

    fig = plot_history({"loss": [1.0], "val_loss": [1.5], "val_accuracy": [0.5]}, unit="step", x=[200],
                       title="a title " * 30)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_xlabel() == "step" and acc_ax.get_xlabel() == "step"
    train, val = loss_ax.get_lines()
    assert train.get_marker() == "o" and list(train.get_xdata()) == [200] and val.get_label() == "validation loss"
    assert [line.get_label() for line in acc_ax.get_lines()] == ["validation accuracy"]
    assert "\n" in fig._suptitle.get_text()
    assert all(tick == int(tick) for tick in loss_ax.get_xticks())  # no epoch 0.96
    one = plot_history({"loss": [1.0], "val_loss": [1.5]}).axes[0]  # one epoch: whole-number ticks around it
    assert all(tick == int(tick) for tick in one.get_xticks()) and 1 in one.get_xticks()
    many = plot_history({"loss": list(range(100))})
    assert many.axes[0].get_xlabel() == "epoch" and many.axes[0].get_lines()[0].get_marker() in (None, "None", "")


def test_device_moves_the_model_for_the_steps_and_back_for_evaluation(monkeypatch):
    """--device cuda: the steps run on the device (model and batch tensors moved there), every evaluation and
    the model that fit returns on the CPU, where the recipes' data is. (The moves are recorded, not made, so
    this runs without a GPU.)"""
    model, opt, loader = _setup()
    moves = []
    monkeypatch.setattr(nn.Module, "to", lambda self, device=None, dtype=None: moves.append(("model", device)) or self)
    monkeypatch.setattr(tg.Tensor, "to", lambda self, device=None, dtype=None: moves.append(("batch", device)) or self)

    def evaluate():
        moves.append(("evaluate", None))
        return {}
    Trainer(model, opt, mse, device="cuda", progress=False).fit(loader, epochs=1, evaluate=evaluate)
    assert moves[0] == ("model", "cuda") and moves[1:3] == [("batch", "cuda")] * 2
    assert moves[-4:] == [("model", "cpu"), ("evaluate", None), ("model", "cuda"), ("model", "cpu")]
