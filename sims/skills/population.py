"""Synthetic model populations with latent per-skill abilities, measured on finite MATH-like and MATH^2-like tests.

The mechanism Shah et al. (arXiv 2407.21009) offer for Y ~ X^2, run as a simulation [ours; the research notes'
toy T1.2-T1.4]: each model m has a latent ability theta_m and each skill i a difficulty b_i; the model solves a
question that needs skill i with probability s_{m,i} = sigmoid(theta_m + b_i + eps_{m,i}). A MATH-like test has
`n_math` single-skill questions (a fraction `math_mix` of them needing two skills), a hard test has `n_hard`
questions per k in `ks`, each needing k different skills drawn at random and solved when every skill succeeds
(independently), times a composition penalty c for k >= 2. Every model takes the same questions. From the
measured accuracies X_m, Y_m we fit Y = X^k (least squares in Y), R^2 against the law with no free parameter,
and the same after shuffling which model gets which Y.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from theory import skills as theory


@dataclass(frozen=True)
class PopulationConfig:
    """n_models M; n_skills N; n_math: single-skill (MATH-like) questions; n_hard: questions of each hard test
    (the paper's MATH^2 has 210); ks: skills per hard question, one hard test per k; penalty: composition
    penalty c in (0, 1] (a k >= 2 question is solved with probability c prod s); math_mix: fraction q of the
    MATH-like questions that need two skills; ability_low / ability_high: theta_m uniform on this range;
    skill_sd: spread of the skill difficulties b_i; noise_sd: spread of the model-skill terms eps_{m,i};
    seed: seeds the population, the questions and the answers."""

    n_models: int = 25
    n_skills: int = 100
    n_math: int = 5000
    n_hard: int = 210
    ks: tuple[int, ...] = (1, 2, 3)
    penalty: float = 1.0
    math_mix: float = 0.0
    ability_low: float = -3.5
    ability_high: float = 3.0
    skill_sd: float = 1.0
    noise_sd: float = 0.5
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("n_models", self.n_models, 3)
        validate.positive_int("n_skills", self.n_skills, 2)
        validate.positive_int("n_math", self.n_math, 10)
        validate.positive_int("n_hard", self.n_hard, 10)
        validate.non_empty("ks", self.ks)
        for k in self.ks:
            validate.positive_int("ks", k, 1)
            if k > self.n_skills:
                raise validate.ConfigError(f"ks must not exceed n_skills (a question needs k different skills); "
                                           f"got {k} > {self.n_skills}.")
        if len(set(self.ks)) != len(self.ks):
            raise validate.ConfigError(f"ks must not repeat a value; got {','.join(map(str, self.ks))}.")
        validate.probability("penalty", self.penalty)
        validate.positive("penalty", self.penalty)
        validate.probability("math_mix", self.math_mix)
        if not self.ability_low < self.ability_high:
            raise validate.ConfigError(f"ability_low must be below ability_high; got {self.ability_low} >= "
                                       f"{self.ability_high}.")
        validate.non_negative("skill_sd", self.skill_sd)
        validate.non_negative("noise_sd", self.noise_sd)
        if abs(self.ability_low) > 50 or abs(self.ability_high) > 50:
            raise validate.ConfigError("ability_low and ability_high must lie in [-50, 50] (logits).")
        if self.skill_sd > 50 or self.noise_sd > 50:
            raise validate.ConfigError("skill_sd and noise_sd must be at most 50 (logits).")


QUICK = PopulationConfig()
PAPER = PopulationConfig(n_models=100, n_skills=114, n_math=12500, ks=(1, 2, 3, 4))


@dataclass(frozen=True)
class HardTest(Summary):
    """One hard test of the `population` experiment: every question needs k different skills.

    k: skills per question;
    exponent: least-squares k of Y = X^k fitted to the measured (X_m, Y_m);
    r2_power: R^2 of Y against X^k with no free parameter (k this test's skill count);
    r2_square: R^2 of Y against X^2 with no free parameter;
    r2_shuffled: R^2 of Y against X^k after a random permutation of which model gets which Y;
    exponent_shuffled: the fitted exponent after that permutation;
    scale: least-squares c of Y = c X^k;
    rmse: root mean square of Y - X^k;
    binomial_rms: root mean square over the models of sqrt(Y(1 - Y)/n_hard);
    expected_gap: mean over models of (expected Y) - (mean of s)^k from the latent abilities, the finite-N
    correction of drawing different skills (about -Var(s)/(N-1) for k = 2), times c for k >= 2."""

    k: int
    exponent: float
    r2_power: float
    r2_square: float
    r2_shuffled: float
    exponent_shuffled: float
    scale: float
    rmse: float
    binomial_rms: float
    expected_gap: float


@dataclass(frozen=True)
class PopulationSummary(Summary):
    """The `population` experiment: M synthetic models on a MATH-like test and one hard test per k.

    x_min: the smallest measured MATH-like accuracy X_m; x_max: the largest;
    x_error_rms: root mean square of X_m minus the model's true MATH-like accuracy (finite test noise);
    tests: one HardTest per k of the config, keyed by k."""

    x_min: float
    x_max: float
    x_error_rms: float
    tests: dict[int, HardTest]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _distinct_skills(n_questions: int, k: int, n_skills: int, gen: np.random.Generator) -> np.ndarray:
    """[n_questions, k] skill indices, k different skills per question, uniformly at random."""
    return np.argsort(gen.random((n_questions, n_skills)), axis=1)[:, :k]


def abilities(cfg: PopulationConfig, gen: np.random.Generator) -> np.ndarray:
    """s[M, N]: each model's success probability on a question that needs one skill."""
    theta = gen.uniform(cfg.ability_low, cfg.ability_high, cfg.n_models)
    b = gen.normal(0.0, cfg.skill_sd, cfg.n_skills)
    eps = gen.normal(0.0, cfg.noise_sd, (cfg.n_models, cfg.n_skills))
    return _sigmoid(theta[:, None] + b[None, :] + eps)


def _fit(x: np.ndarray, y: np.ndarray, k: int, p_true: np.ndarray, s_mean: np.ndarray, n_hard: int,
         gen: np.random.Generator) -> HardTest:
    perm = gen.permutation(y.size)
    while y.size > 1 and np.all(perm == np.arange(y.size)):
        perm = gen.permutation(y.size)
    y_shuffled = y[perm]
    return HardTest(k=k, exponent=theory.fit_exponent(x, y), r2_power=theory.r2_no_parameter(x, y, k),
                    r2_square=theory.r2_no_parameter(x, y, 2), r2_shuffled=theory.r2_no_parameter(x, y_shuffled, k),
                    exponent_shuffled=theory.fit_exponent(x, y_shuffled), scale=theory.fit_scale(x, y, k),
                    rmse=float(np.sqrt(np.mean((y - x ** k) ** 2))),
                    binomial_rms=float(np.sqrt(np.mean(theory.binomial_sd(y, n_hard) ** 2))),
                    expected_gap=float(np.mean(p_true - s_mean ** k)))


def run_population(cfg: PopulationConfig) -> Result:
    s = abilities(cfg, rng(cfg.seed, "population"))
    qgen = rng(cfg.seed, "questions")
    agen = rng(cfg.seed, "answers")
    # MATH-like test: one skill per question, a fraction math_mix needing two different skills
    two = qgen.random(cfg.n_math) < cfg.math_mix
    pairs = _distinct_skills(cfg.n_math, 2, cfg.n_skills, qgen)
    p_math = np.where(two[None, :], s[:, pairs[:, 0]] * s[:, pairs[:, 1]], s[:, pairs[:, 0]])
    x = (agen.random(p_math.shape) < p_math).mean(1)
    x_true = p_math.mean(1)
    s_mean = s.mean(1)
    arrays = {"x": x, "s_mean": s_mean}
    tests = {}
    for k in cfg.ks:
        idx = _distinct_skills(cfg.n_hard, k, cfg.n_skills, qgen)
        p = np.prod(s[:, idx], axis=2) * (cfg.penalty if k >= 2 else 1.0)
        y = (agen.random(p.shape) < p).mean(1)
        # the expected accuracy of a random k-skill question (over the draw of the skills), per model
        if k == 1:
            p_true = s_mean
        else:
            p_true = np.array([_distinct_mean(row, k) for row in s]) * cfg.penalty
        tests[k] = _fit(x, y, k, p_true, s_mean, cfg.n_hard, rng(cfg.seed, "shuffle", k))
        arrays[f"y/{k}"] = y
    summary = PopulationSummary(x_min=float(x.min()), x_max=float(x.max()),
                                x_error_rms=float(np.sqrt(np.mean((x - x_true) ** 2))), tests=tests)
    return Result("skills.population", config_dict(cfg), summary, arrays)


def _distinct_mean(s: np.ndarray, k: int) -> float:
    """Mean of prod s over k different skills (elementary symmetric polynomial e_k(s) / C(N, k))."""
    e = np.zeros(k + 1)
    e[0] = 1.0
    for v in s:
        e[1:] = e[1:] + v * e[:-1]
    return float(e[k] / comb(s.size, k))


def summarize_population(res: Result) -> str:
    s: PopulationSummary = res.summary
    cfg = res.config
    lines = [f"{cfg['n_models']} synthetic models, {cfg['n_skills']} skills, MATH-like test {cfg['n_math']} questions "
             f"(two-skill fraction {cfg['math_mix']:g}), hard tests {cfg['n_hard']} questions, penalty c = "
             f"{cfg['penalty']:g}, seed {cfg['seed']}",
             f"X ranges over [{s.x_min:.3f}, {s.x_max:.3f}] (finite-test error RMS {s.x_error_rms:.4f})",
             f"{'k':>2} {'fitted exp':>10} {'R2 vs X^k':>10} {'R2 vs X^2':>10} {'c fit':>7} {'RMSE':>7} "
             f"{'binom RMS':>9} {'R2 shuffled':>11}"]
    for k in cfg["ks"]:
        t = s.tests[k]
        lines.append(f"{k:>2} {t.exponent:>10.3f} {t.r2_power:>10.3f} {t.r2_square:>10.3f} {t.scale:>7.3f} "
                     f"{t.rmse:>7.4f} {t.binomial_rms:>9.4f} {t.r2_shuffled:>11.3f}")
    return "\n".join(lines)


POPULATION = Experiment(paper="skills", name="population",
                        description="[ours] synthetic models with per-skill abilities: fitted exponent of Y = X^k "
                                    "for k-skill questions",
                        config_cls=PopulationConfig, presets={"quick": QUICK, "paper": PAPER},
                        run=run_population, summarize=summarize_population, summary=PopulationSummary)
