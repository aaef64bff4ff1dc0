"""Checkpoints that cannot be half-written and hold no pickled code.

One ``.npz`` file (``allow_pickle=False``) with the model's state_dict under ``model/``, the
optimizer's arrays under ``optim/``, and every other value (step, epoch, hyper-parameters, RNG
state) as JSON in ``meta``. Written to a temporary file in the same folder, then renamed.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from .. import backend


def save_checkpoint(path, model, optimizer=None, **meta) -> None:
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
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
        opt_meta = {"param_groups": sd["param_groups"], "scalars": scalars}
    meta = {**meta, "optimizer": opt_meta, "rng": backend.rng().bit_generator.state}
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=_jsonable).encode(), dtype=np.uint8)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path, model, optimizer=None, restore_rng: bool = True) -> dict:
    """Restore ``model`` (and ``optimizer``) from ``path``; returns the extra values saved with it."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        model.load_state_dict({k[len("model/"):]: z[k] for k in z.files if k.startswith("model/")})
        if optimizer is not None and meta.get("optimizer"):
            state: dict = {}
            for k in z.files:
                if k.startswith("optim/"):
                    _, i, name = k.split("/", 2)
                    state.setdefault(int(i), {})[name] = z[k]
            for key, v in meta["optimizer"]["scalars"].items():
                i, name = key.split("/", 1)
                state.setdefault(int(i), {})[name] = v
            groups = [{k: tuple(v) if isinstance(v, list) else v for k, v in g.items()}
                      for g in meta["optimizer"]["param_groups"]]
            optimizer.load_state_dict({"state": state, "param_groups": groups})
    if restore_rng:
        backend.rng().bit_generator.state = meta.pop("rng")
    meta.pop("optimizer", None)
    return meta


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"checkpoint metadata must be JSON-like, got {type(v).__name__}")


def resume_or_start(out, model, optimizer, resume: bool, history: dict):
    """The CLI's checkpoint handling: ``(path, first_epoch, history)`` for a run writing into ``out``,
    restored from ``out/checkpoint.npz`` when ``resume`` is set and the file exists."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "checkpoint.npz")
    if resume and os.path.exists(path):
        meta = load_checkpoint(path, model, optimizer)
        print(f"resumed from {path} after epoch {meta['epoch']}")
        return path, meta["epoch"], meta["history"]
    return path, 0, history
