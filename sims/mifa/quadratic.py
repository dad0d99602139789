"""MIFA and its baselines on heterogeneous quadratics (strongly convex, non-i.i.d.), per availability pattern.

f_i(w) = a_i/2 ||w - c_i||^2 with c_i moving with the device's label, so label-correlated availability biases
any rule that lets frequently available devices dominate. Two experiments:

* `quadratic` (default): every algorithm under every pattern; error ||w_t - w*||^2 against rounds, the fitted
  log-log slope of MIFA's mean error (paper: O(1/T), minimax optimal), the biased point of available-only
  FedAvg (closed form, theory.mifa.biased_fixed_point), FedAvg(S)'s waits against E[max Geom], and the
  case-study ratio of rounds FedAvg(S) needs over rounds MIFA needs;
* `staleness` [ours]: MIFA under homogeneous Bernoulli(p) and periodic availability against full participation:
  the error ratio against the hold factor kappa = 1 + 2 tau_avg ((2-p)/p for Bernoulli; P for period P), the
  factor that settles the (2-p)/p question (theory.mifa module docstring).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.curves import fit_line
from theory import mifa as theory

from . import availability, simulate
from .problems import make_quadratics

QUAD_ALGORITHMS = ("mifa", "fedavg_active", "fedavg_is", "fedavg_wait", "memoryless", "mifa_zero")


@dataclass(frozen=True)
class QuadraticConfig:
    """n_devices N; dim d; n_classes: labels 0..C-1 assigned round-robin; offset: c_i = N(0, I) + offset*label;
    k_local K local SGD steps; sigma: gradient-noise std per coordinate; eta_t = eta0/(t + t0) per server
    update; rounds T; replicas: independent runs batched together; p_min: least availability (label pattern);
    t_max: longest absence scale of the periodic/adversarial patterns; sample_size S of FedAvg(S);
    patterns / algorithms: which to run; reference: also run fedavg_full (every device, every round) once."""

    n_devices: int = 50
    dim: int = 5
    n_classes: int = 10
    offset: float = 1.0
    k_local: int = 5
    sigma: float = 0.5
    eta0: float = 0.5
    t0: float = 5.0
    rounds: int = 2000
    replicas: int = 16
    p_min: float = 0.2
    t_max: int = 20
    sample_size: int = 20
    patterns: tuple[str, ...] = ("label", "random", "periodic", "adversarial")
    algorithms: tuple[str, ...] = QUAD_ALGORITHMS
    reference: bool = True
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("n_devices", self.n_devices, 2)
        validate.positive_int("dim", self.dim, 1)
        validate.positive_int("n_classes", self.n_classes, 2)
        validate.non_negative("offset", self.offset)
        validate.positive_int("k_local", self.k_local, 1)
        validate.non_negative("sigma", self.sigma)
        validate.positive("eta0", self.eta0)
        validate.positive("t0", self.t0)
        validate.positive_int("rounds", self.rounds, 10)
        validate.positive_int("replicas", self.replicas, 1)
        validate.probability("p_min", self.p_min)
        validate.positive("p_min", self.p_min)
        validate.positive_int("t_max", self.t_max, 1)
        validate.positive_int("sample_size", self.sample_size, 1)
        if self.sample_size > self.n_devices:
            raise validate.ConfigError(f"sample_size must not exceed n_devices; got {self.sample_size} > "
                                       f"{self.n_devices}.")
        validate.non_empty("patterns", self.patterns)
        for p in self.patterns:
            validate.one_of("patterns", p, availability.PATTERNS)
        validate.non_empty("algorithms", self.algorithms)
        for a in self.algorithms:
            validate.one_of("algorithms", a, QUAD_ALGORITHMS)
        if self.eta0 / self.t0 * 2.0 >= 1.0:
            raise validate.ConfigError("eta0/t0 must be below 0.5 so the first local steps are stable "
                                       "(a_i <= 2); raise t0 or lower eta0.")


QUICK = QuadraticConfig()
PAPER = QuadraticConfig(n_devices=100, dim=10, rounds=8000, replicas=32, p_min=0.1, t_max=40)


def _tail_slope(t: np.ndarray, y: np.ndarray, start_frac: float = 0.1):
    """Log-log slope of y against t over t >= start_frac * t_end (t counted from 1)."""
    sel = (t >= start_frac * t[-1]) & (y > 0)
    return fit_line(np.log(t[sel]), np.log(y[sel]))


@dataclass(frozen=True)
class FullParticipation(Summary):
    """The reference run of FedAvg with every device in every round (config field `reference`).

    final_error: ||w_T - w*||^2 after the last round, mean over the replicas;
    predicted_final: the leading-order variance sum of theory.mifa.mifa_variance_sum with hold factor 1 (no
    staleness), the error full participation should reach at T."""

    final_error: float
    predicted_final: float


@dataclass(frozen=True)
class AlgorithmSummary(Summary):
    """One algorithm under one availability pattern: its error ||w_t - w*||^2 (replica mean) against rounds t.

    final_error: the replica-mean error after the last round T;
    tail_scaled_error: t * (replica-mean error) averaged over the last half of the rounds, the 1/T constant
    the case study compares;
    final_error_replicas: the error after round T of each replica, in replica order;
    updates: server updates made in T rounds, mean over replicas (T for every rule but FedAvg(S));
    rounds_per_update: T / max(updates, 1);
    slope: log-log slope of the replica-mean error against t over the last decade of rounds (-1 for an O(1/T)
    rate, about 0 for a rule that stalls); slope_low: lower end of its 95% interval; slope_high: upper end;
    wait_measured: FedAvg(S) only, rounds per update, mean over every update of every replica (NaN for the other
    algorithms, and when no update completed);
    wait_predicted: FedAvg(S) only, E[max_{i in S} Geom(p_i)] of its sampled sets, averaged over the updates
    (NaN for the other algorithms, for patterns without probabilities p_i, and when no update completed)."""

    final_error: float
    tail_scaled_error: float
    final_error_replicas: tuple[float, ...]
    updates: float
    rounds_per_update: float
    slope: float
    slope_low: float
    slope_high: float
    wait_measured: float
    wait_predicted: float


@dataclass(frozen=True)
class PatternSummary(Summary):
    """Every algorithm under one availability pattern, with the pattern's statistics and the closed forms.

    participation: fraction of (replica, round, device) cells with the device active;
    tau_avg: average staleness, rounds since a device's latest update, averaged over rounds, devices and
    replicas (theory.mifa.average_staleness);
    t_max_measured: the longest absence of any device in any replica (rounds);
    kappa_mean: MIFA's hold factor kappa = 1 + 2 tau_avg per device, averaged over the devices;
    floor_empirical: ||w_b - w*||^2 with w_b the fixed point of available-only FedAvg for the participation
    weights measured on this pattern;
    floor_exact: the same floor from the probabilities p_i (theory.mifa.bias_floor); NaN for patterns without
    p_i (periodic, adversarial), as are the next four fields;
    floor_memoryless: the floor of MIFA without memory (the approximate weights, exact=False);
    kappa_bernoulli: (2-p_i)/p_i averaged over the devices, the Bernoulli form of kappa;
    expected_wait: E[max_{i in S} Geom(p_i)] for S devices drawn uniformly (theory.mifa.expected_wait);
    improvement_predicted: the case study's rounds FedAvg(S) / rounds MIFA for equal error
    (theory.mifa.case_study_improvement, ours);
    mifa_predicted_final: MIFA's leading-order error at T with each device's variance weighted by its measured
    kappa (ours);
    algorithms: one AlgorithmSummary per algorithm run, keyed by the config's algorithm names (fedavg_is is
    skipped for patterns without p_i);
    improvement_measured: tail_scaled_error of FedAvg(S) over that of MIFA, the measured rounds ratio for equal
    error (NaN unless both ran)."""

    participation: float
    tau_avg: float
    t_max_measured: int
    kappa_mean: float
    floor_empirical: float
    floor_exact: float
    floor_memoryless: float
    kappa_bernoulli: float
    expected_wait: float
    improvement_predicted: float
    mifa_predicted_final: float
    algorithms: dict[str, AlgorithmSummary]
    improvement_measured: float

    @property
    def floor(self) -> float:
        """The biased-FedAvg floor: the closed form where p_i are known, else the one measured on the pattern."""
        return self.floor_empirical if math.isnan(self.floor_exact) else self.floor_exact


@dataclass(frozen=True)
class QuadraticSummary(Summary):
    """The `quadratic` experiment: every algorithm under every availability pattern.

    w_star_norm2: ||w*||^2, the scale of the errors (every run starts at w = 0);
    full: the full-participation reference, None when the config's `reference` is off;
    patterns: one PatternSummary per availability pattern, keyed by the config's pattern names."""

    w_star_norm2: float
    full: FullParticipation | None
    patterns: dict[str, PatternSummary]


