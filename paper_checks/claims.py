"""A paper's claim as data, and the machinery that measures it over seeds and decides it by the interval.

A claim names its source in the paper and how far that source was read, states what the paper says, says what
we measure, and gives the expected band (which the whole confidence interval must lie in) with where the band
comes from. Its negative control is the same measurement in a setting where the paper says the effect must
vanish. Each interval is placed against the band: inside, outside (disjoint), or straddling it. A claim passes
when its interval is inside; its control fails as it should only when its interval is outside; a control that
straddles the band (or gave no value) is undecided, and an undecided control fails the check unless the claim
declares why it is acceptable. Consistency checks (one solver of a model against another, deterministic) are
claims of kind CONSISTENCY: decided the same way, listed apart, never counted as claims passed.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from sims.engine import Estimate, Experiment, Result, mean_ci


# Where a claim's statement comes from (`Claim.source_status`), printed as a marker beside every claim.
READ = "read"              # the theorem or section text itself was read
SECONDARY = "secondary"    # read only as quoted or paraphrased by a secondary text (reviews, summaries)
NOT_READ = "not read"      # the paper's text was not reached: statement and section numbers from memory
OURS = "ours"              # our own derivation (consistent with the paper, not stated in it)
SOURCE_STATUSES = (READ, SECONDARY, NOT_READ, OURS)

# What a check is (`Claim.kind`): an empirical claim, decided over seeds against its negative control, or a
# consistency check (a closed form against a numeric solver of the same model, deterministic), listed apart and
# never counted among the claims that pass.
EMPIRICAL = "claim"
CONSISTENCY = "consistency"
# A relation the paper states, checked on the numbers it publishes (its tables), not on a run of ours: decided the
# same way and with a negative control, but listed apart from the claims our simulations measure, and counted apart.
PUBLISHED = "published"
KINDS = (EMPIRICAL, PUBLISHED, CONSISTENCY)

# Where a measured interval lies relative to the band.
INSIDE = "inside"          # the whole interval lies in the band
OUTSIDE = "outside"        # the whole interval lies outside the band (disjoint from it)
STRADDLES = "straddles"    # the interval overlaps the band's edge: too wide, or too close, to decide
UNMEASURED = "unmeasured"  # some run gave no value (NaN) or nothing was measured


@dataclass(frozen=True)
class Expect:
    """The expected band [low, high] the whole measured confidence interval must lie in, and where the band comes
    from (`origin`: a tolerance derived from theory, the paper's own spread, a stated rule), fixed before the
    measurement and printed in the report."""

    low: float = -math.inf
    high: float = math.inf
    origin: str = ""

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"Expect needs low <= high, got [{self.low}, {self.high}].")

    def holds(self, est: Estimate) -> bool:
        return self.place(est) == INSIDE

    def place(self, est: Estimate | None) -> str:
        """Where the interval lies: INSIDE, OUTSIDE (disjoint) or STRADDLES; UNMEASURED for no estimate."""
        if est is None:
            return UNMEASURED
        if self.low <= est.low and est.high <= self.high:
            return INSIDE
        if est.high < self.low or est.low > self.high:
            return OUTSIDE
        return STRADDLES

    def __str__(self) -> str:
        if math.isinf(self.low):
            return f"<= {self.high:g}"
        if math.isinf(self.high):
            return f">= {self.low:g}"
        return f"in [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Context:
    """Where and how claims are measured: preset, seeds and cache folder.

    seeds_chosen: the user named the seeds, and every claim is measured over exactly these. Otherwise `seeds` is
    the default, and a claim that needs more (`Claim.seeds`) gets them added (`for_claim`). workers: worker
    processes for the experiments that train over processes (None: each experiment's own count); several seeds
    then share them (`Experiment.seeds`)."""

    preset: str = "quick"
    seeds: tuple[int, ...] = (0, 1, 2)
    cache: Path | None = None
    seeds_chosen: bool = False
    workers: int | None = None

    def results(self, experiment: Experiment, **overrides: Any) -> list[Result]:
        """The experiment at this preset with overrides, one cached result per seed. With `workers` set, an
        experiment whose config has a `workers` field (worker processes; never part of a result) uses that many,
        unless the overrides name it."""
        if self.workers is not None and "workers" in {f.name for f in fields(experiment.config_cls)}:
            overrides.setdefault("workers", self.workers)
        return experiment.seeds(experiment.config(self.preset, **overrides), self.seeds, self.cache)

    def for_claim(self, claim: "Claim") -> "Context":
        """This context with enough seeds for `claim`: the default seeds (repeats dropped) followed by the
        smallest non-negative integers not among them, claim.seeds in all (unchanged when the user chose the
        seeds or there are enough); then every seed shifted by claim.seed_offset, the user's too."""
        base = tuple(dict.fromkeys(self.seeds))
        ctx = self
        if not self.seeds_chosen and len(base) < claim.seeds:
            extra = [s for s in range(len(base) + claim.seeds) if s not in base]
            ctx = replace(self, seeds=base + tuple(extra[:claim.seeds - len(base)]))
        if claim.seed_offset:
            ctx = replace(ctx, seeds=tuple(s + claim.seed_offset for s in ctx.seeds))
        return ctx


Measure = Callable[[Context], Sequence[float]]


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a paper.

    name: short identifier; paper: module name; source: section / theorem / figure; statement: what the
    paper says; measurement: what we measure; expect: the band the measured CI must lie in, with its origin;
    measure: Context -> one value per seed (NaN only where a run gave no value); control: the same measurement
    in a setting where the paper says the effect must vanish, which must land outside the band (a value that
    can land inside it: never NaN by construction, never the claim's own value rescaled); control_setting: that
    setting in words; paper_value: a number the paper publishes for this quantity, cited, when it has one;
    seeds: how many seeds the claim and its control are measured over by default when that is more than the
    context's (a statistic so noisy per seed that the default three give an interval too wide to decide it), 0
    for the context's own; seed_offset: added to every seed the claim is measured on, for a claim whose setting
    was chosen while reading seeds 0, 1, ... and is confirmed on seeds no choice has seen; source_status: READ, SECONDARY, NOT_READ or OURS (how far `source` and `statement`
    were checked against the paper's text); kind: EMPIRICAL (measured by our runs), PUBLISHED (a relation
    checked on the paper's own published numbers, listed apart) or CONSISTENCY (a deterministic check of one
    solver against another, listed apart); undecided_ok: why a control whose interval straddles the band is
    acceptable, when it is ("" : an undecided control fails the check; a control without a value always does).
    """

    name: str
    paper: str
    source: str
    statement: str
    measurement: str
    expect: Expect
    measure: Measure
    control: Measure | None
    control_setting: str
    paper_value: str = ""
    seeds: int = 0
    seed_offset: int = 0
    source_status: str = ""
    kind: str = EMPIRICAL
    undecided_ok: str = ""

    def __post_init__(self) -> None:
        where = f"claim {self.paper}.{self.name}"
        if self.source_status not in SOURCE_STATUSES:
            raise ValueError(f"{where}: source_status must be one of {', '.join(SOURCE_STATUSES)}, "
                             f"got {self.source_status!r}.")
        if self.kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(map(repr, KINDS))}, got {self.kind!r}.")
        if not self.expect.origin.strip():
            raise ValueError(f"{where}: the expected band needs its origin (Expect(..., origin=...)).")
        if self.seed_offset < 0:
            raise ValueError(f"{where}: seed_offset must be >= 0, got {self.seed_offset}.")
        if self.kind != CONSISTENCY and self.control is None:
            raise ValueError(f"{where}: a claim of kind {self.kind!r} needs a negative control.")


@dataclass
class Outcome:
    """The measured claim and its control, each placed against the band (INSIDE, OUTSIDE, STRADDLES, UNMEASURED)."""

    claim: Claim
    values: list[float]
    estimate: Estimate | None
    placement: str
    control_values: list[float] = field(default_factory=list)
    control_estimate: Estimate | None = None
    control_placement: str | None = None
    wall_s: float = 0.0
    error: str = ""
    seeds: tuple[int, ...] = ()

    @property
    def passed(self) -> bool:
        """The claim's whole interval lies in the band."""
        return self.placement == INSIDE

    @property
    def control_outcome(self) -> str:
        """'fails' (the control's interval lies wholly outside the band: as it should), 'passes' (wholly inside:
        the check is broken), 'undecided' (straddles the band, or some run gave no value), 'none' (no control)."""
        if self.control_placement is None:
            return NO_CONTROL
        return {OUTSIDE: CONTROL_FAILS, INSIDE: CONTROL_PASSES}.get(self.control_placement, CONTROL_UNDECIDED)

    @property
    def control_ok(self) -> bool:
        """The control does what a control must: it fails, or straddles the band for a reason the claim declares
        (a control that gave no value is never excused); a consistency check may have none."""
        out = self.control_outcome
        return (out == CONTROL_FAILS
                or (self.control_placement == STRADDLES and bool(self.claim.undecided_ok))
                or (out == NO_CONTROL and self.claim.kind == CONSISTENCY))

    @property
    def ok(self) -> bool:
        """The claim holds and its control behaves as a control must."""
        return self.passed and self.control_ok


CONTROL_FAILS = "fails"
CONTROL_PASSES = "passes"
CONTROL_UNDECIDED = "undecided"
NO_CONTROL = "none"


def decide(values: Sequence[float], expect: Expect) -> tuple[Estimate | None, str]:
    """Mean and 95% t-interval of the values, placed against the band; no estimate when a value is not finite."""
    vals = [float(v) for v in values]
    if not vals or not all(np.isfinite(vals)):
        return None, UNMEASURED
    est = mean_ci(vals)
    return est, expect.place(est)


def describe(values: Sequence[float], est: Estimate | None) -> str:
    """Text for the measured column: mean [CI], or how many runs gave no value."""
    if est is not None:
        return str(est)
    missing = sum(1 for v in values if not np.isfinite(v))
    return f"no value in {missing}/{len(values)} runs" if values else "not measured"


def evaluate(claim: Claim, ctx: Context) -> Outcome:
    """Measure the claim and its control over the claim's seeds (`Context.for_claim`) and place both against
    the band by their confidence intervals."""
    start = time.perf_counter()
    ctx = ctx.for_claim(claim)
    values = [float(v) for v in claim.measure(ctx)]
    est, placement = decide(values, claim.expect)
    out = Outcome(claim, values, est, placement, seeds=ctx.seeds)
    if claim.control is not None:
        out.control_values = [float(v) for v in claim.control(ctx)]
        out.control_estimate, out.control_placement = decide(out.control_values, claim.expect)
    out.wall_s = time.perf_counter() - start
    return out
