"""Shared machinery for every simulation: configs and the command line, seeding, result files,
the config-keyed cache, an executor for independent runs, progress bars, divergence checks, statistics and
the thin torch layer."""
from . import validate
from .cache import cached_run, sweep
from .errors import ConfigError, DivergenceError, TheoryLabError
from .executor import map_runs
from .experiment import Experiment
from .results import Result, load, save
from .seeding import int_seed, rng
from .stats import Estimate, mean_ci
from .summary import Summary

__all__ = ["ConfigError", "DivergenceError", "Estimate", "Experiment", "Result", "TheoryLabError",
           "cached_run", "int_seed", "load", "map_runs", "mean_ci", "rng", "save", "sweep", "Summary", "validate"]
