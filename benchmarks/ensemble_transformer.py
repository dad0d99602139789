"""Training steps of E small CausalTransformers: a loop over the models against one EnsembleTransformer (issue 17).

The shapes are the knapsack sweep's (vocabulary 55, length 10, batch 512 sequences, loss on ~30% of the
positions, AdamW), one model per mixing ratio of one size. Each row: milliseconds per training step of all E
members, the loop (each model with the selected-positions head and torch's AdamW, as `sims.knapsack.train` runs
it) and the ensemble (`sims.engine.ensemble`: one forward, backward and EnsembleAdamW step for every member), and
their ratio. Before timing, the two must give the same per-member losses on the first batch (to 1e-5).

    python benchmarks/ensemble_transformer.py                       # CPU, one thread, d_model 8 / 12 / 32, E = 9
    python benchmarks/ensemble_transformer.py --device cuda --members 9 36 144 --out ens.json
"""
from __future__ import annotations

import argparse
import json
import time


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 12, 32], help="d_model of the members")
    ap.add_argument("--members", type=int, nargs="+", default=[9], help="ensemble sizes E")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--steps", type=int, default=15, help="timed steps (after 3 warm-up steps)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    for name in ("sizes", "members"):
        if min(getattr(args, name)) < 1:
            ap.error(f"--{name} must be positive integers.")
    if args.steps < 1 or args.batch < 1 or args.layers < 1:
        ap.error("--steps, --batch and --layers must be positive.")
    return args


def main(argv=None) -> list[dict]:
    args = parse(argv)
    import torch
    from torch.nn import functional as F

    from sims.engine.ensemble import EnsembleAdamW, EnsembleTransformer, member_losses
    from sims.engine.nets import CausalTransformer
    from sims.engine.torch_layer import resolve_device, seeded, single_thread

    dev = resolve_device(args.device)
    single_thread(dev)
    vocab, length = 55, 10
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    rows = []
    for d in args.sizes:
        for e in args.members:
            models = []
            for i in range(e):
                with seeded(i, "bench-ensemble"):
                    models.append(CausalTransformer(vocab, d, args.layers, 1, length).to(dev))
            ens = EnsembleTransformer.from_members(models)
            g = torch.Generator().manual_seed(0)
            x = torch.randint(0, vocab, (e, args.batch, length), generator=g).to(dev)
            y = torch.roll(x, -1, dims=2)
            mask = (torch.rand(e, args.batch, length, generator=g) < 0.3).to(dev)
            with torch.no_grad():
                own = torch.stack([F.cross_entropy(m(x[i], mask[i]), y[i][mask[i]]) for i, m in enumerate(models)])
                joint = member_losses(ens(x), y, mask)
            if not torch.allclose(own, joint, rtol=1e-5, atol=1e-5):
                raise SystemExit(f"the ensemble's losses differ from the members' (d_model {d}, E {e}).")
            opts = [torch.optim.AdamW(m.parameters(), lr=1e-2, betas=(0.9, 0.98), weight_decay=0.1) for m in models]
            eopt = EnsembleAdamW(ens.parameters(), e, lr=1e-2, betas=(0.9, 0.98), weight_decay=0.1)

            def loop():
                for i, (m, opt) in enumerate(zip(models, opts)):
                    loss = F.cross_entropy(m(x[i], mask[i]), y[i][mask[i]])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()

            def ensemble():
                eopt.zero_grad()
                member_losses(ens(x), y, mask).sum().backward()
                eopt.step()

            timing = {}
            for name, step in (("loop", loop), ("ensemble", ensemble)):
                for _ in range(3):
                    step()
                sync()
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    step()
                sync()
                timing[name] = (time.perf_counter() - t0) / args.steps * 1e3
            row = dict(device=str(dev), d_model=d, members=e, loop_ms=timing["loop"], ensemble_ms=timing["ensemble"],
                       speedup=timing["loop"] / timing["ensemble"])
            rows.append(row)
            print(f"{row['device']:>6} d_model {d:>3} E {e:>4}: loop {row['loop_ms']:8.1f} ms/step, ensemble "
                  f"{row['ensemble_ms']:8.1f} ms/step, speed-up {row['speedup']:.2f}x", flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)
    return rows


if __name__ == "__main__":
    main()
