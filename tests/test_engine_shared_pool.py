"""`executor.shared_pool`: the rounds of an adaptive sweep share one set of worker processes (issue 17)."""
import operator
import os
import time

import pytest

from sims.engine import ConfigError, map_runs
from sims.engine.executor import shared_pool


def pid_after(delay: float) -> int:
    """The worker's process id, after a short sleep (so that both workers of a round take a run)."""
    time.sleep(delay)
    return os.getpid()


def test_rounds_in_a_block_reuse_its_workers_and_rounds_outside_start_their_own():
    calls = [(0.3,), (0.3,)]
    with shared_pool(2):
        rounds = [map_runs(pid_after, calls, 2) for _ in range(3)]
    seen = {pid for r in rounds for pid in r}
    assert os.getpid() not in seen and len(seen) <= 2, rounds     # never more processes than the block's two
    for pid in seen:                                                # and they ended with the block
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    a, b = (set(map_runs(pid_after, calls, 2)) for _ in range(2))
    assert os.getpid() not in a | b and a.isdisjoint(b) and a.isdisjoint(seen)


def test_results_and_errors_are_those_of_map_runs():
    calls = [(1, 2), (3, 4), (5, 6), (7, 8)]
    with shared_pool(2):
        seen = []
        assert map_runs(operator.mul, calls, 2, lambda i, r: seen.append((i, r))) == [2, 12, 30, 56]
        assert sorted(seen) == [(0, 2), (1, 12), (2, 30), (3, 56)]
        with pytest.raises(ZeroDivisionError):
            map_runs(operator.truediv, [(1, 1), (1, 0)], 2)
        # the failed round ended the block's workers; the next round starts new ones
        assert map_runs(operator.mul, calls, 2) == [2, 12, 30, 56]
        assert map_runs(operator.mul, calls, 3) == [2, 12, 30, 56]   # another worker count: a pool of its own
        with shared_pool(2):                                            # nested: the outer block's workers
            assert map_runs(operator.mul, calls[:2], 2) == [2, 12]


def test_one_worker_runs_here_and_bad_workers_are_refused():
    with shared_pool(1):
        assert map_runs(pid_after, [(0.0,), (0.0,)], 1) == [os.getpid()] * 2
    with pytest.raises(ConfigError, match="workers"):
        with shared_pool(0):
            pass


def test_an_error_in_the_block_propagates_and_map_runs_works_after_it():
    with pytest.raises(RuntimeError, match="stop"):
        with shared_pool(2):
            assert map_runs(operator.mul, [(1, 2), (3, 4)], 2) == [2, 12]
            raise RuntimeError("stop")
    assert map_runs(operator.mul, [(1, 2), (3, 4)], 2) == [2, 12]
