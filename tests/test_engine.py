"""The shared engine: seeding, result files, the cache and resumable sweeps, the command line, curve helpers."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import operator
import os
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sims.engine import (ConfigError, DivergenceError, Experiment, Result, Summary, cache, map_runs, mean_ci, rng,
                         validate)
from sims.engine import results as results_mod
from sims.engine.cli import field_parser, main
from sims.engine.curves import eval_schedule, first_crossing, fit_line, value_at
from sims.engine.divergence import check_finite


@dataclass(frozen=True)
class ToyConfig:
    n: int = 5
    scale: float = 1.0
    values: tuple[float, ...] = (1.0, 2.0)
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("n", self.n)
        validate.positive("scale", self.scale)
        validate.each(validate.positive, "values", self.values)


@dataclass(frozen=True)
class ToySummary(Summary):
    """mean: mean of the draws; values: the config's values, echoed."""

    mean: float
    values: tuple[float, ...]


CALLS: list[ToyConfig] = []


def toy_run(cfg: ToyConfig) -> Result:
    CALLS.append(cfg)
    x = rng(cfg.seed, "toy").standard_normal(cfg.n) * cfg.scale
    if cfg.scale > 1e6:
        check_finite("x", np.array([np.inf]))
    return Result("toy.main", cache.config_dict(cfg), ToySummary(mean=float(x.mean()), values=cfg.values), {"x": x})


TOY = Experiment("toy", "main", "a toy experiment", ToyConfig,
                 {"quick": ToyConfig(), "paper": ToyConfig(n=50)}, toy_run,
                 lambda r: f"mean={r.summary.mean:.3f}", ToySummary)


def test_rng_streams_are_reproducible_and_independent():
    a = rng(3, "data").standard_normal(5)
    assert np.array_equal(a, rng(3, "data").standard_normal(5))
    assert not np.allclose(a, rng(3, "init").standard_normal(5))
    assert not np.allclose(a, rng(4, "data").standard_normal(5))


def test_result_roundtrip_and_no_temporary_files(tmp_path):
    res = Result("toy.main", {"a": 1, "t": [1, 2]}, ToySummary(mean=2.5, values=(float("inf"), float("nan"))),
                 {"x": np.arange(6.0).reshape(2, 3)})
    results_mod.save(res, tmp_path / "r")
    stored = json.loads((tmp_path / "r" / "result.json").read_text())["summary"]
    assert stored == {"mean": 2.5, "values": ["inf", None]}  # readable JSON: no NaN or Infinity tokens
    back = results_mod.load(tmp_path / "r", ToySummary)
    assert back.config == res.config and back.summary.mean == 2.5 and back.summary.values[0] == float("inf")
    assert np.isnan(back.summary.values[1])
    assert results_mod.load(tmp_path / "r").summary == {"mean": 2.5, "values": [float("inf"), None]}  # untyped
    assert np.array_equal(back.arrays["x"], res.arrays["x"])
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["arrays.npz", "result.json"]


def test_incomplete_result_is_not_complete(tmp_path):
    results_mod.save(Result("toy.main", {}, {}, {"x": np.zeros(2)}), tmp_path / "r")
    (tmp_path / "r" / "result.json").unlink()
    assert not results_mod.is_complete(tmp_path / "r")


_KILLED_WRITER = """
import os, signal, sys
import numpy as np
from sims.engine import results
from sims.engine.results import Result

directory = sys.argv[1]


def die_before_the_json(path, obj, sort_keys=True):  # the arrays are on disk: the process dies here
    os.kill(os.getpid(), signal.SIGKILL)


results.write_json = die_before_the_json
results.save(Result("toy.main", {"seed": 1}, {"mean": 2.0}, {"x": np.full(3, 2.0)}), directory)
"""


def test_a_writer_killed_between_the_two_files_leaves_no_complete_result(tmp_path):
    """Overwriting a stored result (as --refresh does): a process killed after writing the new arrays and before
    the new JSON must not leave the new arrays beside the old JSON as a complete result, and the cache then
    recomputes the point (issue 18)."""
    CALLS.clear()
    cfg = TOY.config("quick", seed=3)
    stored = TOY.cached(cfg, root=tmp_path)
    directory = cache.path_for(TOY.id, cfg, tmp_path)
    assert results_mod.is_complete(directory) and len(CALLS) == 1
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(directory)], cwd=Path(__file__).parents[1],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with np.load(directory / "arrays.npz") as npz:
        assert np.array_equal(npz["x"], np.full(3, 2.0))  # the writer got as far as the new arrays
    assert not (directory / "result.json").exists() and not results_mod.is_complete(directory)
    again = TOY.cached(cfg, root=tmp_path)
    assert len(CALLS) == 2 and not again.meta["from_cache"]
    assert np.array_equal(again.arrays["x"], stored.arrays["x"]) and results_mod.is_complete(directory)


