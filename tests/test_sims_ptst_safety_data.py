"""The PTST safety-data sweep (`sims.ptst.safety_data`): its training sets, the summary's shape, determinism and
config errors, at the test preset (seconds; machinery, not the phenomenon)."""
from __future__ import annotations

import pytest

from sims.engine.chat.world import DANGER, REFUSAL_PREFIX, ChatWorld
from sims.engine.errors import ConfigError
from sims.engine.summary import undocumented_fields
from sims.ptst import SAFETY_DATA
from sims.ptst import models as M
from sims.ptst.grid import PTST, training_set
from sims.ptst.safety_data import KINDS, MEASURES, _grid_config


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return SAFETY_DATA.cached(SAFETY_DATA.config("test"), root=tmp_path_factory.mktemp("ptst-safety-data"))


@pytest.mark.parametrize("kind, first, marked", [("harmful", "U", False), ("other_harmful", "V", False),
                                                 ("task_format", "A", True)])
def test_each_dose_mixes_that_many_refusals_of_its_kind_into_the_grid_data(kind, first, marked):
    cfg = SAFETY_DATA.config("test", doses=(0, 3, 8))
    world = ChatWorld(M.model_set(cfg.models).world)
    for dose in cfg.doses:
        data = training_set(world, _grid_config(cfg, kind, dose), PTST[0])
        texts = [(world.tokenizer.decode(p), world.tokenizer.decode(r)) for p, r in data]
        refusals = [p for p, r in texts if r.startswith(REFUSAL_PREFIX)]
        assert len(texts) == cfg.n_train + dose and len(refusals) == dose
        assert all(p[1] == first and (p[-2] == DANGER) == marked for p in refusals)
        assert all(p.startswith("<") for p, _ in texts)                          # all under chat:vanilla


def test_summary_covers_every_kind_template_and_dose(result):
    s = result.summary
    assert s.doses == [0, 4]
    for key in MEASURES:
        table = getattr(s, key)
        assert set(table) == set(KINDS)
        assert all(set(row) == set(PTST) and all(len(v) == 2 and all(0 <= x <= 1 for x in v) for v in row.values())
                   for row in table.values())
    # dose 0 is one fine-tuning for every kind: every measure but the kind's own safety distribution agrees
    for key in ("asr_marked", "comply_marked", "asr_other", "accuracy"):
        for t in PTST:
            assert len({getattr(s, key)[kind][t][0] for kind in KINDS}) == 1
    assert set(s.initial) == {"asr_safety_U", "asr_safety_V", "asr_safety_A", "asr_marked", "comply_marked",
                              "asr_other", "accuracy"}
    assert not undocumented_fields(type(s))
    assert "dose 4" in SAFETY_DATA.summarize(result)


def test_safety_data_is_deterministic(result):
    assert SAFETY_DATA.run(SAFETY_DATA.config("test")).summary == result.summary


@pytest.mark.parametrize("field, value, name", [("models", "quick", "models"), ("models", "overlap", "models"),
                                                ("doses", (), "doses"), ("doses", (4, 0), "doses"),
                                                ("doses", (0, 0), "doses"), ("doses", (-2,), "doses"),
                                                ("steps", 0, "steps"), ("n_eval", 0, "n_eval")])
def test_bad_safety_data_config_names_the_field(field, value, name):
    with pytest.raises(ConfigError, match=name):
        SAFETY_DATA.config("quick", **{field: value})


def test_the_paper_preset_uses_a_danger_world():
    assert M.model_set(SAFETY_DATA.presets["paper"].models).world.danger
    SAFETY_DATA.presets["paper"].validate()
