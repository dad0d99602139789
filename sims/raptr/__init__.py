"""RaPTr: progressive subnetwork training.

Panigrahi, Saunshi, Lyu, Miryoosefi, Reddi, Kale, Kumar, "Efficient Stagewise Pretraining via Progressive
Subnetworks" (arXiv 2402.05913). Each training step runs a random subset of the residual blocks (the others are
skipped through their residual path), the subsets grow stage by stage until the full network trains; the paper
reports the baseline's loss at 20-33% fewer FLOPs and ties the loss jump at a stage transition to how little the
network's output changes when one layer is removed, which residual connections with layer norm make decay like
1/sqrt(L). `subnet.py` holds the method (schedules, the block runner, counted FLOPs) for any stack of residual
blocks. Experiments, each an `Experiment` with quick, paper and test presets:

- stability: [ours, after the paper's Lemma 1] the gap between a network with one random layer removed and the
  full network against depth, for pre-LN residual (scaled and unscaled), no-LN, post-LN and no-residual stacks, at
  initialisation and after a short training (default);
- staircase: [ours, after the paper's Sec. 3 polynomial argument] a residual MLP learning y = x1 + x1x2 + x1x2x3
  under full training, RaPTr (increasing subnetworks), progressive layer dropping (decreasing) and constant
  stochastic depth at equal FLOPs, with the learned Fourier coefficient of every monomial; a degree-1 target as
  the control;
- pretrain: a character-level language model on Shakespeare (8 pre-LN blocks) trained with full training, RaPTr
  (with and without output scaling, with and without fixed first/last blocks), progressive layer dropping and
  gradual stacking, validation loss against counted FLOPs and the loss jump at each stage transition.
"""
from .pretrain import PRETRAIN
from .stability import STABILITY
from .staircase import STAIRCASE

EXPERIMENTS = (STABILITY, STAIRCASE, PRETRAIN)
BY_NAME = {e.name: e for e in EXPERIMENTS}
DEFAULT = "stability"

__all__ = ["BY_NAME", "DEFAULT", "EXPERIMENTS", "PRETRAIN", "STABILITY", "STAIRCASE"]
