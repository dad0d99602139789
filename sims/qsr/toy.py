"""SGD, constant-H Local SGD, H ~ 1/eta and QSR on the bilinear label-noise toy under a decaying learning rate.

Gu, Lyu, Arora, Zhang, Huang, "A Quadratic Synchronization Rule for Distributed Deep Learning" (ICLR 2024,
arXiv 2310.14423), Sec. 2 (the rule H = max(H_base, floor((alpha/eta)^2))) and Sec. 3 (why: the slow SDE of Local
SGD regularises the sharpness more strongly the longer a round lasts in conventional time eta * H); research notes
shared/papers/localsgd_qsr_momentum.md 1.7 Q3. The toy is `sims.engine.toys.BilinearRegression` (loss
(u.v - 1)^2 / 2 with label noise); its manifold of minima Gamma = {u.v = 1} has sharpness lambda = |u|^2 + |v|^2 >= 2
and label noise drives the iterate along Gamma toward the flattest point lambda = 2.

Four rules run from the same points of Gamma at sharpness lambda0 under one schedule eta_t (`theory.qsr.LRSchedule`):
- sgd: data-parallel SGD, one worker with batch B = K * B_loc, one all-reduce per step;
- constant: Local SGD, K workers of batch B_loc, H = H_base;
- inverse_lr: H = max(H_base, floor(alpha_1 / eta)) (power 1);
- qsr: H = max(H_base, floor((alpha / eta)^2)).
A fair comparison [ours]: alpha and alpha_1 are set so that both rules give the same H = h_peak at the peak learning
rate (alpha = peak sqrt(h_peak + 1/2), alpha_1 = peak (h_peak + 1/2): the middle of the floor's step, so rounding
cannot change the first H); by default h_peak = H_base, so all three Local rules start alike, as the paper's ViT
recipe does (alpha = 0.0175 at peak 0.008 gives floor(4.8) = 4 = H_base). Every rule's rounds come from
`theory.qsr.replay` (the official `adjust_h`: H from the round's first learning rate, H_base during the warm-up,
the last round cut to the steps left) and are run by `sims.engine.local_steps.run` with the per-step rates.

Prediction (theory.qsr.bilinear_sharpness_along, [ours]): along the slow flow the sharpness obeys
d log(lambda^2 - 4)/dt = -(2 sigma^2 / B) F_s(lambda) in slow time t = sum eta^2, with the round's drift factor
F_s = 1 + (K - 1) psi(2 eta_s H_s lambda) (finite-eta form). As eta decays, F -> 1 for constant H, stays fixed for
H ~ 1/eta and -> K for QSR, so the final sharpness should rank sgd >= constant > inverse_lr > qsr, while QSR takes
the fewest rounds. K = 1 is the negative control: every rule is then SGD with batch B_loc, and since all rules draw
the same noise stream they give the same numbers exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine import local_steps
from sims.engine.cache import config_dict
from sims.engine.stats import mean_ci
from sims.engine.toys import BilinearRegression
from theory import local_sgd as lsgd
from theory import qsr as theory

RULES = ("sgd", "constant", "inverse_lr", "qsr")
NOISE_STREAM = "noise"  # every rule draws from rng(seed, NOISE_STREAM): with K = 1 all rules get the same noise


@dataclass(frozen=True)
class ToyConfig:
    """half_dim: D (parameters (u, v) in R^D x R^D); sigma: label-noise std; lam0: starting sharpness on Gamma;
    K: workers; local_batch: B_loc (SGD's batch is B = K B_loc); h_base: H_base of the Local rules (the constant
    rule's H, the other rules' smallest H and their H during the warm-up); h_peak: the H that both the 1/eta rule and
    QSR set at the peak learning rate (0: h_base), which fixes alpha and alpha_1; kind: schedule after the warm-up
    (cosine, linear, step, constant); peak: learning rate after the warm-up; final: where the cosine or linear decay
    ends; warmup: steps of linear warm-up from warmup_start; warmup_start: first warm-up rate; milestones / gamma: the
    step schedule's decay steps and factor; steps: steps per worker; n_paths: independent paths (batched);
    n_record: recorded round boundaries per rule (about); seed: the seed of the starting points and the noise."""

    half_dim: int = 2
    sigma: float = 1.0
    lam0: float = 6.0
    K: int = 4
    local_batch: int = 2
    h_base: int = 4
    h_peak: int = 0
    kind: str = "cosine"
    peak: float = 0.03
    final: float = 0.001
    warmup: int = 0
    warmup_start: float = 1e-6
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    steps: int = 15_000
    n_paths: int = 128
    n_record: int = 150
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("half_dim", self.half_dim, 1)
        validate.non_negative("sigma", self.sigma)
        validate.greater_than("lam0", self.lam0, lsgd.LAMBDA_MIN)
        validate.positive_int("K", self.K, 1)
        validate.positive_int("local_batch", self.local_batch, 1)
        validate.positive_int("h_base", self.h_base, 1)
        validate.positive_int("h_peak", self.h_peak, 0)
        if self.h_peak and self.h_peak < self.h_base:
            raise validate.ConfigError(f"h_peak must be 0 (meaning h_base) or at least h_base; got "
                                       f"h_peak={self.h_peak}, h_base={self.h_base}.")
        validate.one_of("kind", self.kind, theory.SCHEDULE_KINDS)
        validate.positive("peak", self.peak)
        if self.peak * self.lam0 >= 2.0:
            raise validate.ConfigError(f"peak must be below 2 / lam0 = {2.0 / self.lam0:.4g} (gradient descent on "
                                       f"the sharpest direction is unstable beyond it); got {self.peak}.")
        validate.non_negative("final", self.final)
        if self.final > self.peak:
            raise validate.ConfigError(f"final must not exceed peak; got final={self.final}, peak={self.peak}.")
        validate.positive_int("steps", self.steps, 1)
        validate.positive_int("warmup", self.warmup, 0)
        if self.warmup >= self.steps:
            raise validate.ConfigError(f"warmup must be fewer steps than steps; got warmup={self.warmup}, "
                                       f"steps={self.steps}.")
        validate.positive("warmup_start", self.warmup_start)
        if self.milestones:
            validate.each(validate.positive_int, "milestones", self.milestones, 1)
        elif self.kind == "step":
            raise validate.ConfigError("milestones must name at least one decay step for the step schedule.")
        validate.probability("gamma", self.gamma, open_low=True)
        validate.positive_int("n_paths", self.n_paths, 2)
        validate.positive_int("n_record", self.n_record, 2)

    @property
    def batch(self) -> int:
        return self.K * self.local_batch

    @property
    def h_at_peak(self) -> int:
        return self.h_peak or self.h_base

    @property
    def alpha(self) -> float:
        """QSR's alpha: (alpha / peak)^2 = h_peak + 1/2, so floor gives h_peak at the peak."""
        return self.peak * math.sqrt(self.h_at_peak + 0.5)

    @property
    def alpha1(self) -> float:
        """The 1/eta rule's alpha_1: alpha_1 / peak = h_peak + 1/2 (= alpha^2 / peak)."""
        return self.peak * (self.h_at_peak + 0.5)

    def lr_schedule(self) -> theory.LRSchedule:
        return theory.LRSchedule(kind=self.kind, peak=self.peak, total=self.steps, warmup=self.warmup,
                                 warmup_start=self.warmup_start, final=self.final, milestones=self.milestones,
                                 gamma=self.gamma)

    def rules(self) -> dict[str, theory.SyncRule]:
        return {"sgd": theory.SyncRule.data_parallel(),
                "constant": theory.SyncRule.constant(self.h_base),
                "inverse_lr": theory.SyncRule.inverse_lr(self.alpha1, self.h_base),
                "qsr": theory.SyncRule.qsr(self.alpha, self.h_base)}


