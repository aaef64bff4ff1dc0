"""The one training loop of the recipes and of the Keras-style ``fit``.

    trainer = Trainer(model, optimizer, lambda model, batch: ops.cross_entropy(model(batch[0]), batch[1]),
                      scheduler=CosineAnnealingLR(optimizer, T_max=10 * len(loader)), clip_grad_norm=1.0,
                      callbacks=[EarlyStopping(monitor="val_loss", patience=3)],
                      run=Run(args), curves="runs/mlp/curves.png")
    history = trainer.fit(loader, epochs=10, evaluate=lambda: {"val_loss": test_loss(model)})

A step: ``optimizer.zero_grad()``, ``loss_fn(model, batch)`` (a loss Tensor, or ``(loss, {"accuracy": ...})``
with metrics that are means over the batch), ``backward()``, gradient clipping, ``optimizer.step()``,
``scheduler.step()`` (schedules count steps). Training runs for ``epochs`` passes over ``data`` (an
iterable of batches; a ``set_epoch`` method is called before each pass, so a seeded DataLoader resumes
with the same order), cut short by ``max_steps``; or for ``steps`` steps, ``data`` being an iterable
that is passed over again and again or a function returning the next batch.

Every ``eval_every`` epochs (or steps, with ``steps``) and at the end, a row goes into the history: the
running means of the loss and the batch metrics since the last row, updated by ``evaluate()`` (run in
eval mode without a graph), then the run's checkpoint is written (``run``: a ``train.run_dir.Run``;
``--resume`` continues from the last row, the scheduler fast-forwarded by the step count). At the end
the curves are drawn (``curves``: a PNG path). Under MPI (``comm``, by default the communicator the process
was started with: ``--distributed mpi``) each rank takes its slice of every batch (each element split along
its first dimension) and the gradients are all-reduced after ``backward`` with the weights n_r / N, the loss
and metrics with them, so every rank takes the full batch's step; rank 0 alone shows progress and writes
the checkpoint and the curves. In steps mode an "epoch" of the callbacks is the
``eval_every`` steps between rows, and a resumed run's rows land on the same multiples of ``eval_every`` as an
unbroken run's. A callback hook that returns True stops training; the row of the steps taken so far is
still written. ``train_step(batch)`` is one step on its own.

The progress bar's clock starts after the first step, which compiles the Numba kernels (seconds), so its
rate and time left are those of the steps that follow. Ctrl-C ends ``fit`` with ``TrainingInterrupted`` (a
KeyboardInterrupt) whose message names the step and the last checkpoint.
"""
from __future__ import annotations

import itertools

from tqdm import tqdm

