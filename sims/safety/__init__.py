"""Shallow safety alignment: alignment that goes only a few tokens deep, the attacks it invites, and two ways to
deepen it.

Qi, Panda, Lyu, Ma, Roy, Beirami, Mittal, Henderson, "Safety Alignment Should Be Made More Than Just a Few Tokens
Deep" (arXiv 2406.05946, ICLR 2025). Aligned chat models differ from their base models mostly in the first tokens
of a response; prefilling a harmful start, sampling with other decoding parameters or a few fine-tuning steps
undo it; training on safety-recovery examples (a refusal after a harmful start, Eq. 2) and a token-wise
constrained fine-tuning loss (Eq. 3) make it deeper and more durable.

Here the models are tiny Transformers in a synthetic chat world (`world.py`: benign and harmful instruction
families, compliant answers and refusals, a judge), trained here: a base model that complies with everything, an
aligned model fine-tuned on refusals, and an augmented model fine-tuned on recovery examples (`models.py`; the
quick models take about a minute on one core and are cached). Experiments, each with quick and paper presets:

- depth: per-token KL(aligned || base) along harmful answers, and the same for the augmented model (Fig. 1, 4);
- prefill: attack success against the number of prefilled harmful tokens; a decoding-parameter attack; the
  recovery ablation over p and C (Fig. 2, Table 3, Tables 6-7);
- finetune_attack: harmful and benign fine-tuning with SFT, the constrained loss and uniform betas (Table 4,
  Fig. 3, Table 8);
- tabular: the same world solved exactly with numpy tables (toy models T2.1, T2.2, T2.4; seconds).

The paper's published tables are data in `published.py` (checked by `python -m paper_checks safety`).
"""
from .depth import DEPTH
from .finetune_attack import FINETUNE_ATTACK
from .prefill import PREFILL
from .tabular import TABULAR

EXPERIMENTS = (DEPTH, PREFILL, FINETUNE_ATTACK, TABULAR)
BY_NAME = {e.name: e for e in EXPERIMENTS}
DEFAULT = ("depth", "prefill", "finetune_attack", "tabular")

__all__ = ["BY_NAME", "DEFAULT", "DEPTH", "EXPERIMENTS", "FINETUNE_ATTACK", "PREFILL", "TABULAR"]
