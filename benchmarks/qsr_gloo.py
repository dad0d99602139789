"""Benchmark of the QSR paper's wall-time claim on real gloo processes (issue 19).

Gu, Lyu, Arora, Zhang, Huang, "A Quadratic Synchronization Rule for Distributed Deep Learning" (ICLR 2024), Sec. 4:
local methods save wall time over data-parallel training by all-reducing less often. Here K = 2 and K = 4 gloo
processes (one worker each, `sims.engine.distributed.spawn`) train the same MLP on the digits (the model, data,
optimizer and schedule of `sims.qsr.torch_run`'s quick preset) for the same number of steps under three rules:

- data-parallel: one all-reduce of the flat gradient every step;
- constant H = H_base: one all-reduce of the flat parameters every H_base steps;
- QSR: H = max(H_base, floor((alpha / eta)^2)) from the round's first learning rate (theory.qsr.SyncRule).

Each rule's training loop is timed (no evaluation inside), the rules interleaved round-robin over the repeats; the
median over the repeats of the slowest rank's wall time is reported, with the time inside the all-reduce calls (the
least-waiting rank's) and the all-reduce count. torch is pinned to one thread per process. On a 2-core machine,
K = 4 oversubscribes the cores: compare ratios within one K, measured in the same run.

Usage: python benchmarks/qsr_gloo.py [--worlds 2,4] [--steps 1500] [--repeats 3] [--out result.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

RULES = ("data_parallel", "constant", "qsr")


def _rank(rank: int, world: int, arg) -> dict:
    """One rank: every rule `repeats` times, interleaved; returns {rule: [(wall, comm, rounds), ...]}."""
    import torch
    import torch.distributed as dist

    from sims.engine.distributed import LocalOptimizer
    from sims.qsr.torch_run import Batches, build_model, make_optimizer, train_objective
    from theory import qsr as theory

    cfg, data, repeats = arg
    x = torch.from_numpy(data["x_train"])
    y = torch.from_numpy(data["y_train"])
    lrs = cfg.schedule().rates()
    rules = cfg.rules()
    model = build_model(x.shape[1], cfg.width, data["n_classes"], cfg.seed)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    out = {name: [] for name in RULES}
    for _ in range(repeats):
        for name in RULES:
            model.load_state_dict(init)
            inner = make_optimizer(cfg, model.parameters())
            opt = LocalOptimizer(model, inner, theory.h_of(rules[name], lrs, cfg.warmup),
                                 mode="data_parallel" if name == "data_parallel" else "local")
            batches = Batches(len(x), cfg.local_batch, cfg.seed, rank, torch.device("cpu"))
            dist.barrier()
            t0 = time.perf_counter()
            for t in range(cfg.steps):
                idx = batches.next()
                for group in inner.param_groups:
                    group["lr"] = float(lrs[t])
                opt.zero_grad()
                train_objective(model(x[idx]), y[idx], cfg.label_smoothing).backward()
                opt.step()
            wall = time.perf_counter() - t0
            agg = torch.tensor([wall, -opt.comm_seconds], dtype=torch.float64)
            dist.all_reduce(agg, op=dist.ReduceOp.MAX)  # slowest rank's wall, least-waiting rank's comm
            out[name].append((float(agg[0]), float(-agg[1]), int(opt.rounds)))
    dist.barrier()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", default="2,4", help="comma-separated process counts K")
    ap.add_argument("--steps", type=int, default=1500, help="steps per rule (the warm-up is a tenth of them)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of each rule (the median is reported)")
    ap.add_argument("--out", default=None, help="write the table as JSON to this file")
    args = ap.parse_args(argv)
    from sims.engine import validate
    from sims.engine.cli import guarded
    from sims.engine.errors import ConfigError

    def checked() -> int:
        try:
            worlds = tuple(int(v) for v in args.worlds.split(","))
        except ValueError:
            raise ConfigError(f"--worlds must be comma-separated integers, got {args.worlds!r}.") from None
        validate.each(validate.positive_int, "--worlds", worlds, 2)
        validate.positive_int("--steps", args.steps, 20)
        validate.positive_int("--repeats", args.repeats)
        if args.out:
            validate.writable_dir("--out", Path(args.out).resolve().parent)
        _run(worlds, args)
        return 0

    return guarded(checked)


def _run(worlds, args) -> None:
    from sims.engine.distributed import spawn
    from sims.qsr.torch_run import TORCH, _load

    import torch

    print(f"python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}; "
          f"{args.steps} steps per rule, median of {args.repeats} repeats")
    rows = []
    for K in worlds:
        cfg = TORCH.config("quick", K=K, steps=args.steps, warmup=max(1, args.steps // 10))
        data = _load(cfg)
        start = time.perf_counter()
        outs = spawn(_rank, K, (cfg, data, args.repeats))
        took = time.perf_counter() - start
        res = outs[0]  # every rank holds the same aggregated numbers
        med = {name: (statistics.median(w for w, _, _ in res[name]), statistics.median(c for _, c, _ in res[name]),
                      res[name][0][2]) for name in RULES}
        for name in RULES:
            wall, comm, rounds = med[name]
            rows.append(dict(K=K, rule=name, all_reduces=rounds, wall_s=wall, comm_s=comm,
                             ratio_to_data_parallel=wall / med["data_parallel"][0],
                             walls=[w for w, _, _ in res[name]]))
        print(f"K = {K}: spawned run took {took:.1f} s")
    print(f"{'K':>3}  {'rule':<14}{'all-reduces':>12}{'wall s':>9}{'comm s':>9}{'vs DP':>8}   repeats (wall s)")
    for r in rows:
        print(f"{r['K']:>3}  {r['rule']:<14}{r['all_reduces']:>12}{r['wall_s']:>9.3f}{r['comm_s']:>9.3f}"
              f"{r['ratio_to_data_parallel']:>8.3f}   {', '.join(f'{w:.3f}' for w in r['walls'])}")
    if args.out:
        Path(args.out).write_text(json.dumps({"steps": args.steps, "repeats": args.repeats, "rows": rows},
                                             indent=2))
        print(f"written: {args.out}")


if __name__ == "__main__":
    sys.exit(main())
