"""The claim framework: a claim is decided by where its interval lies, a control has three outcomes, a claim says
where its source and its band come from, and consistency checks are listed apart from claims."""
from __future__ import annotations

import dataclasses
import math

import pytest

from paper_checks import CONSISTENCY, NOT_READ, OURS, PUBLISHED, READ, Claim, Context, Expect, evaluate
from paper_checks.claims import INSIDE, OUTSIDE, STRADDLES, UNMEASURED
from paper_checks.report import markdown, summary, text_table, timing
from sims.engine import mean_ci

NAN = float("nan")
BAND = Expect(0.9, 1.1, origin="a stated rule for the test")


def _claim(values, control=None, name="x", **kw) -> Claim:
    kw.setdefault("source_status", READ)
    ctrl = (lambda ctx: control) if control is not None else None
    return Claim(name, "p", "Thm 1", "st", "m", kw.pop("expect", BAND), lambda ctx: values, ctrl, "ctrl", **kw)


def test_decision_is_by_the_interval_not_the_mean():
    assert mean_ci([0.8, 1.0, 1.2]).mean == pytest.approx(1.0)
    wide = evaluate(_claim([0.8, 1.0, 1.2], [5.0, 5.1, 5.2]), Context())
    assert wide.placement == STRADDLES and not wide.passed
    tight = evaluate(_claim([0.99, 1.0, 1.01], [5.0, 5.1, 5.2]), Context())
    assert tight.placement == INSIDE and tight.passed and tight.ok
    missing = evaluate(_claim([1.0, NAN, 1.0], [5.0, 5.1, 5.2]), Context())
    assert missing.placement == UNMEASURED and not missing.passed   # a run without a value is no pass


def test_placement_of_one_sided_bands():
    upper = Expect(high=0.02, origin="o")
    assert upper.place(mean_ci([0.01, 0.012, 0.011])) == INSIDE
    assert upper.place(mean_ci([0.05, 0.06, 0.055])) == OUTSIDE
    assert upper.place(mean_ci([0.0, 0.02, 0.04])) == STRADDLES
    assert upper.place(None) == UNMEASURED
    with pytest.raises(ValueError, match="low <= high"):
        Expect(2.0, 1.0)


@pytest.mark.parametrize("control, outcome, ok", [
    ([5.0, 5.1, 5.2], "fails", True),            # wholly outside the band: fails as it should
    ([0.99, 1.0, 1.01], "passes", False),        # wholly inside: the check is broken
    ([0.5, 1.0, 1.5], "undecided", False),       # straddles the band: too noisy to decide
    ([5.0, NAN, 5.0], "undecided", False),       # a run gave no value: not a failing control
    ([NAN, NAN, NAN], "undecided", False),       # a NaN control never counts as failing
])
def test_control_has_three_outcomes(control, outcome, ok):
    out = evaluate(_claim([0.99, 1.0, 1.01], control), Context())
    assert out.control_outcome == outcome
    assert out.ok is ok


def test_undecided_control_accepted_only_with_a_declared_reason(tmp_path):
    declared = evaluate(_claim([0.99, 1.0, 1.01], [0.5, 1.0, 1.5], undecided_ok="the reason"), Context())
    assert declared.control_outcome == "undecided" and declared.ok
    assert "accepted" in text_table([declared])
    assert "the reason" in markdown([declared], Context(), [], tmp_path)
    # a declared reason never excuses a control that passes
    leaky = evaluate(_claim([0.99, 1.0, 1.01], [0.99, 1.0, 1.01], undecided_ok="the reason"), Context())
    assert leaky.control_outcome == "passes" and not leaky.ok
    # nor a control that gave no value: a NaN control is a defect, whatever reason is declared
    nan = evaluate(_claim([0.99, 1.0, 1.01], [5.0, NAN, 5.0], undecided_ok="the reason"), Context())
    assert nan.control_outcome == "undecided" and not nan.ok


def test_claim_must_say_where_its_source_and_band_come_from():
    with pytest.raises(ValueError, match="source_status"):
        _claim([1.0], [5.0], source_status="")
    with pytest.raises(ValueError, match="origin"):
        _claim([1.0], [5.0], expect=Expect(0.9, 1.1))
    with pytest.raises(ValueError, match="negative control"):
        _claim([1.0], None)                       # an empirical claim without a control
    assert _claim([1.0], None, kind=CONSISTENCY).control is None


def test_markdown_table_keeps_a_pipe_in_a_cell(tmp_path):
    out = evaluate(_claim([0.99, 1.0, 1.01], [5.0, 5.1, 5.2], name="pipe"), Context())
    md = markdown([replace_measurement(out, "|x| at the end")], Context(), [], tmp_path)
    row = next(line for line in md.splitlines() if line.startswith("| p.pipe"))
    assert "\\|x\\| at the end" in row and row.count(" | ") == 6   # seven cells, the pipes escaped


def replace_measurement(out, text):
    import dataclasses

    out.claim = dataclasses.replace(out.claim, measurement=text)
    return out


