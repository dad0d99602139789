"""Command line for experiments: presets, --seed, --out, --device and one flag per config field.

`python -m sims.<paper> [experiment] [--preset quick|paper] [--seed N] [--out DIR] [--device D] [--executor
local|slurm|submitit-local] [--slurm-... VALUE] [--<field> VALUE ...]`. A cluster task that fails ends the program
with exit code 4 and one sentence naming its log. Sequence fields take comma-separated values (`--alphas
32,128,512`). Bad parameters or output folders end the program with one sentence naming them (exit code 2); a
diverging run ends it with a sentence saying where (exit code 3); Ctrl-C ends it with exit code 130, the finished
runs kept in the cache. Seeds are integers from 0 to 2**63 - 1.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
import typing
from pathlib import Path
from typing import Any, Callable, Sequence

from . import cache, cluster, executor, results, validate
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
            text = text.replace(" ", "")
            if not text:
                return ()
            parts = text.split(",")
            if not all(parts):  # "1,,2", ",", "3,": an item is missing
                raise ValueError(text)
            return tuple(item(p) for p in parts)

        return parse_seq
    return _scalar_parser(tp)


_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "text"}


def _described(tp: Any) -> str:
    """A config field's type in words, for an error message ("an integer", "comma-separated numbers")."""
    if typing.get_origin(tp) in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        item = _NAMES.get(args[0] if args else str, "values")
        return "comma-separated " + {"an integer": "integers", "a number": "numbers", "true or false":
                                     "true/false values", "text": "words"}.get(item, item)
    return _NAMES.get(tp, str(tp))


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
    cluster.add_arguments(parser)
    group = parser.add_argument_group("parameters (quick preset value shown)")
    for f in dataclasses.fields(quick):
        if f.name in _SPECIAL:
            continue
        value = getattr(quick, f.name)
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        group.add_argument(_flag(f.name), dest=f"field_{f.name}", default=None, metavar="V",
                           type=str, help=f"(quick: {shown})")


def parse_fields(config_cls: type, texts: dict[str, str]) -> dict[str, Any]:
    """Config overrides read from command-line text ({field: text}, each by the field's annotation): a
    ConfigError naming the field for text that is not of its type or an integer outside 64 bits."""
    hints = typing.get_type_hints(config_cls)
    out: dict[str, Any] = {}
    for name, text in texts.items():
        try:
            value = field_parser(hints[name])(text)
        except ValueError:
            raise ConfigError(f"{name} could not be read from {text!r}; expected {_described(hints[name])}."
                              ) from None
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, int) and not isinstance(v, bool) and not -2**63 <= v < 2**63:
                raise ConfigError(f"{name} must lie between -2**63 and 2**63 - 1; got {text!r}.")
        out[name] = value
    return out


def _overrides(args: argparse.Namespace, exp: Experiment) -> dict[str, Any]:
    texts = {f.name: getattr(args, f"field_{f.name}", None) for f in dataclasses.fields(exp.config_cls)
             if f.name not in _SPECIAL}
    out = parse_fields(exp.config_cls, {k: v for k, v in texts.items() if v is not None})
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
                                help=f"which experiment (default: {', '.join(_defaults(default))}"
                                     + (", in turn)" if len(_defaults(default)) > 1 else ")"))
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


def guarded(body: Callable[[], int]) -> int:
    """Run a command's body so that it ends in one of five ways, never a traceback for a user's mistake: its own
    exit code (0 on success), 2 with one sentence for a bad parameter or path (ConfigError), 3 for a divergence
    the run detected (DivergenceError), 4 for a cluster task that failed (cluster.TaskFailed), 130 on Ctrl-C
    (every finished run is already in the cache). A run whose sizes the config accepted but no memory can hold is
    also a one-sentence exit 2."""
    try:
        return body()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except DivergenceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except cluster.TaskFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print("interrupted: the runs that finished are kept in the cache; the same command resumes from them.",
              file=sys.stderr)
        return 130
    except (MemoryError, ValueError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        print(f"error: the run asks for more memory than this machine has ({str(err).splitlines()[0][:160]}); "
              "choose smaller sizes.", file=sys.stderr)
        return 2


def _out_of_memory(err: BaseException) -> bool:
    """Whether `err` is an allocation that cannot be made: numpy's MemoryError or 'array is too big', torch's
    'can't allocate memory' or a storage size that overflows (sizes a config accepted but no machine holds)."""
    if isinstance(err, MemoryError):
        return True
    text = str(err)
    return ("array is too big" in text or "can't allocate memory" in text
            or "Storage size calculation overflowed" in text)


def main(paper: str, experiments: Sequence[Experiment], default: str | Sequence[str], doc: str,
         argv: Sequence[str] | None = None, execute: bool = True) -> int:
    """Parse argv, run one experiment through the cache, print its summary, write results and figure.
    Without an experiment name, run the default one (or each of the default ones in turn, stopping at the
    first that fails, when `default` names several). With execute=False, stop after the arguments, the config
    and the output folders were checked (what the command-line fuzz test exercises). Exit codes: see `guarded`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    by_name = {e.name: e for e in experiments}
    if argv and argv[0] not in by_name and not argv[0].startswith("-"):
        print(f"error: unknown experiment {argv[0]!r}; experiments: {', '.join(by_name)}.", file=sys.stderr)
        return 2
    if not argv or argv[0] not in by_name and argv[0] not in {"-h", "--help"}:
        for name in _defaults(default):
            code = main(paper, experiments, default, doc, [name, *argv], execute)
            if code:
                return code
        return 0
    parser = build_parser(paper, experiments, default, doc)
    args = parser.parse_args(argv)
    return guarded(lambda: _run(paper, by_name[args.experiment], args, execute))


def _run(paper: str, exp: Experiment, args: argparse.Namespace, execute: bool) -> int:
    if args.preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {args.preset!r}.")
    config = exp.config(args.preset, **_overrides(args, exp))
    out = validate.writable_dir("--out", args.out if args.out is not None else Path("results") / paper)
    validate.writable_dir("--cache", args.cache if args.cache is not None else cache.default_root())
    settings = cluster.settings_from(args)
    if settings is not None:
        validate.writable_dir("--slurm-folder", settings.folder)
    if not execute:
        return 0
    start = time.perf_counter()
    sent = cluster.SUBMITTED[0]
    with executor.use(settings):
        result = exp.cached(config, root=args.cache, refresh=args.refresh)
    wall = time.perf_counter() - start
    print(exp.summarize(result))
    if settings is not None and not result.meta.get("from_cache") and cluster.SUBMITTED[0] == sent:
        print(f"note: {exp.id} has no sweep of independent runs, so it ran here, not on the cluster.")
    source = "cache" if result.meta.get("from_cache") else "computed"
    print(f"[{exp.id}] {source} in {wall:.1f} s (run wall time {result.meta.get('wall_s', float('nan')):.1f} s)")
    results.save(result, out / exp.name)
    print(f"results: {out / exp.name}")
    if not args.no_figure:
        for path in draw_figure(exp, result, out / exp.name):
            print(f"figure:  {path}")
    return 0
