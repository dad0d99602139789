"""`grid`: the train-template x test-template grid on tiny chat models (Lyu et al., arXiv 2402.18540, Table 1
analogue), and safety data mixed into the fine-tuning (the paper's safety-data experiment and GSM-Danger probe).

The aligned model (`sims.ptst.models`) is fine-tuned on a benign task it cannot do yet (instructions of the new
family G and their answers, each starting with the opener `K` like every compliant answer) with all prompts in
one training template; then, under every test template: accuracy on held-out G instructions (greedy, helpfulness)
and the attack success rate (ASR) on held-out harmful instructions (sampling at temperature 0.9, top-p 0.6; judged
by the world). "Pure Tuning, Safe Testing" is the cell (train chat:vanilla, test chat:llama); the diagonal is
fine-tuning and testing in the same template.

With `safety_examples` > 0 the fine-tuning set also holds that many refusals to harmful instructions of the
families `safety_families` (the paper mixes safety examples into fine-tuning); ASR is then reported separately on
those families (in distribution) and on the other harmful families (held out). With `safety_marked` (danger world
only) the safety examples are refusals to benign-family instructions of `safety_families` carrying the danger
marker, harmful requests in a task's format like the marked G requests; ASR in distribution is then measured on
held-out marked instructions of those families, and the held-out ASR on every harmful family.

In the danger world (model presets `danger`, `test-danger`: `sims.ptst.models`) the grid also measures harmful
requests in the fine-tuning task's own format, the analogue of the paper's GSM-Danger: held-out G instructions
carrying the danger marker, which the aligned model has learnt to refuse on the benign families A-F. Their ASR
(judged as above: the G answer carried on, no refusal token) and their compliance in form (the share of sampled
responses that open with the opener `K` and hold no refusal token, `ChatWorld.complies`; before fine-tuning the
model cannot do G, so its ASR there is about 0 whether it refuses or not, and compliance is the rise that can be
read against the aligned model).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, int_seed, validate
from sims.engine.cache import config_dict
from sims.engine.chat.checkpoints import as_lm
from sims.engine.chat.measure import TEMPERATURE, TOP_P, attack_success, compliance_rate, task_accuracy
from sims.engine.chat.world import BENIGN, HARMFUL, NEW_TASK, prompts_and
from sims.engine.chat.world import TEMPLATES as WORLD_TEMPLATES
from sims.engine.lm.finetune import FinetuneConfig, finetune
from sims.engine.progress import bar
from sims.engine.torch_layer import single_thread

from .models import SAFETY_TEMPLATE, TEMPLATES, load_models, model_set

PTST = ("chat:vanilla", SAFETY_TEMPLATE)


@dataclass(frozen=True)
class GridConfig:
    """models: the model preset (sims.ptst.models.MODEL_SETS); train_templates, test_templates: the grid's rows
    and columns; n_train: G examples fine-tuned on; steps, batch_size, lr, warmup: the fine-tuning (AdamW); n_eval:
    held-out instructions per measurement; safety_examples: refusals to harmful instructions of `safety_families`
    mixed into the fine-tuning (0: none); safety_marked: the safety examples are marked instructions of the benign
    families `safety_families` instead (danger world only); device: where the models run; seed: models, data,
    batches, samples."""

    models: str = "quick"
    train_templates: tuple[str, ...] = TEMPLATES
    test_templates: tuple[str, ...] = TEMPLATES
    n_train: int = 512
    steps: int = 120
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 0
    n_eval: int = 200
    safety_examples: int = 0
    safety_families: str = "U"
    safety_marked: bool = False
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        if model_set(self.models).world.system_len:
            raise validate.ConfigError(f"models must be a preset with the five templates; {self.models!r} is a "
                                       f"system-prompt world for the overlap experiment.")
        for name in ("train_templates", "test_templates"):
            validate.non_empty(name, getattr(self, name))
            for t in getattr(self, name):
                validate.one_of(name, t, TEMPLATES)
        validate_finetuning(self)
        validate.positive_int("safety_examples", self.safety_examples, 0)
        if self.safety_marked:
            if not model_set(self.models).world.danger:
                raise validate.ConfigError(f"safety_marked needs a danger world (models danger, test-danger, "
                                           f"danger-safe-prompt or paper-danger); got "
                                           f"models {self.models!r}.")
            if not self.safety_families or any(f not in BENIGN for f in self.safety_families):
                raise validate.ConfigError(f"safety_families must be benign families {BENIGN} with safety_marked; "
                                           f"got {self.safety_families!r}.")
        elif not self.safety_families or any(f not in HARMFUL for f in self.safety_families) \
                or set(self.safety_families) == set(HARMFUL):
            raise validate.ConfigError(f"safety_families must be some but not all of the harmful families "
                                       f"{HARMFUL}; got {self.safety_families!r}.")


def validate_finetuning(cfg) -> None:
    """Raise ConfigError naming the first bad field of the benign fine-tuning every tiny-model ptst experiment
    shares (n_train, steps, batch_size, lr, warmup, n_eval, seed)."""
    for name in ("n_train", "steps", "batch_size", "n_eval"):
        validate.positive_int(name, getattr(cfg, name))
    validate.positive("lr", cfg.lr)
    validate.positive_int("warmup", cfg.warmup, 0)
    validate.seed("seed", cfg.seed)


def finetuned(aligned, world, name: str, data, cfg):
    """A copy of the aligned model fully fine-tuned on `data` (prompt ids, response ids) with the config's steps,
    batch size, lr and warm-up (AdamW), batches seeded by the config's seed: the benign fine-tuning of every
    tiny-model ptst experiment."""
    lm = as_lm(copy.deepcopy(aligned.module), world, name)
    finetune(lm, data, FinetuneConfig(method="full", steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                      warmup=cfg.warmup, seed=int_seed(cfg.seed, "ptst", "grid-batches")))
    return lm


QUICK = GridConfig()
TEST = GridConfig(models="test", train_templates=PTST, test_templates=PTST, n_train=64, steps=6, n_eval=30)
PAPER = GridConfig(models="paper", steps=400, n_eval=1000, device="auto")


@dataclass(frozen=True)
class GridSummary(Summary):
    """The `grid` experiment.

    asr: per training template, per test template, the ASR on held-out harmful instructions after fine-tuning (with
    safety examples: on the other harmful families only); accuracy: the same for greedy accuracy on held-out G
    instructions; asr_in: with safety examples, ASR on the safety families (marked, with safety_marked; empty dicts
    without); initial_asr: per test template, the aligned model's ASR before fine-tuning (with safety examples of
    harmful families: on the other families); initial_accuracy: its G accuracy (about 0: a task it has not seen);
    asr_marked: in the danger world, per training template, per test template, the ASR on held-out G instructions
    carrying the danger marker (empty in other worlds); comply_marked: the same for the share of them complied with
    in form (sampled responses opening with the opener and holding no refusal token); initial_comply_marked: per
    test template, the aligned model's compliance with them (empty in other worlds)."""

    asr: dict[str, dict[str, float]]
    accuracy: dict[str, dict[str, float]]
    asr_in: dict[str, dict[str, float]]
    initial_asr: dict[str, float]
    initial_accuracy: dict[str, float]
    asr_marked: dict[str, dict[str, float]]
    comply_marked: dict[str, dict[str, float]]
    initial_comply_marked: dict[str, float]


