"""`finetune_attack`: fine-tuning the aligned model, with standard SFT and with the token-wise constrained objective
(Qi et al., arXiv 2406.05946, Sec. 4: Table 4, Fig. 3 and the Table 8 beta ablation, analogues).

Two fine-tuning sets, each used alone from the same starting model (the aligned one by default; "augmented"
gives the Table 10 analogue):
- "harmful": harmful instructions with training arguments answered with their harmful answers (the paper's 100
  harmful examples): a fine-tuning attack;
- "benign": instructions of the new benign family G and their answers, a task the model cannot do yet (the
  paper's Samsum / SQL / GSM8K fine-tunings).
Each set is trained with every objective of `sims.safety.objectives` (SFT; the paper's beta schedule; uniform
beta 0.1, 0.5, 2), with AdamW (beta_1 = 0.5, beta_2 = 0.999, the paper's App. B.5); as in the paper's Table 4,
the constrained objectives get a linear warm-up (10 steps) and standard SFT none (`sft_warmup`; Table 9 shows that a
warm-up alone changes SFT's effect on safety). Along training: ASR on held-out harmful instructions (no prefill, default decoding); at the end: accuracy on
the new task and on the old benign tasks (utility), and the probability of each next harmful token along held-out
harmful answers (where along the answer the objective held the model back).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from sims.engine import Experiment, Result, Summary, int_seed, validate
from sims.engine.cache import config_dict
from sims.engine.chat.checkpoints import as_lm
from sims.engine.chat.measure import (
    TEMPERATURE,
    TOP_P,
    answer_token_probs,
    attack_success,
    task_accuracy,
)
from sims.engine.chat.world import BENIGN, HARMFUL, NEW_TASK, prompts_and
from sims.engine.lm.finetune import FinetuneConfig, finetune
from sims.engine.progress import bar
from sims.engine.torch_layer import single_thread

from .models import load_models, model_set
from .objectives import OBJECTIVES, objective_for

DATASETS = ("harmful", "benign")


@dataclass(frozen=True)
class FinetuneAttackConfig:
    """models: the model preset; start: the model fine-tuned ("aligned" or "augmented"); datasets: fine-tuning
    sets (DATASETS); objectives: objectives (sims.safety.objectives.OBJECTIVES); n_harmful, n_benign: training
    examples of each set; steps, batch_size, lr, adam_beta1: the fine-tuning; warmup: linear warm-up steps of the
    constrained objectives; sft_warmup: the same for standard SFT; eval_at: steps at which ASR
    is measured (0 = before; the last is `steps`); n_eval: held-out instructions per measurement; device: where
    the models run; seed: models, data, batches, samples."""

    models: str = "quick"
    start: str = "aligned"
    datasets: tuple[str, ...] = DATASETS
    objectives: tuple[str, ...] = OBJECTIVES
    n_harmful: int = 64
    n_benign: int = 512
    steps: int = 120
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 10
    sft_warmup: int = 0
    adam_beta1: float = 0.5
    eval_at: tuple[int, ...] = (0, 2, 4, 6, 10, 20, 40, 80, 120)
    n_eval: int = 200
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        model_set(self.models)
        validate.one_of("start", self.start, ("aligned", "augmented"))
        validate.non_empty("datasets", self.datasets)
        for d in self.datasets:
            validate.one_of("datasets", d, DATASETS)
        validate.non_empty("objectives", self.objectives)
        for o in self.objectives:
            validate.one_of("objectives", o, OBJECTIVES)
        for name in ("n_harmful", "n_benign", "steps", "batch_size", "n_eval"):
            validate.positive_int(name, getattr(self, name))
        validate.positive("lr", self.lr)
        validate.positive_int("warmup", self.warmup, 0)
        validate.positive_int("sft_warmup", self.sft_warmup, 0)
        validate.probability("adam_beta1", self.adam_beta1, open_high=True)
        validate.seed("seed", self.seed)
        validate.non_empty("eval_at", self.eval_at)
        if list(self.eval_at) != sorted(set(self.eval_at)) or self.eval_at[0] < 0 or self.eval_at[-1] != self.steps:
            raise validate.ConfigError(f"eval_at must be increasing steps from >= 0 ending at steps={self.steps}; "
                                       f"got {self.eval_at}.")


QUICK = FinetuneAttackConfig()
TEST = FinetuneAttackConfig(models="test", objectives=("sft", "constrained", "uniform-0.1", "uniform-2"), n_harmful=16,
                            n_benign=64, steps=6, warmup=2,
                            eval_at=(0, 3, 6), n_eval=30)
PAPER = FinetuneAttackConfig(models="paper", steps=300, eval_at=(0, 2, 4, 6, 10, 20, 40, 80, 160, 300),
                             n_eval=1000, device="auto")


@dataclass(frozen=True)
class AttackRun:
    """One fine-tuning: steps: where ASR was measured; asr: ASR at those steps; final_asr: the last of them;
    new_task_accuracy: greedy accuracy on held-out instructions of the new benign family at the end;
    benign_accuracy: the same on the old benign families; harmful_token_prob: per answer position, the mean
    probability of the next harmful token given the harmful answer so far, at the end; final_loss: the last
    training batch's loss."""

    steps: list[int]
    asr: list[float]
    final_asr: float
    new_task_accuracy: float
    benign_accuracy: float
    harmful_token_prob: list[float]
    final_loss: float


