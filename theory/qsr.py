"""Theory of Gu, Lyu, Arora, Zhang, Huang, "A Quadratic Synchronization Rule for Distributed Deep Learning"
(ICLR 2024, arXiv 2310.14423): the synchronisation rules, their replay over a learning-rate schedule, the slow-SDE
drift factor each rule buys along the schedule, and a communication model of wall time.

The rule (paper Sec. 2, as the official code's `adjust_h` applies it; shared/papers/localsgd_qsr_momentum.md 1.1):
the number of local steps of communication round s is
    H^(s) = max(H_base, floor((alpha / eta_s)^gamma)),
with eta_s the learning rate of the round's first step, gamma = 2 for QSR (gamma = 1: H proportional to 1/eta;
alpha = 0: a constant H = init_h). During the learning-rate warm-up H = init_h; H is capped by the steps left and
is at least 1; H stays fixed for the whole round while eta keeps decaying inside it.

Why gamma = 2 [ours, from the slow SDE of theory.local_sgd; the paper's Theorem 3.1 was read only as quoted by
reviewers]: Local SGD with K workers adds to SGD's slow drift the factor 1 + (K - 1) psi(eta H (lambda_i + lambda_j))
per Hessian eigen-pair. With H constant, eta H -> 0 as eta decays and the factor falls back to 1 (SGD); with
H = beta/eta it stays at 1 + (K - 1) psi(beta (lambda_i + lambda_j)), strictly between 1 and K; with H = (alpha/eta)^2,
eta H = alpha^2 / eta -> infinity and the factor tends to K, while each round lasts the same slow time
eta^2 H = alpha^2. The factor along a schedule is `drift_factor_along`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from theory import local_sgd

SCHEDULE_KINDS = ("cosine", "linear", "step", "constant")


# ---------------------------------------------------------------------------------------------------------
# learning-rate schedules
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LRSchedule:
    """A learning-rate schedule over `total` steps, as the official code's schedulers (paper App., `xscheduler.py`),
    except that the warm-up starts at its own `warmup_start` (the official warm-up starts at the final learning rate;
    set warmup_start = final to match it, as `vit_schedule` does).

    kind: "cosine", "linear", "step" or "constant" after the warm-up; peak: the learning rate at the end of the
    warm-up; total: steps in all; warmup: steps of linear warm-up from `warmup_start` to `peak` (0: none);
    final: the learning rate the cosine or linear decay ends at; milestones / gamma: for "step", the steps at which
    the rate is multiplied by gamma. The decay runs over the steps after the warm-up (total - warmup of them), as the
    official scheduler does; the research notes (1.2) warn that a cosine over all `total` steps gives other counts.
    """

    kind: str = "cosine"
    peak: float = 0.1
    total: int = 1000
    warmup: int = 0
    warmup_start: float = 1e-6
    final: float = 0.0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SCHEDULE_KINDS)}; got {self.kind!r}.")
        if not (self.peak > 0 and math.isfinite(self.peak)):
            raise ValueError(f"peak must be a positive learning rate; got {self.peak}.")
        if int(self.total) != self.total or self.total < 1:
            raise ValueError(f"total must be a positive whole number of steps; got {self.total}.")
        if int(self.warmup) != self.warmup or not 0 <= self.warmup < self.total:
            raise ValueError(f"warmup must be a whole number of steps in [0, total); got {self.warmup}.")
        if self.warmup and not self.warmup_start > 0:
            raise ValueError(f"warmup_start must be positive; got {self.warmup_start}.")
        if not 0 <= self.final <= self.peak:
            raise ValueError(f"final must lie in [0, peak]; got {self.final}.")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must lie in (0, 1]; got {self.gamma}.")

    def rates(self) -> np.ndarray:
        """The learning rate of every step t = 0 .. total - 1 (float64)."""
        t = np.arange(self.total, dtype=float)
        lr = np.empty(self.total)
        w = self.warmup
        if w:
            lr[:w] = self.warmup_start + (self.peak - self.warmup_start) * t[:w] / w
        rest = t[w:] - w
        span = max(self.total - w, 1)
        if self.kind == "cosine":
            lr[w:] = self.final + 0.5 * (self.peak - self.final) * (1.0 + np.cos(np.pi * rest / span))
        elif self.kind == "linear":
            lr[w:] = self.peak + (self.final - self.peak) * rest / span
        elif self.kind == "step":
            n_decays = np.searchsorted(np.sort(np.asarray(self.milestones, dtype=float)), t[w:], side="right")
            lr[w:] = self.peak * self.gamma ** n_decays
        else:
            lr[w:] = self.peak
        return lr


# ---------------------------------------------------------------------------------------------------------
# synchronisation rules and their replay
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncRule:
    """How many local steps a round takes (paper Sec. 2; official `LocalOptimizer.adjust_h`).

    alpha: the rule's constant (0: constant H = init_h); power: gamma, 2 for QSR, 1 for H proportional to 1/eta;
    h_base: H_base, the smallest H the rule sets after the warm-up; init_h: H during the warm-up (and the constant
    H when alpha = 0). `data_parallel()` (H = 1 throughout) is the gradient-all-reduce baseline's round count."""

    alpha: float = 0.0
    power: float = 2.0
    h_base: int = 1
    init_h: int = 1

    def __post_init__(self) -> None:
        if not (self.alpha >= 0 and math.isfinite(self.alpha)):
            raise ValueError(f"alpha must be a non-negative number; got {self.alpha}.")
        if not (self.power > 0 and math.isfinite(self.power)):
            raise ValueError(f"power must be positive; got {self.power}.")
        for name in ("h_base", "init_h"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"{name} must be a whole number >= 1; got {v}.")

    @staticmethod
    def constant(h: int) -> "SyncRule":
        return SyncRule(alpha=0.0, power=2.0, h_base=h, init_h=h)

    @staticmethod
    def data_parallel() -> "SyncRule":
        return SyncRule.constant(1)

    @staticmethod
    def qsr(alpha: float, h_base: int, init_h: int | None = None) -> "SyncRule":
        return SyncRule(alpha=alpha, power=2.0, h_base=h_base, init_h=h_base if init_h is None else init_h)

    @staticmethod
    def inverse_lr(alpha: float, h_base: int, init_h: int | None = None) -> "SyncRule":
        """H = max(H_base, floor(alpha / eta)): the power-1 rule."""
        return SyncRule(alpha=alpha, power=1.0, h_base=h_base, init_h=h_base if init_h is None else init_h)

    def h(self, lr: float, step: int, total: int, warmup: int = 0) -> int:
        """H of a round whose first step is `step` and runs at learning rate `lr`, as the official `adjust_h`:
        init_h during the warm-up or when alpha = 0, else max(min(max(floor((alpha/lr)^power), h_base),
        total - step), 1). One difference: here the cap at the steps left applies in every case, while the official
        code skips it during the warm-up and for alpha = 0, letting a last round run past the end unaveraged; no
        preset is affected (their totals are multiples of init_h where it matters)."""
        if step < warmup or self.alpha == 0.0:
            h = self.init_h
        else:
            if not lr > 0:
                raise ValueError(f"the learning rate at step {step} must be positive for the rule; got {lr}.")
            h = max(int((self.alpha / lr) ** self.power), self.h_base)
        return max(min(h, total - step), 1)


