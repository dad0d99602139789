"""Every retrieval claim at the quick preset over three seeds: the claim must pass and its negative control must
fail. The agent / controller claims (numpy, seconds) run by default; the claims on trained models train the
quick recall preset once per seed (about a CPU minute each) and are marked slow."""
from __future__ import annotations

import pytest

from paper_checks import available, claims_of, evaluate
from paper_checks.report import markdown, text_table

CLAIMS = claims_of("retrieval")
TRAINED = {"recall_bound", "attention_solves_recall", "crossover_grows_with_state"}
CHEAP = [c.name for c in CLAIMS if c.name not in TRAINED]


@pytest.mark.parametrize("name", CHEAP)
def test_agent_claim_passes_and_its_control_fails(quick_context, name):
    out = evaluate(next(c for c in CLAIMS if c.name == name), quick_context)
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRAINED))
def test_trained_claim_passes_and_its_control_fails(quick_context, name):
    out = evaluate(next(c for c in CLAIMS if c.name == name), quick_context)
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"


def test_every_claim_has_a_control_a_source_and_a_unique_name():
    assert "retrieval" in available()
    assert len({c.name for c in CLAIMS}) == len(CLAIMS)
    assert TRAINED <= {c.name for c in CLAIMS}
    for c in CLAIMS:
        assert c.control is not None and c.control_setting and c.source and c.paper == "retrieval"


def test_report_lists_the_cheap_claims(quick_context, tmp_path):
    outs = [evaluate(c, quick_context) for c in CLAIMS if c.name in ("rag_controller_exact", "streaming_bound")]
    md, table = markdown(outs, quick_context, [], tmp_path), text_table(outs)
    for o in outs:
        assert f"retrieval.{o.claim.name}" in md and f"retrieval.{o.claim.name}" in table
