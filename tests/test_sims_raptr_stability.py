"""Tests of sims.raptr.stability: the one-layer-removal gap against depth (RaPTr Lemma 1, notes sec. 3.5)."""
import math

import numpy as np
import pytest
import torch

from sims.engine.curves import fit_loglog
from sims.engine.errors import ConfigError
from sims.engine.summary import undocumented_fields
from sims.engine.torch_layer import generator
from sims.raptr import stability as st
from sims.raptr.stability import STABILITY, StabilitySummary


def _np_layer_norm(h: np.ndarray) -> np.ndarray:
    c = h - h.mean(-1, keepdims=True)
    return c / np.sqrt((c ** 2).mean(-1, keepdims=True) + 1e-5)


@pytest.fixture(scope="module")
def test_result():
    return STABILITY.run(STABILITY.config("test"))


@pytest.mark.parametrize("variant", ["preln_scaled", "preln", "no_ln"])
@pytest.mark.parametrize("branch", ["linear", "mlp"])
def test_zero_branch_gives_zero_gap(variant, branch):
    # removing a block whose branch is exactly zero leaves the residual stream unchanged, bit for bit
    weights = st.init_branches(3, 5, 16, branch, generator(1, "w"), torch.float64)
    weights[-1][:, 2] = 0.0  # the output matrix of block 2's branch
    x = torch.randn(3, 7, 16, generator=generator(1, "x"), dtype=torch.float64)
    gaps = st.drop_gaps(variant, weights, x)
    assert gaps.shape == (3, 5)
    assert torch.all(gaps[:, 2] == 0.0)
    assert torch.all(gaps[:, [0, 1, 3, 4]] > 1e-3)


