"""One-sentence checks of configuration values; each raises ConfigError naming the parameter."""
from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import ConfigError


def _finite(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value!r}.")
    return value


def positive(name: str, value: float) -> None:
    """Require value > 0."""
    if _finite(name, value) <= 0:
        raise ConfigError(f"{name} must be positive, got {value!r}.")


def non_negative(name: str, value: float) -> None:
    """Require value >= 0."""
    if _finite(name, value) < 0:
        raise ConfigError(f"{name} must be non-negative, got {value!r}.")


def positive_int(name: str, value: int, minimum: int = 1) -> None:
    """Require an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def probability(name: str, value: float, open_low: bool = False, open_high: bool = False) -> None:
    """Require value in [0, 1] (ends optionally open)."""
    v = _finite(name, value)
    low_bad = v <= 0 if open_low else v < 0
    high_bad = v >= 1 if open_high else v > 1
    if low_bad or high_bad:
        lo = "(0" if open_low else "[0"
        hi = "1)" if open_high else "1]"
        raise ConfigError(f"{name} must lie in {lo}, {hi}, got {value!r}.")


def greater_than(name: str, value: float, bound: float) -> None:
    """Require value > bound."""
    if _finite(name, value) <= bound:
        raise ConfigError(f"{name} must be greater than {bound}, got {value!r}.")


def non_empty(name: str, values: Iterable) -> None:
    """Require a non-empty sequence."""
    if len(tuple(values)) == 0:
        raise ConfigError(f"{name} must not be empty.")


def each(check, name: str, values: Iterable, *args) -> None:
    """Apply a scalar check to every element of a sequence, naming the element."""
    non_empty(name, values)
    for i, v in enumerate(values):
        check(f"{name}[{i}]", v, *args)


def one_of(name: str, value: str, choices: Iterable[str]) -> None:
    """Require value to be one of the choices."""
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")


SEED_MAX = 2**63 - 1


def seed(name: str, value: int) -> None:
    """Require a seed the package can honour: an integer in [0, 2**63 - 1] (numpy's SeedSequence takes no negative
    numbers; every stream derives from the seed through it)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{name} must be an integer from 0 to 2**63 - 1; got {value!r}.")


def writable_dir(name: str, path) -> Path:
    """Create folder `path` if needed and check that a file can be written in it, before any long run starts;
    a ConfigError naming `name` and the path otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ConfigError(f"{name} folder {str(path)!r} cannot be created or written ({reason}).") from None
    return path
