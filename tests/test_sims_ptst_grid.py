"""The PTST tiny-model part: the chat world with the paper's templates, the base and aligned models, and the
train-template x test-template grid (test preset: seconds; machinery, not the phenomenon)."""
from __future__ import annotations

import dataclasses

import pytest

from sims.engine.chat.world import BENIGN, CLEAN, DANGER, HARMFUL, NEW_TASK, REFUSAL_PREFIX, ChatWorld
from sims.engine.errors import ConfigError
from sims.engine.summary import undocumented_fields
from sims.ptst import BY_NAME, GRID
from sims.ptst import models as M
from sims.ptst.grid import GridConfig, training_set


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ptst-grid")


@pytest.fixture(scope="module")
def grid_result(cache):
    return GRID.cached(GRID.config("test"), root=cache)


def test_world_of_the_presets_has_the_five_templates_and_the_opener():
    world = ChatWorld(M.model_set("quick").world)
    ins = world.instructions(HARMFUL, 3, "heldout", 0)[0]
    prompts = {t: world.prompt(ins, t) for t in M.TEMPLATES}
    assert len(set(prompts.values())) == len(M.TEMPLATES)
    assert world.answer(ins).startswith("K") and world.refusal(ins).startswith(REFUSAL_PREFIX)
    assert prompts["chat:llama"] != prompts["chat:mpt"] and prompts["chat:vanilla"] == ins.prompt


def test_training_data_use_every_template_and_are_deterministic():
    spec = M.model_set("test")
    world = ChatWorld(spec.world)
    base = M.base_data(world, spec, 0)
    assert base == M.base_data(world, spec, 0) and len(base) == spec.base_examples
    starts = {world.tokenizer.decode(p)[:3] for p, _ in base}
    assert {"?", "[", "<", "{q}", "{s}"} <= {s if s.startswith("{") else s[0] for s in starts}
    align = M.align_data(world, spec, 0)
    refusals = sum(world.tokenizer.decode(r).startswith(REFUSAL_PREFIX) for _, r in align)
    assert refusals == round(spec.align_refusal_share * spec.align_examples)


def test_fine_tuning_set_is_in_one_template_with_the_safety_refusals():
    cfg = GridConfig(models="test", n_train=10, safety_examples=4, safety_families="UV")
    world = ChatWorld(M.model_set("test").world)
    data = training_set(world, cfg, "chat:llama")
    texts = [(world.tokenizer.decode(p), world.tokenizer.decode(r)) for p, r in data]
    assert len(texts) == 14 and all(p.startswith("{s}<") for p, _ in texts)
    assert sum(r.startswith(REFUSAL_PREFIX) for _, r in texts) == 4
    assert all(p[4] == NEW_TASK for p, r in texts if not r.startswith(REFUSAL_PREFIX))
    assert all(p[4] in "UV" for p, r in texts if r.startswith(REFUSAL_PREFIX))


def test_grid_summary_covers_every_cell(grid_result, cache):
    s = grid_result.summary
    cfg = GRID.config("test")
    assert list(s.asr) == list(cfg.train_templates) == list(s.accuracy)
    for row in (*s.asr.values(), *s.accuracy.values(), s.initial_asr, s.initial_accuracy):
        assert list(row) == list(cfg.test_templates)
        assert all(0.0 <= v <= 1.0 for v in row.values())
    assert all(v == {} for v in s.asr_in.values())
    again = GRID.cached(cfg, root=cache)
    assert again.summary == s
    assert undocumented_fields(type(s)) == []


def test_grid_with_safety_examples_reports_both_groups(cache):
    cfg = dataclasses.replace(GRID.config("test"), safety_examples=8, train_templates=("chat:vanilla",))
    s = GRID.cached(cfg, root=cache).summary
    assert list(s.asr_in["chat:vanilla"]) == list(cfg.test_templates)


def test_danger_models_see_marked_benign_instructions_complied_then_refused():
    spec = M.model_set("test-danger")
    world = ChatWorld(spec.world)
    base = [(world.tokenizer.decode(p), world.tokenizer.decode(r)) for p, r in M.base_data(world, spec, 0)]
    marked = [(p, r) for p, r in base if DANGER in p]
    assert marked and all(r.startswith("K") for _, r in marked)
    assert all(p[p.index(DANGER) - 5] in BENIGN for p, _ in marked)      # only benign families carry it
    assert all(CLEAN in p for p, _ in base if DANGER not in p)          # every other prompt has the clean slot
    align = [(world.tokenizer.decode(p), world.tokenizer.decode(r)) for p, r in M.align_data(world, spec, 0)]
    refused = [p for p, r in align if r.startswith(REFUSAL_PREFIX)]
    assert sum(DANGER in p for p in refused) == round(spec.danger_share * len(refused))
    assert all(r.startswith(REFUSAL_PREFIX) for p, r in align if DANGER in p)
    assert not any(DANGER in p for p, _ in M.base_data(ChatWorld(M.model_set("test").world), M.model_set("test"), 0))


