"""Progressive subnetwork training on any stack of residual blocks: stage schedules, the random layer subsets
of each step, and running only the active blocks (Panigrahi, Saunshi, Lyu, Miryoosefi, Reddi, Kale, Kumar,
"Efficient Stagewise Pretraining via Progressive Subnetworks", arXiv 2402.05913, Sec. 3).

A network is L residual blocks f_1..f_L, each h -> h + g_l(h), between an input map and an output map that always
run. At every training step a random subset of the blocks is active; an inactive block is the identity (its
residual path alone) and costs nothing, forward or backward. A `Schedule` is a sequence of stages, each with a
number of steps and a number of active blocks; `fixed` blocks (the first and last in the paper's experiments) are
active in every step of every stage. Within a stage the active set is drawn uniformly among the subsets of the
stage's size that contain the fixed blocks (`mode="subset"`, the paper's v1 "paths" of a given length), or each
other block independently with the probability that gives that size on average (`mode="bernoulli"`).

Output scaling (`scale="inverse"`): an active non-fixed block's residual branch g_l is multiplied by 1/pi_s, pi_s
the stage's inclusion probability of a non-fixed block, so the expected sum of the branches equals the full
network's (as inverted dropout does); the full network (pi = 1) is unchanged. The paper rescales active layers'
outputs but its exact factor is UNVERIFIED; this one is our choice [ours] and `scale="none"` switches it off.

The schedules the paper compares with (all on the same `Schedule` type): full training (every block every step),
RaPTr (active blocks increasing stage by stage, ending with the full network), progressive layer dropping (PLD,
decreasing), constant stochastic depth (one stage with a fixed fraction), and gradual stacking is not a subset
schedule (the network grows) and lives with the experiments that use it.

FLOPs are counted from what ran: `BlockRunner.executed` adds the number of blocks run at every forward call.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sims.engine import validate
from sims.engine.errors import ConfigError

MODES = ("subset", "bernoulli")
SCALES = ("none", "inverse")


@dataclass(frozen=True)
class Schedule:
    """n_layers L; stages: ((steps, active blocks), ...) in order, active counted with the fixed ones (an integer
    in mode "subset", any number in [len(fixed), L] in mode "bernoulli"); fixed: block indices (0-based) active at
    every step; mode: "subset" or "bernoulli" (module docstring)."""

    n_layers: int
    stages: tuple[tuple[int, float], ...]
    fixed: tuple[int, ...] = ()
    mode: str = "subset"

    def validate(self) -> None:
        validate.positive_int("n_layers", self.n_layers)
        validate.one_of("mode", self.mode, MODES)
        validate.non_empty("stages", self.stages)
        if len(set(self.fixed)) != len(self.fixed) or any(not 0 <= i < self.n_layers for i in self.fixed):
            raise ConfigError(f"fixed must hold distinct block indices in [0, {self.n_layers}); got {self.fixed}.")
        for steps, active in self.stages:
            validate.positive_int("stages' steps", steps)
            if not len(self.fixed) <= active <= self.n_layers or (active < 1):
                raise ConfigError(f"a stage's active blocks must lie in [max(1, {len(self.fixed)}), "
                                  f"{self.n_layers}] (the fixed blocks to all); got {active}.")
            if self.mode == "subset" and float(active) != int(active):
                raise ConfigError(f"mode 'subset' needs a whole number of active blocks per stage; got {active}.")

    @property
    def total_steps(self) -> int:
        return int(sum(s for s, _ in self.stages))

    def stage_of(self, step: int) -> int:
        """Index of the stage that step (0-based) belongs to; the last stage for steps past the end."""
        edge = 0
        for i, (steps, _) in enumerate(self.stages):
            edge += steps
            if step < edge:
                return i
        return len(self.stages) - 1

    def boundaries(self) -> list[int]:
        """The steps at which a new stage starts (after the first)."""
        return [int(x) for x in np.cumsum([s for s, _ in self.stages])[:-1]]

    def inclusion(self, stage: int) -> float:
        """pi_s: the probability that a non-fixed block is active in the stage (1 when every block is fixed)."""
        free = self.n_layers - len(self.fixed)
        return 1.0 if free == 0 else (self.stages[stage][1] - len(self.fixed)) / free

    def expected_active(self) -> float:
        """Mean active blocks per step over the schedule, sum_s (T_s / T) l_s (the paper's FLOPs ratio times L)."""
        return float(sum(s * a for s, a in self.stages) / self.total_steps)

    def sample(self, step: int, gen: torch.Generator) -> torch.Tensor:
        """The active blocks of one step: a bool mask [L], drawn from gen."""
        stage = self.stage_of(step)
        active = self.stages[stage][1]
        mask = torch.zeros(self.n_layers, dtype=torch.bool)
        mask[list(self.fixed)] = True
        free = _free(self.n_layers, self.fixed)
        if free.numel() == 0:
            return mask
        if self.mode == "subset":
            k = int(active) - len(self.fixed)
            pick = free[torch.randperm(free.numel(), generator=gen)[:k]]
            mask[pick] = True
        else:
            draw = torch.rand(free.numel(), generator=gen) < self.inclusion(stage)
            mask[free[draw]] = True
        return mask


@functools.lru_cache(maxsize=64)
def _free(n_layers: int, fixed: tuple[int, ...]) -> torch.Tensor:
    """The indices of the blocks that are not fixed (built once per shape: `sample` runs every step)."""
    return torch.tensor([i for i in range(n_layers) if i not in fixed], dtype=torch.long)


def full(n_layers: int, steps: int) -> Schedule:
    """Standard training: every block every step."""
    return Schedule(n_layers, ((steps, n_layers),))


def progressive(n_layers: int, sizes: tuple[float, ...], steps: int, fixed: tuple[int, ...] = (),
                mode: str = "subset") -> Schedule:
    """Equal stages (steps split as evenly as whole steps allow, the first stages one step longer) with the given
    active sizes: increasing sizes ending at L is RaPTr, decreasing sizes progressive layer dropping."""
    validate.non_empty("sizes", sizes)
    validate.positive_int("steps", steps, len(sizes))
    base, extra = divmod(steps, len(sizes))
    stages = tuple((base + (i < extra), a) for i, a in enumerate(sizes))
    out = Schedule(n_layers, stages, tuple(fixed), mode)
    out.validate()
    return out


class BlockRunner(nn.Module):
    """Runs a stack of residual blocks with a mask of active ones (see the module docstring).

    blocks: the residual blocks, each mapping h to h + g(h) (e.g. `CausalTransformer.blocks`); the branch g(h) is
    read off as block(h) - h, so any residual block works unchanged. scale: "none" or "inverse". executed: blocks
    run so far (forward calls), the FLOPs counter."""

    def __init__(self, blocks: nn.ModuleList, scale: str = "inverse"):
        super().__init__()
        validate.one_of("scale", scale, SCALES)
        self.blocks = blocks
        self.scale = scale
        self.executed = 0

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None, inclusion: float = 1.0,
                fixed: tuple[int, ...] = ()) -> torch.Tensor:
        """h after the active blocks (all when mask is None); an active non-fixed block's branch is multiplied by
        1/inclusion when scale is "inverse"."""
        if not 0.0 <= inclusion <= 1.0:
            raise ConfigError(f"inclusion must be a probability in [0, 1]; got {inclusion}.")
        factor = 1.0 / inclusion if self.scale == "inverse" and 0.0 < inclusion < 1.0 else 1.0
        for i, block in enumerate(self.blocks):
            if mask is not None and not bool(mask[i]):
                continue
            self.executed += 1
            out = block(h)
            h = out if factor == 1.0 or i in fixed else h + factor * (out - h)
        return h