def _algorithm_summary(tr: simulate.Trace, t_axis: np.ndarray, rounds: int) -> AlgorithmSummary:
    """One algorithm's trace over `rounds` rounds, its error curve taken at rounds t_axis, summarised (the waits
    are FedAvg(S)'s; other algorithms record none)."""
    mean_curve = tr.curves.mean(1)
    fit = _tail_slope(t_axis, mean_curve)
    tail = t_axis >= t_axis[-1] / 2
    nan = float("nan")
    return AlgorithmSummary(
        final_error=float(mean_curve[-1]),
        tail_scaled_error=float(np.mean(t_axis[tail] * mean_curve[tail])),
        final_error_replicas=tuple(tr.curves[-1].tolist()),
        updates=float(tr.updates.mean()),
        rounds_per_update=float(rounds / max(tr.updates.mean(), 1.0)),
        slope=fit.slope, slope_low=fit.slope_low, slope_high=fit.slope_high,
        wait_measured=float(tr.waits.mean()) if tr.waits.size else nan,
        wait_predicted=float(tr.predicted_waits.mean()) if tr.predicted_waits.size else nan)


def _improvement_measured(algorithms: dict[str, AlgorithmSummary]) -> float:
    """FedAvg(S)'s tail-scaled error over MIFA's (NaN unless both ran)."""
    if "mifa" in algorithms and "fedavg_wait" in algorithms:
        return algorithms["fedavg_wait"].tail_scaled_error / algorithms["mifa"].tail_scaled_error
    return float("nan")


