"""Sweeps through submitit (`sims.engine.cluster`), tested with submitit's local executor, which runs the same
pickled array tasks as subprocesses of this machine: a sweep through it equals the same sweep through local
workers; a task killed mid-run is resubmitted and nothing finished is recomputed; a task that raises stops the
sweep with its error; a rerun after a driver's death submits only the missing points; the command lines answer a
missing submitit or sbatch with one sentence."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

submitit = pytest.importorskip("submitit")

from cluster_tasks import Point, PointSummary, run_point  # noqa: E402  (tests/cluster_tasks.py)
from sims.engine import cache, executor, results  # noqa: E402
from sims.engine.cluster import ClusterSettings, TaskFailed, check_available  # noqa: E402
from sims.engine.errors import ConfigError  # noqa: E402

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def tasks_importable(monkeypatch):
    """The task processes import run_point from tests/cluster_tasks.py, as this process does."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))


def local(tmp_path: Path, **kw) -> ClusterSettings:
    return ClusterSettings(backend="local", folder=tmp_path / "slurm", poll_s=0.2, **kw)


def _calls(folder: Path) -> dict[int, int]:
    out: dict[int, int] = {}
    for f in folder.iterdir():
        seed = int(f.name.split("-")[0])
        out[seed] = out.get(seed, 0) + 1
    return out


def test_a_sweep_through_submitit_equals_the_same_sweep_through_local_workers(tmp_path):
    from sims.skills import POPULATION
    configs = [POPULATION.config("quick", n_models=6, n_skills=12, n_math=200, n_hard=30, seed=s) for s in (0, 1, 2)]
    here = cache.sweep(POPULATION.id, configs, POPULATION.run, tmp_path / "here", workers=2, summary=POPULATION.summary)
    with executor.use(local(tmp_path)):
        there = POPULATION.seeds(configs[0], (0, 1, 2), tmp_path / "there")
    for a, b in zip(here, there):
        assert a.summary == b.summary
        assert set(a.arrays) == set(b.arrays)
        for k in a.arrays:
            assert np.array_equal(a.arrays[k], b.arrays[k]), k
    # the tasks stored their results themselves, under the same keys a local sweep uses
    for c in configs:
        assert results.is_complete(cache.path_for(POPULATION.id, c, tmp_path / "there"))


