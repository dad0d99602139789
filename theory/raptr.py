"""RaPTr (progressive subnetwork training): schedule arithmetic, FLOPs, and the stability of residual networks.

Panigrahi, Saunshi, Lyu, Miryoosefi, Reddi, Kale, Kumar, "Efficient Stagewise Pretraining via Progressive
Subnetworks", arXiv 2402.05913 (v1 "Random Path Training", v2 / ICLR 2025 "Random Part Training"). A network of L
residual blocks is trained in stages s = 1..k of T_s steps; at each step only a random subset of the blocks runs
(a skipped block is the identity of its residual path), the blocks of a fixed set I always run, and the expected
number of active blocks l_s grows from stage to stage until the full network trains (research notes
`shared/papers/rnn_mifa_raptr.md`, Sec. 3.1).

What this module encodes, and where it comes from
-------------------------------------------------
Source status follows the research notes: READ means the notes took it from the paper's abstract or from the
ICLR reviews quoting the paper (secondary, medium trust); UNVERIFIED means the notes flag it as not confirmed
against the paper's body; [ours] is our own arithmetic, derivation or measurement, never a claim of the paper.

* Schedule arithmetic (notes Sec. 3.2; the formulas are [ours, arithmetic] on the paper's setting):
  `expected_active` l = |I| + pi (L - |I|) and its inverse `inclusion_probability`; `block_flops_ratio`
  sum_s (T_s / T) l_s / L; `relative_cost` q + (1 - q) * ratio with a share q of a full step spent outside the
  blocks (embeddings, head, optimizer); `speedup`, `saving_percent`, `speedup_from_saving`; `outside_share_for`,
  the q (or, with the same algebra, the fraction of steps of a full-model warm-up) that turns one ratio into
  another; `active_count_moments` / `executed_blocks_moments`, the mean and variance of the blocks that a
  Bernoulli schedule runs (so a counted total can be compared with the formula).
* The paper's schedules and stated numbers as data (`PAPER_SCHEDULES`, `STATED_SAVING_RANGE_PERCENT`,
  `paper_schedule_flops`): BERT-base 6-8-10-12 on equal stages, stated 1.33x (READ); 12-16-20-24 on 24 layers
  (READ for BERT-large, UNVERIFIED for UL2); UL2-1.6B stated 1.2x (READ) with its schedule UNVERIFIED; the
  abstract's "20-33% fewer FLOPs" (READ, abstract v1; v2 says "up to 33%").
* Stability (notes Sec. 3.3): `layer_removal_changes` / `stability`, psi = ||F(x) - F_{-l}(x)|| / ||F(x)||
  averaged over inputs and removed layers; Lemma 1 (paraphrase, READ through the notes; the exact network it
  covers is UNVERIFIED): with residual connections and layer norm the gap decays like L^{-1/2} at random
  initialisation, without either it stays Omega(1). `STABILITY_VARIANTS` says per architecture variant which
  slope is the lemma's statement and which is ours; `mean_field_gap` is our [ours] large-width prediction of psi
  itself (derivation in its docstring), checked against the notes' measured table (`NOTES_MEASURED_GAPS`).
* Theorem 1 (paraphrase, constants UNVERIFIED): |L_2 - L_1| <= C * stability (`transition_gap_bound`).
* `loglog_slope`: least-squares slope of ln y on ln x with its standard error (what the stability
  experiments fit); the same numbers as `sims.engine.curves.fit_loglog` (scipy), written in numpy here because
  theory never imports sims.

Pure functions of numbers and arrays: no randomness, no I/O. Bad input raises ValueError naming the parameter.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


# ---- input checks ---------------------------------------------------------------------------------------
def _real(name: str, value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}.") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out!r}.")
    return out


def _in_range(name: str, value: object, low: float, high: float) -> float:
    out = _real(name, value)
    if not low <= out <= high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}], got {out!r}.")
    return out


def _positive(name: str, value: object) -> float:
    out = _real(name, value)
    if out <= 0:
        raise ValueError(f"{name} must be positive, got {out!r}.")
    return out


def _non_negative(name: str, value: object) -> float:
    out = _real(name, value)
    if out < 0:
        raise ValueError(f"{name} must be non-negative, got {out!r}.")
    return out


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not float(_real(name, value)).is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}.")
    out = int(float(value))  # type: ignore[arg-type]
    if out < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {out}.")
    return out


def _layers(n_layers: object, n_fixed: object) -> tuple[int, int]:
    L = _count("n_layers", n_layers, 1)
    f = _count("n_fixed", n_fixed, 0)
    if f > L:
        raise ValueError(f"n_fixed must not exceed n_layers = {L}, got {f}.")
    return L, f


def _vector(name: str, value: object) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of real numbers.") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty one-dimensional sequence, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values.")
    return arr


# ---- schedule arithmetic (notes Sec. 3.2) ----------------------------------------------------------------
def expected_active(n_layers: int, n_fixed: int, pi: float) -> float:
    """l = |I| + pi (L - |I|): expected active blocks per step when the |I| fixed blocks always run and each other
    block runs with probability pi (notes Sec. 3.2; for the paper's fixed first and last layers, l = 2 + pi (L-2))."""
    L, f = _layers(n_layers, n_fixed)
    p = _in_range("pi", pi, 0.0, 1.0)
    return f + p * (L - f)


def inclusion_probability(n_layers: int, n_fixed: int, active: float) -> float:
    """pi = (l - |I|) / (L - |I|), the inverse of `expected_active`; 1 when every block is fixed (then l = L)."""
    L, f = _layers(n_layers, n_fixed)
    a = _in_range("active", active, f, L)
    return 1.0 if L == f else (a - f) / (L - f)


def block_flops_ratio(steps: Sequence[float], active: Sequence[float], n_layers: int) -> float:
    """sum_s (T_s / T) l_s / L: block FLOPs of a schedule relative to training the full network for the same steps.

    Forward and backward cost of the blocks scale with the number of blocks that run (notes Sec. 3.2). steps: T_s
    per stage (any positive weights; only their proportions matter); active: l_s per stage, in [0, L]."""
    L = _count("n_layers", n_layers, 1)
    t = _vector("steps", steps)
    a = _vector("active", active)
    if t.size != a.size:
        raise ValueError(f"active must have one entry per stage of steps ({t.size}), got {a.size}.")
    if np.any(t <= 0):
        raise ValueError("steps must be positive in every stage.")
    if np.any(a < 0) or np.any(a > L):
        raise ValueError(f"active must lie in [0, n_layers = {L}] in every stage.")
    return float(np.sum(t * a) / (t.sum() * L))


def relative_cost(block_ratio: float, q: float) -> float:
    """q + (1 - q) * block_ratio: cost of a whole step relative to full training when a share q of a full step is
    spent outside the blocks (embeddings, output head, optimizer update), which always runs (notes Sec. 3.2)."""
    r = _non_negative("block_ratio", block_ratio)
    s = _in_range("q", q, 0.0, 1.0)
    return s + (1.0 - s) * r


def speedup(relative: float) -> float:
    """1 / relative cost: how many times fewer FLOPs than full training ("1.33x" in the paper's wording)."""
    return 1.0 / _positive("relative", relative)


def saving_percent(relative: float) -> float:
    """100 (1 - relative cost): the percentage of FLOPs saved ("25% fewer FLOPs")."""
    return 100.0 * (1.0 - _non_negative("relative", relative))


def speedup_from_saving(percent: float) -> float:
    """The speed-up that a saving of `percent` % means: 1 / (1 - percent / 100) (20% -> 1.25x, 33.3% -> 1.5x)."""
    p = _real("percent", percent)
    if not 0.0 <= p < 100.0:
        raise ValueError(f"percent must lie in [0, 100), got {p!r}.")
    return 1.0 / (1.0 - p / 100.0)


def outside_share_for(relative: float, block_ratio: float) -> float:
    """[ours] The share q with q + (1 - q) * block_ratio = relative (the inverse of `relative_cost` in q).

    The same algebra gives the fraction of all steps that a full-model warm-up stage must take to move a schedule
    with block ratio b to the relative cost `relative` (a warm-up stage is a stage with l = L). Example: the
    12-16-20-24 schedule (b = 0.75) reaches UL2's stated 1.2x (relative 5/6) with q = 1/3."""
    b = _in_range("block_ratio", block_ratio, 0.0, 1.0)
    if b == 1.0:
        raise ValueError("block_ratio must be below 1 (a full-network schedule leaves q undetermined).")
    r = _in_range("relative", relative, b, 1.0)
    return (r - b) / (1.0 - b)


def active_count_moments(n_layers: int, n_fixed: int, pi: float) -> tuple[float, float]:
    """(mean, variance) of the blocks run in one step of a Bernoulli stage: |I| + Binomial(L - |I|, pi), so the
    mean is `expected_active` and the variance (L - |I|) pi (1 - pi) [ours, arithmetic]. A fixed-size (subset) stage
    runs exactly l blocks every step (variance 0)."""
    L, f = _layers(n_layers, n_fixed)
    p = _in_range("pi", pi, 0.0, 1.0)
    return f + p * (L - f), (L - f) * p * (1.0 - p)


def executed_blocks_moments(steps: Sequence[int], pis: Sequence[float], n_layers: int,
                            n_fixed: int) -> tuple[float, float]:
    """(mean, standard deviation) of the total blocks run over a Bernoulli schedule with T_s steps at inclusion pi_s
    (independent steps): mean sum_s T_s l_s, variance sum_s T_s (L - |I|) pi_s (1 - pi_s) [ours, arithmetic]. The
    mean divided by T L is `block_flops_ratio`; a counted total should lie within a few standard deviations."""
    L, f = _layers(n_layers, n_fixed)
    t = _vector("steps", steps)
    p = _vector("pis", pis)
    if t.size != p.size:
        raise ValueError(f"pis must have one entry per stage of steps ({t.size}), got {p.size}.")
    if np.any(t <= 0) or np.any(t != np.round(t)):
        raise ValueError("steps must be positive whole numbers in every stage.")
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError("pis must lie in [0, 1] in every stage.")
    mean = float(np.sum(t * (f + p * (L - f))))
    var = float(np.sum(t * (L - f) * p * (1.0 - p)))
    return mean, math.sqrt(var)


# ---- the paper's schedules and stated numbers ------------------------------------------------------------
@dataclass(frozen=True)
class PaperSchedule:
    """A schedule of the paper as data.

    name: key in `PAPER_SCHEDULES`; model: the model it was used on; n_layers: L; active: l_s per stage (layers
    on the path, fixed ones included); stage_steps: T_s proportions (equal stages: all 1); fixed: the number of
    always-included layers (first and last); stated_speedup: the FLOPs speed-up the paper states for this model,
    as written (rounded; None when none is stated); source: where the schedule and number come from; status: "READ" or
    "UNVERIFIED" per the research notes (for the schedule and the stated number separately, in words)."""

    name: str
    model: str
    n_layers: int
    active: tuple[int, ...]
    stage_steps: tuple[float, ...]
    fixed: int
    stated_speedup: float | None
    source: str
    status: str


PAPER_SCHEDULES: dict[str, PaperSchedule] = {
    "bert_base": PaperSchedule(
        "bert_base", "BERT-base", 12, (6, 8, 10, 12), (1, 1, 1, 1), 2, 1.33,
        "arXiv 2402.05913 BERT experiments (Sec. 3.1/3.4 of the notes, from the ICLR reviews): schedule 6-8-10-12 "
        "on equal stages, first and last layers fixed, reported at '1.33x fewer FLOPs'.",
        "schedule READ; 1.33x READ"),
    "bert_large": PaperSchedule(
        "bert_large", "BERT-large", 24, (12, 16, 20, 24), (1, 1, 1, 1), 2, None,
        "Notes Sec. 3.1: 24-layer models use 12-16-20-24 with I = (1, 24) (a reviewer's quote); BERT-large is in "
        "the 2024 version (presence in the final version UNVERIFIED); no speed-up stated for it in the notes.",
        "schedule READ"),
    "ul2_1.6b": PaperSchedule(
        "ul2_1.6b", "UL2-1.6B", 24, (12, 16, 20, 24), (1, 1, 1, 1), 2, 1.2,
        "Notes Sec. 3.1/3.4: UL2-1.6B matches baseline perplexity at '1.2x fewer FLOPs'; the 12-16-20-24 schedule "
        "is assumed by analogy, and the runs had a short full-model warm-up (details UNVERIFIED).",
        "schedule UNVERIFIED; 1.2x READ"),
}
"""The paper's schedules by name. Note [ours]: the assumed UL2 schedule on equal stages gives 1.33x, not the stated
1.2x; a full-model warm-up of 1/3 of the steps (or a 1/3 share outside the blocks) would reconcile them
(`outside_share_for`), which is arithmetic, not a statement of the paper."""

STATED_SAVING_RANGE_PERCENT: tuple[float, float] = (20.0, 33.0)
"""'20-33% fewer FLOPs than standard training' (arXiv 2402.05913 v1 abstract, READ; v2: 'up to 33%'). 33 is the
rounded 1/3 of a 1.5x speed-up, so the range is speed-ups 1.25x-1.5x (relative FLOPs 0.80-0.67)."""


@dataclass(frozen=True)
class ScheduleFlops:
    """FLOPs of a named paper schedule.

    name: the schedule's key; block_ratio: sum_s (T_s/T) l_s / L; relative: total relative cost at the share q
    outside the blocks; speedup: 1 / relative; saving_percent: 100 (1 - relative); stated_speedup: the paper's
    number for the model (None when not stated); q: the share outside the blocks used."""

    name: str
    block_ratio: float
    relative: float
    speedup: float
    saving_percent: float
    stated_speedup: float | None
    q: float


def paper_schedule_flops(name: str, q: float = 0.0) -> ScheduleFlops:
    """Relative FLOPs and speed-up of a schedule in `PAPER_SCHEDULES` (q: the share of a full step outside the
    blocks; 0 counts the blocks alone, as the paper's '1.33x' does)."""
    if name not in PAPER_SCHEDULES:
        raise ValueError(f"name must be one of {sorted(PAPER_SCHEDULES)}, got {name!r}.")
    sch = PAPER_SCHEDULES[name]
    ratio = block_flops_ratio(sch.stage_steps, sch.active, sch.n_layers)
    rel = relative_cost(ratio, q)
    return ScheduleFlops(name, ratio, rel, speedup(rel), saving_percent(rel), sch.stated_speedup, float(q))


# ---- stability under removing one layer (notes Sec. 3.3) -------------------------------------------------
def layer_removal_changes(full: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """psi_l = mean over inputs of ||F(x) - F_{-l}(x)|| / ||F(x)||, one value per removed layer l.

    full: F(x), shape [n, d] (n inputs, d output features); removed: F_{-l}(x) with block l skipped, shape
    [k, n, d] for k removed layers (or [n, d] for one). Norms are Euclidean over the last axis. With a final layer
    norm ||F(x)|| = sqrt(d), so this equals the notes' ||F - F_{-l}|| / sqrt(d) (notes Sec. 3.5)."""
    f = np.asarray(full, dtype=float)
    r = np.asarray(removed, dtype=float)
    if f.ndim != 2 or f.shape[0] == 0 or f.shape[1] == 0:
        raise ValueError(f"full must have shape [n inputs, d features] with n, d >= 1, got {f.shape}.")
    if r.ndim == 2:
        r = r[None]
    if r.ndim != 3 or r.shape[1:] != f.shape or r.shape[0] == 0:
        raise ValueError(f"removed must have shape [k, {f.shape[0]}, {f.shape[1]}] or {f.shape}, got {r.shape}.")
    if not (np.all(np.isfinite(f)) and np.all(np.isfinite(r))):
        raise ValueError("full and removed must contain only finite values.")
    norm = np.linalg.norm(f, axis=-1)
    if np.any(norm == 0):
        raise ValueError("full must have a non-zero output for every input (the change is relative to it).")
    return (np.linalg.norm(r - f[None], axis=-1) / norm[None]).mean(axis=1)


def stability(full: np.ndarray, removed: np.ndarray) -> float:
    """psi: `layer_removal_changes` averaged over the removed layers (one random layer removed, uniformly) -- the
    quantity Theorem 1 bounds the transition gap by (notes Sec. 3.3; paraphrase)."""
    return float(layer_removal_changes(full, removed).mean())


@dataclass(frozen=True)
class StabilityVariant:
    """An architecture variant of the depth law.

    name: key in `STABILITY_VARIANTS`; block: the residual block h -> ... it stands for (W random N(0, 1/d), LN a
    layer norm without affine parameters, a final LN on the output); slope: predicted d ln psi / d ln L as
    L -> infinity; basis: "lemma" when the slope restates Lemma 1 (paraphrase read through the notes; which exact
    network the lemma covers is UNVERIFIED) or "ours" when it is our derivation (`mean_field_gap`); measured_slope:
    our measured log-log slope over L = 4..128 (notes Sec. 3.5, [ours], d = 256, 5-6 draws)."""

    name: str
    block: str
    slope: float
    basis: str
    measured_slope: float


STABILITY_VARIANTS: dict[str, StabilityVariant] = {
    "preln_scaled": StabilityVariant("preln_scaled", "h + W LN(h) / sqrt(L)", -0.5, "lemma", -0.48),
    "preln": StabilityVariant("preln", "h + W LN(h)", -0.5, "ours", -0.39),
    "no_ln": StabilityVariant("no_ln", "h + W h", 0.0, "lemma", -0.01),
    "post_ln": StabilityVariant("post_ln", "LN(h + W h)", 0.0, "ours", 0.03),
    "no_residual": StabilityVariant("no_residual", "LN(W h)", 0.0, "lemma", 0.00),
}
"""Lemma 1 (paraphrase): residual + LN gives a gap O(L^{-1/2}) (read here as the 1/sqrt(L)-scaled pre-LN block);
without LN ("no_ln") or without the residual path ("no_residual") the gap is Omega(1). The unscaled pre-LN block and
post-LN are not separated out by the lemma as the notes state it; their slopes are from `mean_field_gap` [ours]."""

NOTES_MEASURED_DEPTHS: tuple[int, ...] = (4, 8, 16, 32, 64, 128)
NOTES_MEASURED_GAPS: dict[str, tuple[float, ...]] = {
    "preln_scaled": (0.39, 0.29, 0.21, 0.15, 0.10, 0.07),
    "preln": (0.58, 0.49, 0.34, 0.31, 0.22, 0.15),
    "no_ln": (0.79, 0.74, 0.73, 0.70, 0.84, 0.71),
    "post_ln": (0.75, 0.75, 0.76, 0.75, 0.79, 0.85),
    "no_residual": (1.43, 1.40, 1.35, 1.39, 1.42, 1.42),
}
"""[ours] psi at random initialisation measured in the notes (Sec. 3.5: numpy, d = 256, 5-6 draws) at
`NOTES_MEASURED_DEPTHS`; a reference table for the experiments, not a claim of the paper."""

BERT_FITTED_DECAY_EXPONENT = -0.88
"""The worst-case decay O(L^{-0.88}) the 2024 version derives from a fit of BERT's per-layer stability values
(READ through a reviewer's quote, notes Sec. 3.3; the fit's details UNVERIFIED). The paper states the gap scales
as O(L^{-c}) for some c >= 0.5."""


def _variant(variant: str) -> StabilityVariant:
    if variant not in STABILITY_VARIANTS:
        raise ValueError(f"variant must be one of {sorted(STABILITY_VARIANTS)}, got {variant!r}.")
    return STABILITY_VARIANTS[variant]


def predicted_slope(variant: str) -> float:
    """The predicted large-L log-log slope of psi against depth for a variant: -1/2 with residual + pre-LN,
    0 otherwise (see `STABILITY_VARIANTS` for which are the lemma's and which are ours)."""
    return _variant(variant).slope


def mean_field_gap_per_layer(n_layers: int, variant: str) -> np.ndarray:
    """[ours] Large-width prediction of psi_l for each removed layer l = 1..L at random initialisation.

    Setting (the notes' simulation, Sec. 3.5): input of norm sqrt(d), weights N(0, 1/d), final LN, width d -> inf.
    Derivation for pre-LN, h_k = h_{k-1} + a W_k LN(h_{k-1}) (a = 1, or 1/sqrt(L) when scaled): every branch adds
    an independent direction of norm a sqrt(d), so ||h_k||^2 = d (1 + a^2 k). Removing block l changes the stream
    by a sqrt(d); a later block k maps a change delta to delta + a W_k J delta with ||J delta|| = sqrt(d) ||delta||
    / ||h_k||, so ||delta||^2 grows by (1 + a^2 (k+1)) / (1 + a^2 k) per block, which telescopes to
    (1 + a^2 L) / (1 + a^2 l). Dividing by ||h_L|| gives psi_l = a / sqrt(1 + a^2 l), first order in the removed
    branch (it underestimates the unscaled l = 1 term: 0.71 against about 0.83 simulated).
    Without LN in the branch (h + W h), after LN (LN(h + W h)), or without residual (LN(W h)), random maps keep
    angles, so psi_l is the chord between h and the block's output: sqrt(2 - sqrt(2)) ~ 0.765 for the first two
    (cosine 1/sqrt(2)), sqrt(2) for the last (orthogonal), for every l and L."""
    L = _count("n_layers", n_layers, 1)
    v = _variant(variant).name
    l = np.arange(1, L + 1, dtype=float)
    if v in ("preln", "preln_scaled"):
        a = 1.0 / math.sqrt(L) if v == "preln_scaled" else 1.0
        return a / np.sqrt(1.0 + a * a * l)
    if v == "no_residual":
        return np.full(L, math.sqrt(2.0))
    return np.full(L, math.sqrt(2.0 - math.sqrt(2.0)))


def mean_field_gap(n_layers: int, variant: str) -> float:
    """[ours] psi predicted by `mean_field_gap_per_layer`, averaged over the removed layer. For "preln_scaled" it
    tends to 2 (sqrt(2) - 1) / sqrt(L) ~ 0.83 / sqrt(L); for "preln" to 2 / sqrt(L) (slowly: the local slope over
    L = 4..128 is about -0.36, the notes measured -0.39)."""
    return float(mean_field_gap_per_layer(n_layers, variant).mean())


@dataclass(frozen=True)
class SlopeFit:
    """Least-squares fit of ln y = slope ln x + intercept.

    slope: the fitted exponent; intercept: the fitted ln y at x = 1; slope_se: the slope's standard error (NaN
    with two points, 0 on exact power-law data); points: the number of (x, y) pairs fitted."""

    slope: float
    intercept: float
    slope_se: float
    points: int


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> SlopeFit:
    """Ordinary least squares of ln y on ln x (e.g. psi against depth L) with the slope's standard error
    sqrt(residual variance / sum (ln x - mean)^2), residual variance over n - 2 degrees of freedom."""
    xs, ys = _vector("x", x), _vector("y", y)
    if xs.size != ys.size:
        raise ValueError(f"y must have one value per x ({xs.size}), got {ys.size}.")
    if xs.size < 2:
        raise ValueError("x must hold at least two points to fit a slope.")
    if np.any(xs <= 0):
        raise ValueError("x must be positive to take its logarithm.")
    if np.any(ys <= 0):
        raise ValueError("y must be positive to take its logarithm.")
    lx, ly = np.log(xs), np.log(ys)
    if np.ptp(lx) == 0:
        raise ValueError("x must take at least two distinct values to fit a slope.")
    cx = lx - lx.mean()
    sxx = float(np.sum(cx * cx))
    slope = float(np.sum(cx * (ly - ly.mean())) / sxx)
    intercept = float(ly.mean() - slope * lx.mean())
    if xs.size > 2:
        resid = ly - (intercept + slope * lx)
        se = math.sqrt(float(np.sum(resid * resid)) / (xs.size - 2) / sxx)
    else:
        se = float("nan")
    return SlopeFit(slope, intercept, se, int(xs.size))


def mean_field_slope(variant: str, depths: Sequence[int]) -> float:
    """[ours] The log-log slope of `mean_field_gap` over the given depths: what a finite-depth fit should find
    (e.g. -0.36 for "preln" over 4..128, where the asymptotic slope is -1/2)."""
    ds = _vector("depths", depths)
    if np.any(ds < 1) or np.any(ds != np.round(ds)):
        raise ValueError("depths must be whole numbers of at least 1.")
    return loglog_slope(ds, [mean_field_gap(int(d), variant) for d in ds]).slope


# ---- Theorem 1: the loss gap at a stage transition (paraphrase) ------------------------------------------
def transition_gap_bound(c: float, stability_value: float) -> float:
    """C * psi: Theorem 1's bound on |L_2(F) - L_1(F)|, the gap between the full network's loss and the mean loss
    with one random layer removed (notes Sec. 3.3). A paraphrase: the theorem needs a relative-Lipschitz
    assumption on the loss (Assumption 1), and its constant C and exact form are UNVERIFIED."""
    return _non_negative("c", c) * _non_negative("stability_value", stability_value)


def implied_constant(loss_full: float, loss_removed: float, stability_value: float) -> float:
    """|L_2 - L_1| / psi: the smallest C for which a measured transition gap satisfies `transition_gap_bound` [ours]
    (a C that stays bounded across depths and widths is what Theorem 1's form predicts)."""
    gap = abs(_real("loss_full", loss_full) - _real("loss_removed", loss_removed))
    return gap / _positive("stability_value", stability_value)