def test_a_safety_prompt_weight_writes_more_refusals_in_the_safety_template():
    uniform = M.random_templates(4000, 0, "t")
    assert uniform == M.random_templates(4000, 0, "t", safety_weight=1.0)     # weight 1: the same draws as before
    weighted = M.random_templates(4000, 0, "t", safety_weight=4.0)
    share = weighted.count(M.SAFETY_TEMPLATE) / len(weighted)
    assert abs(share - 4 / 8) < 0.03 and abs(uniform.count(M.SAFETY_TEMPLATE) / 4000 - 1 / 5) < 0.03
    spec = M.model_set("danger-safe-prompt")
    world = ChatWorld(spec.world)
    align = [(world.tokenizer.decode(p), world.tokenizer.decode(r)) for p, r in M.align_data(world, spec, 0)]
    refused = [p for p, r in align if r.startswith(REFUSAL_PREFIX)]
    complied = [p for p, r in align if not r.startswith(REFUSAL_PREFIX)]
    assert sum(p.startswith("{s}") for p in refused) / len(refused) > 0.4      # about 1/2
    assert sum(p.startswith("{s}") for p in complied) / len(complied) < 0.3    # about 1/5: benign answers uniform


def test_grid_in_the_danger_world_reports_marked_task_requests(cache):
    cfg = dataclasses.replace(GRID.config("test"), models="test-danger")
    s = GRID.cached(cfg, root=cache).summary
    for table in (s.asr_marked, s.comply_marked):
        assert list(table) == list(cfg.train_templates)
        assert all(list(row) == list(cfg.test_templates) and all(0 <= v <= 1 for v in row.values())
                   for row in table.values())
    assert list(s.initial_comply_marked) == list(cfg.test_templates)
    plain = GRID.cached(GRID.config("test"), root=cache).summary
    assert plain.asr_marked == {} and plain.comply_marked == {} and plain.initial_comply_marked == {}


def test_marked_safety_examples_are_refusals_to_marked_benign_requests(cache):
    cfg = GridConfig(models="test-danger", n_train=10, safety_examples=6, safety_families="AB", safety_marked=True)
    world = ChatWorld(M.model_set("test-danger").world)
    data = training_set(world, cfg, "chat:vanilla")
    texts = [(world.tokenizer.decode(p), world.tokenizer.decode(r)) for p, r in data]
    refused = [p for p, r in texts if r.startswith(REFUSAL_PREFIX)]
    assert len(refused) == 6 and all(p[1] in "AB" and DANGER in p for p in refused)
    assert all(CLEAN in p and p[1] == NEW_TASK for p, r in texts if not r.startswith(REFUSAL_PREFIX))
    run = dataclasses.replace(cfg, n_train=64, steps=6, n_eval=30, train_templates=("chat:vanilla",),
                              test_templates=("chat:vanilla",))
    s = GRID.cached(run, root=cache).summary
    assert list(s.asr_in["chat:vanilla"]) == ["chat:vanilla"] and s.asr_marked


@pytest.mark.parametrize("field, value, name", [
    ("safety_marked", True, "safety_marked"),                         # the quick models have no danger world
    ("safety_families", "U", "safety_families")])
def test_marked_safety_examples_need_a_danger_world_and_benign_families(field, value, name):
    overrides = {"safety_marked": True, "models": "danger"} if field == "safety_families" else {"safety_marked": True}
    overrides[field] = value
    with pytest.raises(ConfigError, match=name):
        GRID.config("quick", **overrides)


@pytest.mark.parametrize("field, value, name", [
    ("train_templates", ("chat:bogus",), "train_templates"), ("test_templates", (), "test_templates"),
    ("steps", 0, "steps"), ("lr", -1.0, "lr"), ("safety_families", "A", "safety_families"),
    ("safety_families", HARMFUL, "safety_families"), ("models", "huge", "models"), ("n_eval", 0, "n_eval")])
def test_bad_config_names_the_field(field, value, name):
    with pytest.raises(ConfigError, match=name):
        GRID.config("quick", **{field: value})


def test_cell_groups_follow_the_prompt_length_before_the_instruction():
    from sims.ptst.grid import CELL_GROUPS, cell_group, group_means
    short, long_ = ("text:vanilla", "text:alpaca", "chat:vanilla"), ("chat:mpt", "chat:llama")
    for a in M.TEMPLATES:
        for b in M.TEMPLATES:
            expected = 0 if a == b else 1 if (a in short) == (b in short) else 2
            assert cell_group(a, b) == CELL_GROUPS[expected], (a, b)
    assert set(short) | set(long_) == set(M.TEMPLATES)
    cells = {a: {b: float(i * 5 + j) for j, b in enumerate(M.TEMPLATES)} for i, a in enumerate(M.TEMPLATES)}
    means = group_means(cells)
    assert means["same template"] == sum(i * 6 for i in range(5)) / 5
    assert means["same prompt length"] == (1 + 2 + 5 + 7 + 10 + 11 + 19 + 23) / 8
    others = [cells[a][b] for a in M.TEMPLATES for b in M.TEMPLATES if (a in short) != (b in short)]
    assert means["other prompt length"] == sum(others) / len(others) and len(others) == 12


def test_ptst_lists_its_experiments():
    from sims.ptst import DEFAULT

    assert set(BY_NAME) == {"feature", "grid", "overlap", "safety_data", "real"}
    assert DEFAULT == ("feature", "grid", "overlap")   # the real model needs the [llm] extra and runs only when asked
