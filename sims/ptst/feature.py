"""`feature`: a template-feature model of fine-tuning and prompt templates, solved with numpy.

Paper: Lyu, Zhao, Gu, Yu, Goyal, Arora, "Keeping LLMs Aligned After Fine-tuning: The Crucial Role of Prompt
Templates", arXiv 2402.18540 (NeurIPS 2024). Toy models T3.1, T3.2 and T3.3 of the research notes
(shared/papers/llm_papers.md, section 3.6) [ours: the whole construction].

What this is and is not. The paper has no theory; this model is NOT the paper's. It encodes one mechanism
hypothesis: the fine-tuning update lives mostly in directions tied to the training template, so how far it
transfers to a test template is controlled by the overlap (cosine) of the two templates' feature vectors. If that
hypothesis holds, training without the safety prompt and testing with it (PTST) loses least safety. The model shows
that the hypothesis is sufficient to produce the paper's pattern; it proves nothing about language models.

The model [ours].
* Templates are unit vectors e_t in R^k built from shared components (a component common to every template, a
  family component "text" or "chat", a "system prompt present" component, a content component for the alpaca
  scaffold, the MPT neutral system prompt and the Llama-2 safety prompt, and one unique component per template),
  each weighted by a config field, so their pairwise cosines are set by those weights. The five templates are
  text:vanilla, text:alpaca, chat:vanilla, chat:mpt and chat:llama, all defined in the paper (notes Sec. 3.2);
  the paper's Llama-2 5 x 5 grid uses chat:alpaca where we use chat:mpt (notes Sec. 3.3), so that our grid has
  a neutral system prompt beside the safety one. One more unit
  direction, orthogonal to all of them, is kept for the overlap knob.
* Queries are vectors x in R^d: a constant 1, then named directions (harmfulness h, the math topic of the benign
  task, two harmful-cluster topics) plus isotropic noise. Benign queries are math questions (the GSM8K analogue);
  harmful cluster 1 is the main held-out harmful set (DirectHarm4 analogue); harmful cluster 2 wraps harm in the
  math topic with a weaker harmfulness feature (GSM-Danger analogue).
* Features phi(t, x) = [s_t e_t, s_q x, s_i vec(e_t x^T)] (template, query, interaction; the scales s are config
  fields) and the policy is logistic over {comply, refuse}: P(comply | t, x) = sigmoid(theta . phi(t, x)).
  Kernel identity [ours]: phi(A, x) . phi(B, x') = s_t^2 rho + s_q^2 x.x' + s_i^2 rho x.x' with rho = e_A . e_B.
* Aligned initialisation: logit = bias - margin (h . x) on every template, and under the safety template an extra
  - safety_margin (h . x) - caution (a larger refusal margin, and some over-refusal of benign queries, carried by
  the interaction weights along the safety component).
* Fine-tuning: full-batch exact gradient descent on the mean binary cross-entropy of benign comply examples under
  one training template (T3.1); T3.3 mixes in refuse examples from harmful cluster 1 under the same template.
* Measured per (train template A, test template B): ASR = mean P(comply) over held-out harmful cluster-1 queries
  (an expected rate, not thresholded), benign accuracy = mean P(comply) over held-out benign queries (helpfulness:
  the chance the benign question is answered).

Exact property of the overlap knob (T3.2) [ours]. Gradient descent from theta_0 adds only combinations
sum c_i phi(A, x_i) with c_i >= 0 for comply examples, so on a fixed harmful query the logit change under a test
template B is rho (s_t^2 C + s_i^2 sum c_i x_i.x) + s_q^2 sum c_i x_i.x: linear in rho = e_A . e_B. The knob's test
template is B(rho) = rho e_A + sqrt(1 - rho^2) e_perp (e_perp orthogonal to every template and to the initial
weights), so the initial logit of B(rho) is the query part plus rho times A's own template part, B(1) = A, and ASR
is monotone in rho whenever the slope is positive on every held-out query and A carries no safety component.

Several seeds (`FEATURE.seeds`) redraw every query and give intervals through `sims.engine.mean_ci`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from sims.engine import Estimate, Experiment, Result, Summary, mean_ci, rng, validate
from sims.engine.cache import config_dict

TEMPLATES = ("text:vanilla", "text:alpaca", "chat:vanilla", "chat:mpt", "chat:llama")
SAFETY_TEMPLATE = "chat:llama"

# Template components (notes Sec. 3.2): which shared parts each template contains, besides its unique part.
_COMPONENTS = ("common", "text", "chat", "system", "alpaca", "mpt", "safety")
_PARTS = {
    "text:vanilla": ("common", "text"),
    "text:alpaca": ("common", "text", "alpaca"),
    "chat:vanilla": ("common", "chat"),
    "chat:mpt": ("common", "chat", "system", "mpt"),
    "chat:llama": ("common", "chat", "system", "safety"),
}
# Query coordinates: 0 constant, then the named directions, then noise-only directions.
CONST, HARM, MATH, CLUSTER1, CLUSTER2 = 0, 1, 2, 3, 4
_NAMED = 4


# ----------------------------------------------------------------------------------------------------------------
# Templates.
def _weight(cfg: FeatureConfig, part: str) -> float:
    table = {"common": cfg.w_common, "text": cfg.w_family, "chat": cfg.w_family, "system": cfg.w_system}
    return table.get(part, cfg.w_content)


def template_dim() -> int:
    """k: the template space's dimension (shared components, one unique component per template, the knob's
    orthogonal direction)."""
    return len(_COMPONENTS) + len(TEMPLATES) + 1


def knob_direction() -> np.ndarray:
    """e_perp: the unit template direction orthogonal to every template and to the initial weights (T3.2)."""
    e = np.zeros(template_dim())
    e[-1] = 1.0
    return e


def template_vectors(cfg: FeatureConfig) -> dict[str, np.ndarray]:
    """Unit template vectors e_t: the weighted sum of the template's components and its own unique component,
    normalised [ours]. Cosines between templates follow from the weights (`template_cosines`)."""
    out = {}
    for j, name in enumerate(TEMPLATES):
        e = np.zeros(template_dim())
        for part in _PARTS[name]:
            e[_COMPONENTS.index(part)] = _weight(cfg, part)
        e[len(_COMPONENTS) + j] = cfg.w_unique
        out[name] = e / np.linalg.norm(e)
    return out


def template_cosines(cfg: FeatureConfig) -> dict[str, dict[str, float]]:
    """rho[A][B] = e_A . e_B for the five templates."""
    e = template_vectors(cfg)
    return {a: {b: float(e[a] @ e[b]) for b in TEMPLATES} for a in TEMPLATES}


def knob_template(e_train: np.ndarray, rho: float) -> np.ndarray:
    """B(rho) = rho e_A + sqrt(1 - rho^2) e_perp: a unit test template at cosine rho to the training template
    (T3.2; e_A must be orthogonal to e_perp, as every template is)."""
    validate.probability("rho", rho)
    return rho * e_train + np.sqrt(1.0 - rho * rho) * knob_direction()


# ----------------------------------------------------------------------------------------------------------------
# Features and policy.
def features(e: np.ndarray, x: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """phi(t, x) for one template vector e (k,) and queries x (n, d): rows [s_t e, s_q x, s_i vec(e x^T)]."""
    n = x.shape[0]
    inter = (e[None, :, None] * x[:, None, :]).reshape(n, -1)
    return np.concatenate([np.broadcast_to(cfg.scale_template * e, (n, e.size)), cfg.scale_query * x,
                           cfg.scale_interaction * inter], axis=1)


def comply_prob(theta: np.ndarray, e: np.ndarray, x: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """P(comply | t, x) = sigmoid(theta . phi(t, x)) per query."""
    return special.expit(features(e, x, cfg) @ theta)


def aligned_init(cfg: FeatureConfig) -> np.ndarray:
    """theta_0 of the aligned policy [ours]: logit = bias - margin (h . x) under every template, plus
    -(safety_margin (h . x) + caution) under the safety template, carried by the interaction weights along the
    safety component (scaled so the full template gets exactly that extra term)."""
    k, d = template_dim(), query_dim(cfg)
    query = np.zeros(d)
    query[CONST], query[HARM] = cfg.bias, -cfg.margin
    inter = np.zeros((k, d))
    s = _COMPONENTS.index("safety")
    share = template_vectors(cfg)[SAFETY_TEMPLATE][s]
    inter[s, HARM] = -cfg.safety_margin / share
    inter[s, CONST] = -cfg.caution / share
    return np.concatenate([np.zeros(k), query / cfg.scale_query, inter.ravel() / cfg.scale_interaction])


def loss(theta: np.ndarray, phi: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy of labels y (1 comply, 0 refuse) under logits phi @ theta."""
    z = phi @ theta
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def gradient(theta: np.ndarray, phi: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Exact gradient of `loss`: phi^T (sigmoid(phi theta) - y) / n (the logistic cross-entropy's closed form)."""
    return phi.T @ (special.expit(phi @ theta) - y) / y.size


def finetune(theta0: np.ndarray, phi: np.ndarray, y: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """`steps` full-batch gradient-descent steps of size lr on `loss` from theta0."""
    theta = theta0.copy()
    for _ in range(steps):
        theta -= lr * gradient(theta, phi, y)
    return theta


# ----------------------------------------------------------------------------------------------------------------
# Queries.
def query_dim(cfg: FeatureConfig) -> int:
    """d: the constant feature plus `query_dims` directions."""
    return 1 + cfg.query_dims


def draw_queries(kind: str, n: int, cfg: FeatureConfig, gen: np.random.Generator) -> np.ndarray:
    """n query vectors of one kind: "benign" (math topic), "harmful" (harmful cluster 1: harmfulness and its own
    topic) or "danger" (harmful cluster 2, math-wrapped: weaker harmfulness, the math topic and its own topic), each
    plus isotropic noise of total standard deviation `noise` over the non-constant directions."""
    validate.one_of("kind", kind, ("benign", "harmful", "danger"))
    x = np.zeros((n, query_dim(cfg)))
    x[:, CONST] = 1.0
    if kind == "benign":
        x[:, MATH] = cfg.topic
    elif kind == "harmful":
        x[:, HARM], x[:, CLUSTER1] = cfg.harm, cfg.topic
    else:
        x[:, HARM], x[:, MATH], x[:, CLUSTER2] = cfg.danger_harm, cfg.topic, cfg.topic
    x[:, 1:] += gen.normal(0.0, cfg.noise / np.sqrt(cfg.query_dims), size=(n, cfg.query_dims))
    return x


@dataclass(frozen=True)
class Queries:
    """One seed's query sets: benign (fine-tuning), safety (cluster-1 refuse examples for T3.3), and held-out
    benign_test, harmful_test (cluster 1) and danger_test (cluster 2)."""

    benign: np.ndarray
    safety: np.ndarray
    benign_test: np.ndarray
    harmful_test: np.ndarray
    danger_test: np.ndarray


def draw_all(cfg: FeatureConfig) -> Queries:
    """Every query set of the config's seed, each from its own named stream."""
    def draw(kind: str, n: int, stream: str) -> np.ndarray:
        return draw_queries(kind, n, cfg, rng(cfg.seed, "ptst.feature", stream))
    return Queries(draw("benign", cfg.n_train, "benign"), draw("harmful", cfg.n_safety, "safety"),
                   draw("benign", cfg.n_test, "benign_test"), draw("harmful", cfg.n_test, "harmful_test"),
                   draw("danger", cfg.n_test, "danger_test"))


def training_set(e: np.ndarray, q: Queries, cfg: FeatureConfig, safety: bool) -> tuple[np.ndarray, np.ndarray]:
    """(phi, y) under training template e: benign comply examples, plus the cluster-1 refuse examples if
    `safety` (T3.3)."""
    x = np.concatenate([q.benign, q.safety]) if safety else q.benign
    y = np.concatenate([np.ones(len(q.benign)), np.zeros(len(q.safety))]) if safety else np.ones(len(q.benign))
    return features(e, x, cfg), y


def train(template: str, q: Queries, cfg: FeatureConfig, safety: bool = False) -> np.ndarray:
    """theta after fine-tuning the aligned policy under `template` (benign data, plus safety data if asked)."""
    validate.one_of("template", template, TEMPLATES)
    phi, y = training_set(template_vectors(cfg)[template], q, cfg, safety)
    return finetune(aligned_init(cfg), phi, y, cfg.lr, cfg.steps)


def rate(theta: np.ndarray, e: np.ndarray, x: np.ndarray, cfg: FeatureConfig) -> float:
    """Mean P(comply) over the queries x under template e (ASR on harmful sets, benign accuracy on benign)."""
    return float(np.mean(comply_prob(theta, e, x, cfg)))


# ----------------------------------------------------------------------------------------------------------------
# The experiment.
@dataclass(frozen=True)
class FeatureConfig:
    """w_common, w_family, w_system, w_content, w_unique: weights of the template components (common to all; text
    or chat family; system prompt present; alpaca / mpt / safety content; unique per template), which set the
    templates' cosines; query_dims: query directions besides the constant (>= 4 named ones); harm: harmfulness
    coefficient of cluster-1 harmful queries; danger_harm: the same for the math-wrapped cluster 2; topic:
    coefficient of each topic direction; noise: total standard deviation of the query noise; scale_template,
    scale_query, scale_interaction: the feature scales s_t, s_q, s_i; bias: initial comply logit of a neutral
    query; margin: initial refusal margin per unit of harmfulness; safety_margin: extra margin under the safety
    template; caution: benign over-refusal logit under the safety template; lr, steps: full-batch gradient descent;
    n_train: benign fine-tuning examples; n_safety: cluster-1 refuse examples mixed in for T3.3; n_test: queries in
    each held-out set; rhos: the overlap knob's cosines (T3.2); knob_train: the knob's training template;
    ptst_train, ptst_test: the PTST cell (paper: chat:vanilla, chat:llama); same_templates: templates of the
    same-template (no PTST) conditions of T3.3; seed: draws every query set."""

    w_common: float = 0.5
    w_family: float = 1.0
    w_system: float = 0.6
    w_content: float = 0.6
    w_unique: float = 0.5
    query_dims: int = 12
    harm: float = 1.0
    danger_harm: float = 0.6
    topic: float = 1.0
    noise: float = 0.5
    scale_template: float = 1.0
    scale_query: float = 0.3
    scale_interaction: float = 1.0
    bias: float = 0.5
    margin: float = 4.5
    safety_margin: float = 3.0
    caution: float = 0.5
    lr: float = 1.0
    steps: int = 100
    n_train: int = 64
    n_safety: int = 16
    n_test: int = 256
    rhos: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
    knob_train: str = "chat:vanilla"
    ptst_train: str = "chat:vanilla"
    ptst_test: str = SAFETY_TEMPLATE
    same_templates: tuple[str, ...] = ("chat:vanilla", "chat:llama")
    seed: int = 0

    def validate(self) -> None:
        """Check every field; ConfigError naming the first bad one."""
        for name in ("w_common", "w_family", "w_system"):
            validate.non_negative(name, getattr(self, name))
        validate.positive("w_content", self.w_content)  # the safety template's own component: aligned_init divides by it
        validate.positive("w_unique", self.w_unique)
        validate.positive_int("query_dims", self.query_dims, _NAMED)
        for name in ("harm", "danger_harm", "topic", "noise", "safety_margin", "caution"):
            validate.non_negative(name, getattr(self, name))
        for name in ("scale_template", "scale_query", "scale_interaction", "lr"):
            validate.positive(name, getattr(self, name))
        validate.non_negative("margin", self.margin)
        validate.greater_than("bias", self.bias, -np.inf)
        validate.positive_int("steps", self.steps, 0)
        validate.positive_int("n_train", self.n_train)
        validate.positive_int("n_safety", self.n_safety)
        validate.positive_int("n_test", self.n_test)
        validate.each(validate.probability, "rhos", self.rhos)
        for name in ("knob_train", "ptst_train", "ptst_test"):
            validate.one_of(name, getattr(self, name), TEMPLATES)
        validate.non_empty("same_templates", self.same_templates)
        for i, t in enumerate(self.same_templates):
            validate.one_of(f"same_templates[{i}]", t, TEMPLATES)
        validate.seed("seed", self.seed)


QUICK = FeatureConfig()
TEST = FeatureConfig(n_test=128, steps=60, rhos=(0.0, 0.5, 1.0))
PAPER = FeatureConfig(n_train=512, n_safety=64, n_test=2048, steps=300, lr=1.0,
                      rhos=tuple(np.round(np.linspace(0.0, 1.0, 11), 2).tolist()))


@dataclass(frozen=True)
class Mixing(Summary):
    """T3.3 at one (train, test) condition.

    train: the training template; test: the test template; in_cluster: ASR on held-out cluster-1 harmful queries
    after fine-tuning with the cluster-1 safety examples mixed in; held_out: ASR on the math-wrapped cluster 2 (the
    GSM-Danger analogue) after the same run; in_cluster_plain: in-cluster ASR after fine-tuning on benign data
    only; held_out_plain: held-out ASR after that run; in_cluster_init: in-cluster ASR before fine-tuning;
    held_out_init: held-out ASR before fine-tuning."""

    train: str
    test: str
    in_cluster: float
    held_out: float
    in_cluster_plain: float
    held_out_plain: float
    in_cluster_init: float
    held_out_init: float


@dataclass(frozen=True)
class FeatureSummary(Summary):
    """The `feature` experiment for one seed (ASR and benign accuracy are mean P(comply), not thresholded).

    templates: the template names in grid order; cosine: rho[train][test] = e_train . e_test; asr: ASR[train][test]
    on held-out cluster-1 harmful queries after benign fine-tuning under `train`; benign: benign accuracy[train]
    [test] on held-out benign queries; initial_asr: ASR per test template before fine-tuning; initial_benign:
    benign accuracy per test template before fine-tuning; ptst_train: the PTST cell's training template (no
    safety prompt); ptst_test: its test template (the safety prompt); knob_train: the
    overlap knob's training template; rhos: the knob's cosines; knob_asr: ASR under the knob template B(rho) at
    each rho; knob_diagonal: ASR(knob_train, knob_train), what knob_asr reaches at rho = 1; mixing: T3.3 per
    condition ("train->test": PTST and each same-template condition)."""

    templates: list[str]
    cosine: dict[str, dict[str, float]]
    asr: dict[str, dict[str, float]]
    benign: dict[str, dict[str, float]]
    initial_asr: dict[str, float]
    initial_benign: dict[str, float]
    ptst_train: str
    ptst_test: str
    knob_train: str
    rhos: list[float]
    knob_asr: list[float]
    knob_diagonal: float
    mixing: dict[str, Mixing]


def grid(q: Queries, cfg: FeatureConfig) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """T3.1: (ASR[train][test], benign accuracy[train][test], fine-tuned theta per training template)."""
    e = template_vectors(cfg)
    thetas = {a: train(a, q, cfg) for a in TEMPLATES}
    asr = {a: {b: rate(thetas[a], e[b], q.harmful_test, cfg) for b in TEMPLATES} for a in TEMPLATES}
    ben = {a: {b: rate(thetas[a], e[b], q.benign_test, cfg) for b in TEMPLATES} for a in TEMPLATES}
    return asr, ben, thetas


def overlap_curve(theta: np.ndarray, q: Queries, cfg: FeatureConfig) -> list[float]:
    """T3.2: ASR under the knob template B(rho) for each rho of the config, theta trained under knob_train."""
    e_a = template_vectors(cfg)[cfg.knob_train]
    return [rate(theta, knob_template(e_a, float(r)), q.harmful_test, cfg) for r in cfg.rhos]


def mixing(train_t: str, test_t: str, q: Queries, cfg: FeatureConfig, plain: np.ndarray) -> Mixing:
    """T3.3 for one condition; `plain` is theta fine-tuned on benign data only under train_t."""
    e = template_vectors(cfg)[test_t]
    mixed, init = train(train_t, q, cfg, safety=True), aligned_init(cfg)
    return Mixing(train=train_t, test=test_t,
                  in_cluster=rate(mixed, e, q.harmful_test, cfg), held_out=rate(mixed, e, q.danger_test, cfg),
                  in_cluster_plain=rate(plain, e, q.harmful_test, cfg),
                  held_out_plain=rate(plain, e, q.danger_test, cfg),
                  in_cluster_init=rate(init, e, q.harmful_test, cfg), held_out_init=rate(init, e, q.danger_test, cfg))


def run_feature(cfg: FeatureConfig) -> Result:
    """Run T3.1 (the 5 x 5 grid), T3.2 (the overlap knob) and T3.3 (safety-data mixing) for the config's seed."""
    cfg.validate()
    q = draw_all(cfg)
    e, init = template_vectors(cfg), aligned_init(cfg)
    asr, ben, thetas = grid(q, cfg)
    conditions = [(cfg.ptst_train, cfg.ptst_test)] + [(t, t) for t in cfg.same_templates]
    mix = {f"{a}->{b}": mixing(a, b, q, cfg, thetas[a]) for a, b in dict.fromkeys(conditions)}
    summary = FeatureSummary(
        templates=list(TEMPLATES), cosine=template_cosines(cfg), asr=asr, benign=ben,
        initial_asr={b: rate(init, e[b], q.harmful_test, cfg) for b in TEMPLATES},
        initial_benign={b: rate(init, e[b], q.benign_test, cfg) for b in TEMPLATES},
        ptst_train=cfg.ptst_train, ptst_test=cfg.ptst_test, knob_train=cfg.knob_train,
        rhos=[float(r) for r in cfg.rhos], knob_asr=overlap_curve(thetas[cfg.knob_train], q, cfg),
        knob_diagonal=asr[cfg.knob_train][cfg.knob_train], mixing=mix)
    return Result("ptst.feature", config_dict(cfg), summary, {})


def helpful_cells(s: FeatureSummary, fraction: float = 0.9) -> list[tuple[str, str]]:
    """The (train, test) cells whose benign accuracy is at least `fraction` of the best cell's (T3.1's filter)."""
    validate.probability("fraction", fraction)
    best = max(v for row in s.benign.values() for v in row.values())
    return [(a, b) for a in s.templates for b in s.templates if s.benign[a][b] >= fraction * best]


def cell_estimate(summaries, train_t: str, test_t: str, metric: str = "asr") -> Estimate:
    """Mean and t-interval over seeds of one grid cell ("asr" or "benign") of several runs' summaries."""
    validate.one_of("metric", metric, ("asr", "benign"))
    validate.one_of("train_t", train_t, TEMPLATES)
    validate.one_of("test_t", test_t, TEMPLATES)
    return mean_ci([getattr(s, metric)[train_t][test_t] for s in summaries])


def _table(title: str, rows: dict[str, dict[str, float]], names: list[str]) -> list[str]:
    lines = [title, "  train \\ test   " + " ".join(f"{n:>13}" for n in names)]
    lines += [f"  {a:<15} " + " ".join(f"{rows[a][b]:13.4f}" for b in names) for a in names]
    return lines


def summarize_feature(res: Result) -> str:
    """One screen: the ASR and benign-accuracy grids, initial rates, the overlap curve and T3.3."""
    s: FeatureSummary = res.summary
    names = s.templates
    lines = _table("ASR (mean P(comply), held-out harmful cluster 1)", s.asr, names)
    lines += _table("benign accuracy (mean P(comply), held-out benign)", s.benign, names)
    lines.append("initial ASR      " + " ".join(f"{s.initial_asr[b]:13.4f}" for b in names))
    lines.append("initial benign   " + " ".join(f"{s.initial_benign[b]:13.4f}" for b in names))
    lines.append(f"overlap knob (train {s.knob_train}): " + " ".join(
        f"rho={r:g}:{a:.4f}" for r, a in zip(s.rhos, s.knob_asr)) + f"; diagonal {s.knob_diagonal:.4f}")
    lines.append("safety mixing (ASR in-cluster / held-out cluster 2): init | benign only | with safety data")
    lines += [f"  {k:<26} {m.in_cluster_init:.4f}/{m.held_out_init:.4f} | {m.in_cluster_plain:.4f}/"
              f"{m.held_out_plain:.4f} | {m.in_cluster:.4f}/{m.held_out:.4f}" for k, m in s.mixing.items()]
    return "\n".join(lines)


FEATURE = Experiment(paper="ptst", name="feature",
                     description="template-feature model: fine-tuning transfer across prompt templates, the "
                                 "overlap knob and safety-data mixing (toy models T3.1-T3.3; a mechanism "
                                 "hypothesis, not the paper's model)",
                     config_cls=FeatureConfig, presets={"quick": QUICK, "test": TEST, "paper": PAPER},
                     run=run_feature, summarize=summarize_feature, summary=FeatureSummary)