def _pattern_summary(cfg: QuadraticConfig, prob, act: np.ndarray, p: np.ndarray | None,
                     algorithms: dict[str, AlgorithmSummary]) -> PatternSummary:
    """The summary of one availability pattern act[B, T, N]: its statistics, the closed forms that need its
    probabilities p (None for the deterministic patterns), and the algorithms' summaries run under it."""
    flat = act.transpose(1, 0, 2).reshape(cfg.rounds, -1)
    kappa = theory.hold_factor(flat).reshape(cfg.replicas, cfg.n_devices).mean(0)
    q = availability.empirical_weights(act)
    w_b = (q * prob.a) @ prob.c / (q * prob.a).sum()
    nan = float("nan")
    return PatternSummary(
        participation=float(act.mean()),
        tau_avg=theory.average_staleness(flat),
        t_max_measured=theory.longest_absence(flat),
        kappa_mean=float(kappa.mean()),
        floor_empirical=float(np.sum((w_b - prob.optimum()) ** 2)),
        floor_exact=nan if p is None else theory.bias_floor(prob.a, prob.c, p),
        floor_memoryless=nan if p is None else theory.bias_floor(prob.a, prob.c, p, exact=False),
        kappa_bernoulli=nan if p is None else float(theory.bernoulli_hold_factor(p).mean()),
        expected_wait=nan if p is None else theory.expected_wait(p, cfg.sample_size),
        improvement_predicted=nan if p is None else theory.case_study_improvement(
            p, cfg.sample_size, cfg.eta0, prob.a, prob.c, cfg.k_local, cfg.sigma),
        mifa_predicted_final=theory.mifa_variance_sum(cfg.rounds, cfg.eta0, cfg.t0, prob.a, cfg.k_local,
                                                      cfg.sigma, cfg.dim, kappa),
        algorithms=algorithms,
        improvement_measured=_improvement_measured(algorithms))


