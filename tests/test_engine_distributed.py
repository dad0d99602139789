"""The distributed-optimisation subsystem (sims.engine.distributed) on 2 real gloo processes and in one process.

The checks are Q4 of the QSR notes (section 1.7): (a) averaged parameters are bit-identical across ranks; (b) one
all-reduce per round of the schedule; (c) Local SGD with H = 1 equals data-parallel SGD (plain, momentum with
unaveraged buffers, coupled weight decay), because the update is linear; (d) the control: Local AdamW with H = 1
does not equal data-parallel AdamW (its moments are not averaged and the update is not linear).
"""
import pytest
import torch

from distributed_tasks import (OPTIMIZERS, STEPS, abort_in_rank_one, batch, fail_in_rank_one, loss_of, mlp,  # noqa: E402
                               scenarios)
from sims.engine.distributed import (LocalOptimizer, RankFailed, backend_for, flat_all_reduce_mean, free_port,
                                     init_from_env, spawn)
from sims.engine.errors import ConfigError

pytest.importorskip("torch.distributed")


def replay(h_of, steps):
    """Independent replay of a schedule: (round lengths started within `steps`, rounds completed)."""
    lengths, s = [], 0
    while s < steps:
        lengths.append(h_of(s))
        s += lengths[-1]
    return lengths, sum(1 for i in range(len(lengths)) if sum(lengths[:i + 1]) <= steps)


@pytest.fixture(scope="module")
def ranks():
    return spawn(scenarios, 2, None)


def test_spawn_returns_each_ranks_value_in_rank_order(ranks):
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world"] == 2 for r in ranks)


def test_flat_all_reduce_mean_is_one_call_and_the_exact_mean(ranks):
    for r in ranks:
        assert r["flat_calls"] == 1
        assert r["flat_values"] == [[[1.5] * 3] * 2, [5.0] * 4, [0.0, 1.5, 3.0]]


@pytest.mark.parametrize("name, steps, h_of", [("varying", 22, lambda s: 1 + s % 5),
                                               ("capped", STEPS, lambda s: min(6, STEPS - s))])
def test_all_reduces_follow_the_schedule_and_averaged_parameters_are_bit_identical(ranks, name, steps, h_of):
    lengths, completed = replay(h_of, steps)
    for r in (ranks[0][name], ranks[1][name]):
        # (b): one all-reduce per completed round, round lengths as the schedule says
        assert r["all_reduce_calls"] == r["rounds"] == completed
        assert r["round_lengths"] == lengths and r["step_count"] == steps and r["h"] == lengths[-1]
        ends = set(sum(lengths[:i + 1]) for i in range(len(lengths)))
        assert [a for a in r["averaged"]] == [s + 1 in ends for s in range(steps)]
        assert r["comm_seconds"] > 0
        # (a): zero spread right after each average; between averages the ranks' own data pulls them apart
        for averaged, d in zip(r["averaged"], r["spread"]):
            assert (d == 0.0) if averaged else (d > 1e-6)
    assert len(set(lengths)) > 1 or name == "capped"
    if name == "varying":
        assert ranks[0][name]["left"] > 0  # the last round is still open: started, not averaged
    else:
        assert lengths == [6, 6, 6, 2] and ranks[0][name]["left"] == 0  # the cap ends the run on an average


@pytest.mark.parametrize("opt", ["sgd", "sgdm", "sgdm_wd"])
def test_local_sgd_with_h1_equals_data_parallel_sgd(ranks, opt):
    for r in ranks:
        res = r[opt]
        assert res["local_vs_dp"] < 1e-6  # (c)
        assert res["local_spread"] == 0.0 and res["dp_spread"] == 0.0
        assert res["dp_calls"] == res["dp_rounds"] == STEPS and res["dp_returns"]
        if opt != "sgd":
            assert res["state_spread"] > 1e-4  # the momentum buffers stayed local and differ
    assert ranks[0][opt]["dp_vs_one_process"] < 1e-6  # 2 processes reproduce the one-process run


def test_local_adamw_with_h1_differs_from_data_parallel_adamw(ranks):
    res = ranks[0]["adamw"]
    assert res["local_vs_dp"] > 1e-4  # (d) the negative control
    assert res["dp_vs_one_process"] < 1e-6  # while data-parallel AdamW is centralised AdamW to rounding
    assert res["state_spread"] > 0


def _run_one_process(lo, model, steps):
    returned = []
    for s in range(steps):
        lo.zero_grad()
        loss_of(model, *batch(0, s)).backward()
        returned.append(lo.step())
    return returned


