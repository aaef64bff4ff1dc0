"""Textbook exercises: stubs to fill in, hidden checks, reference solutions (see docs/exercises.md).

From a notebook or pytest::

    from tinygrad_lm.exercises import check
    check("3.2", my_maxpool2d_backward)      # prints PASS/FAIL with the reason; returns True/False
    check("3.2", dir="my_exercises")          # the function from my_exercises/ch03_cnn.py instead
"""
from __future__ import annotations

from .core import CheckFailure, Exercise, NotAttempted, Result, check_ids, discover, report, run_check

__all__ = ["EXERCISES", "CheckFailure", "Exercise", "NotAttempted", "Result", "check", "list_exercises"]


def list_exercises() -> list:
    """Every registered exercise, in chapter order."""
    return list(discover().values())


def check(exercise_id: str, *fns, dir: str | None = None) -> bool:  # noqa: A002 - the documented keyword
    """Check one exercise on the given function(s) (its ``entry``, in order) or on the file in ``dir``."""
    exercises = discover()
    if exercise_id not in exercises:
        raise KeyError(f"no exercise {exercise_id!r}; list_exercises() shows them all")
    ex = exercises[exercise_id]
    if fns:
        if len(fns) != len(ex.entry):
            raise TypeError(f"exercise {exercise_id} takes {len(ex.entry)} object(s), {', '.join(ex.entry)}; "
                            f"got {len(fns)}")
        results = [run_check(ex, fns)]
    else:
        results = check_ids([exercise_id], "." if dir is None else dir)
    return report(results)


def __getattr__(name):
    if name == "EXERCISES":  # discovered on first use, so chapters added later are seen
        return discover()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
