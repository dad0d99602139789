"""A result cache keyed by the experiment name, its full config and the code that computes it.

A finished run is never recomputed: `cached_run` returns the stored result when one exists for the
same key. A sweep is a list of configs run through the cache one by one, so an interrupted sweep
resumes at the first point that has no stored result. The key also holds a fingerprint of the source
files the result depends on (the engine, the paper's simulation package and its theory module), so an
edit to the simulation code never returns a stale result computed by the old code.
"""
from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import os
import re
import time
import functools
from pathlib import Path
from typing import Any, Callable

from . import results
from .executor import current_cluster, map_runs
from .summary import Summary, SummaryError, encode

# Bump when a change to the simulations makes old cached results wrong. 2: results hold a typed "summary".
CACHE_VERSION = 2


def default_root() -> Path:
    """Cache root: $THEORYLAB_CACHE, else ./results/cache."""
    return Path(os.environ.get("THEORYLAB_CACHE", "results/cache"))


# the cache of the cached_run in progress: a run that caches its own sub-runs (points of a long sweep) stores
# them beside itself, so an interrupted sweep keeps its finished points
_ACTIVE: contextvars.ContextVar[tuple[Path, bool] | None] = contextvars.ContextVar("theorylab_cache", default=None)


def active() -> tuple[Path, bool] | None:
    """(root, refresh) of the cached_run in progress; None outside one (a bare `run(config)` stores nothing)."""
    return _ACTIVE.get()