@dataclass(frozen=True)
class Rounds:
    """A replayed synchronisation schedule: starts[s] is the first step of round s, lengths[s] its H, lr_start[s]
    the learning rate of its first step. `count` rounds in all; their lengths add up to the schedule's steps."""

    starts: np.ndarray
    lengths: np.ndarray
    lr_start: np.ndarray
    total: int = field(default=0)

    @property
    def count(self) -> int:
        return int(self.lengths.size)

    def h_per_step(self) -> np.ndarray:
        """The H in force at every step [total]."""
        return np.repeat(self.lengths, self.lengths)

    def share_of_data_parallel(self) -> float:
        """Rounds as a share of the all-reduces of data-parallel training (one per step)."""
        return self.count / self.total


def replay(rule: SyncRule, lrs: np.ndarray, warmup: int = 0) -> Rounds:
    """Every round's first step and H when `rule` runs over the per-step learning rates `lrs` (the official call
    order: step, average when the round is complete, then the next round's H from the learning rate of its first
    step). The last round is cut to the steps left."""
    lrs = np.asarray(lrs, dtype=float)
    total = int(lrs.size)
    if total < 1:
        raise ValueError("lrs must hold at least one learning rate.")
    starts, lengths = [], []
    s = 0
    while s < total:
        h = rule.h(float(lrs[s]), s, total, warmup)
        starts.append(s)
        lengths.append(h)
        s += h
    starts_a = np.asarray(starts, dtype=np.int64)
    return Rounds(starts_a, np.asarray(lengths, dtype=np.int64), lrs[starts_a], total)


