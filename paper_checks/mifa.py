"""Claims of "Fast Federated Learning in the Presence of Arbitrary Device Unavailability" (Gu, Huang, Zhang,
Huang; NeurIPS 2021; arXiv 2106.04159), measured over seeds with their negative controls.

Sources. The paper's body (theorem statements, equation numbers, the case-study formula) could not be read in
the session that wrote this module: only the abstract and the opening of the introduction were retrievable.
The claims therefore cite the abstract ("minimax optimal convergence rates ... for both strongly convex and
non-convex smooth functions", "explicit characterization of the improvement over baseline algorithms through
a case study") and Sec. 1 (FedAvg is slowed by straggling devices; MIFA corrects the gradient bias with the
memorised updates). A second, review-time search (pages, docs, issues, code corpora: title, arXiv id, "MIFA",
the NeurIPS proceedings and OpenReview pages, citing papers FedAU, FedAWE, FedVARP, FOCUS, asynchronous-SGD
papers) again found only the abstract, the introduction and one secondary statement of the theorems'
assumptions: Xiang et al., "Efficient Federated Learning against Heterogeneous and Non-stationary Client
Unavailability" (NeurIPS 2024), Sec. 2, which says (paraphrased) that MIFA's non-convex guarantee needs the
inactive period of every device to be bounded by a fixed constant, and a Lipschitz Hessian. Which unavailability statistic enters which term of the bounds, and the
case-study formula, remain UNVERIFIED. The expected values come from the closed forms of `theory.mifa`, which are ours
(marked [ours] there), not constants of the paper.

Every quadratic claim reads one `quadratic` run per seed (label-correlated availability, the paper's
"adversarial" pattern with p_min = 0.2); the negative control of the MIFA claims is MIFA with its memory
removed (the table of the inactive devices zeroed each round), which must become biased.
"""
from __future__ import annotations

import math

import numpy as np

from sims.engine import Result
from sims.mifa import LOGISTIC, NONCONVEX, QUADRATIC
from sims.mifa.quadratic import AlgorithmSummary

from .claims import NOT_READ, OURS, READ, Claim, Context, Expect

PAPER = "mifa"
NAN = float("nan")
_ALGS = ("mifa", "fedavg_active", "fedavg_wait", "memoryless")
REVIEWED = ("; a later review narrowed it to {new} after the first measurement, and it is restored here: a band "
            "is fixed before the numbers are seen")


# ---- runs -------------------------------------------------------------------------------------------------
def _label(ctx: Context):
    return ctx.results(QUADRATIC, patterns=("label",), algorithms=_ALGS, reference=False, replicas=32)


def _uniform(ctx: Context):
    """Availability unrelated to the data: every p_i equal to the mean of the label pattern's."""
    return ctx.results(QUADRATIC, patterns=("uniform",), algorithms=("fedavg_active",), reference=False)


def _always(ctx: Context):
    """Every device in every round: no latency for FedAvg(S), no staleness for MIFA. 128 replicas: with 32, the
    control of `case_study_improvement` (a ratio of two tail errors) varied enough between seeds (-0.54, -0.32,
    -0.55 over seeds 0-2) that its three-seed interval [-0.79, -0.15] straddled the band's lower edge although
    every seed lay below it; 128 replicas shrink the per-seed noise, not the mean (-0.53, -0.45, -0.49)."""
    return ctx.results(QUADRATIC, patterns=("always",), algorithms=("mifa", "fedavg_wait"), reference=False,
                       replicas=128)


def _nonconvex(ctx: Context):
    return ctx.results(NONCONVEX)


def _mnist(ctx: Context, **overrides):
    """The torch run on real MNIST digits (two classes per device, label-correlated availability)."""
    return ctx.results(LOGISTIC, algorithms=("mifa", "fedavg_active"), **overrides)


# ---- measurements -----------------------------------------------------------------------------------------
def _run_of(r: Result, pattern: str, name: str) -> AlgorithmSummary:
    """Algorithm `name` under availability `pattern` in one quadratic run."""
    return r.summary.patterns[pattern].algorithms[name]


def slope(runs, pattern: str, name: str) -> list[float]:
    """Per run: log-log slope of the replica-mean ||w_t - w*||^2 against t over the last decade of rounds."""
    return [_run_of(r, pattern, name).slope for r in runs]


def log_gap_to_floor(runs, name: str) -> list[float]:
    """Per run: log10(final ||w_T - w*||^2 / ||w_b - w*||^2), w_b the biased fixed point (closed form)."""
    return [math.log10(_run_of(r, "label", name).final_error / r.summary.patterns["label"].floor_exact)
            for r in runs]


