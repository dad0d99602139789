"""An experiment: a config dataclass with presets, a run function and a one-screen summary.

Every simulation module declares its experiments as `Experiment` objects; the command line,
the cache, the figures and the paper checks all work through this one description.
"""
from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from . import cache, executor, validate
from .errors import ConfigError
from .results import Result
from .summary import Summary

PRESETS = ("quick", "paper")


def _integer(value: Any) -> Any:
    """An integer-like value (int, numpy integer) as int; anything else unchanged, for the check to name."""
    try:
        return operator.index(value)
    except TypeError:
        return value


@dataclass(frozen=True)
class Experiment:
    """paper: module name (e.g. "grokking"); name: experiment within it (e.g. "sparse");
    config_cls: frozen dataclass with a `validate()` method; presets: {"quick": Config, "paper": Config};
    run: Config -> Result; summarize: Result -> printable text; summary: the typed `Summary` class of
    `Result.summary` (what the run measured, field by field; read back from the cache as that class)."""

    paper: str
    name: str
    description: str
    config_cls: type
    presets: Mapping[str, Any]
    run: Callable[[Any], Result]
    summarize: Callable[[Result], str]
    summary: type[Summary] | None = None

    @property
    def id(self) -> str:
        """Dotted identifier, e.g. "grokking.sparse"; also the cache namespace."""
        return f"{self.paper}.{self.name}"

    def config(self, preset: str = "quick", **overrides: Any) -> Any:
        """The preset's config with field overrides applied and validated."""
        if preset not in self.presets:
            raise ConfigError(f"preset must be one of {', '.join(self.presets)}; got {preset!r}.")
        base = self.presets[preset]
        names = {f.name for f in dataclasses.fields(base)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ConfigError(f"{unknown[0]} is not a parameter of {self.id}; "
                              f"parameters are: {', '.join(sorted(names))}.")
        cfg = dataclasses.replace(base, **overrides)
        if "seed" in names:
            validate.seed("seed", cfg.seed)
        cfg.validate()
        return cfg

    def cached(self, config: Any, root: Path | None = None, refresh: bool = False) -> Result:
        """Run through the cache (a stored result of the same config is reused)."""
        config.validate()
        return cache.cached_run(self.id, config, self.run, root, refresh, self.summary)

    def seeds(self, config: Any, seeds, root: Path | None = None) -> list[Result]:
        """The same config over several seeds, each point cached (an interrupted sweep resumes); run as
        `cached_all` runs them."""
        for s in seeds:
            validate.seed("seed", s if isinstance(s, bool) else _integer(s))
        return self.cached_all([dataclasses.replace(config, seed=int(s)) for s in seeds], root)

    def cached_all(self, configs: list[Any], root: Path | None = None) -> list[Result]:
        """Every config through the cache, results in order (an interrupted sweep resumes).

        Configs with a `workers` field above 1 (runs that train their own runs over worker processes, e.g. the
        knapsack sweep) run up to `workers` at once, all sharing one set of `workers` processes
        (`executor.map_concurrent` in an `executor.shared_pool` block): one config's rounds fill the workers
        another leaves idle at its round ends. Locally only (with a cluster in use each config is one task); the
        numbers are the same either way."""
        for c in configs:
            c.validate()
        workers = {getattr(c, "workers", 1) for c in configs}
        if len(workers) == 1 and len(configs) > 1 and executor.current_cluster() is None:
            (count,) = workers
            if isinstance(count, int) and count > 1:
                def one(c: Any) -> Result:
                    return cache.cached_run(self.id, c, self.run, root, summary=self.summary)

                with executor.shared_pool(count):
                    return executor.map_concurrent(one, [(c,) for c in configs], count)
        return cache.sweep(self.id, configs, self.run, root, summary=self.summary)
