"""Independent runs of a sweep, in this process or spread over worker processes.

DESIGN (Scale): sweeps of independent runs go through an executor. `map_runs(fn, calls, workers)` calls a
module-level function on each argument tuple. With one worker it runs them in order here; with more it spreads
them over that many spawned processes, each pinned to one torch thread (two shared cores are slowed 100x by
oversubscription). Results come back in the order of the calls, and `on_done(i, result)` sees each one as it
finishes, so a caller can store finished points at once and an interrupted sweep keeps them. `fn`'s result must
depend on its arguments alone (every random stream seeded from them): the worker count then never changes a
number.
A sweep whose runs come in rounds (the knapsack sweep's bisection design) opens `shared_pool(workers)` around
them, so that its workers start once (each start imports torch and the package, 2-4 s) rather than once per round.
Several such sweeps (the seeds of a paper check) run at once with `map_concurrent`: each in a thread of this process,
all feeding the one shared pool, so the workers stay busy through every sweep's round ends (a round of four runs
leaves most of an 8- or 16-worker pool idle).
On Linux and macOS a worker ends itself within a second or two of the process that started it dying (killed by
a scheduler, SIGKILL, a crash): it would otherwise train on, unseen, through the runs already queued to it and
then wait forever. (On Windows a parent's death does not change a child's parent pid, so there the watchdog never
fires.)
With a cluster in use (`use(ClusterSettings(...))`, set by `--executor slurm` on the command lines) every call of
`map_runs` goes to `cluster.run_array` instead, one array task per call, whatever `workers` says: no paper module
changes.
"""
from __future__ import annotations

import contextlib
import contextvars
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import validate
from .cluster import ClusterSettings, run_array

_CLUSTER: contextvars.ContextVar[ClusterSettings | None] = contextvars.ContextVar("cluster", default=None)


def current_cluster() -> ClusterSettings | None:
    """The cluster sweeps are sent to now; None: local (this process or worker processes)."""
    return _CLUSTER.get()


@contextlib.contextmanager
def use(settings: ClusterSettings | None) -> Iterator[None]:
    """Within the block, every `map_runs` sends its calls to the cluster of `settings` (None: local)."""
    if settings is not None:
        settings.validate()
    token = _CLUSTER.set(settings)
    try:
        yield
    finally:
        _CLUSTER.reset(token)


PARENT_POLL_S = 1.0


def _one_thread() -> None:
    try:
        import torch
    except ImportError:  # a numpy-only worker has nothing to pin
        return
    torch.set_num_threads(1)


def _exit_when_orphaned(parent: int, every: float) -> None:
    """Poll the worker's parent pid; once the process that started the worker is gone, the worker is re-parented
    (its parent pid changes) and ends at once, its run unfinished and unstored."""
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(1)


def _start_worker(parent: int) -> None:
    """Initializer of each worker: Ctrl-C ignored (it reaches the whole process group; the parent alone handles it
    and ends the workers, which must not be interrupted while they write a result to the pool's queue: a worker
    killed in that write would leave the pool's reader waiting forever), a watchdog thread on the parent, then one
    torch thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(parent, PARENT_POLL_S), daemon=True,
                     name="exit-when-orphaned").start()
    _one_thread()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the workers now (Ctrl-C, or a run that raised): the runs they were computing, and those not started,
    are dropped unstored rather than finished while the user waits. The executor keeps its processes in a private
    attribute; without it the pool's own shutdown would still wait for the running calls."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
    # Not cancel_futures: the pool marks every unfinished future broken once its workers are gone, and a future
    # cancelled first makes that step fail with a traceback of its own (CPython 3.11).
    pool.shutdown(wait=False)
    for process in processes:
        if process.is_alive():
            process.terminate()


# The thread pools of numpy's BLAS and of OpenMP read these when the library loads, which in a spawned worker
# happens while it unpickles its first call, before any initializer could pin them: they must be in the
# environment the worker starts with. One thread each, as torch's (`_one_thread`): K workers on K cores.
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                         "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def _one_blas_thread_for_new_processes() -> Iterator[None]:
    """Within the block, processes started from here see one BLAS / OpenMP thread; the parent's own environment is
    restored afterwards (its libraries are loaded already and keep their pools)."""
    saved = {var: os.environ.get(var) for var in BLAS_THREAD_VARIABLES}
    os.environ.update({var: "1" for var in BLAS_THREAD_VARIABLES})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


class SweepAborted(RuntimeError):
    """A round refused because another caller sharing the workers (`map_concurrent`) failed or was interrupted."""


class _SharedPool:
    """The worker processes of a `shared_pool` block: how many, the pool (None once a failed run ended it), a lock
    for callers in several threads (`map_concurrent`), and whether such a caller failed (no new round starts)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.lock = threading.Lock()
        self.aborted = False

    def abort(self) -> None:
        """End the workers now and refuse every later round of the block (`SweepAborted`)."""
        with self.lock:
            self.aborted = True
            pool, self.pool = self.pool, None
        if pool is not None:
            _stop_workers(pool)