def h_of(rule: SyncRule, lrs: np.ndarray, warmup: int = 0):
    """The rule as a function of the round's first step, for an optimizer that asks once per round:
    step -> rule.h(lrs[step], step, len(lrs), warmup)."""
    lrs = np.asarray(lrs, dtype=float)
    total = int(lrs.size)

    def at(step: int) -> int:
        if not 0 <= step < total:
            raise ValueError(f"step must lie in [0, {total}); got {step}.")
        return rule.h(float(lrs[step]), int(step), total, warmup)

    return at


# ---------------------------------------------------------------------------------------------------------
# the slow-SDE drift factor along a schedule
# ---------------------------------------------------------------------------------------------------------


def round_alpha(rounds: Rounds, lrs: np.ndarray) -> np.ndarray:
    """The conventional-SDE length of every round, sum of eta over its steps (eta H when eta is constant in it)."""
    c = np.concatenate([[0.0], np.cumsum(np.asarray(lrs, dtype=float))])
    return c[rounds.starts + rounds.lengths] - c[rounds.starts]


def round_slow_time(rounds: Rounds, lrs: np.ndarray) -> np.ndarray:
    """The slow time of every round, sum of eta^2 over its steps (eta^2 H; alpha^2 for QSR at constant eta)."""
    c = np.concatenate([[0.0], np.cumsum(np.asarray(lrs, dtype=float) ** 2)])
    return c[rounds.starts + rounds.lengths] - c[rounds.starts]


def _factor(K: int, a: float, h: int, lam: float) -> float:
    """The finite-eta drift factor of one round of h steps and conventional length a (mean eta = a / h):
    theory.local_sgd.label_noise_ratio_discrete, exactly 1 for h = 1 and 1 + (K - 1) psi(2 a lambda) as eta -> 0."""
    return float(local_sgd.label_noise_ratio_discrete(K, a / h, int(h), lam))


def drift_factor_along(rounds: Rounds, lrs: np.ndarray, K: int, lam: float) -> np.ndarray:
    """[ours] The label-noise drift factor of every round: 1 + (K - 1) psi(2 a_s lambda) in the slow-SDE limit
    (theory.local_sgd, `label_noise_ratio`), with a_s the round's length in conventional time (`round_alpha`),
    computed in its finite-eta form (`label_noise_ratio_discrete` at the round's mean learning rate) so that H = 1,
    which is SGD, gets exactly 1."""
    a = round_alpha(rounds, lrs)
    return np.array([_factor(K, a[s], rounds.lengths[s], lam) for s in range(rounds.count)])


def regularisation(rounds: Rounds, lrs: np.ndarray, K: int, lam: float) -> float:
    """[ours] The extra regularisation a rule buys over SGD along the whole schedule: the slow-time-weighted mean of
    the drift factor, sum_s factor_s * slow_time_s / sum_s slow_time_s. 1 for SGD (or K = 1), K at most."""
    w = round_slow_time(rounds, lrs)
    return float(np.sum(drift_factor_along(rounds, lrs, K, lam) * w) / np.sum(w))


def tail_factor(rounds: Rounds, lrs: np.ndarray, K: int, lam: float, share: float = 0.1) -> float:
    """[ours] The same weighted mean over the rounds that start in the last `share` of the steps (the low-LR tail,
    where the rules differ most)."""
    if not 0 < share <= 1:
        raise ValueError(f"share must lie in (0, 1]; got {share}.")
    keep = rounds.starts >= (1.0 - share) * rounds.total
    if not keep.any():
        keep = rounds.starts == rounds.starts.max()
    w = round_slow_time(rounds, lrs)[keep]
    return float(np.sum(drift_factor_along(rounds, lrs, K, lam)[keep] * w) / np.sum(w))


# ---------------------------------------------------------------------------------------------------------
# the bilinear label-noise toy's slow flow under a schedule
# ---------------------------------------------------------------------------------------------------------