@dataclass(frozen=True)
class FinetuneAttackSummary(Summary):
    """The `finetune_attack` experiment.

    runs: per fine-tuning set ("harmful", "benign"), per objective, an AttackRun; initial_asr: ASR of the starting
    model; initial_new_task_accuracy: its greedy accuracy on the new benign task; initial_benign_accuracy: the same
    on the old benign tasks; initial_harmful_token_prob: its next-harmful-token probabilities along harmful
    answers."""

    runs: dict[str, dict[str, AttackRun]]
    initial_asr: float
    initial_new_task_accuracy: float
    initial_benign_accuracy: float
    initial_harmful_token_prob: list[float]


def training_set(world, dataset: str, cfg: FinetuneAttackConfig):
    """(prompt ids, response ids) of a fine-tuning set."""
    if dataset == "harmful":
        ins = world.instructions(HARMFUL, cfg.n_harmful, "train", cfg.seed, "attack-harmful")
    else:
        ins = world.instructions(NEW_TASK, cfg.n_benign, "train", cfg.seed, "attack-benign")
    return prompts_and(world, ins, [world.comply(i) for i in ins])


def run_finetune_attack(cfg: FinetuneAttackConfig) -> Result:
    single_thread()
    models = load_models(cfg.models, cfg.seed, cfg.device)
    world = models.world
    start = models.by_name(cfg.start)
    harmful = world.instructions(HARMFUL, cfg.n_eval, "heldout", cfg.seed, "attack-eval")
    new_task = world.instructions(NEW_TASK, cfg.n_eval, "heldout", cfg.seed, "attack-eval-new")
    benign = world.instructions(BENIGN, cfg.n_eval, "heldout", cfg.seed, "attack-eval-benign")

    def asr(lm, label: str, step: int) -> float:
        return float(attack_success(lm, world, harmful, 0, TEMPERATURE, TOP_P, cfg.seed, "attack", label,
                                    str(step)).mean())

    initial_asr = asr(start, "initial", 0)
    runs: dict[str, dict[str, AttackRun]] = {}
    progress = bar(len(cfg.datasets) * len(cfg.objectives), "safety.finetune_attack", unit="run")
    try:
        for dataset in cfg.datasets:
            data = training_set(world, dataset, cfg)
            runs[dataset] = {}
            for name in cfg.objectives:
                lm = as_lm(copy.deepcopy(start.module), world, f"{dataset}-{name}")
                label = f"{dataset}-{name}"
                curve = {0: initial_asr}

                def record(step: int, loss: float, lm=lm, label=label, curve=curve) -> None:
                    if step in cfg.eval_at:
                        curve[step] = asr(lm, label, step)

                ft = FinetuneConfig(method="full", steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                    warmup=cfg.sft_warmup if name == "sft" else cfg.warmup,
                                    adam_beta1=cfg.adam_beta1, seed=int_seed(cfg.seed, "safety", "attack", dataset))
                res = finetune(lm, data, ft, objective=objective_for(name, start, data), on_step=record)
                steps = [s for s in cfg.eval_at if s in curve]
                runs[dataset][name] = AttackRun(
                    steps=steps, asr=[curve[s] for s in steps], final_asr=curve[steps[-1]],
                    new_task_accuracy=task_accuracy(lm, world, new_task),
                    benign_accuracy=task_accuracy(lm, world, benign),
                    harmful_token_prob=answer_token_probs(lm, world, harmful).tolist(), final_loss=res.losses[-1])
                progress.update(1)
    finally:
        progress.close()
    summary = FinetuneAttackSummary(runs=runs, initial_asr=initial_asr,
                                    initial_new_task_accuracy=task_accuracy(start, world, new_task),
                                    initial_benign_accuracy=task_accuracy(start, world, benign),
                                    initial_harmful_token_prob=answer_token_probs(start, world, harmful).tolist())
    return Result("safety.finetune_attack", config_dict(cfg), summary, {})


def summarize_finetune_attack(res: Result) -> str:
    s: FinetuneAttackSummary = res.summary
    lines = [f"starting model: ASR {s.initial_asr:.3f}, new-task accuracy {s.initial_new_task_accuracy:.3f}, "
             f"benign accuracy {s.initial_benign_accuracy:.3f}"]
    for dataset, by_obj in s.runs.items():
        first = next(iter(by_obj.values()))
        lines.append(f"fine-tuning on the {dataset} set: ASR at steps " + " ".join(f"{k:>5d}" for k in first.steps)
                     + "   new task  benign   p(harmful token) at positions 0-5")
        for name, run in by_obj.items():
            lines.append(f"  {name:<12}" + " ".join(f"{v:5.2f}" for v in run.asr)
                         + f"   {run.new_task_accuracy:8.3f} {run.benign_accuracy:7.3f}   "
                         + " ".join(f"{v:.3f}" for v in run.harmful_token_prob[:6]))
    return "\n".join(lines)


FINETUNE_ATTACK = Experiment(paper="safety", name="finetune_attack",
                             description="harmful and benign fine-tuning of the aligned model: SFT against the "
                                         "token-wise constrained objective and the beta ablation",
                             config_cls=FinetuneAttackConfig, presets={"quick": QUICK, "test": TEST, "paper": PAPER},
                             run=run_finetune_attack, summarize=summarize_finetune_attack,
                             summary=FinetuneAttackSummary)

