"""The claims table for the terminal and the markdown report with figures.

Empirical claims and consistency checks are shown in separate tables: a consistency check (one solver of a model
against another) is never counted among the claims that pass.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Sequence

from sims.engine.results import write_text

from .claims import (CONSISTENCY, CONTROL_FAILS, CONTROL_PASSES, CONTROL_UNDECIDED, EMPIRICAL, INSIDE, NO_CONTROL,
                     OUTSIDE, PUBLISHED, STRADDLES, Context, Outcome, describe)


def source_marker(out: Outcome) -> str:
    """'[read]', '[secondary]', '[not read]' or '[ours]': how far the claim's source was read."""
    return f"[{out.claim.source_status}]"


def verdict(out: Outcome) -> str:
    if out.passed:
        return "PASS"
    return {OUTSIDE: "FAIL (outside)", STRADDLES: "FAIL (straddles)"}.get(out.placement, "FAIL (no value)")


def control_verdict(out: Outcome) -> str:
    """The control's three-way outcome, with the reason when an undecided control is declared acceptable."""
    outcome = out.control_outcome
    if outcome == NO_CONTROL:
        return "none"
    if outcome == CONTROL_FAILS:
        return "fails (as it should)"
    if outcome == CONTROL_PASSES:
        return "PASSES (check broken)"
    why = "straddles" if out.control_placement == STRADDLES else "no value"
    return f"undecided ({why}; accepted)" if out.control_ok else f"UNDECIDED ({why})"


def _measured(o: Outcome) -> str:
    text = describe(o.values, o.estimate)
    if o.claim.seeds and len(o.seeds) >= o.claim.seeds:           # measured over the claim's own seed count
        text += f" ({len(o.seeds)} seeds)"
    return text


def _control(o: Outcome) -> str:
    if o.claim.control is None:
        return "none"
    return f"{o.claim.control_setting}: {describe(o.control_values, o.control_estimate)}"


HEADER = ["claim [source]", "we measure, band", "band from", "measured (mean [95% CI])", "verdict",
          "negative control", "control"]


def rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    table = []
    for o in outcomes:
        c = o.claim
        says = f"{c.measurement} {c.expect}"
        if c.paper_value:
            says += f" (paper: {c.paper_value})"
        table.append([f"{c.paper}.{c.name} {source_marker(o)}", says, c.expect.origin, _measured(o), verdict(o),
                      _control(o), control_verdict(o)])
    return table


PUBLISHED_HEADING = "The paper's published numbers"


def _split(outcomes: Sequence[Outcome]) -> tuple[list[Outcome], list[Outcome], list[Outcome]]:
    """The outcomes of each kind: claims our runs measure, relations on the paper's published numbers, consistency
    checks."""
    return tuple([o for o in outcomes if o.claim.kind == kind] for kind in (EMPIRICAL, PUBLISHED, CONSISTENCY))


def _text(data: list[list[str]], width: int) -> str:
    wrapped = [[textwrap.wrap(cell, width) or [""] for cell in row] for row in data]
    widths = [max(len(line) for row in wrapped for line in row[i]) for i in range(len(data[0]))]
    lines = []
    for r, row in enumerate(wrapped):
        height = max(len(cell) for cell in row)
        for k in range(height):
            lines.append(" | ".join((cell[k] if k < len(cell) else "").ljust(widths[i])
                                    for i, cell in enumerate(row)).rstrip())
        if r == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def text_table(outcomes: Sequence[Outcome], width: int = 40) -> str:
    """Plain-text tables, long cells wrapped to `width` characters: the empirical claims, then the relations
    checked on the paper's published numbers and the consistency checks, each under its own heading."""
    claims, published, checks = _split(outcomes)
    parts = []
    if claims:
        parts.append(_text([HEADER] + rows(claims), width))
    if published:
        parts.append(PUBLISHED_HEADING + ":\n" + _text([["relation [source]"] + HEADER[1:]] + rows(published), width))
    if checks:
        parts.append("Consistency checks (one solver against another; not counted as claims):\n"
                     + _text([["check [source]"] + HEADER[1:]] + rows(checks), width))
    return "\n\n".join(parts)


def summary(outcomes: Sequence[Outcome]) -> str:
    """One line: claims that hold with their controls, published relations that hold with theirs, consistency checks
    that hold, controls that misbehave."""
    claims, published, checks = _split(outcomes)
    leaky = sum(o.control_outcome == CONTROL_PASSES for o in outcomes)
    undecided = sum(o.control_outcome == CONTROL_UNDECIDED and not o.control_ok for o in outcomes)
    accepted = sum(o.control_outcome == CONTROL_UNDECIDED and o.control_ok for o in outcomes)
    parts = []
    if claims:
        parts.append(f"{sum(o.passed and o.control_outcome == CONTROL_FAILS for o in claims)}/{len(claims)} claims "
                     "hold with their negative controls failing")
        if accepted:
            parts.append(f"{sum(o.ok and o.control_outcome == CONTROL_UNDECIDED for o in claims)} more hold with "
                         "an undecided control whose reason they declare")
    if published:
        parts.append(f"{sum(o.passed and o.control_outcome == CONTROL_FAILS for o in published)}/{len(published)} "
                     "relations hold on the paper's published numbers with their controls failing")
    if checks:
        parts.append(f"{sum(o.ok for o in checks)}/{len(checks)} consistency checks hold")
    return "; ".join(parts + [f"{leaky} control(s) pass and {undecided} are undecided (both must be 0)"])


