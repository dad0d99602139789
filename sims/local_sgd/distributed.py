"""Local SGD on real processes with torch.distributed (gloo on CPU): one process per worker.

The same algorithm as `sims.engine.local_steps.run` (paper Algorithm 1): each rank keeps its own copy of the
parameters of P independent paths, takes H local steps on its own noise, then the K copies are averaged with an all-reduce.
Each rank draws the same noise blocks as the one-process simulation and uses its own worker slice, so K real
processes reproduce `local_steps.run(..., K, H, ...)` to rounding (tested with 2 processes).

Launch in-process with `run_distributed(...)` (spawns K processes), or with torchrun:
    torchrun --nproc-per-node 2 -m sims.local_sgd.distributed --steps 2000
"""
from __future__ import annotations

import argparse

import numpy as np


def local_sgd_rank(rank: int, world: int, toy, theta0: np.ndarray, eta: float, steps: int, H: int,
                   local_batch: int, rng: np.random.Generator, n_record: int = 200, chunk: int = 4096):
    """The work of one rank inside an initialised process group. Returns (steps, sharpness [T, P]) of the
    averaged iterate at the recorded round boundaries (identical on every rank)."""
    import torch

    from sims.engine.distributed import flat_all_reduce_mean
    from sims.engine.divergence import check_finite

    theta0 = np.asarray(theta0, dtype=float)
    P, d = theta0.shape
    theta = theta0.copy()
    n_rounds = steps // H
    rec_set = set(np.unique(np.linspace(0, n_rounds, num=max(n_record, 2)).round().astype(int)).tolist())
    out_steps, sharp = [0], [toy.manifold_sharpness(theta)]
    noise = np.empty(0)
    pos = 0
    for r in range(1, n_rounds + 1):
        for _ in range(H):
            if pos >= noise.shape[0]:
                noise = rng.standard_normal((chunk, P, world, toy.noise_dim))  # same blocks on every rank
                pos = 0
            theta -= eta * toy.stochastic_grad(theta, noise[pos, :, rank], local_batch)
            pos += 1
        buf = torch.from_numpy(theta)
        flat_all_reduce_mean([buf])  # one all-reduce of the P x d block, then divided by the world size
        theta = buf.numpy()
        if r in rec_set:
            check_finite("Local SGD iterate", theta, r * H, "lower the learning rate eta")
            out_steps.append(r * H)
            sharp.append(toy.manifold_sharpness(theta))
    return np.asarray(out_steps), np.asarray(sharp)


def _rank_task(rank: int, world: int, args: dict):
    """One rank of `run_distributed`, inside the process group that `sims.engine.distributed.spawn` set up."""
    from sims.engine.seeding import rng
    from sims.engine.toys import BilinearRegression

    toy = BilinearRegression(args["half_dim"], args["sigma"])
    return local_sgd_rank(rank, world, toy, args["theta0"], args["eta"], args["steps"], args["H"],
                          args["local_batch"], rng(args["seed"], "local"), args["n_record"])


def run_distributed(half_dim: int, sigma: float, theta0: np.ndarray, eta: float, steps: int, K: int, H: int,
                    local_batch: int, seed: int, n_record: int = 200):
    """Spawn K gloo processes (one per worker) and return (steps, sharpness [T, P], per-rank agreement).

    The noise stream is rng(seed, "local"), the one `sims.local_sgd.toy` gives `local_steps.run` for Local SGD."""
    from sims.engine.distributed import spawn

    args = dict(half_dim=half_dim, sigma=sigma, theta0=np.asarray(theta0, dtype=float), eta=eta, steps=steps, H=H,
                local_batch=local_batch, seed=seed, n_record=n_record)
    res = spawn(_rank_task, K, args, backend="gloo")
    steps_out, sharp = res[0]
    agree = max(float(np.abs(r[1] - sharp).max()) for r in res)
    return steps_out, sharp, agree


def main(argv=None) -> int:
    """torchrun entry point: every rank runs one worker of Local SGD on the toy; rank 0 prints the result.
    Exit codes as every command's (`sims.engine.cli.guarded`): 2 for a bad argument, 130 on Ctrl-C."""
    from sims.engine.cli import guarded

    p = argparse.ArgumentParser(prog="torchrun --nproc-per-node K -m sims.local_sgd.distributed")
    p.add_argument("--half-dim", type=int, default=2)
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--lam0", type=float, default=6.0)
    p.add_argument("--eta", type=float, default=0.025)
    p.add_argument("--H", type=int, default=20)
    p.add_argument("--local-batch", type=int, default=2)
    p.add_argument("--steps", type=int, default=9600)
    p.add_argument("--paths", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    return guarded(lambda: _run(a))


def _run(a: argparse.Namespace) -> int:
    import torch.distributed as dist

    from sims.engine import validate
    from sims.engine.distributed import init_from_env
    from sims.engine.seeding import rng
    from sims.engine.toys import BilinearRegression

    from .toy import ToyConfig

    # the same one-sentence checks as the toy experiment's config (K is the world size, known later)
    validate.seed("seed", a.seed)
    ToyConfig(half_dim=a.half_dim, sigma=a.sigma, lam0=a.lam0, eta=a.eta, H=a.H, local_batch=a.local_batch,
              steps=a.steps, n_paths=a.paths, seed=a.seed, lam_threshold=(a.lam0 + 2.0) / 2).validate()
    rank, world = init_from_env("gloo", command="-m sims.local_sgd.distributed")
    try:
        toy = BilinearRegression(a.half_dim, a.sigma)
        theta0 = toy.random_manifold_points(a.lam0, a.paths, rng(a.seed, "init"))
        steps, sharp = local_sgd_rank(rank, world, toy, theta0, a.eta, a.steps, a.H, a.local_batch,
                                      rng(a.seed, "local"), n_record=10)
        if rank == 0:
            t = steps * a.eta ** 2
            for ti, s in zip(t, sharp.mean(1)):
                print(f"t = {ti:7.3f}  mean sharpness {s:.4f}")
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
