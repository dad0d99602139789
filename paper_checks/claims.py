"""A paper's claim as data, and the machinery that measures it over seeds and decides it by the interval.

A claim names its source in the paper, states what the paper says, says what we measure, and gives the
expected relation (an interval the whole confidence interval must lie in). Its negative control is the same
measurement in a setting where the paper says the effect must vanish; the control must fail the claim.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from sims.engine import Estimate, Experiment, Result, mean_ci


@dataclass(frozen=True)
class Expect:
    """The expected relation: the measured confidence interval must lie inside [low, high]."""

    low: float = -math.inf
    high: float = math.inf

    def holds(self, est: Estimate) -> bool:
        return self.low <= est.low and est.high <= self.high

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
    the default, and a claim that needs more (`Claim.seeds`) gets them added (`for_claim`)."""

    preset: str = "quick"
    seeds: tuple[int, ...] = (0, 1, 2)
    cache: Path | None = None
    seeds_chosen: bool = False

    def results(self, experiment: Experiment, **overrides: Any) -> list[Result]:
        """The experiment at this preset with overrides, one cached result per seed."""
        return experiment.seeds(experiment.config(self.preset, **overrides), self.seeds, self.cache)

    def for_claim(self, claim: "Claim") -> "Context":
        """This context with enough seeds for `claim`: the default seeds (repeats dropped) followed by the
        smallest non-negative integers not among them, claim.seeds in all; unchanged when the user chose the
        seeds or there are enough."""
        base = tuple(dict.fromkeys(self.seeds))
        if self.seeds_chosen or len(base) >= claim.seeds:
            return self
        extra = [s for s in range(len(base) + claim.seeds) if s not in base]
        return replace(self, seeds=base + tuple(extra[:claim.seeds - len(base)]))


Measure = Callable[[Context], Sequence[float]]


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a paper.

    name: short identifier; paper: module name; source: section / theorem / figure; statement: what the
    paper says; measurement: what we measure; expect: relation the measured CI must satisfy; measure:
    Context -> one value per seed (NaN where the effect did not happen); control: the same measurement in a
    setting where the effect must vanish; control_setting: that setting in words; paper_value: a number the
    paper publishes for this quantity, cited, when it has one; seeds: how many seeds the claim and its control
    are measured over by default when that is more than the context's (a statistic so noisy per seed that
    the default three give an interval too wide to decide it), 0 for the context's own.
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


@dataclass
class Outcome:
    """The measured claim and its control with their verdicts."""

    claim: Claim
    values: list[float]
    estimate: Estimate | None
    passed: bool
    control_values: list[float] = field(default_factory=list)
    control_estimate: Estimate | None = None
    control_passed: bool | None = None
    wall_s: float = 0.0
    error: str = ""
    seeds: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """The claim holds and its control does not."""
        return self.passed and self.control_passed is False


def _decide(values: Sequence[float], expect: Expect) -> tuple[Estimate | None, bool]:
    vals = [float(v) for v in values]
    if not vals or not all(np.isfinite(vals)):
        return None, False
    est = mean_ci(vals)
    return est, expect.holds(est)


def describe(values: Sequence[float], est: Estimate | None) -> str:
    """Text for the measured column: mean [CI], or how many runs gave no value."""
    if est is not None:
        return str(est)
    missing = sum(1 for v in values if not np.isfinite(v))
    return f"no effect in {missing}/{len(values)} runs" if values else "not measured"


def evaluate(claim: Claim, ctx: Context) -> Outcome:
    """Measure the claim and its control over the claim's seeds (`Context.for_claim`) and decide both by their
    confidence intervals."""
    start = time.perf_counter()
    ctx = ctx.for_claim(claim)
    values = [float(v) for v in claim.measure(ctx)]
    est, passed = _decide(values, claim.expect)
    out = Outcome(claim, values, est, passed, seeds=ctx.seeds)
    if claim.control is not None:
        out.control_values = [float(v) for v in claim.control(ctx)]
        out.control_estimate, out.control_passed = _decide(out.control_values, claim.expect)
    out.wall_s = time.perf_counter() - start
    return out
