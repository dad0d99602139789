"""Trained small Transformers: one-skill accuracy X against held-out two- and three-skill accuracy Y [ours].

The paper's explanation of Y ~ X^2 (a model solves a two-skill question when it succeeds at each skill,
independently) tested in networks that were actually trained, in the world of `world.py`: each skill is a lookup
table of P facts, a model learns all K x P facts and the format of composed questions on half of the skill pairs,
and is tested on the other half (new combinations of known skills, as MATH^2 pairs skills at random).

A family of models, the analogue of the paper's 25 models of different ability: one tiny Transformer per width
in `sizes` and knowledge `coverage` in `coverages` (the fraction of each skill's facts its training shows), each
evaluated at `evals` evenly spaced budgets along its training, so every (width, coverage, budget) gives one point
(X, Y). Two readings of the family: its models at the end of training (they differ in what they know, as the
paper's models do; `final`), and every budget (models caught while still learning; `budgets`). Per point:
- x: exact-answer accuracy on every one-skill question (all K x P facts);
- y2, y3: exact-answer accuracy on `n_test` held-out two- and three-skill questions;
- first2: accuracy of the first step alone on the two-skill questions (one skill, in the composed format);
- pred2, pred3: the product of the model's own one-skill results along each question's steps, averaged over the
  questions: the share of questions whose every step the model knows as a one-skill question (what it would
  score if composing cost nothing and nothing were guessed);
- both2, both3: the share of questions whose every step the model knows and that it answers right composed;
- y2_train: two-skill accuracy on pairs seen composed in training.
The family's exponent is the least-squares k of Y = X^k over the points with X in [x_low, x_high]: below x_low a
model is close to chance (1/P), above x_high every exponent fits.

Every model is one cached run of its own (`skills.trained_model`), so an interrupted family keeps the models it
finished, and the models train in `workers` processes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from sims.engine import Experiment, Result, Summary, cache, validate
from sims.engine.cache import config_dict
from sims.engine.lm.decode import generate
from sims.engine.lm.finetune import FinetuneConfig, finetune
from sims.engine.nets import n_params
from sims.engine.torch_layer import resolve_device, single_thread
from theory import skills as theory

from .world import Question, SkillWorld, WorldSpec

MODEL = "skills.trained_model"


@dataclass(frozen=True)
class TrainedConfig:
    """World: n_values P, n_skills K, n_practice, train_pairs, n_triples, cot (see `world.WorldSpec`). Family:
    sizes: the widths (d_model) of its models; coverages: the fractions of each skill's facts shown in training, one model
    per (width, coverage); n_layers; head_dim: width of one attention head (n_heads = d_model / head_dim);
    steps: AdamW steps of each model; evals: budgets per model, evenly spaced (the last at `steps`); batch, lr,
    warmup: AdamW batch size, learning rate, linear warm-up steps; n_test: held-out questions per test (two- and
    three-skill); x_low, x_high: the window of X the exponent is fitted in; workers: processes that train the
    widths (not in the cache key: the numbers do not depend on it); seed: world, initialisation and batch order;
    device: "cpu", "cuda" or "auto"."""

    n_values: int = 16
    n_skills: int = 24
    n_practice: int = 4
    train_pairs: float = 0.5
    n_triples: int = 200
    cot: bool = True
    sizes: tuple[int, ...] = (16, 32)
    coverages: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)
    n_layers: int = 2
    head_dim: int = 8
    steps: int = 5000
    evals: int = 10
    batch: int = 64
    lr: float = 3e-3
    warmup: int = 50
    n_test: int = 1000
    x_low: float = 0.1
    x_high: float = 0.98
    workers: int = 2
    seed: int = 0
    device: str = "cpu"

    NOT_IN_KEY: ClassVar[tuple[str, ...]] = ("workers",)

    def world(self, coverage: float = 1.0) -> WorldSpec:
        return WorldSpec(n_values=self.n_values, n_skills=self.n_skills, n_practice=self.n_practice,
                         train_pairs=self.train_pairs, n_triples=self.n_triples, cot=self.cot, coverage=coverage,
                         seed=self.seed)

    def validate(self) -> None:
        self.world().validate()
        validate.non_empty("coverages", self.coverages)
        validate.each(lambda n, v: validate.probability(n, v, open_low=True), "coverages", self.coverages)
        if len(set(self.coverages)) != len(self.coverages):
            raise validate.ConfigError("coverages must not repeat a value.")
        validate.non_empty("sizes", self.sizes)
        validate.each(lambda n, v: validate.positive_int(n, v, 2), "sizes", self.sizes)
        if len(set(self.sizes)) != len(self.sizes):
            raise validate.ConfigError("sizes must not repeat a width.")
        validate.positive_int("head_dim", self.head_dim)
        for d in self.sizes:
            if d % self.head_dim:
                raise validate.ConfigError(f"head_dim must divide every size; {self.head_dim} does not divide {d}.")
        validate.positive_int("n_layers", self.n_layers)
        validate.positive_int("steps", self.steps)
        validate.positive_int("evals", self.evals)
        if self.evals > self.steps:
            raise validate.ConfigError(f"evals must be at most steps ({self.steps}); got {self.evals}.")
        validate.positive_int("batch", self.batch)
        validate.positive("lr", self.lr)
        validate.positive_int("warmup", self.warmup, 0)
        validate.positive_int("n_test", self.n_test, 10)
        validate.probability("x_low", self.x_low)
        validate.probability("x_high", self.x_high)
        if not self.x_low < self.x_high:
            raise validate.ConfigError(f"x_low must be below x_high; got {self.x_low} >= {self.x_high}.")
        if self.x_low <= 1.0 / self.n_values:
            raise validate.ConfigError(f"x_low must lie above chance, 1/n_values = {1.0 / self.n_values:.3g}, so "
                                       f"that the fits leave out models that only guess; got {self.x_low}.")
        validate.positive_int("workers", self.workers)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


QUICK = TrainedConfig()
PAPER = TrainedConfig(n_skills=32, n_triples=400, sizes=(16, 32, 64),
                      coverages=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), steps=6000, evals=10, n_test=2000,
                      workers=1, device="auto")
TEST = TrainedConfig(n_values=6, n_skills=5, n_practice=3, n_triples=20, sizes=(8, 16), coverages=(0.5, 1.0),
                     steps=40, evals=2, batch=16, warmup=5, n_test=40, x_low=0.25, workers=1)


# ---- one width ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSummary(Summary):
    """One model of the family (one width and coverage), at the end of its training.

    d_model: its width; coverage: the fraction of each skill's facts it was shown; n_params: its trainable
    parameters; x: one-skill accuracy; y2: held-out two-skill accuracy; y3: held-out three-skill accuracy;
    seconds: wall time of training and evaluation."""

    d_model: int
    coverage: float
    n_params: int
    x: float
    y2: float
    y3: float
    seconds: float


def _correct(lm, world: SkillWorld, questions: list[Question]) -> tuple[np.ndarray, np.ndarray]:
    """(exact answer right, first step right) per question, greedy decoding."""
    prompts = [world.example(q)[0] for q in questions]
    answers = [world.example(q)[1][:-1] for q in questions]
    room = max(len(a) for a in answers) + 1
    out = generate(lm, prompts, room)
    exact = np.array([f and t == a for t, f, a in zip(out.tokens, out.finished, answers)])
    first = np.array([t[:1] == a[:1] for t, a in zip(out.tokens, answers)])
    return exact, first


def _own_product(world: SkillWorld, know: np.ndarray, questions: list[Question]) -> np.ndarray:
    """Per question, the product of the model's one-skill results (0 or 1 each) along the question's steps."""
    out = np.empty(len(questions))
    for n, q in enumerate(questions):
        chain, x = q
        inputs = [x] + world.steps(q)[:-1]
        out[n] = float(np.prod([know[i, v] for i, v in zip(chain, inputs)]))
    return out


def evaluate(lm, world: SkillWorld, tests: dict[str, list[Question]]) -> dict[str, float]:
    """Every per-point measurement of the module docstring, for one model."""
    singles = world.singles()
    exact, _ = _correct(lm, world, singles)
    know = exact.reshape(world.spec.n_skills, world.spec.n_values).astype(float)
    two, first = _correct(lm, world, tests["two"])
    three, _ = _correct(lm, world, tests["three"])
    train_two, _ = _correct(lm, world, tests["train_two"])
    own2, own3 = _own_product(world, know, tests["two"]), _own_product(world, know, tests["three"])
    return {"x": float(exact.mean()), "y2": float(two.mean()), "y3": float(three.mean()),
            "first2": float(first.mean()), "pred2": float(own2.mean()), "pred3": float(own3.mean()),
            "both2": float((own2 * two).mean()), "both3": float((own3 * three).mean()),
            "y2_train": float(train_two.mean())}


FIELDS = ("x", "y2", "y3", "first2", "pred2", "pred3", "both2", "both3", "y2_train")


def _run_model(point: TrainedConfig) -> Result:
    """Train the one model of `point` (a config with one width and one coverage) and evaluate it at every budget;
    a function of the point alone, so it gives the same numbers in this process or in a worker."""
    single_thread()
    start = time.perf_counter()
    d, coverage = point.sizes[0], point.coverages[0]
    world = SkillWorld(point.world(coverage))
    tests = {"two": world.sample(world.composed(world.test_pairs), point.n_test, "two"),
             "three": world.sample(world.composed(world.test_triples), point.n_test, "three"),
             "train_two": world.sample(world.composed(world.train_pairs), point.n_test // 2, "train-two")}
    lm = world.new_model(d, point.n_layers, d // point.head_dim, point.seed, _tag(d, coverage))
    lm.module.to(resolve_device(point.device))
    marks = sorted({int(round(point.steps * (e + 1) / point.evals)) for e in range(point.evals)})
    rows: dict[str, list[float]] = {f: [] for f in FIELDS + ("step", "loss")}
    window: list[float] = []

    def on_step(step: int, loss: float) -> None:
        window.append(loss)
        if step in marks:
            for name, value in evaluate(lm, world, tests).items():
                rows[name].append(value)
            rows["step"].append(step)
            rows["loss"].append(float(np.mean(window)))
            window.clear()

    cfg = FinetuneConfig(method="full", steps=point.steps, batch_size=point.batch, lr=point.lr, warmup=point.warmup,
                         seed=point.seed)
    finetune(lm, world.training_set(), cfg, on_step=on_step)
    arrays = {name: np.asarray(values, dtype=float) for name, values in rows.items()}
    summary = ModelSummary(d_model=d, coverage=coverage, n_params=n_params(lm.module), x=rows["x"][-1],
                           y2=rows["y2"][-1], y3=rows["y3"][-1], seconds=time.perf_counter() - start)
    return Result(MODEL, config_dict(point), summary, arrays)


def _tag(d: int, coverage: float) -> str:
    """A model's name and the stream its initialisation is drawn under."""
    return f"d{d}-c{coverage:g}"


