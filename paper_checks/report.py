"""The claims table for the terminal and the markdown report with figures."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from sims.engine.results import _atomic_write

from .claims import Context, Outcome, describe


def verdict(out: Outcome) -> str:
    return "PASS" if out.passed else "FAIL"


def control_verdict(out: Outcome) -> str:
    if out.control_passed is None:
        return "none"
    return "fails (good)" if not out.control_passed else "PASSES (bad)"


def rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    table = []
    for o in outcomes:
        c = o.claim
        says = f"{c.measurement} {c.expect}"
        if c.paper_value:
            says += f" (paper: {c.paper_value})"
        measured = describe(o.values, o.estimate)
        if c.seeds and len(o.seeds) >= c.seeds:           # measured over the claim's own seed count
            measured += f" ({len(o.seeds)} seeds)"
        table.append([f"{c.paper}.{c.name}", says, measured, verdict(o),
                      f"{c.control_setting}: {describe(o.control_values, o.control_estimate)}",
                      control_verdict(o)])
    return table


HEADER = ["claim", "paper says", "measured (mean [95% CI])", "verdict", "negative control", "control"]


def text_table(outcomes: Sequence[Outcome], width: int = 60) -> str:
    """A plain-text table, long cells wrapped to `width` characters."""
    import textwrap

    data = [HEADER] + rows(outcomes)
    wrapped = [[textwrap.wrap(cell, width) or [""] for cell in row] for row in data]
    widths = [max(len(line) for row in wrapped for line in row[i]) for i in range(len(HEADER))]
    lines = []
    for r, row in enumerate(wrapped):
        height = max(len(cell) for cell in row)
        for k in range(height):
            lines.append(" | ".join((cell[k] if k < len(cell) else "").ljust(widths[i])
                                    for i, cell in enumerate(row)).rstrip())
        if r == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(outcomes: Sequence[Outcome], ctx: Context, figures: Sequence[tuple[str, Path]], out_dir: Path) -> str:
    """The report: summary, claims table, each claim's statement and source, and the figures."""
    n_ok = sum(o.ok for o in outcomes)
    more = "; more for the claims that need more" if any(len(o.seeds) > len(ctx.seeds) for o in outcomes) else ""
    lines = [f"# Paper checks ({ctx.preset} preset, seeds {', '.join(map(str, ctx.seeds))}{more})", "",
             f"{n_ok} of {len(outcomes)} claims hold with their negative controls failing.", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows(outcomes):
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    lines += ["", "## Claims", ""]
    for o in outcomes:
        c = o.claim
        lines += [f"### {c.paper}.{c.name}", "", f"- source: {c.source}", f"- the paper says: {c.statement}",
                  f"- we measure: {c.measurement}; expected {c.expect}",
                  "- seeds: " + ", ".join(map(str, o.seeds)), "- per-seed values: "
                  + ", ".join(f"{v:.4g}" for v in o.values),
                  f"- negative control ({c.control_setting}): " + ", ".join(f"{v:.4g}" for v in o.control_values),
                  f"- wall time: {o.wall_s:.1f} s", ""]
    if figures:
        lines += ["## Figures", ""]
        for caption, path in figures:
            rel = os.path.relpath(path, out_dir)
            lines += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
    return "\n".join(lines)


def write_markdown(text: str, path: Path) -> None:
    _atomic_write(Path(path), lambda fh: fh.write(text.encode()))