def worker_threads(_: int) -> dict:
    """Inside a map_runs worker: the BLAS / OpenMP thread variables it started with, its BLAS pools' sizes (where
    threadpoolctl is installed), and torch's thread count."""
    import torch

    from sims.engine.executor import BLAS_THREAD_VARIABLES

    out = {"env": {v: os.environ.get(v) for v in BLAS_THREAD_VARIABLES}, "torch": torch.get_num_threads()}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        out["blas"] = None
    else:
        out["blas"] = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return out


def test_worker_processes_run_one_blas_and_one_torch_thread(monkeypatch):
    """Issue 18: workers cap numpy's BLAS and OpenMP pools as well as torch's (K workers on K cores), whatever the
    parent's environment says, and the parent's own environment is left as it was."""
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    outs = map_runs(worker_threads, [(0,), (1,)], workers=2)
    for out in outs:
        assert set(out["env"].values()) == {"1"} and out["torch"] == 1
        if out["blas"] is not None:
            assert out["blas"] and set(out["blas"]) == {1}, out["blas"]
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OPENBLAS_NUM_THREADS" not in os.environ


def test_cache_reuses_finished_runs(tmp_path):
    CALLS.clear()
    cfg = TOY.config("quick", seed=7)
    first = TOY.cached(cfg, root=tmp_path)
    second = TOY.cached(cfg, root=tmp_path)
    assert len(CALLS) == 1 and second.meta["from_cache"] and not first.meta["from_cache"]
    assert np.array_equal(first.arrays["x"], second.arrays["x"])
    assert cache.key("toy.main", cfg) != cache.key("toy.main", dataclasses.replace(cfg, scale=2.0))


def test_cache_key_follows_the_code_it_depends_on(tmp_path, monkeypatch):
    """Editing a paper's simulation or theory source changes its results' cache key; other papers keep theirs."""
    sims_dir, theory_dir = tmp_path / "sims", tmp_path / "theory"
    (sims_dir / "engine").mkdir(parents=True)
    (sims_dir / "paper_a").mkdir()
    theory_dir.mkdir()
    (sims_dir / "engine" / "core.py").write_text("x = 1\n")
    (sims_dir / "paper_a" / "run.py").write_text("y = 1\n")
    (theory_dir / "paper_a.py").write_text("z = 1\n")
    monkeypatch.setattr(cache, "_SIMS", sims_dir)

    def fingerprints():
        cache.code_fingerprint.cache_clear()
        return cache.code_fingerprint("paper_a"), cache.code_fingerprint("paper_b")

    a0, b0 = fingerprints()
    assert fingerprints() == (a0, b0)  # stable
    (theory_dir / "paper_a.py").write_text("z = 2\n")
    a1, b1 = fingerprints()
    assert a1 != a0 and b1 == b0
    (sims_dir / "paper_a" / "run.py").write_text("y = 2\n")
    a2, _ = fingerprints()
    assert a2 != a1
    (sims_dir / "engine" / "core.py").write_text("x = 2\n")
    a3, b3 = fingerprints()
    assert a3 != a2 and b3 != b1
    (sims_dir / "engine" / "lm").mkdir()
    (sims_dir / "engine" / "lm" / "__init__.py").write_text("")
    (sims_dir / "engine" / "lm" / "train.py").write_text("w = 1\n")
    (sims_dir / "paper_b.py").write_text("from sims.engine.lm import train\n")   # only paper_b uses the subpackage
    a4, b4 = fingerprints()
    assert a4 == a3 and b4 != b3
    (sims_dir / "engine" / "lm" / "train.py").write_text("w = 2\n")
    a5, b5 = fingerprints()
    assert a5 == a4 and b5 != b4
    cache.code_fingerprint.cache_clear()


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    CALLS.clear()
    base = TOY.config("quick")
    configs = [dataclasses.replace(base, seed=s) for s in range(4)]

    def flaky(cfg):
        if cfg.seed == 2:
            raise KeyboardInterrupt
        return toy_run(cfg)

    with pytest.raises(KeyboardInterrupt):
        cache.sweep("toy.main", configs, flaky, tmp_path)
    assert [c.seed for c in CALLS] == [0, 1]
    CALLS.clear()
    out = cache.sweep("toy.main", configs, toy_run, tmp_path)
    assert [c.seed for c in CALLS] == [2, 3]  # finished points 0 and 1 were not recomputed
    assert [r.meta["from_cache"] for r in out] == [True, True, False, False]


