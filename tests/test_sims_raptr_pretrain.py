"""RaPTr pretraining of a char-level LM (sims/raptr/pretrain.py): the runner-based forward is the Transformer's own
when every block runs, executed blocks match the schedules exactly, stacking copies the top blocks, the FLOPs
count matches the weights it multiplies by, runs are deterministic and every method's numbers are independent of
which other methods ran, bad configs are refused, and the test preset gives finite, consistent numbers."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from sims.engine.errors import ConfigError, DivergenceError
from sims.engine.nets import CausalTransformer
from sims.engine.summary import undocumented_fields
from sims.engine.torch_layer import seeded
from sims.raptr import pretrain as P
from sims.raptr.subnet import BlockRunner

torch.set_num_threads(1)


def _net(n_layers: int = 8) -> CausalTransformer:
    with seeded(3, "test-net"):
        net = CausalTransformer(11, 16, n_layers, 2, 12)
        for p in net.parameters():  # move away from the zero biases of the initialisation
            p.data.add_(0.05 * torch.randn_like(p))
    return net


@pytest.fixture(scope="module")
def result():
    return P.run_pretrain(P.TEST)


def test_runner_forward_equals_the_transformer_when_every_block_runs():
    net = _net()
    x = torch.randint(0, 11, (3, 12), generator=torch.Generator().manual_seed(0))
    runner = BlockRunner(net.blocks, "inverse")
    ref = net(x)
    assert torch.equal(P.masked_forward(net, runner, x), ref)
    assert torch.equal(P.masked_forward(net, runner, x, torch.ones(8, dtype=torch.bool), 1.0, (0, 7)), ref)
    assert runner.executed == 16


def test_masked_forward_skips_blocks_as_identities():
    net = _net()
    x = torch.randint(0, 11, (2, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([True, False, True, True, False, True, True, True])
    runner = BlockRunner(net.blocks, "none")
    h = net.tok(x) + net.pos(torch.arange(12))
    for i in range(8):
        if mask[i]:
            h = net.blocks[i](h)
    assert torch.equal(P.masked_forward(net, runner, x, mask), net.head(net.ln_f(h)))
    assert not torch.allclose(P.masked_forward(net, runner, x, mask), net(x))
    assert runner.executed == 12


def test_grow_copies_the_top_blocks_into_new_tensors():
    net = _net()
    before = [{k: v.clone() for k, v in b.state_dict().items()} for b in net.blocks]
    P.grow(net.blocks, 4, 6)
    after = [b.state_dict() for b in net.blocks]
    for new, src in ((4, 2), (5, 3)):
        assert all(torch.equal(after[new][k], before[src][k]) for k in before[src])
        assert not torch.equal(after[new]["mlp.0.weight"], before[new]["mlp.0.weight"])
    for i in (0, 1, 2, 3, 6, 7):
        assert all(torch.equal(after[i][k], before[i][k]) for k in before[i])
    net.blocks[2].mlp[0].weight.data.add_(1.0)  # a copy, not a shared tensor
    assert not torch.equal(net.blocks[4].mlp[0].weight, net.blocks[2].mlp[0].weight)
    P.grow(net.blocks, 6, 8)
    assert torch.equal(net.blocks[6].attn.qkv.weight, net.blocks[4].attn.qkv.weight)
    assert torch.equal(net.blocks[7].ln2.bias, net.blocks[5].ln2.bias)
    for depth, new in ((4, 9), (2, 8), (4, 4)):
        with pytest.raises(ConfigError):
            P.grow(net.blocks, depth, new)


def test_flops_per_token_are_twice_the_weights_multiplied():
    net = CausalTransformer(37, 24, 2, 3, 10)
    block = net.blocks[0]
    weights = sum(m.weight.numel() for m in block.modules() if isinstance(m, torch.nn.Linear))
    assert P.block_flops(24, 10) == 2 * weights + 4 * 10 * 24
    assert P.head_flops(24, 37) == 2 * net.head.weight.numel()
    cfg = P.TEST
    assert P.training_flops(5, 2, cfg, 37) == 3 * cfg.batch_size * cfg.seq_len * (
        5 * P.block_flops(cfg.d_model, cfg.seq_len) + 2 * P.head_flops(cfg.d_model, 37))


def test_executed_blocks_equal_the_schedules_expectation_exactly(result):
    cfg = P.TEST
    for m in ("baseline", "raptr", "raptr_noscale", "raptr_nofixed", "pld", "stacking"):
        schedule = P.method_plan(m, cfg.n_layers, cfg.steps).schedule
        expected = sum(steps * int(active) for steps, active in schedule.stages)
        assert expected == schedule.expected_active() * cfg.steps
        assert result.summary.methods[m].executed_blocks == expected
        assert result.arrays[f"{m}.blocks"][-1] == expected
    assert result.summary.methods["raptr"].relative_blocks == 0.75
    assert result.summary.methods["baseline"].executed_blocks == cfg.n_layers * cfg.steps


def test_method_plans_follow_the_brief():
    plans = {m: P.method_plan(m, 8, 30) for m in P.METHODS}
    assert plans["raptr"].schedule.stages == ((10, 4), (10, 6), (10, 8)) and plans["raptr"].schedule.fixed == (0, 7)
    assert plans["raptr"].scale == "inverse" and plans["raptr_noscale"].scale == "none"
    assert plans["raptr_nofixed"].schedule.fixed == () and plans["raptr_nofixed"].scale == "inverse"
    assert [a for _, a in plans["pld"].schedule.stages] == [8, 6, 4]
    assert plans["stacking"].stacking
    assert plans["stacking"].mask(15, torch.Generator()).tolist() == [True] * 6 + [False] * 2
    assert plans["baseline"].schedule.stages == ((30, 8),)


def test_test_preset_gives_finite_consistent_numbers(result):
    s, a = result.summary, result.arrays
    assert undocumented_fields(P.PretrainSummary) == []
    for m in P.METHODS:
        assert np.isfinite(a[f"{m}.val_loss"]).all() and np.all(np.diff(a[f"{m}.flops"]) > 0)
        ms = s.methods[m]
        assert ms.final_loss == a[f"{m}.val_loss"][-1] and not math.isnan(ms.reach_relative)
        assert ms.relative_flops == pytest.approx(a[f"{m}.flops"][-1] / a["baseline.flops"][-1], rel=1e-12)
        for t in ms.transitions:
            assert t.jump == t.full_at - t.sub_before and t.full_change == t.full_after - t.full_before
            assert m == "stacking" or t.full_before == t.full_at
    assert s.methods["baseline"].transitions == [] and len(s.methods["raptr"].transitions) == 2
    assert [t.step for t in s.methods["pld"].transitions] == [4, 8] == a["boundaries"].tolist()
    assert 0.75 < s.methods["raptr"].relative_flops < 1.0  # the head always runs
    assert s.raptr_final_gap == s.methods["raptr"].final_loss - s.baseline_final
    assert s.raptr_reached == math.isfinite(s.raptr_reach_relative)
    assert s.methods["baseline"].reach_relative <= 1.0
    assert type(s).from_json(s.to_json()).to_json() == s.to_json()


def test_runs_are_deterministic_and_methods_independent(result):
    cfg = dataclasses.replace(P.TEST, methods=("raptr", "baseline"))
    again = P.run_pretrain(cfg)
    for m in ("baseline", "raptr"):
        for name in ("val_loss", "flops", "blocks"):
            assert np.array_equal(again.arrays[f"{m}.{name}"], result.arrays[f"{m}.{name}"])
        first, second = result.summary.methods[m], again.summary.methods[m]
        assert dataclasses.replace(first, seconds=0.0).to_json() == dataclasses.replace(second, seconds=0.0).to_json()
    other = P.run_pretrain(dataclasses.replace(cfg, seed=1))
    assert not np.array_equal(other.arrays["raptr.val_loss"], result.arrays["raptr.val_loss"])


def test_pld_first_stage_is_the_full_model_so_its_curve_equals_the_baseline(result):
    a, first = result.arrays, int(result.arrays["boundaries"][0])
    upto = a["step"] <= first
    assert np.array_equal(a["pld.val_loss"][upto], a["baseline.val_loss"][upto])
    assert not np.array_equal(a["raptr.val_loss"][upto], a["baseline.val_loss"][upto])


def test_a_diverging_run_is_reported():
    cfg = dataclasses.replace(P.TEST, lr=1e3, grad_clip=1e30, methods=("baseline", "raptr"))
    with pytest.raises(DivergenceError, match="baseline training loss"):
        P.run_pretrain(cfg)


def test_reach_is_interpolated_and_inf_when_never_reached():
    flops, loss = np.array([0.0, 10.0, 20.0]), np.array([3.0, 2.0, 1.0])
    assert P.reach_relative(flops, loss, 1.5, 20.0) == pytest.approx(0.75)
    assert P.reach_relative(flops, loss, 0.5, 20.0) == math.inf


@pytest.mark.parametrize("field,value", [("n_layers", 4), ("n_layers", 10), ("n_heads", 3), ("steps", 5),
                                         ("settle_steps", 4), ("evals", 13), ("lr", -1.0), ("mask_draws", 0),
                                         ("methods", ("raptr",)), ("methods", ("baseline", "raptr", "dropout")),
                                         ("methods", ("baseline", "raptr", "raptr")), ("corpus", "wiki"),
                                         ("device", "tpu"), ("seed", -1), ("val_fraction", 1.0)])
def test_bad_values_are_refused_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=field if field != "methods" else "method"):
        P.PRETRAIN.config("test", **{field: value})


def test_presets_validate_and_the_experiment_id():
    assert P.PRETRAIN.id == "raptr.pretrain"
    for cfg in P.PRETRAIN.presets.values():
        cfg.validate()
    assert set(P.PRETRAIN.presets) == {"quick", "paper", "test"}
