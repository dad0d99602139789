"""`python -m figures [names...] [--preset quick|paper] [--out DIR]`: regenerate figures from cached results,
running the simulations that are missing."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sims.engine import validate
from sims.engine.cli import guarded
from sims.engine.errors import ConfigError

from . import available, module


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done; 2 a bad argument (one sentence); 3 a run diverged; 130 interrupted."""
    parser = argparse.ArgumentParser(prog="python -m figures", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"papers (default: all of {', '.join(available())})")
    parser.add_argument("--preset", default="quick", choices=("quick", "paper"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the runs drawn (0 to 2**63 - 1)")
    parser.add_argument("--out", type=Path, default=Path("results/figures"))
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: results/cache)")
    args = parser.parse_args(argv)
    return guarded(lambda: _draw(args))


def _draw(args: argparse.Namespace) -> int:
    names = args.names or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        raise ConfigError(f"unknown paper {unknown[0]!r}; papers with figures: {', '.join(available())}.")
    validate.seed("--seed", args.seed)
    validate.writable_dir("--out", args.out)
    if args.cache is not None:
        validate.writable_dir("--cache", args.cache)
    for name in names:
        for p in module(name).make_all(args.preset, args.cache, args.out / name, seed=args.seed):
            print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
