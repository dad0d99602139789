"""Data mixing and phase transitions in knowledge acquisition: the knapsack capacity model.

Gu, Lyu, Li, Zhang, "Data Mixing Can Induce Phase Transitions in Knowledge Acquisition", arXiv 2505.18091
(NeurIPS 2025). Two experiments, each an `Experiment` with quick and paper presets:

- phase: the knapsack model solved (phase diagram over model size and mixing ratio, the threshold power laws,
  subsampling, power-law frequency groups, a linear-web-loss control);
- train: small causal Transformers trained on synthetic biographies mixed with a power-law "web" stream
  (memorised fraction against mixing ratio for several sizes, critical ratios, web-loss exponent).

Without an experiment name, `python -m sims.knapsack` runs both, phase then train (a few minutes on 2 cores:
the training runs are spread over `--workers` processes, 2 by default).
"""
from .solver import PHASE
from .train import TRAIN

EXPERIMENTS = (PHASE, TRAIN)
BY_NAME = {e.name: e for e in EXPERIMENTS}
DEFAULT = ("phase", "train")  # `python -m sims.knapsack` solves the model, then trains the quick sweep

__all__ = ["BY_NAME", "DEFAULT", "EXPERIMENTS", "PHASE", "TRAIN"]
