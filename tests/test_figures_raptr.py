"""The RaPTr figures draw from the test presets' results (one file each, not empty)."""
from __future__ import annotations

import pytest

from figures.raptr import draw_result
from sims.raptr import BY_NAME


@pytest.mark.parametrize("name, file", [("stability", "raptr_stability.png"), ("staircase", "raptr_staircase.png"),
                                        ("pretrain", "raptr_pretrain.png")])
def test_each_figure_draws_from_its_test_result(name, file, tmp_path):
    exp = BY_NAME[name]
    paths = draw_result(name, exp.cached(exp.config("test"), root=tmp_path / "cache"), tmp_path)
    assert [p.name for p in paths] == [file] and paths[0].stat().st_size > 10_000


def test_an_unknown_experiment_is_named():
    with pytest.raises(ValueError, match="nosuch"):
        draw_result("nosuch", None, ".")