QUICK = ToyConfig()
PAPER = ToyConfig(half_dim=8, peak=0.015, final=0.0003, warmup=2_000, steps=60_000, n_paths=512, n_record=300)
# for the paper checks' tests: the machinery in a fraction of a second, not the quick preset's verdicts
TEST = ToyConfig(steps=3_000, n_paths=16, n_record=20)


@dataclass(frozen=True)
class Interval(Summary):
    """A path mean with its 95 % Student-t interval over the paths.

    mean: the mean over paths; low: lower end of the interval; high: upper end."""

    mean: float
    low: float
    high: float


def interval(values) -> Interval:
    e = mean_ci(values)
    return Interval(e.mean, e.low, e.high)


@dataclass(frozen=True)
class RuleTrack(Summary):
    """One synchronisation rule on the toy under the schedule; sharpness is lambda(Phi(theta_bar)) of the averaged
    iterate at the end of the run.

    final_sharpness: the final sharpness over paths (mean and 95 % interval); reduction: lambda0 - final sharpness
    per path (mean and interval); predicted_final: the final sharpness of the slow flow with this rule's rounds
    (theory.qsr.bilinear_sharpness_along); predicted_reduction: lambda0 - predicted_final; gap_final: (measured
    path-mean final sharpness - predicted_final) / (lambda0 - 2); gap_max: the largest |path-mean measured - slow
    flow| over the recorded round boundaries, / (lambda0 - 2); rounds: communication rounds (all-reduces; one per
    step for sgd); share_of_steps: rounds / steps; h_max: the largest H of any round; tail_factor: the slow-time
    weighted drift factor over the rounds in the last 10 % of the steps (theory.qsr.tail_factor, at the predicted
    final sharpness)."""

    final_sharpness: Interval
    reduction: Interval
    predicted_final: float
    predicted_reduction: float
    gap_final: float
    gap_max: float
    rounds: int
    share_of_steps: float
    h_max: int
    tail_factor: float