@pytest.mark.slow   # 17-23 s: submitit's local backend takes that long to notice a killed task (poll_s is 0.2 s)
def test_a_killed_task_is_resubmitted_and_nothing_finished_is_recomputed(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    points = [Point(seed=s, calls=str(calls), kill_once=1) for s in range(3)]
    with executor.use(local(tmp_path, retries=1)):
        out = cache.sweep("cluster.point", points, run_point, tmp_path / "cache", summary=PointSummary)
    assert [r.summary.value for r in out] == [0, 1, 4]
    assert _calls(calls) == {0: 1, 1: 2, 2: 1}
    assert all(r.summary.pid != os.getpid() for r in out)  # computed in task processes
    # the same sweep again: every point comes from the cache, nothing is submitted
    with executor.use(local(tmp_path)):
        again = cache.sweep("cluster.point", points, run_point, tmp_path / "cache", summary=PointSummary)
    assert [r.summary.value for r in again] == [0, 1, 4] and all(r.meta["from_cache"] for r in again)
    assert _calls(calls) == {0: 1, 1: 2, 2: 1}


def test_a_rerun_after_the_driver_died_submits_only_the_missing_points(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    points = [Point(seed=s, calls=str(calls)) for s in range(3)]
    # what a driver that died after two tasks finished leaves: their results in the cache, stored by the tasks
    for p in points[:2]:
        cache.cached_run("cluster.point", p, run_point, tmp_path / "cache", summary=PointSummary)
    with executor.use(local(tmp_path)):
        out = cache.sweep("cluster.point", points, run_point, tmp_path / "cache", summary=PointSummary)
    assert [r.meta["from_cache"] for r in out] == [True, True, False]
    assert _calls(calls) == {0: 1, 1: 1, 2: 1}


@pytest.mark.slow   # 17 s, as above
def test_a_task_that_dies_more_often_than_allowed_stops_the_sweep(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    with executor.use(local(tmp_path, retries=0)):
        with pytest.raises(TaskFailed, match="without a result 1 times"):
            executor.map_runs(run_point, [(Point(seed=1, calls=str(calls), kill_once=1),)])


def test_a_task_that_raises_is_not_resubmitted_and_its_error_is_named(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    with executor.use(local(tmp_path)):
        with pytest.raises(TaskFailed, match="point 0 cannot be computed"):
            executor.map_runs(run_point, [(Point(seed=0, calls=str(calls), fail=0),)])
    assert _calls(calls) == {0: 1}


def test_a_remote_bad_parameter_keeps_its_class_and_a_failed_task_exits_4(tmp_path):
    from sims.engine.cli import guarded
    calls = tmp_path / "calls"
    calls.mkdir()
    with executor.use(local(tmp_path)):
        with pytest.raises(ConfigError, match="point 0 cannot be computed"):
            executor.map_runs(run_point, [(Point(seed=0, calls=str(calls), fail=0, error="config"),)])

    def fails() -> int:
        raise TaskFailed("task 3 of the sweep raised ValueError: x; its log: y")

    assert guarded(fails) == 4


def test_the_command_line_sends_a_run_s_inner_sweep_to_the_tasks(tmp_path, capsys):
    """`python -m sims.skills trained --executor submitit-local`: the family's models are array tasks, stored in
    the cache by the tasks, and the family equals the one computed here."""
    from sims.engine.cli import main
    from sims.skills import DEFAULT, EXPERIMENTS, TRAINED
    tiny = ["--n-values", "6", "--n-skills", "4", "--n-practice", "3", "--n-triples", "8", "--sizes", "8",
            "--coverages", "0.5,1.0", "--steps", "6", "--evals", "1", "--batch", "8", "--warmup", "1", "--n-test",
            "10", "--x-low", "0.25", "--workers", "1", "--no-figure"]
    runs = {}
    for name, extra in (("here", []), ("there", ["--executor", "submitit-local", "--slurm-folder",
                                                   str(tmp_path / "slurm")])):
        argv = ["trained", *tiny, "--cache", str(tmp_path / name / "cache"), "--out", str(tmp_path / name), *extra]
        assert main("skills", EXPERIMENTS, DEFAULT, "", argv) == 0
        runs[name] = results.load(tmp_path / name / "trained", TRAINED.summary)
    for key in runs["here"].arrays:
        assert np.array_equal(runs["here"].arrays[key], runs["there"].arrays[key]), key
    stored = list((tmp_path / "there" / "cache" / "skills" / "trained_model").iterdir())
    assert len(stored) == 2 and all(results.is_complete(d) for d in stored)
    assert len([d for d in (tmp_path / "slurm").iterdir() if d.name.isdigit()]) == 2  # one submitit job a model
    assert "note:" not in capsys.readouterr().out


def test_map_runs_returns_results_in_call_order_and_reports_each(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    seen = []
    with executor.use(local(tmp_path)):
        out = executor.map_runs(run_point, [(Point(seed=s, calls=str(calls)),) for s in (2, 0)],
                                on_done=lambda i, r: seen.append(i))
    assert [r.summary.value for r in out] == [4, 0] and sorted(seen) == [0, 1]
    assert executor.current_cluster() is None  # the setting ends with its block


# ---- settings and command lines ---------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, says", [("cpus_per_task", 0, "--slurm-cpus"), ("time_min", 0, "--slurm-time"),
                                                ("gpus_per_task", -1, "--slurm-gpus"), ("backend", "pbs", "backend"),
                                                ("partition", " ", "--slurm-partition")])
def test_bad_settings_are_named(field, value, says):
    with pytest.raises(ConfigError, match=says):
        ClusterSettings(**{field: value}).validate()


def test_slurm_without_sbatch_or_submitit_is_one_sentence(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="sbatch on the PATH"):
        check_available(ClusterSettings(backend="slurm"))
    check_available(ClusterSettings(backend="local"))  # the local executor needs no sbatch
    monkeypatch.setitem(sys.modules, "submitit", None)  # as if not installed
    with pytest.raises(ConfigError, match="needs the submitit package"):
        check_available(ClusterSettings(backend="local"))


@pytest.mark.parametrize("command", ["sims", "paper_checks"])
def test_the_command_lines_answer_executor_slurm_here_with_one_sentence(command, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PATH", "/nonexistent")
    if command == "sims":
        from sims.engine.cli import main
        from sims.skills import DEFAULT, EXPERIMENTS
        code = main("skills", EXPERIMENTS, DEFAULT, "", ["population", "--executor", "slurm", "--out",
                                                          str(tmp_path)], execute=False)
    else:
        from paper_checks.__main__ import main
        code = main(["skills", "--executor", "slurm", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "sbatch" in err and "Traceback" not in err
