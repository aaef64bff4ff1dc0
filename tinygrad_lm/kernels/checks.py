"""What a kernel's contract (backend.contract) asks of its arguments, in a few words each.

Errors are ValueError (shapes) or TypeError (dtypes) naming the kernel, the argument and both shapes.
The ops check a user's input first and say it in the user's terms; these checks are the floor under
them, for code that calls a kernel directly or an op that forgot a case.
"""
from __future__ import annotations


def require(kernel: str, ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"kernel {kernel}: {message}")


def floating(kernel: str, **arrays) -> None:
    """Every named array is float32 or float64 (or float16 for kernels that fall back to the twin),
    all of one dtype."""
    dtypes = {n: a.dtype for n, a in arrays.items() if a is not None}
    for n, d in dtypes.items():
        if d.kind != "f":
            raise TypeError(f"kernel {kernel}: {n} must be a float array, got {d}")
    if len(set(dtypes.values())) > 1:
        listing = ", ".join(f"{n} {d}" for n, d in dtypes.items())
        raise TypeError(f"kernel {kernel}: arrays of one float dtype expected, got {listing}")


def ndim(kernel: str, n: int, **arrays) -> None:
    for name, a in arrays.items():
        if a is not None and a.ndim != n:
            raise ValueError(f"kernel {kernel}: {name} must be {n}-D, got shape {tuple(a.shape)}")


def shape(kernel: str, name: str, a, expected) -> None:
    """``a`` is None or has shape ``expected`` (None in ``expected`` matches any size)."""
    if a is None:
        return
    got = tuple(a.shape)
    if len(got) != len(expected) or any(e is not None and g != e for g, e in zip(got, expected, strict=True)):
        want = tuple("*" if e is None else e for e in expected)
        raise ValueError(f"kernel {kernel}: {name} has shape {got}, expected {want}")


def indices(kernel: str, name: str, a, size: int, ignore=None) -> None:
    """Integer ``a`` with every value in [0, size) (``ignore`` aside)."""
    if a.dtype.kind not in "iu":
        raise TypeError(f"kernel {kernel}: {name} must hold integers, got {a.dtype}")
    if a.size == 0:
        return
    vals = a if ignore is None else a[a != ignore]
    if vals.size and (int(vals.min()) < 0 or int(vals.max()) >= size):
        bad = int(vals.min()) if int(vals.min()) < 0 else int(vals.max())
        raise IndexError(f"kernel {kernel}: {name} holds {bad}, outside [0, {size})")
