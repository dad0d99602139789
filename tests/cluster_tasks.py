"""Tasks for tests/test_engine_cluster.py, in a module of their own so that the task processes submitit starts can
import them (the test puts this folder on their PYTHONPATH)."""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sims.engine import results
from sims.engine.errors import ConfigError
from sims.engine.summary import Summary


@dataclass(frozen=True)
class Point:
    """seed: the point; calls: folder where every call leaves a file; kill_once: the seed whose first call kills
    its own process; fail: the seed whose call raises; error: what it raises ("value": ValueError, "config":
    ConfigError)."""

    seed: int
    calls: str
    kill_once: int = -1
    fail: int = -1
    error: str = "value"


@dataclass(frozen=True)
class PointSummary(Summary):
    """value: seed squared; pid: the process that computed it."""

    value: int
    pid: int


def run_point(p: Point) -> results.Result:
    calls = Path(p.calls)
    n = len(list(calls.glob(f"{p.seed}-*")))
    (calls / f"{p.seed}-{n}").write_text(str(os.getpid()))
    if p.seed == p.kill_once and n == 0:
        os.kill(os.getpid(), signal.SIGKILL)  # as a pre-empted or out-of-memory task dies: no result, no error
    if p.seed == p.fail:
        raise (ConfigError if p.error == "config" else ValueError)(f"point {p.seed} cannot be computed")
    return results.Result("cluster.point", {"seed": p.seed}, PointSummary(value=p.seed ** 2, pid=os.getpid()),
                          {"x": np.arange(p.seed + 1, dtype=float)})
