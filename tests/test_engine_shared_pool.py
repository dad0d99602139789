"""`executor.shared_pool`: the rounds of an adaptive sweep share one set of worker processes (issue 17)."""
import operator
import os
import time

import pytest

from sims.engine import ConfigError, map_runs
from sims.engine.executor import map_concurrent, shared_pool


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


# ---- several sweeps at once on one shared pool (`map_concurrent`, e.g. the seeds of a paper check) ----------------
def span_after(delay: float) -> tuple[int, float, float]:
    """The worker's pid and the wall-clock start and end of a short sleep."""
    start = time.time()
    time.sleep(delay)
    return os.getpid(), start, time.time()


def sweep_of_rounds(rounds: int, log: list | None = None, fail_at: int | None = None) -> list:
    """A caller of map_concurrent: `rounds` rounds of one run each (as a bisection's late rounds), each into the
    shared pool; round `fail_at` divides by zero in a worker. `log` records the rounds done and how it ended."""
    out = []
    try:
        for r in range(rounds):
            if r == fail_at:
                map_runs(operator.truediv, [(1, 0)], 2)
            out += map_runs(span_after, [(0.2,)], 2)
            if log is not None:
                log.append(("round", r))
    except BaseException as err:
        if log is not None:
            log.append(("ended", type(err).__name__))
        raise
    return out


def test_concurrent_sweeps_share_the_block_workers_and_overlap():
    seen = []
    with shared_pool(2):
        got = map_concurrent(sweep_of_rounds, [(3,), (3,), (3,)], 3, lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1, 2] and [len(r) for r in got] == [3, 3, 3]
    pids = {pid for r in got for pid, _, _ in r}
    assert os.getpid() not in pids and len(pids) <= 2, pids           # the block's two workers, never this process
    spans = sorted((s, e) for r in got for _, s, e in r)
    # one-run rounds of one sweep never overlap; runs of different sweeps do (both workers busy at once)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), spans


def test_a_failing_sweep_stops_the_others_and_its_own_error_is_raised():
    logs = [[], [], []]
    calls = [(30, logs[0]), (30, logs[1], 2), (30, logs[2])]
    with pytest.raises(ZeroDivisionError):
        with shared_pool(2):
            map_concurrent(sweep_of_rounds, calls, 3)
    assert logs[1][-1] == ("ended", "ZeroDivisionError")
    for log in (logs[0], logs[2]):                  # stopped long before their 30 rounds (6 s of runs each)
        assert log[-1][0] == "ended" and log[-1][1] in {"SweepAborted", "BrokenProcessPool"}, log
        assert len(log) < 25, log
    assert map_runs(operator.mul, [(1, 2), (3, 4)], 2) == [2, 12]    # a new block or none: work goes on


def test_map_concurrent_with_one_thread_runs_in_order_here_and_bad_threads_are_refused():
    order = []
    assert map_concurrent(lambda x: order.append(x) or x * 2, [(1,), (2,), (3,)], 1) == [2, 4, 6]
    assert order == [1, 2, 3]
    with pytest.raises(ConfigError, match="threads"):
        map_concurrent(operator.neg, [(1,)], 0)


def test_with_a_cluster_in_use_concurrent_calls_run_one_after_another_here(monkeypatch):
    import threading

    from sims.engine import executor

    monkeypatch.setattr(executor, "current_cluster", lambda: object())
    where = []
    got = map_concurrent(lambda x: where.append(threading.current_thread()) or x + 1, [(1,), (2,)], 4)
    assert got == [2, 3] and where == [threading.main_thread()] * 2