def floor_ratio(runs, floor_runs, pattern: str) -> list[float]:
    """Per run: final error of available-only FedAvg over the closed-form floor of the label pattern."""
    return [_run_of(r, pattern, "fedavg_active").final_error / f.summary.patterns["label"].floor_exact
            for r, f in zip(runs, floor_runs)]


def wait_ratio(runs, pattern: str, ref_runs) -> list[float]:
    """Per run: measured rounds per FedAvg(S) update under `pattern` over E[max_{i in S} Geom(p_i)] of the
    sampled sets of the label-pattern run (the prediction)."""
    out = []
    for r, ref in zip(runs, ref_runs):
        predicted = _run_of(ref, "label", "fedavg_wait").wait_predicted
        measured = _run_of(r, pattern, "fedavg_wait").wait_measured
        out.append(measured / predicted if np.isfinite(predicted) else NAN)
    return out


def improvement_gap(runs, pattern: str, ref_runs) -> list[float]:
    """Per run: log10(measured rounds-ratio FedAvg(S)/MIFA for equal error / case-study prediction)."""
    return [math.log10(r.summary.patterns[pattern].improvement_measured
                       / ref.summary.patterns["label"].improvement_predicted) for r, ref in zip(runs, ref_runs)]


def nonconvex_slope(runs, name: str) -> list[float]:
    """Per run: slope of log (1/T) sum_t ||grad f(w_t)||^2 against log T (eta = eta0/sqrt(T))."""
    return [r.summary.algorithms[name].slope for r in runs]


def low_label_gain(runs) -> list[float]:
    """Per run: MIFA's final test accuracy on the lower half of the classes (held by the rarely available devices)
    minus biased FedAvg's."""
    return [r.summary.algorithms["mifa"].low_class_acc - r.summary.algorithms["fedavg_active"].low_class_acc
            for r in runs]


