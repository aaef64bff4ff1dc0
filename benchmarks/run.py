"""Run benchmarks: ``python -m benchmarks.run [names...] [--vs torch] [--repeat N] [--json PATH]``.

Every ``benchmarks/bench_*.py`` module lists ``CASES``; a name picks cases whose name contains it.
Each step runs a few times to warm up (Numba compiles, caches fill), then ``repeat`` times; the
table shows medians and the ratio tinygrad_lm / PyTorch measured in this same process. Cases in
another unit (peak memory in MB, start-up in s) are measured in fresh processes, ``samples`` each.
"""
from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import statistics
import time
from pathlib import Path

import tinygrad_lm  # noqa: F401  (before NumPy: it sets OpenBLAS's thread policy)


def all_cases():
    import benchmarks

    cases = []
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
        if info.name.startswith("bench_"):
            cases.extend(importlib.import_module(f"benchmarks.{info.name}").CASES)
    return cases


def time_step(step, warmup: int, repeat: int, min_time: float = 0.2) -> float:
    """Median seconds of one call of ``step`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start < min_time and len(times) < 100 * repeat):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(builder, case, args) -> float:
    """A timed case's median step in ms, or the median of ``--samples`` values of a measured case."""
    if case.unit == "ms":
        return time_step(builder(), args.warmup, args.repeat) * 1e3
    return statistics.median(builder() for _ in range(args.samples))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="run only cases whose name contains one of these")
    parser.add_argument("--vs", choices=["torch", "none"], default="torch", help="time PyTorch beside us")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--samples", type=int, default=3, help="fresh processes per measured case (peak memory, "
                                                                "start-up)")
    parser.add_argument("--json", default="benchmarks/results/latest.json", help="where to write the results")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    args = parser.parse_args(argv)

    cases = [c for c in all_cases() if not args.names or any(n in c.name for n in args.names)]
    if args.list or not cases:
        print("\n".join(c.name for c in all_cases()) if args.list else f"no case matches {args.names}")
        return 0
    if args.vs == "torch":
        import torch

        torch.manual_seed(0)
    rows = []
    print(f"{'case':<44} {'tinygrad_lm':>12} {'torch':>10} {'ratio':>7} {'goal':>6}")
    for case in cases:
        ours = measure(case.tinygrad, case, args)
        theirs = measure(case.torch, case, args) if args.vs == "torch" and case.torch else None
        ratio = ours / theirs if theirs else None
        rows.append(dict(name=case.name, unit=case.unit, tinygrad=ours, torch=theirs, ratio=ratio, goal=case.goal,
                         note=case.note))
        u = f"{case.unit:<2}"
        print(f"{case.name:<44} {ours:>10.2f}{u} "
              + (f"{theirs:>8.2f}{u} {ratio:>6.2f}x" if theirs else f"{'-':>10} {'-':>7}")
              + (f" {case.goal:>5.1f}x" if case.goal else ""), flush=True)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(machine=platform.machine(), python=platform.python_version(), processor=platform.processor())
    out.write_text(json.dumps(dict(meta=meta, results=rows), indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
