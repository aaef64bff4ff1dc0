"""D2.T5 profiling: where does a training step spend its time? A context that times every op's
forward and backward by op name (the Function subclass) and prints a table, as torch.profiler's
``key_averages().table()`` does in a much bigger way.

    with profile() as prof:
        loss = model(x).softmax(-1).sum(); loss.backward()
    print(prof.table())

It works by wrapping ``Function.apply`` (the forward) and each Function subclass's ``backward`` while
the context is open, and puts them back on exit. Times are wall-clock, exclusive of Python outside
the ops; on a GPU they measure the launch, not the kernel, unless you synchronize.
"""
from __future__ import annotations

import contextlib
import time
from collections import defaultdict

from ..autograd import Function


def _subclasses(cls):
    out, stack = [], [cls]
    while stack:
        for sub in stack.pop().__subclasses__():
            out.append(sub)
            stack.append(sub)
    return out


class Profile:
    """Totals per op name: calls and seconds, forward and backward separately."""

    def __init__(self):
        self.stats = defaultdict(lambda: {"forward_calls": 0, "forward_s": 0.0, "backward_calls": 0,
                                          "backward_s": 0.0})

    def record(self, name: str, phase: str, seconds: float) -> None:
        s = self.stats[name]
        s[f"{phase}_calls"] += 1
        s[f"{phase}_s"] += seconds

    def total_seconds(self) -> float:
        return sum(s["forward_s"] + s["backward_s"] for s in self.stats.values())

    def table(self, sort_by: str = "total", limit: int | None = None) -> str:
        """One row per op: calls and milliseconds of forward and backward, and the share of the total."""
        if sort_by not in ("total", "forward", "backward", "name"):
            raise ValueError(f"table: sort_by must be total, forward, backward or name, got {sort_by!r}")
        key = {"total": lambda kv: -(kv[1]["forward_s"] + kv[1]["backward_s"]),
               "forward": lambda kv: -kv[1]["forward_s"], "backward": lambda kv: -kv[1]["backward_s"],
               "name": lambda kv: kv[0]}[sort_by]
        rows = sorted(self.stats.items(), key=key)[:limit]
        total = self.total_seconds() or 1.0
        lines = [f"{'op':<20} {'fwd calls':>9} {'fwd ms':>9} {'bwd calls':>9} {'bwd ms':>9} {'share':>6}"]
        for name, s in rows:
            share = 100 * (s["forward_s"] + s["backward_s"]) / total
            lines.append(f"{name:<20} {s['forward_calls']:>9d} {1e3 * s['forward_s']:>9.3f} "
                         f"{s['backward_calls']:>9d} {1e3 * s['backward_s']:>9.3f} {share:>5.1f}%")
        lines.append(f"{'total':<20} {'':>9} {'':>9} {'':>9} {1e3 * self.total_seconds():>9.3f} ms")
        return "\n".join(lines)


@contextlib.contextmanager
def profile():
    """Time every op's forward and backward inside the block; yields a :class:`Profile`."""
    prof = Profile()
    original_apply = Function.__dict__["apply"]
    patched = {}

    def timed_apply(cls, *inputs, **options):
        start = time.perf_counter()
        try:
            return original_apply.__func__(cls, *inputs, **options)
        finally:
            prof.record(cls.__name__, "forward", time.perf_counter() - start)

    def timed_backward(method, name):
        def backward(self, grad):
            start = time.perf_counter()
            try:
                return method(self, grad)
            finally:
                prof.record(name, "backward", time.perf_counter() - start)
        return backward

    for cls in _subclasses(Function):
        if "backward" in cls.__dict__:
            patched[cls] = cls.__dict__["backward"]
            cls.backward = timed_backward(patched[cls], cls.__name__)
    Function.apply = classmethod(timed_apply)
    try:
        yield prof
    finally:
        Function.apply = original_apply
        for cls, method in patched.items():
            cls.backward = method