def test_a_sweep_over_worker_processes_stores_each_point_and_reuses_the_stored_ones(tmp_path):
    configs = [TOY.config("quick", seed=s) for s in range(3)]
    cache.sweep("toy.main", configs[:1], toy_run, tmp_path)                   # one point already stored
    seen = []
    out = cache.sweep("toy.main", configs, toy_run, tmp_path, workers=2, on_done=lambda i, r: seen.append(i),
                      summary=ToySummary)
    assert sorted(seen) == [0, 1, 2] and [r.meta["from_cache"] for r in out] == [True, False, False]
    assert all(isinstance(r.summary, ToySummary) for r in out)  # the stored point is read back typed too
    assert all(results_mod.is_complete(cache.path_for("toy.main", c, tmp_path)) for c in configs)
    serial = [toy_run(c) for c in configs]
    assert all(np.array_equal(a.arrays["x"], b.arrays["x"]) for a, b in zip(out, serial))


def test_config_overrides_and_errors_name_the_parameter():
    assert TOY.config("quick", scale=2.0).scale == 2.0
    with pytest.raises(ConfigError, match="scale"):
        TOY.config("quick", scale=-1.0)
    with pytest.raises(ConfigError, match="bogus"):
        TOY.config("quick", bogus=1)
    with pytest.raises(ConfigError, match="preset"):
        TOY.config("huge")
    with pytest.raises(ConfigError, match=r"values\[1\]"):
        TOY.config("quick", values=(1.0, -2.0))


def test_field_parser_reads_sequences_and_bools():
    assert field_parser(tuple[float, ...])("1,2.5, 3") == (1.0, 2.5, 3.0)
    assert field_parser(bool)("false") is False
    assert field_parser(int)("12") == 12
    assert field_parser(tuple[int, ...])("") == ()  # an empty list: the config's own check decides
    for malformed in ("1,,2", ",", "3,", ",3"):
        with pytest.raises(ValueError):
            field_parser(tuple[int, ...])(malformed)
    with pytest.raises(ValueError):
        field_parser(int)("1.5")


def test_cli_runs_writes_results_and_rejects_bad_input(tmp_path, capsys):
    code = main("toy", [TOY], "main", "doc", ["--n", "3", "--seed", "2", "--out", str(tmp_path / "o"),
                                             "--cache", str(tmp_path / "c")])
    assert code == 0
    assert "mean=" in capsys.readouterr().out
    saved = json.loads((tmp_path / "o" / "main" / "result.json").read_text())
    assert saved["config"]["n"] == 3 and saved["config"]["seed"] == 2
    code = main("toy", [TOY], "main", "doc", ["--scale", "-3", "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2 and "scale must be positive" in err and "Traceback" not in err
    code = main("toy", [TOY], "main", "doc", ["--n", "abc", "--cache", str(tmp_path / "c")])
    assert code == 2 and "n could not be read" in capsys.readouterr().err


def test_cli_reports_divergence(tmp_path, capsys):
    code = main("toy", [TOY], "main", "doc", ["--scale", "1e9", "--cache", str(tmp_path / "c"),
                                             "--out", str(tmp_path / "o")])
    assert code == 3 and "diverged" in capsys.readouterr().err


def test_check_finite_raises_on_nan():
    check_finite("ok", np.ones(3))
    with pytest.raises(DivergenceError, match="step 12"):
        check_finite("loss", np.array([1.0, np.nan]), step=12)


def test_eval_schedule_covers_ends_sorted_unique():
    s = eval_schedule(10_000, 50, 50)
    assert s[0] == 0 and s[-1] == 10_000 and np.all(np.diff(s) > 0)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.05, 0.95), st.floats(0.1, 10.0))
