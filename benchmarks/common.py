"""What a benchmark is: a name, and for each framework a builder that sets up inputs and
returns the step to time (forward+backward, or a whole training step)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass
class Case:
    name: str
    tinygrad: Callable[[], Callable[[], object]]
    torch: Optional[Callable[[], Callable[[], object]]] = None
    goal: Optional[float] = 1.0  # the most tinygrad_lm/torch time ratio we aim for (None: no goal)
    note: str = ""