@dataclass(frozen=True)
class ToySummary(Summary):
    """The four rules on the bilinear label-noise toy under one decaying schedule (QSR paper Sec. 2-3; research
    notes 1.7 Q3).

    batch: SGD's batch B = K B_loc; alpha: QSR's alpha; alpha1: the 1/eta rule's alpha_1; h_at_peak: the H both set
    at the peak learning rate; slow_time: sum of eta^2 over the schedule; rules: each rule's `RuleTrack` by name
    (sgd, constant, inverse_lr, qsr); margins: paired differences of the final sharpness over paths (same starting
    points; the Local rules also share their noise), "sgd-constant", "constant-inverse_lr", "inverse_lr-qsr" and
    "sgd-qsr", each the first rule's minus the second's (positive: the second is flatter);
    margins_predicted: the same differences of the slow flows' final sharpness."""

    batch: int
    alpha: float
    alpha1: float
    h_at_peak: int
    slow_time: float
    rules: dict[str, RuleTrack]
    margins: dict[str, Interval]
    margins_predicted: dict[str, float]


PAIRS = (("sgd", "constant"), ("constant", "inverse_lr"), ("inverse_lr", "qsr"), ("sgd", "qsr"))


def noise_chunk(n_paths: int, K: int) -> int:
    """Steps of noise drawn at a time: about 2^21 numbers (16 MB); the chunking does not change the numbers."""
    return max(1, min(4096, (1 << 21) // (n_paths * K)))


def run_toy(cfg: ToyConfig) -> Result:
    lrs = cfg.lr_schedule().rates()
    toy = BilinearRegression(cfg.half_dim, cfg.sigma)
    theta0 = toy.random_manifold_points(cfg.lam0, cfg.n_paths, rng(cfg.seed, "init"))
    lam_start = toy.manifold_sharpness(theta0)
    span = cfg.lam0 - lsgd.LAMBDA_MIN
    arrays: dict[str, np.ndarray] = {"eta": lrs}
    tracks, finals, predicted = {}, {}, {}
    for name, rule in cfg.rules().items():
        rounds = theory.replay(rule, lrs, cfg.warmup)
        workers, batch = (1, cfg.batch) if name == "sgd" else (cfg.K, cfg.local_batch)
        traj = local_steps.run(toy, theta0, lrs, cfg.steps, workers, rounds.lengths, batch,
                               rng(cfg.seed, NOISE_STREAM), n_record=cfg.n_record,
                               chunk=noise_chunk(cfg.n_paths, workers), desc=name)
        flow = theory.bilinear_sharpness_along(cfg.lam0, cfg.sigma, cfg.batch, 1 if name == "sgd" else cfg.K,
                                               rounds, lrs)
        flow_at = np.concatenate([[cfg.lam0], flow])[traj.rounds]  # the flow at the recorded round boundaries
        final = traj.sharpness[-1]
        finals[name], predicted[name] = final, float(flow[-1])
        tracks[name] = RuleTrack(
            final_sharpness=interval(final), reduction=interval(lam_start - final),
            predicted_final=float(flow[-1]), predicted_reduction=float(cfg.lam0 - flow[-1]),
            gap_final=float((final.mean() - flow[-1]) / span),
            gap_max=float(np.max(np.abs(traj.sharpness.mean(1) - flow_at)) / span),
            rounds=rounds.count, share_of_steps=rounds.share_of_data_parallel(), h_max=int(rounds.lengths.max()),
            tail_factor=theory.tail_factor(rounds, lrs, 1 if name == "sgd" else cfg.K, float(flow[-1])))
        arrays[f"steps_{name}"] = traj.steps
        arrays[f"rounds_{name}"] = traj.rounds
        arrays[f"sharp_{name}"] = traj.sharpness
        arrays[f"sharp_mean_{name}"] = traj.sharpness.mean(1)
        arrays[f"flow_{name}"] = flow_at
        arrays[f"h_{name}"] = rounds.h_per_step().astype(np.int32)
    summary = ToySummary(
        batch=cfg.batch, alpha=cfg.alpha, alpha1=cfg.alpha1, h_at_peak=cfg.h_at_peak,
        slow_time=float(np.sum(lrs ** 2)), rules=tracks,
        margins={f"{a}-{b}": interval(finals[a] - finals[b]) for a, b in PAIRS},
        margins_predicted={f"{a}-{b}": predicted[a] - predicted[b] for a, b in PAIRS})
    return Result("qsr.toy", config_dict(cfg), summary, arrays)


def summarize_toy(res: Result) -> str:
    s, c = res.summary, res.config
    lines = [f"Bilinear label-noise toy: D={c['half_dim']}, sigma={c['sigma']}, lambda0={c['lam0']}, K={c['K']}, "
             f"B_loc={c['local_batch']} (B={s.batch}), {c['n_paths']} paths, seed={c['seed']}",
             f"{c['kind']} schedule: peak {c['peak']:g} -> final {c['final']:g} over {c['steps']} steps (warm-up "
             f"{c['warmup']}), slow time {s.slow_time:.3g}; H_base {c['h_base']}, both rules give H = "
             f"{s.h_at_peak} at the peak (alpha = {s.alpha:.4g}, alpha_1 = {s.alpha1:.4g})",
             f"{'rule':<12}{'final sharpness [95% CI]':>28}{'slow flow':>11}{'gap/(l0-2)':>12}{'rounds':>8}"
             f"{'H max':>7}{'tail F':>8}"]
    for name, r in s.rules.items():
        f = r.final_sharpness
        lines.append(f"{name:<12}{f.mean:>10.4f} [{f.low:.4f}, {f.high:.4f}]{r.predicted_final:>11.4f}"
                     f"{r.gap_final:>+12.4f}{r.rounds:>8}{r.h_max:>7}{r.tail_factor:>8.3f}")
    lines.append("paired margins (first - second): " + "; ".join(
        f"{k} {m.mean:.4f} [{m.low:.4f}, {m.high:.4f}] (flow {s.margins_predicted[k]:.4f})"
        for k, m in s.margins.items()))
    return "\n".join(lines)


TOY = Experiment(paper="qsr", name="toy",
                 description="SGD, constant H, H ~ 1/eta and QSR on a label-noise toy under a decaying learning rate",
                 config_cls=ToyConfig, presets={"quick": QUICK, "paper": PAPER, "test": TEST}, run=run_toy,
                 summarize=summarize_toy, summary=ToySummary)