CLAIMS = [
    Claim(name="mifa_rate_strongly_convex", paper=PAPER,
          source="Abstract; Sec. 1 (strongly convex smooth, non-i.i.d.: minimax-optimal O(1/T)); theorem number not "
                 "retrievable",
          source_status=NOT_READ,
          statement="MIFA converges to the true optimum at rate O(1/T) under arbitrary device unavailability",
          measurement="log-log slope of mean ||w_t - w*||^2 vs t over the last decade (quadratics, label-correlated "
                      "p_i)",
          expect=Expect(-1.25, -0.75, origin="a stated rule fixed when the check was written: the rate's exponent -1 "
                                             "within 0.25 (a fit over one decade of rounds)"
                                             + REVIEWED.format(new="-1.15 to -0.85")),
          measure=lambda ctx: slope(_label(ctx), "label", "mifa"),
          control=lambda ctx: slope(_label(ctx), "label", "memoryless"),
          control_setting="MIFA with its memory removed (inactive devices' table entries zeroed)",
          paper_value="O(1/T)"),
    Claim(name="mifa_unbiased", paper=PAPER,
          source="Abstract; Sec. 1 (MIFA corrects the gradient bias using the memorized latest updates)",
          source_status=READ,
          statement="MIFA is not biased by label-correlated availability: it reaches w*, not the "
                    "participation-weighted point",
          measurement="log10(final ||w_T - w*||^2 / ||w_b - w*||^2), w_b the available-only fixed point (closed form, "
                      "ours)",
          expect=Expect(-math.inf, -2.0, origin="a stated rule: at least 100 times closer to w* than the biased point "
                                                "(no bias at the scale of the floor); not derived"),
          measure=lambda ctx: log_gap_to_floor(_label(ctx), "mifa"),
          control=lambda ctx: log_gap_to_floor(_label(ctx), "memoryless"),
          control_setting="MIFA with its memory removed"),
    Claim(name="biased_fedavg_floor", paper=PAPER,
          source="Sec. 1 and baselines (biased FedAvg averages the active devices only); closed form ours",
          source_status=OURS,
          statement="FedAvg over the available devices stalls at the participation-weighted point w_b = sum q_i a_i "
                    "c_i / sum q_i a_i",
          measurement="final ||w_T - w*||^2 of biased FedAvg over the predicted floor ||w_b - w*||^2",
          expect=Expect(0.9, 1.1, origin="a stated rule fixed when the check was written: the closed-form floor "
                                         "within 10%" + REVIEWED.format(new="0.97-1.03")),
          measure=lambda ctx: floor_ratio(_label(ctx), _label(ctx), "label"),
          control=lambda ctx: floor_ratio(_uniform(ctx), _label(ctx), "uniform"),
          control_setting="availability unrelated to the data (all p_i equal): the floor vanishes"),
    Claim(name="fedavg_wait_latency", paper=PAPER,
          source="Abstract; Sec. 1 (FedAvg's convergence is severely influenced by straggling devices); formula ours",
          source_status=OURS,
          statement="FedAvg that waits for its S sampled devices makes one update per E[max_{i in S} Geom(p_i)] rounds",
          measurement="measured rounds per FedAvg(S) update over the exact E[max Geom] of the sampled sets (S = 20 of "
                      "50)",
          expect=Expect(0.9, 1.1, origin="a stated rule fixed when the check was written: the exact E[max Geom] "
                                         "within 10%" + REVIEWED.format(new="0.95-1.05")),
          measure=lambda ctx: wait_ratio(_label(ctx), "label", _label(ctx)),
          control=lambda ctx: wait_ratio(_always(ctx), "always", _label(ctx)),
          control_setting="the same FedAvg(S) with every device always available (no straggler: one update per round) "
                          "against the label-pattern prediction"),
    Claim(name="case_study_improvement", paper=PAPER,
          source="Abstract (case study: explicit improvement over baselines); the paper's formula not retrievable, "
                 "ours: latency E[max Geom] x ratio of the 1/T constants",
          source_status=OURS,
          statement="MIFA needs fewer rounds than FedAvg(S) by the predicted factor",
          measurement="log10(measured rounds FedAvg(S)/rounds MIFA for equal error, from t*err over the last half / "
                      "predicted improvement)",
          expect=Expect(-0.25, 0.25, origin="a stated rule fixed when the check was written: the predicted improvement "
                                            "within a factor 10^0.25 = 1.8 (the prediction is an order-of-magnitude "
                                            "case study)" + REVIEWED.format(new="+-0.2")),
          measure=lambda ctx: improvement_gap(_label(ctx), "label", _label(ctx)),
          control=lambda ctx: improvement_gap(_always(ctx), "always", _label(ctx)),
          control_setting="every device always available (no latency, no staleness) against the label-pattern "
                          "prediction"),
    Claim(name="nonconvex_gradient_rate", paper=PAPER,
          source="Abstract; Sec. 1 (non-convex smooth: minimax-optimal O(1/sqrt(T)) for the squared gradient norm). "
                 "Per Xiang et al. (NeurIPS 2024, Sec. 2) the theorem assumes an absolute bound on the inactive period "
                 "and a Lipschitz Hessian; Bernoulli availability has no absolute bound (finite in every run)",
          source_status=NOT_READ,
          statement="with a constant step eta ~ 1/sqrt(T), MIFA's average squared gradient norm decays as T^(-1/2)",
          measurement="slope of log (1/T) sum_t ||grad f(w_t)||^2 vs log T, T = 500..4000, eta = 5/sqrt(T) (log(1+x^2) "
                      "device losses, label-correlated Bernoulli availability)",
          expect=Expect(-0.75, -0.25, origin="a stated rule fixed when the check was written: the exponent -1/2 "
                                             "within 0.25" + REVIEWED.format(new="-0.6 to -0.4")),
          measure=lambda ctx: nonconvex_slope(_nonconvex(ctx), "mifa"),
          control=lambda ctx: nonconvex_slope(_nonconvex(ctx), "memoryless"),
          control_setting="MIFA with its memory removed",
          paper_value="O(1/sqrt(T))"),
    Claim(name="mnist_rare_classes_recovered", paper=PAPER,
          source="Sec. 6 (MNIST logistic regression, 2 classes per device, label-correlated availability; official "
                 "run_mnist_logit.sh); Sec. 1 (FedAvg over the active devices is biased)",
          source_status=NOT_READ,
          statement="on real data split two classes per device, with devices holding low labels rarely available, "
                    "MIFA learns the classes of the rarely available devices that biased FedAvg neglects",
          measurement="final test accuracy on digits 0-4 (devices whose smallest label is low: p_i near p_min = 0.1), "
                      "MIFA minus FedAvg over the active devices (torch logistic regression on 5,000 real MNIST "
                      "digits, 20 devices, 150 rounds)",
          expect=Expect(0.02, 1.0, origin="a stated rule fixed before the first real-data run: at least 2 points, "
                                          "10 of the 500 low-label test images; the upper end is the largest "
                                          "possible gain"),
          measure=lambda ctx: low_label_gain(_mnist(ctx)),
          control=lambda ctx: low_label_gain(_mnist(ctx, availability="uniform")),
          control_setting="availability unrelated to the data (every p_i the label pattern's mean, 0.55): no class "
                          "is neglected on average"),
]
