"""The PTST overlap knob on tiny models (`sims.ptst.overlap`): the knob's test prompts, the round-robin
measurement, the slope, the system-prompt models' training data, and a run at the test preset (seconds;
machinery, not the phenomenon: the test preset's one-layer models comply with everything)."""
from __future__ import annotations

import numpy as np
import pytest

from sims.engine.chat.world import SYSTEM, SYSTEM_CHARS, ChatWorld, Instruction
from sims.engine.errors import ConfigError
from sims.engine.summary import undocumented_fields
from sims.ptst import GRID, OVERLAP
from sims.ptst import models as M
from sims.ptst.overlap import CURVES, MEASURES, dealt, knob_prompts, shared_positions, slope


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return OVERLAP.cached(OVERLAP.config("test"), root=tmp_path_factory.mktemp("ptst-overlap"))


@pytest.mark.parametrize("keep", [0, 1, 2, 3])
def test_knob_prompts_share_exactly_keep_positions_with_the_training_prompt(keep):
    train = "sys:#%&*"
    prompts = knob_prompts(train, keep, 50, 0)
    assert len(prompts) == 50 and prompts == knob_prompts(train, keep, 50, 0)
    assert all(shared_positions(p, train) == keep for p in prompts)
    assert all(len(p) == len(train) and set(p[len(SYSTEM):]) <= set(SYSTEM_CHARS) for p in prompts)
    if 0 < keep < 4:   # the kept positions vary between variants
        kept = {tuple(i for i in range(4) if p[len(SYSTEM) + i] == train[len(SYSTEM) + i]) for p in prompts}
        assert len(kept) > 1


def test_full_overlap_is_the_training_prompt_itself():
    assert knob_prompts("sys:~~^#", 4, 8, 1) == ["sys:~~^#"]
    with pytest.raises(ConfigError, match="variants"):
        knob_prompts("sys:~~^#", 4, 0, 1)


@pytest.mark.parametrize("args, match", [(("#%&*", 1, 2, 0), "train_prompt"), (("sys:#%&*", 5, 2, 0), "keep"),
                                         (("sys:#%&*", -1, 2, 0), "keep"), (("sys:#%&*", 1, 0, 0), "variants")])
def test_bad_knob_arguments_name_the_parameter(args, match):
    with pytest.raises(ConfigError, match=match):
        knob_prompts(*args)


def test_shared_positions_counts_agreeing_symbols():
    assert shared_positions("sys:#%&*", "sys:#%&*") == 4
    assert shared_positions("sys:#%&*", "sys:*&%#") == 0
    assert shared_positions("sys:#%&*", "sys:#~&~") == 2
    with pytest.raises(ConfigError, match="one length"):
        shared_positions("sys:#%&*", "sys:#%&")


def test_dealt_weights_each_prompt_by_its_share_of_the_instructions():
    ins = [Instruction("G", "abc" + c) for c in "abcdefg"]           # 7 instructions, 3 prompts: 3, 2, 2
    seen = []

    def measure(part, prompt, v):
        seen.append((prompt, v, [i.args[-1] for i in part]))
        return {"x": 1.0, "y": 0.0, "z": 0.5}[prompt]

    assert dealt(measure, ins, ["x", "y", "z"]) == pytest.approx((3 * 1.0 + 2 * 0.0 + 2 * 0.5) / 7)
    assert seen == [("x", 0, ["a", "d", "g"]), ("y", 1, ["b", "e"]), ("z", 2, ["c", "f"])]


def test_slope_is_the_least_squares_rise_over_the_knob():
    rho = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert slope(rho, [0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(0.4)
    assert slope(rho, [0.3] * 5) == pytest.approx(0.0, abs=1e-12)
    assert slope(rho, [0.0, 0.0, 0.0, 0.0, 1.0]) == pytest.approx(np.polyfit(rho, [0, 0, 0, 0, 1], 1)[0])
    with pytest.raises(ConfigError, match="overlaps"):
        slope([0.0, 1.0], [0.1])
    with pytest.raises(ConfigError, match="overlaps"):
        slope([0.5, 0.5], [0.1, 0.2])


def test_system_prompt_models_train_under_random_system_prompts():
    spec = M.model_set("test-overlap")
    world = ChatWorld(spec.world)
    for data in (M.base_data(world, spec, 0), M.align_data(world, spec, 0)):
        prompts = [world.tokenizer.decode(p) for p, _ in data]
        assert all(set(p[:4]) <= set(SYSTEM_CHARS) and p[4] == "<" for p in prompts)
        assert len({p[:4] for p in prompts}) > 0.5 * min(len(prompts), 8 ** 4)
    assert M.base_data(world, spec, 0) == M.base_data(world, spec, 0)


def test_overlap_summary_covers_every_curve_and_level(result):
    s = result.summary
    assert s.overlaps == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert s.test_prompts[-1] == [s.train_prompt] and all(len(p) == 2 for p in s.test_prompts[:-1])
    for k, prompts in enumerate(s.test_prompts):
        assert all(shared_positions(p, s.train_prompt) == k for p in prompts)
    for key in MEASURES:
        curves = getattr(s, key)
        assert set(curves) == set(CURVES)
        assert all(len(v) == 5 and all(0.0 <= x <= 1.0 for x in v) for v in curves.values())
    assert not undocumented_fields(type(s))
    assert "slope" in OVERLAP.summarize(result)


def test_overlap_is_deterministic(result):
    again = OVERLAP.run(OVERLAP.config("test"))
    assert again.summary == result.summary


@pytest.mark.parametrize("field, value, name", [("models", "quick", "models"), ("models", "danger", "models"),
                                                ("variants", 0, "variants"), ("n_eval", 1, "n_eval"),
                                                ("steps", 0, "steps"), ("lr", 0.0, "lr")])
def test_bad_overlap_config_names_the_field(field, value, name):
    with pytest.raises(ConfigError, match=name):
        OVERLAP.config("quick", **{field: value})


def test_the_grid_refuses_the_system_prompt_models():
    with pytest.raises(ConfigError, match="models"):
        GRID.config("quick", models="overlap")