def config_dict(config: Any) -> dict[str, Any]:
    """A plain dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(encode(dataclasses.asdict(config))))


_SIMS = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=None)
def code_fingerprint(paper: str) -> str:
    """Hash of the source a paper's results depend on: the top-level modules of sims/engine/, each engine
    subpackage (e.g. `lm`) that the paper's code imports, sims/<paper>(.py or package) and theory/<paper>.py (those
    that exist). An edit to a subpackage no paper module names leaves that paper's cached results valid."""
    package = _SIMS / paper
    own = sorted(package.rglob("*.py")) if package.is_dir() else []
    own += [f for f in (_SIMS / f"{paper}.py", _SIMS.parent / "theory" / f"{paper}.py") if f.is_file()]
    files = sorted(_SIMS.joinpath("engine").glob("*.py"))
    source = "\n".join(f.read_text() for f in own)
    for sub in sorted(p for p in _SIMS.joinpath("engine").iterdir() if (p / "__init__.py").is_file()):
        if re.search(rf"engine\.{sub.name}\b|engine import [^\n]*\b{sub.name}\b", source):
            files += sorted(sub.rglob("*.py"))
    digest = hashlib.sha256()
    for f in files + own:
        digest.update(f.relative_to(_SIMS.parent).as_posix().encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def key(experiment: str, config: Any) -> str:
    """A stable hash of (experiment, config, cache version, code fingerprint of the experiment's paper).
    Config fields named in the config class's `NOT_IN_KEY` (how a run is executed, e.g. its worker count, not
    what it computes) are left out."""
    fields = config_dict(config)
    for name in getattr(config, "NOT_IN_KEY", ()):
        fields.pop(name, None)
    payload = json.dumps({"experiment": experiment, "config": fields, "v": CACHE_VERSION,
                          "code": code_fingerprint(experiment.split(".")[0])}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def path_for(experiment: str, config: Any, root: Path | None = None) -> Path:
    """Directory that holds (or will hold) the result of this run."""
    root = Path(root) if root is not None else default_root()
    return root / experiment.replace(".", "/") / key(experiment, config)


def _checked(experiment: str, res: results.Result, summary: type[Summary] | None) -> results.Result:
    """The fresh result with its summary passed through JSON and back: a field of the wrong type fails here, where
    the run wrote it, not at a later read of the cache, and a fresh result equals what the cache will give."""
    if summary is None:
        return res
    if not isinstance(res.summary, summary):
        raise TypeError(f"{experiment}: the run returned a summary of type {type(res.summary).__name__}, "
                        f"not the declared {summary.__name__}.")
    try:
        res.summary = summary.from_json(json.loads(json.dumps(res.summary.to_json())))
    except SummaryError as err:
        raise TypeError(f"{experiment}: the run's summary does not match its declared types: {err}") from None
    return res


def cached_run(experiment: str, config: Any, run: Callable[[Any], results.Result],
               root: Path | None = None, refresh: bool = False,
               summary: type[Summary] | None = None) -> results.Result:
    """Return the stored result of `run(config)`, computing and storing it if missing. summary: the run's
    typed summary class, which a stored result is read back as (and which a fresh run must return)."""
    directory = path_for(experiment, config, root)
    if not refresh and results.is_complete(directory):
        out = results.load(directory, summary)
        out.meta["from_cache"] = True
        return out
    start = time.perf_counter()
    token = _ACTIVE.set((Path(root) if root is not None else default_root(), refresh))
    try:
        out = _checked(experiment, run(config), summary)
    finally:
        _ACTIVE.reset(token)
    out.meta.setdefault("wall_s", time.perf_counter() - start)
    out.meta["cache_key"] = key(experiment, config)
    results.save(out, directory)
    out.meta["from_cache"] = False
    return out


def sweep(experiment: str, configs: list[Any], run: Callable[[Any], results.Result],
          root: Path | None = None, refresh: bool = False, workers: int = 1,
          on_done: Callable[[int, results.Result], None] | None = None,
          summary: type[Summary] | None = None) -> list[results.Result]:
    """Run every config through the cache; finished points are reused and every computed point is stored as
    soon as it finishes, so an interrupted sweep resumes at the points it lacks. With workers > 1 the missing
    points are computed in that many worker processes (`executor.map_runs`; `run` must then be a module-level
    function whose result depends on its config alone). on_done(i, result) sees every point, cached or not.
    summary: the typed summary class of the results (as in `cached_run`). With a cluster in use
    (`executor.use`), every missing point is one array task that stores its own result in the cache
    (`cached_run` in the task), so a result survives the driver."""
    remote = current_cluster() is not None
    if workers == 1 and not remote:
        out = []
        for i, c in enumerate(configs):
            out.append(cached_run(experiment, c, run, root, refresh, summary))
            if on_done is not None:
                on_done(i, out[-1])
        return out
    out: list[results.Result | None] = [None] * len(configs)
    todo = []
    for i, c in enumerate(configs):
        directory = path_for(experiment, c, root)
        if not refresh and results.is_complete(directory):
            out[i] = results.load(directory, summary)
            out[i].meta["from_cache"] = True
            if on_done is not None:
                on_done(i, out[i])
        else:
            todo.append(i)

    if remote:
        def arrived(j: int, res: results.Result) -> None:
            out[todo[j]] = res
            if on_done is not None:
                on_done(todo[j], res)

        root = (Path(root) if root is not None else default_root()).resolve()
        task = functools.partial(cached_run, experiment, run=run, root=root, refresh=refresh, summary=summary)
        map_runs(task, [(configs[i],) for i in todo], workers, arrived)
        return out

    def store(j: int, res: results.Result) -> None:
        i = todo[j]
        _checked(experiment, res, summary)
        res.meta["cache_key"] = key(experiment, configs[i])
        results.save(res, path_for(experiment, configs[i], root))
        res.meta["from_cache"] = False
        out[i] = res
        if on_done is not None:
            on_done(i, res)

    map_runs(run, [(configs[i],) for i in todo], workers, store)
    return out


def sweep_in_run(experiment: str, configs: list[Any], run: Callable[[Any], results.Result], workers: int = 1,
                 summary: type[Summary] | None = None, desc: str | None = None, weight: int = 1
                 ) -> list[results.Result]:
    """The runs of a sweep that an experiment's own run is made of (e.g. every model of a family): inside a
    cached run (`cached_run`) they go through the cache as a sweep of their own, each stored as soon as it
    finishes and reused when present, so an interrupted sweep keeps its finished runs; in a bare `run(config)`
    they are computed and stored nowhere. A progress bar counts `weight` units (e.g. training steps) per run."""
    from .progress import bar
    with bar(len(configs) * weight, desc or experiment) as progress:
        def done(i: int, res: results.Result) -> None:
            progress.update(weight)

        where = active()
        if where is None:
            return map_runs(run, [(c,) for c in configs], workers, done)
        root, refresh = where
        return sweep(experiment, configs, run, root, refresh, workers, done, summary=summary)
