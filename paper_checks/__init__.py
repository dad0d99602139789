"""The papers' claims as data: each `paper_checks/<name>.py` defines `CLAIMS`, a list of `Claim`s.

`python -m paper_checks [names...] [--preset quick|paper] [--seeds 0,1,2] [--out DIR]` measures them,
prints the claims table and the consistency checks apart, writes report.md with the figures, and exits non-zero
when a claim or consistency check fails, or a negative control passes or is undecided without a declared reason.
"""
from __future__ import annotations

import importlib
import pkgutil

from .claims import (CONSISTENCY, EMPIRICAL, NOT_READ, OURS, PUBLISHED, READ, SECONDARY, Claim, Context, Expect, Outcome,
                     evaluate)

_NOT_PAPERS = {"claims", "read", "report", "__main__"}


def available() -> list[str]:
    """Names of the papers that have checks."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_PAPERS)


def claims_of(name: str) -> list[Claim]:
    """The claims of one paper; a clear error for an unknown name."""
    names = available()
    if name not in names:
        raise ValueError(f"unknown paper {name!r}; papers with checks: {', '.join(names)}.")
    return list(importlib.import_module(f"{__name__}.{name}").CLAIMS)


__all__ = ["CONSISTENCY", "EMPIRICAL", "NOT_READ", "OURS", "PUBLISHED", "READ", "SECONDARY", "Claim", "Context", "Expect",
           "Outcome", "available", "claims_of", "evaluate"]