def test_first_crossing_inverts_a_linear_ramp(level, slope):
    t = np.linspace(0.0, 1.0 / slope, 101)
    y = slope * t
    assert first_crossing(t, y, level) == pytest.approx(level / slope, rel=1e-9)
    assert np.isnan(first_crossing(t, y, 2.0))
    assert first_crossing(t, 1 - y, 1 - level, rising=False) == \
        pytest.approx(level / slope, rel=1e-9)
    assert value_at(t, y, level / slope) == pytest.approx(level, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.floats(-5, 5), st.floats(-5, 5))
def test_fit_line_recovers_slope_and_interval_covers_it(a, b):
    x = np.linspace(0, 3, 12)
    noise = rng(0, "fit").standard_normal(12) * 0.01
    fit = fit_line(x, a * x + b + noise)
    assert fit.slope == pytest.approx(a, abs=0.05)
    assert fit.slope_low <= a <= fit.slope_high or abs(fit.slope - a) < 3 * fit.slope_se


def test_mean_ci_coverage_is_near_nominal():
    g = rng(1, "coverage")
    hits = 0
    for _ in range(400):
        est = mean_ci(g.normal(2.0, 1.0, size=5))
        hits += est.low <= 2.0 <= est.high
    assert 0.92 <= hits / 400 <= 0.98  # 95% nominal; binomial sd ~1.1%
    with pytest.raises(ValueError):
        mean_ci([1.0, float("nan")])


TOY2 = Experiment("toy", "second", "a second toy experiment", ToyConfig,
                  {"quick": ToyConfig(n=3), "paper": ToyConfig(n=30)}, toy_run,
                  lambda r: f"second={r.summary.mean:.3f}", ToySummary)


def test_cli_runs_every_default_experiment_in_turn_and_stops_at_the_first_failure(tmp_path, capsys):
    args = ["--seed", "1", "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o"), "--no-figure"]
    assert main("toy", [TOY, TOY2], ("main", "second"), "doc", args) == 0
    out = capsys.readouterr().out
    assert out.index("mean=") < out.index("second=")
    assert all((tmp_path / "o" / name / "result.json").is_file() for name in ("main", "second"))
    assert main("toy", [TOY, TOY2], ("main", "second"), "doc", ["--scale", "1e9", *args]) == 3
    assert "second=" not in capsys.readouterr().out


def test_fields_named_not_in_key_do_not_change_the_cache_key():
    @dataclass(frozen=True)
    class RunConfig(ToyConfig):
        workers: int = 1
        NOT_IN_KEY: typing.ClassVar[tuple[str, ...]] = ("workers",)

    assert cache.key("toy.main", RunConfig(workers=1)) == cache.key("toy.main", RunConfig(workers=4))
    assert cache.key("toy.main", RunConfig(n=2)) != cache.key("toy.main", RunConfig(n=3))


def test_map_runs_keeps_call_order_reports_each_run_and_raises_a_failed_run():
    calls = [(1, 2), (3, 4), (5, 6), (7, 8)]
    for workers in (1, 2):
        seen = []
        assert map_runs(operator.mul, calls, workers, lambda i, r: seen.append((i, r))) == [2, 12, 30, 56]
        assert sorted(seen) == [(0, 2), (1, 12), (2, 30), (3, 56)]
        with pytest.raises(ZeroDivisionError):
            map_runs(operator.truediv, [(1, 1), (1, 0)], workers)
    with pytest.raises(ConfigError, match="workers"):
        map_runs(operator.mul, calls, 0)


_SWEEP_SCRIPT = """
import os, sys, time
from sims.engine import map_runs

def nap(i, folder):
    with open(os.path.join(folder, f"w{i}.tmp"), "w") as f:
        f.write(str(os.getpid()))
    os.replace(os.path.join(folder, f"w{i}.tmp"), os.path.join(folder, f"w{i}.pid"))
    time.sleep(300)

if __name__ == "__main__":
    map_runs(nap, [(i, sys.argv[1]) for i in range(4)], 2)
"""


