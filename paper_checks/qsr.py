"""Claims of "A Quadratic Synchronization Rule for Distributed Deep Learning" (Gu, Lyu, Arora, Zhang, Huang; ICLR
2024; arXiv 2310.14423), module `qsr`, measured over seeds with their negative controls.

Sources. The rule H = max(H_base, floor((alpha/eta)^2)) and its exact semantics were read in the official code
(`localopt.py: adjust_h`, `xscheduler.py`, the recipe scripts; research notes shared/papers/localsgd_qsr_momentum.md
1.1-1.2, 1.6); the headline numbers in the abstract. The paper's body was not reachable: the slow-SDE separation
(constant H < H ~ 1/eta < QSR, "K times larger drift" for QSR) is known from the reviews and summaries (SECONDARY),
and the finite-eta drift factor 1 + (K - 1) psi(2 eta H lambda) is the Local SGD paper's form as we recall it,
integrated along a schedule by us (`theory.qsr`). The communication model is ours.

Five families:
* the paper's ViT-B recipe replayed (`schedule`): the round count of QSR at alpha = 0.0175 (CONSISTENCY);
* the drift-factor law at constant learning rates on the engine's bilinear label-noise toy (`drift`): QSR's and
  H ~ 1/eta's extra sharpness drop over SGD's against the slow flow, and QSR's factor growing as eta shrinks;
* the separation under a cosine decay on the same toy (`toy`): constant H < 1/eta < QSR in sharpness reduction,
  QSR with the fewest rounds;
* the semantics of Local SGD on real gloo processes (`equivalence`, `torch`): H = 1 equals data-parallel SGDM to
  rounding, the ranks hold one model after every average, the all-reduces are the replay's (CONSISTENCY);
* the digits MLP on K real processes (`torch`): the wall-time model, the wall-time saving over data-parallel
  training, and QSR's accuracy against constant H (measured, whatever it shows at this scale).
"""
from __future__ import annotations

import numpy as np

from sims.qsr import DRIFT, EQUIVALENCE, SCHEDULE, TORCH, TOY
from sims.qsr.schedule import qsr_name
from theory import qsr as theory

from .claims import CONSISTENCY, OURS, READ, SECONDARY, Claim, Context, Expect

PAPER = "qsr"
ARXIV = "arXiv 2310.14423"
CODE = "official code hmgxr128/QSR (localopt.py adjust_h, xscheduler.py, the recipe scripts)"
VIT_ALPHA = 0.0175
# an independent replay of the official adjust_h on the ViT-B recipe, written when the rule was transcribed from the
# code (a separate script; research notes shared/papers/localsgd_qsr_momentum.md 1.2)
VIT_QSR_ROUNDS_REFERENCE = 9_711
# a gain of one test digit: the digits split holds 450 test points at test_fraction 0.25 (both presets)
ONE_TEST_POINT = 1.0 / 450
# wall times on a shared machine jitter by several percent from run to run: three seeds give a t-interval
# (t = 4.3) too wide to place a ratio near a band's edge, so the torch run's claims take five
TIMING_SEEDS = 5
# an alpha for which floor((alpha / eta)^2) = 0 at every learning rate of the torch presets (eta >= 1e-6)
QSR_ALWAYS_ONE = 1e-7
# an alpha below every learning rate of the drift presets (0.005-0.04): floor((alpha / eta)^2) = 0, so H = H_base = 1
QSR_H_ONE_DRIFT = 1e-3


def _same(ctx: Context, value: float) -> list[float]:
    """A deterministic value, once per seed."""
    return [float(value)] * len(ctx.seeds)


# ---- Q1: the ViT-B recipe replayed ------------------------------------------------------------------------
def vit_rounds(ctx: Context, rule: str) -> list[float]:
    """Per seed (the replay does not depend on it): the rounds of `rule` over the paper's ViT-B recipe."""
    return [float(r.summary.rules[rule].rounds) for r in ctx.results(SCHEDULE)]


# ---- Q2: the drift-factor law -----------------------------------------------------------------------------
def _smallest_eta(res):
    return min(res.summary.by_eta, key=lambda e: e.eta)


