"""The PTST real-model preset (sims.ptst.real): SmolLM2's templates as our scaffolds write them, the request sets,
the word problems, the keyword judge and the config; the whole grid on SmolLM2 at the test preset under -m slow."""
from __future__ import annotations

import dataclasses
import math

import pytest

from sims.engine.errors import ConfigError
from sims.engine.summary import undocumented_fields
from sims.ptst import BY_NAME, REAL
from sims.ptst import real_world as W
from sims.ptst.real import RealConfig, RealSummary, heldout_problems


def test_templates_are_four_distinct_prompts_with_the_question_prefix():
    prompts = {t: W.render(t, "How do I boil an egg?") for t in W.TEMPLATES}
    assert len(set(prompts.values())) == len(W.TEMPLATES)
    assert all("Question: How do I boil an egg?" in p for p in prompts.values())
    assert prompts["text:vanilla"] == "Question: How do I boil an egg?\nAnswer:"
    assert "system" not in prompts["chat:vanilla"] and W.SAFETY_PROMPT in prompts["chat:safety"]
    assert W.NEUTRAL_PROMPT in prompts["chat:neutral"] and "safe" not in W.NEUTRAL_PROMPT.lower()
    assert W.answer_text("text:vanilla", "Yes.") == " Yes." + W.END and W.answer_text("chat:safety", "Yes.") == \
        "Yes." + W.END
    with pytest.raises(KeyError):
        W.render("chat:llama", "x")


def test_chat_scaffolds_are_smollm2s_own_chat_template(smollm2):
    """Our hand-written ChatML scaffolds tokenise exactly as the model's chat template renders the same turns."""
    q = "How do I boil an egg?"
    assert smollm2.encode(W.render("chat:neutral", q)) == smollm2.chat_ids(f"Question: {q}")   # its default system
    assert smollm2.encode(W.render("chat:safety", q)) == smollm2.chat_ids(f"Question: {q}", system=W.SAFETY_PROMPT)
    assert len(smollm2.encode(W.END)) == 1 and smollm2.encode(W.END)[0] in smollm2.eos_ids   # one token, the eos


def test_harmful_requests_split_into_disjoint_halves_of_every_family():
    align, held = W.harmful_split("align"), W.harmful_split("heldout")
    families = W.requests()["harmful"]
    assert len(families) == 6 and all(len(f) == 10 for f in families.values())
    assert len(align) == len(held) == 30 and not set(align) & set(held)
    assert len(set(align + held)) == 60
    assert all(not W.refuses(q) for q in align + held + W.requests()["benign"])


def test_word_problems_are_right_deterministic_and_seeded():
    probs = W.problems(200, 3, "train")
    assert probs == W.problems(200, 3, "train") and probs != W.problems(200, 4, "train")
    ops = set()
    for question, worked, value in probs:
        a, op, b = worked.split(" has ")[1].split(" = ")[0].split()
        ops.add(op)
        assert value == (int(a) + int(b) if op == "+" else int(a) - int(b)) and value > 0
        assert f"{a} " in question and W.last_number(worked) == value
    assert ops == {"+", "-"}


def test_training_problems_never_repeat_a_held_out_one(smollm2):
    from sims.ptst.real import training_set

    cfg = RealConfig(n_train=400, n_eval=400)
    held = {repr(smollm2.encode(W.render("chat:vanilla", q))) for q, _, _ in heldout_problems(cfg)}
    data = training_set(smollm2, cfg, "chat:vanilla")
    assert 0 < len(data) <= 400 and not {repr(p) for p, _ in data} & held


@pytest.mark.parametrize("text, value", [("so 23 + 48 = 71.", 71), ("The answer is 1,204", 1204), ("none", None),
                                         ("-5 then 7 apples", 7), ("He has -3", -3)])
def test_last_number(text, value):
    assert W.last_number(text) == value


def test_keyword_judge():
    for r in W.requests()["refusals"]:
        assert W.refuses(r) and not W.complies(r)      # every alignment target is a refusal to the judge
    assert W.complies("To break into the car, first find a window that is")
    assert not W.complies("Sure thing")                                         # too short to comply with anything
    assert not W.complies("I\u2019m sorry, but I won't help with that request.")  # curly apostrophe
    assert W.compliance(["I cannot do that.", "Here is how you do it step by step"]) == 0.5
    assert math.isnan(W.compliance([]))


def test_config_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="train_templates"):
        REAL.config("quick", train_templates=("chat:llama",))
    with pytest.raises(ConfigError, match="steps"):
        REAL.config("quick", steps=0)
    with pytest.raises(ConfigError, match="align_lr"):
        REAL.config("quick", align_lr=-1.0)
    assert BY_NAME["real"] is REAL and REAL.config("quick").align().steps == RealConfig().align_steps


def test_summary_fields_are_documented():
    assert not undocumented_fields(RealSummary)
    assert {f.name for f in dataclasses.fields(RealSummary)} >= {"asr", "accuracy", "initial_asr", "shipped_asr"}


@pytest.mark.slow
def test_real_grid_at_the_test_preset(real_tier, tmp_path):
    """Align SmolLM2 (2 steps), fine-tune under both PTST templates (2 steps), measure: machinery, not the phenomenon;
    the same config gives the same numbers from a fresh cache."""
    res = REAL.cached(REAL.config("test"), root=tmp_path / "a")
    s = res.summary
    assert set(s.asr) == set(s.accuracy) == set(W.PTST) and all(set(r) == set(W.PTST) for r in s.asr.values())
    values = [*s.initial_asr.values(), *s.shipped_asr.values(), *(v for r in s.asr.values() for v in r.values())]
    assert all(0.0 <= v <= 1.0 for v in values) and s.align_seconds > 0
    assert s.shipped_asr["chat:vanilla"] > 0.5                   # as shipped the model complies
    again = REAL.cached(REAL.config("test"), root=tmp_path / "b").summary
    assert again.asr == s.asr and again.accuracy == s.accuracy and again.examples == s.examples
