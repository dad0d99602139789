"""The PTST paper's published numbers (sims.ptst.published) and the claims on them (paper_checks.ptst, TABLE_CLAIMS):
the transcribed values against their sources, a count check of each value against the benchmark sizes, the loader's
checks on corrupted files, and every table claim evaluated (it passes, its control fails) with its value against a
hand computation from the printed numbers (arXiv 2402.18540, Llama-2-7B-chat on GSM8K; all numbers SECONDARY)."""
from __future__ import annotations

import dataclasses

import pytest

from paper_checks import PUBLISHED, SECONDARY, claims_of, evaluate
from paper_checks import ptst as checks
from sims.engine import ConfigError
from sims.ptst import published
from sims.ptst.published import FILE, PublishedDataError, read_published

# key: (fine-tuning template, test template, metric, value) as printed in the sources named in the data file
EXPECTED = {
    "before_vanilla_gsm8k": ("none", "chat:vanilla", "gsm8k_em", 20.32),
    "same_vanilla_gsm8k": ("chat:vanilla", "chat:vanilla", "gsm8k_em", 33.39),
    "before_vanilla_asr": ("none", "chat:vanilla", "asr_directharm4", 2.75),
    "same_vanilla_asr": ("chat:vanilla", "chat:vanilla", "asr_directharm4", 11.00),
    "before_llama_asr": ("none", "chat:llama", "asr_directharm4", 0.00),
    "same_llama_asr": ("chat:llama", "chat:llama", "asr_directharm4", 18.08),
    "ptst_asr": ("chat:vanilla", "chat:llama", "asr_directharm4", 1.08),
}


# ---- loader -------------------------------------------------------------------------------------------------
def test_the_file_holds_the_transcribed_cells_in_order_with_their_status_and_source():
    t = published.load()
    assert t.file == FILE and list(t.cells) == list(EXPECTED)
    for key, (train, test, metric, value) in EXPECTED.items():
        c = t.cells[key]
        assert (c.train_template, c.test_template, c.metric, c.value, c.std) == (train, test, metric, value, None)
        assert t.value(train, test, metric) == value and t.cell(train, test, metric) is c
        assert c.status == published.SECONDARY and "2402.18540" in c.source
    assert set(t.statuses()) == {published.SECONDARY}   # no stored copy of the paper's table was reached
    for key in ("same_llama_asr", "ptst_asr"):
        assert "alphaxiv.org/overview/2402.18540v2" in t.cells[key].source


def test_values_are_whole_counts_of_the_benchmarks():
    """Independent of the transcription: a model before fine-tuning is one greedy run (a count out of 400
    DirectHarm4 queries or 1319 GSM8K problems); a fine-tuned cell averages 3 seeds (a count out of 1200 answers)."""
    answers = {("asr_directharm4", True): 400, ("asr_directharm4", False): 1200, ("gsm8k_em", True): 1319}
    for c in published.load().cells.values():
        n = answers.get((c.metric, c.train_template == published.BEFORE))
        if n is None:
            continue                        # GSM8K after fine-tuning: 33.39 is no whole count of 3957 (see report)
        count = round(c.value * n / 100)
        assert abs(100 * count / n - c.value) <= 0.005 + 1e-9, (c.key, c.value, n)