def _members(cfg: TrainedConfig) -> list[tuple[int, float]]:
    return [(d, f) for d in cfg.sizes for f in cfg.coverages]


def _model_config(cfg: TrainedConfig, d: int, coverage: float) -> TrainedConfig:
    """One model of a family as a config of its own; the fields that only shape the family's fit are reset, so
    the same model in two families is one cache entry."""
    return replace(cfg, sizes=(d,), coverages=(coverage,), x_low=0.99, x_high=1.0, workers=1)  # a window any P allows


def _run_models(cfg: TrainedConfig) -> list[Result]:
    """Every model's result, through the cache inside a cached run (each stored as soon as it finishes)."""
    configs = [_model_config(cfg, d, f) for d, f in _members(cfg)]
    return cache.sweep_in_run(MODEL, configs, _run_model, cfg.workers, ModelSummary, "skills.trained", cfg.steps)


# ---- the family ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FamilyFit(Summary):
    """Fits over a set of the family's points (X, Y), those with X in [x_low, x_high].

    n_window: the points fitted (every fit is NaN when fewer than 3);
    exponent2: least-squares k of Y = X^k for the held-out two-skill test (the search is bounded to [0.05, 10],
    so 10 means "10 or more");
    exponent3: the same for the held-out three-skill test;
    exponent_first: the same fit for the first step alone of the two-skill questions (one skill: about 1 when
    a step in the composed format is the one-skill lookup);
    exponent_pred2: the same fit for pred2, the product of the model's own one-skill results along each
    question (2 when which facts a model knows is independent across the facts a question chains);
    r2_square: R^2 of Y2 against X^2 with no free parameter;
    scale2: least-squares c of Y2 = c X^2;
    own_ratio2: over the window's points, the share of the two-skill questions whose every step the model knows
    that it also answers right composed, sum of both2 over sum of pred2 (1: composing costs nothing);
    own_ratio3: the same for the three-skill questions;
    exponent2_train: the exponent for two-skill questions of pairs seen composed in training."""

    n_window: int
    exponent2: float
    exponent3: float
    exponent_first: float
    exponent_pred2: float
    r2_square: float
    scale2: float
    own_ratio2: float
    own_ratio3: float
    exponent2_train: float


