"""Starting real process groups: K processes spawned from one Python call (tests, a laptop) or one process per
rank under torchrun (a GPU node, a cluster), with one clear error when a rank fails or a variable is missing."""
from __future__ import annotations

import os
import pickle
import socket
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
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
    except BaseException as exc:
        _write(out, _error_record(exc))
        raise
    finally:
        if joined:
            dist.destroy_process_group()


def _all_finished(out_dir: Path, world: int) -> bool:
    """Whether every rank wrote an "ok" record (its value) to `out_dir`."""
    for r in range(world):
        f = out_dir / f"rank{r}.pkl"
        if not f.exists() or pickle.loads(f.read_bytes())["status"] != "ok":
            return False
    return True


def _failure(out_dir: Path, world: int, exc: Exception) -> Exception:
    """One error for a failed spawn: the rank that failed first (the others usually fail because it left)."""
    records = {}
    for r in range(world):
        f = out_dir / f"rank{r}.pkl"
        if f.exists():
            rec = pickle.loads(f.read_bytes())
            if rec["status"] == "error":
                records[r] = rec
    if not records:  # the rank died without raising: a signal, os._exit, out of memory
        rank = getattr(exc, "error_index", -1)
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return RankFailed(f"rank {rank} of {world} died without raising an error ({why}).", rank)
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
    """
    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

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
    with tempfile.TemporaryDirectory(prefix="theorylab-spawn-") as tmp:
        out = Path(tmp)
        try:
            mp.spawn(_rank_main, args=(fn, world, arg, backend, free_port(), float(timeout_s), tmp), nprocs=world,
                     join=True)
        except ProcessException as exc:
            if not _all_finished(out, world):
                raise _failure(out, world, exc) from None
            # every rank stored its value and only then died (an abort in the process group's teardown, seen with
            # gloo under load): the run is complete and its values are returned
            warnings.warn(f"a rank died after every rank had finished its work ({str(exc).strip().splitlines()[0]}); "
                          "the values are complete and are returned", RuntimeWarning, stacklevel=2)
        return [pickle.loads(pickle.loads((out / f"rank{r}.pkl").read_bytes())["payload"]) for r in range(world)]


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