def timing(outcomes: Sequence[Outcome], slowest: int = 5) -> str:
    """Wall time per paper and the `slowest` claims, one line each (a claim's time includes the runs it was the
    first to need; a run shared with a later claim is paid by the first one)."""
    per_paper: dict[str, float] = {}
    for o in outcomes:
        per_paper[o.claim.paper] = per_paper.get(o.claim.paper, 0.0) + o.wall_s
    papers = ", ".join(f"{p} {t:.0f} s" for p, t in sorted(per_paper.items(), key=lambda kv: -kv[1]))
    top = sorted(outcomes, key=lambda o: -o.wall_s)[:slowest]
    names = ", ".join(f"{o.claim.paper}.{o.claim.name} {o.wall_s:.0f} s" for o in top)
    return f"wall time by paper: {papers}\nslowest claims (each with the runs it was first to need): {names}"


def _table_md(data: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(data[0]) + " |", "|" + "---|" * len(data[0])]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in data[1:]]


def _details(o: Outcome) -> list[str]:
    c = o.claim
    lines = [f"### {c.paper}.{c.name}", "", f"- source: {c.source} {source_marker(o)}",
             f"- the paper says: {c.statement}",
             f"- we measure: {c.measurement}; expected {c.expect}",
             f"- the band comes from: {c.expect.origin}"]
    if c.paper_value:
        lines.append(f"- the paper's own number (cited, not a target): {c.paper_value}")
    lines += ["- seeds: " + ", ".join(map(str, o.seeds)),
              "- per-seed values: " + ", ".join(f"{v:.4g}" for v in o.values),
              f"- measured: {describe(o.values, o.estimate)}: {verdict(o)}"]
    if c.control is not None:
        lines += [f"- negative control ({c.control_setting}): " + ", ".join(f"{v:.4g}" for v in o.control_values),
                  f"- control measured: {describe(o.control_values, o.control_estimate)}: {control_verdict(o)}"]
        if c.undecided_ok:
            lines.append(f"- an undecided control is accepted because: {c.undecided_ok}")
    return lines + [f"- wall time: {o.wall_s:.1f} s", ""]


MARKERS = ("Source markers: [read] the theorem or section text was read; [secondary] read only as quoted or "
           "paraphrased by a secondary text; [not read] the paper's text was not reached (statement and section "
           "from memory); [ours] our own derivation, not stated in the paper.")


def markdown(outcomes: Sequence[Outcome], ctx: Context, figures: Sequence[tuple[str, Path]], out_dir: Path) -> str:
    """The report: summary, claims table, consistency-check table, each check in detail, and the figures."""
    claims, published, checks = _split(outcomes)
    more = "; more for the claims that need more" if any(len(o.seeds) > len(ctx.seeds) for o in outcomes) else ""
    lines = [f"# Paper checks ({ctx.preset} preset, seeds {', '.join(map(str, ctx.seeds))}{more})", "",
             summary(outcomes) + ".", "",
             "A claim passes when its whole 95% interval lies in the band; its negative control fails as it should "
             "when its whole interval lies outside the band, passes (the check is broken) when inside, and is "
             "undecided when it straddles the band or a run gave no value.", "", MARKERS, ""]
    if claims:
        lines += ["## Claims", ""] + _table_md([HEADER] + rows(claims)) + [""]
    if published:
        lines += ["## " + PUBLISHED_HEADING, "",
                  "Relations the paper states, checked on the numbers it publishes rather than on a run of ours; "
                  "each has a negative control on the same tables.", ""]
        lines += _table_md([["relation [source]"] + HEADER[1:]] + rows(published)) + [""]
    if checks:
        lines += ["## Consistency checks", "",
                  "Deterministic checks of one solver of a model against another (a closed form against a numeric "
                  "optimiser); they test our code, not the paper's claims, and are not counted as claims.", ""]
        lines += _table_md([["check [source]"] + HEADER[1:]] + rows(checks)) + [""]
    lines += ["## Details", ""]
    for o in claims + published + checks:
        lines += _details(o)
    if figures:
        lines += ["## Figures", ""]
        for caption, path in figures:
            rel = os.path.relpath(path, out_dir)
            lines += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
    return "\n".join(lines)


def write_markdown(text: str, path: Path) -> None:
    write_text(Path(path), text)


__all__ = ["CONSISTENCY", "EMPIRICAL", "INSIDE", "markdown", "rows", "summary", "text_table", "write_markdown"]