@dataclass(frozen=True)
class TrainedSummary(Summary):
    """The family of trained models.

    n_points: every (model, budget) point; final: the fits over each model at the end of its training (one point
    per model); early: the same over each model at its first budget (1/evals of its training); budgets: the fits
    over every budget of every model; by_width: the `final` fits over one width's models alone (its coverages),
    keyed by width; models: each model at the end of training, keyed by its name (d<width>-c<coverage>)."""

    n_points: int
    final: FamilyFit
    early: FamilyFit
    budgets: FamilyFit
    by_width: dict[int, FamilyFit]
    models: dict[str, ModelSummary]


def family_fit(arrays: dict[str, np.ndarray], x_low: float, x_high: float,
               keep: np.ndarray | None = None) -> FamilyFit:
    """The fits of `FamilyFit` over the points of `arrays` (those in `keep`, when given) with X in the window."""
    x = arrays["x"]
    m = (x >= x_low) & (x <= x_high)
    if keep is not None:
        m &= keep
    nan = float("nan")
    if m.sum() < 3:
        return FamilyFit(n_window=int(m.sum()), exponent2=nan, exponent3=nan, exponent_first=nan,
                         exponent_pred2=nan, r2_square=nan, scale2=nan, own_ratio2=nan, own_ratio3=nan,
                         exponent2_train=nan)
    xs = x[m]

    def ratio(y: str, p: str) -> float:
        total = float(arrays[p][m].sum())
        return float(arrays[y][m].sum()) / total if total > 0 else nan

    return FamilyFit(n_window=int(m.sum()), exponent2=theory.fit_exponent(xs, arrays["y2"][m]),
                     exponent3=theory.fit_exponent(xs, arrays["y3"][m]),
                     exponent_first=theory.fit_exponent(xs, arrays["first2"][m]),
                     exponent_pred2=theory.fit_exponent(xs, arrays["pred2"][m]),
                     r2_square=theory.r2_no_parameter(xs, arrays["y2"][m], 2),
                     scale2=theory.fit_scale(xs, arrays["y2"][m], 2),
                     own_ratio2=ratio("both2", "pred2"), own_ratio3=ratio("both3", "pred3"),
                     exponent2_train=theory.fit_exponent(xs, arrays["y2_train"][m]))