def _started(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat) while it runs, None once it has ended or is a zombie:
    together with the pid it names one process, even if the pid is later reused (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()     # after "pid (comm) ": state is field 3, start time field 22
    return None if fields[0] == "Z" else fields[19]


@contextlib.contextmanager
def _sweep_with_two_workers(tmp_path, script: str, **popen):
    """Start `script` (a sweep over two workers that nap) in its own session and process group, which the workers
    join; yield the parent process and its workers' {pid: start time} once both workers run; kill the group on
    the way out."""
    (tmp_path / "sweep.py").write_text(script)
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    parent = subprocess.Popen([sys.executable, str(tmp_path / "sweep.py"), str(tmp_path)], env=env,
                              start_new_session=True, **popen)
    try:
        workers: dict[int, str | None] = {}
        deadline = time.monotonic() + 180
        while len(workers) < 2 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.2)
            workers = {int(f.read_text()): None for f in sorted(tmp_path.glob("w*.pid"))}
        workers = {pid: _started(pid) for pid in workers}
        assert len(workers) == 2 and all(workers.values()), "the two workers never started"
        yield parent, workers
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        parent.wait()


def _all_ended(workers: dict[int, str | None], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while any(_started(p) == t for p, t in workers.items()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not any(_started(p) == t for p, t in workers.items())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_map_runs_workers_end_when_their_parent_is_killed(tmp_path):
    """A sweep killed with SIGKILL (as a scheduler or the OOM killer does: no cleanup runs) must not leave its
    workers training on; each ends within a few seconds of losing its parent."""
    with _sweep_with_two_workers(tmp_path, _SWEEP_SCRIPT) as (parent, workers):
        parent.kill()
        parent.wait()
        assert _all_ended(workers, within_s=20)


_INTERRUPTED_SCRIPT = _SWEEP_SCRIPT.replace(
    "    map_runs(nap, [(i, sys.argv[1]) for i in range(4)], 2)",
    "    import signal\n"
    "    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal: a shell that started the\n"
    "    # tests in the background (nohup, &) passes SIGINT on as ignored, and Python then installs no handler\n"
    "    from sims.engine.cli import guarded\n"
    "    sys.exit(guarded(lambda: map_runs(nap, [(i, sys.argv[1]) for i in range(4)], 2) and 0))")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_ends_a_sweep_over_workers_at_once_with_exit_130_and_no_traceback(tmp_path):
    """Ctrl-C reaches the whole foreground process group: the command must end within seconds (its workers
    stopped, not left to finish runs of minutes), say so in one sentence and exit 130."""
    assert "guarded" in _INTERRUPTED_SCRIPT
    with _sweep_with_two_workers(tmp_path, _INTERRUPTED_SCRIPT, stderr=subprocess.PIPE, text=True) as (parent,
                                                                                                        workers):
        os.killpg(parent.pid, signal.SIGINT)                      # what a terminal's Ctrl-C does
        _, err = parent.communicate(timeout=30)
        assert parent.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
        assert _all_ended(workers, within_s=10)


def test_active_cache_is_set_only_inside_a_cached_run(tmp_path):
    seen = []

    def run(cfg):
        seen.append(cache.active())
        return toy_run(cfg)

    assert cache.active() is None
    cache.cached_run("toy.main", TOY.config("quick", seed=11), run, tmp_path, refresh=True)
    assert seen == [(tmp_path, True)] and cache.active() is None


def test_fit_loglog_recovers_a_power_law_and_skips_invalid_points():
    from sims.engine.curves import fit_loglog

    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 0.0, -1.0, np.nan])
    y = 3.0 * np.where(x > 0, x, 1.0) ** -1.5
    y[-3:] = [5.0, 5.0, 5.0]                       # paired with x <= 0 or NaN: must be dropped
    fit = fit_loglog(x, y)
    assert fit.points == 5
    assert fit.slope == pytest.approx(-1.5, abs=1e-12) and fit.intercept == pytest.approx(np.log(3.0))
    few = fit_loglog([1.0, 2.0, 0.0], [1.0, 2.0, 3.0], min_points=3)
    assert few.points == 2 and np.isnan(few.slope) and np.isnan(few.slope_low)


def test_training_steps_records_at_the_schedule_and_yields_each_update():
    from sims.engine.curves import training_steps

    recorded, updated = [], []
    for step in training_steps(np.array([0, 3, 7]), recorded.append, "test"):
        updated.append(step)
    assert recorded == [0, 3, 7]                    # every evaluation step, the final one included
    assert updated == list(range(7))                # one update between consecutive steps, none after the last