def test_one_layer_plain_stack_matches_numpy():
    # F = LN(W LN(x)) and F_{-1} = LN(x): the gap computed independently in numpy
    w = st.init_branches(2, 1, 12, "linear", generator(2, "w"), torch.float64)
    x = torch.randn(2, 5, 12, generator=generator(2, "x"), dtype=torch.float64) * 3.0
    gaps = st.drop_gaps("no_residual", w, x).numpy()
    W, X = w[0][:, 0].numpy(), x.numpy()
    full = _np_layer_norm(np.einsum("bij,bnj->bni", W, _np_layer_norm(X)))
    dropped = _np_layer_norm(X)
    expected = np.linalg.norm(full - dropped, axis=-1).mean(-1) / math.sqrt(12)
    np.testing.assert_allclose(gaps[:, 0], expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("variant", st.VARIANTS)
def test_batched_drop_matches_separate_networks(variant):
    # the batched L + 1 copies against each network with block l left out, run one at a time
    depth, width = 4, 10
    weights = st.init_branches(2, depth, width, "mlp", generator(3, "w"), torch.float64)
    x = torch.randn(2, 6, width, generator=generator(3, "x"), dtype=torch.float64)
    layers = st.per_layer(weights)

    def run(skip):
        h = x
        for i, mats in enumerate(layers):
            if i != skip:
                h = st.block(variant, h, mats, depth)
        return st.output_norm(h)

    full = run(None)
    assert torch.allclose(full, st.network(variant, x, layers), rtol=0, atol=1e-12)
    expected = torch.stack([(run(l) - full).norm(dim=-1).mean(-1) for l in range(depth)], 1) / math.sqrt(width)
    assert torch.allclose(st.drop_gaps(variant, weights, x), expected, rtol=0, atol=1e-12)


def test_output_norm_equals_layer_norm_and_survives_huge_values():
    h = torch.randn(4, 9, dtype=torch.float64, generator=generator(4, "h")) * 5.0
    assert torch.allclose(st.output_norm(h), torch.from_numpy(_np_layer_norm(h.numpy())), rtol=0, atol=1e-12)
    big = torch.randn(3, 16, generator=generator(4, "big")) * 1e30  # float32: the variance would overflow
    out = st.output_norm(big)
    assert torch.isfinite(out).all()
    assert torch.allclose(out.pow(2).mean(-1), torch.ones(3), atol=1e-4)


def test_training_reduces_the_loss():
    cfg = STABILITY.config("test", width=16, train_steps=150, lr=3e-3, batch=64)
    weights = st.init_branches(2, 2, 16, "linear", generator(5, "w"))
    a = st.teacher(16, generator(5, "a"))
    trained, loss = st.train("preln", weights, a, cfg, generator(5, "b"))
    assert trained[0].shape == weights[0].shape and not torch.equal(trained[0], weights[0])
    assert loss.shape == (2,)
    assert np.all(loss < 1.5)  # the target's variance is 2; its linear part (variance 1) is easy to learn


def test_deterministic(test_result):
    again = STABILITY.run(STABILITY.config("test"))
    assert test_result.arrays.keys() == again.arrays.keys()
    for key, value in test_result.arrays.items():
        assert np.array_equal(value, again.arrays[key]), key
    assert test_result.summary == again.summary
    other = STABILITY.run(STABILITY.config("test", seed=1))
    assert not np.array_equal(other.arrays["preln/gaps_init"], test_result.arrays["preln/gaps_init"])


@pytest.mark.parametrize("field, value", [
    ("variants", ("preln", "nope")), ("variants", ("preln", "preln")), ("variants", ()),
    ("depths", (4,)), ("depths", (4, 4)), ("depths", (0, 4)), ("width", 1), ("branch", "conv"),
    ("draws", 0), ("inputs", 0), ("train_steps", 0), ("batch", 0), ("lr", -1.0), ("lr", float("nan")),
    ("dtype", "half"), ("device", "tpu"),
])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        STABILITY.config("test", **{field: value})


def test_no_ln_deep_float32_is_refused():
    with pytest.raises(ConfigError, match="depths"):
        STABILITY.config("test", variants=("no_ln",), depths=(4, 256))
    STABILITY.config("test", variants=("no_ln",), depths=(4, 256), dtype="float64")
    STABILITY.config("test", variants=("preln",), depths=(4, 256))


def test_test_preset_runs(test_result):
    s = test_result.summary
    cfg = STABILITY.config("test")
    assert isinstance(s, StabilitySummary)
    assert tuple(s.variants) == st.VARIANTS
    for name, v in s.variants.items():
        assert v.depths == cfg.depths
        assert len(v.gaps_init) == len(v.gaps_trained) == len(v.loss_trained) == len(cfg.depths)
        assert math.isfinite(v.slope_init) and math.isfinite(v.slope_trained), name
        assert all(0 < g < 2 for g in v.gaps_init + v.gaps_trained)  # both outputs have unit RMS: gap <= 2
        assert test_result.arrays[f"{name}/gaps_init"].shape == (len(cfg.depths), cfg.draws)
        np.testing.assert_allclose(v.gaps_init, test_result.arrays[f"{name}/gaps_init"].mean(-1))
        # the slope fit (theory.raptr) against the engine's independent scipy fit
        assert v.slope_init == pytest.approx(fit_loglog(cfg.depths, v.gaps_init).slope, rel=1e-9)
        assert v.slope_trained == pytest.approx(fit_loglog(cfg.depths, v.gaps_trained).slope, rel=1e-9)
    assert undocumented_fields(StabilitySummary) == []
    assert StabilitySummary.from_json(s.to_json()) == s
    assert "preln_scaled" in STABILITY.summarize(test_result)


@pytest.mark.slow
def test_quick_preset_shows_lemma_1():
    # the weights, inputs and batches do not depend on the variant, so two variants give the quick preset's numbers
    res = STABILITY.run(STABILITY.config("quick", variants=("preln_scaled", "no_residual")))
    v = res.summary.variants
    assert v["preln_scaled"].slope_init < -0.3
    assert -0.15 <= v["no_residual"].slope_init <= 0.15
