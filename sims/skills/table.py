"""The MATH^2 paper's published tables as data, and the `table` experiment that compares them with Y = X^2.

Shah et al., "AI-Assisted Generation of Difficult Math Questions" (arXiv 2407.21009). The three CSV files under
`data/` hold the paper's numbers exactly as published on the project website (main results table
`percentage_drops.png`, in-context table `icl.png`, modified-versus-unmodified table `mod_vs_unmod.png`),
transcribed in the research notes (shared/papers/llm_papers.md, Sec. 1.2-1.4); every row names its source.
Nothing here changes a number: the loader only reads them and checks the printed drop column against
100 (X - Y) / X, within what rounding X and Y to two decimals allows.

The `table` experiment [ours] fits the law to the 25 models: R^2 of Y against X^2 with no free parameter, the
least-squares exponent with a percentile bootstrap interval over models, the best straight line, the residuals
Y - X^2 and the binomial noise a 210-question test set would have at each Y.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from theory import skills as theory

DATA = Path(__file__).parent / "data"
MATH2_QUESTIONS = 210  # size of MATH^2 in the version of the table (website; research notes Sec. 1.1)


class TableError(ValueError):
    """A data file does not hold what its loader expects (a column missing, a drop inconsistent with X and Y)."""


def _rows(name: str) -> list[dict[str, str]]:
    """The rows of data/<name> (lines starting with '#' are comments)."""
    with open(DATA / name, newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


@dataclass(frozen=True)
class MainTable:
    """The main results table. model: names; x: MATH accuracy X and y: MATH^2 accuracy Y, as fractions;
    drop: the printed relative drop in percent; source: each row's source; drop_error: |100 (X - Y)/X - drop|
    per row (percentage points); drop_bound: the largest error two-decimal rounding of X and Y can cause per row."""

    model: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    drop: np.ndarray
    source: tuple[str, ...]
    drop_error: np.ndarray
    drop_bound: np.ndarray

    def index(self, model: str) -> int:
        return self.model.index(model)


def load_main() -> MainTable:
    """The 25-model table; raises TableError when a printed drop is farther from 100 (X - Y)/X than rounding the
    printed X and Y (to 0.005 points) can explain."""
    rows = _rows("math2_table.csv")
    x = np.array([float(r["math"]) for r in rows])
    y = np.array([float(r["math2"]) for r in rows])
    drop = np.array([float(r["drop"]) for r in rows])
    error = np.abs(100.0 * (x - y) / x - drop)
    bound = 100.0 * 0.005 * (1.0 / x + y / x ** 2) + 0.005
    bad = np.flatnonzero(error > bound)
    if bad.size:
        i = int(bad[0])
        raise TableError(f"row {rows[i]['model']!r}: printed drop {drop[i]} differs from 100 (X - Y)/X by "
                         f"{error[i]:.3f} points, more than rounding allows ({bound[i]:.3f}).")
    return MainTable(tuple(r["model"] for r in rows), x / 100.0, y / 100.0, drop, tuple(r["source"] for r in rows),
                     error, bound)


def load_icl() -> dict[str, dict[str, float]]:
    """In-context table: {row: {model: MATH accuracy as a fraction}} for rows mammoth, skill_based, proposed."""
    rows = _rows("icl_table.csv")
    return {col: {r["model"]: float(r[col]) / 100.0 for r in rows} for col in ("mammoth", "skill_based", "proposed")}


def load_modified() -> dict[str, dict[str, float]]:
    """Modified-versus-unmodified table: {column: {model: accuracy as a fraction}} for modified, unmodified,
    math_level5."""
    rows = _rows("modified_table.csv")
    return {col: {r["model"]: float(r[col]) / 100.0 for r in rows}
            for col in ("modified", "unmodified", "math_level5")}


def bootstrap_exponents(x, y, n: int, gen: np.random.Generator) -> np.ndarray:
    """Fitted exponents of y = x^k on n resamples of the (x, y) pairs drawn with replacement."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    idx = gen.integers(0, x.size, size=(n, x.size))
    return np.array([theory.fit_exponent(x[i], y[i]) for i in idx])


# ---- the `table` experiment -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableConfig:
    """n_boot: bootstrap resamples of the 25 models for the exponent's interval; level: its coverage;
    seed: seeds the resampling."""

    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("n_boot", self.n_boot, 10)
        validate.probability("level", self.level, open_low=True, open_high=True)


