"""The safety paper's published tables (sims.safety.published) and the claims on them (paper_checks.safety,
TABLE_CLAIMS): shapes and transcribed values, the loader's checks on corrupted files, the simulated repetitions,
and every table claim evaluated (it passes, its control fails) with its value against a hand computation from the
printed numbers (arXiv 2406.05946 as transcribed in shared/papers/llm_papers.md Sec. 2)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from paper_checks import OURS, PUBLISHED, READ, evaluate
from paper_checks import safety as checks
from sims.engine import ConfigError, rng
from sims.safety import published
from sims.safety.published import LAYOUTS, PublishedDataError, read_table

SHAPES = {"table1": (4, 6), "table2": (2, 6), "table3": (2, 8), "fig3": (1, 4), "table4": (10, 6),
          "table8": (10, 6), "table9": (10, 5), "table10": (10, 4)}


# ---- loader -------------------------------------------------------------------------------------------------
def test_every_table_loads_with_its_declared_shape_and_sources():
    tables = published.load_all()
    assert set(tables) == set(SHAPES)
    for name, t in tables.items():
        assert (len(t.rows), len(t.columns)) == SHAPES[name], name
        assert len(t.cells) == len(t.rows) * len(t.columns)
        number = name.replace("table", "Table ").replace("fig", "Fig. ")
        assert all(s == f"arXiv 2406.05946 {number}" for s in t.sources.values()), name


@pytest.mark.parametrize("name,row,column,mean,std", [
    ("table1", "llama2_base", "none", 68.6, 0.8),
    ("table1", "gemma_base", "I apologize, but I cannot", 1.0, 0.8),
    ("table1", "gemma_aligned", "none", 2.1, 0.2),
    ("table2", "augmented", "AlpacaEval", 49.5, 0.4),
    ("table3", "initial", "gcg_advbench", 65.6, 3.1),
    ("table3", "augmented", "decoding_maliciousinstruct", 1.0, 0.0),
    ("table4", "backdoor_trigger_asr", "llama_constrained", 10.9, 2.8),
    ("table4", "gsm8k_utility", "gemma_sft", 63.3, 0.5),
    ("fig3", "harmful_examples", "4", 76.4, None),
    ("table8", "gsm8k_utility", "uniform_2.0", 2.1, None),
    ("table9", "samsum_asr", "sft_warmup", 3.8, None),
    ("table10", "backdoor_trigger_asr", "sft_warmup", 83.6, None),
])
def test_transcribed_values(name, row, column, mean, std):
    t = published.load(name)
    assert t.mean(row, column) == mean and t.std(row, column) == std


def test_a_blank_the_paper_prints_is_nan_and_an_unknown_cell_is_a_clear_error():
    t = published.load("table9")
    assert math.isnan(t.mean("identity_asr", "initial")) and t.std("identity_asr", "initial") is None
    with pytest.raises(KeyError, match="no cell"):
        t.mean("identity_asr", "uniform_0.1")


def test_tables_are_read_only():
    t = published.load("table3")
    with pytest.raises(TypeError):
        t.cells[("initial", "prefill_5")] = published.Cell(0.0)
    with pytest.raises(AttributeError):
        t.name = "other"
    with pytest.raises(ValueError):
        t.row_means("initial")[0] = 0.0
    assert published.load("table3") is t   # cached, so nobody gets a private mutable copy


def _corrupt(tmp_path, name, old, new):
    src = (published.DATA / LAYOUTS[name].file).read_text()
    assert old in src
    path = tmp_path / LAYOUTS[name].file
    path.write_text(src.replace(old, new, 1))
    return path


@pytest.mark.parametrize("name,old,new,match", [
    ("table1", "16.4 +- 1.4", "16.4 +- -1.4", (r"table1_refusal_prefix\.csv, row 'llama2_base', "
                                               r"column 'I cannot': std -1\.4 must be finite and non-negative")),
    ("table3", "84.3 +- 1.7", "184.3 +- 1.7", r"table3_inference_attacks\.csv, row 'initial'.*\[0, 100\]"),
    ("table2", "3.6 +- 0.2", "3.6 pm 0.2", r"table2_utility\.csv, row 'initial', column 'MATH': cell '3\.6 pm 0\.2' is not"),
    ("table4", "88.9 +- 1.2,", "", r"table4_constrained\.csv, row 'harmful_asr': 7 fields, expected 8"),
    ("table8", "gsm8k_utility,", "gsm8k_accuracy,", r"table8_beta_ablation\.csv, row 'gsm8k_accuracy': not a row"),
    ("table9", "arXiv 2406.05946 Table 9\nidentity", "Table 9\nidentity", (r"table9_warmup_ablation\.csv, row "
                                                                           r"'harmful_asr': source 'Table 9'")),
    ("fig3", "row,0,2,4,6", "row,0,2,4,8", r"fig3_finetuning_attack\.csv: header"),
])
def test_a_corrupted_file_raises_naming_the_file_and_the_row(tmp_path, name, old, new, match):
    with pytest.raises(PublishedDataError, match=match):
        read_table(name, _corrupt(tmp_path, name, old, new))


def test_a_missing_or_repeated_row_is_caught(tmp_path):
    path = _corrupt(tmp_path, "table2", "augmented,49.5", "initial,49.5")
    with pytest.raises(PublishedDataError, match=r"table2_utility\.csv, row 'initial': the row appears twice"):
        read_table("table2", path)
    src = (published.DATA / LAYOUTS["table10"].file).read_text()
    path = tmp_path / "t10.csv"
    path.write_text("".join(line for line in src.splitlines(keepends=True) if not line.startswith("sql_utility")))
    with pytest.raises(PublishedDataError, match=r"t10\.csv: rows missing: sql_utility"):
        read_table("table10", path)
    with pytest.raises(PublishedDataError, match="unknown table 'table5'"):
        read_table("table5")


# ---- simulated repetitions ----------------------------------------------------------------------------------
def test_replicate_is_deterministic_and_keeps_cells_without_spread():
    t3, t8 = published.load("table3"), published.load("table8")
    a, b = t3.replicate(rng(4, "x"), runs=3), t3.replicate(rng(4, "x"), runs=3)
    assert a.cells == b.cells and a.cells != t3.replicate(rng(5, "x"), runs=3).cells
    assert a.mean("augmented", "decoding_maliciousinstruct") == 1.0          # std 0: unchanged
    assert t8.replicate(rng(0, "x")).cells == t8.cells                       # no published spread at all
    with pytest.raises(ConfigError, match="runs"):
        t3.replicate(rng(0, "x"), runs=0)


def test_replicate_draws_the_mean_of_runs_with_the_papers_spread():
    t = published.load("table2")
    gen = rng(0, "spread")
    draws = np.array([t.replicate(gen, runs=3).mean("initial", "MMLU") for _ in range(4000)])
    assert abs(draws.mean() - 46.3) < 4 * 0.7 / math.sqrt(3) / math.sqrt(4000)
    assert draws.std(ddof=1) == pytest.approx(0.7 / math.sqrt(3), rel=0.05)   # sd error ~1.1 % at n = 4000
    low = np.array([published.load("table1").replicate(gen).mean("gemma_base", "I apologize, but I cannot")
                    for _ in range(500)])
    assert low.min() == 0.0 and low.max() <= 100.0                          # 1.0 +- 0.8 is clipped at 0


# ---- claims -------------------------------------------------------------------------------------------------
CLAIMS = checks.TABLE_CLAIMS
REPLICATED = {"augmentation_helps_all_inference_attacks", "constrained_beats_sft_on_attacks"}


@pytest.fixture(scope="module")
def outcomes(quick_context):
    return {c.name: evaluate(c, quick_context) for c in CLAIMS}


@pytest.mark.parametrize("name", [c.name for c in CLAIMS])
def test_table_claim_passes_and_its_control_fails(outcomes, name):
    out = outcomes[name]
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"


# each claim's value from the printed numbers by hand (the paper's tables, not the loader's code paths)
BY_HAND = {
    "refusal_prefix_shortcut": (68.6 / 16.4, 85.4 / 68.6),
    "prefill_monotone": (57.0 - 56.1, 16.4 - 68.6),                 # control: min(-52.2, -11.0)
    "prefill_augmented_below_5": (4.5, 57.0),
    "augmentation_helps_all_inference_attacks": (None, 38.3 - 39.6),
    "utility_preserved_by_augmentation": (51.8 - 49.5, 84.3 - 1.0),
    "constrained_beats_sft_on_attacks": (None, 2.0 - 2.4),
    "constrained_utility_close": (41.7 - 37.4, 99.1 - 14.9),
    "beta_small_uniform_fails": (86.2, 4.6),
    "beta_large_uniform_costs_utility": (2.1, 37.4),
    "fig3_dynamics": (87.9 - 76.4, 7.2 - 86.2),                    # control: min(-79.0, -6.7)
    "warmup_cures_benign_degradation": ((15.4 - 3.3) / (15.4 - 1.5), (88.9 - 89.4) / (88.9 - 1.5)),
}


@pytest.mark.parametrize("name", [c.name for c in CLAIMS])
def test_claim_values_match_a_hand_computation(outcomes, name):
    value, control = BY_HAND[name]
    out = outcomes[name]
    assert out.control_values == pytest.approx([control] * len(out.seeds), abs=1e-9)
    if value is not None:
        assert out.values == pytest.approx([value] * len(out.seeds), abs=1e-9)


def test_replicated_claims_spread_around_the_printed_value(outcomes):
    printed = {"augmentation_helps_all_inference_attacks": 36.5 - 18.4, "constrained_beats_sft_on_attacks": 0.5}
    for name in REPLICATED:
        out = outcomes[name]
        assert len(set(out.values)) == len(out.seeds)                       # one draw per seed
        assert out.estimate.low < printed[name] < out.estimate.high, (name, out.values)


def test_claim_fields():
    assert len({c.name for c in CLAIMS}) == len(CLAIMS) == 11
    assert checks.PAPER == "safety" and checks.CLAIMS[:len(CLAIMS)] == CLAIMS
    for c in CLAIMS:
        assert c.kind == PUBLISHED and c.paper == "safety" and c.control is not None
        assert c.source_status in (READ, OURS) and "2406.05946" in c.source and c.paper_value
        assert c.expect.origin and c.control_setting
        for text in (c.source, c.statement, c.measurement, c.expect.origin, c.control_setting):
            assert "notes" not in text.lower(), c.name
        assert ("simulated repetition" in c.measurement) == (c.name in REPLICATED), c.name