def run_quadratic(cfg: QuadraticConfig) -> Result:
    labels = np.arange(cfg.n_devices) % cfg.n_classes
    prob = make_quadratics(cfg.n_devices, cfg.dim, labels, cfg.offset, rng(cfg.seed, "problem"))
    ev = simulate.eval_rounds(cfg.rounds)
    t_axis = ev + 1.0
    w0 = np.zeros(cfg.dim)
    common = dict(k=cfg.k_local, sigma=cfg.sigma, eta0=cfg.eta0, t0=cfg.t0, w0=w0, sample_size=cfg.sample_size)
    arrays = {"t": t_axis}
    full = None
    if cfg.reference:
        trace = simulate.run(prob, "fedavg_full", np.ones((cfg.replicas, cfg.rounds, cfg.n_devices), dtype=bool),
                             ev, prob.error, gen=rng(cfg.seed, "noise", "full"), desc="mifa fedavg_full", **common)
        arrays["full/fedavg_full"] = trace.curves
        full = FullParticipation(final_error=float(trace.curves[-1].mean()),
                                 predicted_final=theory.mifa_variance_sum(cfg.rounds, cfg.eta0, cfg.t0, prob.a,
                                                                          cfg.k_local, cfg.sigma, cfg.dim, 1.0))
    patterns = {}
    for pattern in cfg.patterns:
        act, p = availability.make(pattern, labels, cfg.p_min, cfg.t_max, cfg.rounds, cfg.replicas,
                                   rng(cfg.seed, "avail", pattern))
        algorithms = {}
        for name in cfg.algorithms:
            if name == "fedavg_is" and p is None:
                continue
            tr = simulate.run(prob, name, act, ev, prob.error, gen=rng(cfg.seed, "noise", pattern, name), p=p,
                              desc=f"mifa {pattern}/{name}", **common)
            arrays[f"{pattern}/{name}"] = tr.curves
            if name == "fedavg_wait":
                arrays[f"{pattern}/waits"] = tr.waits
            algorithms[name] = _algorithm_summary(tr, t_axis, cfg.rounds)
        patterns[pattern] = _pattern_summary(cfg, prob, act, p, algorithms)
    summary = QuadraticSummary(w_star_norm2=float(np.sum(prob.optimum() ** 2)), full=full, patterns=patterns)
    return Result("mifa.quadratic", config_dict(cfg), summary, arrays)


def _pattern_lines(pattern: str, info: PatternSummary, algorithms) -> list[str]:
    """The summary lines of one availability pattern: its statistics and one row per algorithm."""
    lines = ["",
             f"[{pattern}] participation {info.participation:.2f}, tau_avg {info.tau_avg:.2f}, "
             f"longest absence {info.t_max_measured}, kappa=1+2tau_avg {info.kappa_mean:.2f}; "
             f"biased-FedAvg floor ({'measured weights' if math.isnan(info.floor_exact) else 'closed form'}) "
             f"{info.floor:.3g}",
             f"  {'algorithm':<14} {'final err':>10} {'slope':>7} {'rounds/upd':>10}"]
    for name in algorithms:
        if name in info.algorithms:
            e = info.algorithms[name]
            lines.append(f"  {name:<14} {e.final_error:>10.3g} {e.slope:>7.2f} {e.rounds_per_update:>10.2f}")
    lines.append(f"  MIFA predicted final error (kappa-weighted, [ours]) {info.mifa_predicted_final:.3g}")
    if "fedavg_wait" in info.algorithms:
        wait = info.algorithms["fedavg_wait"]
        lines.append(f"  FedAvg(S) wait: measured {wait.wait_measured:.2f} rounds/update, "
                     f"E[max Geom] {wait.wait_predicted:.2f}")
    if not (math.isnan(info.improvement_predicted) or math.isnan(info.improvement_measured)):
        lines.append(f"  case study: rounds FedAvg(S) / rounds MIFA for equal error (t*err over the last half) "
                     f"{info.improvement_measured:.3g}, predicted {info.improvement_predicted:.3g}")
    return lines


