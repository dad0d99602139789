"""RaPTr's subnetwork machinery (sims/raptr/subnet.py): schedules draw active sets of the stage's size that always
hold the fixed blocks; the block runner equals the plain stack when every block is active, skips inactive blocks
as identities, scales active branches by 1/pi, and counts the blocks it ran."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sims.engine.errors import ConfigError
from sims.engine.nets import CausalTransformer
from sims.raptr.subnet import BlockRunner, Schedule, full, progressive

torch.set_num_threads(1)


def test_the_paper_schedule_has_the_stated_stages_and_flops_ratio():
    s = progressive(12, (6, 8, 10, 12), 100, fixed=(0, 11))
    s.validate()
    assert s.stages == ((25, 6), (25, 8), (25, 10), (25, 12)) and s.boundaries() == [25, 50, 75]
    assert s.expected_active() / 12 == pytest.approx(0.75)
    assert [s.inclusion(i) for i in range(4)] == pytest.approx([0.4, 0.6, 0.8, 1.0])
    assert [s.stage_of(t) for t in (0, 24, 25, 99, 500)] == [0, 0, 1, 3, 3]
    assert progressive(4, (2, 4), 5).stages == ((3, 2), (2, 4))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.data())
def test_subset_draws_have_the_stage_size_and_hold_the_fixed_blocks(n, data):
    fixed = tuple(sorted(data.draw(st.sets(st.integers(0, n - 1), max_size=min(2, n - 1)))))
    size = data.draw(st.integers(max(1, len(fixed)), n))
    s = Schedule(n, ((3, size),), fixed)
    s.validate()
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 1000)))
    for step in range(3):
        mask = s.sample(step, gen)
        assert int(mask.sum()) == size and all(bool(mask[i]) for i in fixed)


def test_subset_draws_are_uniform_over_the_free_blocks():
    s = Schedule(6, ((1, 3),), fixed=(0,))
    gen = torch.Generator().manual_seed(0)
    counts = torch.stack([s.sample(0, gen) for _ in range(4000)]).float().mean(0)
    assert counts[0] == 1.0
    assert torch.allclose(counts[1:], torch.full((5,), 2 / 5), atol=0.03)  # 4000 draws: SD about 0.008


def test_bernoulli_draws_have_the_stage_size_on_average():
    s = progressive(10, (4.5,), 10, fixed=(0, 9), mode="bernoulli")
    gen = torch.Generator().manual_seed(1)
    mean = torch.stack([s.sample(0, gen) for _ in range(4000)]).sum(1).float().mean()
    assert float(mean) == pytest.approx(4.5, abs=0.05)  # SD of the mean about 0.02


@pytest.mark.parametrize("kwargs, says", [
    (dict(n_layers=4, stages=((5, 5),)), "active blocks"), (dict(n_layers=4, stages=((5, 2),), fixed=(0, 4)), "fixed"),
    (dict(n_layers=4, stages=((0, 2),)), "stages' steps"), (dict(n_layers=4, stages=((5, 2.5),)), "whole number"),
    (dict(n_layers=4, stages=()), "stages"), (dict(n_layers=4, stages=((5, 2),), mode="x"), "mode"),
    (dict(n_layers=4, stages=((5, 1),), fixed=(0, 3)), "active blocks")])
def test_bad_schedules_are_named(kwargs, says):
    with pytest.raises(ConfigError, match=says):
        Schedule(**kwargs).validate()


def _blocks(n: int = 4) -> torch.nn.ModuleList:
    torch.manual_seed(0)
    return CausalTransformer(10, 16, n, 2, 8).blocks


def test_all_active_blocks_equal_the_plain_stack_and_are_counted():
    blocks = _blocks()
    h = torch.randn(2, 5, 16)
    runner = BlockRunner(blocks)
    expected = h
    for b in blocks:
        expected = b(expected)
    assert torch.equal(runner(h), expected)
    assert runner.executed == 4
    assert torch.equal(runner(h, torch.ones(4, dtype=torch.bool), inclusion=1.0), expected)
    assert runner.executed == 8


def test_inactive_blocks_are_identities_and_active_branches_are_scaled():
    blocks = _blocks()
    h = torch.randn(2, 5, 16)
    mask = torch.tensor([True, False, True, False])
    plain = BlockRunner(blocks, scale="none")(h, mask, inclusion=0.5)
    assert torch.allclose(plain, blocks[2](blocks[0](h)))
    scaled = BlockRunner(blocks, scale="inverse")(h, mask, inclusion=0.5, fixed=(0,))
    after0 = blocks[0](h)  # a fixed block is never scaled
    assert torch.allclose(scaled, after0 + 2.0 * (blocks[2](after0) - after0), atol=1e-6)
    # a stage where only the fixed blocks run has inclusion 0 for the others: nothing to scale, no division
    only_fixed = BlockRunner(blocks, scale="inverse")(h, torch.tensor([True, False, False, False]), 0.0, (0,))
    assert torch.allclose(only_fixed, blocks[0](h))
    with pytest.raises(ConfigError, match="inclusion"):
        BlockRunner(blocks)(h, torch.tensor([True, False, True, True]), inclusion=1.5)
    with pytest.raises(ConfigError, match="scale"):
        BlockRunner(blocks, scale="sqrt")


def test_full_training_is_one_stage_of_every_block():
    s = full(8, 30)
    assert s.stages == ((30, 8),) and s.expected_active() == 8 and s.inclusion(0) == 1.0
    assert bool(s.sample(0, torch.Generator()).all())
