"""Checkpoints that cannot be half-written, hold no pickled code, and load all or nothing.

One ``.npz`` file (``allow_pickle=False``) with the model's state_dict under ``model/``, the
optimizer's arrays under ``optim/``, and every other value (step, epoch, hyper-parameters, RNG
state) as JSON in ``meta``. Written to a temporary file in the same folder, then renamed, so a
crash at any moment leaves the old checkpoint or the new one, never a broken one.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib

import numpy as np

from .. import backend
from ..atomicfile import atomic_write

FORMAT = "tinygrad_lm checkpoint 1"


class CheckpointError(ValueError):
    """A checkpoint file that is damaged, is not a checkpoint, or belongs to another model."""


# ---------------------------------------------------------------- writing
def save_checkpoint(path, model, optimizer=None, **meta) -> None:
    """Write ``model`` (and ``optimizer``, the RNG state and ``meta``, JSON-like) to ``path`` atomically."""
    arrays = {f"model/{k}": v.numpy() for k, v in model.state_dict().items()}
    opt_meta = None
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for i, state in sd["state"].items():
            for name, v in state.items():
                if hasattr(v, "shape") and np.ndim(v) > 0:
                    arrays[f"optim/{i}/{name}"] = np.asarray(v)
                else:
                    scalars[f"{i}/{name}"] = float(v) if isinstance(v, (float, np.floating)) else int(v)
        opt_meta = {"kind": sd["kind"], "param_groups": sd["param_groups"], "scalars": scalars}
    meta = {**meta, "format": FORMAT, "model": type(model).__name__, "optimizer": opt_meta,
            "rng": backend.rng().bit_generator.state}
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=_jsonable).encode(), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def write_json_atomic(path, value) -> None:
    """Write ``value`` as JSON to ``path`` through ``atomic_write``."""
    with atomic_write(path) as f:
        f.write(json.dumps(value, indent=2, ensure_ascii=False, default=_jsonable).encode())


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"checkpoint metadata must be JSON-like, got {type(v).__name__}")


# ---------------------------------------------------------------- reading
def read_checkpoint(path) -> tuple[dict, dict]:
    """``(arrays, meta)`` of the checkpoint at ``path``, every array read and checked (CRC) now;
    a file that is missing, damaged or not a checkpoint raises one CheckpointError naming it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint at {path}" + (" (it is a folder)" if os.path.isdir(path) else ""))
    damaged = f"{path} is damaged or is not a tinygrad_lm checkpoint"
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{damaged}: the file is empty")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{damaged}: not an .npz archive (truncated, or another kind of file)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        # np.load's own messages suggest allow_pickle=True, the one thing never to do with a stranger's file
        raise CheckpointError(f"{damaged}: {_why(e)}") from e
    try:
        meta = json.loads(bytes(arrays.pop("meta")).decode())
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{damaged}: no readable metadata") from e
    if not isinstance(meta, dict) or meta.get("format", FORMAT) != FORMAT:
        raise CheckpointError(f"{damaged}: unknown metadata")
    stray = [k for k in arrays if not k.startswith(("model/", "optim/"))]
    if stray or not any(k.startswith("model/") for k in arrays):
        raise CheckpointError(f"{damaged}: unexpected contents {stray[:5] or 'no model arrays'}")
    return arrays, meta


def _why(e: BaseException) -> str:
    if isinstance(e, (zipfile.BadZipFile, zlib.error, EOFError)):
        return "the archive is truncated or corrupt"
    if isinstance(e, ValueError) and "pickle" in str(e):
        return "it holds Python objects, which a checkpoint never does"
    return "an entry cannot be read"


def load_checkpoint(path, model, optimizer=None, restore_rng: bool = True, optimizer_hyperparameters: bool = True):
    """Restore ``model`` (and ``optimizer``, and the RNG) from ``path``; returns the extra values saved with it.

    All or nothing: the model's arrays, the optimizer's state and the RNG state are all checked
    before any is taken, so a checkpoint of another model raises CheckpointError and changes nothing.
    With ``optimizer_hyperparameters=False`` the optimizer keeps its own learning rate etc. (a
    resumed run applying its new flags) and takes only its state (moments, step counts).
    A checkpoint without optimizer state leaves ``optimizer`` as it is; ``meta["optimizer"]`` says so.
    """
    arrays, meta = read_checkpoint(path)
    if meta.get("model", type(model).__name__) != type(model).__name__:
        raise CheckpointError(f"{path} belongs to another model: it holds a {meta['model']}, "
                              f"not a {type(model).__name__}")
    try:
        model_arrays, _, _ = model._check_state_dict({k[len("model/"):]: v for k, v in arrays.items()
                                                      if k.startswith("model/")})
        opt = None
        if optimizer is not None and meta.get("optimizer"):
            groups, opt_state = optimizer._check_state_dict(_optimizer_state_dict(arrays, meta["optimizer"]))
            opt = (groups if optimizer_hyperparameters else [{}] * len(groups), opt_state)
        rng = backend.rng()
        if restore_rng:
            type(rng.bit_generator)().state = meta["rng"]  # checked on a scratch generator first
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path} belongs to another model or is damaged: {e}") from e
    model._assign_state(model_arrays)
    if opt is not None:
        for group, saved in zip(optimizer.param_groups, opt[0], strict=True):
            group.update(saved)
        optimizer.state = opt[1]
    if restore_rng:
        rng.bit_generator.state = meta["rng"]
    meta.pop("rng", None)
    meta["optimizer"] = meta.get("optimizer") is not None
    for key in ("format", "model"):
        meta.pop(key, None)
    return meta


def _optimizer_state_dict(arrays: dict, opt_meta: dict) -> dict:
    state: dict = {}
    for k, v in arrays.items():
        if k.startswith("optim/"):
            _, i, name = k.split("/", 2)
            state.setdefault(int(i), {})[name] = v
    for key, v in opt_meta["scalars"].items():
        i, name = key.split("/", 1)
        state.setdefault(int(i), {})[name] = v
    return {"kind": opt_meta.get("kind"), "state": state, "param_groups": opt_meta["param_groups"]}
