"""Fine-tuning objectives of the attack experiments, as `sims.engine.lm.finetune` objectives: standard SFT (the
mean response NLL) and the token-wise constrained loss of Qi et al. (arXiv 2406.05946, Sec. 4, Eq. 3 in its softplus
form, Eq. 4):

    l_t = (2 / beta_t) softplus(beta_t (log pi_a(y_t | c_t) - log pi_theta(y_t | c_t)))

with pi_a the frozen initial (aligned) model, whose log-probabilities of every training token are computed once
before training. Its gradient is SFT's times 2 sigma(beta_t Delta_t) (`theory.safety.gradient_weight`): 1 at the
start, vanishing once the model gives a token more probability than the aligned model did; the larger beta_t, the
sooner. Named objectives (`OBJECTIVES`): "sft", "constrained" (the paper's schedule, `theory.safety.beta_schedule`:
beta_1 = 0.5, beta_2..5 = 2, then 0.1), and uniform schedules "uniform-0.1", "uniform-0.5", "uniform-2" (the
Table 8 ablation). The loss is averaged over the batch's response tokens, like SFT's.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from sims.engine.errors import ConfigError
from sims.engine.lm.decode import continuation_logprobs
from sims.engine.lm.finetune import Objective, mean_nll
from sims.engine.lm.model import CausalLM
from theory import safety as theory

UNIFORM = {"uniform-0.1": 0.1, "uniform-0.5": 0.5, "uniform-2": 2.0}
OBJECTIVES = ("sft", "constrained", *UNIFORM)


def betas_for(name: str, n_positions: int) -> torch.Tensor | None:
    """Per-position beta_t, t = 1..n_positions, of a named objective (None for SFT)."""
    if name not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}; got {name!r}.")
    if name == "sft":
        return None
    if name == "constrained":
        return torch.as_tensor(theory.beta_schedule(n_positions), dtype=torch.float32)
    return torch.full((n_positions,), UNIFORM[name], dtype=torch.float32)


@torch.no_grad()
def reference_logprobs(reference: CausalLM, examples: Sequence[tuple[Sequence[int], Sequence[int]]],
                       batch: int = 256) -> list[torch.Tensor]:
    """log pi_a(y_t | x, y_<t) of every response token of every example, under the frozen reference model."""
    out: list[torch.Tensor] = []
    for start in range(0, len(examples), batch):
        chunk = examples[start:start + batch]
        values, mask = continuation_logprobs(reference, [e[0] for e in chunk], [e[1] for e in chunk])
        out += [values[i, :int(mask[i].sum())].detach().cpu() for i in range(len(chunk))]
    return out


def constrained(reference_lp: Sequence[torch.Tensor], betas: torch.Tensor) -> Objective:
    """The constrained objective for a training set whose reference log-probabilities are `reference_lp` (one
    tensor per example, from `reference_logprobs`) with per-position `betas` (positions past its end use its last
    value)."""

    def objective(values: torch.Tensor, mask: torch.Tensor, batch: list[int]) -> torch.Tensor:
        width = values.shape[1]
        ref = torch.zeros_like(values)
        for row, i in enumerate(batch):
            lp = reference_lp[i].to(values.device)
            ref[row, :len(lp)] = lp
        beta = betas[torch.clamp(torch.arange(width), max=len(betas) - 1)].to(values.device)
        delta = ref - values
        loss = (2.0 / beta) * F.softplus(beta * delta) * mask
        return loss.sum() / mask.sum()

    return objective


def objective_for(name: str, reference: CausalLM, examples: Sequence[tuple[Sequence[int], Sequence[int]]]
                  ) -> Objective:
    """The named objective for fine-tuning on `examples`, anchored to `reference` (unused by SFT)."""
    longest = max(len(e[1]) for e in examples)
    betas = betas_for(name, longest)
    if betas is None:
        return mean_nll
    return constrained(reference_logprobs(reference, examples), betas)
