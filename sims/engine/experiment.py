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

from . import cache, validate
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
        """The same config over several seeds, each point cached (an interrupted sweep resumes)."""
        for s in seeds:
            validate.seed("seed", s if isinstance(s, bool) else _integer(s))
        configs = [dataclasses.replace(config, seed=int(s)) for s in seeds]
        for c in configs:
            c.validate()
        return cache.sweep(self.id, configs, self.run, root, summary=self.summary)
