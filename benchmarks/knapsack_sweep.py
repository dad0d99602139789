"""One knapsack quick sweep timed from an empty cache, and where a training step's time goes (issue 17).

Part 1 (`--profile-steps`, default 200): for each model size of the quick preset, milliseconds per training step
of the sweep's own loop, split into its parts with one torch thread: drawing the mixed batch (numpy), the forward
pass with the loss, the backward pass, and the AdamW step as `sims.knapsack.train` runs it (`fused=True`, since
issue 17), next to the same step with torch's default implementation (what the sweep ran before).

Part 2 (`--webs`, default power and linear): `TRAIN.cached` on the quick preset of one seed with an empty temporary
cache, once for the power-law web and once for its linear-web control (`linear_web`), for each run design of
`--designs` (default bisect, the preset's; grid: every ratio of every size, as before issue 17), over `--workers`
processes (default 2, the preset's), each process on one torch thread. Prints the wall time of each sweep, the runs
it trained and its critical ratios, so that a faster sweep can be checked for the same answer.

Part 3 (`--several-seeds`, default off): the power-law quick sweep of several seeds from an empty cache, once one
seed after another (each seed's sweep starting and ending its own `--workers` processes, as `paper_checks` ran
them before) and once as `TRAIN.seeds` runs them now (up to `--workers` seeds at once, sharing one set of
processes: `executor.map_concurrent`). Prints both wall times, their ratio, and whether every critical ratio is
the same. `--steps` shortens every run for a quick look (the preset's 1500 by default).

    python benchmarks/knapsack_sweep.py                          # both parts, seed 0 (about 7 minutes on 2 cores)
    python benchmarks/knapsack_sweep.py --webs none --profile-steps 500
    python benchmarks/knapsack_sweep.py --webs power --seed 3 --out sweep.json
    python benchmarks/knapsack_sweep.py --profile-steps 0 --designs bisect,grid
    python benchmarks/knapsack_sweep.py --profile-steps 0 --webs none --several-seeds 0,1,2,3
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

WEBS = ("power", "linear")


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="the sweep's seed")
    ap.add_argument("--webs", default="power,linear", help="comma-separated webs to sweep (power, linear) or none")
    ap.add_argument("--designs", default="bisect", help="comma-separated run designs to time (bisect, grid)")
    ap.add_argument("--workers", type=int, default=2, help="processes that train a sweep's runs")
    ap.add_argument("--profile-steps", type=int, default=200, help="timed steps per size in part 1 (0: skip it)")
    ap.add_argument("--several-seeds", default="", help="comma-separated seeds for part 3 (default: skip it)")
    ap.add_argument("--steps", type=int, default=None, help="training steps per run in part 3 (default: the preset's)")
    ap.add_argument("--out", default=None, help="also write the numbers as JSON here")
    args = ap.parse_args(argv)
    try:
        args.several_seeds = [int(x) for x in args.several_seeds.split(",") if x]
    except ValueError:
        ap.error(f"--several-seeds must be comma-separated integers; got {args.several_seeds!r}.")
    if len(args.several_seeds) == 1 or any(x < 0 for x in args.several_seeds) \
            or len(set(args.several_seeds)) < len(args.several_seeds):
        ap.error("--several-seeds needs at least two distinct non-negative seeds.")
    if args.steps is not None and args.steps < 1:
        ap.error(f"--steps must be positive; got {args.steps}.")
    webs = [] if args.webs == "none" else args.webs.split(",")
    if any(w not in WEBS for w in webs):
        ap.error(f"--webs must be a comma-separated list of {', '.join(WEBS)}, or none; got {args.webs!r}.")
    designs = args.designs.split(",")
    if any(d not in ("bisect", "grid") for d in designs):
        ap.error(f"--designs must be a comma-separated list of bisect, grid; got {args.designs!r}.")
    args.designs = designs
    if args.workers < 1 or args.profile_steps < 0 or args.seed < 0:
        ap.error("--workers must be positive, --profile-steps and --seed non-negative.")
    if args.out and not Path(args.out).resolve().parent.is_dir():
        ap.error(f"--out must be a file in an existing folder; got {args.out!r}.")
    args.webs = webs
    return args


def profile_sizes(steps: int, seed: int) -> list[dict]:
    """Milliseconds per step of each part of the quick sweep's training step, per size."""
    import torch

    from sims.engine.seeding import rng
    from sims.engine.torch_layer import single_thread
    from sims.knapsack.data import mixed_batch
    from sims.knapsack.train import QUICK, build_model, world_of

    single_thread()
    cfg = QUICK
    world = world_of(cfg)
    ratio = cfg.ratios[len(cfg.ratios) // 2]
    rows = []
    for d in cfg.sizes:
        model = build_model(world, d, cfg.n_layers, cfg.n_heads, seed, f"bench-d{d}")
        optimizers = {
            "adamw": torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay,
                                       fused=True),
            "adamw_default": torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98),
                                               weight_decay=cfg.weight_decay),
        }
        data = rng(seed, "bench-knapsack", str(d))
        parts = {"batch": 0.0, "forward": 0.0, "backward": 0.0, "adamw": 0.0, "adamw_default": 0.0}
        for step in range(steps + 5):           # the first 5 steps warm up and are not counted
            count = step >= 5
            t0 = time.perf_counter()
            toks, mask = mixed_batch(world, ratio, cfg.batch, data)
            x, m = torch.as_tensor(toks), torch.as_tensor(mask)
            t1 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(x, m), torch.roll(x, -1, dims=1)[m])
            t2 = time.perf_counter()
            model.zero_grad(set_to_none=True)
            loss.backward()
            t3 = time.perf_counter()
            name = "adamw" if step % 2 == 0 else "adamw_default"    # interleaved, one step each
            optimizers[name].step()
            t4 = time.perf_counter()
            if count:
                parts["batch"] += t1 - t0
                parts["forward"] += t2 - t1
                parts["backward"] += t3 - t2
                parts[name] += t4 - t3
        row = {"d_model": d, "steps": steps}
        for k, v in parts.items():
            n = steps if k in ("batch", "forward", "backward") else max(1, steps // 2)
            row[f"{k}_ms"] = 1e3 * v / n
        row["step_ms"] = row["batch_ms"] + row["forward_ms"] + row["backward_ms"] + row["adamw_ms"]
        rows.append(row)
    return rows


def time_sweeps(webs: list[str], seed: int, workers: int, designs: list[str] = ("bisect",)) -> list[dict]:
    """Wall time of the quick sweep of each web and design from an empty cache, and its critical ratios."""
    from sims.knapsack.train import TRAIN, linear_web

    rows = []
    for web in webs:
        for design in designs:
            cfg = replace(TRAIN.config("quick", seed=seed), workers=workers, design=design)
            cfg = linear_web(cfg) if web == "linear" else cfg
            with tempfile.TemporaryDirectory(prefix="knapsack-bench-") as root:
                start = time.perf_counter()
                res = TRAIN.cached(cfg, root=Path(root))
                wall = time.perf_counter() - start
            rows.append({"web": web, "design": design, "seed": seed, "workers": workers, "runs": res.summary.runs,
                         "wall_s": wall, "r_thres": [s.r_thres for s in res.summary.sizes],
                         "slope_odds": res.summary.slope_odds.slope, "alpha_web": res.summary.alpha_web})
    return rows


def time_several_seeds(seeds: list[int], workers: int, steps: int | None = None) -> dict:
    """The power-law sweep of `seeds` from an empty cache: one seed after another, then sharing the workers."""
    from sims.knapsack.train import TRAIN

    cfg = TRAIN.config("quick", workers=workers, **({} if steps is None else {"steps": steps}))
    walls, ratios = {}, {}
    for mode in ("one after another", "sharing the workers"):
        with tempfile.TemporaryDirectory(prefix="knapsack-bench-") as root:
            start = time.perf_counter()
            if mode == "one after another":
                got = [TRAIN.cached(replace(cfg, seed=s), root=Path(root)) for s in seeds]
            else:
                got = TRAIN.seeds(cfg, seeds, root=Path(root))
            walls[mode] = time.perf_counter() - start
        ratios[mode] = [[x.r_thres for x in r.summary.sizes] for r in got]
    same = ratios["one after another"] == ratios["sharing the workers"]
    return {"seeds": seeds, "workers": workers, "steps": cfg.steps, "wall_s": walls, "same_ratios": same,
            "speedup": walls["one after another"] / walls["sharing the workers"]}


def main(argv=None) -> dict:
    args = parse(argv)
    out: dict = {"profile": [], "sweeps": []}
    if args.profile_steps:
        out["profile"] = profile_sizes(args.profile_steps, args.seed)
        print("ms per training step, one thread (quick preset, batch 512 x 10 tokens, middle ratio):")
        print(f"{'d_model':>8} {'batch':>7} {'forward':>8} {'backward':>9} {'AdamW':>7} {'step':>7} "
              f"{'default AdamW':>14}")
        for r in out["profile"]:
            print(f"{r['d_model']:>8} {r['batch_ms']:7.2f} {r['forward_ms']:8.2f} {r['backward_ms']:9.2f} "
                  f"{r['adamw_ms']:7.2f} {r['step_ms']:7.2f} {r['adamw_default_ms']:14.2f}")
    if args.webs:
        out["sweeps"] = time_sweeps(args.webs, args.seed, args.workers, args.designs)
        for r in out["sweeps"]:
            ratios = ", ".join(f"{x:.3g}" for x in r["r_thres"])
            print(f"{r['web']} web, {r['design']}, seed {r['seed']}: {r['runs']} runs over {r['workers']} processes from an empty "
                  f"cache in {r['wall_s']:.1f} s; critical ratios {ratios}; odds slope {r['slope_odds']:.3f}; "
                  f"alpha {r['alpha_web']:.3f}")
    if args.several_seeds:
        out["several_seeds"] = r = time_several_seeds(args.several_seeds, args.workers, args.steps)
        walls = ", ".join(f"{mode} {wall:.1f} s" for mode, wall in r["wall_s"].items())
        print(f"power web, seeds {', '.join(map(str, r['seeds']))}, {r['steps']} steps per run, {r['workers']} "
              f"processes, from an empty cache: {walls} ({r['speedup']:.2f}x); critical ratios "
              f"{'the same' if r['same_ratios'] else 'DIFFERENT'}")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