def run_trained(cfg: TrainedConfig) -> Result:
    cfg.validate()
    members = _members(cfg)
    runs = _run_models(cfg)
    arrays = {name: np.concatenate([r.arrays[name] for r in runs]) for name in FIELDS + ("step", "loss")}
    sizes = [np.full(r.arrays["x"].size, d, dtype=float) for (d, _), r in zip(members, runs)]
    covers = [np.full(r.arrays["x"].size, f, dtype=float) for (_, f), r in zip(members, runs)]
    arrays["d_model"], arrays["coverage"] = np.concatenate(sizes), np.concatenate(covers)
    last = np.concatenate([np.arange(r.arrays["x"].size) == r.arrays["x"].size - 1 for r in runs])
    first = np.concatenate([np.arange(r.arrays["x"].size) == 0 for r in runs])
    arrays["final"] = last.astype(float)
    summary = TrainedSummary(n_points=int(arrays["x"].size),
                             final=family_fit(arrays, cfg.x_low, cfg.x_high, last),
                             early=family_fit(arrays, cfg.x_low, cfg.x_high, first),
                             budgets=family_fit(arrays, cfg.x_low, cfg.x_high),
                             by_width={d: family_fit(arrays, cfg.x_low, cfg.x_high, last & (arrays["d_model"] == d))
                                       for d in cfg.sizes},
                             models={_tag(d, f): r.summary for (d, f), r in zip(members, runs)})
    return Result("skills.trained", config_dict(cfg), summary, arrays)


