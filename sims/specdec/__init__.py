"""DistillSpec: speculative decoding and drafts distilled toward the target.

Zhou, Lyu, Rawat, Menon, Rostamizadeh, Kumar, Kagy, Agarwal, "DistillSpec: Improving Speculative Decoding via
Knowledge Distillation" (arXiv 2310.08461, ICLR 2024), on the speculative decoding of Leviathan, Kalman, Matias
(2023) and Chen et al. (2023). A small draft proposes gamma tokens, the target scores them in one pass and keeps
each with probability min(1, p/q), replacing the first rejected one by a sample of the residual: the output has
exactly the target's law, and the closer the draft (acceptance 1 - TV), the more tokens per target call.
DistillSpec trains the draft toward the target by knowledge distillation. Experiments, each an `Experiment` with
quick and paper presets, on tiny character-level Transformers trained here on Shakespeare (`pair.py`):

- exact: chi-square exactness of the emitted law on tabular chains and on the tiny pair's first tokens, with
  broken samplers as controls; block efficiency against the i.i.d. formula (default, seconds once the pair is
  trained);
- distill: the draft distilled with FKL, RKL, JSD, TVD on fixed, target-generated and on-policy data; acceptance
  at temperature 1 and greedy, block efficiency, the on-policy bound;
- speed: wall-clock speculative against plain decoding and the speed-up formula with the measured c;
- lossy: lenience functions trading exactness for acceptance.

The first run trains the quick pair (a 4-layer target and a 1-layer draft, about 7 minutes on one busy core) and
caches it.
"""
from .distill import DISTILL
from .exact import EXACT
from .lossy import LOSSY
from .speed import SPEED

EXPERIMENTS = (EXACT, DISTILL, SPEED, LOSSY)
BY_NAME = {e.name: e for e in EXPERIMENTS}
DEFAULT = ("exact", "distill", "speed", "lossy")

__all__ = ["BY_NAME", "DEFAULT", "DISTILL", "EXACT", "EXPERIMENTS", "LOSSY", "SPEED"]
