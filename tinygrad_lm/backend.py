"""The one place that knows about NumPy and CuPy.

Ops never import numpy or cupy for array math: they call ``xp(array)`` and get the
module that owns the array. A tensor's device is a property of its array ("cpu" for a
``numpy.ndarray``, "cuda" for a ``cupy.ndarray``), never a flag kept in sync.

Kernels (Numba on the CPU, CuPy on the GPU, each with a plain NumPy twin) are chosen
in one place, :func:`kernel`. Setting ``TINYGRAD_LM_PLAIN=1`` runs the whole framework
on the plain twins, for teaching and debugging.
"""
from __future__ import annotations

import os

import numpy as np

PLAIN = os.environ.get("TINYGRAD_LM_PLAIN", "0") == "1"

_cupy = None
_cupy_checked = False


def cupy():
    """The cupy module, or None when CuPy or a GPU is missing (checked once)."""
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy as cp

            if cp.cuda.is_available():
                _cupy = cp
        except Exception:  # ImportError, or a CUDA driver that fails to load
            _cupy = None
    return _cupy


def gpu_available() -> bool:
    return cupy() is not None


def is_cupy(a) -> bool:
    return type(a).__module__.startswith("cupy")


def xp(*arrays):
    """The array module (numpy or cupy) that owns ``arrays``."""
    for a in arrays:
        if is_cupy(a):
            return cupy()
    return np


class device(str):  # noqa: N801 - torch's name
    """``torch.device``: ``device("cpu")``, ``device("cuda")``, ``device("cuda:0")``, ``device("cuda", 0)``,
    with ``.type`` and ``.index``. A str subclass ("cpu", "cuda:0"), so it goes wherever a device name
    goes and, unlike torch.device, equals its name: ``t.device == "cuda"`` keeps working."""

    def __new__(cls, type, index=None):  # noqa: A002 - torch's name
        if isinstance(type, device) and index is None:
            return type
        name = str(type)
        kind, colon, number = name.partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {name}")
        if colon:
            if index is not None:
                raise ValueError(f"device: {name!r} already names an index; do not pass index={index!r} too")
            if not number.isdigit():
                raise RuntimeError(f"Invalid device string: '{name}'")
            index = int(number)
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise RuntimeError(f"Device index must not be negative and must be an int, got {index!r}")
        return super().__new__(cls, kind if index is None else f"{kind}:{index}")

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    @property
    def index(self):
        number = self.partition(":")[2]
        return int(number) if number else None

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __reduce__(self):
        return device, (str(self),)


_CPU, _CUDA = device("cpu"), device("cuda")


def device_of(a) -> device:
    return _CUDA if is_cupy(a) else _CPU


def check_device(device) -> str:
    device = str(device)
    if device.startswith("cuda"):
        if not gpu_available():
            raise RuntimeError("device 'cuda' asked for, but CuPy or an NVIDIA GPU is not available; "
                               "install the extra `pip install tinygrad-lm[gpu]` on a machine with a GPU")
        return "cuda"
    if device != "cpu":
        raise ValueError(f"unknown device {device!r}: use 'cpu' or 'cuda'")
    return "cpu"


def to_device(a, device: str):
    """Move an array to ``device`` ('cpu' or 'cuda'); returns it unchanged if it is there."""
    device = check_device(device)
    if device == device_of(a):
        return a
    if device == "cuda":
        return cupy().asarray(a)
    return cupy().asnumpy(a)


# ---------------------------------------------------------------- random numbers
_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Seed every generator tinygrad_lm draws from (NumPy's, and CuPy's when present)."""
    global _rng
    _rng = np.random.default_rng(seed)
    if _cupy_checked and _cupy is not None:
        _cupy.random.seed(seed)


def rng():
    """The framework's NumPy generator (init, dropout masks, shuffling)."""
    return _rng


def random(shape, dtype, device="cpu"):
    """Uniform [0, 1) numbers, drawn on the CPU so a seed gives the same numbers on every device."""
    return to_device(_rng.random(shape, dtype=np.float64).astype(dtype), device)


# ---------------------------------------------------------------- kernels
_KERNELS: dict[tuple[str, str], object] = {}
_CONTRACTS: dict[str, object] = {}
_CHECKED: dict[tuple[str, str], object] = {}


def register(name: str, impl: str):
    """Decorator: register ``fn`` as the ``impl`` ('plain', 'cpu' or 'gpu') kernel of ``name``."""
    assert impl in ("plain", "cpu", "gpu"), impl

    def deco(fn):
        _KERNELS[(name, impl)] = fn
        _CHECKED.pop((name, impl), None)
        return fn

    return deco


def contract(name: str):
    """Decorator: ``check(*args)`` runs before every implementation of the kernel ``name`` and raises
    a clear error for arrays of the wrong shape or dtype. Numba and CUDA kernels index without bounds
    checks, so a wrong shape would otherwise read or write outside a buffer (a crash, or worse, none)."""
    def deco(check):
        _CONTRACTS[name] = check
        for key in [k for k in _CHECKED if k[0] == name]:
            del _CHECKED[key]
        return check

    return deco


def kernel(name: str, device: str = "cpu", impl: str | None = None):
    """The one dispatch point: the kernel ``name`` for ``device``, behind its contract.

    CPU arrays get the Numba kernel ('cpu') unless TINYGRAD_LM_PLAIN=1; CUDA arrays get the
    CuPy kernel ('gpu'). ``impl`` forces one implementation (the tests use it to hold the
    fast kernels to their plain twins).
    """
    if impl is None:
        impl = "gpu" if device == "cuda" else ("plain" if PLAIN else "cpu")
    checked = _CHECKED.get((name, impl))
    if checked is not None:
        return checked
    fn = _KERNELS.get((name, impl)) or _KERNELS.get((name, "plain"))
    if fn is None:
        raise KeyError(f"no kernel named {name!r}; known: {sorted({n for n, _ in _KERNELS})}")
    check = _CONTRACTS.get(name)
    if check is None:
        raise KeyError(f"kernel {name!r} has no contract (backend.contract): every kernel checks its arguments")

    def checked(*args):
        check(*args)
        return fn(*args)

    checked.__wrapped__ = fn
    _CHECKED[(name, impl)] = checked
    return checked