def summarize_quadratic(res: Result) -> str:
    s: QuadraticSummary = res.summary
    cfg = res.config
    lines = [f"Heterogeneous quadratics: N={cfg['n_devices']}, d={cfg['dim']}, K={cfg['k_local']}, "
             f"sigma={cfg['sigma']}, eta_t={cfg['eta0']}/(t+{cfg['t0']:g}), T={cfg['rounds']}, "
             f"{cfg['replicas']} replicas, seed {cfg['seed']}",
             ]
    if s.full is not None:
        lines.append(f"full participation: final ||w-w*||^2 {s.full.final_error:.3g} "
                     f"(leading-order prediction {s.full.predicted_final:.3g})")
    for pattern in cfg["patterns"]:
        lines += _pattern_lines(pattern, s.patterns[pattern], cfg["algorithms"])
    return "\n".join(lines)


QUADRATIC = Experiment(paper="mifa", name="quadratic",
                       description="MIFA vs baselines on heterogeneous quadratics under four availability patterns",
                       config_cls=QuadraticConfig, presets={"quick": QUICK, "paper": PAPER},
                       run=run_quadratic, summarize=summarize_quadratic, summary=QuadraticSummary)


# ---- staleness [ours] -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StalenessConfig:
    """MIFA under homogeneous Bernoulli(p) for each p in ps and under periodic availability with each period in
    periods, against full participation (p = 1); other fields as QuadraticConfig."""

    n_devices: int = 50
    dim: int = 5
    offset: float = 1.0
    k_local: int = 5
    sigma: float = 0.5
    eta0: float = 0.5
    t0: float = 5.0
    rounds: int = 2000
    replicas: int = 24
    ps: tuple[float, ...] = (1.0, 0.5, 0.25, 0.1)
    periods: tuple[int, ...] = (4,)
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("n_devices", self.n_devices, 2)
        validate.positive_int("dim", self.dim, 1)
        validate.positive_int("k_local", self.k_local, 1)
        validate.non_negative("sigma", self.sigma)
        validate.positive("eta0", self.eta0)
        validate.positive("t0", self.t0)
        validate.positive_int("rounds", self.rounds, 10)
        validate.positive_int("replicas", self.replicas, 2)
        validate.non_empty("ps", self.ps)
        validate.each(validate.probability, "ps", self.ps)
        validate.each(validate.positive, "ps", self.ps)
        if self.ps[0] != 1.0:
            raise validate.ConfigError(f"ps must start with 1.0, the full-participation reference every ratio is "
                                       f"taken against; got ps[0] = {self.ps[0]}.")
        for q in self.periods:
            validate.positive_int("periods", q, 1)


STALE_QUICK = StalenessConfig()
STALE_PAPER = StalenessConfig(n_devices=100, rounds=8000, replicas=64, ps=(1.0, 0.7, 0.5, 0.25, 0.1, 0.05),
                              periods=(2, 4, 8))


@dataclass(frozen=True)
class StalenessPoint(Summary):
    """MIFA under one homogeneous availability setting of the `staleness` experiment.

    name: "p=<p>" for Bernoulli(p) availability, "period=<P>" for a device active every P-th round;
    kappa_formula: the hold factor the setting predicts, (2-p)/p for Bernoulli(p) and P for period P;
    kappa_measured: kappa = 1 + 2 tau_avg measured on the drawn pattern, mean over devices and replicas;
    final_error: ||w_T - w*||^2 after the last round, mean over the replicas;
    final_error_se: its standard error over the replicas;
    ratio_to_full: final_error over that of full participation (the first setting, p = 1);
    predicted_final: MIFA's leading-order error at T for the measured kappa (theory.mifa.mifa_variance_sum)."""

    name: str
    kappa_formula: float
    kappa_measured: float
    final_error: float
    final_error_se: float
    ratio_to_full: float
    predicted_final: float


