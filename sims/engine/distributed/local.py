"""Local SGD / Local AdamW and data-parallel training for any torch model over torch.distributed.

`LocalOptimizer` wraps any torch optimizer the way the QSR paper's released code does (Gu et al., ICLR 2024,
arXiv 2310.14423, `localopt.py`): every rank steps on its own gradient, and after the last local step of a round
the parameters are averaged with one all-reduce of a flat buffer; optimizer states (momentum, Adam moments) stay
local. The length H of each round comes from a function of the round's first step, so a constant H, H ∝ 1/eta
and QSR's H = max(H_base, floor((alpha / eta_t)^2)) (paper section 2) are all a choice of `h_of`. The
data-parallel baseline of the same code averages gradients every step instead (one flat all-reduce) and then
steps, as the paper's baselines do.
"""
from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Iterable, Sequence

from ..errors import ConfigError

MODES = ("local", "data_parallel")


def _group_active(group) -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def flat_all_reduce_mean(tensors: Sequence, group=None) -> None:
    """Replace every tensor, in place, by its mean over the ranks of `group`.

    The tensors are copied into one flat buffer, reduced with ONE all_reduce (SUM), divided by the world size and
    copied back; tensors of several dtypes or devices take one all_reduce per (device, dtype). A no-op when
    torch.distributed is not initialised or the group has one rank. Every rank must pass tensors of the same
    shapes in the same order.
    """
    import torch
    import torch.distributed as dist

    tensors = list(tensors)
    if not tensors:
        return
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            raise ConfigError(f"flat_all_reduce_mean takes torch tensors, got {type(t).__name__}.")
        if not (t.is_floating_point() or t.is_complex()):
            raise ConfigError(f"flat_all_reduce_mean averages floating-point tensors, got dtype {t.dtype}.")
    if not _group_active(group):
        return
    world = dist.get_world_size(group)
    buckets: dict[tuple, list] = {}
    for t in tensors:
        buckets.setdefault((t.device, t.dtype), []).append(t)
    with torch.no_grad():
        for bucket in buckets.values():
            flat = torch.cat([t.reshape(-1) for t in bucket])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
            flat.div_(world)
            offset = 0
            for t in bucket:
                n = t.numel()
                t.copy_(flat[offset:offset + n].view_as(t))
                offset += n


class LocalOptimizer:
    """Local steps with periodic parameter averaging (mode "local") or gradient averaging every step (mode
    "data_parallel") around a torch optimizer; call `step()` after `loss.backward()`.

    Local mode (Local SGD, Algorithm 1 of arXiv 2303.01215; Local AdamW with unaveraged moments, the QSR paper's
    `--avg-m 0 --avg-v 0`): a round that starts at global step s lasts H = h_of(s) steps; h_of is called once per
    round, before the round's first step, and must return an int >= 1. Each step() steps the wrapped optimizer on
    the local gradient; the round's last step() then averages `params` over the ranks (`flat_all_reduce_mean`)
    and returns True. With a QSR schedule, h_of applies the paper's rule at the learning rate of step s and caps
    H at the steps left, as `LocalOptimizer.adjust_h` does in the released code.

    Data-parallel mode: step() averages the gradients of `params` (those that have one; every rank must have the
    same set) with one flat all-reduce, then steps; it returns True every step. h_of is ignored.

    Without a process group (one process) the averaging is skipped but the rounds are still counted. A learning-
    rate scheduler takes the wrapped optimizer (`.optimizer`).
    """

    def __init__(self, params, optimizer, h_of: Callable[[int], int] | None, *, mode: str = "local", group=None,
                 time_comm: bool = True):
        import torch

        if mode not in MODES:
            raise ConfigError(f"mode must be 'local' or 'data_parallel', got {mode!r}.")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ConfigError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}.")
        if mode == "local" and not callable(h_of):
            raise ConfigError(f"h_of must be a function from a round's first step to its number of local steps H "
                              f"in local mode, got {h_of!r}.")
        if isinstance(params, torch.nn.Module):
            params = params.parameters()
        if isinstance(params, torch.Tensor) or not isinstance(params, Iterable):
            raise ConfigError(f"params must be an nn.Module or an iterable of parameters, got "
                              f"{type(params).__name__}.")
        unique, seen = [], set()
        for p in params:
            if not isinstance(p, torch.Tensor):
                raise ConfigError(f"params must hold torch tensors, got {type(p).__name__}.")
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        if not unique:
            raise ConfigError("params must hold at least one parameter, got none.")
        self._params = unique
        self._optimizer = optimizer
        self._h_of = h_of
        self._mode = mode
        self._group = group
        self._time_comm = bool(time_comm)
        self._cuda = any(p.is_cuda for p in unique)
        self._step_count = 0
        self._h = 1 if mode == "data_parallel" else 0
        self._left = 0  # local steps left in the current round
        self._rounds = 0
        self._round_lengths: list[int] = []
        self._comm_seconds = 0.0

    # read-only state
    @property
    def step_count(self) -> int:
        """Steps taken."""
        return self._step_count

    @property
    def h(self) -> int:
        """H of the current round (local mode; 0 before the first step); 1 in data-parallel mode."""
        return self._h

    @property
    def rounds(self) -> int:
        """Synchronisations issued: parameter averages (local mode) or gradient averages (data-parallel); each is
        one flat all-reduce when a process group of more than one rank exists."""
        return self._rounds

    @property
    def round_lengths(self) -> list[int]:
        """H of every completed or current round, in order (local mode; empty in data-parallel mode)."""
        return list(self._round_lengths)

    @property
    def comm_seconds(self) -> float:
        """Wall time inside the all-reduces (time.perf_counter; cuda synchronised before and after), when
        time_comm."""
        return self._comm_seconds

    @property
    def steps_left_in_round(self) -> int:
        """Local steps until the next average (local mode; 0 when the next step starts a new round)."""
        return self._left

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def optimizer(self):
        """The wrapped torch optimizer (give it to a learning-rate scheduler)."""
        return self._optimizer

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._optimizer.zero_grad(set_to_none=set_to_none)

    def _start_round(self) -> None:
        h = self._h_of(self._step_count)
        if isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1:
            raise ConfigError(f"h_of must return an integer H >= 1 for the round starting at step "
                              f"{self._step_count}, got {h!r}.")
        self._h = self._left = int(h)
        self._round_lengths.append(int(h))

    def _synchronise(self, tensors: list) -> None:
        if self._time_comm:
            import torch

            if self._cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            flat_all_reduce_mean(tensors, self._group)
            if self._cuda:
                torch.cuda.synchronize()
            self._comm_seconds += time.perf_counter() - start
        else:
            flat_all_reduce_mean(tensors, self._group)
        self._rounds += 1

    def step(self) -> bool:
        """One step on the current gradients; True when it ended with an all-reduce of the parameters (local
        mode) — in data-parallel mode every step reduces the gradients first and returns True."""
        if self._mode == "data_parallel":
            self._synchronise([p.grad for p in self._params if p.grad is not None])
            self._optimizer.step()
            self._step_count += 1
            return True
        if self._left == 0:
            self._start_round()
        self._optimizer.step()
        self._step_count += 1
        self._left -= 1
        if self._left == 0:
            self._synchronise(self._params)
            return True
        return False
