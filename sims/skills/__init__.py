"""MATH^2: skill composition and the square law Y ~ X^2.

Shah, Yu, Lyu, Park, Yu, He, Ke, Mozer, Bengio, Arora, Goyal, "AI-Assisted Generation of Difficult Math Questions"
(arXiv 2407.21009). Questions built from random pairs of skills; a model's accuracy on them is about the square
of its MATH accuracy, explained by independent per-skill success. Experiments, each an `Experiment` with quick
and paper presets:

- population: [ours] synthetic models with latent per-skill abilities on finite MATH-like and k-skill tests,
  the fitted exponent of Y = X^k for k = 1, 2, 3, R^2, a composition penalty (default);
- table: [ours] the paper's 25-model table (shipped in sims/skills/data) against Y = X^2: R^2 with no free
  parameter, the fitted exponent with a bootstrap interval, the best straight line, the residuals;
- trained: [ours] a family of tiny Transformers that learn single skills (lookup tables), tested on held-out
  two- and three-skill questions: each (width, training budget) is one point (X, Y), and the fitted exponent says
  whether trained networks compose skills as the explanation assumes.
"""
from .population import POPULATION
from .table import TABLE
from .trained import TRAINED

EXPERIMENTS = (POPULATION, TABLE, TRAINED)
BY_NAME = {e.name: e for e in EXPERIMENTS}
DEFAULT = "population"

__all__ = ["BY_NAME", "DEFAULT", "EXPERIMENTS", "POPULATION", "TABLE", "TRAINED"]