@dataclass(frozen=True)
class StalenessSummary(Summary):
    """[ours] The `staleness` experiment: MIFA's error against the hold factor kappa.

    points: one StalenessPoint per availability setting, in the order of the columns of the array `curves`:
    the config's ps (the first, p = 1, is full participation, the reference of every ratio), then its
    periods."""

    points: tuple[StalenessPoint, ...]


def run_staleness(cfg: StalenessConfig) -> Result:
    labels = np.arange(cfg.n_devices) % 10
    prob = make_quadratics(cfg.n_devices, cfg.dim, labels, cfg.offset, rng(cfg.seed, "problem"))
    gen = rng(cfg.seed, "avail")
    blocks, names, kappas = [], [], []
    for p in cfg.ps:
        blocks.append(availability.bernoulli(np.full(cfg.n_devices, p), cfg.rounds, cfg.replicas, gen))
        names.append(f"p={p:g}")
        kappas.append(float(theory.bernoulli_hold_factor(p)))
    for period in cfg.periods:
        blocks.append(availability.periodic(np.full(cfg.n_devices, period), cfg.rounds, cfg.replicas, gen))
        names.append(f"period={period}")
        kappas.append(float(period))
    act = np.concatenate(blocks, axis=0)
    ev = simulate.eval_rounds(cfg.rounds)
    tr = simulate.run(prob, "mifa", act, ev, prob.error, k=cfg.k_local, sigma=cfg.sigma, eta0=cfg.eta0, t0=cfg.t0,
                      w0=np.zeros(cfg.dim), gen=rng(cfg.seed, "noise"), desc="mifa staleness")
    final = tr.curves[-1].reshape(len(names), cfg.replicas)
    curves = tr.curves.reshape(ev.size, len(names), cfg.replicas).mean(-1)
    ref = final[0].mean() if cfg.ps[0] == 1.0 else float("nan")
    mean, se = final.mean(1).tolist(), (final.std(1, ddof=1) / np.sqrt(cfg.replicas)).tolist()
    ratio = (final.mean(1) / ref).tolist()
    points = []
    for b, name in enumerate(names):
        flat = act[b * cfg.replicas:(b + 1) * cfg.replicas].transpose(1, 0, 2).reshape(cfg.rounds, -1)
        kappa = float(theory.hold_factor(flat).mean())
        points.append(StalenessPoint(
            name=name, kappa_formula=kappas[b], kappa_measured=kappa, final_error=mean[b], final_error_se=se[b],
            ratio_to_full=ratio[b], predicted_final=theory.mifa_variance_sum(
                cfg.rounds, cfg.eta0, cfg.t0, prob.a, cfg.k_local, cfg.sigma, cfg.dim, kappa)))
    return Result("mifa.staleness", config_dict(cfg), StalenessSummary(points=tuple(points)),
                  {"t": ev + 1.0, "curves": curves})


def summarize_staleness(res: Result) -> str:
    s: StalenessSummary = res.summary
    lines = ["MIFA's error against full participation under homogeneous availability [ours]: the leading 1/T term",
             "is multiplied by kappa = 1 + 2 tau_avg ((2-p)/p for Bernoulli(p), P for period P).",
             f"{'pattern':<11} {'final err':>10} {'ratio':>7} {'kappa':>7} {'kappa meas':>10} {'predicted':>10}"]
    for pt in s.points:
        lines.append(f"{pt.name:<11} {pt.final_error:>10.3g} {pt.ratio_to_full:>7.2f} "
                     f"{pt.kappa_formula:>7.2f} {pt.kappa_measured:>10.2f} {pt.predicted_final:>10.3g}")
    return "\n".join(lines)


STALENESS = Experiment(paper="mifa", name="staleness",
                       description="[ours] MIFA's error inflation (2-p)/p = 1 + 2 tau_avg under unavailability",
                       config_cls=StalenessConfig, presets={"quick": STALE_QUICK, "paper": STALE_PAPER},
                       run=run_staleness, summarize=summarize_staleness,
                       summary=StalenessSummary)
