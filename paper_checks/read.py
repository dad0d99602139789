"""Reading measured values out of the runs' results: the small helpers the papers' checks share."""
from __future__ import annotations

from typing import Callable, Sequence

from sims.engine import Result
from sims.engine.results import number

from .claims import Context, Measure

__all__ = ["number", "scalar", "scalar_of"]


def scalar(runs: Sequence[Result], name: str) -> list[float]:
    """The summary field `name` of each run as a float (NaN where the run measured none); a dotted name reads a
    nested summary's field ("sgd.band")."""
    out = []
    for r in runs:
        value = r.summary
        for part in name.split("."):
            if not hasattr(value, part):
                raise AttributeError(f"{r.experiment}: {type(value).__name__} (in its summary) has no field "
                                     f"{part!r}.")
            value = getattr(value, part)
        out.append(number(value))
    return out


def scalar_of(runs_of: Callable[[Context], Sequence[Result]], name: str) -> Measure:
    """The measurement that reads the summary field `name` of the runs `runs_of(ctx)`: one value per run."""

    def measure(ctx: Context) -> list[float]:
        return scalar(runs_of(ctx), name)

    measure.__name__ = measure.__qualname__ = f"{name.replace('.', '_')}_of_{runs_of.__name__.lstrip('_')}"
    return measure