_SHARED: contextvars.ContextVar[_SharedPool | None] = contextvars.ContextVar("shared_pool", default=None)


@contextlib.contextmanager
def shared_pool(workers: int) -> Iterator[None]:
    """Within the block, every local `map_runs` with `workers` workers and more than one run reuses one set of
    worker processes instead of starting its own. A sweep whose runs come in rounds (an adaptive design) then
    starts its workers once: each start imports torch and the package again (2-4 s on a 2-core machine), once per
    round otherwise. The processes start with the block's first parallel round and end with the block. Nothing
    changes with one worker, inside a block already open, or with a cluster in use (`use`): numbers never depend
    on it. A run that raises ends the shared processes (as `map_runs` always does); later rounds in the block
    start their own."""
    validate.positive_int("workers", workers)
    if workers == 1 or _SHARED.get() is not None or current_cluster() is not None:
        yield
        return
    shared = _SharedPool(workers)
    token = _SHARED.set(shared)
    try:
        yield
    except BaseException:
        if shared.pool is not None:
            _stop_workers(shared.pool)
            shared.pool = None
        raise
    finally:
        _SHARED.reset(token)
        if shared.pool is not None:
            shared.pool.shutdown(wait=True)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    """`workers` spawned processes, each pinned to one thread (`_start_worker`); they start at the first submit."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(os.getpid(),))


# the environment edit around a submit is process-wide: callers in several threads (`map_concurrent`) take turns
_SUBMIT_LOCK = threading.Lock()


def _map_in_pool(pool: ProcessPoolExecutor, fn: Callable[..., Any], calls: list[tuple], out: list[Any],
                 on_done: Callable[[int, Any], None] | None) -> None:
    """Submit every call to `pool`, fill `out` in call order, pass each finished run to on_done; a run that
    raises (or Ctrl-C) ends the pool's workers and is raised here."""
    try:
        with _SUBMIT_LOCK, _one_blas_thread_for_new_processes():  # workers start at the first submit, read it then
            pending = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            failed = None
            for future in done:  # every finished run of the batch is passed on before an error is raised
                i = pending.pop(future)
                if future.exception() is not None:
                    failed = failed or future
                    continue
                out[i] = future.result()
                if on_done is not None:
                    on_done(i, out[i])
            if failed is not None:
                failed.result()
    except BaseException:
        _stop_workers(pool)
        raise


def _run_here(fn: Callable[..., Any], calls: list[tuple], out: list[Any],
              on_done: Callable[[int, Any], None] | None) -> list[Any]:
    """Every call in order in this thread, `out` filled and each result passed to on_done as it comes."""
    for i, args in enumerate(calls):
        out[i] = fn(*args)
        if on_done is not None:
            on_done(i, out[i])
    return out