def _fit_lines(name: str, f: FamilyFit) -> list[str]:
    return [f"{name}: {f.n_window} points in the window",
            f"  exponent, two skills held out   {f.exponent2:.3f}   (R^2 against X^2 {f.r2_square:.3f}, "
            f"c of Y = c X^2 {f.scale2:.3f})",
            f"  exponent, three skills held out {f.exponent3:.3f}",
            f"  exponent, first step alone      {f.exponent_first:.3f}",
            f"  exponent, own-skill product     {f.exponent_pred2:.3f}",
            f"  exponent, two skills seen pairs {f.exponent2_train:.3f}",
            f"  Y / own-skill product: two skills {f.own_ratio2:.3f}, three skills {f.own_ratio3:.3f}"]


def summarize_trained(res: Result) -> str:
    s: TrainedSummary = res.summary
    c = res.config
    a = res.arrays
    lines = [f"{len(s.models)} tiny Transformers ({c['n_layers']} layers, widths {', '.join(map(str, c['sizes']))}, "
             f"coverages {', '.join(f'{v:g}' for v in c['coverages'])}), {c['n_skills']} skills x {c['n_values']} "
             f"values, {c['steps']} steps, {c['evals']} budgets each, "
             f"{'written steps' if c['cot'] else 'final answer only'}, seed {c['seed']}",
             f"{'width':>5} {'cover':>5} {'step':>6} {'X':>6} {'Y2':>6} {'X^2':>6} {'own2':>6} {'Y3':>6} {'X^3':>6} "
             f"{'first':>6}"]
    for i in range(a["x"].size):
        x = a["x"][i]
        lines.append(f"{int(a['d_model'][i]):>5} {a['coverage'][i]:>5.2f} {int(a['step'][i]):>6} {x:>6.3f} "
                     f"{a['y2'][i]:>6.3f} {x * x:>6.3f} {a['pred2'][i]:>6.3f} {a['y3'][i]:>6.3f} {x ** 3:>6.3f} "
                     f"{a['first2'][i]:>6.3f}")
    lines += [f"fits over the points with X in [{c['x_low']:g}, {c['x_high']:g}]:"]
    lines += _fit_lines("models at the end of training", s.final)
    lines += _fit_lines(f"models at their first budget ({c['steps'] // c['evals']} steps)", s.early)
    lines += _fit_lines("every budget", s.budgets)
    for d, f in s.by_width.items():
        lines += _fit_lines(f"width {d} alone, end of training", f)
    return "\n".join(lines)


TRAINED = Experiment(paper="skills", name="trained",
                     description="[ours] tiny Transformers that learn single skills, tested on held-out two- and "
                                 "three-skill questions: fitted exponent of Y = X^k",
                     config_cls=TrainedConfig, presets={"quick": QUICK, "paper": PAPER, "test": TEST},
                     run=run_trained, summarize=summarize_trained, summary=TrainedSummary)
