"""How many seeds a claim is measured over: the default three, more for a claim that declares it needs more
(`Claim.seeds`), exactly the user's when the user names them (`--seeds`)."""
from __future__ import annotations

import pytest

from paper_checks import OURS, Claim, Context, Expect, evaluate
from paper_checks.report import markdown, text_table


def _claim(seeds: int = 0, seed_offset: int = 0) -> Claim:
    # the measurement reports the seeds it was given, the control likewise (shifted so it fails)
    return Claim("n", "p", "s", "st", "m", Expect(-100.0, 100.0, origin="a test band"),
                 lambda ctx: [float(s) for s in ctx.seeds], lambda ctx: [float(s) - 1000.0 for s in ctx.seeds],
                 "none", seeds=seeds, seed_offset=seed_offset, source_status=OURS)


def test_default_context_gives_a_claim_its_declared_seeds():
    out = evaluate(_claim(seeds=6), Context())
    assert out.seeds == (0, 1, 2, 3, 4, 5)
    assert out.values == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert out.control_values == [v - 1000.0 for v in out.values]   # the control over the same seeds
    assert evaluate(_claim(), Context()).seeds == (0, 1, 2)
    assert evaluate(_claim(seeds=2), Context()).seeds == (0, 1, 2)  # never fewer than the context's


def test_added_seeds_continue_the_default_ones_without_repeats():
    ctx = Context(seeds=(4, 0, 7))
    assert ctx.for_claim(_claim(seeds=5)).seeds == (4, 0, 7, 1, 2)
    assert Context(seeds=(0, 0, 1)).for_claim(_claim(seeds=5)).seeds == (0, 1, 2, 3, 4)


def test_seeds_the_user_chose_are_used_for_every_claim():
    ctx = Context(seeds=(0, 1, 2), seeds_chosen=True)
    assert evaluate(_claim(seeds=10), ctx).seeds == (0, 1, 2)


def test_a_seed_offset_shifts_every_seed_the_claim_sees():
    out = evaluate(_claim(seeds=4, seed_offset=10), Context())
    assert out.seeds == (10, 11, 12, 13) and out.values == [10.0, 11.0, 12.0, 13.0]
    assert out.control_values == [v - 1000.0 for v in out.values]
    assert evaluate(_claim(seed_offset=5), Context(seeds=(1, 2), seeds_chosen=True)).seeds == (6, 7)
    with pytest.raises(ValueError, match="seed_offset"):
        _claim(seed_offset=-1)


def test_cli_default_and_chosen_seeds(monkeypatch, tmp_path):
    import paper_checks.__main__ as cli

    seen = []

    def fake_claims_of(name):
        return [_claim(seeds=5)]

    def fake_evaluate(claim, ctx):
        seen.append(ctx)
        return evaluate(claim, ctx)

    monkeypatch.setattr(cli, "claims_of", fake_claims_of)
    monkeypatch.setattr(cli, "evaluate", fake_evaluate)
    assert cli.main(["grokking", "--out", str(tmp_path), "--no-figures"]) == 0
    assert seen[-1].seeds == (0, 1, 2) and not seen[-1].seeds_chosen
    report = (tmp_path / "report.md").read_text()
    assert "- seeds: 0, 1, 2, 3, 4\n" in report and "more for the claims that need more" in report
    assert cli.main(["grokking", "--seeds", "3,4", "--out", str(tmp_path), "--no-figures"]) == 0
    assert seen[-1].seeds == (3, 4) and seen[-1].seeds_chosen
    report = (tmp_path / "report.md").read_text()
    assert "- seeds: 3, 4\n" in report and "more for the claims" not in report
    assert cli.main(["grokking", "--seeds", "1,1", "--out", str(tmp_path), "--no-figures"]) == 2


def test_a_failing_figure_does_not_lose_the_report(monkeypatch, tmp_path, capsys):
    import paper_checks.__main__ as cli

    def broken(name, ctx, out):
        raise ValueError("Axis limits cannot be NaN")

    monkeypatch.setattr(cli, "claims_of", lambda name: [_claim()])
    monkeypatch.setattr(cli, "_figures", broken)
    assert cli.main(["grokking", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "report.md").is_file()
    assert "grokking figures failed" in capsys.readouterr().err


def test_report_names_each_claims_seeds(tmp_path):
    outs = [evaluate(_claim(seeds=4), Context()), evaluate(_claim(), Context())]
    md = markdown(outs, Context(), [], tmp_path)
    assert "- seeds: 0, 1, 2, 3" in md and "- seeds: 0, 1, 2\n" in md
    assert "more for the claims that need more" in md
    assert "(4 seeds)" in text_table(outs) and text_table(outs).count("seeds)") == 1
    # the user chose three seeds: no claim got more, so neither the header nor the table says so
    chosen = Context(seeds=(0, 1, 2), seeds_chosen=True)
    outs = [evaluate(_claim(seeds=4), chosen)]
    assert "more for the claims" not in markdown(outs, chosen, [], tmp_path)
    assert "seeds)" not in text_table(outs)


def test_workers_reach_the_experiments_that_train_over_processes_and_no_other(monkeypatch, tmp_path):
    import paper_checks.__main__ as cli
    from sims.knapsack import TRAIN
    from sims.momentum import EXPERIMENTS

    configs = []
    for experiment in (TRAIN, EXPERIMENTS[0]):
        monkeypatch.setattr(type(experiment), "seeds", lambda self, config, seeds, root=None: configs.append(config))
        Context(workers=5).results(experiment)
        Context(workers=5).results(experiment, **({"workers": 3} if experiment is TRAIN else {}))
        Context().results(experiment)
    assert [c.workers for c in configs[:3]] == [5, 3, TRAIN.presets["quick"].workers]
    assert all(not hasattr(c, "workers") for c in configs[3:])
    seen = []
    monkeypatch.setattr(cli, "claims_of", lambda name: [_claim()])
    monkeypatch.setattr(cli, "evaluate", lambda claim, ctx: seen.append(ctx) or evaluate(claim, ctx))
    assert cli.main(["grokking", "--workers", "4", "--out", str(tmp_path), "--no-figures"]) == 0
    assert seen[-1].workers == 4
    assert cli.main(["grokking", "--out", str(tmp_path), "--no-figures"]) == 0
    assert seen[-1].workers is None
