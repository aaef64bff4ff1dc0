"""What a benchmark is: a name, and for each framework a builder. A timed case's builder sets up
inputs and returns the step to time (forward+backward, or a whole training step); a measured case's
builder (``unit`` other than ms) returns one measurement itself, taken in a fresh process."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass
class Case:
    name: str
    tinygrad: Callable[[], object]
    torch: Optional[Callable[[], object]] = None
    goal: Optional[float] = 1.0  # the most tinygrad_lm/torch ratio we aim for (None: no goal)
    note: str = ""
    unit: str = "ms"  # "ms": the builders return a step, timed here; else they return a value in this unit
