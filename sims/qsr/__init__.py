"""The quadratic synchronization rule (QSR): how many local steps Local SGD / Local AdamW should take per round
as the learning rate decays.

Gu, Lyu, Arora, Zhang, Huang, "A Quadratic Synchronization Rule for Distributed Deep Learning", ICLR 2024
(arXiv 2310.14423). The rule: H = max(H_base, floor((alpha / eta)^2)) local steps in a round, set from the learning
rate eta at the round's first step (`theory.qsr.SyncRule`, the official `adjust_h`). Experiments, each an
`Experiment` with quick and paper presets:

- toy:      SGD, constant H, H ~ 1/eta and QSR on the engine's bilinear label-noise toy under a cosine learning
            rate, many replicas batched: final sharpness against the slow flows, and rounds (the default);
- drift:    the drift-factor law at constant learning rates: the sharpness drop of H ~ 1/eta and QSR over SGD's
            against the slow SDE's factor 1 + (K - 1) psi(2 eta H lambda), as eta shrinks;
- schedule: replay of the paper's ViT-B Local AdamW recipe: the communication rounds of each rule;
- equivalence: what Local SGD means on real processes: H = 1 against data-parallel training (SGD, SGDM: equal
            to rounding; AdamW: not), the ranks' spread inside and after QSR rounds, all-reduces against the replay;
- torch:    K real processes (torch.distributed, gloo on CPU, NCCL on GPUs) training an MLP on scikit-learn's
            digits with data-parallel, constant H, H ~ 1/eta and QSR: accuracy, sharpness, all-reduce counts,
            measured and predicted wall time. `torchrun --nproc-per-node K -m sims.qsr torch ...` runs the same
            experiment with one worker per torchrun process.

The Local SGD optimizer for any `nn.Module` is `sims.engine.distributed.LocalOptimizer`; the toy's discrete
iteration is `sims.engine.local_steps`.
"""
from .drift import DRIFT
from .equivalence import EQUIVALENCE
from .schedule import SCHEDULE
from .torch_run import TORCH
from .toy import TOY

EXPERIMENTS = (TOY, DRIFT, SCHEDULE, TORCH, EQUIVALENCE)
BY_NAME = {e.name: e for e in EXPERIMENTS}
DEFAULT = "toy"

__all__ = ["BY_NAME", "DEFAULT", "DRIFT", "EQUIVALENCE", "EXPERIMENTS", "SCHEDULE", "TORCH", "TOY"]
