"""Sweeps on a SLURM cluster through submitit: every run of a sweep is one task of a job array.

DESIGN (Scale): `executor.map_runs` sends its calls here when a `ClusterSettings` is in use
(`executor.use(settings)`, which the command lines set from `--executor slurm`). Every call becomes one array task
that runs `fn(*args)` in its own process on the cluster (torch pinned to the task's CPUs); inside a cached sweep
(`cache.sweep`) the task also writes its result into the shared config-keyed cache itself, atomically, so a
result survives the driver: the same command run again finds it and submits only the points still missing. The
driver (the process that runs the command) waits, shows a progress bar, hands each result to `on_done` as it
arrives, and resubmits a task that died without a result (killed, pre-empted, out of time or memory) up to
`retries` times; a task whose function raised is not resubmitted: its error is raised here with the task's
traceback in its log. Ctrl-C in the driver cancels the tasks still queued or running.

`backend="local"` is submitit's local executor: the same pickled tasks as subprocesses of this machine, to try a
sweep (and to test this path) before sending it to a cluster. submitit is an optional extra
(`pip install -e '.[slurm]'`).
"""
from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from . import validate
from .errors import ConfigError, DivergenceError, TheoryLabError

BACKENDS = ("slurm", "local")


@dataclass(frozen=True)
class ClusterSettings:
    """backend: "slurm" (sbatch job arrays) or "local" (submitit's local executor, subprocesses here); folder:
    where submitit keeps each task's pickled call, result and logs; partition: the SLURM partition (None: the
    cluster's default); gpus_per_task, cpus_per_task, mem_gb (None: the partition's default): what each task asks
    for; time_min: each task's time limit in minutes; array_parallelism: tasks of one array running at once;
    retries: how often a task that died without a result is resubmitted; poll_s: the longest wait between the
    driver's looks at the tasks (it looks every quarter second after news, less often while nothing changes)."""

    backend: str = "slurm"
    folder: Path = Path("results/slurm")
    partition: str | None = None
    gpus_per_task: int = 0
    cpus_per_task: int = 1
    mem_gb: float | None = None
    time_min: int = 60
    array_parallelism: int = 64
    retries: int = 2
    poll_s: float = 5.0

    def validate(self) -> None:
        validate.one_of("executor backend", self.backend, BACKENDS)
        if self.partition is not None and not str(self.partition).strip():
            raise ConfigError("--slurm-partition must not be empty.")
        validate.positive_int("--slurm-gpus", self.gpus_per_task, 0)
        validate.positive_int("--slurm-cpus", self.cpus_per_task)
        if self.mem_gb is not None:
            validate.positive("--slurm-mem-gb", self.mem_gb)
        validate.positive_int("--slurm-time", self.time_min)
        validate.positive_int("--slurm-parallel", self.array_parallelism)
        validate.positive_int("--slurm-retries", self.retries, 0)
        validate.positive("poll_s", self.poll_s)


def check_available(settings: ClusterSettings) -> None:
    """Raise ConfigError (one sentence) when this machine cannot submit: submitit not installed, or, for the slurm
    backend, no `sbatch` on the PATH."""
    settings.validate()
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise ConfigError("--executor slurm needs the submitit package: pip install -e '.[slurm]' (or pip install "
                          "submitit).") from None
    if settings.backend == "slurm" and shutil.which("sbatch") is None:
        raise ConfigError("--executor slurm needs SLURM's sbatch on the PATH: run the command on the cluster's "
                          "login node, or try the sweep here with --executor submitit-local.")


def _executor(settings: ClusterSettings):
    import submitit
    ex = submitit.AutoExecutor(folder=Path(settings.folder).resolve() / "%j", cluster=settings.backend)
    params: dict[str, Any] = {"timeout_min": settings.time_min, "cpus_per_task": settings.cpus_per_task,
                              "name": "theorylab"}
    if settings.backend == "slurm":
        params["slurm_array_parallelism"] = settings.array_parallelism
        if settings.gpus_per_task:
            params["gpus_per_node"] = settings.gpus_per_task
        if settings.partition:
            params["slurm_partition"] = settings.partition
        if settings.mem_gb is not None:
            params["mem_gb"] = settings.mem_gb
    ex.update_parameters(**params)
    return ex