def test_one_process_without_a_group_counts_rounds_and_leaves_the_inner_optimizer_alone():
    assert not torch.distributed.is_initialized()
    model, ref = mlp(), mlp()
    lo = LocalOptimizer(model, OPTIMIZERS["sgdm"](model.parameters()), lambda s: 3)
    returned = _run_one_process(lo, model, 10)
    inner = OPTIMIZERS["sgdm"](ref.parameters())
    for s in range(10):
        inner.zero_grad()
        loss_of(ref, *batch(0, s)).backward()
        inner.step()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), ref.parameters()))
    assert returned == [s % 3 == 2 for s in range(10)]
    assert lo.rounds == 3 and lo.round_lengths == [3, 3, 3, 3] and lo.step_count == 10 and lo.h == 3
    dp_model = mlp()
    dp = LocalOptimizer(list(dp_model.parameters()), OPTIMIZERS["sgd"](dp_model.parameters()), None,
                        mode="data_parallel", time_comm=False)
    assert _run_one_process(dp, dp_model, 4) == [True] * 4
    assert dp.rounds == 4 and dp.round_lengths == [] and dp.comm_seconds == 0.0
    t = torch.arange(5.0)
    flat_all_reduce_mean([t])  # no group: untouched
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("h, needle", [(0, "h_of must return an integer H >= 1"), (2.5, "got 2.5"),
                                       (True, "got True"), ("3", "h_of must return")])
def test_bad_schedule_value_is_one_sentence_and_takes_no_step(h, needle):
    model = mlp()
    before = [p.clone() for p in model.parameters()]
    lo = LocalOptimizer(model, torch.optim.SGD(model.parameters(), lr=0.1), lambda s: h)
    loss_of(model, *batch(0, 0)).backward()
    with pytest.raises(ConfigError, match=needle):
        lo.step()
    assert lo.step_count == 0 and all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_bad_arguments_are_one_sentence_each():
    model = mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="mode must be 'local' or 'data_parallel'"):
        LocalOptimizer(model, sgd, lambda s: 1, mode="async")
    with pytest.raises(ConfigError, match="h_of must be a function"):
        LocalOptimizer(model, sgd, None)
    with pytest.raises(ConfigError, match="optimizer must be a torch.optim.Optimizer"):
        LocalOptimizer(model, "sgd", lambda s: 1)
    with pytest.raises(ConfigError, match="at least one parameter"):
        LocalOptimizer([], sgd, lambda s: 1)
    with pytest.raises(ConfigError, match="floating-point"):
        flat_all_reduce_mean([torch.arange(3)])
    with pytest.raises(ConfigError, match="module-level function"):
        spawn(lambda r, w, a: r, 2, None)
    with pytest.raises(ConfigError, match="world must be an integer >= 1"):
        spawn(fail_in_rank_one, 0, None)
    assert backend_for("cuda:1") == "nccl" and backend_for("cpu") == "gloo"
    with pytest.raises(ConfigError, match="device must be cpu or cuda"):
        backend_for("tpu")
    assert 0 < free_port() < 65536


def test_init_from_env_outside_torchrun_names_the_missing_variables(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError) as err:
        init_from_env(command="-m sims.qsr")
    msg = str(err.value)
    assert "WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set" in msg and "RANK," not in msg
    assert "torchrun --nproc-per-node K -m sims.qsr" in msg


@pytest.mark.parametrize("kind", ["value", "config"])
def test_an_error_in_one_rank_surfaces_in_the_parent_naming_the_rank(kind):
    if kind == "value":
        with pytest.raises(RankFailed, match="rank 1 of 2 raised ValueError: rank one broke on purpose") as err:
            spawn(fail_in_rank_one, 2, kind)
        assert err.value.rank == 1 and "fail_in_rank_one" in err.value.remote_traceback
    else:  # the package's own errors keep their class, so the command line still prints one sentence
        with pytest.raises(ConfigError, match=r"^rank 1 of 2: eta must be positive, got -1\.$"):
            spawn(fail_in_rank_one, 2, kind)


def test_a_rank_killed_by_a_signal_before_storing_is_rerun_once(tmp_path):
    """gloo has killed a rank with SIGABRT on a loaded machine: the run starts again once, with a warning, and
    returns the rerun's values; a rank that dies the same way twice is an error naming it and the signal."""
    with pytest.warns(RuntimeWarning, match=r"rank 1 of 2 died without raising an error \(process 1 terminated "
                                            r"with signal SIGABRT\)\. The run is started once more\."):
        values = spawn(abort_in_rank_one, 2, ("first", str(tmp_path / "marker")))
    assert values == [30, 31] and (tmp_path / "marker").exists()
    with pytest.warns(RuntimeWarning, match="started once more"):  # the first death; the second is raised
        with pytest.raises(RankFailed, match=r"^rank 1 of 2 died without raising an error \(process 1 terminated "
                                             r"with signal SIGABRT\)\.$") as err:
            spawn(abort_in_rank_one, 2, ("always", str(tmp_path / "unused")))
    assert err.value.rank == 1


def test_a_rank_that_dies_after_storing_its_value_does_not_stop_its_peers(tmp_path):
    """Rank 1 aborts after its value is stored while rank 0 still works: rank 0 is not stopped, both values come
    back, and a warning names the death. (Before, the first death stopped every other rank.)"""
    with pytest.warns(RuntimeWarning, match=r"rank 1 of 2 died after storing its value .*SIGABRT.*values are "
                                            r"complete"):
        values = spawn(abort_in_rank_one, 2, ("after", str(tmp_path / "unused")))
    assert values == [30, 31]