def map_runs(fn: Callable[..., Any], calls: Iterable[Sequence[Any]], workers: int = 1,
             on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """[fn(*args) for args in calls], computed by `workers` processes (or as array tasks on the cluster in use,
    see `use`; inside a `shared_pool` block of as many workers, by the block's processes); on_done(i, result) as
    each finishes.

    A run that raises stops the sweep: runs not yet started are cancelled and the error is raised here, after the
    runs that had already finished were passed to on_done. Inside a `shared_pool` block of as many workers even a
    single run goes to the block's workers (so that callers in several threads never compute in this process)."""
    validate.positive_int("workers", workers)
    calls = [tuple(c) for c in calls]
    cluster = current_cluster()
    if cluster is not None:
        return run_array(fn, calls, cluster, on_done, desc=getattr(fn, "__name__", "runs"))
    out: list[Any] = [None] * len(calls)
    shared = _SHARED.get()
    if shared is not None and shared.workers == workers and workers > 1 and calls:
        with shared.lock:
            if shared.aborted:
                raise SweepAborted("stopped: another sweep sharing these workers failed or was interrupted.")
            if shared.pool is None:
                shared.pool = _new_pool(workers)
            pool = shared.pool
        try:
            _map_in_pool(pool, fn, calls, out, on_done)
        except BaseException:
            with shared.lock:
                if shared.pool is pool:
                    shared.pool = None  # its workers were ended; a later round of the block starts new ones
            raise
        return out
    if workers == 1 or len(calls) <= 1:
        return _run_here(fn, calls, out, on_done)
    with _new_pool(min(workers, len(calls))) as pool:
        _map_in_pool(pool, fn, calls, out, on_done)
    return out


def map_concurrent(fn: Callable[..., Any], calls: Iterable[Sequence[Any]], threads: int,
                   on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """[fn(*args) for args in calls], up to `threads` calls at a time, each in a thread of this process that runs in
    a copy of the caller's context (so every call sees the caller's `shared_pool` block and cache settings);
    on_done(i, result) as each finishes, in this thread. For calls that spend their time waiting on worker processes
    (the rounds of a sweep, each a `map_runs` into the shared pool), several at once keep the workers busy
    through each call's round ends; the results do not depend on it.

    A call that raises, or Ctrl-C here, ends the shared workers and refuses the other calls' later rounds
    (`SweepAborted`); once every thread has ended, the first error that is not a consequence of that is raised.
    Without a `shared_pool` block the other calls run to their end first. With a cluster in use (`use`) the calls
    run one after another here (each one's rounds go to the cluster from this thread)."""
    validate.positive_int("threads", threads)
    calls = [tuple(c) for c in calls]
    out: list[Any] = [None] * len(calls)
    if threads == 1 or len(calls) <= 1 or current_cluster() is not None:
        return _run_here(fn, calls, out, on_done)
    shared = _SHARED.get()
    errors: list[BaseException] = []

    def stop_all() -> None:
        if shared is not None:
            shared.abort()

    with ThreadPoolExecutor(min(threads, len(calls)), thread_name_prefix="concurrent-sweep") as threads_pool:
        futures = {threads_pool.submit(contextvars.copy_context().run, fn, *args): i
                   for i, args in enumerate(calls)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=futures.__getitem__):
                    if future.cancelled():
                        continue
                    if future.exception() is not None:
                        if not errors:
                            stop_all()
                            for other in pending:
                                other.cancel()      # calls not started yet never start
                        errors.append(future.exception())
                        continue
                    i = futures[future]
                    out[i] = future.result()
                    if on_done is not None and not errors:
                        on_done(i, out[i])
        except BaseException:                       # Ctrl-C while waiting: end the workers, then the threads end
            stop_all()
            for future in futures:
                future.cancel()
            raise
    if errors:
        consequences = (SweepAborted, BrokenProcessPool)
        raise next((e for e in errors if not isinstance(e, consequences)), errors[0])
    return out