def test_report_prints_markers_origins_and_control_intervals(tmp_path):
    outs = [evaluate(_claim([0.99, 1.0, 1.01], [5.0, 5.1, 5.2], source_status=NOT_READ), Context()),
            evaluate(_claim([0.99, 1.0, 1.01], [0.5, 1.0, 1.5], name="y", source_status=OURS), Context())]
    table, md = text_table(outs), markdown(outs, Context(), [], tmp_path)
    for text in (table, md):
        assert "[not read]" in text and "[ours]" in text
        assert "a stated rule for the test" in text
        assert "fails (as it should)" in text and "UNDECIDED (straddles)" in text
        assert str(mean_ci([5.0, 5.1, 5.2])) in text          # the control's interval, not just its verdict
    assert "1/2 claims hold" in summary(outs) and "1 are undecided" in summary(outs)


def test_consistency_checks_are_listed_apart_and_not_counted_as_claims(tmp_path):
    claim = evaluate(_claim([0.99, 1.0, 1.01], [5.0, 5.1, 5.2]), Context())
    check = evaluate(_claim([1.0, 1.0, 1.0], None, name="solver_agrees", kind=CONSISTENCY), Context())
    assert check.ok and check.control_outcome == "none"
    table, md = text_table([claim, check]), markdown([claim, check], Context(), [], tmp_path)
    assert table.index("Consistency checks") < table.index("p.solver_agrees")
    assert table.index("p.x") < table.index("Consistency checks")
    assert "## Consistency checks" in md
    assert summary([claim, check]).startswith("1/1 claims hold") and "1/1 consistency checks hold" in \
        summary([claim, check])
    assert summary([check]).startswith("1/1 consistency checks hold")   # no "0/0 claims" when none ran


def test_published_relations_need_a_control_and_are_listed_and_counted_apart(tmp_path):
    with pytest.raises(ValueError, match="negative control"):
        _claim([1.0], None, kind=PUBLISHED)
    with pytest.raises(ValueError, match="kind must be one of"):
        _claim([1.0], [5.0], kind="table")
    claim = evaluate(_claim([0.99, 1.0, 1.01], [5.0, 5.1, 5.2]), Context())
    held = evaluate(_claim([1.0, 1.0, 1.0], [3.0, 3.0, 3.0], name="table_rel", kind=PUBLISHED), Context())
    broken = evaluate(_claim([2.0, 2.0, 2.0], [3.0, 3.0, 3.0], name="table_bad", kind=PUBLISHED), Context())
    outs = [claim, held, broken]
    table, md = text_table(outs), markdown(outs, Context(), [], tmp_path)
    assert table.index("p.x") < table.index("The paper's published numbers") < table.index("p.table_rel")
    assert "## The paper's published numbers" in md and md.index("## Claims") < md.index("## The paper's")
    line = summary(outs)
    assert line.startswith("1/1 claims hold") and "1/2 relations hold on the paper's published numbers" in line


def test_cli_exit_code_follows_controls(monkeypatch, tmp_path):
    import paper_checks.__main__ as cli

    cases = {"fails": ([5.0, 5.1, 5.2], 0), "passes": ([0.99, 1.0, 1.01], 1), "undecided": ([0.5, 1.0, 1.5], 1),
             "nan": ([NAN] * 3, 1)}
    for name, (control, code) in cases.items():
        monkeypatch.setattr(cli, "claims_of", lambda n, c=control: [_claim([0.99, 1.0, 1.01], c)])
        assert cli.main(["grokking", "--out", str(tmp_path), "--no-figures"]) == code, name


def test_timing_names_each_papers_time_and_the_slowest_claims(monkeypatch, tmp_path, capsys):
    outs = [evaluate(_claim([0.99, 1.0, 1.01], [5.0, 5.1, 5.2], name=n), Context()) for n in ("a", "b", "c")]
    for o, t in zip(outs, (3.0, 40.0, 7.0)):
        o.wall_s = t
    outs[2].claim = dataclasses.replace(outs[2].claim, paper="q")
    line = timing(outs, slowest=2)
    assert "wall time by paper: p 43 s, q 7 s" in line
    assert line.endswith("p.b 40 s, q.c 7 s") and "p.a" not in line
    import paper_checks.__main__ as cli

    monkeypatch.setattr(cli, "claims_of", lambda n: [_claim([0.99, 1.0, 1.01], [5.0, 5.1, 5.2])])
    assert cli.main(["grokking", "--out", str(tmp_path), "--no-figures"]) == 0
    assert "slowest claims (each with the runs it was first to need): p.x" in capsys.readouterr().out


def test_every_landed_claim_declares_its_source_and_band():
    from paper_checks import available, claims_of

    for paper in available():
        for c in claims_of(paper):
            assert c.source_status and c.expect.origin.strip(), f"{paper}.{c.name}"
            assert not math.isnan(c.expect.low) and not math.isnan(c.expect.high)
            for text in (c.source, c.statement, c.measurement, c.expect.origin, c.control_setting):
                assert "notes" not in text.lower(), f"{paper}.{c.name} cites notes outside the repository"
