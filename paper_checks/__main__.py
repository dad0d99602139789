"""`python -m paper_checks [names...]`: measure the papers' claims, print the table, write report.md."""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from sims.engine.cli import field_parser
from sims.engine.errors import TheoryLabError

from . import available, claims_of
from .claims import Context, evaluate
from .report import markdown, summary, text_table, write_markdown


def _figures(name: str, ctx: Context, out: Path) -> list[tuple[str, Path]]:
    try:
        module = importlib.import_module(f"figures.{name}")
    except ModuleNotFoundError:
        return []
    make = getattr(module, "report_figures", None)
    return list(make(ctx, out)) if make else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paper_checks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"papers to check (default: all of {', '.join(available())})")
    parser.add_argument("--preset", default="quick", choices=("quick", "paper"))
    parser.add_argument("--seeds", default=None,
                        help="comma-separated seeds, used for every claim (default 0,1,2, continued to more seeds "
                             "for a claim that declares it needs more)")
    parser.add_argument("--out", type=Path, default=Path("results/checks"), help="report folder")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: results/cache)")
    parser.add_argument("--only", default="", help="comma-separated claim names to run (default: all)")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures in the report")
    args = parser.parse_args(argv)
    try:
        seeds = field_parser(tuple[int, ...])(args.seeds) if args.seeds is not None else Context().seeds
    except ValueError:
        print(f"error: --seeds must be comma-separated integers, got {args.seeds!r}.", file=sys.stderr)
        return 2
    if len(seeds) < 2:
        print("error: --seeds needs at least two seeds for a confidence interval.", file=sys.stderr)
        return 2
    if len(set(seeds)) < len(seeds):
        print(f"error: --seeds repeats a seed ({args.seeds}); each seed must be given once.", file=sys.stderr)
        return 2
    names = args.names or available()
    try:
        claims = [c for n in names for c in claims_of(n)]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    only = {s for s in args.only.split(",") if s}
    if only:
        unknown = only - {c.name for c in claims}
        if unknown:
            print(f"error: --only names unknown claims: {', '.join(sorted(unknown))}.", file=sys.stderr)
            return 2
        claims = [c for c in claims if c.name in only]
    ctx = Context(preset=args.preset, seeds=seeds, cache=args.cache, seeds_chosen=args.seeds is not None)
    start = time.perf_counter()
    outcomes = []
    for claim in claims:
        print(f"measuring {claim.paper}.{claim.name} ...", file=sys.stderr, flush=True)
        try:
            outcomes.append(evaluate(claim, ctx))
        except TheoryLabError as err:
            print(f"error: {claim.paper}.{claim.name}: {err}", file=sys.stderr)
            return 3
    print(text_table(outcomes))
    figures = []
    for n in [] if args.no_figures else names:
        try:
            figures += _figures(n, ctx, args.out / "figures")
        except Exception as err:  # a figure must not cost the report of a long run: say so and go on
            print(f"warning: the {n} figures failed ({type(err).__name__}: {err}); report written without them.",
                  file=sys.stderr)
    write_markdown(markdown(outcomes, ctx, figures, args.out), args.out / "report.md")
    print(f"\n{summary(outcomes)}; {time.perf_counter() - start:.0f} s; report: {args.out / 'report.md'}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