from ..autograd import no_grad
from ..distributed import allreduce_gradients, shard, world
from ..nn.utils import clip_grad_norm_
from ..tensor import Tensor
from .history import plot_history


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``Trainer.fit``; the message says where training stopped and what was saved."""


class Callback:
    """Hooks of ``Trainer.fit``; ``trainer`` has ``model``, ``optimizer``, ``epoch``, ``step`` and ``history``.
    ``on_train_begin`` runs once, after a resumed run is restored; ``logs`` are the running means
    (``on_step_end``) or the history's new row (``on_epoch_end``). Returning True from ``on_step_end`` or
    ``on_epoch_end`` stops training."""

    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_begin(self, trainer) -> None:
        pass

    def on_step_end(self, trainer, logs: dict):
        return False

    def on_epoch_end(self, trainer, logs: dict):
        return False


class Trainer:
    """See the module docstring. ``average='batches'`` makes the running loss a mean over batches
    instead of samples (a batch has ``len(batch[0])`` samples, or ``len(batch)`` if it is not a tuple, or 1
    if that has no length); ``meta`` goes into every checkpoint; ``log`` prints each row; ``desc`` names the
    progress bar; ``device`` ('cpu' or 'cuda') is where the steps run (the model and the batches' tensors are
    moved there; evaluations run, and ``fit`` returns the model, on the CPU, where the data is); ``comm``
    is the data-parallel communicator (default: ``distributed.world()``, None on a process of its own)."""

    def __init__(self, model, optimizer, loss_fn, *, scheduler=None, clip_grad_norm=None, callbacks=(), run=None,
                 meta=None, curves=None, title="", progress=True, desc="train", log=False, average="samples",
                 device=None, comm=None):
        if average not in ("samples", "batches"):
            raise ValueError(f"Trainer: average must be 'samples' or 'batches', got {average!r}")
        self.model, self.optimizer, self.loss_fn, self.scheduler = model, optimizer, loss_fn, scheduler
        self.clip_grad_norm, self.callbacks, self.run, self.meta = clip_grad_norm, list(callbacks), run, meta or {}
        self.curves, self.title, self.progress, self.desc, self.log = curves, title, progress, desc, log
        self.average, self.device = average, device
        self.comm = comm if comm is not None else world()
        self.is_main = self.comm is None or self.comm.rank == 0
        self.epoch = self.step = 0
        self.history: dict[str, list] = {}
        self.rows_at: list[int] = []  # the epoch or step count of each history row: the curves' x
        self.saved_at = None  # (unit, count) of the last checkpoint written

    def train_step(self, batch):
        """One optimizer step on ``batch``: (loss as a float, the batch's metrics)."""
        self.model.train()
        self.optimizer.zero_grad()
        batch, weight = self._shard(batch)
        if self.device is not None:
            batch = type(batch)(_moved(b, self.device) for b in batch) if isinstance(batch, (tuple, list)) \
                else _moved(batch, self.device)
        out = self.loss_fn(self.model, batch)
        loss, metrics = out if isinstance(out, tuple) else (out, {})
        loss.backward()
        if self.comm is not None:  # every rank now holds the full batch's gradient, loss and metrics
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            values = [loss.item(), *map(float, metrics.values())]
            loss, *values = allreduce_gradients(params, self.comm, weight, values)
            metrics = dict(zip(metrics, values, strict=True))
        if self.clip_grad_norm is not None:
            clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        return float(loss if self.comm is not None else loss.item()), metrics

    def write(self, line: str) -> None:
        """Print ``line`` on stdout above the progress bar (rank 0 alone)."""
        if self.is_main:
            tqdm.write(line)

    def _shard(self, batch):
        """This rank's slice of ``batch`` and its share n_r / N of the samples (the whole batch, 1.0, alone)."""
        if self.comm is None:
            return batch, 1.0
        parts = list(batch) if isinstance(batch, (tuple, list)) else [batch]
        n = len(parts[0])
        if n < self.comm.world_size or any(len(p) != n for p in parts):
            raise ValueError(f"Trainer: a batch of {[tuple(getattr(p, 'shape', (len(p),))) for p in parts]} cannot "
                             f"be split over {self.comm.world_size} ranks: every element needs the same first "
                             f"dimension, at least one sample per rank")
        part = shard(n, self.comm.rank, self.comm.world_size)
        parts = [p[part] for p in parts]
        return (type(batch)(parts) if isinstance(batch, (tuple, list)) else parts[0]), (part.stop - part.start) / n

    def fit(self, data, epochs=None, steps=None, *, max_steps=None, evaluate=None, eval_every=1, initial_epoch=0):
        """Train (see the module docstring); returns the history {'loss': [...], 'val_loss': [...], ...}."""
        if (epochs is None) == (steps is None):
            raise ValueError("Trainer.fit: give epochs or steps (not both)")
        if eval_every < 1 or (epochs or steps) < 1:
            raise ValueError(f"Trainer.fit: epochs/steps and eval_every must be >= 1, got {epochs or steps}, "
                             f"{eval_every}")
        if self.device is not None:
            self.model.to(self.device)
        self._resume(data, epochs, initial_epoch)
        by_steps = steps is not None
        last = steps if by_steps else min(epochs * len(data), max_steps or epochs * len(data))
        batches = self._batches(data) if by_steps else None
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            with tqdm(total=max(last - self.step, 0), desc=self.desc, unit="step", dynamic_ncols=True,
                      disable=not (self.progress and self.is_main)) as bar:
                while self.step < last and (by_steps or self.epoch < epochs):
                    if by_steps:  # to the next multiple of eval_every, as an unbroken run
                        period = min(eval_every - self.step % eval_every, last - self.step)
                        stop = self._period(bar, itertools.islice(batches, period))
                        self.epoch += 1
                    else:
                        passes = min(eval_every, epochs - self.epoch)
                        stop = self._period(bar, itertools.islice(self._passes(data, passes), last - self.step))
                        self.epoch += passes
                    if self._record(bar, evaluate, by_steps, steps or epochs) or stop:
                        break
        except KeyboardInterrupt:
            raise TrainingInterrupted(self._interrupted()) from None
        self._on_cpu()
        if self.curves is not None and self.is_main:
            fig = plot_history(self.history, self.curves, self.title, unit="step" if by_steps else "epoch",
                               x=self.rows_at)
            import matplotlib.pyplot as plt  # loaded by plot_history

            plt.close(fig)
        return self.history

    def _on_cpu(self) -> None:
        """The model back on the CPU after steps on ``device`` (the optimizer's state stays where it is)."""
        if self.device not in (None, "cpu"):
            self.model.to("cpu")

    def _interrupted(self) -> str:
        where = f"interrupted at step {self.step}"
        if self.run is None:
            return where
        if self.saved_at is None and not self.run.resume:
            return f"{where}, before the first checkpoint ({self.run.path} not written)"
        saved = f" ({self.saved_at[0]} {self.saved_at[1]})" if self.saved_at else ""
        return f"{where}; the last checkpoint is {self.run.path}{saved}; --resume continues from it"

    def _passes(self, data, passes):
        """The batches of ``passes`` passes over ``data``, ``set_epoch`` before each."""
        for k in range(passes):
            if hasattr(data, "set_epoch"):
                data.set_epoch(self.epoch + k)
            yield from data

    def _batches(self, data):
        """Steps mode: ``data()`` forever, or ``data`` passed over again and again from where the step count is."""
        if callable(data) and not hasattr(data, "__iter__"):
            while True:
                yield data()
        epoch, skip = divmod(self.step, len(data))
        while True:
            if hasattr(data, "set_epoch"):
                data.set_epoch(epoch)
            yield from itertools.islice(data, skip, None)
            epoch, skip = epoch + 1, 0

    def _period(self, bar, batches) -> bool:
        """Train on ``batches``, keeping running means in ``self._logs``; True when a callback stops training."""
        for cb in self.callbacks:
            cb.on_epoch_begin(self)
        sums, count, self._logs = {}, 0, {}
        for batch in batches:
            loss, metrics = self.train_step(batch)
            n = 1 if self.average == "batches" else _samples(batch)
            count += n
            for k, v in {"loss": loss, **metrics}.items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
            self._logs = {k: s / count for k, s in sums.items()}
            if bar.n == 0 and not bar.disable:  # the first step compiled the kernels: the clock starts after it
                bar.reset(bar.total)
                bar.initial = bar.n = bar.last_print_n = 1
            else:
                bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", refresh=bar.n == 1)
            if any([cb.on_step_end(self, dict(self._logs)) for cb in self.callbacks]):
                return True
        return False

    def _record(self, bar, evaluate, by_steps, total) -> bool:
        """A history row, the checkpoint and the curves; True when a callback stops training."""
        logs = dict(self._logs)
        if evaluate is not None:
            self.model.eval()
            self._on_cpu()  # evaluations build their tensors from the data, on the CPU
            with no_grad():
                logs.update(evaluate())
            self.model.train()
            if self.device is not None:
                self.model.to(self.device)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)
        self.rows_at.append(self.step if by_steps else self.epoch)
        if self.log and self.is_main:
            where = f"step {self.step}/{total}" if by_steps else f"epoch {self.epoch}/{total}"
            bar.write(f"{where}: " + "  ".join(f"{k} {v:.4f}" for k, v in logs.items()))
        stop = any([cb.on_epoch_end(self, logs) for cb in self.callbacks])
        if self.run is not None:
            where = {"step": self.step} if by_steps else {"epoch": self.epoch}  # epochs: the step count follows
            self.run.save(self.model, self.optimizer, **where, history=self.history, rows_at=self.rows_at,
                          **self.meta)
            self.saved_at = next(iter(where.items()))
        return stop

    def _resume(self, data, epochs, initial_epoch) -> None:
        """Start from the run's checkpoint (if it resumes) or from ``initial_epoch``."""
        saved = self.run.restore(self.model, self.optimizer) if self.run is not None else None
        self.history = saved["history"] if saved else {}
        rows = len(next(iter(self.history.values()), []))
        self.rows_at = list(saved.get("rows_at", range(1, rows + 1))) if saved else []
        self.epoch = saved.get("epoch", rows) if saved else initial_epoch
        self.step = self.epoch * len(data) if epochs else (saved or {}).get("step", 0)
        if self.scheduler is not None and self.step:  # schedules are closed forms of the step count
            self.scheduler.last_epoch = self.step - 1
            self.scheduler.step()


def _samples(batch) -> int:
    """The samples of a batch: the length of its first element (or of itself), 1 for what has no length."""
    first = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    try:
        return len(first)
    except TypeError:  # a number, a 0-d array, an object of no length
        return 1


def _moved(x, device):
    """A batch element on ``device`` (Tensors move; labels and other values stay as they are)."""
    return x.to(device) if isinstance(x, Tensor) else x