def extra_drop_over_predicted(ctx: Context, rule: str, **setting) -> list[float]:
    """Per seed, at the smallest learning rate: the rule's measured sharpness drop minus SGD's, in the run with
    `setting`, over the same difference of the slow flows in the claim's own run (the quick or paper preset). The
    claim's setting gives about 1; a setting where the extra drift vanishes gives about 0 (its own prediction would
    be 0 or undefined, so the claim's prediction is the yardstick)."""
    base = ctx.results(DRIFT)
    runs = ctx.results(DRIFT, **setting) if setting else base
    out = []
    for b, r in zip(base, runs):
        pb, pr = _smallest_eta(b).rules, _smallest_eta(r).rules
        predicted = pb[rule].predicted_drop - pb["sgd"].predicted_drop
        out.append((pr[rule].drop.mean - pr["sgd"].drop.mean) / predicted)
    return out


def drop_over_predicted(ctx: Context, rule: str, **setting) -> list[float]:
    """Per seed, at the smallest learning rate: the rule's measured drop in the run with `setting` over the slow
    flow's drop in the claim's own run."""
    base = ctx.results(DRIFT)
    runs = ctx.results(DRIFT, **setting) if setting else base
    return [_smallest_eta(r).rules[rule].drop.mean / _smallest_eta(b).rules[rule].predicted_drop
            for b, r in zip(base, runs)]


def factor_growth(ctx: Context, rule: str) -> list[float]:
    """Per seed: how much the rule's measured drift factor (its drop over SGD's) grows from the largest learning rate
    to the smallest, over how much QSR's predicted factor grows over the same learning rates."""
    out = []
    for r in ctx.results(DRIFT):
        by = sorted(r.summary.by_eta, key=lambda e: e.eta)
        small, large = by[0].rules, by[-1].rules
        predicted = small["qsr"].factor_predicted - large["qsr"].factor_predicted
        out.append((small[rule].factor_measured - large[rule].factor_measured) / predicted)
    return out


# ---- Q3: the separation under a cosine decay -------------------------------------------------------------
def ranking_margin(ctx: Context, **setting) -> list[float]:
    """Per seed: the smaller of the paired final-sharpness margins constant - (1/eta) and (1/eta) - QSR, over the
    sharpness range lambda0 - 2 (positive: the ranking holds by that much)."""
    out = []
    for r in ctx.results(TOY, **setting):
        m = r.summary.margins
        out.append(min(m["constant-inverse_lr"].mean, m["inverse_lr-qsr"].mean) / (r.config["lam0"] - 2.0))
    return out


def qsr_rounds_share(ctx: Context, **setting) -> list[float]:
    """Per seed: QSR's rounds over the fewer of constant H's and H ~ 1/eta's."""
    out = []
    for r in ctx.results(TOY, **setting):
        rules = r.summary.rules
        out.append(rules["qsr"].rounds / min(rules["constant"].rounds, rules["inverse_lr"].rounds))
    return out


# ---- Q4: semantics on real processes ---------------------------------------------------------------------
def h1_difference(ctx: Context, optimizer: str) -> list[float]:
    """Per seed: max |theta(Local, H = 1) - theta(data-parallel)| / max |theta(data-parallel)| after the run."""
    return [r.summary.h1_rel_diff for r in ctx.results(EQUIVALENCE, optimizer=optimizer)]


def share_of_steps_ranks_differ(ctx: Context, where: str) -> list[float]:
    """Per seed, in the QSR run: the share of the steps that ended with an average ("after") or of the steps inside
    a round ("mid") after which the ranks' models differ (max_ij |theta_i - theta_j| > 0 over the parameters)."""
    out = []
    for r in ctx.results(EQUIVALENCE):
        spread, averaged = r.arrays["qsr_spread"], r.arrays["qsr_averaged"].astype(bool)
        steps = averaged if where == "after" else ~averaged
        out.append(float((spread[steps] > 0).mean()))
    return out


def _torch(ctx: Context, **overrides):
    return ctx.results(TORCH, **overrides)