def run_task(fn: Callable[..., Any], args: tuple, threads: int) -> Any:
    """What one array task runs: torch (and the BLAS libraries) pinned to the task's CPUs, also for runs that pin
    themselves (`torch_layer.single_thread` reads $THEORYLAB_THREADS), then fn(*args)."""
    from .torch_layer import THREADS_ENV
    os.environ[THREADS_ENV] = str(threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.set_num_threads(threads)
    return fn(*args)


class TaskFailed(TheoryLabError):
    """A task's function raised, or a task died without a result more often than the settings allow, or ran out
    of its time limit."""


SUBMITTED = [0]  # tasks submitted by this process so far (the command lines say when a sweep sent none)


def _died(err: BaseException) -> bool:
    """Whether a task's error says it ended without running to completion (killed, pre-empted, timed out), as
    opposed to its function raising."""
    from submitit.core.utils import FailedJobError, UncompletedJobError
    return isinstance(err, UncompletedJobError) and not isinstance(err, FailedJobError)


def _last_error(text: str) -> str:
    """The exception line ("ValueError: ...") of a task's traceback, as submitit reports it."""
    lines = [ln for ln in text.splitlines() if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", ln)]
    return (lines[-1] if lines else text.strip().splitlines()[0] if text.strip() else "an error")[:300]


def _raised(i: int, job, err: BaseException) -> TheoryLabError:
    """The error to raise in the driver for a task whose function raised: a bad parameter or a divergence keeps its
    class (and so the command's exit code 2 or 3), anything else becomes TaskFailed naming the task's log."""
    line = _last_error(str(err))
    m = re.match(r"(?:[\w.]*\.)?(ConfigError|DivergenceError): (.*)", line)
    if m:
        return (ConfigError if m.group(1) == "ConfigError" else DivergenceError)(m.group(2))
    return TaskFailed(f"task {i} of the sweep (submitit job {job.job_id}) raised {line}; its log: "
                      f"{job.paths.stderr}")


def _timed_out(job) -> bool:
    try:
        return "TIMEOUT" in str(job.state).upper()
    except Exception:  # noqa: BLE001 - a state that cannot be read says nothing
        return False


def run_array(fn: Callable[..., Any], calls: Sequence[Sequence[Any]], settings: ClusterSettings,
              on_done: Callable[[int, Any], None] | None = None, desc: str = "tasks") -> list[Any]:
    """[fn(*args) for args in calls], one array task per call (see the module docstring); results in call order,
    on_done(i, result) as each arrives. On SLURM the calls go out as one job array (SLURM keeps at most
    `array_parallelism` running); the local backend starts at most that many at once. A task that died is
    resubmitted at the driver's next look, not after the others."""
    from .progress import bar
    calls = [tuple(c) for c in calls]
    out: list[Any] = [None] * len(calls)
    if not calls:
        return out
    ex = _executor(settings)
    waiting = list(range(len(calls)))
    attempts = dict.fromkeys(waiting, 0)
    jobs: dict[Any, int] = {}
    progress = bar(len(calls), desc, unit="task")

    def submit(indices: list[int]) -> None:
        """Send the calls out: one job array on SLURM, one job per call on the local backend; `jobs` learns each
        job as its submission returns, so an interruption cancels whatever already went out."""
        if settings.backend == "slurm" and len(indices) > 1:
            with ex.batch():
                array = [(ex.submit(run_task, fn, calls[i], settings.cpus_per_task), i) for i in indices]
            jobs.update(array)
        else:
            for i in indices:
                jobs[ex.submit(run_task, fn, calls[i], settings.cpus_per_task)] = i
        for i in indices:
            attempts[i] += 1
        SUBMITTED[0] += len(indices)

    quiet = 0  # looks in a row that found nothing finished: the driver looks less often, up to every poll_s
    try:
        while waiting or jobs:
            room = len(waiting) if settings.backend == "slurm" else settings.array_parallelism - len(jobs)
            if waiting and room > 0:
                batch, waiting = waiting[:room], waiting[room:]
                submit(batch)
            time.sleep(min(settings.poll_s, 0.25 * 2 ** quiet))
            finished = [j for j in jobs if j.done()]
            quiet = 0 if finished else quiet + 1
            for job in finished:
                i = jobs.pop(job)
                try:
                    out[i] = job.result()
                except Exception as err:  # noqa: BLE001 - sorted into died / raised below
                    if not _died(err):
                        raise _raised(i, job, err) from None
                    if _timed_out(job):
                        raise TaskFailed(f"task {i} of the sweep (submitit job {job.job_id}) ran out of its "
                                         f"{settings.time_min} minutes; raise --slurm-time. Its log: "
                                         f"{job.paths.stderr}") from None
                    if attempts[i] > settings.retries:
                        raise TaskFailed(f"task {i} of the sweep (submitit job {job.job_id}) ended without a "
                                         f"result {attempts[i]} times (killed or pre-empted); its log: "
                                         f"{job.paths.stderr}") from None
                    waiting.insert(0, i)
                    continue
                progress.update(1)
                if on_done is not None:
                    on_done(i, out[i])
    except BaseException:
        for job in jobs:  # Ctrl-C or a failed task: nothing more is computed for this sweep
            try:
                job.cancel(check=False)
            except Exception:  # noqa: BLE001 - a job that already ended cannot be cancelled
                pass
        raise
    finally:
        progress.close()
    return out


EXECUTORS = ("local", "slurm", "submitit-local")


def add_arguments(parser) -> None:
    """The executor options of a command line (`--executor` and the `--slurm-*` settings)."""
    group = parser.add_argument_group("where the sweep's runs are computed")
    group.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="local: this process, or --workers processes where the experiment has them (default); "
                            "slurm: one SLURM array task per run, through submitit; submitit-local: the slurm path "
                            "as subprocesses of this machine, to try a sweep before sending it to a cluster")
    group.add_argument("--slurm-partition", default=None, help="SLURM partition (default: the cluster's)")
    group.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per task (default 0)")
    group.add_argument("--slurm-cpus", type=int, default=1, help="CPUs per task; torch uses as many threads "
                                                                 "(default 1)")
    group.add_argument("--slurm-mem-gb", type=float, default=None, help="memory per task in GB (default: the "
                                                                        "partition's)")
    group.add_argument("--slurm-time", type=int, default=60, help="time limit per task in minutes (default 60)")
    group.add_argument("--slurm-parallel", type=int, default=64, help="array tasks running at once (default 64)")
    group.add_argument("--slurm-retries", type=int, default=2, help="resubmissions of a task that died without a "
                                                                   "result (default 2)")
    group.add_argument("--slurm-folder", type=Path, default=Path("results/slurm"),
                       help="submitit's folder: each task's pickled call, result and logs (default results/slurm)")


def settings_from(args) -> ClusterSettings | None:
    """The cluster the parsed options ask for (None for --executor local), checked: one sentence (ConfigError)
    for a bad setting, a missing submitit or a missing sbatch."""
    if args.executor == "local":
        return None
    settings = ClusterSettings(backend="slurm" if args.executor == "slurm" else "local", folder=args.slurm_folder,
                               partition=args.slurm_partition, gpus_per_task=args.slurm_gpus,
                               cpus_per_task=args.slurm_cpus, mem_gb=args.slurm_mem_gb, time_min=args.slurm_time,
                               array_parallelism=args.slurm_parallel, retries=args.slurm_retries)
    check_available(settings)
    return settings
