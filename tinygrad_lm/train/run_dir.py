"""Run folders of the ``train`` commands: one checkpoint per folder, never overwritten or resumed by accident.

Every check happens before any data is loaded or any step is taken: the folder must be writable;
a folder that holds a checkpoint needs ``--resume`` or ``--overwrite``; ``--resume`` needs a
checkpoint, whole and of this model; a flag that shapes the model, the data or the random stream
cannot change on ``--resume`` (refused, naming it), any other change (``--epochs``, ``--lr``,
``--batch-size``...) is applied from the resumed step on and recorded in the checkpoint and the result.

``--distributed mpi`` (under ``mpirun -n N``) makes the run data-parallel over N ranks: the Trainer
all-reduces every step, every rank reads the checkpoint on ``--resume`` (the folder must be on a file
system that every machine sees), and rank 0 alone writes the checkpoint and the result.
"""
from __future__ import annotations

import json
import os
import tempfile

from .. import backend, distributed

from .checkpoint import load_checkpoint, read_checkpoint, save_checkpoint, write_json_atomic


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (a checkpoint in the way, none to resume, not writable)."""


# flags that say where and how to show a run, not what it computes
_NOT_HYPERPARAMETERS = {"command", "out", "resume", "overwrite", "no_progress", "device", "root", "download",
                        "distributed"}


class Run:
    """A ``train`` command's output folder, checked on construction (see the module's docstring).

    ``fixed`` names the flags (argparse dests) that cannot change on ``--resume``; ``saved`` is the
    checkpoint's metadata when resuming, else None.
    """

    def __init__(self, args, checkpoint=None, fixed=()):
        self.args = args
        self.path = os.fspath(checkpoint) if checkpoint is not None else os.path.join(args.out, "checkpoint.npz")
        self.folder = os.path.dirname(os.path.abspath(self.path))
        self.curves = os.path.join(self.folder, "curves.png")
        if getattr(args, "device", "cpu") == "cuda" and not backend.gpu_available():
            raise RuntimeError("--device cuda: CuPy or an NVIDIA GPU is not available here; train with --device cpu, "
                               "or install the extra tinygrad-lm[gpu] on a machine with a GPU")
        self.resume = getattr(args, "resume", False)
        launched = int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1")))
        if launched > 1 and getattr(args, "distributed", "none") == "none":
            raise RunFolderError(f"started by mpirun as {launched} processes without --distributed mpi: each would "
                                 f"train alone and write the same folder; pass --distributed mpi")
        self.comm = distributed.init(getattr(args, "distributed", "none"))
        _check_writable(self.folder)
        exists = os.path.lexists(self.path)
        if self.resume and not exists:
            raise RunFolderError(f"--resume: there is no checkpoint at {self.path} to continue; "
                                 f"run without --resume to start a new run")
        if exists and not self.resume and not args.overwrite:
            how = "--resume to continue it or --overwrite" if hasattr(args, "resume") else "--overwrite"
            raise RunFolderError(f"{self.folder} already holds a run ({os.path.basename(self.path)}); pass {how} "
                                 f"to start over, or choose another output folder")
        self.saved, self.changes = None, []
        if self.resume:
            _, self.saved = read_checkpoint(self.path)
            if not isinstance(self.saved.get("args"), dict):
                raise RunFolderError(f"--resume: {self.path} was not written by a train command (it holds no run "
                                     f"record); pass --overwrite to start over")
            self.changes = list(self.saved.get("changes", []))
            self._compare(self.saved.get("args", {}), set(fixed) | {"model"})

    def _compare(self, saved: dict, fixed: set) -> None:
        now = json.loads(json.dumps(vars(self.args)))  # as the checkpoint holds them (tuples as lists)
        changed = {k: (saved[k], v) for k, v in now.items()
                   if k in saved and saved[k] != v and k not in _NOT_HYPERPARAMETERS}
        refused = [k for k in changed if k in fixed]
        for total, done in (("epochs", "epoch"), ("steps", "step")):  # a shorter run cannot undo training
            if total in now and done in self.saved and now[total] < self.saved[done]:
                raise RunFolderError(f"--resume: the checkpoint is already at {done} {self.saved[done]}, after "
                                     f"{_flag(total)} {now[total]}; pass a larger {_flag(total)} to continue")
        if refused:
            named = ", ".join(f"{_flag(k)} (checkpoint {changed[k][0]!r}, now {changed[k][1]!r})" for k in refused)
            raise RunFolderError(f"--resume cannot change {named}: it shapes the model, the data or the random "
                                 f"stream; pass the checkpoint's value, or --overwrite to start over")
        if changed:
            where = {k: self.saved[k] for k in ("epoch", "step") if k in self.saved}
            self.changes.append({"resumed_after": where, "changed": {_flag(k): list(v) for k, v in changed.items()}})
            listed = ", ".join(f"{_flag(k)} {a!r} -> {b!r}" for k, (a, b) in changed.items())
            print(f"resuming {self.path} with {listed}: applied from here on and recorded in the run's result")

    def restore(self, model, optimizer=None):
        """Load the checkpoint into ``model`` and ``optimizer`` when resuming (their hyper-parameters stay
        this run's); returns its metadata, or None for a new run."""
        if not self.resume:
            return None
        if optimizer is not None and not self.saved.get("optimizer"):
            print(f"{self.path} holds no optimizer state: resuming with a fresh optimizer")
        meta = load_checkpoint(self.path, model, optimizer, optimizer_hyperparameters=False)
        where = ", ".join(f"{k} {meta[k]}" for k in ("epoch", "step") if k in meta)
        print(f"resumed from {self.path}" + (f" after {where}" if where else ""))
        return meta

    def save(self, model, optimizer=None, **meta) -> None:
        """Checkpoint with this run's flags and the record of changes made on resuming (rank 0 only)."""
        if not distributed.is_main():
            return
        save_checkpoint(self.path, model, optimizer, args=vars(self.args), changes=self.changes, **meta)

    def write_result(self, result: dict, name: str = "result.json") -> str:
        """``result`` (plus the changes made on resuming, if any) as JSON in the folder, atomically (rank 0 only)."""
        path = os.path.join(self.folder, name)
        if not distributed.is_main():
            return path
        write_json_atomic(path, {**result, "resumed_with_changes": self.changes} if self.changes else result)
        return path


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _check_writable(folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise RunFolderError(f"cannot write to the output folder {folder}: {e.strerror or e}") from e
