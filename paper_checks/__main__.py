"""`python -m paper_checks [names...]`: measure the papers' claims, print the table, write report.md."""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from sims.engine import cluster, executor, validate
from sims.engine.cli import field_parser, guarded
from sims.engine.errors import ConfigError, DivergenceError, TheoryLabError

from . import available, claims_of
from .claims import Context, evaluate
from .report import markdown, summary, text_table, timing, write_markdown


def _figures(name: str, ctx: Context, out: Path) -> list[tuple[str, Path]]:
    try:
        module = importlib.import_module(f"figures.{name}")
    except ModuleNotFoundError:
        return []
    make = getattr(module, "report_figures", None)
    return list(make(ctx, out)) if make else []


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 every claim holds; 1 a claim fails or a control does not; 2 a bad argument (one sentence);
    3 a run diverged; 4 a cluster task failed; 130 interrupted (finished runs stay in the cache)."""
    parser = argparse.ArgumentParser(prog="python -m paper_checks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"papers to check (default: all of {', '.join(available())})")
    parser.add_argument("--preset", default="quick", choices=("quick", "paper"))
    parser.add_argument("--seeds", default=None,
                        help="comma-separated seeds from 0 to 2**63 - 1, used for every claim (default 0,1,2, "
                             "continued to more seeds for a claim that declares it needs more)")
    parser.add_argument("--out", type=Path, default=Path("results/checks"), help="report folder")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: results/cache)")
    parser.add_argument("--only", default="", help="comma-separated claim names to run (default: all)")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures in the report")
    parser.add_argument("--workers", default=None,
                        help="worker processes for the experiments that train over processes (knapsack train, skills "
                             "trained; default: each experiment's own, 2); up to that many seeds share them at once. "
                             "One per core: the numbers do not depend on it")
    cluster.add_arguments(parser)
    args = parser.parse_args(argv)
    return guarded(lambda: _check(args))


def _seeds(text: str | None) -> tuple[int, ...]:
    if text is None:
        return Context().seeds
    try:
        seeds = field_parser(tuple[int, ...])(text)
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers, got {text!r}.") from None
    for s in seeds:
        validate.seed("--seeds", s)
    if len(seeds) < 2:
        raise ConfigError("--seeds needs at least two seeds for a confidence interval.")
    if len(set(seeds)) < len(seeds):
        raise ConfigError(f"--seeds repeats a seed ({text}); each seed must be given once.")
    return seeds


def _workers(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        workers = int(text)
    except ValueError:
        raise ConfigError(f"--workers must be a positive integer, got {text!r}.") from None
    validate.positive_int("--workers", workers)
    return workers


def _check(args: argparse.Namespace) -> int:
    seeds = _seeds(args.seeds)
    names = args.names or available()
    try:
        claims = [c for n in names for c in claims_of(n)]
    except ValueError as err:
        raise ConfigError(str(err)) from None
    only = {s for s in args.only.split(",") if s}
    if only:
        unknown = only - {c.name for c in claims}
        if unknown:
            raise ConfigError(f"--only names unknown claims: {', '.join(sorted(unknown))}.")
        claims = [c for c in claims if c.name in only]
    validate.writable_dir("--out", args.out)
    if args.cache is not None:
        validate.writable_dir("--cache", args.cache)
    settings = cluster.settings_from(args)
    if settings is not None:
        validate.writable_dir("--slurm-folder", settings.folder)
    ctx = Context(preset=args.preset, seeds=seeds, cache=args.cache, seeds_chosen=args.seeds is not None,
                  workers=_workers(args.workers))
    start = time.perf_counter()
    outcomes = []
    for claim in claims:
        print(f"measuring {claim.paper}.{claim.name} ...", file=sys.stderr, flush=True)
        try:
            with executor.use(settings):  # each seed's run an array task on the cluster, when one is asked for
                outcomes.append(evaluate(claim, ctx))
        except ConfigError as err:
            raise ConfigError(f"{claim.paper}.{claim.name}: {err}") from None
        except cluster.TaskFailed as err:
            raise cluster.TaskFailed(f"{claim.paper}.{claim.name}: {err}") from None
        except TheoryLabError as err:
            raise DivergenceError(f"{claim.paper}.{claim.name}: {err}") from None
    print(text_table(outcomes))
    figures = []
    for n in [] if args.no_figures else names:
        try:
            with executor.use(settings):  # a figure's missing runs go where the claims' went
                figures += _figures(n, ctx, args.out / "figures")
        except Exception as err:  # a figure must not cost the report of a long run: say so and go on
            print(f"warning: the {n} figures failed ({type(err).__name__}: {err}); report written without them.",
                  file=sys.stderr)
    write_markdown(markdown(outcomes, ctx, figures, args.out), args.out / "report.md")
    print(f"\n{timing(outcomes)}")
    print(f"\n{summary(outcomes)}; {time.perf_counter() - start:.0f} s; report: {args.out / 'report.md'}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