def test_lookups_are_read_only_and_fail_clearly():
    t = published.load()
    with pytest.raises(TypeError):
        t.cells["ptst_asr"] = t.cells["same_llama_asr"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.cells["ptst_asr"].value = 0.0
    assert published.load() is t
    with pytest.raises(ConfigError, match="test_template must be one of"):
        t.value("chat:vanilla", "chat:llama2", "asr_directharm4")
    with pytest.raises(ConfigError, match="metric must be one of"):
        t.value("chat:vanilla", "chat:llama", "asr")
    with pytest.raises(KeyError, match=r"no cell \(text:alpaca, chat:llama, asr_advbench\)"):
        t.value("text:alpaca", "chat:llama", "asr_advbench")


def _corrupt(tmp_path, old, new):
    src = (published.DATA / FILE).read_text()
    assert old in src
    path = tmp_path / FILE
    path.write_text(src.replace(old, new, 1))
    return path


WHERE = r"llama2_gsm8k\.csv, line \d+ \(key '{}'\)"


@pytest.mark.parametrize("old,new,match", [
    ("ptst_asr,chat:vanilla,chat:llama", "ptst_asr,chat:vanilla,chat:llama2",
     WHERE.format("ptst_asr") + r", column 'test_template': 'chat:llama2' is not one of"),
    ("before_llama_asr,none", "before_llama_asr,base", WHERE.format("before_llama_asr") + ", column 'train_template'"),
    ("asr_directharm4,18.08", "asr_harmful,18.08", WHERE.format("same_llama_asr") + ", column 'metric'"),
    ("gsm8k_em,33.39", "gsm8k_em,133.39", WHERE.format("same_vanilla_gsm8k") + r", column 'value': 133\.39 is not a "
                                                                                 r"percentage in \[0, 100\]"),
    ("gsm8k_em,20.32", "gsm8k_em,20,32", WHERE.format("before_vanilla_gsm8k") + ": 9 fields, expected 8"),
    ("11.00,,", "11.00,-0.5,", WHERE.format("same_vanilla_asr") + r", column 'std': std -0\.5 must be finite"),
    ("2.75,,", "2.75 %,,", WHERE.format("before_vanilla_asr") + r", column 'value': '2\.75 %' is not a number"),
    ("1.08,,secondary", "1.08,,unverified", WHERE.format("ptst_asr") + ", column 'status': an unverified number"),
    ("0.00,,secondary", "0.00,,summary", WHERE.format("before_llama_asr") + ", column 'status': 'summary' is not one"),
    ("2.75,,secondary,\"arXiv 2402.18540v2", "2.75,,secondary,\"arXiv 2402.1854v2",
     WHERE.format("before_vanilla_asr") + ", column 'source': .* does not name arXiv 2402.18540"),
    ("same_vanilla_asr,", "before_vanilla_asr,", WHERE.format("before_vanilla_asr") + ": the key is used twice"),
    ("ptst_asr,chat:vanilla,chat:llama", "ptst2,chat:llama,chat:llama",
     WHERE.format("ptst2") + r": cell \('chat:llama', 'chat:llama', 'asr_directharm4'\) is already given by key "
                             r"'same_llama_asr'"),
    ("key,train_template", "key,train", r"llama2_gsm8k\.csv: header must be"),
])
def test_a_corrupted_file_raises_naming_the_file_the_key_and_the_column(tmp_path, old, new, match):
    with pytest.raises(PublishedDataError, match=match):
        read_published(_corrupt(tmp_path, old, new))


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("# nothing\n")
    with pytest.raises(PublishedDataError, match=r"empty\.csv: header must be"):
        read_published(path)
    path.write_text(",".join(published.COLUMNS) + "\n")
    with pytest.raises(PublishedDataError, match=r"empty\.csv: no published number"):
        read_published(path)


# ---- claims -------------------------------------------------------------------------------------------------
CLAIMS = checks.TABLE_CLAIMS


@pytest.fixture(scope="module")
def outcomes(quick_context):
    return {c.name: evaluate(c, quick_context) for c in CLAIMS}


@pytest.mark.parametrize("name", [c.name for c in CLAIMS])
def test_table_claim_passes_and_its_control_fails(outcomes, name):
    out = outcomes[name]
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"


# each claim's value and its control's from the printed numbers by hand (not through the loader's lookups)
BY_HAND = {
    "same_template_raises_asr": (min(11.00 - 2.75, 18.08 - 0.00), 1.08 - 11.00),
    "safety_prompt_in_training_hurts": (18.08 - 1.08, 0.00 - 1.08),
    "finetuning_helps_task": (33.39 - 20.32, (100 - 11.00) - (100 - 2.75)),
}


@pytest.mark.parametrize("name", [c.name for c in CLAIMS])
def test_claim_values_match_a_hand_computation(outcomes, name):
    value, control = BY_HAND[name]
    out = outcomes[name]
    assert out.values == pytest.approx([value] * len(out.seeds), abs=1e-9)
    assert out.control_values == pytest.approx([control] * len(out.seeds), abs=1e-9)


def test_bands_come_from_the_benchmark_sizes():
    bands = {c.name: c.expect for c in CLAIMS}
    assert bands["same_template_raises_asr"].low == bands["safety_prompt_in_training_hurts"].low == 100 / 400
    assert bands["finetuning_helps_task"].low == pytest.approx(100 / 1319)
    assert all(b.high == float("inf") for b in bands.values())


def test_claim_fields():
    assert len({c.name for c in CLAIMS}) == len(CLAIMS) == 3
    assert checks.PAPER == "ptst" and checks.CLAIMS[:len(CLAIMS)] == CLAIMS
    assert [c.name for c in claims_of("ptst")][:len(CLAIMS)] == [c.name for c in CLAIMS]
    for c in CLAIMS:
        assert c.kind == PUBLISHED and c.paper == "ptst" and c.control is not None
        assert c.source_status == SECONDARY and "2402.18540" in c.source and c.paper_value
        assert c.expect.origin and c.control_setting
        for text in (c.source, c.statement, c.measurement, c.expect.origin, c.control_setting):
            assert "notes" not in text.lower(), c.name