TABLE_QUICK = TableConfig()
TABLE_PAPER = TableConfig(n_boot=10000)


@dataclass(frozen=True)
class TableSummary(Summary):
    """[ours] The paper's 25-model table against Y = X^2 (fractions, not percent).

    models: number of models in the table;
    r2_square: R^2 of Y against X^2 with no free parameter;
    r2_linear: R^2 of the best straight line Y = b X + c;
    exponent: least-squares k of Y = X^k on all models;
    exponent_low: lower end of the percentile bootstrap interval of k over models (coverage `level`);
    exponent_high: its upper end;
    scale: least-squares c of Y = c X^2;
    rmse: root mean square of Y - X^2;
    binomial_rms: root mean square over the models of sqrt(Y(1 - Y)/210), the noise of a 210-question test;
    max_residual_model: the model with the largest Y - X^2; max_residual: that residual;
    min_residual_model: the model with the smallest Y - X^2; min_residual: that residual;
    max_drop_error: the largest |100 (X - Y)/X - printed drop| over the rows (percentage points)."""

    models: int
    r2_square: float
    r2_linear: float
    exponent: float
    exponent_low: float
    exponent_high: float
    scale: float
    rmse: float
    binomial_rms: float
    max_residual_model: str
    max_residual: float
    min_residual_model: str
    min_residual: float
    max_drop_error: float


def run_table(cfg: TableConfig) -> Result:
    t = load_main()
    boots = bootstrap_exponents(t.x, t.y, cfg.n_boot, rng(cfg.seed, "bootstrap"))
    alpha = (1.0 - cfg.level) / 2.0
    resid = t.y - t.x ** 2
    hi, lo = int(np.argmax(resid)), int(np.argmin(resid))
    summary = TableSummary(
        models=len(t.model), r2_square=theory.r2_no_parameter(t.x, t.y), r2_linear=theory.linear_r2(t.x, t.y),
        exponent=theory.fit_exponent(t.x, t.y), exponent_low=float(np.quantile(boots, alpha)),
        exponent_high=float(np.quantile(boots, 1.0 - alpha)), scale=theory.fit_scale(t.x, t.y),
        rmse=float(np.sqrt(np.mean(resid ** 2))),
        binomial_rms=float(np.sqrt(np.mean(theory.binomial_sd(t.y, MATH2_QUESTIONS) ** 2))),
        max_residual_model=t.model[hi], max_residual=float(resid[hi]),
        min_residual_model=t.model[lo], min_residual=float(resid[lo]), max_drop_error=float(t.drop_error.max()))
    return Result("skills.table", config_dict(cfg), summary,
                  {"x": t.x, "y": t.y, "residual": resid, "bootstrap_exponents": boots})


def summarize_table(res: Result) -> str:
    s: TableSummary = res.summary
    cfg = res.config
    return "\n".join([
        f"MATH^2 main table (paper's numbers, {s.models} models; website percentage_drops.png):",
        f"  R^2 of Y against X^2, no free parameter   {s.r2_square:.3f}   (best straight line: {s.r2_linear:.3f})",
        f"  fitted Y = X^k                              k = {s.exponent:.3f}, bootstrap {cfg['level']:.0%} interval "
        f"[{s.exponent_low:.2f}, {s.exponent_high:.2f}] ({cfg['n_boot']} resamples)",
        f"  fitted Y = c X^2                            c = {s.scale:.3f}",
        f"  RMSE of Y - X^2 {s.rmse:.3f}; binomial noise of 210 questions (RMS) {s.binomial_rms:.3f}",
        f"  largest Y - X^2: {s.max_residual_model} {s.max_residual:+.3f}; smallest: {s.min_residual_model} "
        f"{s.min_residual:+.3f}",
        f"  printed drop column against 100 (X - Y)/X: largest difference {s.max_drop_error:.4f} points"])


TABLE = Experiment(paper="skills", name="table",
                   description="[ours] the paper's 25-model table against Y = X^2: R^2, fitted exponent, bootstrap",
                   config_cls=TableConfig, presets={"quick": TABLE_QUICK, "paper": TABLE_PAPER},
                   run=run_table, summarize=summarize_table, summary=TableSummary)