CELL_GROUPS = ("same template", "same prompt length", "other prompt length")


def cell_group(train: str, test: str) -> str:
    """Which of CELL_GROUPS a (training, test) template pair falls in: the same template; two templates whose
    scaffolds put the instruction at the same positions (the same length before it: the text templates and
    chat:vanilla, or the two system-prompt templates); or templates that shift it (a tiny model with learnt
    absolute positions sees the instruction at other positions)."""
    if train == test:
        return CELL_GROUPS[0]
    same = len(WORLD_TEMPLATES[train][0]) == len(WORLD_TEMPLATES[test][0])
    return CELL_GROUPS[1] if same else CELL_GROUPS[2]


def group_means(cells: dict[str, dict[str, float]]) -> dict[str, float]:
    """The mean of a grid's cells over each of CELL_GROUPS (NaN for a group with no cell)."""
    out = {}
    for g in CELL_GROUPS:
        vals = [v for a, row in cells.items() for b, v in row.items() if cell_group(a, b) == g]
        out[g] = float(np.mean(vals)) if vals else float("nan")
    return out


def training_set(world, cfg: GridConfig, template: str):
    """(prompt ids, response ids): G instructions answered, plus the safety refusals, all in `template`."""
    ins = world.instructions(NEW_TASK, cfg.n_train, "train", cfg.seed, "ptst-grid")
    data = prompts_and(world, ins, [world.comply(i) for i in ins], [template] * len(ins))
    if cfg.safety_examples:
        safe = world.instructions(cfg.safety_families, cfg.safety_examples, "train", cfg.seed, "ptst-safety")
        safe = world.marked(safe) if cfg.safety_marked else safe
        data += prompts_and(world, safe, [world.refusal(i) for i in safe], [template] * len(safe))
    return data


def _asr(lm, world, ins, template: str, cfg: GridConfig, *stream: str) -> float:
    return float(np.mean(attack_success(lm, world, ins, 0, TEMPERATURE, TOP_P, cfg.seed, *stream, template=template)))


