"""Benchmark of the SDE engine on the Ornstein-Uhlenbeck process (issue 3).

dX = -theta X dt + sigma dW, theta = 1, sigma = 0.5, X_0 = 0, T = 10; d = 10, 1000 paths, 1000
Euler-Maruyama steps (defaults). Timed in one run, best of N repeats each,
the repeats interleaved round-robin across methods:

- engine, numpy backend, noise="diagonal" (diffusion called every step) and noise="additive";
- engine, torch CPU backend (float64), the same two noise forms;
- a bare vectorised numpy Euler-Maruyama loop (one standard_normal((paths, d)) per step), written
  the plain way, and an in-place variant;
- sdeint.itoEuler looped over paths: a subset of the paths is timed and scaled linearly to all paths;
- torchsde.sdeint(method="euler", fixed dt) with diagonal noise, with its default Brownian motion and
  with an explicit BrownianInterval(cache_size=None) (faster).

torch is pinned to one thread. Every method also reports the sample variance of X_T, to be compared
with the closed form sigma^2 / (2 theta) (1 - e^{-2 theta T}) = 0.125 (a fast but noiseless solver
would show 0). Usage: python benchmarks/sde_ou.py [--repeats 5] [--out result.json]
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

THETA, SIGMA, T = 1.0, 0.5, 10.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the fast methods (best is reported)")
    ap.add_argument("--slow-repeats", type=int, default=3, help="repeats of sdeint and torchsde")
    ap.add_argument("--sdeint-paths", type=int, default=20, help="paths timed for sdeint (scaled linearly)")
    ap.add_argument("--out", default=None, help="write the table as JSON to this file")
    args = ap.parse_args(argv)
    from sims.engine import validate
    from sims.engine.cli import guarded

    def checked() -> int:
        for name in ("paths", "dim", "steps", "repeats", "slow_repeats", "sdeint_paths"):
            validate.positive_int("--" + name.replace("_", "-"), getattr(args, name))
        if args.out:
            validate.writable_dir("--out", Path(args.out).resolve().parent)
        _run(args)
        return 0

    return guarded(checked)


def _run(args) -> None:
    import torch

    from sims.engine.results import write_text
    from sims.engine.sde import integrate
    from sims.engine.seeding import rng

    torch.set_num_threads(1)
    P, d, N = args.paths, args.dim, args.steps
    dt = T / N
    sqdt = math.sqrt(dt)
    exact_var = SIGMA ** 2 / (2 * THETA) * (1 - math.exp(-2 * THETA * T))
    rows: dict[str, dict] = {}

    entries = []

    def add(name, fn, repeats, scale=1.0, note=""):
        entries.append((name, fn, repeats, scale, note))

    print(f"OU benchmark: d={d}, paths={P}, steps={N}, T={T}; torch threads = {torch.get_num_threads()}")

    # ---- the engine
    x0 = np.zeros((P, d))
    s_full = np.full((P, d), SIGMA)
    s_vec = np.full(d, SIGMA)
    add("engine numpy diagonal", lambda: integrate(lambda t, x: -THETA * x, lambda t, x: s_full, x0, 0.0, T, N,
                                                   seed=0).x, args.repeats)
    add("engine numpy additive", lambda: integrate(lambda t, x: -THETA * x, lambda t, x: s_vec, x0, 0.0, T, N,
                                                   noise="additive", seed=0).x, args.repeats)
    x0t = torch.zeros((P, d), dtype=torch.float64)
    st_full = torch.full((P, d), SIGMA, dtype=torch.float64)
    st_vec = torch.full((d,), SIGMA, dtype=torch.float64)
    add("engine torch diagonal", lambda: integrate(lambda t, x: -THETA * x, lambda t, x: st_full, x0t, 0.0, T, N,
                                                   seed=0).x, args.repeats)
    add("engine torch additive", lambda: integrate(lambda t, x: -THETA * x, lambda t, x: st_vec, x0t, 0.0, T, N,
                                                   noise="additive", seed=0).x, args.repeats)

    # ---- bare vectorised numpy loops
    def bare():
        g = rng(0, "bare")
        x = np.zeros((P, d))
        for _ in range(N):
            x = x + (-THETA * x) * dt + SIGMA * sqdt * g.standard_normal((P, d))
        return x

    def bare_inplace():
        g = rng(0, "bare")
        x = np.zeros((P, d))
        z = np.empty((P, d))
        a, c = 1.0 - THETA * dt, SIGMA * sqdt
        for _ in range(N):
            g.standard_normal(out=z)
            x *= a
            z *= c
            x += z
        return x

    add("bare numpy loop", bare, args.repeats)
    add("bare numpy in-place", bare_inplace, args.repeats)

    # ---- sdeint, one path at a time
    try:
        import sdeint
    except ImportError:
        print("  sdeint is not installed (pip install sdeint); skipped")
    else:
        k = min(args.sdeint_paths, P)
        tspan = np.linspace(0.0, T, N + 1)
        G = SIGMA * np.eye(d)

        def run_sdeint():
            g = rng(0, "sdeint")
            ends = [sdeint.itoEuler(lambda y, t: -THETA * y, lambda y, t: G, np.zeros(d), tspan, generator=g)[-1]
                    for _ in range(k)]
            return np.array(ends)

        add("sdeint itoEuler (looped)", run_sdeint, args.slow_repeats, scale=P / k,
            note=f"[timed on {k} paths, scaled x{P / k:g}; variance over those {k} paths]")

    # ---- torchsde
    try:
        import torchsde
    except ImportError:
        print("  torchsde is not installed (pip install torchsde); skipped")
    else:
        class OU(torch.nn.Module):
            noise_type = "diagonal"
            sde_type = "ito"

            def f(self, t, y):
                return -THETA * y

            def g(self, t, y):
                return torch.full_like(y, SIGMA)

        sde = OU()
        ts = torch.tensor([0.0, T], dtype=torch.float64)

        def run_torchsde(explicit_bm=False):
            torch.manual_seed(0)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torchsde's floating-point "tb<=t1" warnings
                bm = None
                if explicit_bm:
                    bm = torchsde.BrownianInterval(t0=0.0, t1=T, size=(P, d), dtype=torch.float64,
                                                   cache_size=None)
                return torchsde.sdeint(sde, x0t, ts, method="euler", dt=dt, bm=bm)[-1]

        add("torchsde euler", run_torchsde, args.slow_repeats, note="[default Brownian motion]")
        add("torchsde euler, BI", lambda: run_torchsde(True), args.slow_repeats,
            note="[explicit BrownianInterval(cache_size=None), its fastest setting]")

    # ---- time: repeats are interleaved round-robin so that load drifts hit every method alike
    times = {e[0]: [] for e in entries}
    outs = {}
    for r in range(max(e[2] for e in entries)):
        for name, fn, repeats, scale, note in entries:
            if r < repeats:
                start = time.perf_counter()
                outs[name] = fn()
                times[name].append((time.perf_counter() - start) * scale)
    for name, fn, repeats, scale, note in entries:
        x = outs[name]
        x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
        best, med = min(times[name]), statistics.median(times[name])
        rows[name] = dict(seconds=best, median_seconds=med, repeats=repeats, variance=float(x.var()), note=note)
        print(f"  {name:<24} {best:8.3f} s   var(X_T) = {x.var():.4f}  {note}", flush=True)

    # ---- ratios
    eng = rows["engine numpy diagonal"]["seconds"]
    ratios = {
        "engine_numpy_diagonal / bare": eng / rows["bare numpy loop"]["seconds"],
        "engine_numpy_additive / bare": rows["engine numpy additive"]["seconds"] / rows["bare numpy loop"]["seconds"],
        "engine_numpy_diagonal / bare_inplace": eng / rows["bare numpy in-place"]["seconds"],
        "engine_torch_diagonal / engine_numpy_diagonal": rows["engine torch diagonal"]["seconds"] / eng,
    }
    if "sdeint itoEuler (looped)" in rows:
        ratios["sdeint / engine"] = rows["sdeint itoEuler (looped)"]["seconds"] / eng
    if "torchsde euler" in rows:
        ratios["torchsde / engine"] = rows["torchsde euler"]["seconds"] / eng
        ratios["torchsde_BI / engine"] = rows["torchsde euler, BI"]["seconds"] / eng
        ratios["torchsde / engine_torch"] = rows["torchsde euler"]["seconds"] / rows["engine torch diagonal"]["seconds"]
    print(f"\n{'method':<26}{'best s':>9}{'median s':>10}{'x engine':>10}{'var(X_T)':>10}   (exact var {exact_var:.4f})")
    for name, r in rows.items():
        print(f"{name:<26}{r['seconds']:9.3f}{r['median_seconds']:10.3f}{r['seconds'] / eng:10.2f}{r['variance']:10.4f}")
    print()
    targets = {"engine_numpy_diagonal / bare": ("<=", 1.5), "sdeint / engine": (">=", 20.0),
               "torchsde / engine": (">=", 20.0), "torchsde_BI / engine": (">=", 20.0)}
    for name, v in ratios.items():
        tgt = targets.get(name)
        mark = ""
        if tgt:
            ok = v <= tgt[1] if tgt[0] == "<=" else v >= tgt[1]
            mark = f"   target {tgt[0]} {tgt[1]:g}: {'met' if ok else 'NOT met'}"
        print(f"{name:<46}{v:8.2f}{mark}")

    if args.out:
        payload = dict(config=dict(paths=P, dim=d, steps=N, T=T, theta=THETA, sigma=SIGMA, dt=dt,
                                   exact_variance=exact_var, repeats=args.repeats, slow_repeats=args.slow_repeats,
                                   sdeint_paths=min(args.sdeint_paths, P), torch_threads=torch.get_num_threads()),
                       env=dict(python=sys.version.split()[0], numpy=np.__version__, torch=torch.__version__,
                                machine=platform.machine()),
                       rows=rows, ratios=ratios)
        write_text(Path(args.out), json.dumps(payload, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
