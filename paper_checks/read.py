"""Reading measured values out of the runs' results: the small helpers the papers' checks share."""
from __future__ import annotations

from typing import Callable, Sequence

from sims.engine import Result
from sims.engine.results import number

from .claims import Context, Measure

__all__ = ["number", "scalar", "scalar_of"]


def scalar(runs: Sequence[Result], key: str) -> list[float]:
    """The scalar `key` of each run as a float, NaN where a run stored none (a NaN is stored as null)."""
    return [number(r.scalars[key]) for r in runs]


def scalar_of(runs_of: Callable[[Context], Sequence[Result]], key: str) -> Measure:
    """The measurement that reads the scalar `key` of the runs `runs_of(ctx)`: one value per run (`scalar`)."""

    def measure(ctx: Context) -> list[float]:
        return scalar(runs_of(ctx), key)

    measure.__name__ = measure.__qualname__ = f"{key}_of_{runs_of.__name__.lstrip('_')}"
    return measure
