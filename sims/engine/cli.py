"""Command line for experiments: presets, --seed, --out, --device and one flag per config field.

`python -m sims.<paper> [experiment] [--preset quick|paper] [--seed N] [--out DIR] [--device D]
[--<field> VALUE ...]`. Sequence fields take comma-separated values (`--alphas 32,128,512`).
Bad parameters end the program with one sentence naming the parameter (exit code 2); a diverging
run ends it with a sentence saying where (exit code 3).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
import typing
from pathlib import Path
from typing import Any, Sequence

from . import results
from .errors import ConfigError, DivergenceError
from .experiment import PRESETS, Experiment

_SPECIAL = {"seed", "device"}


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in {"1", "true", "yes", "on"}:
        return True
    if t in {"0", "false", "no", "off"}:
        return False
    raise ValueError(text)


def _scalar_parser(tp: Any):
    if tp is bool:
        return _parse_bool
    if tp in (int, float, str):
        return tp
    raise TypeError(f"unsupported config field type {tp!r}")


def field_parser(tp: Any):
    """A function str -> value for a config field annotated with `tp`."""
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        item = _scalar_parser(args[0] if args else str)

        def parse_seq(text: str):
            parts = [p for p in text.replace(" ", "").split(",") if p]
            return tuple(item(p) for p in parts)

        return parse_seq
    return _scalar_parser(tp)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_experiment_args(parser: argparse.ArgumentParser, exp: Experiment) -> None:
    quick = exp.presets["quick"]
    parser.add_argument("--preset", default="quick", help="quick (CPU, seconds) or paper (paper scale, GPU-sized)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default: results/{exp.paper})")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: results/cache)")
    parser.add_argument("--refresh", action="store_true", help="recompute even if a cached result exists")
    parser.add_argument("--no-figure", action="store_true", help="do not draw the figure")
    if any(f.name == "device" for f in dataclasses.fields(quick)):
        parser.add_argument("--device", default=None, help="auto (cuda when present), cpu or cuda")
    group = parser.add_argument_group("parameters (quick preset value shown)")
    for f in dataclasses.fields(quick):
        if f.name in _SPECIAL:
            continue
        value = getattr(quick, f.name)
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        group.add_argument(_flag(f.name), dest=f"field_{f.name}", default=None, metavar="V",
                           type=str, help=f"(quick: {shown})")


def _overrides(args: argparse.Namespace, exp: Experiment) -> dict[str, Any]:
    hints = typing.get_type_hints(exp.config_cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(exp.config_cls):
        if f.name in _SPECIAL:
            continue
        text = getattr(args, f"field_{f.name}", None)
        if text is None:
            continue
        try:
            out[f.name] = field_parser(hints[f.name])(text)
        except ValueError:
            raise ConfigError(f"{f.name} could not be read from {text!r}; expected {hints[f.name]}.") from None
    if args.seed is not None:
        out["seed"] = args.seed
    if getattr(args, "device", None) is not None:
        out["device"] = args.device
    return out


def _defaults(default: str | Sequence[str]) -> tuple[str, ...]:
    return (default,) if isinstance(default, str) else tuple(default)


def build_parser(paper: str, experiments: Sequence[Experiment], default: str | Sequence[str],
                 doc: str) -> argparse.ArgumentParser:
    """An argparse parser with one sub-command per experiment (the default one may be omitted)."""
    parser = argparse.ArgumentParser(prog=f"python -m sims.{paper}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT",
                                help=f"which experiment (default: {default})")
    for exp in experiments:
        p = sub.add_parser(exp.name, help=exp.description, description=exp.description)
        _add_experiment_args(p, exp)
    return parser


def draw_figure(exp: Experiment, result: results.Result, out: Path) -> list[Path]:
    """Draw the experiment's figure through `figures.<paper>` if that module knows it."""
    try:
        module = importlib.import_module(f"figures.{exp.paper}")
    except ModuleNotFoundError:
        return []
    draw = getattr(module, "draw_result", None)
    return list(draw(exp.name, result, out)) if draw else []


def main(paper: str, experiments: Sequence[Experiment], default: str | Sequence[str], doc: str,
         argv: Sequence[str] | None = None) -> int:
    """Parse argv, run one experiment through the cache, print its summary, write results and figure.
    Without an experiment name, run the default one (or each of the default ones in turn, stopping at the
    first that fails, when `default` names several)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    by_name = {e.name: e for e in experiments}
    if not argv or argv[0] not in by_name and argv[0] not in {"-h", "--help"}:
        for name in _defaults(default):
            code = main(paper, experiments, default, doc, [name, *argv])
            if code:
                return code
        return 0
    parser = build_parser(paper, experiments, default, doc)
    args = parser.parse_args(argv)
    exp = by_name[args.experiment]
    try:
        if args.preset not in PRESETS:
            raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {args.preset!r}.")
        config = exp.config(args.preset, **_overrides(args, exp))
        start = time.perf_counter()
        result = exp.cached(config, root=args.cache, refresh=args.refresh)
        wall = time.perf_counter() - start
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except DivergenceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    out = args.out if args.out is not None else Path("results") / paper
    print(exp.summarize(result))
    source = "cache" if result.meta.get("from_cache") else "computed"
    print(f"[{exp.id}] {source} in {wall:.1f} s (run wall time {result.meta.get('wall_s', float('nan')):.1f} s)")
    results.save(result, out / exp.name)
    print(f"results: {out / exp.name}")
    if not args.no_figure:
        for path in draw_figure(exp, result, out / exp.name):
            print(f"figure:  {path}")
    return 0
