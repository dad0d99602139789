"""Paper-style figures drawn from simulation results; `python -m figures [names]` regenerates them.

Each `figures/<name>.py` provides `draw_result(experiment, result, out_dir)` (used by `python -m sims.<name>`),
`report_figures(ctx, out_dir)` (used by the paper-check report) and `make_all(preset, cache, out_dir)`.
"""
from __future__ import annotations

import importlib
import pkgutil

_NOT_PAPERS = {"style", "runner", "__main__"}


def available() -> list[str]:
    """Papers that have figures."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_PAPERS)


def module(name: str):
    """The figures module of one paper; a clear error for an unknown name."""
    if name not in available():
        raise ValueError(f"unknown paper {name!r}; papers with figures: {', '.join(available())}.")
    return importlib.import_module(f"{__name__}.{name}")
