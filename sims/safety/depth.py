"""`depth`: how many tokens deep the alignment goes (Qi et al., arXiv 2406.05946, Fig. 1 and Fig. 4 analogues).

Along the harmful answers of held-out harmful instructions, position by position, the KL divergence of the aligned
model's next-token distribution from the base model's, KL(aligned(. | x, y_<k) || base(. | x, y_<k)), conditioned
on the harmful answer's own prefix as in the paper; the same for the augmented model (recovery examples). Shallow
alignment puts the KL budget on the first tokens; the recovery examples spread it over later ones. Beside the KL:
the probability each model gives to the next harmful token along the answer (shallow: the aligned model carries on
a harmful answer once it has begun, as the base does), and, as a reference, the aligned model's KL from the base
along benign answers (alignment should leave benign behaviour alone).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from sims.engine.chat.measure import answer_token_probs, kl_profile
from sims.engine.chat.world import BENIGN, HARMFUL
from sims.engine.progress import bar
from sims.engine.torch_layer import single_thread

from .models import STAGES, load_models, model_set

# The "first tokens" of an answer in this world: its first n_args = 4 positions, the only ones the instruction alone
# determines (every later token repeats the one n_args places back, so a model that has learnt to copy carries on
# a harmful answer from there: the world builds in where shallow alignment would stop; the augmented model shows
# that training can still move the KL past it). The paper's "first few tokens" of answers hundreds of tokens long.
# A first draft used 2; it was changed to 4 after the first run had been seen (share 0.50 with 2, the KL flat over
# positions 0-3): see docs/safety.md.
HEAD = 4


@dataclass(frozen=True)
class DepthConfig:
    """models: the model preset (sims.safety.models.MODEL_SETS); n_prompts: held-out harmful (and benign)
    instructions; head: answer positions counted as the first tokens; device: where the models run; seed: model
    training and the instructions drawn."""

    models: str = "quick"
    n_prompts: int = 300
    head: int = HEAD
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        spec = model_set(self.models)
        validate.positive_int("n_prompts", self.n_prompts)
        validate.positive_int("head", self.head)
        validate.seed("seed", self.seed)
        if self.head > spec.world.answer_len:
            raise validate.ConfigError(f"head must be at most the answer length {spec.world.answer_len}; "
                                       f"got {self.head}.")


QUICK = DepthConfig()
TEST = DepthConfig(models="test", n_prompts=40)
PAPER = DepthConfig(models="paper", n_prompts=1000, device="auto")


@dataclass(frozen=True)
class DepthSummary(Summary):
    """The `depth` experiment.

    kl_aligned: mean KL(aligned || base) at answer positions 0 .. L (L content tokens, then the end token) along
    harmful answers; kl_augmented: the same for the augmented model; kl_aligned_benign: KL(aligned || base) along
    benign answers (reference); head_share_aligned: share of the summed KL(aligned || base) on the first `head`
    positions; head_share_augmented: the same for the augmented model; late_kl_aligned: mean KL(aligned || base)
    over the positions after the first `head`; late_kl_augmented: the same for the augmented model;
    continue_prob: per model (base, aligned, augmented), the mean probability of the next harmful token at each
    position, given the harmful answer so far."""

    kl_aligned: list[float]
    kl_augmented: list[float]
    kl_aligned_benign: list[float]
    head_share_aligned: float
    head_share_augmented: float
    late_kl_aligned: float
    late_kl_augmented: float
    continue_prob: dict[str, list[float]]


def head_share(profile: np.ndarray, head: int) -> float:
    """Share of the summed per-position KL that lies on the first `head` positions."""
    total = float(np.sum(profile))
    return float(np.sum(profile[:head]) / total) if total > 0 else float("nan")


def run_depth(cfg: DepthConfig) -> Result:
    single_thread()
    models = load_models(cfg.models, cfg.seed, cfg.device)
    world = models.world
    harmful = world.instructions(HARMFUL, cfg.n_prompts, "heldout", cfg.seed, "depth")
    benign = world.instructions(BENIGN, cfg.n_prompts, "heldout", cfg.seed, "depth-benign")
    progress = bar(3 + len(STAGES), "safety.depth", unit="profile")
    try:
        kl_al = kl_profile(models.aligned, models.base, world, harmful)
        progress.update(1)
        kl_aug = kl_profile(models.augmented, models.base, world, harmful)
        progress.update(1)
        kl_ben = kl_profile(models.aligned, models.base, world, benign)
        progress.update(1)
        cont = {}
        for stage in STAGES:
            cont[stage] = answer_token_probs(models.by_name(stage), world, harmful).tolist()
            progress.update(1)
    finally:
        progress.close()
    h = cfg.head
    summary = DepthSummary(kl_aligned=kl_al.tolist(), kl_augmented=kl_aug.tolist(), kl_aligned_benign=kl_ben.tolist(),
                           head_share_aligned=head_share(kl_al, h), head_share_augmented=head_share(kl_aug, h),
                           late_kl_aligned=float(np.mean(kl_al[h:])), late_kl_augmented=float(np.mean(kl_aug[h:])),
                           continue_prob=cont)
    return Result("safety.depth", config_dict(cfg), summary, {})


def _row(label: str, values: list[float]) -> str:
    return f"{label:<26}" + " ".join(f"{v:6.3f}" for v in values)


def summarize_depth(res: Result) -> str:
    s: DepthSummary = res.summary
    n = len(s.kl_aligned)
    lines = ["per-position KL from the base model along held-out harmful answers (position 0 = first answer token; "
             f"position {n - 1} = the end token)",
             f"{'position':<26}" + " ".join(f"{k:>6d}" for k in range(n)),
             _row("KL(aligned || base)", s.kl_aligned), _row("KL(augmented || base)", s.kl_augmented),
             _row("KL(aligned||base) benign", s.kl_aligned_benign),
             "probability of the next harmful token, given the harmful answer so far"]
    lines += [_row(f"  {m}", v) for m, v in s.continue_prob.items()]
    head = res.config.get("head", HEAD)
    lines.append(f"share of the KL on the first {head} positions: aligned {s.head_share_aligned:.3f}, augmented "
                 f"{s.head_share_augmented:.3f}; mean KL after them: aligned {s.late_kl_aligned:.3f}, augmented "
                 f"{s.late_kl_augmented:.3f}")
    return "\n".join(lines)


DEPTH = Experiment(paper="safety", name="depth",
                   description="per-token KL(aligned || base) along harmful answers: shallow vs recovery-augmented",
                   config_cls=DepthConfig, presets={"quick": QUICK, "test": TEST, "paper": PAPER},
                   run=run_depth, summarize=summarize_depth, summary=DepthSummary)
