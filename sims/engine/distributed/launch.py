"""Starting real process groups: K processes spawned from one Python call (tests, a laptop) or one process per
rank under torchrun (a GPU node, a cluster), with one clear error when a rank fails or a variable is missing."""
from __future__ import annotations

import os
import pickle
import signal
import socket
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from multiprocessing import connection
from datetime import timedelta
from pathlib import Path
from typing import Any

from .. import validate
from ..errors import ConfigError, TheoryLabError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class RankFailed(TheoryLabError, RuntimeError):
    """A spawned rank raised an error that is not one of the package's own; the message names the rank and the
    error, `remote_traceback` holds the rank's traceback."""

    def __init__(self, message: str, rank: int, remote_traceback: str = ""):
        super().__init__(message)
        self.rank = rank
        self.remote_traceback = remote_traceback


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it), for a process group's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backend_for(device: str) -> str:
    """The collective backend for a device: "nccl" for cuda devices, "gloo" for cpu."""
    kind = str(device).split(":")[0]
    if kind == "cuda":
        return "nccl"
    if kind == "cpu":
        return "gloo"
    raise ConfigError(f"device must be cpu or cuda[:N] to choose a collective backend, got {device!r}.")


def _write(path: Path, record: dict) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(record, fh)
    os.replace(tmp, path)


def _error_record(exc: BaseException) -> dict:
    record = dict(status="error", time=time.time(), type=type(exc).__name__, message=str(exc),
                  traceback="".join(traceback.format_exception(exc)), exception=None)
    if isinstance(exc, TheoryLabError):
        try:  # the package's own errors come back as themselves, so that the command line keeps its exit codes
            pickle.dumps(exc)
            record["exception"] = exc
        except Exception:  # noqa: BLE001 - an unpicklable error still comes back as its text
            pass
    return record


def _rank_main(rank: int, fn: Callable, world: int, arg: Any, backend: str, port: int, timeout_s: float,
               out_dir: str) -> None:
    """The body of one spawned process: join the group, run fn, leave the group, write the outcome to a file."""
    import torch.distributed as dist

    from ..torch_layer import single_thread

    single_thread()
    out = Path(out_dir) / f"rank{rank}.pkl"
    joined = False
    try:
        if backend == "nccl":
            import torch

            torch.cuda.set_device(rank % torch.cuda.device_count())
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                                timeout=timedelta(seconds=timeout_s))
        joined = True
        value = fn(rank, world, arg)
        try:
            payload = pickle.dumps(value)
        except Exception as err:  # noqa: BLE001 - reported as this rank's error
            raise TypeError(f"the value fn returned cannot be pickled back to the parent ({err})") from None
        # the outcome is on disk before the group is torn down: gloo's teardown has been seen to abort a process
        # ("terminate called without an active exception") after its work was done
        _write(out, dict(status="ok", payload=payload))
    except BaseException as exc:  # noqa: BLE001 - every outcome goes to the parent through the file
        _write(out, _error_record(exc))
        failed = True
    else:
        failed = False
    finally:
        if joined:
            dist.destroy_process_group()
    if failed:  # the parent reads the error from the file; no second copy of the traceback on stderr
        raise SystemExit(1)


def _record(out_dir: Path, rank: int) -> dict | None:
    """What rank `rank` wrote to `out_dir` (its value or its error), or None when it wrote nothing."""
    f = out_dir / f"rank{rank}.pkl"
    return pickle.loads(f.read_bytes()) if f.exists() else None


def _signal_name(exitcode: int) -> str:
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


def _how(rank: int, exitcode: int) -> str:
    return (f"process {rank} terminated with signal {_signal_name(exitcode)}" if exitcode < 0
            else f"process {rank} exited with code {exitcode}")


def _died(rank: int, world: int, exitcode: int) -> RankFailed:
    return RankFailed(f"rank {rank} of {world} died without raising an error ({_how(rank, exitcode)}).", rank)