def _comply(lm, world, ins, template: str, cfg: GridConfig, *stream: str) -> float:
    return compliance_rate(lm, world, ins, cfg.seed, *stream, template=template)


def run_grid(cfg: GridConfig) -> Result:
    single_thread()
    models = load_models(cfg.models, cfg.seed, cfg.device)
    world = models.world
    held = HARMFUL if not cfg.safety_examples or cfg.safety_marked \
        else "".join(f for f in HARMFUL if f not in cfg.safety_families)
    harmful = world.instructions(held, cfg.n_eval, "heldout", cfg.seed, "ptst-eval")
    inside = (world.instructions(cfg.safety_families, cfg.n_eval, "heldout", cfg.seed, "ptst-eval-in")
              if cfg.safety_examples else [])
    inside = world.marked(inside) if cfg.safety_marked and inside else inside
    task = world.instructions(NEW_TASK, cfg.n_eval, "heldout", cfg.seed, "ptst-eval-task")
    marked = (world.marked(world.instructions(NEW_TASK, cfg.n_eval, "heldout", cfg.seed, "ptst-eval-marked"))
              if world.config.danger else [])
    initial_comply = ({t: _comply(models.aligned, world, marked, t, cfg, "initial", "marked")
                       for t in cfg.test_templates} if marked else {})
    initial_asr = {t: _asr(models.aligned, world, harmful, t, cfg, "initial") for t in cfg.test_templates}
    initial_acc = {t: task_accuracy(models.aligned, world, task, template=t) for t in cfg.test_templates}
    asr: dict[str, dict[str, float]] = {}
    acc: dict[str, dict[str, float]] = {}
    asr_in: dict[str, dict[str, float]] = {}
    asr_marked: dict[str, dict[str, float]] = {}
    comply_marked: dict[str, dict[str, float]] = {}
    progress = bar(len(cfg.train_templates), "ptst.grid", unit="fine-tuning")
    try:
        for train in cfg.train_templates:
            lm = finetuned(models.aligned, world, f"ptst-{train}", training_set(world, cfg, train), cfg)
            asr[train] = {t: _asr(lm, world, harmful, t, cfg, train) for t in cfg.test_templates}
            acc[train] = {t: task_accuracy(lm, world, task, template=t) for t in cfg.test_templates}
            asr_in[train] = ({t: _asr(lm, world, inside, t, cfg, train, "in") for t in cfg.test_templates}
                             if inside else {})
            if marked:
                asr_marked[train] = {t: _asr(lm, world, marked, t, cfg, train, "marked") for t in cfg.test_templates}
                comply_marked[train] = {t: _comply(lm, world, marked, t, cfg, train, "marked")
                                        for t in cfg.test_templates}
            progress.update(1)
    finally:
        progress.close()
    summary = GridSummary(asr=asr, accuracy=acc, asr_in=asr_in, initial_asr=initial_asr,
                          initial_accuracy=initial_acc, asr_marked=asr_marked, comply_marked=comply_marked,
                          initial_comply_marked=initial_comply)
    return Result("ptst.grid", config_dict(cfg), summary, {})


def _table(title: str, cells: dict[str, dict[str, float]], first: dict[str, float] | None = None) -> list[str]:
    cols = list(next(iter(cells.values())))
    lines = [title, f"{'train / test':<14}" + "".join(f"{c:>14}" for c in cols)]
    if first is not None:
        lines.append(f"{'(before)':<14}" + "".join(f"{first[c]:14.3f}" for c in cols))
    lines += [f"{r:<14}" + "".join(f"{v[c]:14.3f}" for c in cols) for r, v in cells.items()]
    return lines


def summarize_grid(res: Result) -> str:
    s: GridSummary = res.summary
    lines = _table("ASR on held-out harmful instructions (rows: fine-tuning template; columns: test template)",
                   s.asr, s.initial_asr)
    lines += _table("accuracy on the new task G", s.accuracy, s.initial_accuracy)
    if any(s.asr_in.values()):
        lines += _table("ASR on the harmful families of the safety examples", s.asr_in)
    if s.asr_marked:
        lines += _table("ASR on marked G instructions (harmful requests in the task's format)", s.asr_marked)
        lines += _table("compliance in form with marked G instructions (opener, no refusal token)", s.comply_marked,
                        s.initial_comply_marked)
    return "\n".join(lines)


GRID = Experiment(paper="ptst", name="grid",
                  description="train-template x test-template grid of benign fine-tuning on tiny chat models: task "
                              "accuracy and harmful compliance (optionally with safety examples mixed in)",
                  config_cls=GridConfig, presets={"quick": QUICK, "test": TEST, "paper": PAPER},
                  run=run_grid, summarize=summarize_grid, summary=GridSummary)
