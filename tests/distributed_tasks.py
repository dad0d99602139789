"""Work for the ranks that tests/test_engine_distributed.py spawns, in a module of its own so that the spawned
processes can import it. Everything is measured inside the ranks and returned; the test asserts on it."""
from __future__ import annotations

import torch
import torch.distributed as dist

from sims.engine.distributed import LocalOptimizer, flat_all_reduce_mean
from sims.engine.errors import ConfigError
from sims.engine.torch_layer import generator, seeded

D_IN, D_OUT, BATCH = 6, 3, 8
STEPS = 20


def mlp() -> torch.nn.Module:
    """The same tiny MLP (same initial weights) on every rank."""
    with seeded(0, "mlp"):
        return torch.nn.Sequential(torch.nn.Linear(D_IN, 16), torch.nn.Tanh(), torch.nn.Linear(16, D_OUT))


def batch(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank `rank`'s data at `step`: random inputs and targets, different on every rank and step."""
    g = generator(0, "batch", rank, step)
    return torch.randn(BATCH, D_IN, generator=g), torch.randn(BATCH, D_OUT, generator=g)


def loss_of(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(model(x), y)


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def gathered(t: torch.Tensor, world: int) -> list[torch.Tensor]:
    out = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(out, t.contiguous())
    return out


def spread(t: torch.Tensor, world: int) -> float:
    """max |t_i - t_j| over the ranks (0.0 exactly when bit-identical)."""
    ts = gathered(t, world)
    return max(float((a - ts[0]).abs().max()) for a in ts)


OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "sgdm": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "sgdm_wd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.05),
}


def train(rank: int, world: int, opt: str, mode: str, h_of, steps: int = STEPS, watch: bool = False):
    """Train the MLP on this rank's data; with `watch`, measure after every step how far the ranks' parameters
    are apart. Returns (model, optimizer wrapper, inner optimizer, per-step records)."""
    model = mlp()
    inner = OPTIMIZERS[opt](model.parameters())
    lo = LocalOptimizer(model, inner, h_of, mode=mode)
    records = []
    for s in range(steps):
        x, y = batch(rank, s)
        lo.zero_grad()
        loss_of(model, x, y).backward()
        averaged = lo.step()
        if watch:
            records.append((averaged, spread(flat(model), world)))
    return model, lo, inner, records


def one_process_reference(world: int, opt: str, steps: int = STEPS) -> torch.Tensor:
    """Centralised training on all ranks' data: the gradient of each step is the mean of the ranks' gradients."""
    model = mlp()
    inner = OPTIMIZERS[opt](model.parameters())
    for s in range(steps):
        grads = []
        for r in range(world):
            model.zero_grad()
            loss_of(model, *batch(r, s)).backward()
            grads.append([p.grad.clone() for p in model.parameters()])
        for i, p in enumerate(model.parameters()):
            p.grad = sum(g[i] for g in grads) / world
        inner.step()
    return flat(model)


def scenarios(rank: int, world: int, arg) -> dict:
    """Every check of the test file that needs real ranks, measured in one spawn (spawning costs seconds)."""
    calls = [0]
    real_all_reduce = dist.all_reduce

    def counting_all_reduce(*a, **k):
        calls[0] += 1
        return real_all_reduce(*a, **k)

    dist.all_reduce = counting_all_reduce
    out: dict = {"rank": rank, "world": world}

    # flat_all_reduce_mean: one call for several tensors, the exact mean back in place
    ts = [torch.full((2, 3), float(rank + 1)), torch.full((4,), 10.0 * rank), torch.arange(3.0) * (rank + 1)]
    before = calls[0]
    flat_all_reduce_mean(ts)
    out["flat_calls"] = calls[0] - before
    out["flat_values"] = [t.tolist() for t in ts]

    # (a), (b): a varying schedule and a capped one
    for name, steps, h_of in (("varying", 22, lambda s: 1 + s % 5), ("capped", STEPS, lambda s: min(6, STEPS - s))):
        before = calls[0]
        _, lo, _, records = train(rank, world, "sgdm", "local", h_of, steps=steps, watch=True)
        out[name] = dict(all_reduce_calls=calls[0] - before, rounds=lo.rounds, round_lengths=lo.round_lengths,
                         step_count=lo.step_count, h=lo.h, left=lo.steps_left_in_round,
                         averaged=[a for a, _ in records], spread=[d for _, d in records],
                         comm_seconds=lo.comm_seconds)

    # (c), (d): local mode with H = 1 against data-parallel, and data-parallel against one process
    for opt in OPTIMIZERS:
        local_model, _, local_inner, _ = train(rank, world, opt, "local", lambda s: 1)
        before = calls[0]
        dp_model, dp, _, dp_records = train(rank, world, opt, "data_parallel", None, watch=True)
        res = dict(local_vs_dp=float((flat(local_model) - flat(dp_model)).abs().max()),
                   dp_calls=calls[0] - before, dp_rounds=dp.rounds, dp_spread=max(d for _, d in dp_records),
                   dp_returns=all(a for a, _ in dp_records), local_spread=spread(flat(local_model), world))
        if opt != "sgd":  # the optimizer's state after local training: not averaged, so it differs across ranks
            state = local_inner.state[next(local_model.parameters())]
            key = "momentum_buffer" if "momentum_buffer" in state else "exp_avg_sq"
            res["state_spread"] = spread(state[key], world)
        if rank == 0:
            res["dp_vs_one_process"] = float((flat(dp_model) - one_process_reference(world, opt)).abs().max())
        out[opt] = res
    dist.all_reduce = real_all_reduce
    return out


def fail_in_rank_one(rank: int, world: int, kind: str) -> int:
    """Rank 1 raises while rank 0 waits in a collective."""
    if rank == 1:
        if kind == "config":
            raise ConfigError("eta must be positive, got -1.")
        raise ValueError("rank one broke on purpose")
    t = torch.zeros(3)
    dist.all_reduce(t)
    return rank


def abort_in_rank_one(rank: int, world: int, arg: tuple[str, str]) -> int:
    """Rank 1 is killed by SIGABRT (as gloo has killed ranks on a loaded machine) before it stores a value.

    arg = (when, marker path): "first" aborts only while the marker file does not exist yet (it is created
    first), so a rerun succeeds; "always" aborts on every run; "after" aborts rank 1 once its value is stored
    (from a thread that the process joins on its way out) while rank 0 is still working."""
    import os
    import threading
    import time
    from pathlib import Path

    when, marker = arg
    t = torch.full((1,), float(rank + 1))
    dist.all_reduce(t)
    if rank == 1 and when == "always":
        os.abort()
    if rank == 1 and when == "first" and not Path(marker).exists():
        Path(marker).write_text("aborted once")
        os.abort()
    if rank == 1 and when == "after":
        threading.Timer(0.5, os.abort).start()  # a non-daemon thread: the process waits for it on its way out
    if rank == 0 and when == "after":
        time.sleep(1.5)  # still working when rank 1 dies
    return int(t.item()) * 10 + rank
