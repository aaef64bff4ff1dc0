"""``tg.save`` / ``tg.load``: torch.save and torch.load for state dicts, without pickle.

One ``.npz`` archive: every tensor or array is an entry named by its path in the object (``fc.weight``,
``state/0/exp_avg``), and the object's shape (dicts, lists, tuples, numbers, strings, None, and which
entry goes where) is JSON in the entry ``__tree__``. Loading runs ``np.load(..., allow_pickle=False)``,
so a file can hold no code. A path is written atomically (a temporary file renamed over it); a file
object is written as it is.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from . import backend
from .atomicfile import atomic_write
from .tensor import Tensor

FORMAT = "tinygrad_lm save 1"
_TREE = "__tree__"


def save(obj, f) -> None:
    """Write ``obj`` (a state dict, an optimizer's state dict, a tensor, or dicts, lists and tuples of tensors,
    arrays, numbers, strings and None) to ``f``, a path or a binary file object."""
    arrays: dict = {}
    tree = _encode(obj, arrays, ())
    arrays[_TREE] = np.frombuffer(json.dumps({"format": FORMAT, "tree": tree}).encode(), dtype=np.uint8)
    if hasattr(f, "write"):
        np.savez(f, **arrays)
        return
    with atomic_write(f) as out:
        np.savez(out, **arrays)


def load(f, map_location=None, weights_only: bool = True, **kwargs):
    """Read what ``save`` wrote: tensors come back as tensors (on ``map_location``, default the CPU), arrays as
    arrays. ``weights_only`` is accepted for torch's signature; such a file never holds code anyway."""
    if kwargs:
        raise TypeError(f"load: unexpected arguments {sorted(kwargs)}")
    if map_location is not None and not isinstance(map_location, str):
        raise TypeError(f"load: map_location must be a device ('cpu', 'cuda' or tg.device), got "
                        f"{type(map_location).__name__}")
    device = backend.check_device(map_location or "cpu")
    name = getattr(f, "name", f) if hasattr(f, "read") else os.fspath(f)
    try:
        with np.load(f, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"load: {name} is not a file written by tinygrad_lm.save (not a readable .npz "
                         f"archive without Python objects: {e})") from e
    if _TREE not in arrays:
        hint = ("; it is a training checkpoint: use tinygrad_lm.train.load_checkpoint(path, model)"
                if "meta" in arrays else "")
        raise ValueError(f"load: {name} is a .npz archive but was not written by tinygrad_lm.save{hint}")
    header = json.loads(bytes(arrays.pop(_TREE)).decode())
    if header.get("format") != FORMAT:
        raise ValueError(f"load: {name} has unknown format {header.get('format')!r}")
    return _decode(header["tree"], arrays, device)


def _encode(obj, arrays: dict, path: tuple):
    if isinstance(obj, Tensor):
        return {"tensor": _entry(obj.numpy(), arrays, path), "requires_grad": obj.requires_grad}
    if isinstance(obj, np.ndarray) or backend.is_cupy(obj):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"save: the array at {_where(path)} has dtype {obj.dtype}, which needs pickle")
        return {"array": _entry(backend.to_device(obj, "cpu"), arrays, path)}
    if isinstance(obj, np.generic):
        return {"scalar": _entry(np.asarray(obj), arrays, path)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, dict):
        for k in obj:
            if not (k is None or isinstance(k, (bool, int, float, str))):
                raise TypeError(f"save: a dict at {_where(path)} has a key of type {type(k).__name__}; "
                                "keys must be strings or numbers")
        return {"dict": [[k, _encode(v, arrays, (*path, str(k)))] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return {kind: [_encode(v, arrays, (*path, str(i))) for i, v in enumerate(obj)]}
    hint = " (for a model, save model.state_dict())" if hasattr(obj, "state_dict") else ""
    raise TypeError(f"save: cannot store a {type(obj).__name__} at {_where(path)} without pickle{hint}; "
                    "tg.save takes tensors, arrays, numbers, strings, None, and dicts, lists and tuples of them")


def _entry(array, arrays: dict, path: tuple) -> str:
    """The archive name of ``array``: its path in the object, made unique ('#2') if two paths spell the same."""
    base = "/".join(path) or "tensor"
    name, n = base, 1
    while name in arrays or name == _TREE:
        n += 1
        name = f"{base}#{n}"
    arrays[name] = array
    return name


def _where(path: tuple) -> str:
    return "/".join(path) if path else "the top level"


def _decode(node: dict, arrays: dict, device: str):
    (kind, value), *rest = node.items()
    if kind == "tensor":
        return Tensor._wrap(backend.to_device(arrays[value], device), requires_grad=dict(rest)["requires_grad"])
    if kind == "array":
        return arrays[value]
    if kind == "scalar":
        return arrays[value][()]
    if kind == "value":
        return value
    if kind == "dict":
        return {k: _decode(v, arrays, device) for k, v in value}
    items = [_decode(v, arrays, device) for v in value]
    return tuple(items) if kind == "tuple" else items