def rounds_off_the_replay(ctx: Context, shifted: bool) -> list[float]:
    """Per seed: how far the torch run's QSR training departs from a replay of its rule, |difference of the round
    counts| plus the rounds (of those both have) whose lengths differ. shifted=False: the replay over the run's own
    learning rates; shifted=True: a replay that sets H from the previous step's learning rate, the off-by-one slip
    that leaves counts almost unchanged (quick: 155 against 156 rounds, 18 rounds of another length)."""
    cfg = TORCH.config(ctx.preset)
    lrs = cfg.schedule().rates()  # the seed does not enter the schedule
    if shifted:
        lrs = np.concatenate([lrs[:1], lrs[:-1]])
    replay = theory.replay(cfg.rules()["qsr"], lrs, cfg.warmup)
    out = []
    for r in _torch(ctx):
        done = np.asarray(r.arrays["h_qsr"], dtype=np.int64)
        n = min(done.size, replay.lengths.size)
        out.append(float(abs(done.size - replay.lengths.size) + np.count_nonzero(done[:n] != replay.lengths[:n])))
    return out


# ---- Q5 and the torch comparison ---------------------------------------------------------------------------
def worst_wall_error(ctx: Context) -> list[float]:
    """Per seed: the largest |measured wall time / predicted - 1| over the four rules of the torch run, predicted =
    steps x t_compute + rounds x t_comm from the run's own calibration."""
    return [max(abs(x.measured_over_predicted - 1.0) for x in r.summary.rules.values()) for r in _torch(ctx)]


def wall_error_with_data_parallel_rounds(ctx: Context) -> list[float]:
    """Per seed: |QSR's measured wall time / the model's prediction with data-parallel's round count - 1|."""
    out = []
    for r in _torch(ctx):
        s = r.summary
        predicted = theory.wall_time(r.config["steps"], s.rules["data_parallel"].rounds, s.t_compute, s.t_comm)
        out.append(abs(s.rules["qsr"].wall_s / predicted - 1.0))
    return out


def qsr_wall_over_data_parallel(ctx: Context, **overrides) -> list[float]:
    """Per seed: QSR's measured training wall time over data-parallel training's, same steps and batch."""
    return [r.summary.rules["qsr"].wall_vs_data_parallel for r in _torch(ctx, **overrides)]


def qsr_minus_constant_accuracy(ctx: Context, **overrides) -> list[float]:
    """Per seed: QSR's final test accuracy minus constant H's (both from the same initialisation and batches)."""
    return [r.summary.rules["qsr"].test_acc - r.summary.rules["constant"].test_acc for r in _torch(ctx, **overrides)]


_DRIFT_TOLERANCE = "the tolerance set for the drift-factor check when it was planned, before any run (within ~10%): "