def bilinear_sharpness_along(lam0: float, sigma: float, batch: int, K: int, rounds: Rounds,
                             lrs: np.ndarray) -> np.ndarray:
    """[ours] Sharpness of the toy of theory.local_sgd at the end of every round, integrating its slow flow
    d log(lambda^2 - 4)/dt = -8 c(lambda), c = sigma^2/(4B) (1 + (K-1) psi(2 a_s lambda)) (in the finite-eta form of
    `drift_factor_along`), round by round with the round's conventional length a_s and slow time (`round_alpha`,
    `round_slow_time`); K = 1, or H = 1 throughout, is SGD.
    Exact within a round for a fixed factor; the factor is evaluated at the round's starting sharpness, which the
    rounds make a fine grid of (each round moves lambda by O(slow time))."""
    if lam0 <= local_sgd.LAMBDA_MIN:
        return np.full(rounds.count, local_sgd.LAMBDA_MIN)
    a = round_alpha(rounds, lrs)
    dt = round_slow_time(rounds, lrs)
    out = np.empty(rounds.count)
    y = math.log(lam0 ** 2 - 4.0)
    for s in range(rounds.count):
        lam = math.sqrt(4.0 + math.exp(y))
        # two-stage (midpoint) update of y with the factor read at the current and the half-way sharpness
        f0 = _factor(K, a[s], rounds.lengths[s], lam)
        y_mid = y - 4.0 * sigma ** 2 / (4.0 * batch) * f0 * dt[s]
        lam_mid = math.sqrt(4.0 + math.exp(y_mid))
        f1 = _factor(K, a[s], rounds.lengths[s], lam_mid)
        y -= 8.0 * sigma ** 2 / (4.0 * batch) * f1 * dt[s]
        out[s] = math.sqrt(4.0 + math.exp(y))
    return out


# ---------------------------------------------------------------------------------------------------------
# communication model
# ---------------------------------------------------------------------------------------------------------


def wall_time(steps: int, rounds: int, t_compute: float, t_comm: float) -> float:
    """Predicted wall time of training: steps x compute time per step + rounds x time of one all-reduce."""
    return float(steps) * float(t_compute) + float(rounds) * float(t_comm)


@dataclass(frozen=True)
class AllReduceFit:
    """Latency-bandwidth model of one all-reduce of n floats: t(n) = latency + n / rate (seconds; rate in floats
    per second), least squares on measured times."""

    latency: float
    rate: float

    def time(self, n) -> np.ndarray:
        return self.latency + np.asarray(n, dtype=float) / self.rate


def fit_allreduce(sizes, times) -> AllReduceFit:
    """Fit `AllReduceFit` to measured (size, seconds) pairs (at least two distinct sizes)."""
    n = np.asarray(sizes, dtype=float)
    t = np.asarray(times, dtype=float)
    if n.shape != t.shape or np.unique(n).size < 2:
        raise ValueError("fit_allreduce needs matching sizes and times with at least two distinct sizes.")
    slope, icpt = np.polyfit(n, t, 1)
    return AllReduceFit(latency=float(max(icpt, 0.0)), rate=float(1.0 / slope) if slope > 0 else math.inf)


def speedup_over_data_parallel(steps: int, rounds: int, t_compute: float, t_comm: float) -> float:
    """Predicted wall time of data-parallel training (one all-reduce per step) over that of a local method with
    `rounds` all-reduces, both by `wall_time`."""
    return wall_time(steps, steps, t_compute, t_comm) / wall_time(steps, rounds, t_compute, t_comm)


# ---------------------------------------------------------------------------------------------------------
# the paper's ViT-B recipe (official scripts; research notes 1.2)
# ---------------------------------------------------------------------------------------------------------

VIT_STEPS = 93_600          # 300 epochs x 312 steps (batch 4096 on ImageNet-1k)
VIT_WARMUP = 10_000
VIT_PEAK = 0.008
VIT_MIN = 1e-6
VIT_H_BASE = 4
VIT_ALPHA = 0.0175


def vit_schedule() -> LRSchedule:
    """The ViT-B Local AdamW learning rate: linear warm-up from 1e-6 to 0.008 over 10,000 steps, then a cosine to
    1e-6 over the remaining 83,600 steps (official scripts and `xscheduler.py`; research notes 1.2)."""
    return LRSchedule(kind="cosine", peak=VIT_PEAK, total=VIT_STEPS, warmup=VIT_WARMUP, warmup_start=VIT_MIN,
                      final=VIT_MIN)


__all__ = ["AllReduceFit", "LRSchedule", "Rounds", "SCHEDULE_KINDS", "SyncRule", "VIT_ALPHA", "VIT_H_BASE",
           "VIT_MIN", "VIT_PEAK", "VIT_STEPS", "VIT_WARMUP", "bilinear_sharpness_along", "drift_factor_along",
           "fit_allreduce", "h_of", "regularisation", "replay", "round_alpha", "round_slow_time",
           "speedup_over_data_parallel", "tail_factor", "vit_schedule", "wall_time"]