def _run_ranks(fn: Callable, world: int, arg: Any, backend: str, timeout_s: float, out: Path) -> dict[int, int]:
    """Start `world` processes and wait for them. A rank that fails (an error record, or death without a record)
    stops the others at once; a rank that dies AFTER storing its value (an abort in gloo's teardown) does not, so
    its peers can store theirs. Returns {rank: exit code} of the ranks that died, or raises `_Failed`."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, fn, world, arg, backend, port, timeout_s, str(out)),
                         name=f"theorylab-rank{r}") for r in range(world)]
    for p in procs:
        p.start()
    deaths: dict[int, int] = {}
    pending = set(range(world))
    try:
        while pending:
            connection.wait([procs[r].sentinel for r in pending])
            for r in sorted(pending):
                if procs[r].exitcode is None:
                    continue
                pending.discard(r)
                code = procs[r].exitcode
                rec = _record(out, r)
                if code == 0 and rec is not None:
                    continue
                deaths[r] = code
                if rec is None or rec["status"] != "ok":
                    raise _Failed(deaths)
        return deaths
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join()


class _Failed(Exception):
    """Internal: a rank failed; `deaths` holds the exit codes of the ranks that had ended badly when it was seen."""

    def __init__(self, deaths: dict[int, int]):
        super().__init__(deaths)
        self.deaths = deaths


def _failure(out_dir: Path, world: int, deaths: dict[int, int]) -> Exception:
    """One error for a failed spawn: the rank that failed first (the others usually fail because it left)."""
    records = {}
    for r in range(world):
        rec = _record(out_dir, r)
        if rec is not None and rec["status"] == "error":
            records[r] = rec
    if not records:  # the rank died without raising: a signal, os._exit, out of memory
        rank = next(r for r in deaths if _record(out_dir, r) is None)
        return _died(rank, world, deaths[rank])
    rank = min(records, key=lambda r: records[r]["time"])
    rec = records[rank]
    if rec["exception"] is not None:
        own = rec["exception"]
        try:
            err = type(own)(f"rank {rank} of {world}: {own}")
        except Exception:  # noqa: BLE001 - an error class with another constructor keeps its own message
            err = own
        err.rank = rank
        err.remote_traceback = rec["traceback"]
        return err
    err = RankFailed(f"rank {rank} of {world} raised {rec['type']}: {rec['message']}", rank, rec["traceback"])
    if hasattr(err, "add_note"):
        err.add_note(f"traceback of rank {rank}:\n{rec['traceback']}")
    return err


def spawn(fn: Callable[[int, int, Any], Any], world: int, arg: Any, backend: str = "gloo",
          timeout_s: float = 300) -> list[Any]:
    """Run fn(rank, world, arg) in `world` new processes joined in one process group; return the values, in rank
    order.

    Each process pins torch to one thread (`torch_layer.single_thread`), joins the group over tcp://127.0.0.1 on a
    free port with `backend` (on "nccl", rank r uses GPU r mod the GPU count), runs fn, and leaves the group in a
    `finally`. `timeout_s` is the group's timeout: a rank that waits longer than this for a peer in a collective
    fails. When a rank raises, the others are stopped and the parent raises one error naming the rank that failed
    first: the same class for the package's own errors (ConfigError, ...), `RankFailed` otherwise, with the rank's
    traceback in `remote_traceback`. fn must be importable by the new processes (a module-level function), and its
    return value and `arg` picklable.

    Two gloo failures seen on loaded machines are handled, each with a RuntimeWarning: a rank that aborts after
    storing its value (in the group's teardown) does not stop its peers, and the values are returned; a rank killed
    by a signal before storing anything, when no rank raised, makes the whole run start once more from scratch
    (fn must therefore be deterministic or indifferent to a rerun, as every run here is); a second such death raises.
    """
    validate.positive_int("world", world)
    validate.positive("timeout_s", timeout_s)
    if not isinstance(backend, str) or backend not in ("gloo", "nccl", "mpi"):
        raise ConfigError(f"backend must be 'gloo', 'nccl' or 'mpi', got {backend!r}.")
    if not callable(fn):
        raise ConfigError(f"fn must be a function fn(rank, world, arg), got {fn!r}.")
    try:
        pickle.dumps(fn)
    except Exception:  # noqa: BLE001 - lambdas, closures and local functions cannot reach the new processes
        raise ConfigError(f"fn must be a module-level function that the spawned processes can import, got "
                          f"{getattr(fn, '__qualname__', fn)!r}.") from None
    for attempt in (1, 2):
        with tempfile.TemporaryDirectory(prefix="theorylab-spawn-") as tmp:
            out = Path(tmp)
            try:
                deaths = _run_ranks(fn, world, arg, backend, float(timeout_s), out)
            except _Failed as failed:
                err = _failure(out, world, failed.deaths)
                lost = [r for r, code in failed.deaths.items() if code < 0 and _record(out, r) is None]
                if attempt == 1 and isinstance(err, RankFailed) and lost and not err.remote_traceback:
                    # a rank killed by a signal before it stored anything, and no rank raised: gloo has been seen
                    # to abort a rank this way on a loaded machine; the run is started once more, from scratch
                    warnings.warn(f"{err} The run is started once more.", RuntimeWarning, stacklevel=2)
                    continue
                raise err from None
            if deaths:
                # every rank stored its value and some died afterwards (an abort in the process group's teardown,
                # seen with gloo under load): the run is complete and its values are returned
                r = min(deaths)
                warnings.warn(f"rank {r} of {world} died after storing its value ({_how(r, deaths[r])}); "
                              "the values are complete and are returned", RuntimeWarning, stacklevel=2)
            return [pickle.loads(_record(out, r)["payload"]) for r in range(world)]
    raise AssertionError("unreachable")


def init_from_env(backend: str | None = None, command: str = "your_script.py") -> tuple[int, int]:
    """Join the process group that torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and return
    (rank, world).

    backend: "nccl" when CUDA is available, else "gloo", unless given; on nccl the process uses GPU LOCAL_RANK.
    Pins torch to one thread like `spawn`. An already initialised group is reused. Without the variables: a
    ConfigError naming the missing ones and the torchrun line that starts `command` (e.g. "-m sims.qsr.run").
    """
    import torch
    import torch.distributed as dist

    from ..torch_layer import single_thread

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    missing = [v for v in TORCHRUN_VARIABLES if v not in os.environ]
    if missing:
        raise ConfigError(f"this command runs one worker per process under torchrun ({', '.join(missing)} not "
                          f"set); start it as: torchrun --nproc-per-node K {command}.")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    single_thread()
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()