CLAIMS = [
    Claim(name="vit_recipe_rounds", paper=PAPER, kind=CONSISTENCY, source_status=READ,
          source=f"{CODE}; the count is a replay, ours",
          statement="QSR with H_base = init_h = 4 and alpha = 0.0175 on the ViT-B Local AdamW recipe (93,600 steps, "
                    "10,000 warm-up from 1e-6 to 0.008, then a cosine to 1e-6 over the remaining steps) "
                    "synchronises 9,711 times (10.4% of data-parallel's all-reduces; constant H = 4: 23,400)",
          measurement="rounds of theory.qsr.replay of the rule over the recipe's learning rates (the round's first "
                      "learning rate, the floor, init_h in the warm-up, the last round cut to the steps left)",
          expect=Expect(VIT_QSR_ROUNDS_REFERENCE, VIT_QSR_ROUNDS_REFERENCE,
                        origin="exactly the count of an independent replay of adjust_h made when the rule was "
                               "transcribed; a count is an integer function of the recipe, and slips of the "
                               "semantics move it "
                               "(a cosine over all 93,600 steps gives 8,133)"),
          measure=lambda ctx: vit_rounds(ctx, qsr_name(VIT_ALPHA)),
          control=lambda ctx: vit_rounds(ctx, "inverse_lr"),
          control_setting="the power-1 rule H = max(4, floor(alpha / eta)) at the same alpha = 0.0175 (16,718 in "
                          "that independent replay)",
          paper_value="no round count published; wall time with QSR vs data-parallel: 26.7 h -> 20.2 h on 16 GPUs, "
                      "8.6 h -> 5.5 h on 64 (abstract)"),
    Claim(name="qsr_drift_matches_slow_sde", paper=PAPER, source_status=SECONDARY,
          source=f"{ARXIV} Sec. 3, Theorem 3.1 (QSR's slow SDE has a K times larger drift than SGD's, per the "
                 "reviews); the finite-eta factor 1 + (K - 1) psi(2 eta H lambda) recalled from the Local SGD paper, "
                 "integrated by us",
          statement="QSR's extra sharpness drift over SGD is the slow SDE's, 1 + (K - 1) psi(2 eta H lambda) times "
                    "SGD's, tending to K as eta -> 0",
          measurement="at the smallest eta (quick: 0.01, H = 81, K = 4): QSR's measured sharpness drop minus SGD's "
                      "over the slow flows' difference, same slow time T = 0.2, 1024 paths per seed",
          expect=Expect(0.9, 1.1, origin=_DRIFT_TOLERANCE + "1 within 0.1"),
          measure=lambda ctx: extra_drop_over_predicted(ctx, "qsr"),
          control=lambda ctx: extra_drop_over_predicted(ctx, "qsr", alpha=QSR_H_ONE_DRIFT),
          control_setting="the same K = 4 workers with alpha below every eta, so QSR averages after every step "
                          "(H = 1): Local SGD is then SGD in law, with its own noise draws, and the extra drop must "
                          "vanish (measured against the claim's predicted extra drop)"),
    Claim(name="inverse_lr_drift_matches_slow_sde", paper=PAPER, source_status=SECONDARY,
          source=f"{ARXIV} Sec. 3 (H ~ 1/eta: a drift between SGD's and QSR's, per the reviews and summaries); the "
                 "factor recalled from the Local SGD paper, integrated by us",
          statement="with H = beta / eta the extra drift is fixed as eta decays: 1 + (K - 1) psi(2 beta lambda) "
                    "times SGD's, strictly between 1 and K",
          measurement="at the smallest eta: the measured drop of H = 0.2 / eta minus SGD's over the slow flows' "
                      "difference",
          expect=Expect(0.9, 1.1, origin=_DRIFT_TOLERANCE + "1 within 0.1"),
          measure=lambda ctx: extra_drop_over_predicted(ctx, "inverse_lr"),
          control=lambda ctx: extra_drop_over_predicted(ctx, "inverse_lr", lam0=2.0),
          control_setting="a start at the flattest point of the valley (lambda0 = 2): no sharpness left to lose, no "
                          "drift (measured against the claim's predicted extra drop)"),
    Claim(name="sgd_drift_matches_slow_sde", paper=PAPER, source_status=SECONDARY,
          source=f"{ARXIV} Sec. 3 (SGD's slow SDE, the baseline of the factor); label-noise drift recalled from the "
                 "Local SGD paper, integrated by us",
          statement="SGD's sharpness drifts down along the valley as its slow SDE says; every factor above is "
                    "relative to this drift",
          measurement="at the smallest eta: SGD's measured drop over its slow flow's",
          expect=Expect(0.9, 1.1, origin=_DRIFT_TOLERANCE + "1 within 0.1"),
          measure=lambda ctx: drop_over_predicted(ctx, "sgd"),
          control=lambda ctx: drop_over_predicted(ctx, "sgd", sigma=0.0),
          control_setting="no label noise (sigma = 0): the iterate sits on the valley and the drift vanishes "
                          "(measured against the claim's predicted drop)"),
    Claim(name="qsr_factor_grows_as_eta_decays", paper=PAPER, source_status=SECONDARY,
          source=f"{ARXIV} Sec. 3 (the separation: with H ~ eta^-2 the drift factor tends to K as eta -> 0, with "
                 "H ~ 1/eta it stays fixed; summaries and reviews)",
          statement="as the learning rate shrinks, QSR's drift factor grows toward K",
          measurement="QSR's measured factor (its drop over SGD's) at the smallest eta minus at the largest (quick: "
                      "0.01 and 0.04), over the predicted growth",
          expect=Expect(0.8, 1.2, origin="a stated rule set before any run: the predicted growth within 20% (a "
                                         "difference of two factors, each within the 10% of the drift claims)"),
          measure=lambda ctx: factor_growth(ctx, "qsr"),
          control=lambda ctx: factor_growth(ctx, "inverse_lr"),
          control_setting="H = beta / eta over the same learning rates, whose factor the theory keeps fixed "
                          "(measured against QSR's predicted growth)"),
    Claim(name="ranking_constant_inverse_qsr", paper=PAPER, source_status=SECONDARY,
          source=f"{ARXIV} Sec. 3 (separation among data-parallel SGD, H ~ 1/eta and H ~ eta^-2, per the summaries); "
                 "our toy instance",
          statement="under a decaying learning rate, QSR ends flatter than H ~ 1/eta, which ends flatter than a "
                    "constant H",
          measurement="the smaller of the paired margins of final sharpness, constant - (1/eta) and (1/eta) - QSR, "
                      "over lambda0 - 2 (cosine 0.03 -> 0.001 over 15,000 steps, K = 4, all rules at H = 4 at the "
                      "peak, 128 paths per seed)",
          expect=Expect(0.01, 1.0, origin="a stated rule set before any run: each step of the ranking at least 1% "
                                          "of the sharpness range (the slow flows predict 2.5% and 3.0%)"),
          measure=ranking_margin,
          control=lambda ctx: ranking_margin(ctx, steps=TOY.presets[ctx.preset].steps // 100),
          control_setting="the same cosine decay over 1% of the steps (quick: 150 steps, slow time 0.05 against "
                          "5.2): too short for the slow drift to separate the rules"),
    Claim(name="qsr_fewest_rounds", paper=PAPER, source_status=READ,
          source=f"{CODE}; {ARXIV} abstract (QSR reduces communication as the learning rate decays)",
          statement="with the same H at the peak learning rate, QSR needs the fewest averaging rounds because its H "
                    "grows like eta^-2 as the learning rate decays",
          measurement="QSR's rounds over the fewer of constant H's and H ~ 1/eta's in the toy run",
          expect=Expect(0.0, 0.9, origin="a stated rule set before any run: at least 10% fewer rounds than the "
                                         "nearer rule"),
          measure=qsr_rounds_share,
          control=lambda ctx: qsr_rounds_share(ctx, kind="constant"),
          control_setting="a constant learning rate at the peak: every rule keeps H = 4, the same rounds"),
    Claim(name="h1_local_equals_data_parallel", paper=PAPER, kind=CONSISTENCY, source_status=READ,
          source="official code (data-parallel all-reduces gradients; local runs average parameters, optimizer "
                 "states unaveraged) and the OpenReview review W2 (Local AdamW at H = 1 is not "
                 "AdamW)",
          statement="Local SGDM with one local step per round is data-parallel SGDM: averaging parameters after a "
                    "step that is linear in the gradient and in the (unaveraged) momentum equals stepping with the "
                    "averaged gradient",
          measurement="K real gloo processes, the digits MLP, same initialisation and batches: max |theta(Local, "
                      "H = 1) - theta(data-parallel)| over max |theta(data-parallel)| after the run",
          expect=Expect(float("-inf"), 1e-4,
                        origin="float32 rounding, set before the run: the two orders of summation differ by about "
                               "1e-7 relative per step, which over a few hundred steps of random sign gives about "
                               "1e-6; 1e-4 leaves a factor of 100 for momentum's amplification and unlucky signs and "
                               "lies orders below any algorithmic difference (the lower end is open: the value is a "
                               "magnitude, and a t-interval of small magnitudes reaches below 0)"),
          measure=lambda ctx: h1_difference(ctx, "sgdm"),
          control=lambda ctx: h1_difference(ctx, "adamw"),
          control_setting="AdamW with unaveraged moments: Adam's update is not linear in the gradient, so Local "
                          "AdamW at H = 1 is not data-parallel AdamW (review W2)"),
    Claim(name="ranks_identical_after_average", paper=PAPER, kind=CONSISTENCY, source_status=READ,
          source="official code (localopt.py: one flat all-reduce of the parameters, divided by the world size, "
                 "copied back on every rank)",
          statement="after every averaging round all workers hold the same parameters",
          measurement="QSR training on K gloo processes: the share of averaging steps after which the ranks' "
                      "parameters differ anywhere (max_ij |theta_i - theta_j| > 0, exact MAX and MIN all-reduces)",
          expect=Expect(0.0, 0.0, origin="exact: every rank copies the same all-reduced buffer"),
          measure=lambda ctx: share_of_steps_ranks_differ(ctx, "after"),
          control=lambda ctx: share_of_steps_ranks_differ(ctx, "mid"),
          control_setting="the same share over the steps inside rounds, after local steps on different batches"),
    Claim(name="allreduces_follow_the_schedule", paper=PAPER, kind=CONSISTENCY, source_status=READ,
          source=CODE,
          statement="a QSR run all-reduces exactly as often as the schedule says, with every round as long as the "
                    "rule sets it",
          measurement="the torch run (digits MLP on K gloo processes): |all-reduces of the QSR training - rounds "
                      "of the replay| plus the rounds whose length differs from the replay's, round by round",
          expect=Expect(0.0, 0.0, origin="exact: a count"),
          measure=lambda ctx: rounds_off_the_replay(ctx, shifted=False),
          control=lambda ctx: rounds_off_the_replay(ctx, shifted=True),
          control_setting="the same run against a replay that takes H from the previous step's learning rate (the "
                          "slip round counts alone barely see)"),
    Claim(name="wall_time_model", paper=PAPER, seeds=TIMING_SEEDS, source_status=OURS,
          source=f"{ARXIV} Sec. 4 / Table 4 (training time split into computation and communication, per the "
                 "reviews); the model is ours",
          statement="wall time = steps x t_compute + all-reduces x t_comm, with t_compute and t_comm calibrated "
                    "apart, predicts the training time of every rule",
          measurement="the torch run on K = 2 gloo processes: the largest |measured / predicted - 1| over "
                      "data-parallel, constant H, H ~ 1/eta and QSR",
          expect=Expect(0.0, 0.15, origin="the tolerance set for the communication model when the check was "
                                          "planned, before any run (within ~15%)"),
          measure=worst_wall_error,
          control=wall_error_with_data_parallel_rounds,
          control_setting="QSR's measured time against the model fed with data-parallel's all-reduce count (a model "
                          "that ignores the rounds saved must miss)"),
    Claim(name="qsr_saves_wall_time", paper=PAPER, seeds=TIMING_SEEDS, source_status=READ,
          source=f"{ARXIV} abstract (Local AdamW with QSR trains ViT-B in less wall time than data-parallel "
                 "AdamW)",
          statement="with QSR, local training takes less wall time than data-parallel training of the same steps",
          measurement="QSR's measured training time over data-parallel's (digits MLP, K = 2 gloo processes on "
                      "CPU, same steps and batches)",
          expect=Expect(0.0, 0.9, origin="a stated rule set before any run: at least 10% faster"),
          measure=qsr_wall_over_data_parallel,
          control=lambda ctx: qsr_wall_over_data_parallel(ctx, h_base=1, alpha=QSR_ALWAYS_ONE),
          control_setting="QSR with H_base = 1 and alpha so small that every round is one step: as many "
                          "all-reduces (of parameters) as data-parallel's (of gradients), so no saving",
          undecided_ok="the control's two runs make the same all-reduces, so their ratio is 1 up to timing noise, "
                       "and on a shared 2-core machine two such runs differ by 5-40% (two runs of seeds 0-4 on "
                       "2026-12-04: 0.88-1.09 and 0.96-1.40, means 1.00 and 1.08), which five seeds cannot place "
                       "beyond 0.9; the claim's whole interval lies far below (0.35-0.49). Declared after the "
                       "first run found the control undecided",
          paper_value="26.7 h -> 20.2 h (16 GPUs; 0.76) and 8.6 h -> 5.5 h (64 GPUs; 0.64), ViT-B, 25 Gbps "
                      "network (abstract; the network per review 2)"),
    Claim(name="qsr_beats_constant_accuracy", paper=PAPER, seeds=TIMING_SEEDS, source_status=READ,
          source=f"{ARXIV} abstract and Fig. 5 caption (QSR improves test accuracy over other synchronisation "
                 "strategies); our digits instance",
          statement="QSR ends with a higher test accuracy than a constant H of the same H_base",
          measurement="final test accuracy of QSR minus constant H's (digits MLP, K = 2 gloo processes, SGDM, "
                      "cosine with warm-up, same initialisation and batches)",
          expect=Expect(ONE_TEST_POINT, 1.0, origin="a stated rule set before any run: QSR ahead by at least one of "
                                                    "the 450 test digits"),
          measure=qsr_minus_constant_accuracy,
          control=lambda ctx: qsr_minus_constant_accuracy(ctx, K=1),
          control_setting="one process (K = 1): nothing to average, every rule is the same SGDM run (0 by "
                          "construction: it shows the code switches the rules' difference off, no more)",
          paper_value="ViT-B Local AdamW: 79.32% (constant H = 4) -> 80.98% (QSR), Fig. 5 caption; +1.16% over "
                      "data-parallel on 16 GPUs (the submission's abstract: 1.12%); Appendix D (per review 2): no "
                      "effect for ResNet-50 over 90 epochs"),
]
