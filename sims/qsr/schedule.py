"""Replay of the QSR paper's training recipe: how many communication rounds each synchronisation rule takes.

Gu, Lyu, Arora, Zhang, Huang, "A Quadratic Synchronization Rule for Distributed Deep Learning" (ICLR 2024,
arXiv 2310.14423), Sec. 2 and the official scripts (research notes, shared/papers/localsgd_qsr_momentum.md 1.1-1.2).
The default is the ViT-B Local AdamW recipe: 93,600 steps (300 epochs of 312), a linear warm-up from 1e-6 to 0.008
over 10,000 steps, then a cosine to 1e-6 over the remaining steps; H_base = init_h = 4. Every rule is replayed with
`theory.qsr.replay` (the official `adjust_h`: the round's first learning rate, the floor, init_h during the warm-up,
the cap at the steps left): constant H = 4, QSR at each alpha, and the power-1 rule H = max(4, floor(alpha_1/eta)).

Nothing is random here: the numbers are a function of the recipe (the seed has no effect). A run takes about a
second.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from theory import qsr as theory


@dataclass(frozen=True)
class ScheduleConfig:
    """kind: learning-rate schedule after the warm-up (cosine, linear, step, constant); total: steps in all;
    warmup: linear warm-up steps; warmup_start: the warm-up's first learning rate; peak: the learning rate after the
    warm-up; final: where the cosine or linear decay ends; milestones / gamma: the step schedule's decay steps and
    factor; h_base: H_base of the rules; init_h: H during the warm-up and the constant rule's H; alphas: QSR's
    alpha values (power 2); alpha_power1: alpha of the power-1 rule H = max(H_base, floor(alpha/eta));
    tail_share: the last share of steps whose rounds `eta_h_tail` averages over; seed: no effect (the replay is
    deterministic)."""

    kind: str = "cosine"
    total: int = theory.VIT_STEPS
    warmup: int = theory.VIT_WARMUP
    warmup_start: float = theory.VIT_MIN
    peak: float = theory.VIT_PEAK
    final: float = theory.VIT_MIN
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    h_base: int = theory.VIT_H_BASE
    init_h: int = theory.VIT_H_BASE
    alphas: tuple[float, ...] = (0.0175, 0.02, 0.025)
    alpha_power1: float = 0.0175
    tail_share: float = 0.1
    seed: int = 0

    def validate(self) -> None:
        validate.one_of("kind", self.kind, theory.SCHEDULE_KINDS)
        validate.positive_int("total", self.total, 1)
        validate.positive_int("warmup", self.warmup, 0)
        if self.warmup >= self.total:
            raise validate.ConfigError(f"warmup must be fewer steps than total; got warmup={self.warmup}, "
                                       f"total={self.total}.")
        validate.positive("warmup_start", self.warmup_start)
        validate.positive("peak", self.peak)
        validate.non_negative("final", self.final)
        if self.final > self.peak:
            raise validate.ConfigError(f"final must not exceed peak; got final={self.final}, peak={self.peak}.")
        if self.milestones:
            validate.each(validate.positive_int, "milestones", self.milestones, 1)
        elif self.kind == "step":
            raise validate.ConfigError("milestones must name at least one decay step for the step schedule.")
        validate.probability("gamma", self.gamma, open_low=True)
        validate.positive_int("h_base", self.h_base, 1)
        validate.positive_int("init_h", self.init_h, 1)
        validate.non_empty("alphas", self.alphas)
        validate.each(validate.positive, "alphas", self.alphas)
        if len({qsr_name(a) for a in self.alphas}) != len(self.alphas):
            raise validate.ConfigError(f"alphas must not repeat a value; got {self.alphas}.")
        validate.positive("alpha_power1", self.alpha_power1)
        validate.probability("tail_share", self.tail_share, open_low=True)
        validate.seed("seed", self.seed)

    def lr_schedule(self) -> theory.LRSchedule:
        return theory.LRSchedule(kind=self.kind, peak=self.peak, total=self.total, warmup=self.warmup,
                                 warmup_start=self.warmup_start, final=self.final, milestones=self.milestones,
                                 gamma=self.gamma)

    def rules(self) -> dict[str, theory.SyncRule]:
        """The replayed rules by name: constant, inverse_lr (power 1) and qsr_a<alpha> for each alpha."""
        out = {"constant": theory.SyncRule.constant(self.init_h),
               "inverse_lr": theory.SyncRule.inverse_lr(self.alpha_power1, self.h_base, self.init_h)}
        for a in self.alphas:
            out[qsr_name(a)] = theory.SyncRule.qsr(a, self.h_base, self.init_h)
        return out


def qsr_name(alpha: float) -> str:
    """The key of QSR at `alpha` in the summary, e.g. qsr_a0.0175."""
    return f"qsr_a{alpha:g}"


VIT = ScheduleConfig()


@dataclass(frozen=True)
class RuleRounds(Summary):
    """One rule replayed over the schedule.

    rounds: communication rounds (parameter all-reduces); share_of_data_parallel: rounds / steps (data-parallel
    training all-reduces once per step); h_max: the largest H of any round (the last round may be cut to the steps
    left); h_max_free: the largest H of a round that the cap at the steps left did not shorten; h_after_warmup: H of
    the first round that starts after the warm-up; eta_h_tail: mean of eta_s * H_s (the round's length in
    conventional time, the argument of the slow SDE's psi) over the rounds the rule set freely (not cut to the steps
    left) that start in the last tail_share of the steps, or the last such round when none starts there: it tends
    to 0 for a constant H, stays of order alpha_1 for the power-1 rule and grows like alpha^2 / eta for QSR; largest_jump: the largest ratio H_{s+1} / H_s between consecutive rounds, cut rounds excluded."""

    rounds: int
    share_of_data_parallel: float
    h_max: int
    h_max_free: int
    h_after_warmup: int
    eta_h_tail: float
    largest_jump: float


@dataclass(frozen=True)
class ScheduleSummary(Summary):
    """The synchronisation rules replayed over one learning-rate schedule (paper Sec. 2; official `adjust_h`).

    steps: steps in all; data_parallel_rounds: all-reduces of data-parallel training (one per step); rules: each
    rule's `RuleRounds`, by name (constant, inverse_lr, qsr_a<alpha>); lr_min_after_warmup: the smallest learning
    rate after the warm-up; lr_end: the learning rate of the last step."""

    steps: int
    data_parallel_rounds: int
    rules: dict[str, RuleRounds]
    lr_min_after_warmup: float
    lr_end: float


def _rule_rounds(rounds: theory.Rounds, lrs: np.ndarray, cfg: ScheduleConfig, rule: theory.SyncRule) -> RuleRounds:
    lengths = rounds.lengths
    # a round is cut when the rule, uncapped, would ask for more steps than are left
    uncapped = np.array([rule.h(float(lrs[s]), int(s), int(s) + 10 ** 12, cfg.warmup) for s in rounds.starts])
    free = uncapped <= cfg.total - rounds.starts
    after = np.flatnonzero(rounds.starts >= cfg.warmup)
    # the tail's rounds that the rule set freely: a round cut to the steps left says nothing about the rule
    tail = free & (rounds.starts >= (1.0 - cfg.tail_share) * cfg.total)
    if not tail.any():  # no free round starts in the tail (QSR's last rounds are long): the last free round
        tail = np.zeros_like(free)
        tail[np.flatnonzero(free)[-1] if free.any() else -1] = True
    eta_h = theory.round_alpha(rounds, lrs)
    ok = free[1:] & free[:-1]
    jumps = lengths[1:][ok] / lengths[:-1][ok]
    return RuleRounds(rounds=rounds.count, share_of_data_parallel=rounds.share_of_data_parallel(),
                      h_max=int(lengths.max()), h_max_free=int(lengths[free].max()) if free.any() else 0,
                      h_after_warmup=int(lengths[after[0]]) if after.size else 0,
                      eta_h_tail=float(eta_h[tail].mean()),
                      largest_jump=float(jumps.max()) if jumps.size else 1.0)


def run_schedule(cfg: ScheduleConfig) -> Result:
    try:
        lrs = cfg.lr_schedule().rates()
    except ValueError as err:  # LRSchedule's own checks, for combinations the config cannot see
        raise validate.ConfigError(str(err)) from None
    rules, arrays = {}, {"lr": lrs.astype(np.float32)}
    for name, rule in cfg.rules().items():
        rounds = theory.replay(rule, lrs, cfg.warmup)
        rules[name] = _rule_rounds(rounds, lrs, cfg, rule)
        arrays[f"starts_{name}"] = rounds.starts
        arrays[f"h_{name}"] = rounds.lengths
    post = lrs[cfg.warmup:]
    summary = ScheduleSummary(steps=cfg.total, data_parallel_rounds=cfg.total, rules=rules,
                              lr_min_after_warmup=float(post.min()), lr_end=float(lrs[-1]))
    return Result("qsr.schedule", config_dict(cfg), summary, arrays)


def summarize_schedule(res: Result) -> str:
    s, c = res.summary, res.config
    lines = [f"{c['kind']} schedule: {s.steps} steps, warm-up {c['warmup']} from {c['warmup_start']:g} to peak "
             f"{c['peak']:g}, final {c['final']:g}; H_base {c['h_base']}, init_h {c['init_h']}",
             f"data-parallel: {s.data_parallel_rounds} all-reduces (one per step)",
             f"{'rule':<16}{'rounds':>8}{'share':>9}{'H max':>8}{'H max free':>12}{'eta*H tail':>12}"]
    for name, r in s.rules.items():
        lines.append(f"{name:<16}{r.rounds:>8}{r.share_of_data_parallel:>9.1%}{r.h_max:>8}{r.h_max_free:>12}"
                     f"{r.eta_h_tail:>12.4g}")
    return "\n".join(lines)


SCHEDULE = Experiment(paper="qsr", name="schedule",
                      description="the paper's ViT-B recipe replayed: rounds of constant H, H ~ 1/eta and QSR",
                      config_cls=ScheduleConfig, presets={"quick": VIT, "paper": VIT, "test": VIT}, run=run_schedule,
                      summarize=summarize_schedule, summary=ScheduleSummary)
