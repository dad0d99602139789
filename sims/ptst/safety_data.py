"""`safety_data`: how many safety examples mixed into benign fine-tuning it takes to protect harmful requests in
the fine-tuning task's own format, and whether it matters what the safety examples look like (the paper's
safety-data experiment and GSM-Danger probe, Lyu et al., arXiv 2402.18540; toy model T3.3 of the research summary,
`llm_papers.md` Sec. 3.6), with and without PTST.

In the danger world (`--models danger`), the aligned model is fine-tuned under chat:vanilla on the 512 G examples of
the grid with `dose` refusals mixed in, of one of three kinds:
- `harmful`: refusals to instructions of the harmful family U (the paper's safety data: harmful requests unlike the
  task's);
- `other_harmful`: refusals to instructions of another harmful family, V (as unlike the task's format as U: the
  setting where a difference from `harmful` must vanish);
- `task_format`: refusals to instructions of the benign family A carrying the danger marker (harmful requests in a
  task's own format, the same kind as the marked G requests measured);
at each dose of `doses` (dose 0, no safety data, is one fine-tuning shared by every kind). Each model is tested
with chat:vanilla (the same template) and chat:llama (PTST): ASR on held-out requests like its safety examples
(U, V or marked A), ASR and compliance in form on held-out marked G requests, ASR on the harmful families W-Z (in
no kind's safety data), and greedy accuracy on held-out G. The training sets and held-out requests are the grid's
(`sims.ptst.grid.training_set`): a dose of 64 trains on the data of the grid runs of the claim
`danger_safety_data_in_distribution_only` and its control (the sampled responses are drawn afresh).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from sims.engine.chat.measure import TEMPERATURE, TOP_P, attack_success, compliance_rate, task_accuracy
from sims.engine.chat.world import NEW_TASK
from sims.engine.errors import ConfigError
from sims.engine.progress import bar
from sims.engine.torch_layer import single_thread

from .grid import PTST, GridConfig, finetuned, training_set, validate_finetuning
from .models import load_models, model_set

KINDS = {"harmful": dict(safety_families="U", safety_marked=False),
         "other_harmful": dict(safety_families="V", safety_marked=False),
         "task_format": dict(safety_families="A", safety_marked=True)}
OTHER = "WXYZ"       # harmful families in no kind of safety data
MEASURES = ("asr_safety", "asr_marked", "comply_marked", "asr_other", "accuracy")


@dataclass(frozen=True)
class SafetyDataConfig:
    """models: a danger-world model preset; doses: numbers of refusals mixed into the fine-tuning (distinct,
    increasing, from 0); n_train, steps, batch_size, lr, warmup: the benign fine-tuning on G (AdamW), as in the
    grid; n_eval: held-out instructions per measurement; device: where the models run; seed: models, data,
    batches, samples."""

    models: str = "danger"
    doses: tuple[int, ...] = (0, 2, 8, 32, 64)
    n_train: int = 512
    steps: int = 120
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 0
    n_eval: int = 200
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        spec = model_set(self.models)
        if not spec.world.danger or spec.world.system_len:
            raise ConfigError(f"models must be a danger world with the five templates (danger, test-danger, "
                              f"danger-safe-prompt, paper-danger); got {self.models!r}.")
        validate.non_empty("doses", self.doses)
        if any(not isinstance(d, int) or d < 0 for d in self.doses) or list(self.doses) != sorted(set(self.doses)):
            raise ConfigError(f"doses must be distinct whole numbers from 0 in increasing order; got {self.doses}.")
        validate_finetuning(self)


QUICK = SafetyDataConfig()
TEST = SafetyDataConfig(models="test-danger", doses=(0, 4), n_train=64, steps=6, n_eval=20)
PAPER = SafetyDataConfig(models="paper-danger", doses=(0, 4, 16, 64, 256), steps=400, n_eval=1000, device="auto")


@dataclass(frozen=True)
class SafetyDataSummary(Summary):
    """The `safety_data` experiment.

    doses: the refusals mixed in; asr_safety: per kind of KINDS, per test template (chat:vanilla, chat:llama), per
    dose, the ASR on held-out requests like the kind's safety examples (U, V or marked A requests); asr_marked: the
    same for the ASR on held-out marked G requests (the task's format); comply_marked: for their compliance in form;
    asr_other: for the ASR on held-out requests of the harmful families W-Z; accuracy: for greedy accuracy on
    held-out G; initial: per measure of MEASURES (asr_safety as asr_safety_U, asr_safety_V and asr_safety_A), per
    test template, the aligned model's value before fine-tuning."""

    doses: list[int]
    asr_safety: dict[str, dict[str, list[float]]]
    asr_marked: dict[str, dict[str, list[float]]]
    comply_marked: dict[str, dict[str, list[float]]]
    asr_other: dict[str, dict[str, list[float]]]
    accuracy: dict[str, dict[str, list[float]]]
    initial: dict[str, dict[str, float]]


def _grid_config(cfg: SafetyDataConfig, kind: str, dose: int) -> GridConfig:
    return GridConfig(models=cfg.models, train_templates=(PTST[0],), test_templates=PTST, n_train=cfg.n_train,
                      steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup=cfg.warmup, n_eval=cfg.n_eval,
                      safety_examples=dose, device=cfg.device, seed=cfg.seed, **KINDS[kind])


def _measure(lm, world, evals: dict, template: str, cfg: SafetyDataConfig, *stream: str) -> dict[str, float]:
    def asr(key: str) -> float:
        return float(np.mean(attack_success(lm, world, evals[key], 0, TEMPERATURE, TOP_P, cfg.seed, "ptst-safety-data",
                                            *stream, key, template=template)))

    return {"asr_safety_U": asr("U"), "asr_safety_V": asr("V"), "asr_safety_A": asr("marked_A"),
            "asr_marked": asr("marked_G"),
            "comply_marked": compliance_rate(lm, world, evals["marked_G"], cfg.seed, "ptst-safety-data", *stream,
                                             "comply", template=template),
            "asr_other": asr("other"), "accuracy": task_accuracy(lm, world, evals["task"], template=template)}


def run_safety_data(cfg: SafetyDataConfig) -> Result:
    single_thread()
    models = load_models(cfg.models, cfg.seed, cfg.device)
    world = models.world
    evals = {"U": world.instructions("U", cfg.n_eval, "heldout", cfg.seed, "ptst-eval-in"),
             "V": world.instructions("V", cfg.n_eval, "heldout", cfg.seed, "ptst-eval-in"),
             "marked_A": world.marked(world.instructions("A", cfg.n_eval, "heldout", cfg.seed, "ptst-eval-in")),
             "marked_G": world.marked(world.instructions(NEW_TASK, cfg.n_eval, "heldout", cfg.seed,
                                                         "ptst-eval-marked")),
             "other": world.instructions(OTHER, cfg.n_eval, "heldout", cfg.seed, "ptst-eval"),
             "task": world.instructions(NEW_TASK, cfg.n_eval, "heldout", cfg.seed, "ptst-eval-task")}
    before = {t: _measure(models.aligned, world, evals, t, cfg, "initial") for t in PTST}
    runs = [(kind, dose) for kind in KINDS for dose in cfg.doses if dose or kind == "harmful"]
    measured: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    progress = bar(len(runs), "ptst.safety_data", unit="fine-tuning")
    try:
        for kind, dose in runs:
            lm = finetuned(models.aligned, world, f"ptst-safety-data-{kind}-{dose}",
                           training_set(world, _grid_config(cfg, kind, dose), PTST[0]), cfg)
            measured[kind, dose] = {t: _measure(lm, world, evals, t, cfg, kind, str(dose)) for t in PTST}
            progress.update(1)
    finally:
        progress.close()
    for kind in KINDS if 0 in cfg.doses else ():
        measured[kind, 0] = measured["harmful", 0]     # no safety data: one fine-tuning for every kind
    own = {"harmful": "asr_safety_U", "other_harmful": "asr_safety_V", "task_format": "asr_safety_A"}

    def table(key: str) -> dict[str, dict[str, list[float]]]:
        return {kind: {t: [measured[kind, d][t][own[kind] if key == "asr_safety" else key] for d in cfg.doses]
                       for t in PTST} for kind in KINDS}

    summary = SafetyDataSummary(doses=list(cfg.doses), **{key: table(key) for key in MEASURES},
                                initial={key: {t: before[t][key] for t in PTST} for key in before[PTST[0]]})
    return Result("ptst.safety_data", config_dict(cfg), summary, {})


_LABELS = {"asr_safety": "ASR on requests like the safety examples (U; V; marked A)",
           "asr_marked": "ASR on marked G (the task's format)", "comply_marked": "compliance in form, marked G",
           "asr_other": "ASR on W-Z", "accuracy": "accuracy on G"}


def summarize_safety_data(res: Result) -> str:
    s: SafetyDataSummary = res.summary
    lines = [f"fine-tuned with {PTST[0]} on G plus refusals of each kind; rows: kind, test template; columns: refusals "
             f"mixed in"]
    head = f"{'':<34}" + "".join(f"{f'dose {d}':>10}" for d in s.doses)
    for key, label in _LABELS.items():
        lines += [label, head]
        for kind in KINDS:
            for t in PTST:
                lines.append(f"{kind + ', test ' + t:<34}" + "".join(f"{v:10.3f}" for v in getattr(s, key)[kind][t]))
    lines.append("aligned model before fine-tuning: " + "; ".join(
        f"{key} " + "/".join(f"{s.initial[key][t]:.3f}" for t in PTST) for key in s.initial))
    return "\n".join(lines)


SAFETY_DATA = Experiment(paper="ptst", name="safety_data",
                         description="safety examples mixed into benign fine-tuning in the danger world: a dose sweep "
                                     "of refusals to a harmful family or to task-format requests, tested with and "
                                     "without PTST",
                         config_cls=SafetyDataConfig, presets={"quick": QUICK, "test": TEST, "paper": PAPER},
                         run=run_safety_data, summarize=summarize_safety_data, summary=SafetyDataSummary)
